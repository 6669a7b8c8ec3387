"""Hostile inputs (issue 17): output paths, malformed corpora, `--set` values, sizes, full disks,
locks. Each case asserts what a broken implementation would get wrong: the file that was
overwritten, the row count, the one `error:` line."""
from __future__ import annotations

import errno
import os
import stat

import numpy as np
import pytest

from helpers import assert_one_line_error
from textgan.common.errors import InputError


@pytest.fixture(scope="module")
def tiny_gan(tmp_path_factory):
    """(GAN folder, its training vectors (64, 8)): a one-step GAN, enough to sample from."""
    from textgan.gan import make_kind, train_gan

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    gan = train_gan(x, make_kind("gan").config(steps=1, batch_size=16, width=8, noise_dim=4),
                    tmp_path_factory.mktemp("gan") / "gan", progress=False)
    return gan, x


# --- 1. an output stem with a dot -------------------------------------------------------------

@pytest.mark.parametrize("out, suffixes, want", [
    ("runs/gen.v2", (".npy", ".jsonl"), ["runs/gen.v2.npy", "runs/gen.v2.jsonl"]),
    ("runs/gen.v2.npy", (".npy", ".jsonl"), ["runs/gen.v2.npy", "runs/gen.v2.jsonl"]),
    ("runs/gen.v2.jsonl", (".npy", ".jsonl"), ["runs/gen.v2.npy", "runs/gen.v2.jsonl"]),
    ("runs/gen", (".npy", ".jsonl"), ["runs/gen.npy", "runs/gen.jsonl"]),
    ("runs/aug.v2", (".npy", ".labels.txt"), ["runs/aug.v2.npy", "runs/aug.v2.labels.txt"]),
    ("runs/aug.v2.labels.txt", (".npy", ".labels.txt"), ["runs/aug.v2.npy", "runs/aug.v2.labels.txt"]),
    ("runs/.npy", (".npy",), ["runs/.npy.npy"]),  # a bare suffix is a name, not a stem plus suffix
])
def test_output_files_keep_every_dot_of_the_stem(out, suffixes, want):
    from textgan.common.paths import output_files

    assert [str(p) for p in output_files(out, suffixes)] == want


def test_generate_embeddings_with_a_dotted_stem_keeps_the_earlier_run(tiny_gan, tmp_path, cli_main):
    gan, _ = tiny_gan
    earlier = tmp_path / "gen.npy"
    np.save(earlier, np.zeros((1, 8), np.float32))
    code, out, err = cli_main("generate-embeddings", gan, "--n", 5, "--out", tmp_path / "gen.v2")
    assert code == 0, err
    assert np.load(earlier).shape == (1, 8)  # the earlier run is untouched
    assert np.load(tmp_path / "gen.v2.npy").shape == (5, 8)
    assert str(tmp_path / "gen.v2.npy") in out


def test_augment_with_a_dotted_stem_writes_a_matching_pair(faq, tmp_path, cli_main):
    import csv
    from collections import Counter

    model, texts, groups, _ = faq
    few = set(sorted(set(groups))[::6])
    rows, seen = [], Counter()
    for t, g in zip(texts, groups):  # every 6th group cut to 2 sentences: the few-shot groups
        seen[g] += 1
        if seen[g] <= (2 if g in few else 99):
            rows.append((t, g))
    data = tmp_path / "few.csv"
    with open(data, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("text", "group"), *rows])
    (tmp_path / "aug.npy").write_bytes(b"an earlier run")
    code, _, err = cli_main("augment", model, data, "--per-group", 3, "--max-shots", 5, "--steps", 20,
                            "--out", tmp_path / "aug.v2")
    assert code == 0, err
    assert (tmp_path / "aug.npy").read_bytes() == b"an earlier run"
    x, labels = np.load(tmp_path / "aug.v2.npy"), (tmp_path / "aug.v2.labels.txt").read_text().split()
    assert len(x) == len(labels) == 3 * len(few)


# --- 2. an output path that is a device, a pipe or a symlink --------------------------------

def _fifo(path):
    os.mkfifo(path)
    return path


def _link(path):
    target = path.with_name("target.npy")
    target.write_bytes(b"precious")
    path.symlink_to(target)
    return path


@pytest.mark.parametrize("make, kind", [(_fifo, "device, pipe or socket"), (_link, "symlink")])
@pytest.mark.parametrize("command", [
    ["sample", "{gan}", "--n", "2", "--out", "{out}"],
    ["generate-embeddings", "{gan}", "--n", "2", "--out", "{out}"],
])
def test_an_output_that_is_not_a_regular_file_is_refused(tiny_gan, tmp_path, cli_main, make, kind, command):
    gan, _ = tiny_gan
    out = make(tmp_path / "out.npy")
    before = os.lstat(out)
    code, _, err = cli_main(*[a.format(gan=gan, out=out) for a in command])
    assert_one_line_error(code, err, str(out), kind, "not a regular file")
    after = os.lstat(out)
    assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode) and after.st_ino == before.st_ino
    if kind == "symlink":
        assert out.with_name("target.npy").read_bytes() == b"precious"


