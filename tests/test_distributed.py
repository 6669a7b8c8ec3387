"""torchrun: two gloo processes train what one process does (train-gan, train-similarity)."""
from __future__ import annotations

import json

import numpy as np

from helpers import seeded_teacher_cache, torchrun


def test_torchrun_two_processes_equal_one(tmp_path):
    """2 gloo processes at the same global batch == 1 process (fresh and resumed); ranks given
    different data refuse to train."""
    from pathlib import Path

    from safetensors.torch import load_file

    from textgan.gan import GANConfig, train_gan

    x = np.random.default_rng(0).standard_normal((500, 16)).astype(np.float32)
    np.save(tmp_path / "v.npy", x)
    root = Path(__file__).resolve().parents[1]
    p = torchrun(root / "tests" / "_ddp_worker.py", tmp_path, timeout=120)
    assert p.returncode == 0, p.stderr[:3000] + "\n...\n" + p.stderr[-1500:]
    cfg = dict(steps=40, batch_size=32, width=32, depth=2, noise_dim=8, objective="wgan-gp", penalty="gp",
               checkpoint_every=10)
    train_gan(x, GANConfig(**cfg), tmp_path / "one", progress=False)
    for name in ("generator.safetensors", "critic.safetensors"):
        a, b = load_file(tmp_path / "one" / name), load_file(tmp_path / "two" / name)
        assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
    last = [json.loads(ln) for ln in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()][-1]
    last2 = [json.loads(ln) for ln in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()][-1]
    assert last["step"] == last2["step"] == 40 and abs(last["d_loss"] - last2["d_loss"]) < 1e-5
    for r in (0, 1):
        assert "different training data" in json.loads((tmp_path / f"rank{r}.json").read_text())


def test_torchrun_similarity_equals_one_process(tmp_path):
    """train-similarity on 2 gloo processes (distilled, resumed; Partial FC with sharded centres)
    gives one process's per-step losses and weights at the same global batch."""
    from pathlib import Path

    import torch
    from safetensors.torch import load_file

    import similarity

    root = Path(__file__).resolve().parents[1]
    data = root / "data" / "faq_en.csv"
    seeded_teacher_cache(tmp_path / "cache")  # the worker's: teacher vectors cold, static vectors not distilled again
    p = torchrun(root / "tests" / "_ddp_similarity_worker.py", tmp_path, data, timeout=300)
    assert p.returncode == 0, p.stderr[:3000] + "\n...\n" + p.stderr[-1500:]
    texts, groups = similarity.load_groups(data, "text", "group")
    similarity.train(similarity.TrainConfig(epochs=3, batch_size=40, lr_decay="constant"), texts, groups,
                     tmp_path / "one", progress=False, cache_dir=tmp_path / "cache")
    similarity.train(similarity.TrainConfig(epochs=2, batch_size=40, teacher="none", partial_fc=0.3), texts,
                     groups, tmp_path / "pfc1", progress=False)
    for one, two in (("one", "two"), ("pfc1", "pfc2")):
        rows = [[json.loads(ln) for ln in (tmp_path / d / "metrics.jsonl").read_text().splitlines()]
                for d in (one, two)]
        a, b = ([v for r in rs for v in r["step_losses"]] for rs in rows)
        assert len(a) == len(b) >= 20
        # float32 round-off is relative: a few ulps of the loss (the auto distillation scale makes
        # small-data losses near 90, where one ulp is 7.6e-6)
        assert max(abs(x - y) / max(1.0, abs(y)) for x, y in zip(a, b)) < 1e-6, (one, a, b)
        wa, wb = (load_file(tmp_path / d / "model" / "model.safetensors") for d in (one, two))
        diff = torch.cat([(wa[k] - wb[k]).abs().flatten() for k in wa])
        # Not all bitwise: rounding can flip a max-pooling argmax, and Adam's first step on the
        # token that then gets the gradient is a full lr. Such tokens are rare.
        assert float((diff > 1e-5).float().mean()) < 1e-3 and float(diff.max()) < 1e-2
        pa, pb = (load_file(tmp_path / d / "model" / "head.safetensors")["prototypes"] for d in (one, two))
        assert pa.shape == pb.shape and float((pa - pb).abs().max()) < 1e-4  # centres gathered whole
    assert json.loads((tmp_path / "two" / "config.json").read_text())["processes"] == 2
    for r in (0, 1):
        assert "different training data" in json.loads((tmp_path / f"rank{r}.json").read_text())


def test_the_cli_under_torchrun_exits_with_its_own_code(tmp_path):
    """`torchrun -m cli ...` (README): the job's exit code is the command's, 0 with the model
    written, 2 with one error line for bad input met after the ranks joined. `cli._leave_torchrun`
    ends each rank once it has left the group: the interpreter's finalization after that aborted
    now and then in gloo ("terminate called without an active exception"), failing a finished job."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    np.save(tmp_path / "v.npy", np.random.default_rng(0).standard_normal((200, 8)).astype(np.float32))
    env = dict(os.environ, PYTHONPATH=str(root), OMP_NUM_THREADS="1")
    run = [str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node", "2", "-m", "cli",
           "train-gan", str(tmp_path / "v.npy"), "--steps", "10", "--no-progress"]
    p = subprocess.run([*run, "--batch-size", "32", "--out", str(tmp_path / "g")], env=env, cwd=root,
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0 and (tmp_path / "g" / "generator.safetensors").is_file(), p.stderr[-2000:]
    assert "terminate called" not in p.stderr
    p = subprocess.run([*run, "--batch-size", "33", "--out", str(tmp_path / "h")], env=env, cwd=root,
                       capture_output=True, text=True, timeout=180)
    assert p.returncode != 0 and p.stderr.count("error: --batch-size 33 does not split over 2 processes") == 1, \
        p.stderr[-2000:]


def test_isolated_rng_leaves_the_global_streams_where_they_were():
    """What model2vec.distill draws inside `isolated_rng` must not change the next weight init."""
    import random

    import torch

    from textgan.common.state import isolated_rng, seed_all

    seed_all(3)
    expected = (torch.rand(3), np.random.rand(), random.random())
    seed_all(3)
    with isolated_rng():
        torch.rand(100), np.random.rand(7), random.random()
    got = (torch.rand(3), np.random.rand(), random.random())
    assert torch.equal(got[0], expected[0]) and got[1:] == expected[1:]
