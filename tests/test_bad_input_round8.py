"""Inputs of the eighth sweep: options a command would silently ignore, a reference without the
data's groups, label-conditioned kinds given one group, an index meta.json with a recall that is
not a number, a repeated sentence whose second group was dropped, and errors that named no option."""
from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import FAQ, assert_one_line_error
from textgan.common.errors import InputError


@pytest.mark.parametrize("args,needles", [
    (["--method", "knn", "--combine", "knn"], ["--combine:", "--method is knn"]),
    (["--method", "knn", "--labels", "l.txt"], ["--labels:", "mahalanobis", "--method knn"]),
    (["--method", "combined", "--combine", "knn", "--labels", "l.txt"], ["--labels:", "with this --combine"]),
    (["--method", "mahalanobis", "--k", "3"], ["--k:", "--method mahalanobis does not use"]),
    (["--method", "combined", "--combine", "mahalanobis", "--k", "3"], ["--k:"]),
    (["--gan", "g", "--gan", "./g"], ["--gan:", "given twice"]),
], ids=["combine-knn", "labels-knn", "labels-combine", "k-mahalanobis", "k-combine", "gan-twice"])
def test_score_refuses_options_its_method_would_ignore(tmp_path, cli_main, monkeypatch, args, needles):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.txt").write_text("hello there\n")
    code, _, err = cli_main("score", "model", "q.txt", "--index", "index", *args)
    assert_one_line_error(code, err, *needles)


def test_an_ignored_text_col_is_a_warning_only_when_every_file_is_txt():
    from textgan.commands.common import text_col_unused

    with pytest.warns(UserWarning, match="--text-col 'text' is ignored"):
        text_col_unused("text", "q.txt", None)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text_col_unused("text", "q.txt", "val.csv")  # it names the column of val.csv
        text_col_unused(None, "q.txt")


def test_generate_embeddings_refuses_k_without_an_index(tmp_path, cli_main):
    code, _, err = cli_main("generate-embeddings", tmp_path / "gan", "--k", "3", "--out", tmp_path / "g")
    assert_one_line_error(code, err, "--k:", "give --index")
    assert not list(tmp_path.iterdir())


def test_evaluate_needs_a_reference_sharing_the_data_groups(faq):
    import similarity

    texts, groups = ["a b", "c d", "e f", "g h"], ["x", "x", "y", "y"]
    with pytest.raises(InputError, match="--reference: no group of the data is a group of the reference"):
        similarity.evaluate("never-loaded", texts, groups, ["i j", "k l"], ["z", "w"])
    model, all_texts, all_groups, _ = faq
    ref_t = [t for t, g in zip(all_texts, all_groups) if g == all_groups[0]]
    with pytest.warns(UserWarning, match="have no reference sentence"):
        out = similarity.evaluate(model, all_texts[:40], all_groups[:40], ref_t, [all_groups[0]] * len(ref_t))
    share = sum(g == all_groups[0] for g in all_groups[:40]) / 40
    assert out["knn_top1"] <= share + 1e-9  # rows of the other groups can only miss


@pytest.mark.parametrize("kind", ["conditional", "kplus1", "boundary"])
def test_label_conditioned_kinds_need_two_groups(tmp_path, cli_main, kind):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "v.npy", rng.normal(size=(64, 4)).astype(np.float32))
    (tmp_path / "l.txt").write_text("only\n" * 64)
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--labels", tmp_path / "l.txt", "--kind", kind,
                            "--steps", 2, "--out", tmp_path / "g", "--quiet")
    assert_one_line_error(code, err, "--labels/--group-col:", "found one group ('only')", "--kind gan")
    assert not (tmp_path / "g").exists()


def test_anchored_trains_on_one_group(tmp_path):
    from textgan.gan import load, train_by_name

    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    out = train_by_name("anchored", x, tmp_path / "g", groups=["only"] * 64, steps=2, batch_size=16)
    assert load(out).sample(3, seed=0, group="only").shape == (3, 4)


