"""Long tail (issue 20, G6): synthetic rows of rare groups for the margin head (`--tail-synth`)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import similarity
from helpers import assert_one_line_error
from similarity.tail_synth import TailSynth, tail_groups

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
SIZES = [8, 8, 8, 3]  # group 3 is the tail
TEXTS = [f"{WORDS[g]} {WORDS[(g + j) % 6]} item {j}" for g, n in enumerate(SIZES) for j in range(n)]
GROUPS = [f"g{g}" for g, n in enumerate(SIZES) for _ in range(n)]
TINY = similarity.TrainConfig(epochs=3, batch_size=8, lr=5e-3, hidden_size=8, embed_dim=8, seed=0, patience=5,
                              lr_decay="constant", eval_fraction=0.25, teacher="none", vo_queue=4,
                              tail_synth_rows=4)


def test_tail_groups_are_the_rare_ones():
    assert tail_groups([100, 100, 5, 100, 40], None) == [2, 4]  # below half the median (50)
    assert tail_groups([10, 10, 10], None) == []  # balanced: no tail
    assert tail_groups([10, 10, 3], 11) == [0, 1, 2]


def _filled(source: str) -> TailSynth:
    """Two head groups around e0 and e1 (spread along e2), one tail group at e3."""
    s = TailSynth(source, n_classes=3, dim=4, tail=[2], rows=200, queue=4, seed=0)
    e = torch.eye(4)
    head = torch.stack([e[0] + 0.1 * e[2], e[0] - 0.1 * e[2], e[1] + 0.1 * e[2], e[1] - 0.1 * e[2]])
    s.push(head, torch.tensor([0, 0, 1, 1]))
    s.push(e[3:4], torch.tensor([2]))
    return s


@pytest.mark.parametrize("source", ["replay", "gaussian", "calibrated"])
def test_rows_belong_to_tail_groups_and_repeat_with_the_step(source):
    s = _filled(source)
    x, y = s.sample(step=5)
    assert x.shape == (200, 4) and set(y.tolist()) == {2}
    assert torch.equal(x, s.sample(step=5)[0])
    if source == "replay":  # the tail group's one queued vector, reused
        assert torch.equal(x, torch.eye(4)[3].expand(200, 4))
    else:
        assert not torch.equal(x, s.sample(step=6)[0])
        # the head groups' spread is along e2 (variance 0.01, shrunk): so is the synthetic rows'
        spread = x.var(0)
        assert spread[2] > 3 * spread[0] if source == "gaussian" else spread[2] > spread[1]


def test_calibrated_mean_equals_yang_et_al_by_hand():
    """mu' = (sum of the k=2 nearest head means + mu) / 3: here (e0 + e1 + e3) / 3."""
    s = _filled("calibrated")
    filled = s.count.clamp(max=4)
    means, _ = s._stats(filled, ~s.is_tail & (filled >= 2))
    got = s._calibrated(means, ~s.is_tail & (filled >= 2))[2]
    assert torch.allclose(got, torch.tensor([1.0, 1.0, 0.0, 1.0]) / 3, atol=1e-6)
    x, _ = s.sample(step=0)  # rows centre on the calibrated mean's direction
    assert F.cosine_similarity(x.mean(0), got, dim=0) > 0.95


def test_no_rows_without_a_tail_vector_or_when_off():
    s = TailSynth("gaussian", n_classes=3, dim=4, tail=[2], rows=8, queue=4, seed=0)
    s.push(torch.eye(4)[:2], torch.tensor([0, 1]))
    assert s.sample(0)[0].shape == (0, 4) and s.loss(similarity.make_loss("am", dim=4, n_classes=3), 0) is None


def test_synthetic_rows_loss_is_the_margin_loss_on_them():
    head = similarity.make_loss("am", dim=4, n_classes=3, scale=10.0)
    s = _filled("gaussian")
    x, y = s.sample(step=1)
    assert s.loss(head, 1).item() == pytest.approx(head(x, y).item(), rel=1e-6)