def test_the_atomic_rename_never_replaces_a_device(tmp_path):
    """The last line of defence, for writers that skip check_output_file."""
    from textgan.common.artifacts import atomic_file, save_json

    fifo = _fifo(tmp_path / "pipe")
    with pytest.raises(InputError, match="not a regular file"):
        save_json({"a": 1}, fifo)
    # a path that becomes a link while the temp file is written is refused before the rename
    dest = tmp_path / "late.json"
    with pytest.raises(InputError, match="symlink"):
        with atomic_file(dest) as fh:
            fh.write("x")
            dest.symlink_to(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and not list(tmp_path.glob(".late.json.tmp-*"))
    save_json({"a": 1}, tmp_path / "plain.json")  # a new path and a regular file still work
    save_json({"a": 2}, tmp_path / "plain.json")
    assert (tmp_path / "plain.json").read_text().count('"a": 2') == 1


# --- 8. the run lock holds however the folder is spelled ------------------------------------

def test_the_run_lock_is_taken_on_the_resolved_folder(tiny_gan, tmp_path, cli_main):
    from textgan.common.artifacts import run_lock

    _, x = tiny_gan
    vecs = tmp_path / "v.npy"
    np.save(vecs, x)
    real = tmp_path / "runs" / "gan"
    code, _, err = cli_main("train-gan", vecs, "--steps", 2, "--batch-size", 16, "--width", 8,
                            "--checkpoint-every", 1, "--out", real, "--quiet")
    assert code == 0, err
    link = tmp_path / "link"
    link.symlink_to(real)
    before = sorted(p.name for p in real.rglob("*"))
    for spelling in (link, tmp_path / "runs" / ".." / "runs" / "gan"):
        with run_lock(real):  # the running training
            code, _, err = cli_main("train-gan", vecs, "--steps", 4, "--batch-size", 16, "--width", 8,
                                    "--out", spelling, "--resume", "--quiet")
        assert_one_line_error(code, err, str(spelling), "locked")
    assert sorted(p.name for p in real.rglob("*")) == before
    assert not list(tmp_path.rglob(".*.lock"))  # released and removed


def test_a_lock_file_unlinked_by_its_finishing_holder_locks_nothing(tmp_path, monkeypatch):
    """Run B opened the lock file just before run A finished and unlinked it: B's flock then
    succeeds on a dead file, and a third run C would lock a new one beside it. B must refuse."""
    import fcntl

    from textgan.common import artifacts

    out = tmp_path / "run"
    real_flock = fcntl.flock

    def flock_then_holder_finishes(fh, op):
        real_flock(fh, op)
        os.unlink(tmp_path / ".run.lock")

    monkeypatch.setattr(fcntl, "flock", flock_then_holder_finishes)
    with pytest.raises(InputError, match="locked"):
        with artifacts.run_lock(out):
            pass


# --- 3. malformed CSV / TSV ------------------------------------------------------------------

def test_a_stray_quote_in_a_tsv_stays_in_its_row(tmp_path):
    """A TSV field starting with `"` opened a quoted field that ran to the next `"`, swallowing
    the rows between (48 lines in, 41 read). TSV has no quoting: every line is one row."""
    from similarity.data import load_groups, load_texts
    from textgan.workflow.encode import stream_rows

    lines = [f"sentence number {i}\tg{i % 3}" for i in range(12)]
    lines[2] = '"quoted at the start\tg2'
    lines[7] = 'a quote at the end"\tg1'
    path = tmp_path / "c.tsv"
    path.write_text("text\tgroup\n" + "\n".join(lines) + "\n", encoding="utf-8")
    texts, groups = load_groups(path)
    assert len(texts) == 12 and texts[2] == '"quoted at the start' and groups[7] == "g1"
    assert not any("\t" in t or "\n" in t for t in texts)
    assert len(load_texts(path, "text")) == 12
    assert [t for t, _ in stream_rows(path, "text", "group")] == texts


def test_a_tsv_row_with_a_stray_tab_is_refused_with_its_line(tmp_path, cli_main):
    path = tmp_path / "c.tsv"
    path.write_text("text\tgroup\none\ta\ntwo\ta\nthree\tb\tstray\nfour\tb\n", encoding="utf-8")
    code, _, err = cli_main("train-similarity", path, "--out", tmp_path / "sim")
    assert_one_line_error(code, err, str(path), "line 4", "saw 3")


def test_a_malformed_csv_names_line_and_fields_in_the_one_error_line(tmp_path):
    """Run as a process: the `datasets` logger wrote the cause on a line of its own and the
    error line said only "DatasetGenerationError: An error occurred"."""
    from helpers import run_script

    path = tmp_path / "bad.csv"
    path.write_text("text,group\nhello,a\nhi,a,extra,more\nfoo,b\nbar,b\n", encoding="utf-8")
    code, _, err = run_script("train-similarity", path, "--out", tmp_path / "sim")
    assert_one_line_error(code, err, str(path), "line 3", "Expected 2 fields", "saw 4")
    assert not (tmp_path / "sim").exists()


def test_a_malformed_csv_of_vectors_names_its_line(tmp_path, cli_main):
    path = tmp_path / "v.csv"
    path.write_text("a,b\n1,2\n3,4,5\n", encoding="utf-8")
    code, _, err = cli_main("train-gan", path, "--out", tmp_path / "g")
    assert_one_line_error(code, err, str(path), "cannot read dataset (ParserError", "line 3")


# --- 4. blank text cells and a UTF-8 BOM -----------------------------------------------------

def _csv(path, cells):
    path.write_text("text,group,sentence2,score\n" + "".join(f"{c},g{i % 2},x y,1\n" for i, c in enumerate(cells)),
                    encoding="utf-8")
    return path


def _cell_readers():
    import similarity
    from textgan.workflow.core import read_corpus
    from textgan.workflow.encode import stream_rows

    return {"load_groups": similarity.load_groups,
            "load_texts": lambda p: similarity.load_texts(p, "text"),
            "load_pairs": lambda p: similarity.load_pairs(p, "text", "sentence2", "score"),
            "read_corpus": lambda p: read_corpus(p, "text", "group"),
            "stream_rows": lambda p: list(stream_rows(p, "text", "group"))}


@pytest.mark.parametrize("reader", ["load_groups", "load_texts", "load_pairs", "read_corpus", "stream_rows"])
def test_a_text_cell_of_only_spaces_is_refused_by_every_reader(tmp_path, reader):
    path = _csv(tmp_path / "d.csv", ["one two", "three four", "   ", "five six"])
    with pytest.raises(InputError, match=r"row 3: empty value in column 'text'"):
        _cell_readers()[reader](path)


@pytest.mark.parametrize("suffix, sep", [(".csv", ","), (".tsv", "\t")])
@pytest.mark.parametrize("reader", ["load_groups", "load_texts", "read_corpus", "stream_rows"])
def test_cells_are_read_as_written(tmp_path, suffix, sep, reader):
    """pandas read the sentences "NA", "null", "None" as missing cells and "007" as 7."""
    cells = ["NA", "null", "None", "N/A", "007", "1e3", "0.50", "nan"]
    path = tmp_path / f"d{suffix}"
    path.write_text(f"text{sep}group{sep}sentence2{sep}score\n"
                    + "".join(f"{c}{sep}g{i % 2}{sep}x{sep}1\n" for i, c in enumerate(cells)), encoding="utf-8")
    got = _cell_readers()[reader](path)
    texts = got[0] if isinstance(got, tuple) else [r[0] for r in got] if isinstance(got[0], tuple) else got
    assert list(texts) == cells


def test_train_similarity_refuses_a_blank_sentence(tmp_path, cli_main):
    path = _csv(tmp_path / "d.csv", ["one two", "three four", "five six", "  ", "seven eight", "nine ten"])
    code, _, err = cli_main("train-similarity", path, "--out", tmp_path / "sim")
    assert_one_line_error(code, err, str(path), "row 4: empty value in column 'text'")
    assert not (tmp_path / "sim").exists()


BOM = "\ufeff"


def _txt_readers():
    import similarity
    from textgan.commands.index import _read_queries
    from textgan.gan import read_labels
    from textgan.workflow.encode import stream_rows

    return {"load_texts": similarity.load_texts,  # encode, index, train-gan --model
            "stream_rows": lambda p: [t for t, _ in stream_rows(p)],  # sharded encode, index --storage disk
            "search --file": lambda p: _read_queries(str(p)),
            "train-gan --labels": read_labels}


@pytest.mark.parametrize("reader", ["load_texts", "stream_rows", "search --file", "train-gan --labels"])
def test_a_bom_is_not_part_of_the_first_line_of_a_txt(tmp_path, reader):
    path = tmp_path / "q.txt"
    path.write_text(BOM + "reset my password\nwhere is my parcel\n", encoding="utf-8")
    assert _txt_readers()[reader](path) == ["reset my password", "where is my parcel"]


# --- 5. `--set` values and an edited config.json -------------------------------------------

@pytest.mark.parametrize("args, needles", [
    (["--set", "head=foo"], ["--head must be one of linear, sphere, tanh, got 'foo'"]),
    (["--set", "arch=foo"], ["--arch must be one of mlp, resmlp, got 'foo'"]),
    (["--kind", "meg", "--set", "mala_steps=1.5"], ["--set mala_steps must be a whole number, got 1.5"]),
    (["--set", "width=64.5"], ["--width must be a whole number, got 64.5"]),
    (["--set", "one_loss=1"], ["--one-loss must be true or false, got 1"]),
    (["--set", "optimizer=sgd"], ["--optimizer must be one of adam, rmsprop, got 'sgd'"]),
    (["--set", "betas=0.5"], ["--set betas must be a list of 2 numbers", "got 0.5"]),
    (["--set", "betas=[0.5]"], ["--set betas must be a list of 2 numbers", "got (0.5,)"]),
    (["--set", 'betas=[0.5, "x"]'], ["--set betas must be a list of 2 numbers"]),
    (["--width", "32", "--set", "width=64"], ["width is set twice", "pass it once"]),
])
def test_train_gan_refuses_set_values_that_do_not_fit_the_field(tmp_path, cli_main, args, needles):
    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--steps", 1, "--out", tmp_path / "g", "--quiet", *args)
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "g").exists()