def test_sample_errors_name_the_option(tmp_path, cli_main):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "v.npy", rng.normal(size=(64, 4)).astype(np.float32))
    (tmp_path / "l.txt").write_text("a\nb\n" * 32)
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--objective", "nope", "--out", tmp_path / "x")
    assert_one_line_error(code, err, "--objective: unknown objective 'nope'")
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--kind", "nope", "--out", tmp_path / "x")
    assert_one_line_error(code, err, "--kind")
    for kind in ("boundary", "conditional"):
        code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--labels", tmp_path / "l.txt", "--kind", kind,
                                "--steps", 2, "--batch-size", 16, "--out", tmp_path / kind, "--quiet")
        assert code == 0, err
    code, _, err = cli_main("sample", tmp_path / "boundary", "--n", 2, "--group", "a", "--out", tmp_path / "s.npy")
    assert_one_line_error(code, err, "--group: kind 'boundary' samples between the groups")
    code, _, err = cli_main("sample", tmp_path / "conditional", "--n", 2, "--out", tmp_path / "s.npy")
    assert_one_line_error(code, err, "--group: this model is conditional")
    code, _, err = cli_main("sample", tmp_path / "conditional", "--n", 2, "--group", "a", "--out", tmp_path / "s.npy")
    assert code == 0 and np.load(tmp_path / "s.npy").shape == (2, 4), err


@pytest.mark.parametrize("recall", ["high", True, 1.5, -0.1])
def test_index_meta_recall_must_be_a_share(tmp_path, recall):
    from textgan.index.build import build_index, load_index

    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    build_index(x, [f"s{i}" for i in range(8)]).save(tmp_path / "idx")
    meta = json.loads((tmp_path / "idx" / "meta.json").read_text())
    assert 0 <= meta["recall_at_10"] <= 1
    meta["recall_at_10"] = recall
    (tmp_path / "idx" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="'recall_at_10' must be a number in"):
        load_index(tmp_path / "idx")


def test_index_says_when_a_repeated_sentence_loses_its_group():
    from textgan.index.build import build_index

    x = np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32)
    with pytest.warns(UserWarning, match=r"1 repeated sentence\(s\) carry another group.*'same' in 'a', not 'b'"):
        idx = build_index(x, ["same", "other", "same", "third"], groups=["a", "c", "b", "d"])
    assert idx.ntotal == 3
    import warnings

    with warnings.catch_warnings():  # a repeat in the same group loses nothing
        warnings.simplefilter("error")
        build_index(x, ["same", "other", "same", "third"], groups=["a", "c", "a", "d"])


@pytest.mark.parametrize("args,needles", [
    (["--teacher", "none", "--distil-weight", "5"], ["--distil-weight:", "no teacher"]),
    (["--teacher", "none", "--teacher-cache", "c"], ["--teacher-cache:", "no teacher"]),
    (["--vo-weight", "0.5"], ["--vo-weight:", "--virtual-outliers or --outliers"]),
    (["--tail-below", "3"], ["--tail-below:", "--tail-synth"]),
], ids=["distil-no-teacher", "cache-no-teacher", "vo-weight-alone", "tail-below-alone"])
def test_train_similarity_refuses_options_that_would_not_act(tmp_path, cli_main, monkeypatch, args, needles):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli_main("train-similarity", FAQ, "--out", tmp_path / "run", "--quiet", *args)
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "run").exists() and not (tmp_path / "c").exists()


@pytest.mark.parametrize("out", ["", "-", "  "])
def test_an_empty_or_dash_output_is_refused(tmp_path, faq, cli_main, out):
    """`--out ""` wrote nothing (score) or the working folder (train); `--out -` wrote a file named "-"."""
    (tmp_path / "q.txt").write_text("reset my password\n")
    blank = "an empty value (a path was expected)"  # every command's empty option (round 26)
    code, _, err = cli_main("encode", faq[0], tmp_path / "q.txt", "--out", out)
    assert_one_line_error(code, err, "--out:", blank if not out.strip() else "needs a .npy file or a folder path")
    code, _, err = cli_main("score", faq[0], tmp_path / "q.txt", "--out", out)
    assert_one_line_error(code, err, "--out:", blank if not out.strip() else "needs a file path")
    code, _, err = cli_main("train-similarity", FAQ, "--out", out, "--quiet")
    assert_one_line_error(code, err, "--out:", blank if not out.strip() else "needs a folder path")


