"""Round 26 (the CLI findings sweep 29D left open): --resume keeps a run's own length when no
--epochs is given and says when there is nothing left to train; a --warmup that rounds to one
step or none is named."""
from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import FAQ, assert_one_line_error


def _epochs_run(out) -> list[int]:
    return [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").read_text().splitlines()]


def test_resume_without_epochs_keeps_the_run_s_length_and_a_finished_run_says_so(tmp_path, cli_main):
    """Sweep 29D: a run of --epochs 2 resumed without --epochs went on to the default 30 epochs (FAQ:
    under 1,000 sentences) without a word; a resume of a finished run exited 0 silently."""
    out = tmp_path / "sim"
    base = ["train-similarity", FAQ, "--teacher", "none", "--no-progress", "--patience", 9, "--out", out]
    code, _, err = cli_main(*base, "--epochs", 2)
    assert code == 0, err
    code, _, err = cli_main(*base, "--resume")
    assert code == 0, err
    assert _epochs_run(out) == [1, 2]  # not extended to 30
    assert "the checkpoint has finished: its 2 epoch(s) reach --epochs 2: pass a larger --epochs to go on" in err
    assert json.loads((out / "config.json").read_text())["train"]["epochs"] == 2
    code, _, err = cli_main(*base, "--resume", "--epochs", 3)  # a length given: it goes on
    assert code == 0, err
    assert _epochs_run(out) == [1, 2, 3] and "nothing trained" not in err
    # the run's other settings too: --patience 9 not repeated is the run's, not a changed config
    code, _, err = cli_main("train-similarity", FAQ, "--teacher", "none", "--no-progress", "--out", out, "--resume",
                            "--epochs", 4)
    assert code == 0, err
    assert _epochs_run(out) == [1, 2, 3, 4]
    assert json.loads((out / "config.json").read_text())["train"]["patience"] == 9
    code, _, err = cli_main(*base[:-4], "--patience", 2, "--out", out, "--resume", "--epochs", 5)
    assert_one_line_error(code, err, "the config differs from the checkpoint's (patience)")  # given: must match


def test_a_warmup_that_rounds_to_one_step_is_named(tmp_path, cli_main):
    # 2 epochs of the FAQ at batch 64: about 14 steps; 5% of them rounds to 1, which is no warm-up
    code, _, err = cli_main("train-similarity", FAQ, "--teacher", "none", "--no-progress", "--epochs", 2,
                            "--batch-size", 64, "--warmup", "0.05", "--out", tmp_path / "w")
    assert code == 0, err
    assert "warning: --warmup 0.05 of" in err and "rounds to 1: no warm-up" in err
    code, _, err = cli_main("train-similarity", FAQ, "--teacher", "none", "--no-progress", "--epochs", 2,
                            "--batch-size", 64, "--warmup", "0.3", "--out", tmp_path / "w2")
    assert code == 0 and "no warm-up" not in err, err


def test_a_recall_target_on_an_automatic_flat_index_is_named(tmp_path, cli_main, faq):
    """Sweep 29D: --factory Flat --target-recall was refused, but the automatic choice of Flat for a
    small corpus took the target silently (exact search has nothing to tune)."""
    code, _, err = cli_main("index", faq[0], FAQ, "--text-col", "text", "--out", tmp_path / "ix",
                            "--target-recall", "0.9")
    assert code == 0, err
    assert "warning: --target-recall 0.9 changes nothing: for 528 vectors the automatic choice is exact" in err


@pytest.mark.parametrize("args, where", [
    (["search", "IX", "--file", ""], "--file: an empty value (a path was expected)"),
    (["search", "", "a query"], "INDEX: an empty value (a path was expected)"),
    (["generate-embeddings", "IX", "--out", " "], "--out: an empty value (a path was expected)"),
    (["train-similarity", FAQ, "--out", "OUT", "--text-col", ""], "--text-col: an empty value"),
])
def test_an_empty_value_is_named_as_such(tmp_path, cli_main, args, where):
    """Sweep 29D: `search --file ''` said "give queries as arguments or with --file" (an unset shell
    variable reads as not given) and `generate-embeddings --out ''` blamed the GAN folder."""
    args = [str(tmp_path / a) if a in ("IX", "OUT") else a for a in args]
    code, _, err = cli_main(*args)
    assert_one_line_error(code, err, where)


@pytest.mark.parametrize("factory, needle", [
    ("IVF", "bad FAISS factory string 'IVF' for 4-d vectors: could not parse index string IVF"),
    ("PQ3", "should be a multiple of the number of subquantizers"),
])
def test_faiss_errors_read_without_their_cxx_signature(factory, needle):
    from textgan.common.errors import InputError
    from textgan.index.choice import make_empty_index

    with pytest.raises(InputError) as info:
        make_empty_index(factory, 1000, 4)
    text = str(info.value)
    assert needle in text and "Error in" not in text and ".cpp" not in text and "failed:" not in text


@pytest.mark.parametrize("args, needle", [
    (["demo", FAQ, "--out", "OUT", "--gan-steps", 10**10], "--gan-steps must be at most 1,000,000,000"),
    (["train-outlier", "MODEL", FAQ, "--text-col", "text", "--out", "OUT", "--steps", 10**10],
     "--steps must be at most 1,000,000,000"),
    (["train-outlier", "MODEL", FAQ, "--text-col", "text", "--out", "OUT", "--steps", 10**10, "--source", "opengan"],
     "steps must be an integer in [1, 1,000,000,000]"),
])
def test_step_counts_are_capped_before_anything_trains(tmp_path, cli_main, faq, args, needle):
    """Sweep 29D: demo refused a huge --gan-steps only after training the encoder; train-outlier had no cap."""
    args = [faq[0] if a == "MODEL" else tmp_path / "o" if a == "OUT" else a for a in args]
    code, _, err = cli_main(*args)
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "o").exists()