def test_every_kind_s_default_config_fits_its_own_types():
    from textgan.gan import PRESETS, carry_over
    from textgan.gan.registry import KINDS

    for k in KINDS.values():
        k.config().resolved()
        for preset in PRESETS.values():
            carry_over(k.config, preset)
        assert k.config.from_dict(k.config().to_dict()) == k.config()  # betas list -> tuple again


@pytest.mark.parametrize("key, value, needle", [
    ("arch", "foo", "--arch must be one of mlp, resmlp"),
    ("width", 8.5, "--width must be a whole number"),
    ("width", -3, "--width must be >= 1"),
    ("widht", 8, "unknown GANConfig keys ['widht']"),
])
def test_an_edited_config_json_is_refused_naming_the_file(tiny_gan, tmp_path, cli_main, key, value, needle):
    import json
    import shutil

    gan = shutil.copytree(tiny_gan[0], tmp_path / "gan")
    info = json.loads((gan / "config.json").read_text())
    info["config"][key] = value
    (gan / "config.json").write_text(json.dumps(info))
    code, _, err = cli_main("sample", gan, "--n", 2, "--out", tmp_path / "s.npy")
    assert_one_line_error(code, err, str(gan / "config.json"), needle)


# --- 6. sizes that cannot be allocated are refused up front ----------------------------------

