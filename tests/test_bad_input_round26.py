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
    assert "the checkpoint has finished, its 2 epoch(s) reach --epochs 2; nothing trained" in err
    assert json.loads((out / "config.json").read_text())["train"]["epochs"] == 2
    code, _, err = cli_main(*base, "--resume", "--epochs", 3)  # a length given: it goes on
    assert code == 0, err
    assert _epochs_run(out) == [1, 2, 3] and "nothing trained" not in err


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