def test_an_outlier_scorer_with_a_width_written_as_text_is_refused(tmp_path, cli_main, faq):
    out = tmp_path / "o"
    code, _, err = cli_main("train-outlier", faq[0], FAQ, "--text-col", "text", "--out", out, "--steps", 3)
    assert code == 0, err
    config = json.loads((out / "config.json").read_text())
    config["dim"] = str(config["dim"])
    (out / "config.json").write_text(json.dumps(config))
    code, _, err = cli_main("score", faq[0], FAQ, "--text-col", "text", "--method", "outlier", "--gan", out)
    assert_one_line_error(code, err, "does not describe an outlier classifier (dim must be a whole number")


def test_train_gan_resume_keeps_the_run_s_steps_and_rates_and_says_when_it_is_done(tmp_path, cli_main):
    """Sweep 29D: a --steps 6 run resumed without --steps trained to the kind's default length."""
    vecs = tmp_path / "v.npy"
    np.save(vecs, np.random.default_rng(0).normal(size=(64, 4)).astype("float32"))
    base = ["train-gan", vecs, "--out", tmp_path / "g", "--batch-size", 16, "--no-progress"]
    code, _, err = cli_main(*base, "--steps", 6, "--lr-g", "0.0003")
    assert code == 0, err
    code, _, err = cli_main(*base, "--resume")
    assert code == 0, err
    assert "the checkpoint has finished its 6 steps; nothing trained" in err
    resolved = json.loads((tmp_path / "g" / "resolved_config.json").read_text())["config"]
    assert resolved["steps"] == 6 and resolved["lr_g"] == 0.0003
    code, _, err = cli_main(*base, "--resume", "--steps", 8)
    assert code == 0 and "nothing trained" not in err, err
    resolved = json.loads((tmp_path / "g" / "resolved_config.json").read_text())["config"]
    assert resolved["steps"] == 8 and resolved["lr_g"] == 0.0003