def test_folder_outputs_refuse_a_dash(tmp_path, faq, cli_main, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.txt").write_text("reset my password\nwhere is my parcel\n")
    for args in (("index", faq[0], "q.txt"), ("demo", FAQ)):
        code, _, err = cli_main(*args, "--out", "-")
        assert_one_line_error(code, err, "--out:", "needs a folder path")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.txt"]


def test_a_text_column_of_numbers_is_named(tmp_path):
    import similarity

    f = tmp_path / "ids.csv"
    f.write_text("id,text,group\n" + "".join(f"{i},sentence {i},{i % 2}\n" for i in range(8)))
    with pytest.warns(UserWarning, match="every cell of the text column 'id' is a number"):
        assert similarity.load_texts(f, text_col="id")[:2] == ["0", "1"]
    with pytest.warns(UserWarning, match="'group' is a number"):
        similarity.load_texts(f, text_col="group")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(similarity.load_groups(f, text_col="text", group_col="group")[0]) == 8


def test_a_learning_rate_far_too_high_is_warned():
    import warnings

    import similarity

    with pytest.warns(UserWarning, match=r"--lr 1e\+06 is far above the rates that train this model \(default 0.002\)"):
        similarity.TrainConfig(lr=1e6).resolved()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        similarity.TrainConfig(lr=0.01).resolved()


def test_labels_one_and_the_string_one_are_not_merged_silently():
    from textgan.common.texts import as_labels

    assert as_labels([1, 2, 1], 3) == ["1", "2", "1"] and as_labels(["1", "b"], 2) == ["1", "b"]
    with pytest.raises(InputError, match="label '1' appears both as a number and as a string"):
        as_labels([1, "1", 2], 3)


@pytest.mark.parametrize("extra,option", [(["--generator", "g"], "--generator"), (["--group-col", "group"],
                                                                                   "--group-col")])
def test_train_outlier_opengan_refuses_options_it_would_ignore(tmp_path, cli_main, extra, option):
    code, _, err = cli_main("train-outlier", "model", FAQ, "--source", "opengan", "--out", tmp_path / "o", *extra)
    assert_one_line_error(code, err, f"{option}:", "trains its own GAN")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args,option", [(["--text-col", "text"], "--text-col"),
                                         (["--model", "m", "--key", "x"], "--key"),
                                         (["--model", "m", "--vector-col", "v"], "--vector-col")])
def test_train_gan_refuses_columns_of_the_other_input_kind(tmp_path, cli_main, args, option):
    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--out", tmp_path / "g", *args)
    assert_one_line_error(code, err, f"{option}:")
    assert not (tmp_path / "g").exists()


def test_augment_refuses_steps_with_a_trained_gan(tmp_path, cli_main):
    code, _, err = cli_main("augment", "model", FAQ, "--per-group", 2, "--gan", "g", "--steps", 10,
                            "--out", tmp_path / "a")
    assert_one_line_error(code, err, "--steps:", "already trained")
    assert not list(tmp_path.iterdir())


def test_a_trailing_comma_on_every_row_keeps_the_columns(tmp_path):
    """pandas made the first column the index of rows one field wider than the header: the group
    labels were indexed as the sentences."""
    import similarity
    from textgan.workflow.rows import stream_rows

    rows = FAQ.read_text(encoding="utf-8").splitlines()
    f = tmp_path / "trail.csv"
    f.write_text(rows[0] + "\n" + "".join(r + ",\n" for r in rows[1:]), encoding="utf-8")
    want = similarity.load_groups(FAQ)
    assert similarity.load_groups(f) == want
    assert similarity.load_texts(f, text_col="text") == want[0]
    assert [t for t, _ in stream_rows(f, "text", "group")] == want[0]


def test_an_unquoted_comma_inside_a_sentence_is_named(tmp_path):
    import similarity

    f = tmp_path / "extra.csv"
    f.write_text("text,group\nhi there,greet\nhello, world,greet\nbye now,bye\nsee you,bye\n")
    with pytest.raises(InputError, match=r"line 3: Expected 2 fields, saw 3 \(an unquoted ','"):
        similarity.load_groups(f)


