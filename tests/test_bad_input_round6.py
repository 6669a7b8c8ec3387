"""Inputs of the 2026-12-05 (second) round: what public intent sets hold, read as they ship."""
from __future__ import annotations

import warnings

import pytest

from textgan.common.errors import InputError


def _readers():
    import similarity
    from textgan.workflow.core import read_corpus
    from textgan.workflow.encode import stream_rows

    return {"load_groups": lambda p: similarity.load_groups(p)[0],
            "load_texts": lambda p: similarity.load_texts(p, "text"),
            "read_corpus": lambda p: read_corpus(p, "text", "group")[0],
            "stream_rows": lambda p: [t for t, _ in stream_rows(p, "text", "group")]}


@pytest.mark.parametrize("reader", ["load_groups", "load_texts", "read_corpus", "stream_rows"])
def test_a_sentence_quoted_over_lines_is_read_as_one_line(tmp_path, reader):
    """BANKING77's train.csv (lines 1292-1296) quotes one sentence over five lines with CRLF rows
    around it; every reader refused the whole file as a stray quote."""
    path = tmp_path / "banking.csv"
    path.write_bytes(b'text,group\r\nmy card is broken,a\r\n"\nI cannot use\nmy card\n\n",a\r\n'
                     b'where is my parcel,b\r\ntrack my parcel,b\r\n')
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        got = _readers()[reader](path)
    assert list(got) == ["my card is broken", "I cannot use my card", "where is my parcel", "track my parcel"]
    assert any("1 cell(s) of column 'text' are quoted over several lines" in str(w.message) for w in seen)


def _text_readers():
    import similarity
    from textgan.workflow.core import read_corpus
    from textgan.workflow.encode import stream_rows

    return {"load_texts": lambda p: similarity.load_texts(p, "text"),
            "read_corpus": lambda p: read_corpus(p, "text", None)[0],
            "stream_rows": lambda p: [t for t, _ in stream_rows(p, "text", None)]}