def test_api_arguments_that_were_silently_misread(tmp_path, faq):
    """Sweep 29C: SentenceEncoder(None) failed only at encode; pair_metrics with positives that are not
    0/1 returned Spearman alone; run_demo(pair_cols=...) without pairs named columns of nothing."""
    import similarity
    from textgan.common.errors import InputError
    from textgan.workflow.demo import run_demo

    with pytest.raises(InputError, match="module must be a torch module, got NoneType"):
        similarity.SentenceEncoder(None)
    model = similarity.load(faq[0])
    a, b = faq[1][:4], faq[1][4:8]
    with pytest.raises(InputError, match="positives: 0/1 per pair"):
        similarity.pair_metrics(model, a, b, [0.1, 0.5, 0.7, 0.9], positives=[0.2, 0.3, 0.2, 0.3])
    figures = similarity.pair_metrics(model, a, b, [0.1, 0.5, 0.7, 0.9], positives=[0, 1, 0, 1])
    assert {"spearman", "pair_auroc"} <= set(figures)
    with pytest.raises(InputError, match="pair_cols names the columns of a pairs file"):
        run_demo(FAQ, tmp_path / "d", pair_cols=("a", "b", "c"), progress=False)
    assert not (tmp_path / "d").exists()


def test_a_blank_group_label_is_refused_by_the_label_conditioned_kinds(tmp_path):
    from textgan.common.errors import InputError
    from textgan.workflow.gan_train import train_gan

    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    groups = ["a"] * 15 + [" "] + ["b"] * 16
    with pytest.raises(InputError, match="group label 16 is blank"):
        train_gan(x, tmp_path / "g", groups=groups, progress=False)
    assert not (tmp_path / "g").exists()


def test_slerp_of_more_steps_than_memory_is_refused_up_front():
    from textgan.common.errors import InputError
    from textgan.common.vectors import slerp

    with pytest.raises(InputError, match="slerp of 1,000,000,000,000 steps would need about"):
        slerp(np.ones(8), np.arange(8.0), 10**12)
    assert slerp(np.ones(8), np.arange(8.0), 3).shape == (3, 8)


def test_a_tensor_on_the_meta_device_is_named():
    import torch

    import textgan
    from textgan.common.errors import InputError
    from textgan.common.vectors import as_matrix

    meta = torch.empty(16, 4, device="meta")
    with pytest.raises(InputError, match="meta device: it has a shape but no values"):
        as_matrix(meta)
    with pytest.raises(InputError, match="meta device"):
        textgan.build_index(meta, [f"s{i}" for i in range(16)])


@pytest.mark.parametrize("kwargs, needle", [
    (dict(n_classes=0), "n_classes must be a whole number >= 1"),
    (dict(dim=2.5), "dim must be a whole number"),
    (dict(scale=float("nan")), "scale must be a finite number > 0"),
    (dict(scale=-3.0), "scale must be a finite number > 0"),
    (dict(sample_rate=0), "sample_rate must be in (0, 1]"),
    (dict(shard=(3, 2)), "shard must be (lo, hi)"),
    (dict(shard=(0, 9), n_classes=4), "shard must be (lo, hi)"),
])
def test_make_loss_refuses_sizes_and_rates_it_cannot_train_with(kwargs, needle):
    import similarity
    from textgan.common.errors import InputError

    with pytest.raises(InputError) as info:
        similarity.make_loss("am", **kwargs)
    assert needle in str(info.value)


def test_make_loss_still_builds_every_row():
    import torch

    import similarity
    from similarity.losses import LOSS_NAMES

    for name in LOSS_NAMES:
        loss = similarity.make_loss(name, dim=8, n_classes=4)
        x = torch.nn.functional.normalize(torch.randn(8, 8), dim=1)
        assert torch.isfinite(loss(x, torch.tensor([0, 1, 2, 3] * 2)))


def test_index_corpus_refuses_a_file_as_the_encoder_path_it_records(tmp_path, faq):
    from textgan.common.errors import InputError
    from textgan.workflow.core import index_corpus

    with pytest.raises(InputError, match="must be a model folder, not a file"):
        index_corpus(faq[0], FAQ, tmp_path / "ix", text_col="text", encoder_path=FAQ, progress=False)
    assert not (tmp_path / "ix").exists()


