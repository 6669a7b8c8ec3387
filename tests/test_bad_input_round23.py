"""Round 23: train-similarity holds the warnings of its reading until every input is read, so a
bad later file ends the command with its one error line alone."""
from __future__ import annotations

from helpers import FAQ, assert_one_line_error


def test_a_bad_eval_file_after_a_warned_data_file_is_one_error_line(tmp_path, cli_main):
    import similarity

    texts, groups = similarity.load_groups(FAQ)
    by = {}
    for t, g in zip(texts, groups):
        by.setdefault(g, []).append(t)
    names = sorted(by)
    train = [(by[g][i], by[g][i + 1], 1) for g in names for i in range(3)] + [(by[names[0]][0], by[names[1]][0], 0)]
    held = [(by[g][4], by[g][5], "abc" if g == names[3] else 1) for g in names]
    for name, rows in (("train", train), ("held", held)):
        (tmp_path / f"{name}.tsv").write_text("a\tb\ty\n" + "".join(f"{x}\t{y}\t{z}\n" for x, y, z in rows))
    args = ["train-similarity", tmp_path / "train.tsv", "--pair-cols", "a,b,y", "--teacher", "none",
            "--epochs", 1, "--no-progress", "--out", tmp_path / "r"]
    code, _, err = cli_main(*args, "--eval-data", tmp_path / "held.tsv")
    assert_one_line_error(code, err, "held.tsv", "row 4", "must be numeric")  # DATA's warning is not printed
    assert not (tmp_path / "r").exists()
    # a run that reads every input still prints the reading's warnings, once
    (tmp_path / "held.tsv").write_text("a\tb\ty\n" + "".join(f"{x}\t{y}\t1\n" for x, y, _ in held))
    code, _, err = cli_main(*args, "--eval-data", tmp_path / "held.tsv")
    assert code == 0, err
    assert err.count("1 of 199 pairs are not paraphrases") == 1
