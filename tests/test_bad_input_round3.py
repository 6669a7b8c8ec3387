"""Bad inputs found by the third hostile sweep of the CLI (2026-12-04 evening): each is one `error:`
line and exit 2, a counted `warning:`, or a sensible default, never nonsense with exit 0."""
from __future__ import annotations

import json

import pytest

from helpers import FAQ, ROOT, assert_one_line_error


def test_chinese_with_teacher_none_trains_on_characters(cli_main, tmp_path):
    """The word tokenizer read each unsegmented sentence as one token: held-out top-1 0.0."""
    code, _, err = cli_main("train-similarity", str(ROOT / "data" / "faq_zh.csv"), "--teacher", "none",
                            "--epochs", "1", "--out", str(tmp_path / "m"), "--no-progress")
    assert code == 0, err
    assert "there is no teacher: training with --tokenizer char" in err
    assert json.loads((tmp_path / "m" / "config.json").read_text())["train"]["tokenizer"] == "char"


@pytest.mark.parametrize("lines", [["only one sentence"], ["one sentence", "another sentence"]])
def test_an_index_too_small_for_a_gate_has_none_and_score_refuses_it(cli_main, faq, tmp_path, lines):
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n")
    code, out, err = cli_main("index", str(faq[0]), str(tmp_path / "c.txt"), "--out", str(tmp_path / "ix"))
    assert code == 0 and "warning" not in err, err
    assert f"gate: none ({len(lines)} sentence(s) are too few" in out
    code, out, _ = cli_main("search", str(tmp_path / "ix"), "hello", "--json")
    row = json.loads(out.splitlines()[0])
    assert code == 0 and row["in_domain"] is None and row["in_domain_score"] is None  # was 1e8, "in domain"
    assert row["hits"][0]["text"] in lines
    code, _, err = cli_main("score", str(faq[0]), str(tmp_path / "c.txt"), "--index", str(tmp_path / "ix"),
                            "--out", str(tmp_path / "s.jsonl"))
    assert_one_line_error(code, err, "ix: the index holds", "too few to score against")
    assert not (tmp_path / "s.jsonl").exists()


@pytest.mark.parametrize("cell", [["a", "b"], {"a": 1}, True])
def test_a_text_cell_that_is_not_text_is_refused(cli_main, faq, tmp_path, cell):
    rows = [{"text": "reset my password", "group": "g"}, {"text": cell, "group": "g"}]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    for args in (["index", str(faq[0]), str(tmp_path / "d.jsonl"), "--text-col", "text", "--group-col", "group",
                  "--out", str(tmp_path / "ix")],
                 ["evaluate-similarity", str(faq[0]), str(tmp_path / "d.jsonl"), "--teacher", "none"],
                 ["encode", str(faq[0]), str(tmp_path / "d.jsonl"), "--text-col", "text",
                  "--out", str(tmp_path / "e.npy")]):
        code, _, err = cli_main(*args)
        assert_one_line_error(code, err, "d.jsonl: row 2: column 'text' holds", "expected text")
    assert not (tmp_path / "ix").exists() and not (tmp_path / "e.npy").exists()


def test_blank_and_zero_width_lines_are_counted_not_dropped_silently(cli_main, faq, tmp_path):
    (tmp_path / "q.txt").write_text("hello\n\nreset password\n   \nwhere is my parcel\n\u200b\u200d\n",
                                    encoding="utf-8")
    code, out, err = cli_main("encode", str(faq[0]), str(tmp_path / "q.txt"), "--out", str(tmp_path / "e.npy"))
    assert code == 0 and "wrote 3 x" in out
    assert "q.txt: skipped 3 blank line(s)" in err
    code, _, err = cli_main("search", str(faq[0]), "\u200b")  # only a zero-width space
    assert_one_line_error(code, err, "query 1 is blank")