def test_an_index_whose_meta_names_another_factory_is_refused(tmp_path, cli_main, faq):
    """Sweep 28B: meta.json's factory edited to HNSW over a Flat index.faiss was searched as before."""
    import shutil

    code, _, err = cli_main("index", faq[0], FAQ, "--text-col", "text", "--out", tmp_path / "ix")
    assert code == 0, err
    shutil.copytree(tmp_path / "ix", tmp_path / "ix2")
    meta = json.loads((tmp_path / "ix2" / "meta.json").read_text())
    assert meta["factory"] == "Flat"
    meta["factory"] = "HNSW32,Flat"
    (tmp_path / "ix2" / "meta.json").write_text(json.dumps(meta))
    code, _, err = cli_main("search", tmp_path / "ix2", "reset my password")
    assert_one_line_error(code, err, "meta.json's factory 'HNSW32,Flat' builds HNSW indexes, index.faiss is Flat")
    code, out, err = cli_main("search", tmp_path / "ix", "reset my password")
    assert code == 0 and "password" in out, err


def test_index_families_of_the_factories_the_project_builds():
    import faiss

    from textgan.index.folder import _family

    for factory, family in [("Flat", "Flat"), ("IVF16,Flat", "IVF"), ("HNSW32,Flat", "HNSW"),
                            ("IVF16,PQ8x4fs", "IVFPQ"), ("PQ8", "PQ")]:
        assert _family(faiss.index_factory(32, factory, faiss.METRIC_INNER_PRODUCT)) == family, factory


def test_the_gate_line_of_a_shard_folder_without_groups_advises_encode(tmp_path, cli_main, faq):
    """Sweep 30: `index` of a shard folder said "--group-col adds the outlier part", which `index` then refuses
    for a shard folder (its groups come from `encode --group-col`)."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(t + "\n" for t in faq[1]))
    code, _, err = cli_main("encode", faq[0], corpus, "--out", tmp_path / "v", "--shard-size", 200)
    assert code == 0, err
    code, out, err = cli_main("index", faq[0], tmp_path / "v", "--out", tmp_path / "ix")
    assert code == 0, err
    assert "shards encoded with --group-col would add the outlier part" in out


def test_loading_bars_are_hidden_for_a_run_without_bars_and_restored_after():
    """Sweep 30: similarity.train(progress=False) printed transformers' "Loading weights" bar twice (the
    teacher, and model2vec's distillation of it) into a script's log."""
    from transformers.utils import logging as hf_logging

    from similarity.teacher import loading_bars

    before = hf_logging.is_progress_bar_enabled()  # a CLI test in this process may have turned them off for good
    hf_logging.enable_progress_bar()
    try:
        with loading_bars(False):
            assert not hf_logging.is_progress_bar_enabled()
        assert hf_logging.is_progress_bar_enabled()
        with loading_bars(True):
            assert hf_logging.is_progress_bar_enabled()
    finally:
        if not before:
            hf_logging.disable_progress_bar()


def test_an_off_the_shelf_model_s_gate_is_not_said_to_be_fitted_on_its_training_sentences(tmp_path, cli_main):
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(f"question number {i} about topic {i % 7}\n" for i in range(40)))
    code, out, err = cli_main("index", "minilm", corpus, "--out", tmp_path / "ix")
    assert code == 0, err
    gate = [ln for ln in out.splitlines() if ln.startswith("out-of-domain gate")][0]
    assert "an off-the-shelf model has no held-out sentences" in gate and "training sentences" not in gate
    assert "a data file with a group column and --group-col would add the outlier part" in gate


def test_train_gan_resume_takes_every_recorded_setting_not_given(tmp_path, cli_main):
    """Sweep 31: a --batch-size 16 run resumed without it was told its 64 rows were "fewer than one batch
    (256)"; with resolved_config.json deleted a --steps 6 run trained on to the kind's 2,000 steps."""
    vecs = tmp_path / "v.npy"
    np.save(vecs, np.random.default_rng(0).normal(size=(64, 4)).astype("float32"))
    out = tmp_path / "g"
    code, _, err = cli_main("train-gan", vecs, "--out", out, "--batch-size", 16, "--steps", 6, "--seed", 3,
                            "--no-progress")
    assert code == 0, err
    code, _, err = cli_main("train-gan", vecs, "--out", out, "--resume", "--steps", 8, "--no-progress")
    assert code == 0, err
    resolved = json.loads((out / "resolved_config.json").read_text())["config"]
    assert (resolved["batch_size"], resolved["seed"], resolved["steps"]) == (16, 3, 8)
    code, _, err = cli_main("train-gan", vecs, "--out", out, "--resume", "--batch-size", 32, "--steps", 9)
    assert_one_line_error(code, err, "config differs from the checkpoint's (batch_size)")  # given: must match
    (out / "resolved_config.json").unlink()
    code, _, err = cli_main("train-gan", vecs, "--out", out, "--resume", "--no-progress")
    assert_one_line_error(code, err, "resolved_config.json is missing or unreadable, so the run's --steps is unknown")
    code, _, err = cli_main("train-gan", vecs, "--out", out, "--resume", "--steps", 10, "--no-progress")
    assert code == 0, err
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 10


