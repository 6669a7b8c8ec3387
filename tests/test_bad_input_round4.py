"""Bad inputs of this stop's CLI round (2026-12-04, night): each is one `error:` line and exit 2
that says what to change, never a message about an option the user did not pass."""
from __future__ import annotations

from helpers import FAQ, assert_one_line_error


def test_outliers_with_one_epoch_name_the_default_vo_start(cli_main, tmp_path):
    """`--outliers F --epochs 1` said "--vo-start must be at most the last epoch (1), got 2"."""
    (tmp_path / "oos.txt").write_text("what is the weather\nplay some music\n")
    code, _, err = cli_main("train-similarity", str(FAQ), "--outliers", str(tmp_path / "oos.txt"), "--epochs", "1",
                            "--teacher", "none", "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "starts at epoch --vo-start 2 (its default), after the last epoch (1): "
                                     "pass --vo-start 1 or more --epochs")
    assert not (tmp_path / "r" / "model").exists()
