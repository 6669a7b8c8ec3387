"""Round 22: sweep 35's findings and the wording left open by round 21 (errors that named an
option where the contract names the file)."""
from __future__ import annotations

import pytest

from helpers import FAQ, assert_one_line_error


def test_outliers_that_are_all_training_sentences_name_the_outliers_file_in_one_line(tmp_path, cli_main):
    """It printed a `warning: dropped 5 ... 0 kept` line and then `error: --outliers: ...`."""
    texts = [ln.rsplit(",", 1)[0].strip('"') for ln in FAQ.read_text().splitlines()[1:6]]
    ol = tmp_path / "ol.txt"
    ol.write_text("\n".join(texts) + "\n")
    code, _, err = cli_main("train-similarity", FAQ, "--out", tmp_path / "r", "--teacher", "none", "--epochs", 2,
                            "--outliers", ol, "--no-progress")
    assert_one_line_error(code, err, f"{ol}: no outlier sentences left (5 given, 5 of them")
    assert "warning" not in err


@pytest.mark.parametrize("command", ["evaluate-similarity", "demo"])
def test_pairs_with_other_columns_name_pair_cols_alone(command, faq, tmp_path, cli_main):
    """The reader's hint named DATA's --text-col / --group-col, which do not rename pair columns."""
    pairs = tmp_path / "p.tsv"
    pairs.write_text("x\ty\tz\na b\tc d\t1\ne f\tg h\t0\n")
    args = ([faq[0], "--pairs", pairs] if command == "evaluate-similarity"
            else [FAQ, "--out", tmp_path / "d", "--pairs", pairs])
    code, _, err = cli_main(command, *args)
    assert_one_line_error(code, err, f"{pairs}: missing column 'sentence1'", "(name them with --pair-cols A,B,SCORE)")
    assert "--text-col" not in err