def test_a_finished_max_steps_run_is_told_that_a_resume_cannot_change_it(tmp_path, cli_main):
    out = tmp_path / "sim"
    base = ["train-similarity", FAQ, "--teacher", "none", "--no-progress", "--max-steps", 5, "--out", out]
    code, _, err = cli_main(*base, "--epochs", 3)
    assert code == 0, err
    code, _, err = cli_main(*base, "--resume", "--epochs", 6)
    assert code == 0, err
    assert "its 5 steps reach --max-steps 5, which a resume cannot change: train a new run" in err


@pytest.mark.parametrize("args, where", [
    (["train-similarity", "", "--out", "OUT"], "DATA: an empty value (a path was expected)"),
    (["evaluate-similarity", "MODEL", " "], "DATA: an empty value (a path was expected)"),
    (["encode", "MODEL", "", "--out", "OUT"], "TEXTS: an empty value (a path was expected)"),
])
def test_an_empty_path_argument_is_named_as_such(tmp_path, cli_main, faq, args, where):
    """Sweep 31: `encode MODEL "" --out e1` said "--out lies inside the input folder" (an empty path is the
    working folder); `train-similarity ""` spoke the API's words."""
    args = [faq[0] if a == "MODEL" else tmp_path / "o" if a == "OUT" else a for a in args]
    code, _, err = cli_main(*args)
    assert_one_line_error(code, err, where)


def test_train_gan_resume_of_a_damaged_record_or_a_finished_run_changes_nothing(tmp_path, cli_main):
    """Sweep 31: "steps": "abc" in resolved_config.json silently trained on to the kind's 2,000 steps; a
    resume of a finished run with a new --lr-g recorded that rate as if the run had used it."""
    vecs = tmp_path / "v.npy"
    np.save(vecs, np.random.default_rng(0).normal(size=(64, 4)).astype("float32"))
    out = tmp_path / "g"
    base = ["train-gan", vecs, "--out", out, "--batch-size", 16, "--no-progress"]
    code, _, err = cli_main(*base, "--steps", 6, "--lr-g", "0.0003")
    assert code == 0, err
    before = {f: (out / f).read_bytes() for f in ("resolved_config.json", "config.json")}
    code, _, err = cli_main(*base, "--resume", "--lr-g", "0.0001")
    assert code == 0 and "nothing trained" in err, err
    assert {f: (out / f).read_bytes() for f in before} == before
    record = json.loads((out / "resolved_config.json").read_text())
    record["config"]["steps"] = "abc"
    (out / "resolved_config.json").write_text(json.dumps(record))
    code, _, err = cli_main(*base, "--resume")
    assert_one_line_error(code, err, "resolved_config.json is missing or unreadable")


def test_a_file_that_repeats_leave_with_one_group_says_so(tmp_path, cli_main):
    """Sweep 31: two groups whose sentences differ only in width, case and spacing were refused as "found 1",
    the warnings that said why being held back behind the error line."""
    data = tmp_path / "nfkc.csv"
    data.write_text("text,group\nＡＢＣ,x\nABC,x\nａｂｃ,x\nabc,x\n退款,y\n退款 ,y\n退 款,y\n退款。,y\n",
                    encoding="utf-8")
    code, _, err = cli_main("train-similarity", data, "--teacher", "none", "--out", tmp_path / "o")
    assert_one_line_error(code, err, "need at least two groups of two or more sentences to train (found 1 after "
                                     "dropping", "repeated sentence(s), equal up to case, width and spacing")


