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
    for _ in range(2):  # and a rerun replaces its own output
        code, _, err = cli_main("encode", faq[0], tmp_path / "q.txt", "--out", tmp_path / "out.npy")
        assert code == 0, err
        assert np.load(tmp_path / "out.npy").shape[0] == 1


def test_restart_removes_the_temp_file_of_a_killed_plot(tmp_path):
    """kill -9 while curves.png was written left .curves.png.tmp-HOST-PID-*.png; resume kept it."""
    import socket

    from textgan.common.runs import RunFolder

    host = socket.gethostname().replace("/", "_")
    stale = tmp_path / f".curves.png.tmp-{host}-999999999-ab12.png"  # no such pid: provably stale
    stale.write_bytes(b"half a png")
    RunFolder(tmp_path, "epoch", True).restart(0)
    assert not stale.exists()


def test_sample_refuses_an_output_named_as_another_format(tmp_path, cli_main):
    code, _, err = cli_main("sample", tmp_path / "no-gan", "--n", "3", "--out", tmp_path / "x.csv")
    assert_one_line_error(code, err, "x.csv", "name it .npy")
    assert not (tmp_path / "x.csv").exists()


def test_api_errors_name_what_they_are_about(tmp_path):
    from similarity.splits import split_table

    f = tmp_path / "plain.json"
    f.write_text("[1, 2]")
    with pytest.raises(InputError) as err:
        split_table(f, "train")
    assert "}}" not in str(err.value) and '{"train": [[sentence, label], ...], ...}' in str(err.value)


def test_blank_sentences_are_refused_by_score_and_evaluate(faq):
    """They were scored and evaluated as the empty sentence (search refused them already)."""
    import similarity
    from textgan.workflow.score import score_texts

    with pytest.raises(InputError, match=r"sentences: sentence 2 is blank"):
        score_texts(faq[0], ["reset my password", "  \u200b"])
    two = sorted(set(faq[2]))[:2]
    pick = [i for g in two for i in [j for j, h in enumerate(faq[2]) if h == g][:3]]
    texts, groups = [faq[1][i] for i in pick], [faq[2][i] for i in pick]
    with pytest.raises(InputError, match=r"texts: item 3 is blank"):
        similarity.evaluate(similarity.load(faq[0]), texts[:2] + [" "] + texts[3:], groups)
    with pytest.raises(InputError, match=r"reference texts: item 1 is blank"):
        similarity.evaluate(similarity.load(faq[0]), texts, groups, [""], ["x"])


def test_gan_config_fields_of_the_wrong_type_are_named(tmp_path, cli_main):
    """config.json does not hold its own digest: an edited dim / steps_done / shape was read as is."""
    from test_checkpoint_digests import _run

    assert _run("gan", tmp_path, cli_main)[0] == 0
    cfg = tmp_path / "run" / "config.json"
    good = cfg.read_text()
    for key, value in [("dim", "x"), ("dim", 7), ("steps_done", -1), ("shape", [0]), ("kind", 5)]:
        cfg.write_text(json.dumps(dict(json.loads(good), **{key: value})))
        code, _, err = cli_main("sample", tmp_path / "run", "--n", "2", "--out", tmp_path / "s.npy")
        assert_one_line_error(code, err, "config.json", f"field {key!r}")
    cfg.write_text(good)
    assert cli_main("sample", tmp_path / "run", "--n", "2", "--out", tmp_path / "s.npy")[0] == 0


def test_generate_embeddings_reruns_onto_its_stem_and_drops_a_stale_decode(tmp_path, cli_main):
    """The output lock refused a rerun ("not a folder"); a decode of an earlier run stayed beside
    new vectors it does not describe."""
    from test_checkpoint_digests import _run

    assert _run("gan", tmp_path, cli_main)[0] == 0
    (tmp_path / "gen.jsonl").write_text('{"text": "an earlier decode"}\n')
    for n in (3, 5):
        code, _, err = cli_main("generate-embeddings", tmp_path / "run", "--n", n, "--out", tmp_path / "gen")
        assert code == 0, err
        assert np.load(tmp_path / "gen.npy").shape[0] == n
    assert not (tmp_path / "gen.jsonl").exists()


def test_resume_with_fewer_epochs_than_the_checkpoint_is_refused(tmp_path, cli_main):
    """--resume --epochs 2 on a 3-epoch checkpoint saved it as a 2-epoch model (train-gan refuses this)."""
    from test_checkpoint_digests import SIM, _run

    assert _run("similarity", tmp_path, cli_main)[0] == 0
    args = ["train-similarity", tmp_path / "d.csv", "--out", tmp_path / "run", *SIM, "--resume"]
    args[args.index("--epochs") + 1] = "3"
    assert cli_main(*args)[0] == 0
    args[args.index("--epochs") + 1] = "2"
    code, _, err = cli_main(*args)
    assert_one_line_error(code, err, "checkpoint", "past --epochs 2", "--epochs 3 or more")