@pytest.fixture
def eight_gib(monkeypatch):
    """A machine with 8 GiB available, whatever this one has: the refusals do not depend on it."""
    from textgan.common import memory

    monkeypatch.setattr(memory, "available_memory", lambda: 8 << 30)


@pytest.mark.parametrize("args, needle", [
    (["--width", "100000000"], "mostly --width/--noise-dim/--depth: network weights"),
    (["--noise-dim", "1000000000"], "mostly --noise-dim/--width/--depth: network weights"),
    (["--kind", "ebm-langevin", "--set", "buffer_size=1000000000"], "mostly --set buffer_size: replay buffer"),
    (["--kind", "glann", "--set", "imle_pool=1000000000"], "mostly --set imle_pool/--batch-size: activations"),
    (["--kind", "began", "--set", "code_dim=100000000000"], "mostly --set code_dim/"),
    (["--set", "critic_fourier=100000000"], "mostly --set critic_fourier/"),
])
def test_train_gan_refuses_sizes_that_cannot_be_allocated(tmp_path, cli_main, eight_gib, monkeypatch, args, needle):
    from textgan.gan import trainer

    def never(*_, **__):
        raise AssertionError("networks were built")

    monkeypatch.setattr(trainer, "seed_all", never)  # the first thing done after the checks
    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(512, 4)).astype(np.float32))
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--out", tmp_path / "g", "--quiet", *args)
    assert_one_line_error(code, err, "training on 4-d vectors", needle, "would need about", "8.0 GiB")
    assert not (tmp_path / "g").exists()


def test_train_gan_on_a_corpus_refuses_the_size_before_encoding(faq, tmp_path, cli_main, eight_gib, monkeypatch):
    from helpers import FAQ
    from textgan.workflow import core

    def never(*_, **__):
        raise AssertionError("the corpus was read before the size check")

    monkeypatch.setattr(core, "read_corpus", never)
    code, _, err = cli_main("train-gan", FAQ, "--model", faq[0], "--text-col", "text", "--width", 100_000_000,
                            "--out", tmp_path / "g", "--quiet")
    assert_one_line_error(code, err, "would need about", "mostly --width/")


def test_the_memory_estimate_passes_every_default_and_preset(eight_gib):
    from textgan.gan.config import PRESETS, carry_over, check_training_memory
    from textgan.gan.registry import KINDS

    for k in KINDS.values():
        for cfg in [k.config(), *(carry_over(k.config, p) for p in PRESETS.values())]:
            check_training_memory(cfg, 1024)  # a 1024-d encoder: nothing near 4 GiB