def test_the_duplicate_warning_names_a_split_only_when_there_is_one(tmp_path, cli_main):
    rows = [f"sentence {i} of group {g}" for g in "ab" for i in range(4)]
    data = tmp_path / "tr.csv"
    data.write_text("text,group\n" + "".join(f"{t},{t[-1]}\n" for t in rows * 2))
    ev = tmp_path / "ev.csv"
    ev.write_text("text,group\n" + "".join(f"other {t},{t[-1]}\n" for t in rows))
    code, _, err = cli_main("train-similarity", data, "--eval-data", ev, "--teacher", "none", "--epochs", 1,
                            "--no-progress", "--out", tmp_path / "o")
    assert code == 0, err
    assert "dropped 8 duplicate sentence(s) (the same text" in err and "held-out split" not in err


def test_a_name_option_given_empty_is_not_called_a_path(tmp_path, cli_main):
    code, _, err = cli_main("train-similarity", FAQ, "--out", tmp_path / "o", "--virtual-outliers", "")
    assert_one_line_error(code, err, "--virtual-outliers: an empty value")
    assert "path" not in err


def test_held_out_figures_of_a_set_with_one_dominant_group_are_read_against_chance(tmp_path, cli_main):
    """Sweep 31: one group of 200 beside five of 4: train-similarity printed knn_top1 0.99 with nothing said
    (answering the big group for every sentence scores about as much), and evaluate-similarity advised
    reading loo_top1, which is at chance too."""
    from similarity.evaluate import chance_topk, majority_share

    assert majority_share(["a", "a", "b", "c"], ["a"] * 5 + ["b"]) == 0.5
    assert chance_topk(["a"] * 3 + ["b"] * 2, 1) == pytest.approx((3 * 2 / 4 + 2 * 1 / 4) / 5)
    rows = [(f"the big group sentence number {i}", "big") for i in range(200)]
    rows += [(f"small {g} phrase {i}", g) for g in "vwxyz" for i in range(4)]
    data = tmp_path / "skew.csv"
    data.write_text("text,group\n" + "".join(f"{t},{g}\n" for t, g in rows))
    code, _, err = cli_main("train-similarity", data, "--teacher", "none", "--epochs", 1, "--no-progress",
                            "--out", tmp_path / "o")
    assert code == 0, err
    assert "held-out: one group holds most sentences, so a model that knows only the group sizes already scores" in err
    chance = json.loads((tmp_path / "o" / "heldout.json").read_text())["chance"]
    assert chance["knn_top1"] > 0.8
    code, _, err = cli_main("evaluate-similarity", tmp_path / "o" / "model", data)
    assert code == 0, err
    assert "random ranking's nearest sentence is of the same group for" in err


def test_a_tsv_with_every_cell_quoted_is_read_as_its_text(tmp_path, cli_main):
    """Sweep 31: R's write.table TSV ('"text"\\t"group"') was refused (missing column 'text'), and naming
    the quoted columns kept the quotes in every sentence and group."""
    import warnings

    import similarity

    rows = [("how do I reset my password", "pw"), ("forgot my password", "pw"), ('she said "hi" twice', "hi"),
            ("hello there", "hi")]
    f = tmp_path / "r.tsv"
    f.write_text('"text"\t"group"\n' + "".join(f'"{t.replace(chr(34), chr(34) * 2)}"\t"{g}"\n' for t, g in rows))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        texts, groups = similarity.load_groups(f)
    assert texts == [t for t, _ in rows] and groups == [g for _, g in rows]
    assert any("every cell, the header too" in str(w.message) for w in said)
    plain = tmp_path / "p.tsv"  # a sentence that merely starts and ends with a quote keeps it
    plain.write_text('text\tgroup\n"quoted" words "here"\ta\nplain\ta\n')
    assert similarity.load_groups(plain)[0][0] == '"quoted" words "here"'


