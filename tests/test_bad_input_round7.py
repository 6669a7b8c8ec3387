"""Inputs of the 2026-12-05 (third) round: line separators inside sentences, blank and
non-object data files, a refused corpus that left a claimed shard folder, checkpoints whose
state.json holds the wrong types."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from helpers import assert_one_line_error
from textgan.common.errors import InputError

# U+2028 (line separator), form feed and NEL are characters inside a line, not line ends
ODD_LINES = "reset my\u2028password\nwhere is\x0cmy parcel\r\n\x85cancel my plan\rtrack it\n"


def test_text_lines_split_only_on_newlines():
    from textgan.common.texts import text_lines

    assert text_lines(ODD_LINES) == ["reset my\u2028password", "where is\x0cmy parcel", "\x85cancel my plan",
                                     "track it"]
    assert text_lines("a\n\nb") == ["a", "", "b"] and text_lines("") == []


def test_txt_readers_give_one_row_a_line(tmp_path, faq, cli_main):
    """str.splitlines made 7 rows of these 4 lines: the vectors no longer matched the file's lines."""
    import similarity
    from textgan.workflow.encode import stream_rows

    f = tmp_path / "odd.txt"
    f.write_text(ODD_LINES, encoding="utf-8", newline="")
    assert len(similarity.load_texts(f)) == 4
    assert len(list(stream_rows(f))) == 4
    code, out, err = cli_main("encode", faq[0], f, "--out", tmp_path / "v.npy")
    assert code == 0, err
    assert np.load(tmp_path / "v.npy").shape[0] == 4


@pytest.mark.parametrize("name,content", [("blank.csv", "\n\n  \n\n"), ("blank.tsv", "\n \n")])
def test_a_data_file_of_blank_lines_is_an_empty_dataset(tmp_path, name, content):
    """It was called "a tab-separated file" (.csv) or a pandas EmptyDataError (.tsv)."""
    import similarity

    f = tmp_path / name
    f.write_text(content)
    with pytest.raises(InputError, match="empty dataset"):
        similarity.load_texts(f, "text")


def test_blank_lines_before_the_header_are_skipped(tmp_path):
    import similarity

    f = tmp_path / "lead.csv"
    f.write_text("\n\ntext,group\nreset my password,a\nwhere is my parcel,b\n")
    assert similarity.load_texts(f, "text") == ["reset my password", "where is my parcel"]


@pytest.mark.parametrize("body,needle", [
    ('[1, 2]\n{"text": "a", "group": "b"}\n', "line 1 is not a JSON object (it is an array"),
    ('{"text": "a", "group": "b"}\n"just text"\n', "line 2 is not a JSON object (it is a string"),
    ('{"text": "a", "group": "b"}\n{broken\n', "line 2 is not valid JSON"),
])
def test_a_jsonl_line_that_is_not_an_object_is_named(tmp_path, body, needle):
    """Arrow's message said "row 0" of its own block ("changed from object to string in row 0")."""
    import similarity
    from textgan.workflow.encode import stream_rows

    f = tmp_path / "d.jsonl"
    f.write_text(body)
    with pytest.raises(InputError, match=needle.replace("(", r"\(")):
        similarity.load_texts(f, "text")
    with pytest.raises(InputError, match=needle.replace("(", r"\(")):
        list(stream_rows(f, "text"))


def test_a_refused_corpus_leaves_no_claimed_shard_folder(tmp_path, faq, cli_main):
    """The folder kept the bad corpus's encode.json and refused the corrected file as "another corpus"."""
    f = tmp_path / "d.jsonl"
    f.write_text('"not an object"\n')
    code, _, err = cli_main("encode", faq[0], f, "--text-col", "text", "--out", tmp_path / "shards")
    assert_one_line_error(code, err, "d.jsonl", "line 1 is not a JSON object")
    assert not (tmp_path / "shards").exists()
    f.write_text('{"text": "reset my password"}\n{"text": "where is my parcel"}\n')
    code, out, err = cli_main("encode", faq[0], f, "--text-col", "text", "--out", tmp_path / "shards")
    assert code == 0, err
    assert json.loads((tmp_path / "shards" / "manifest.json").read_text())["n"] == 2


def _reseal(ckpt, key, value):
    """Edit state.json and record its new digest, as a tamperer who knows the format would."""
    meta = json.loads((ckpt / "state.json").read_text())
    meta[key] = value
    (ckpt / "state.json").write_text(json.dumps(meta))
    seal = json.loads((ckpt / "digests.json").read_text())
    seal["state.json"] = hashlib.sha256((ckpt / "state.json").read_bytes()).hexdigest()
    (ckpt / "digests.json").write_text(json.dumps(seal))


@pytest.mark.parametrize("kind,edits", [
    ("similarity", [("epoch", "abc"), ("epoch", -3), ("step", None), ("best", "x"), ("bad", 1.5),
                    ("history", 5), ("groups", 5)]),
    ("gan", [("step", "abc"), ("step", -5), ("rng", 3)]),
])
def test_checkpoint_fields_of_the_wrong_type_are_one_line(kind, edits, tmp_path, cli_main):
    """A re-sealed state.json with `"epoch": "abc"` was a traceback mid-resume."""
    from test_checkpoint_digests import _run

    assert _run(kind, tmp_path, cli_main)[0] == 0
    ckpt = tmp_path / "run" / "checkpoint"
    backup = {p: p.read_bytes() for p in ckpt.rglob("*") if p.is_file()}
    for key, value in edits:
        _reseal(ckpt, key, value)
        code, _, err = _run(kind, tmp_path, cli_main, resume=True)
        assert_one_line_error(code, err, "state.json", f"field {key!r}")
        for p, b in backup.items():
            p.write_bytes(b)
    assert _run(kind, tmp_path, cli_main, resume=True)[0] == 0


def test_a_second_writer_of_one_output_is_refused(tmp_path, faq, cli_main):
    """generate-embeddings (OUT.npy + OUT.jsonl), augment (OUT.npy + OUT.labels.txt) and encode
    took no lock: two runs into one OUT could leave one's vectors beside the other's sentences."""
    from textgan.common.artifacts import output_lock
    from textgan.workflow.core import generate_embeddings
    from textgan.workflow.fewshot import augment

    (tmp_path / "q.txt").write_text("reset my password\n")
    with output_lock(tmp_path / "out.npy"):
        with pytest.raises(InputError, match="another run is writing to this file"):
            generate_embeddings(tmp_path / "no-gan", 4, tmp_path / "out")
        with pytest.raises(InputError, match="another run is writing to this file"):
            augment(faq[0], tmp_path / "no-data.csv", 4, tmp_path / "out.npy")
        code, _, err = cli_main("encode", faq[0], tmp_path / "q.txt", "--out", tmp_path / "out.npy")
        assert_one_line_error(code, err, "out.npy", "another run is writing to this file")
    assert not (tmp_path / ".out.npy.lock").exists()  # released: the next run goes ahead
    code, _, err = cli_main("encode", faq[0], tmp_path / "q.txt", "--out", tmp_path / "out.npy")
    assert code == 0, err
    assert np.load(tmp_path / "out.npy").shape[0] == 1