def test_interpolate_refuses_a_path_that_cannot_be_allocated(cli_main, eight_gib, monkeypatch):
    from types import SimpleNamespace

    from textgan.workflow import core

    class NoEncoder:
        def encode(self, texts):
            raise AssertionError("encoded before the size check")

    monkeypatch.setattr(core, "open_index", lambda index, model=None: (SimpleNamespace(dim=384), NoEncoder()))
    code, _, err = cli_main("interpolate", "idx", "reset my password", "where is my parcel", "--steps", 10**12)
    assert_one_line_error(code, err, "--steps 1000000000000 would need about", "use fewer steps")


# --- 7. a full disk while saving: the error line names the file and the problem ---------------

def _disk_full(*_, **__):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what a write into a full disk raises: no filename


def test_sample_on_a_full_disk_names_the_output(tiny_gan, tmp_path, cli_main, monkeypatch):
    monkeypatch.setattr(np, "save", _disk_full)
    out = tmp_path / "s.npy"
    code, _, err = cli_main("sample", tiny_gan[0], "--n", 3, "--out", out)
    assert_one_line_error(code, err, f"error: {out}: No space left on device")
    assert not list(tmp_path.iterdir())  # the temp file is gone too


def test_train_gan_on_a_full_disk_names_the_file(tmp_path, cli_main, monkeypatch):
    import safetensors.torch

    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
    monkeypatch.setattr(safetensors.torch, "save_file", _disk_full)
    out = tmp_path / "g"
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--steps", 2, "--batch-size", 16, "--width", 8,
                            "--out", out, "--quiet")
    assert_one_line_error(code, err, f"error: {out / 'checkpoint'}/", ".safetensors: No space left on device")
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]


def test_train_gan_metrics_log_on_a_full_disk_names_the_file(tmp_path, cli_main, monkeypatch):
    from textgan.common import runs  # the run folder of both trainers appends metrics.jsonl

    class FullFile:
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        write = flush = _disk_full

    monkeypatch.setattr(runs, "open", FullFile, raising=False)
    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
    out = tmp_path / "g"
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--steps", 2, "--batch-size", 16, "--width", 8,
                            "--out", out, "--quiet")
    assert_one_line_error(code, err, f"error: {out / 'metrics.jsonl'}: No space left on device")


def test_train_similarity_on_a_full_disk_names_the_file(tmp_path, cli_main, monkeypatch):
    import safetensors.torch

    rows = [(f"{w} {x} please", g) for g, ws in [("pw", ["reset password", "forgot password"]),
                                                  ("parcel", ["track parcel", "where parcel"])]
            for w in ws for x in ("now", "today", "soon")]
    data = tmp_path / "train.csv"
    data.write_text("text,group\n" + "\n".join(f"{t},{g}" for t, g in rows) + "\n")
    monkeypatch.setattr(safetensors.torch, "save_file", _disk_full)
    out = tmp_path / "run"
    code, _, err = cli_main("train-similarity", data, "--out", out, "--epochs", 1, "--hidden", 8, "--embed-dim", 8,
                            "--batch-size", 8, "--quiet", "--eval-fraction", "0.34", "--teacher", "none")
    # the model folder, or the file in it that failed (the GRU module binds save_file at import)
    assert_one_line_error(code, err, f"error: {out / 'model'}", "No space left on device")
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]


def test_an_os_error_without_a_file_is_still_one_clear_line(cli_main, monkeypatch):
    import cli

    def boom(*_, **__):
        raise OSError(errno.EIO, None)

    monkeypatch.setattr(cli.cli, "main", boom)
    code, _, err = cli_main("kinds")
    assert_one_line_error(code, err, "error: Input/output error")
    assert "?" not in err


def test_a_failed_save_inside_a_folder_names_the_final_file_not_the_temp_one(tmp_path):
    import torch

    from textgan.common.artifacts import atomic_dir, save_tensors

    dest = tmp_path / "model"
    with pytest.raises(OSError) as got:  # still an OSError: optional caches degrade on one
        with atomic_dir(dest) as tmp:
            raise OSError(errno.ENOSPC, None, str(tmp / "sub" / "w.bin"))
    assert (got.value.filename, got.value.strerror) == (str(dest / "sub" / "w.bin"), "No space left on device")
    with pytest.raises(InputError, match=f"^{dest / 'w.safetensors'}: refusing to save non-finite"):
        with atomic_dir(dest) as tmp:
            save_tensors({"w": torch.tensor([float("nan")])}, tmp / "w.safetensors")
    assert not list(tmp_path.iterdir())


# --- 9. messages that said the wrong thing ----------------------------------------------------

def test_a_txt_corpus_with_a_group_column_says_why(tmp_path):
    from textgan.workflow.core import read_corpus
    from textgan.workflow.encode import stream_rows

    txt = tmp_path / "x.txt"
    txt.write_text("one\ntwo\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"x.txt: a .txt corpus is one sentence a line, without columns; "
                                         r"--group-col g needs a data file \(.csv, .tsv"):
        list(stream_rows(txt, None, "g"))
    with pytest.raises(InputError, match=r"x.txt: a .txt file is one sentence a line, without columns; "
                                         r"reading column\(s\) 'text', 'g' needs a data file"):
        read_corpus(txt, None, "g")


