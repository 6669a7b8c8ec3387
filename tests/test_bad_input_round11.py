"""Inputs of the eleventh sweep: settings that train a degenerate model, thresholds and label
columns that make a figure meaningless, `hf:` in front of a local path, small-data sizing counted
before de-duplication, messages of thousands of group names, and outputs a reader cannot open."""
from __future__ import annotations

import types

import numpy as np
import pytest

from helpers import FAQ, assert_one_line_error


def _unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("value", ["-1", "0"])
def test_began_code_dim_below_one_is_refused(tmp_path, cli_main, value):
    """-1 was a traceback inside nn.Linear; 0 trained an autoencoder through an empty bottleneck."""
    np.save(tmp_path / "v.npy", _unit(64, 8))
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--kind", "began", "--set", f"code_dim={value}",
                            "--steps", "2", "--out", tmp_path / "o")
    assert_one_line_error(code, err, f"--set code_dim must be >= 1, got {value}")
    assert not (tmp_path / "o").exists()


def _scored_pairs(path, scores):
    rows = [f"sentence {i} a\tsentence {i} b\t{s}" for i, s in enumerate(scores)]
    path.write_text("sentence1\tsentence2\tscore\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_positive_min_at_the_lowest_score_is_refused(tmp_path):
    """Every pair a paraphrase joined the whole file into one connected group."""
    from similarity.pairs import load_pair_groups
    from textgan.common.errors import InputError

    p = _scored_pairs(tmp_path / "p.tsv", [0.5, 1.0, 2.5, 4.0, 5.0, 4.5])
    with pytest.raises(InputError, match=r"at or below the lowest 'score' value \(0.5\): every pair"):
        load_pair_groups(p, ["sentence1", "sentence2", "score"], positive_min=0.5)
    with pytest.warns(UserWarning, match="3 of 6 pairs are not paraphrases"):
        texts, groups = load_pair_groups(p, ["sentence1", "sentence2", "score"], positive_min=4.0)
    assert len(texts) == 6 and len(set(groups)) == 3  # three pairs at 4.0 or more, one group each


def test_hf_prefix_on_a_local_path(tmp_path):
    """A local file after hf: was blamed on an unreachable hub; a folder's data files were joined silently."""
    from similarity.data import read_table
    from textgan.common.errors import InputError

    (tmp_path / "f.csv").write_text("text,group\nx,1\ny,1\n")
    with pytest.raises(InputError, match="a local file: drop 'hf:'"):
        read_table(f"hf:{tmp_path / 'f.csv'}", ["text", "group"])
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "test.csv").write_text("text,group\nx,1\ny,1\n")
    with pytest.raises(InputError, match=r"no train split \(its splits: test\)"):
        read_table(f"hf:{tmp_path / 'b'}", ["text", "group"])
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.csv").write_text("text,group\nx,1\ny,1\n")
    (tmp_path / "a" / "two.csv").write_text("text,group\nz,2\nw,2\n")
    with pytest.warns(UserWarning, match=r"2 data files are read as one train split \(one.csv, two.csv\)"):
        table = read_table(f"hf:{tmp_path / 'a'}", ["text", "group"])
    assert sorted(table["text"]) == ["w", "x", "y", "z"]


