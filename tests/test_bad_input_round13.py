"""Inputs of the thirteenth sweep: a GAN resume into another artefact's folder, test groups of one
sentence for kNN, a domain test that read --tpr, advice a TSV could not follow, one stem shared by
two commands, a discriminator that ranks backwards, thresholds fitted on three sentences, flags
train-gan does not have, --k past the index and outputs named for another format."""
from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import FAQ, ROOT, assert_one_line_error


def _unit(n: int, d: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_train_gan_resume_never_trains_into_another_artefact(tmp_path, cli_main):
    """An index folder given as --out --resume was overwritten by a GAN run (and broke)."""
    np.save(tmp_path / "v.npy", _unit(64, 8))
    idx = tmp_path / "idx"
    idx.mkdir()
    (idx / "meta.json").write_text('{"format": "textgan-index"}')
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--steps", "2", "--batch-size", "16", "--out", idx,
                            "--resume")
    assert_one_line_error(code, err, "--resume continues a GAN run", "(meta.json)")
    assert sorted(p.name for p in idx.iterdir()) == ["meta.json"]
    early = tmp_path / "early"  # what a run killed before its first checkpoint leaves: resumed from 0
    early.mkdir()
    (early / "metrics.jsonl").write_text("")
    (early / "resolved_config.json").write_text("{}")
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--steps", "2", "--batch-size", "16", "--out", early,
                            "--resume", "--no-progress")
    assert code == 0 and "no checkpoint yet, training from step 0" in err, err