def test_encode_to_a_npy_refuses_a_group_column_it_would_drop(tmp_path, cli_main):
    txt = tmp_path / "x.txt"
    txt.write_text("one\ntwo\n", encoding="utf-8")
    code, _, err = cli_main("encode", tmp_path / "no-model", txt, "--group-col", "g", "--out", tmp_path / "v.npy")
    assert_one_line_error(code, err, "--group-col is for a sharded encode")


def test_encode_help_shows_a_single_percent():
    from click.testing import CliRunner

    from cli import cli

    out = CliRunner().invoke(cli, ["encode", "--help"]).output
    assert "k % N == I" in " ".join(out.split()) and "%%" not in out


def test_train_kplus1_has_the_batch_size_it_advises(faq, tmp_path, cli_main):
    model, texts, groups, _ = faq
    lab = tmp_path / "lab.csv"
    lab.write_text("text,group\n" + "".join(f"{t},{g}\n" for t, g in zip(texts[:40], groups[:40])
                                            if "," not in t and '"' not in t), encoding="utf-8")
    unl = tmp_path / "unl.txt"
    unl.write_text("\n".join(texts[100:120]) + "\n", encoding="utf-8")
    args = ["train-kplus1", model, lab, "--unlabeled", unl, "--steps", 2, "--quiet"]
    code, _, err = cli_main(*args, "--batch-size", 100, "--out", tmp_path / "k1")
    assert_one_line_error(code, err, "fewer than one batch (100); lower --batch-size")
    import json

    code, out, err = cli_main(*args, "--batch-size", 16, "--out", tmp_path / "k2")
    assert code == 0, err
    assert json.loads((tmp_path / "k2" / "config.json").read_text())["config"]["batch_size"] == 16
    code, out, err = cli_main(*args, "--out", tmp_path / "k3")  # the default batch (128) lowered to fit
    assert code == 0, err
    assert json.loads((tmp_path / "k3" / "config.json").read_text())["config"]["batch_size"] == 32


def test_a_folder_output_never_replaces_a_device_or_a_file(tmp_path):
    from textgan.common.artifacts import atomic_dir

    def _file(path):
        path.write_text("x")
        return path

    for make in (_fifo, _file):
        dest = make(tmp_path / "out")
        with pytest.raises(InputError, match="not a folder; refusing to replace it"):
            with atomic_dir(dest) as tmp:
                (tmp / "a").write_text("a")
        assert not stat.S_ISDIR(os.lstat(dest).st_mode) and [p.name for p in tmp_path.iterdir()] == ["out"]
        dest.unlink()
    target = tmp_path / "target"  # a link is moved aside, its target left as it was
    target.mkdir()
    (target / "old").write_text("old")
    (tmp_path / "link").symlink_to(target)
    with atomic_dir(tmp_path / "link") as tmp:
        (tmp / "new").write_text("new")
    assert (target / "old").exists() and (tmp_path / "link" / "new").exists()


# --- 10. a --gan model that the chosen method does not read is refused ----------------------

@pytest.fixture(scope="module")
def scorer_folders(tiny_gan, tmp_path_factory):
    """{model kind: a saved folder} of one tiny model per kind of scorer, on tiny_gan's (64, 8) vectors."""
    from textgan.gan import make_kind, train_gan
    from textgan.ood.opengan import OpenGANConfig, train_opengan
    from textgan.ood.outlier import OutlierConfig, train_outlier

    gan, x = tiny_gan
    root = tmp_path_factory.mktemp("scorers")
    groups = [f"g{i % 4}" for i in range(len(x))]
    small = dict(steps=1, batch_size=16)
    return {"gan": gan,
            "flow": train_gan(x, make_kind("flow").config(**small), root / "flow", progress=False),
            "meg": train_gan(x, make_kind("meg").config(**small, width=8, noise_dim=4), root / "meg", progress=False),
            "outlier": train_outlier(x, OutlierConfig(**small, width=8), groups).save(root / "outlier"),
            "opengan": train_opengan(x, x[:8], OpenGANConfig(**small, width=8, noise_dim=4)).save(root / "opengan")}


MODEL_GIVES = {"gan": "critic", "flow": "flow", "meg": "energy", "outlier": "outlier", "opengan": "critic"}


@pytest.mark.parametrize("model", list(MODEL_GIVES))
@pytest.mark.parametrize("method", ["knn", "mahalanobis", "flow", "outlier", "critic", "energy", "energy-head",
                                    "combined"])