def test_int8_shifted_heldout_vectors_still_match_their_index_rows():
    """quantize-similarity keeps the float model's held-out vectors; the int8 model's index rows of
    the same sentences lie at cosines down to ~0.9996 from them. At the old 0.9999 most were missed
    and scored as unseen sentences with kNN ~1.0: the gate's threshold flagged every query."""
    from textgan.index.build import build_index
    from textgan.ood.gate import heldout_rows

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    noise = rng.normal(size=(40, 32)).astype(np.float32)
    held = x[:40] + 0.025 * noise / np.linalg.norm(noise, axis=1, keepdims=True)  # cosine about 0.9997
    held /= np.linalg.norm(held, axis=1, keepdims=True)
    assert 0.999 < float((held * x[:40]).sum(1).min()) < 0.9999
    idx = build_index(x, [f"s{i}" for i in range(200)], factory="Flat")
    assert sorted(heldout_rows(idx, held)) == list(range(40))


def test_a_cell_longer_than_the_csv_module_limit_is_read(tmp_path):
    """A header-less file whose first cell exceeds 128 KiB raised _csv.Error (a traceback)."""
    import csv

    import similarity

    f = tmp_path / "long.csv"
    with open(f, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["x " * 70_000, "g1"])
        for i in range(5):
            w.writerow([f"sentence {i}", f"g{i % 2}"])
    texts = similarity.load_texts(f, text_col="1")
    assert len(texts) == 6 and len(texts[0]) == len(("x " * 70_000).strip())