def test_knn_against_a_reference_keeps_test_groups_of_one(faq, tmp_path, cli_main):
    """kNN needs no partner in the test set: such sentences were dropped (n 4 of 6) or refused."""
    import csv

    model, texts, groups, _ = faq
    one = {}
    for t, g in zip(texts, groups):
        one.setdefault(g, t)  # the first sentence of each group, tested against the others
    with open(tmp_path / "test.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("text", "group"), *((t, g) for g, t in one.items())])
    with open(tmp_path / "ref.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("text", "group"), *((t, g) for t, g in zip(texts, groups) if one[g] != t)])
    code, out, err = cli_main("evaluate-similarity", model, tmp_path / "test.csv", "--reference", tmp_path / "ref.csv",
                              "--teacher", "none")
    assert code == 0, err
    res = json.loads(out[:out.rindex("}") + 1])
    assert res["n"] == len(one) == 66 and res["knn_top1"] > 0.5 and "loo_top1" not in res and res["n_loo"] == 0
    code, _, err = cli_main("evaluate-similarity", model, tmp_path / "test.csv", "--teacher", "none")
    assert_one_line_error(code, err, "no group has two or more sentences")


def test_loo_is_averaged_over_rows_with_a_partner():
    from similarity.evaluate import chance_topk, loo_topk

    emb = np.eye(4, dtype=np.float32)[[0, 0, 1, 2]]  # a, a, b (alone), c (alone)
    assert loo_topk(emb, ["a", "a", "b", "c"], ks=(1,))["loo_top1"] == 1.0  # was 0.5: b and c cannot score
    assert chance_topk(["a", "a", "b", "c"], 1) == pytest.approx(1 / 3)


def test_the_domain_test_does_not_read_tpr(faq_index_root):
    """At --tpr 0.5 the FAQ model's own held-out sentences were judged of another domain."""
    from textgan.workflow.score import score_texts

    model, root = faq_index_root
    for tpr in (0.95, 0.5):
        res = score_texts(model, ["how do i reset my password"], index=root, tpr=tpr)
        assert res["threshold_source"].startswith("132 held-out sentences"), (tpr, res["threshold_source"])


@pytest.fixture(scope="module")
def faq_index_root(faq, tmp_path_factory):
    from textgan.workflow.core import index_corpus

    root = tmp_path_factory.mktemp("ix") / "ix"
    index_corpus(faq[0], FAQ, root, text_col="text", group_col="group", progress=False)
    return faq[0], root


def test_a_tab_inside_a_tsv_cell_gets_advice_it_can_follow(tmp_path):
    from similarity.data import read_table
    from textgan.common.errors import InputError

    (tmp_path / "t.tsv").write_text("text\tgroup\na b\tg\nc\td\tg\n")
    with pytest.raises(InputError, match="a TSV cell cannot hold one: replace it with a space, or save the file"):
        read_table(tmp_path / "t.tsv", ["text", "group"])


def test_a_stem_holding_another_commands_file_is_refused(tmp_path):
    from textgan.common.errors import InputError
    from textgan.common.paths import output_files

    (tmp_path / "st.labels.txt").write_text("a\nb\n")  # augment's labels
    with pytest.raises(InputError, match=r"st.labels.txt \(written by another command with this --out\)"):
        output_files(tmp_path / "st", (".npy", ".jsonl"))  # generate-embeddings
    assert output_files(tmp_path / "st.npy", (".npy", ".labels.txt"))[1].name == "st.labels.txt"  # augment again


def test_an_opengan_that_ranks_backwards_is_warned(monkeypatch):
    import textgan.ood.opengan as og

    monkeypatch.setattr(og, "auroc", lambda a, b: 0.2)
    with pytest.warns(UserWarning, match=r"validation AUROC 0.200 < 0.5\): it tells nothing apart"):
        og.train_opengan(_unit(64, 8), _unit(16, 8, seed=1), og.OpenGANConfig(steps=2, eval_every=1, batch_size=16, width=8, noise_dim=4))


def test_a_threshold_fitted_on_a_few_held_out_sentences_is_warned(faq, monkeypatch):
    import dataclasses

    import textgan.workflow.score as score

    enc = score.load_encoder(faq[0])
    few = dataclasses.replace(enc) if dataclasses.is_dataclass(enc) else enc
    few.heldout = enc.heldout[:3]
    monkeypatch.setattr(score, "load_encoder", lambda m: few)
    with pytest.warns(UserWarning, match=r"fitted on 3 in-domain scores \(3 held-out sentences"):
        score.score_texts(faq[0], ["reset my password"], "energy-head")


def test_kplus1_warns_a_rejection_threshold_of_one_sentence(faq, tmp_path, cli_main):
    (tmp_path / "u.txt").write_text("a sentence nobody labelled\n")
    code, _, err = cli_main("train-kplus1", faq[0], FAQ, "--unlabeled", tmp_path / "u.txt", "--steps", "2",
                            "--batch-size", "16", "--out", tmp_path / "k")
    assert code == 0 and "rejection threshold is fitted on 1 unlabelled sentence(s)" in err, err


def test_set_only_fields_are_named_as_set(tmp_path, cli_main):
    """`--temperature must be > 0` sent the user to a flag train-gan does not have."""
    np.save(tmp_path / "v.npy", _unit(64, 8))
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--kind", "ebm-langevin", "--set", "temperature=0",
                            "--steps", "2", "--out", tmp_path / "o")
    assert_one_line_error(code, err, "--set temperature must be > 0, got 0")
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--steps", "0", "--out", tmp_path / "o")
    assert_one_line_error(code, err, "--steps must be >= 1, got 0")  # a real flag keeps its name


def test_k_past_the_index_rows_is_said_in_search(faq_index_root, cli_main):
    code, _, err = cli_main("search", faq_index_root[1], "reset my password", "--k", "1000")
    assert code == 0 and "--k 1000 is more than the index's 528 rows" in err, err


@pytest.mark.parametrize("cmd", ["encode", "score", "classify"])
def test_outputs_named_for_another_format_are_refused(faq, tmp_path, cli_main, cmd):
    q = ROOT / "data" / "queries.txt"
    args = {"encode": ["encode", faq[0], q, "--out", tmp_path / "v.npz"],
            "score": ["score", faq[0], q, "--out", tmp_path / "s.npy"],
            "classify": ["classify", tmp_path / "k", q, "--out", tmp_path / "c.npy"]}[cmd]
    code, _, err = cli_main(*args)
    assert_one_line_error(code, err, "--out names a .np")
    assert not any(tmp_path.iterdir())


def test_demo_reads_pairs_by_pair_cols(tmp_path, cli_main):
    code, _, err = cli_main("demo", FAQ, "--pairs", tmp_path / "p.tsv", "--pair-cols", "a,b", "--out", tmp_path / "d")
    assert_one_line_error(code, err, "--pair-cols needs three names")


def test_a_model_card_beside_the_weights_is_not_tampering(faq, tmp_path):
    """A README.md (the card sentence-transformers folders carry) made the model unloadable."""
    import shutil

    import similarity
    from textgan.common.errors import InputError

    model = tmp_path / "m"
    shutil.copytree(faq[0], model)
    (model / "README.md").write_text("# my model\n")
    assert similarity.load(model).encode(["reset my password"]).shape[0] == 1
    (model / "notes.py").write_text("print('hello')\n")  # code beside a trust_remote_code module is not a card
    with pytest.raises(InputError, match="notes.py has no recorded digest"):
        similarity.load(model)


def test_an_interrupt_after_the_index_is_written_says_what_it_left(faq, tmp_path, monkeypatch):
    import textgan.workflow.heldout as heldout
    from textgan.workflow.core import index_corpus

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(heldout, "calibrate_index_gate", interrupted)
    with pytest.raises(KeyboardInterrupt):  # the gate is fitted before the folder is published
        index_corpus(faq[0], FAQ, tmp_path / "ix", text_col="text", progress=False)
    assert not (tmp_path / "ix").exists()  # a new --out: nothing half-written


def test_the_gan_fields_named_as_flags_are_train_gan_s_flags():
    """`flag()` names a field by its train-gan flag only when the command has one (else `--set`):
    a flag added to or removed from train-gan without CLI_FLAGS would name an option that is not there."""
    import cli
    from textgan.gan.config import CLI_FLAGS

    params = cli.cli.commands["train-gan"].params
    flags = {o[2:].replace("-", "_") for p in params for o in p.opts if o.startswith("--")}
    assert CLI_FLAGS <= flags, sorted(CLI_FLAGS - flags)
    import dataclasses

    from textgan.gan.registry import KINDS

    fields = {f.name for k in KINDS.values() for f in dataclasses.fields(k.config)}
    assert fields & flags <= CLI_FLAGS, sorted((fields & flags) - CLI_FLAGS)  # a flag's field named by its flag