def test_an_index_whose_meta_names_another_encoder_of_its_size_is_refused(tmp_path, cli_main, faq):
    """Sweep 32: meta.json edited to name another encoder of the same size, with that encoder's
    fingerprint, searched every query with the wrong model; a few re-encoded rows now tell."""
    import shutil

    other = tmp_path / "other"
    code, _, err = cli_main("train-similarity", FAQ, "--teacher", "none", "--epochs", 1, "--seed", 7, "--no-progress",
                            "--out", other)
    assert code == 0, err
    for name, model in (("ix", faq[0]), ("ix_other", other / "model")):
        code, _, err = cli_main("index", model, FAQ, "--text-col", "text", "--out", tmp_path / name)
        assert code == 0, err
    shutil.copytree(tmp_path / "ix", tmp_path / "edited")
    meta = json.loads((tmp_path / "edited" / "meta.json").read_text())
    theirs = json.loads((tmp_path / "ix_other" / "meta.json").read_text())
    assert meta["encoder"]["dim"] == theirs["encoder"]["dim"]
    meta["encoder"], meta["fingerprint"] = theirs["encoder"], theirs["fingerprint"]
    (tmp_path / "edited" / "meta.json").write_text(json.dumps(meta))
    code, _, err = cli_main("search", tmp_path / "edited", "reset my password")
    assert_one_line_error(code, err, "this encoder did not build the index", "(the same model gives 1.00)")
    for name in ("ix", "ix_other"):  # each with its own encoder: searched as before
        code, out, err = cli_main("search", tmp_path / name, "reset my password")
        assert code == 0, err


def test_a_file_set_is_published_whole_or_not_at_all(tmp_path):
    """Sweep 32: an interrupt between the renames of generate-embeddings' OUT.npy and OUT.jsonl left new
    vectors beside an old decode; the set is now renamed with SIGINT / SIGTERM held back."""
    import subprocess
    import sys

    from helpers import ROOT
    from textgan.common.file_set import atomic_files

    a, b = tmp_path / "out.jsonl", tmp_path / "out.npy"
    a.write_text("old"), b.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_files(a, b) as (ta, tb):
            ta.write_text("new")
            raise RuntimeError("failed before the second file was written")
    assert a.read_text() == b.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == [a.name, b.name]
    with atomic_files(a, b) as (ta, tb):
        ta.write_text("new"), tb.write_text("new")
    assert a.read_text() == b.read_text() == "new"
    # in a process of its own: an xdist worker runs tests off the main thread, where nothing is held
    code = ("import os, signal, time\nfrom textgan.common.file_set import _signals_held\ntry:\n"
            "    with _signals_held():\n        os.kill(os.getpid(), signal.SIGINT)\n        time.sleep(0.05)\n"
            "        print('reached', flush=True)\nexcept KeyboardInterrupt:\n    print('interrupted after')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.stdout.split() == ["reached", "interrupted", "after"], done.stderr  # delivered once the block ends


def test_the_few_pairs_warning_names_thresholds_only_for_0_1_pairs():
    import warnings

    from similarity.pairs import pair_scores

    for labels, thresholds in (([0.5, 2.5, 4.0, 1.0, 3.2], False), ([0.0, 1.0, 1.0, 0.0, 1.0], True)):
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            pair_scores(labels, None, "score", "p.tsv")
        text = " ".join(str(w.message) for w in said)
        assert "only 5 pairs" in text and ("accuracy and F1" in text) == thresholds, text


@pytest.mark.parametrize("args", [
    ["train-similarity", FAQ, "--out", "OUT", "--pair-cols", " , "],
    ["evaluate-similarity", "MODEL", "--pairs", "PAIRS", "--pair-cols", "a,,c"],
    ["demo", FAQ, "--out", "OUT", "--pairs", "PAIRS", "--pair-cols", "a,b,"],
])
def test_an_empty_column_name_in_a_list_names_its_option(tmp_path, cli_main, faq, args):
    """Sweep 31: `--pair-cols " , "` got the API's "a column must be named by a non-empty string" with no option."""
    from helpers import ROOT

    args = [faq[0] if a == "MODEL" else tmp_path / "o" if a == "OUT" else ROOT / "data" / "faq_en_pairs.tsv"
            if a == "PAIRS" else a for a in args]
    code, _, err = cli_main(*args)
    assert_one_line_error(code, err, "--pair-cols: name", "is empty: give comma-separated column names")