def test_every_method_refuses_a_model_it_does_not_read(tiny_gan, scorer_folders, method, model):
    """`--method outlier --gan FLOW` scored with the index's own classifier, the flow unused."""
    from textgan.ood.scoring import Scorer, load_scorer

    _, x = tiny_gan
    sc = load_scorer(scorer_folders[model])
    groups = [f"g{i % 4}" for i in range(len(x))]
    if method in ("combined", MODEL_GIVES[model]):  # combined without --combine reads every model
        assert Scorer(method, x, [sc], groups=groups)(x[:3]).shape == (3,)
        return
    with pytest.raises(InputError) as got:
        Scorer(method, x, [sc], groups=groups)
    assert str(got.value).startswith(f"{scorer_folders[model]}: --method {method} does not use a")
    assert f"which gives {MODEL_GIVES[model]} scores" in str(got.value)


def test_combine_refuses_a_model_outside_its_components(tiny_gan, scorer_folders):
    from textgan.ood.scoring import Scorer, load_scorer

    _, x = tiny_gan
    flow, ebm = load_scorer(scorer_folders["flow"]), load_scorer(scorer_folders["meg"])
    assert Scorer("combined", x, [flow, ebm], combine=["knn", "flow", "energy"])(x[:2]).shape == (2,)
    with pytest.raises(InputError, match=r"--method combined \(knn, flow:0\) does not use a 'meg' model, which "
                                         r"gives energy scores \(add energy to --combine\)"):
        Scorer("combined", x, [flow, ebm], combine=["knn", "flow"])


def test_score_outlier_with_a_flow_and_an_index_is_refused(faq, tmp_path, cli_main):
    """The CLI case of the sweep: with --index, `outlier` fell back on the index's own classifier."""
    import similarity
    from helpers import FAQ
    from textgan.gan import make_kind, train_gan
    from textgan.workflow.core import index_corpus

    model, texts, _, vectors = faq
    index_corpus(model, FAQ, tmp_path / "index", text_col="text", group_col="group", progress=False)
    flow = train_gan(vectors, make_kind("flow").config(steps=1, batch_size=64), tmp_path / "flow", progress=False,
                     meta={"encoder": {"fingerprint": similarity.load(model).fingerprint}})
    q = tmp_path / "q.txt"
    q.write_text("reset my password\n", encoding="utf-8")
    code, _, err = cli_main("score", model, q, "--method", "outlier", "--gan", flow)
    assert_one_line_error(code, err, f"error: {flow}: --method outlier does not use a 'flow' model",
                          "use --method flow")
    code, _, err = cli_main("score", model, q, "--index", tmp_path / "index", "--method", "outlier", "--gan", flow)
    assert_one_line_error(code, err, "--index: gives the corpus", "--method outlier with --gan does not")
    assert not (tmp_path / ".index.gate" / "outlier").exists()  # refused before the index's classifier was trained


# --- 11. an input inside the output folder being replaced ---------------------------------------

def _earlier_index(out):
    import json

    from textgan.index.folder import FORMAT

    (out / "meta.json").write_text(json.dumps({"format": FORMAT}))


INSIDE_OUT_CASES = [  # (command, arguments ({inp}: the input inside {out}), what marks an earlier run in {out})
    ("demo", ["demo", "{inp}", "--out", "{out}"], lambda out: (out / "results.json").write_text("{}")),
    ("demo --queries", ["demo", "{other}", "--queries", "{inp}", "--out", "{out}"],
     lambda out: (out / "results.json").write_text("{}")),
    ("demo --pairs", ["demo", "{other}", "--pairs", "{inp}", "--out", "{out}"],
     lambda out: (out / "results.json").write_text("{}")),
    ("train-similarity --resume", ["train-similarity", "{inp}", "--resume", "--out", "{out}"], None),
    ("train-similarity --eval-data", ["train-similarity", "{other}", "--eval-data", "{inp}", "--resume", "--out",
                                      "{out}"], None),
    ("train-gan --resume", ["train-gan", "{inp}", "--resume", "--out", "{out}"], None),
    ("index", ["index", "{other}", "{inp}", "--out", "{out}"], _earlier_index),
    ("index --vectors", ["index", "{other}", "{other}", "--storage", "disk", "--vectors", "{dir}", "--out", "{out}"],
     _earlier_index),
    ("encode (shards)", ["encode", "{other}", "{inp}", "--out", "{out}"], None),
    ("train-kplus1", ["train-kplus1", "{other}", "{inp}", "--unlabeled", "{other}", "--out", "{out}"], None),
    ("train-outlier", ["train-outlier", "{other}", "{inp}", "--out", "{out}"], None),
    ("quantize-similarity", ["quantize-similarity", "{dir}", "--out", "{out}"], None),
]