@pytest.mark.parametrize("reader", ["load_texts", "read_corpus", "stream_rows"])
def test_a_stray_quote_in_a_one_column_csv_is_still_refused(tmp_path, reader):
    """Without a second column no delimiter shows the swallowed rows: more than two lines with text
    in one cell do."""
    rows = [f"sentence number {i}" for i in range(10)]
    rows[2], rows[6] = '"quoted at the start', 'a quote at the end"'
    path = tmp_path / "one.csv"
    path.write_text("text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"lines 4-8: a quoted cell of column 'text' runs over several lines"):
        _text_readers()[reader](path)


def test_a_cell_quoted_over_lines_indexes_as_one_sentence(tmp_path, cli_main, faq):
    """Through the CLI: the corpus row keeps its sentence on one line (texts.jsonl, `search`'s output)."""
    import json

    path = tmp_path / "c.csv"
    path.write_text('text,group\nreset my password,a\n"forgot\nmy password",a\nwhere is my parcel,b\n'
                    'track my parcel,b\n', encoding="utf-8")
    code, _, err = cli_main("index", faq[0], path, "--text-col", "text", "--group-col", "group",
                            "--out", tmp_path / "idx")
    assert code == 0, err
    assert "quoted over several lines" in err
    rows = [json.loads(line) for line in (tmp_path / "idx" / "texts.jsonl").read_text(encoding="utf-8").splitlines()]
    assert "forgot my password" in [r["text"] if isinstance(r, dict) else r for r in rows]


# --- a hostile sweep's findings (2026-12-05) ---------------------------------------------------

@pytest.fixture(scope="module")
def tiny_gan(tmp_path_factory):
    """(GAN folder, its training vectors (64, 8)): a one-step GAN, enough to sample from."""
    import numpy as np

    from textgan.gan import make_kind, train_gan

    x = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    gan = train_gan(x, make_kind("gan").config(steps=1, batch_size=16, width=8, noise_dim=4),
                    tmp_path_factory.mktemp("gan") / "gan", progress=False)
    return gan, x


def _disk_full(*args, **kwargs):
    from safetensors import SafetensorError

    raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")


def test_a_full_disk_under_safetensors_is_one_line_and_leaves_no_run_folder(tmp_path, cli_main, monkeypatch):
    """safetensors raises its own SafetensorError (not an OSError) on a full disk: a traceback, and
    the run folder kept config.json and metrics.jsonl, so a rerun refused it as not empty."""
    import numpy as np
    import safetensors.torch

    from helpers import assert_one_line_error

    x = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    np.save(tmp_path / "v.npy", x)
    monkeypatch.setattr(safetensors.torch, "save_file", _disk_full)
    out = tmp_path / "g"
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--steps", 3, "--batch-size", 16, "--out", out)
    assert_one_line_error(code, err, "cannot write (No space left on device)", str(out))
    assert not out.exists()


def test_a_failed_run_keeps_its_checkpoint_and_an_earlier_folder(tmp_path):
    """Only a new folder without a checkpoint is emptied: a --resume run, or one that checkpointed, stays."""
    from textgan.common.artifacts import run_lock

    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with run_lock(out):
            out.mkdir()
            (out / "metrics.jsonl").write_text("{}\n")
            raise RuntimeError("stopped")
    assert not out.exists()
    with pytest.raises(RuntimeError):
        with run_lock(out):
            (out / "checkpoint").mkdir(parents=True)
            (out / "metrics.jsonl").write_text("{}\n")
            raise RuntimeError("stopped")
    assert (out / "checkpoint").is_dir() and (out / "metrics.jsonl").is_file()


def test_an_oserror_without_errno_is_said_in_words():
    """numpy writing into a full file system raises OSError("160 requested and 0 written"); once
    its file was named, str() of it read "[Errno None] None: 'q.npy'"."""
    from textgan.common.paths import naming, os_problem

    with pytest.raises(OSError) as got:
        with naming("q.npy"):
            raise OSError("160 requested and 0 written")
    assert got.value.filename == "q.npy"
    assert "160 requested and 0 written" in os_problem(got.value) and "None" not in os_problem(got.value)
    assert os_problem(OSError()) == "write or read failed (is the disk full?)"


def test_an_edited_depth_is_refused_before_any_network_is_built(tiny_gan, tmp_path, cli_main):
    """config.json carries the other files' digests, not its own: depth 20000 built 15 GB of modules."""
    import json
    import shutil

    from helpers import assert_one_line_error

    gan = tmp_path / "g"
    shutil.copytree(tiny_gan[0], gan)
    info = json.loads((gan / "config.json").read_text())
    info["config"]["depth"] = 20000
    (gan / "config.json").write_text(json.dumps(info))
    code, _, err = cli_main("sample", gan, "--n", 2, "--out", tmp_path / "s.npy")
    assert_one_line_error(code, err, str(gan / "config.json"), "the weight files hold")


def _retype(path, dtype):
    import torch
    from safetensors.torch import load_file, save_file

    save_file({k: v.to(dtype) for k, v in load_file(str(path)).items()}, str(path))


def test_weights_of_another_dtype_are_refused_or_read_as_float32(faq, tmp_path):
    """A bfloat16 head raised numpy's TypeError; int32 weights loaded as zeros (every sentence the zero vector)."""
    import shutil

    import torch

    import similarity

    def tampered(name, file, dtype):
        folder = tmp_path / name
        shutil.copytree(faq[0], folder)
        _retype(folder / file, dtype)
        return folder

    from textgan.common.artifacts import load_tensors

    bf = tampered("bf", "head.safetensors", torch.bfloat16)
    assert load_tensors(bf / "head.safetensors", floats=True)["prototypes"].dtype == torch.float32
    ints = tampered("int", "model.safetensors", torch.int32)
    with pytest.raises(InputError, match=r"expected floating-point tensors, got .*\(int32\)"):
        load_tensors(ints / "model.safetensors", floats=True)
    with pytest.raises(InputError):  # digests first, then the dtype: refused either way
        similarity.load(ints)


def test_search_reads_a_data_file_by_its_column_not_line_by_line(faq, tmp_path, cli_main):
    """`search --file data.csv` searched the header "text,group" and each raw CSV line."""
    from helpers import assert_one_line_error

    code, _, err = cli_main("index", faq[0], "data/faq_en.csv", "--text-col", "text", "--group-col", "group",
                            "--out", tmp_path / "idx")
    assert code == 0, err
    queries = tmp_path / "q.csv"
    queries.write_text("text,group\nhow do I reset my password,x\n", encoding="utf-8")
    code, _, err = cli_main("search", tmp_path / "idx", "--file", queries, "--k", 1)
    assert_one_line_error(code, err, "pass --text-col")
    code, out, err = cli_main("search", tmp_path / "idx", "--file", queries, "--text-col", "text", "--k", 1)
    assert code == 0, err
    assert out.splitlines()[0] == "how do I reset my password" and "[reset_password]" in out


def test_a_parquet_bytes_column_is_read_as_text(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    import similarity

    texts = ["reset my password", "forgot my password", "track my parcel", "where is my parcel"]
    pq.write_table(pa.table({"text": [t.encode() for t in texts], "group": ["a", "a", "b", "b"]}),
                   tmp_path / "d.parquet")
    assert similarity.load_groups(tmp_path / "d.parquet")[0] == texts
    pq.write_table(pa.table({"text": [b"\xff\xfe", b"x", b"y", b"z"], "group": ["a", "a", "b", "b"]}),
                   tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=r"row 1: column 'text' holds bytes that are not UTF-8 text"):
        similarity.load_groups(tmp_path / "bad.parquet")


def test_a_lone_surrogate_is_refused_by_the_readers_and_the_api(faq, tmp_path):
    """A JSON "\\udc80" escape reached pyarrow (CLINC-style splits) or the tokenizer: tracebacks."""
    import similarity

    (tmp_path / "s.json").write_text('{"train": [["hello \\udc80", "a"], ["hi", "a"], ["x", "b"], ["y", "b"]]}')
    with pytest.raises(InputError, match=r"split 'train': row 1 is not valid Unicode text"):
        similarity.load_groups(f"{tmp_path / 's.json'}:train")
    (tmp_path / "s.jsonl").write_text('{"text": "hi \\udc80", "group": "a"}\n{"text": "yo", "group": "a"}\n')
    with pytest.raises(InputError):
        similarity.load_groups(tmp_path / "s.jsonl")
    with pytest.raises(InputError, match=r"item 2 is not valid Unicode text"):
        similarity.load(faq[0]).encode(["fine", "bad \ud800 text"])


def test_a_splits_file_with_one_empty_split_reads_the_others(tmp_path):
    import similarity

    path = tmp_path / "c.json"
    path.write_text('{"train": [["hello", "a"], ["hi", "a"], ["x", "b"], ["y", "b"]], "val": [], "meta": {"v": 1}}')
    assert similarity.load_groups(f"{path}:train")[0] == ["hello", "hi", "x", "y"]
    with pytest.raises(InputError, match=r"split 'val' is empty"):
        similarity.load_groups(f"{path}:val")
    with pytest.raises(InputError, match=r"split 'meta' is not a list of \[sentence, label\] pairs"):
        similarity.load_groups(f"{path}:meta")


@pytest.mark.parametrize("command", ["generate-embeddings", "augment"])
def test_an_output_stem_that_is_a_folder_is_refused(command, tiny_gan, faq, tmp_path, cli_main):
    """`--out o/` wrote the hidden files o/.npy and o/.labels.txt, and the next command overwrote them."""
    from helpers import assert_one_line_error

    (tmp_path / "o").mkdir()
    args = (["generate-embeddings", tiny_gan[0], "--n", 2] if command == "generate-embeddings" else
            ["augment", faq[0], "data/faq_en.csv", "--text-col", "text", "--group-col", "group", "--per-group", 2])
    code, _, err = cli_main(*args, "--out", f"{tmp_path / 'o'}/")
    assert_one_line_error(code, err, "--out is a folder, expected a file path")
    assert list((tmp_path / "o").iterdir()) == []


def test_the_api_refuses_bad_arguments_before_writing(tmp_path):
    import numpy as np

    import textgan
    from textgan.gan import make_kind

    x = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    cfg = make_kind("gan").config(steps=1, batch_size=16, width=8, noise_dim=4)
    with pytest.raises(InputError, match="pass the model folder to write"):
        textgan.train_gan(x, None, config=cfg)
    with pytest.raises(InputError, match=r"'meta.encoder.fingerprint' must be a string"):
        textgan.train_gan(x, tmp_path / "g", config=cfg, encoder={"fingerprint": 5, "dim": 8})
    with pytest.raises(InputError, match=r"records 256-d vectors, the vectors are 8-d"):
        textgan.train_gan(x, tmp_path / "g", config=cfg, encoder={"fingerprint": "abc", "dim": 256})
    assert not (tmp_path / "g").exists()
    with pytest.raises(InputError, match="sentence B: pass one sentence"):
        textgan.interpolate(tmp_path / "idx", "a", ["b"])


def test_prototypes_of_another_width_name_the_head_file(faq, tmp_path):
    """A head of the wrong width was only met later, as "energy-head: vectors of size 10 expected"."""
    import shutil

    import torch
    from safetensors.torch import save_file

    import similarity
    from similarity.model import _fingerprint
    from textgan.common.artifacts import load_json, save_json
    from textgan.common.digests import file_sha256

    folder = tmp_path / "m"
    shutil.copytree(faq[0], folder)
    names = load_json(folder / "groups.json")
    save_file({"prototypes": torch.ones(len(names), 10)}, str(folder / "head.safetensors"))
    cfg = load_json(folder / "similarity_config.json")
    cfg["digests"]["head.safetensors"] = file_sha256(folder / "head.safetensors")  # tampered with care
    cfg["fingerprint"] = _fingerprint(folder)
    save_json(cfg, folder / "similarity_config.json")
    with pytest.raises(InputError, match=rf"expected \({len(names)}, \d+\) non-zero 'prototypes'") as got:
        similarity.load(folder)
    assert str(got.value.path) == str(folder / "head.safetensors")


def test_invisible_format_marks_alone_are_blank():
    from textgan.common.texts import is_blank

    assert is_blank("\u200f\u202e") and is_blank("\u00ad \u2066\u2069") and not is_blank("\u200fhi")


@pytest.mark.parametrize("combine, needle", [("knn,knn", "knn named twice"), ("knn,,mahalanobis", "an empty component")])
def test_combine_refuses_a_method_named_twice_or_an_empty_one(combine, needle, faq, tmp_path, cli_main):
    """`--combine knn,knn` weighted knn twice in the z-scored mean; "knn,," was read as "knn"."""
    from helpers import assert_one_line_error

    code, _, err = cli_main("score", faq[0], "data/faq_en.csv", "--text-col", "text", "--index", tmp_path / "none",
                            "--method", "combined", "--combine", combine)
    assert_one_line_error(code, err, needle)


def test_an_unwritable_output_folder_names_the_folder_not_a_temp_file(tmp_path):
    """Under /proc the lock file and mkstemp failed with the hidden temp name in the message."""
    from textgan.common.artifacts import atomic_path
    from textgan.common.runlock import run_lock

    with pytest.raises(InputError, match=r"/proc/run: cannot write there"):
        with run_lock("/proc/run"):
            pass
    with pytest.raises(OSError) as info:
        with atomic_path("/proc/out.json"):
            pass
    assert ".tmp-" not in str(info.value) and "out.json" in str(info.value)


def test_a_txt_whose_lines_hold_tabs_is_read_whole_with_a_warning(tmp_path):
    import similarity

    (tmp_path / "c.txt").write_text("reset my password\tacct\nwhere is my parcel\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"1 of 2 line\(s\) hold a tab .*name it \.tsv and pass --text-col"):
        assert similarity.load_texts(tmp_path / "c.txt") == ["reset my password\tacct", "where is my parcel"]


def test_encoding_a_blank_text_warns(faq):
    import numpy as np

    import similarity

    with pytest.warns(UserWarning, match=r"texts: 2 blank text\(s\) \(first: item 2\) get the vector of the empty"):
        v = similarity.load(faq[0]).encode(["reset my password", "", "  "])
    assert v.shape[0] == 3 and np.allclose(v[1], v[2])