def test_small_data_sizing_counts_unique_training_sentences(tmp_path):
    """The FAQ file twice over is 1,056 rows but 528 sentences (396 train after the held-out split):
    small data (batch 16, lr 5e-3) by what trains, not by the rows given."""
    import json

    import similarity
    from similarity.train import training_rows

    texts, groups = similarity.load_groups(FAQ)
    twice_t, twice_g = texts * 2, groups * 2
    cfg = similarity.TrainConfig(teacher="none", epochs=1)
    n = training_rows(cfg, twice_t, twice_g, None, None)
    assert n == training_rows(cfg, texts, groups, None, None) and n == 396
    with pytest.warns(UserWarning, match="dropped 528 duplicate"):
        similarity.train(cfg, twice_t, twice_g, tmp_path / "run", progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["train"]["batch_size"] == 16 and saved["train"]["lexical_dim"] == 0 and saved["n_train"] == 396


def test_demo_names_an_unconditional_kind_by_its_name(faq, tmp_path):
    """The demo's generation table named every unconditional kind "gan"."""
    from textgan.gan import make_kind
    from textgan.workflow.core import index_corpus
    from textgan.workflow.demo import _finish_plain
    from textgan.workflow.gan_train import train_gan

    model, _, _, vecs = faq
    index = index_corpus(model, FAQ, tmp_path / "ix", text_col="text")
    gan = train_gan(vecs, tmp_path / "flow", config=make_kind("flow").config(steps=2, batch_size=16), progress=False)
    run = types.SimpleNamespace(config=types.SimpleNamespace(gan_kind="flow", seed=0, n_generate=3, k=2),
                                tmp=tmp_path / "t", out=tmp_path / "o")
    name, fake, _, decoded = _finish_plain(run, gan, index, vecs, vecs[:5])
    assert name == "flow" and fake.shape == (5, vecs.shape[1]) and len(decoded) == 3


def test_evaluate_pairs_with_class_labels(faq, tmp_path, cli_main):
    """NLI-style labels 0/1/2 were read as scores (Spearman -0.74) and AUROC was dropped."""
    import json

    rows = ["How do I reset my password?\tI forgot my password and need a new one.\t0",
            "Where is my package?\tWhere is my parcel right now?\t0",
            "How do I reset my password?\tWhere is my parcel right now?\t2",
            "Where is my package?\tI forgot my password and need a new one.\t2",
            "How do I reset my password?\tCan I change the password?\t1",
            "Where is my package?\tHas my order shipped?\t1"]
    p = tmp_path / "nli.tsv"
    p.write_text("sentence1\tsentence2\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    args = ("evaluate-similarity", faq[0], "--pairs", p, "--pair-cols", "sentence1,sentence2,label",
            "--teacher", "none")
    code, out, err = cli_main(*args)
    assert code == 0, err
    assert "holds only the values 0, 1, 2: if these are classes" in err
    assert "Spearman is negative" in err  # entailment is 0 here: higher label, less similar
    code, out, err = cli_main(*args, "--positive-min", "2")  # contradiction as the positive class: legal
    assert code == 0, err
    res = json.loads(out[:out.rindex("}") + 1])
    assert res["pair_auroc"] < 0.5 and "holds only the values" not in err
    code, _, err = cli_main(*args, "--positive-min", "0")
    assert_one_line_error(code, err, "nli.tsv:", "at or below the lowest 'label' value")
    code, _, err = cli_main("evaluate-similarity", faq[0], FAQ, "--positive-min", "1", "--teacher", "none")
    assert_one_line_error(code, err, "--positive-min marks the paraphrases of --pairs")


def test_group_errors_name_a_few_groups_not_thousands(tmp_path, cli_main):
    from textgan.common.texts import known_groups

    names = [f"group-{i}" for i in range(3000)]
    line = known_groups(names)
    assert line.startswith("3000 known groups: group-0, group-1") and "(2992 more)" in line and len(line) < 200
    x = _unit(300, 8)
    np.save(tmp_path / "v.npy", x)
    (tmp_path / "l.txt").write_text("\n".join(f"g{i % 100}" for i in range(300)) + "\n")
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--labels", tmp_path / "l.txt", "--kind", "conditional",
                            "--steps", "2", "--batch-size", "16", "--out", tmp_path / "c", "--no-progress")
    assert code == 0, err
    code, _, err = cli_main("sample", tmp_path / "c", "--n", "2", "--group", "nope", "--out", tmp_path / "s.npy")
    assert_one_line_error(code, err, "unknown group 'nope'; 100 known groups: g0, g1", "(92 more)")
    assert len(err) < 300


def test_a_flow_without_held_out_rows_says_it_places_no_threshold(faq, tmp_path, monkeypatch):
    """holdout=0 and a model without held-out vectors: in_domain was null and --tpr ignored, silently."""
    import dataclasses

    import textgan.workflow.score as score
    from textgan.gan import make_kind
    from textgan.workflow.gan_train import train_gan

    model, texts, _, vecs = faq
    with pytest.warns(UserWarning, match="holdout 0 keeps no row out of training"):
        flow = train_gan(vecs, tmp_path / "flow", config=make_kind("flow").config(steps=2, batch_size=16, holdout=0),
                         progress=False)
    bare = dataclasses.replace(score.load_encoder(model)) if dataclasses.is_dataclass(score.load_encoder(model)) \
        else score.load_encoder(model)
    bare.heldout = None
    monkeypatch.setattr(score, "load_encoder", lambda m: bare)
    with pytest.warns(UserWarning, match=r"no threshold: .* --tpr is unused and in_domain is null"):
        res = score.score_texts(model, texts[:3], "flow", gan=flow)
    assert res["threshold"] is None and res["in_domain"] is None


@pytest.mark.parametrize("name", ["s", "s.out"])
def test_sample_out_must_be_a_npy_name(tmp_path, cli_main, name):
    np.save(tmp_path / "v.npy", _unit(64, 8))
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--steps", "2", "--batch-size", "16",
                            "--out", tmp_path / "g", "--no-progress")
    assert code == 0, err
    code, _, err = cli_main("sample", tmp_path / "g", "--n", "2", "--out", tmp_path / name)
    assert_one_line_error(code, err, "name it .npy")
    assert not (tmp_path / name).exists()


def test_kplus1_steps_keeps_the_batch_lowered_for_small_data(faq, tmp_path, cli_main):
    """--steps alone turned off the automatic batch (128) and 52 rows were refused."""
    lines = FAQ.read_text(encoding="utf-8").splitlines()
    (tmp_path / "lab.csv").write_text("\n".join(lines[:31]) + "\n", encoding="utf-8")
    (tmp_path / "unl.txt").write_text("\n".join(r.rsplit(",", 1)[0] for r in lines[100:122]) + "\n")
    code, _, err = cli_main("train-kplus1", faq[0], tmp_path / "lab.csv", "--unlabeled", tmp_path / "unl.txt",
                            "--steps", "3", "--out", tmp_path / "k")
    assert code == 0, err
