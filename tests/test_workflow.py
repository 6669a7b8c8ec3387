"""The joined workflow: index -> search -> train-gan -> generate-embeddings -> decode, via the CLI.

Uses the small FAQ model from `helpers.faq_model` (trained once per test process on data/faq_en.csv).
"""
from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from helpers import FAQ, assert_one_line_error, faq_model, run_cli
import textgan
from textgan.workflow import core as workflow
from textgan.common.errors import InputError


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(model dir, index dir, gan dir, corpus texts) built once for this module."""
    from textgan.gan import GANConfig

    model, texts, groups, vectors = faq_model()
    root = tmp_path_factory.mktemp("wf")
    index = root / "index"
    workflow.index_corpus(model, FAQ, index, text_col="text", group_col="group", progress=False)
    cfg = GANConfig(objective="wgan-gp", steps=150, batch_size=128, noise_dim=16, width=128, depth=2,
                    head="sphere", arch="mlp", seed=0, checkpoint_every=1000)
    gan = textgan.train_gan(vectors, root / "gan", config=cfg,
                             encoder=workflow.encoder_meta(workflow.load_encoder(model), model), progress=False)
    return model, index, gan, texts


def test_search_finds_the_sentence_itself_first(built, capsys):
    model, index, _, texts = built
    hits = workflow.search(index, [texts[0], texts[100]], k=3)
    assert [h[0]["text"] for h in hits] == [texts[0], texts[100]]
    assert hits[0][0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert all(-1.0 <= h["score"] <= 1.0 for row in hits for h in row)
    assert [h["score"] for h in hits[0]] == sorted((h["score"] for h in hits[0]), reverse=True)
    code, out, _ = run_cli(capsys, "search", index, texts[5], "--k", "2", "--json")
    assert code == 0
    rec = json.loads(out.splitlines()[0])
    assert rec["hits"][0]["text"] == texts[5] and len(rec["hits"]) == 2


def test_generate_embeddings_decodes_to_real_corpus_sentences(built, tmp_path, capsys):
    _, index, gan, texts = built
    code, out, err = run_cli(capsys, "generate-embeddings", gan, "--n", 12, "--index", index, "--k", 3,
                         "--seed", 7, "--out", tmp_path / "gen")
    assert code == 0, err
    vecs = np.load(tmp_path / "gen.npy", allow_pickle=False)
    assert vecs.shape == (12, workflow.load_encoder(built[0]).dim)
    rows = [json.loads(x) for x in (tmp_path / "gen.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == list(range(12))
    corpus = set(texts)
    for r in rows:
        assert len(r["neighbours"]) == 3 and isinstance(r["novel"], bool)
        for nb in r["neighbours"]:
            assert nb["text"] in corpus and -1.0 <= nb["score"] <= 1.0
        # the decoded score is the real cosine between the vector and that sentence's vector
        v = vecs[r["id"]] / np.linalg.norm(vecs[r["id"]])
        sent = workflow.encode(built[0], [r["neighbours"][0]["text"]])[0]
        assert float(v @ sent) == pytest.approx(r["neighbours"][0]["score"], abs=1e-4)
    # same seed, same vectors
    again = workflow.generate(gan, 12, seed=7)
    np.testing.assert_allclose(again, vecs, atol=1e-6)


def test_train_gan_accepts_model_and_corpus(built, tmp_path, capsys):
    model, index, _, _ = built
    code, _, err = run_cli(capsys, "train-gan", FAQ, "--model", model, "--text-col", "text",
                       "--objective", "gan-ns", "--steps", 20, "--batch-size", 64, "--out", tmp_path / "g")
    assert code == 0, err
    s = workflow.generate_embeddings(tmp_path / "g", 4, tmp_path / "o", index=index, k=1)
    assert s["n"] == 4 and (tmp_path / "o.jsonl").is_file()


def test_interpolation_walks_from_a_to_b(built):
    _, index, _, texts = built
    a, b = texts[0], texts[300]
    rows = workflow.interpolate(index, a, b, steps=5)
    assert [r["t"] for r in rows] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert rows[0]["text"] == a and rows[-1]["text"] == b
    path = workflow.slerp(np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), 5)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(path[2], [np.sqrt(0.5), np.sqrt(0.5), 0], atol=1e-12)


def test_encoder_mismatch_is_refused(built, tmp_path, capsys):
    model, index, gan, texts = built
    other = tmp_path / "other_index"
    shutil.copytree(index, other)
    meta = json.loads((other / "meta.json").read_text())
    meta["encoder"]["fingerprint"] = "0" * 64
    (other / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="encoder"):
        workflow.search(other, [texts[0]], model=model)
    code, _, err = run_cli(capsys, "generate-embeddings", gan, "--n", 3, "--index", other, "--out", tmp_path / "x")
    assert code == 2 and "encoder" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.npy").exists() and not (tmp_path / "x.jsonl").exists()


def test_gan_dimension_differs_from_index(built, tmp_path, capsys):
    from textgan.gan import GANConfig

    _, index, _, _ = built
    small = textgan.train_gan(np.random.default_rng(0).normal(size=(256, 8)).astype(np.float32), tmp_path / "g8",
                               config=GANConfig(steps=5, batch_size=64, width=32, depth=1), progress=False)
    code, _, err = run_cli(capsys, "generate-embeddings", small, "--n", 3, "--index", index, "--out", tmp_path / "y")
    assert code == 2 and "8-d" in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("y.*"))


def test_bad_inputs_exit_2_with_one_line(built, tmp_path, capsys):
    model, index, _, _ = built
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    blanks = tmp_path / "q.txt"
    blanks.write_text("how do i reset my password\n\n   \ntrack my parcel\n")
    broken = tmp_path / "broken_index"
    shutil.copytree(index, broken)
    data = (broken / "index.faiss").read_bytes()
    (broken / "index.faiss").write_bytes(data[: len(data) // 3])
    cases = [
        (["index", model, empty, "--out", tmp_path / "i1"], "empty"),
        (["index", model, tmp_path / "nope.csv", "--text-col", "text", "--out", tmp_path / "i2"], "missing"),
        (["search", index, "--file", empty], "no queries"),
        (["search", broken, "hello"], "index.faiss"),
        (["search", tmp_path / "no_index", "hello"], "no_index"),
        (["interpolate", index, "a", "b", "--steps", "1"], "steps"),
    ]
    for args, needle in cases:
        code, _, err = run_cli(capsys, *args)
        assert code == 2, (args, err)
        assert needle in err and len(err.strip().splitlines()) == 1, (args, err)
        assert "Traceback" not in err
    assert not (tmp_path / "i1").exists() and not (tmp_path / "i2").exists()
    # blank lines in a query file are skipped (and said), not searched
    code, out, err = run_cli(capsys, "search", index, "--file", blanks, "--k", "1")
    assert code == 0 and "skipped 2 blank" in err
    assert out.count("\n  ") == 2


# --- bad inputs: one line naming the problem (and the file), exit 2, nothing written -------------

BAD_INPUTS = [
    # (args with {model}, {index}, {gan}, {tmp} placeholders, needles in the error line)
    (["search", "{index}", "hello", "--k", "0"], ["--k must be a whole number >= 1, got 0"]),
    (["search", "{index}", "hello", "--k", "-5"], ["--k must be a whole number >= 1, got -5"]),
    (["search", "{tmp}/no_index", "hello"], ["no_index", "index folder not found"]),
    (["generate-embeddings", "{gan}", "--index", "{index}", "--k", "0", "--out", "{tmp}/g"], ["--k must be a whole number >= 1"]),
    (["generate-embeddings", "{gan}", "--index", "{index}", "--out", "{index}/g"],
     ["index/g.npy", "--out lies inside"]),
    (["interpolate", "{index}", "", "x"], ["sentence A: blank sentence"]),
    (["interpolate", "{index}", "x", "  "], ["sentence B: blank sentence"]),
    (["interpolate", "{index}", "a", "b", "--steps", "1"], ["--steps must be a whole number >= 2, got 1"]),
    (["score", "{model}", "{tmp}/s.txt", "--index", "{index}", "--k", "0"], ["--k must be a whole number >= 1"]),
    (["score", "{model}", "{tmp}/s.txt", "--index", "{index}", "--tpr", "0"], ["--tpr must be in (0, 1), got 0"]),
    (["score", "{model}", "{tmp}/s.txt", "--index", "{index}", "--tpr", "1.5"], ["--tpr must be in (0, 1), got 1.5"]),
    (["score", "{model}", "{tmp}/s.txt", "--index", "{index}", "--tpr", "nan"], ["--tpr must be in (0, 1), got nan"]),
    (["score", "{model}", "{tmp}/s.txt", "--index", "{index}", "--out", "{tmp}/s.txt"],
     ["s.txt", "the input file itself"]),
    (["score", "{model}", "{tmp}/s.txt", "--index", "{index}", "--out", "{model}/scores.jsonl"],
     ["scores.jsonl", "--out lies inside"]),
    (["score", "{model}", "{tmp}/s.txt", "--index", "{index}", "--val-in", "{tmp}/missing.txt"],
     ["missing.txt", "missing file"]),
    (["index", "{model}", FAQ, "--text-col", "text", "--factory", "IVF4096,Flat", "--out", "{tmp}/i"],
     ["'IVF4096,Flat' needs at least 4096 vectors", "the corpus has 528"]),
    (["index", "{model}", FAQ, "--text-col", "text", "--factory", "NotAFactory", "--out", "{tmp}/i"],
     ["bad FAISS factory string 'NotAFactory' for"]),
    (["index", "{model}", FAQ, "--text-col", "text", "--out", "{tmp}/s.txt"], ["s.txt", "output path is a file"]),
]


@pytest.mark.parametrize("args, needles", BAD_INPUTS, ids=[" ".join(map(str, a[:1] + a[-2:])) for a, _ in BAD_INPUTS])
def test_bad_input_table(built, tmp_path, cli_main, args, needles):
    model, index, gan, _ = built
    (tmp_path / "s.txt").write_text("how do i reset my password\n", encoding="utf-8")
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    fill = {"model": model, "index": index, "gan": gan, "tmp": tmp_path}
    code, _, err = cli_main(*[str(a).format(**fill) for a in args])
    assert_one_line_error(code, err, *needles)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before  # nothing written or changed
    assert not list(index.glob("g.*")) and not (model / "scores.jsonl").exists()



@pytest.mark.parametrize("name", ["index.faiss", "texts.jsonl"])
def test_search_refuses_a_bit_flipped_index(built, tmp_path, cli_main, name):
    _, index, _, texts = built
    copy = tmp_path / "index"
    shutil.copytree(index, copy)
    data = bytearray((copy / name).read_bytes())
    data[len(data) // 2] ^= 0x01  # same size: only the recorded checksum can tell
    (copy / name).write_bytes(bytes(data))
    code, out, err = cli_main("search", copy, texts[0])
    assert_one_line_error(code, err, name, "checksum mismatch")
    assert out == ""

# --- demo ------------------------------------------------------------------------------------------

def _small_corpus(path, groups: int = 6, per_group: int = 8):
    """The first `per_group` sentences of the first `groups` FAQ groups, as a CSV."""
    import csv

    _, texts, labels, _ = faq_model()
    keep: dict[str, list[str]] = {}
    for t, g in zip(texts, labels):
        if (g in keep or len(keep) < groups) and len(keep.setdefault(g, [])) < per_group:
            keep[g].append(t)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("text", "group")] + [(t, g) for g, ts in keep.items() for t in ts])
    return path


@pytest.fixture
def no_training(monkeypatch):
    """Any similarity or GAN training started by the demo fails the test."""
    import similarity

    faq_model()  # the shared FAQ model is trained (once) before training is forbidden

    def refuse(*_, **__):
        raise AssertionError("training started before the inputs were checked")

    monkeypatch.setattr(similarity, "train", refuse)
    import textgan.workflow.demo

    monkeypatch.setattr(textgan.workflow.demo, "train_gan", refuse)


@pytest.mark.parametrize("extra, needles", [
    (["--gan-steps", "0"], ["--gan-steps must be a whole number >= 1, got 0"]),
    (["--objective", "nope"], ["unknown objective 'nope'", "wgan-gp"]),
    (["--kind", "nope"], ["unknown model kind 'nope'", "ebm-langevin"]),
    (["--kind", "ebm-langevin", "--objective", "hinge"], ["kind 'ebm-langevin' takes no objective"]),
    (["--queries", "{tmp}/missing.txt"], ["missing.txt", "missing file"]),
    (["--pairs", "{tmp}/missing.tsv"], ["missing.tsv"]),
])
def test_demo_refuses_bad_settings_before_training(tmp_path, cli_main, no_training, extra, needles):
    code, _, err = cli_main("demo", FAQ, "--out", tmp_path / "run", *[a.format(tmp=tmp_path) for a in extra])
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "run").exists()


def test_demo_refuses_bad_data_and_foreign_out_folder(tmp_path, no_training):
    from textgan.workflow.demo import DemoConfig, run_demo

    one_group = tmp_path / "one.csv"
    one_group.write_text("text,group\na b,x\nc d,x\ne f,x\n", encoding="utf-8")
    with pytest.raises(InputError, match="one.csv: the demo needs at least 2 groups"):
        run_demo(one_group, tmp_path / "run", config=DemoConfig())
    tiny = _small_corpus(tmp_path / "tiny.csv", groups=2, per_group=4)  # holds out 2 sentences
    with pytest.raises(InputError, match="tiny.csv: holdout 0.25 keeps 2 sentences"):
        run_demo(tiny, tmp_path / "run", config=DemoConfig())
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(InputError, match="mine: output folder is not empty and holds no earlier demo run"):
        run_demo(FAQ, tmp_path / "mine", config=DemoConfig())
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"


def test_save_npy_round_trips_atomically_without_pickle(tmp_path):
    from textgan.common.artifacts import FILE_MODE, save_npy

    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = save_npy(tmp_path / "v.npy", x)
    assert np.array_equal(np.load(out, allow_pickle=False), x) and (out.stat().st_mode & 0o777) == FILE_MODE
    with pytest.raises(ValueError):  # object arrays would need pickle: refused, the old file kept
        save_npy(out, np.array([{"a": 1}], dtype=object))
    assert np.array_equal(np.load(out), x)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.npy"]  # no temp file, no "v.npy.npy"


def test_demo_with_an_unconditional_kind(tmp_path):
    """A kind without groups: plain samples, decoded; the copy baseline copies training vectors, so none
    of it is authentic (a broken baseline that copies held-out vectors would score > 0)."""
    from textgan.workflow.demo import DemoConfig, run_demo

    out = tmp_path / "demo"
    cfg = DemoConfig(sim_epochs=1, sim_teacher="none", gan_kind="gan", gan_steps=2, n_generate=3, k=2)
    report = run_demo(_small_corpus(tmp_path / "small.csv"), out, config=cfg, progress=False)
    results = json.loads((out / "results.json").read_text())
    assert list(results["generation"]) == ["gan", "gaussian", "copy (train vectors)"]
    assert results["generation"]["copy (train vectors)"]["authenticity"] == 0.0
    assert results["generation"]["gaussian"]["authenticity"] > 0.5
    assert np.load(out / "generated.npy").shape == (3, results["generated"]["dim"])
    assert len((out / "generated.jsonl").read_text().splitlines()) == 3
    assert "| # | nearest real sentence | group | cosine | novel |" in report.read_text()
    assert (out / "pca.png").stat().st_size > 0 and "in_group_share" not in results["generated"]
    from textgan.metrics import generation_verdict  # the report reads its table (2 steps: a collapsed GAN)

    g = results["generation"]
    verdict = generation_verdict("gan", g["gan"], g["gaussian"], g["copy (train vectors)"])
    assert verdict.startswith(("**gan", "gan is ahead")) and verdict in report.read_text()


def test_demo_rerun_replaces_the_run_folder(tmp_path):
    """A second run into the same folder succeeds and leaves one consistent run (small settings;
    48 sentences, so the GAN batch is lowered from the preset's 256 to 32)."""
    from textgan.workflow.demo import DemoConfig, run_demo

    data = _small_corpus(tmp_path / "small.csv")
    out = tmp_path / "runs" / "demo"
    cfg = DemoConfig(sim_epochs=1, gan_steps=2, n_generate=3, k=2)
    first = run_demo(data, out, config=cfg, progress=False)
    files = sorted(p.relative_to(out) for p in out.rglob("*"))
    stamp = json.loads((out / "results.json").read_text())["generated"]
    second = run_demo(data, out, config=dataclasses.replace(cfg, seed=1), progress=False)
    assert first == second == out / "report.md"
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == files  # same layout, nothing left over
    assert sorted(p.name for p in out.parent.iterdir()) == ["demo"]  # no temp, old or lock folders
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["seed"] == 1 and results["generated"] != stamp
    assert results["config"]["gan_batch_size"] == 32
    assert json.loads((out / "gan" / "config.json").read_text())["config"]["batch_size"] == 32
    # every recorded path points into the final folder, so the index finds its encoder
    assert results["generated"]["decoded"] == str(out / "generated.jsonl")
    # the default kind is anchored: every decoded sample names the group it asked for
    assert results["config"]["gan_kind"] == "anchored" and 0 <= results["generated"]["in_group_share"] <= 1
    assert "requested group" in (out / "report.md").read_text()
    assert str(tmp_path) in json.dumps(results) and ".tmp-" not in json.dumps(results)
    hits = workflow.search(out / "index", ["how do i reset my password"], k=1)
    assert hits[0][0]["text"]


@pytest.mark.parametrize("args, needle", [
    (["--memory-mb", "-1"], "--memory-mb must be a finite number > 0"),
    (["--memory-mb", "nan"], "--memory-mb must be a finite number > 0"),
])
def test_index_refuses_a_bad_memory_budget_before_encoding(tmp_path, cli_main, faq, args, needle):
    model = faq[0]
    code, _, err = cli_main("index", model, FAQ, "--text-col", "text", "--out", tmp_path / "ix", "--no-progress", *args)
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "ix").exists()


def test_sharded_encode_refuses_shard_size_0(tmp_path, cli_main, faq):
    q = tmp_path / "q.txt"
    q.write_text("a\nb\n", encoding="utf-8")
    assert_one_line_error(*cli_main("encode", faq[0], q, "--out", tmp_path / "shards", "--shard-size", "0")[::2],
                          "--shard-size must be an integer >= 1")