@pytest.mark.parametrize("loss,margin,needle", [
    ("am", "-1", "takes a margin in [0, 1)"), ("aam", "5", "takes a margin in [0, 1.571)"),
    ("softmax", "3", "defined for margin 0 only"), ("triplet", "-0.5", "takes a margin in [0, 2]"),
    ("infonce", "0.3", "takes a margin in [0, 0]"),
])
def test_a_margin_outside_the_loss_range_is_refused(loss, margin, needle, tmp_path, cli_main):
    """am with margin -1 trained on a loss of 0.0 at every step and saved the model."""
    (tmp_path / "d.csv").write_text("text,group\na b,x\nb c,x\nc d,y\nd e,y\n")
    code, _, err = cli_main("train-similarity", tmp_path / "d.csv", "--out", tmp_path / "run", "--loss", loss,
                            "--margin", margin, "--teacher", "none")
    assert_one_line_error(code, err, "--margin", needle)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("codec,needle", [("utf-16-le", "iconv -f utf-16le"), ("utf-16-be", "iconv -f utf-16be"),
                                          ("utf-16", "iconv -f utf-16 ")])
def test_utf16_text_is_named_by_every_txt_reader(codec, needle, tmp_path, faq, cli_main):
    """Without a BOM, ASCII UTF-16 is valid UTF-8 (NUL bytes): it was encoded and searched as
    "w\\x00h\\x00e..." sentences, 3 rows for 2 lines."""
    import similarity
    from textgan.workflow.encode import stream_rows

    f = tmp_path / "u16.txt"
    f.write_bytes("where is my parcel\ncafé au lait\n".encode(codec))
    for read in (lambda: similarity.load_texts(f), lambda: list(stream_rows(f))):
        with pytest.raises(InputError, match="UTF-16"):
            read()
    code, _, err = cli_main("search", faq[0], "--file", f)
    assert_one_line_error(code, err, "u16.txt", "UTF-16", needle)
    (tmp_path / "bin.txt").write_bytes(b"abc\x00\x01\x02\xff\nmore\n")
    with pytest.raises(InputError, match="line 1 holds a NUL byte: a binary file"):
        similarity.load_texts(tmp_path / "bin.txt")


def test_a_small_on_disk_corpus_gets_a_factory_it_can_train(tmp_path, faq, cli_main):
    """The automatic IVF1,PQ64x4fs needed 16 rows and advised 'Flat', which --storage disk refused
    (after encoding the corpus)."""
    from textgan.index.choice import ondisk_factory
    from textgan.index.options import IndexOptions

    assert ondisk_factory(2, 256).endswith(",Flat") and ",PQ" in ondisk_factory(5000, 256)
    with pytest.raises(InputError, match="--factory: an on-disk index needs an IVF factory"):
        IndexOptions(storage="disk", factory="Flat").validate()
    (tmp_path / "two.txt").write_text("reset my password\nwhere is my parcel\n")
    code, out, err = cli_main("index", faq[0], tmp_path / "two.txt", "--out", tmp_path / "idx", "--storage", "disk")
    assert code == 0, err
    code, out, err = cli_main("search", tmp_path / "idx", "forgot my password", "--k", "1", "--json")
    assert code == 0 and "reset my password" in out, err


def test_api_arguments_of_the_wrong_type_are_input_errors(tmp_path, faq):
    """None or a list where a folder or file belongs raised AttributeError / TypeError, or wrote ./None.npy."""
    import textgan

    vecs = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    for call in (lambda: textgan.classify(None, ["hi"]), lambda: textgan.classify(5, ["hi"]),
                 lambda: textgan.generate(None, 2),
                 lambda: textgan.index_corpus(faq[0], ["a", "b"], tmp_path / "idx"),
                 lambda: textgan.index_corpus(faq[0], tmp_path / "c.txt", None),
                 lambda: textgan.train_semisup(vecs, ["a", "b"] * 4, vecs, None),
                 lambda: textgan.generate_embeddings(tmp_path / "gan", 2, None)):
        with pytest.raises(InputError, match="must be a path"):
            call()
    assert not (tmp_path / "None.npy").exists() and not list(tmp_path.iterdir())


def test_raw_vectors_give_a_cosine_and_constant_vectors_are_refused(tmp_path, cli_main):
    """typical_nn_cosine of vectors x3 was a dot product (8.13), which generate-embeddings then
    refused as a novelty_cosine; all-zero training vectors trained and saved a generator."""
    from textgan.metrics import typical_nn_cosine
    from textgan.workflow.core import _novelty_cosine

    x = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    assert typical_nn_cosine(3 * x) == pytest.approx(typical_nn_cosine(x), abs=1e-6) and typical_nn_cosine(x) <= 1
    with pytest.warns(UserWarning, match="not a cosine"):
        assert _novelty_cosine({"typical_nn_cosine": 8.13}, "g") is None
    assert _novelty_cosine({"typical_nn_cosine": 0.7}, "g") == 0.7
    for name, rows in (("zero", np.zeros((64, 4))), ("same", np.ones((64, 4)) * 0.5)):
        np.save(tmp_path / f"{name}.npy", rows.astype(np.float32))
        code, _, err = cli_main("train-gan", tmp_path / f"{name}.npy", "--steps", "2", "--out", tmp_path / name,
                                "--batch-size", "16")
        assert_one_line_error(code, err, f"{name}.npy", "the same vector")
        assert not (tmp_path / name).exists()