@pytest.mark.parametrize("source", ["replay", "calibrated"])
def test_training_with_tail_rows_changes_training_and_resumes_bitwise(source, tmp_path):
    cfg = dataclasses.replace(TINY, tail_synth=source)
    similarity.train(cfg, TEXTS, GROUPS, tmp_path / "full", progress=False)
    similarity.train(dataclasses.replace(cfg, epochs=2), TEXTS, GROUPS, tmp_path / "r", progress=False)
    similarity.train(cfg, TEXTS, GROUPS, tmp_path / "r", progress=False, resume=True)
    losses = [[json.loads(x)["step_losses"] for x in (d / "metrics.jsonl").read_text().splitlines()]
              for d in (tmp_path / "full", tmp_path / "r")]
    assert losses[0] == losses[1]  # bitwise: the same floats
    similarity.train(TINY, TEXTS, GROUPS, tmp_path / "control", progress=False)
    control = [json.loads(x)["step_losses"] for x in (tmp_path / "control" / "metrics.jsonl").read_text().splitlines()]
    assert control[0][0] != losses[0][0][0]  # the tail group's first row is queued at step 0
    a, b = (similarity.load(tmp_path / d / "model").encode(TEXTS) for d in ("full", "r"))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("args,needle", [
    (["--tail-synth", "smote"], "unknown --tail-synth 'smote'"),
    (["--tail-synth", "gaussian", "--tail-synth-weight", "nan"], "--tail-synth-weight"),
    (["--tail-synth", "gaussian", "--tail-below", "1"], "--tail-below"),
    (["--tail-synth", "gaussian", "--loss", "infonce"], "margin head"),
])
def test_bad_tail_flags_are_one_line(args, needle, cli_main, tmp_path):
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data" / "faq_en.csv"
    out = tmp_path / "o"
    code, _, err = cli_main("train-similarity", data, "--out", out, "--teacher", "none", *args)
    assert_one_line_error(code, err, needle)
    assert not out.exists()


def test_a_tail_of_every_group_is_refused_with_a_warning():
    from similarity.tail_synth import tail_for_run

    with pytest.warns(UserWarning, match="fewer than 2 head groups"):
        assert tail_for_run("gaussian", 100, [0, 0, 1, 1, 2], 3, announce=False) == []
    with pytest.warns(UserWarning, match="no group has fewer than"):
        assert tail_for_run("calibrated", None, [0, 0, 1, 1], 2, announce=False) == []
    assert tail_for_run("replay", None, [0] * 10 + [1] * 10 + [2], 3, announce=False) == [2]


def test_anchored_tail_rows_come_from_the_injected_kind_and_resume_bitwise(tmp_path):
    """--tail-synth anchored: the class-anchored GAN refitted at every epoch start on the queues; a
    resume (at an epoch start) refits on the restored queues, so the losses repeat bitwise."""
    from textgan.common.errors import InputError
    from textgan.workflow.vo_kinds import KindSampler, tail_sampler

    cfg = dataclasses.replace(TINY, tail_synth="anchored")
    with pytest.raises(InputError, match="generator of textgan's kinds"):
        similarity.train(cfg, TEXTS, GROUPS, tmp_path / "no", progress=False)
    assert not (tmp_path / "no").exists() and tail_sampler("gaussian") is None
    sampler = lambda: KindSampler("anchored", steps=20, temperature=1.0, candidates=1)  # noqa: E731
    assert tail_sampler("anchored").candidates == 1
    similarity.train(cfg, TEXTS, GROUPS, tmp_path / "full", progress=False, tail_sampler=sampler())
    similarity.train(dataclasses.replace(cfg, epochs=2), TEXTS, GROUPS, tmp_path / "r", progress=False,
                     tail_sampler=sampler())
    similarity.train(cfg, TEXTS, GROUPS, tmp_path / "r", progress=False, resume=True, tail_sampler=sampler())
    full, again = ([json.loads(x)["step_losses"] for x in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
                   for d in ("full", "r"))
    assert again == full
    similarity.train(TINY, TEXTS, GROUPS, tmp_path / "control", progress=False)
    control = [json.loads(x)["step_losses"] for x in (tmp_path / "control" / "metrics.jsonl").read_text().splitlines()]
    assert control[0] == full[0] and control[1] != full[1]  # no generator before the first refit (epoch 2)