def test_sigterm_unwinds_like_ctrl_c_and_leaves_no_run_folder(tmp_path):
    """SIGTERM (timeout, docker stop, a scheduler) killed train-gan outright: its new folder kept
    resolved_config.json and metrics.jsonl, no model and no checkpoint, and the rerun was refused."""
    import signal
    import subprocess
    import time

    from helpers import TEXTGAN

    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(256, 8)).astype(np.float32))
    out = tmp_path / "g"
    p = subprocess.Popen([TEXTGAN, "train-gan", str(tmp_path / "v.npy"), "--steps", "200000", "--out", str(out),
                          "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "resolved_config.json").exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # terminated while training: the folder exists and holds the run's first files
    assert p.poll() is None, p.communicate()
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143 and "error: terminated" in err and "Traceback" not in err, err
    assert not out.exists() and not [f for f in tmp_path.iterdir() if f.name.startswith(".")], list(tmp_path.iterdir())


def test_sigterm_ends_a_long_native_call_after_the_grace(tmp_path):
    """A Python handler waits for a native call to return: an NSG build that never returned ignored
    SIGTERM until SIGKILL (FAISS's k-means checks for signals; NSG and BLAS do not). The watchdog
    ends the process TERM_GRACE_S after the signal."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "native.py"
    script.write_text(
        "import cli, numpy as np\n"
        "cli.TERM_GRACE_S = 0.5\n"
        "cli._terminate_as_interrupt()\n"
        "a = np.random.default_rng(0).random((9000, 9000), dtype=np.float32)\n"
        "print('ready', flush=True)\n"
        "for _ in range(20):\n"
        "    a @ a  # BLAS: seconds inside native code that never checks for signals\n"
        "print('finished', flush=True)\n")
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=str(FAQ.parent.parent), env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert p.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    t = time.monotonic()
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 143 and "error: terminated" in err and "finished" not in out, (p.returncode, err)
    assert time.monotonic() - t < 30


@pytest.mark.parametrize("factory,needle", [
    ("HNSW0", "component 'HNSW0' has a size of 0"), ("HNSW1", "HNSW needs at least 2 links"),
    ("RR0,Flat", "'RR0' has a size of 0"), ("IVF0,Flat", "'IVF0' has a size of 0"),
    ("IDMap,Flat", "ids are its row numbers"), ("NSG2", "NSG needs at least 4"), ("SQ0", "'SQ0' has a size of 0"),
    ("PCA0,Flat", "'PCA0' has a size of 0"), ("PQ8x0", "'PQ8x0' has a size of 0"),
])
def test_factory_sizes_faiss_does_not_check_are_refused(factory, needle):
    """FAISS aborted (HNSW0), segfaulted (HNSW1, RR0), raised a traceback (IVF0, IDMap), hung
    (NSG0, NSG2) or saved an index of recall 0.01 (SQ0, PCA0) on these."""
    from textgan.index.choice import make_empty_index

    with pytest.raises(InputError, match=needle):
        make_empty_index(factory, 500, 32)


def test_an_hnsw_coarse_quantizer_and_a_coarse_factory(recwarn):
    from textgan.index.build import build_index

    x = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)
    texts = [f"s{i}" for i in range(300)]
    idx = build_index(x, texts, factory="IVF4_HNSW8,Flat")  # its list count was parsed as int("4_HNSW8")
    assert idx.meta["factory"] == "IVF4_HNSW8,Flat" and idx.meta["params"].get("nprobe", 1) <= 4
    with pytest.warns(UserWarning, match=r"recall@10 0\.\d+ with factory 'PQ2x1' is below the target 0.95"):
        build_index(x, texts, factory="PQ2x1")


def test_loaders_say_which_artefact_a_folder_is(tmp_path, faq, cli_main):
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "model" / "similarity_config.json").write_text("{}")
    for args, needle in [(("sample", faq[0], "--n", 2, "--out", tmp_path / "s.npy"),
                          "this is a similarity model folder, not a generator"),
                         (("search", faq[0], "hello"), "this is a similarity model folder, not an index folder"),
                         (("sample", run, "--n", 2, "--out", tmp_path / "s.npy"),
                          "this is a train-similarity run folder")]:
        code, _, err = cli_main(*args)
        assert_one_line_error(code, err, needle)
    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
    (tmp_path / "labels").mkdir()
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--labels", tmp_path / "labels", "--out", tmp_path / "g")
    assert_one_line_error(code, err, "labels: not a file (a folder?)")


def test_a_similarity_config_of_a_newer_format_is_refused(tmp_path, faq):
    import shutil

    import similarity

    shutil.copytree(faq[0], tmp_path / "m")
    f = tmp_path / "m" / "similarity_config.json"
    info = json.loads(f.read_text())
    assert info["version"] == 1
    for bad in (99, "1", None, 0):
        f.write_text(json.dumps(dict(info, version=bad)))
        with pytest.raises(InputError, match="is not a format this textgan reads"):
            similarity.load(tmp_path / "m")
    f.write_text(json.dumps({k: v for k, v in info.items() if k not in ("version", "sha256")}))  # first releases
    assert similarity.load(tmp_path / "m").dim == similarity.load(faq[0]).dim


def test_train_outlier_needs_two_distinct_sentences(tmp_path, faq, cli_main):
    (tmp_path / "one.txt").write_text("reset my password\nreset my password\n")
    code, _, err = cli_main("train-outlier", faq[0], tmp_path / "one.txt", "--out", tmp_path / "o", "--steps", 5)
    assert_one_line_error(code, err, "one.txt:", "1 distinct sentence(s)")
    assert not (tmp_path / "o").exists()


def test_a_tiny_tpr_keeps_the_top_score():
    from textgan.ood.scoring import choose_threshold

    assert choose_threshold(np.arange(132.0), 1e-300) == 131.0  # was an IndexError (index 132)
    assert choose_threshold(np.arange(100.0), 0.95) == 5.0


def test_evaluate_warns_when_data_sentences_are_reference_sentences(faq):
    import similarity

    model, texts, groups, _ = faq
    with pytest.warns(UserWarning, match="40 sentence\\(s\\) of the data are also reference sentences"):
        out = similarity.evaluate(model, texts[:40], groups[:40], texts, groups)
    assert out["knn_top1"] == 1.0


def test_index_of_a_shard_folder_refuses_group_col_and_vectors(tmp_path, faq, cli_main):
    (tmp_path / "c.txt").write_text("\n".join(faq[1][:30]) + "\n")
    assert cli_main("encode", faq[0], tmp_path / "c.txt", "--out", tmp_path / "sh", "--shard-size", 10)[0] == 0
    for extra, option in ((["--group-col", "group"], "--group-col"), (["--vectors", tmp_path / "vv"], "--vectors")):
        code, _, err = cli_main("index", faq[0], tmp_path / "sh", "--out", tmp_path / "ix", *extra)
        assert_one_line_error(code, err, f"{option}:", "shard folder")
    assert not (tmp_path / "ix").exists() and not (tmp_path / "vv").exists()