@pytest.mark.parametrize("what,args,earlier", INSIDE_OUT_CASES, ids=[c[0] for c in INSIDE_OUT_CASES])
def test_an_input_inside_the_output_folder_is_refused(tmp_path, cli_main, what, args, earlier):
    """`demo DATA --out DIR` with DATA inside DIR and an earlier run there deleted DATA."""
    out = tmp_path / "run"
    (out / "sub").mkdir(parents=True)
    inp, folder = out / "data.csv", out / "sub"
    inp.write_text("text,group\nprecious,a\n", encoding="utf-8")
    (folder / "x").write_text("precious too")
    other = tmp_path / "other.csv"
    other.write_text("text,group\nhello,a\n", encoding="utf-8")
    if earlier is not None:
        earlier(out)
    code, _, err = cli_main(*[a.format(inp=inp, out=out, other=other, dir=folder) for a in args])
    assert_one_line_error(code, err, f"error: {out}: --out holds the input", "choose another --out")
    assert inp.read_text(encoding="utf-8") == "text,group\nprecious,a\n" and (folder / "x").is_file()


def test_an_output_folder_that_is_the_input_is_refused(tmp_path):
    from textgan.common.paths import check_inputs_outside

    data = tmp_path / "d"
    data.mkdir()
    (tmp_path / "link").symlink_to(data)
    with pytest.raises(InputError, match=r"--out is the input .*d: writing the output there would replace it"):
        check_inputs_outside(tmp_path / "link", [data])
    (data / "f").touch()
    with pytest.raises(InputError, match="--out holds the input"):  # however either path is spelled
        check_inputs_outside(tmp_path / "sub" / ".." / "link", [data / ".." / "d" / "f"])
    check_inputs_outside(data / "out", [data / "f", "minilm", None])  # beside or above the output: fine
    check_inputs_outside(tmp_path / "new", [tmp_path / "new" / "missing.csv"])  # nothing there to lose


# --- 12. a stray quote in a CSV swallows rows: refused with its lines -------------------------

def _stray_quote_csv(path, where="text"):
    """12 rows; row 3 (line 4) opens a quote that the `"` of row 9 (line 10) closes."""
    rows = [f"sentence number {i},g{i % 3},note {i}" for i in range(12)]
    rows[2] = '"quoted at the start,g2,note 2' if where == "text" else 'sentence number 2,g2,"note 2'
    rows[8] = 'a quote at the end",g2,note 8' if where == "text" else 'sentence number 8,g2,note 8"'
    path.write_text("text,group,note\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _csv_readers():
    import similarity
    from textgan.workflow.core import read_corpus
    from textgan.workflow.encode import stream_rows

    return {"load_groups": similarity.load_groups,
            "load_texts": lambda p: similarity.load_texts(p, "text"),
            "read_corpus": lambda p: read_corpus(p, "text", "group"),
            "stream_rows": lambda p: list(stream_rows(p, "text", "group"))}


@pytest.mark.parametrize("where", ["text", "an unread column"])
@pytest.mark.parametrize("reader", ["load_groups", "load_texts", "read_corpus", "stream_rows"])
def test_a_stray_quote_in_a_csv_is_refused_with_its_lines(tmp_path, reader, where):
    path = _stray_quote_csv(tmp_path / "c.csv", where)
    with pytest.raises(InputError) as got:
        _csv_readers()[reader](path)
    col = "text" if where == "text" else "note"
    assert str(got.value).startswith(f"{path}: lines 4-10: a quoted cell of column {col!r} runs over several lines")


def test_a_csv_cell_quoted_over_lines_in_an_unread_column_without_rows_in_it_is_kept(tmp_path):
    """A free-text note quoted over two lines is CSV; it holds no swallowed row (no delimiter after the break)."""
    import similarity

    path = tmp_path / "c.csv"
    path.write_text('text,group,note\none,a,"first line\nsecond line"\ntwo,a,x\nthree,b,y\nfour,b,z\n',
                    encoding="utf-8")
    assert similarity.load_groups(path)[0] == ["one", "two", "three", "four"]


def test_a_stray_quote_in_a_csv_is_one_error_line(tmp_path, cli_main):
    path = _stray_quote_csv(tmp_path / "c.csv")
    code, _, err = cli_main("train-similarity", path, "--out", tmp_path / "sim")
    assert_one_line_error(code, err, f"error: {path}: lines 4-10: a quoted cell of column 'text'")
    assert not (tmp_path / "sim").exists()


def test_a_stray_quote_swallowing_more_than_csvs_field_limit_is_still_one_line(tmp_path):
    """Naming the lines re-reads the file with the csv module, whose fields stop at 128 KiB: a longer
    swallowed span raised _csv.Error (a traceback) while the message was being written."""
    import similarity

    rows = [f"sentence number {i} with a few more words to make it long,g{i % 3}" for i in range(3000)]
    rows[2], rows[2900] = '"quoted at the start,g2', 'a quote at the end",g2'
    path = tmp_path / "c.csv"
    path.write_text("text,group\n" + "\n".join(rows) + "\n", encoding="utf-8")
    # the csv module's field limit is raised (similarity.file_quirks): the span is named by its lines
    with pytest.raises(InputError, match=r"lines 4-2902: a quoted cell of column 'text' runs over several lines"):
        similarity.load_groups(path)
