"""The kind registry: every kind trains on the one loop, round-trips through `load`, follows the
common protocol, resumes bitwise after a crash or kill -9, and refuses what it cannot do."""
import json
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from textgan.common.errors import InputError
from textgan.gan import KINDS, load, make_kind, sample, train_gan
from textgan.gan.saved import FORMAT

TINY = dict(batch_size=32, width=16, depth=1, log_every=1, checkpoint_every=3)
# smallest configs of each kind; every registry row must appear here (checked below)
CONFIGS = {
    "gan": dict(noise_dim=3, n_critic=2, lr_decay="linear"),
    "conditional": dict(noise_dim=3, embed_dim=4, objective="hinge"),
    "meg": dict(noise_dim=3, n_critic=2),
    "ebm-langevin": dict(n_langevin=3, buffer_size=64),
    "ogan": dict(noise_dim=3),
    "anchored": dict(noise_dim=3, embed_dim=4),
    "kplus1": dict(noise_dim=3),
    "bigan-qp": dict(noise_dim=3),
    "glann": dict(noise_dim=3, latent_dim=3, imle_pool=4),
    "began": dict(noise_dim=3, code_dim=3),
    "flow": dict(n_layers=2),
    "boundary": dict(noise_dim=3, beta=0.5),
}
SAMPLED_BY_GROUP = {"conditional", "anchored", "kplus1"}  # the other labelled kinds (boundary) sample without a group


def config(kind: str, steps: int = 8, **kw):
    return make_kind(kind).config(steps=steps, **TINY, **CONFIGS[kind], **kw)


def data(n=200, dim=5, seed=0):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def groups(kind, n=200):
    return [f"g{i % 3}" for i in range(n)] if make_kind(kind).needs_labels else None


def weights(folder):
    from safetensors.torch import load_file

    return {p.name: load_file(str(p)) for p in sorted(folder.glob("*.safetensors"))}


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys() and wa
    for name in wa:
        assert wa[name].keys() == wb[name].keys()
        for k in wa[name]:
            assert torch.equal(wa[name][k], wb[name][k]), (name, k)


def test_registry_rows_are_complete():
    assert set(KINDS) == set(CONFIGS) == {"gan", "conditional", "meg", "ebm-langevin", "ogan", "anchored", "kplus1",
                                          "bigan-qp", "glann", "began", "flow", "boundary"}
    for k in KINDS.values():
        assert k.config().resolved() is not None
        assert k.step.kind == k.saved.kind == k.name
    with pytest.raises(InputError, match="valid: gan, conditional, meg, ebm-langevin, ogan, anchored, kplus1, "
                                         "bigan-qp, glann, began, flow, boundary"):
        make_kind("nope")


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_every_kind_round_trips_with_the_common_protocol(tmp_path, kind):
    x = data()
    out = train_gan(x, config(kind, steps=4), tmp_path / kind, groups=groups(kind), meta={"encoder": {"fingerprint": "f"}},
                    progress=False)
    info = json.loads((out / "config.json").read_text())
    assert info["format"] == FORMAT and info["kind"] == kind and info["steps_done"] == 4
    assert info["versions"]["torch"] and info["versions"]["textgan"]
    assert set(info["files"]) == {p.name for p in out.iterdir() if p.suffix == ".safetensors" or p.name == "labels.json"}
    assert (out / "losses.png").stat().st_size > 1000
    m = load(out)
    assert (m.kind, m.dim, m.shape, m.meta["encoder"]["fingerprint"]) == (kind, 5, (5,), "f")
    grp = "g1" if kind in SAMPLED_BY_GROUP else None
    a = m.sample(6, seed=3, group=grp)
    assert a.shape == (6, 5) and torch.isfinite(a).all()
    assert torch.equal(a, load(out).sample(6, seed=3, group=grp))  # seeded: same vectors after a reload
    assert m.score_name in ("critic", "energy", "likelihood")
    s = m.score(x[:7])
    assert s.shape == (7,) and torch.isfinite(s).all()
    with pytest.raises(InputError, match=r"dimension 4, expected 5"):
        m.score(torch.zeros(3, 4))
    if grp is None:
        with pytest.raises(InputError, match="unconditional|samples between the groups"):
            m.sample(2, group="g1")
    else:
        with pytest.raises(InputError, match="name a group"):
            m.sample(2)


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_every_kind_resumes_bitwise_after_a_crash(tmp_path, kind):
    x, cfg = data(), config(kind)
    full = train_gan(x, cfg, tmp_path / "full", groups=groups(kind), progress=False)

    def crash(done, losses):
        if done == 5:  # after the step-3 checkpoint, before the next one
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_gan(x, cfg, tmp_path / "cut", groups=groups(kind), progress=False, callback=crash)
    assert json.loads((tmp_path / "cut/checkpoint/state.json").read_text())["step"] == 3
    train_gan(x, cfg, tmp_path / "cut", groups=groups(kind), progress=False, resume=True)
    assert_same_weights(full, tmp_path / "cut")
    rows = [json.loads(r) for r in (tmp_path / "cut/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 9))


KILL_SCRIPT = """
import os, signal, sys, torch
from textgan.gan import make_kind, train_gan
sys.path.insert(0, {tests!r})
from test_kinds import config, data, groups
kind, out = sys.argv[1], sys.argv[2]
def die(done, losses):
    if done == 5:
        os.kill(os.getpid(), signal.SIGKILL)
train_gan(data(), config(kind), out, groups=groups(kind), progress=False, callback=die)
"""


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_every_kind_resumes_bitwise_after_kill_9(tmp_path, kind):
    from pathlib import Path

    script = KILL_SCRIPT.format(tests=str(Path(__file__).parent))
    p = subprocess.run([sys.executable, "-c", script, kind, str(tmp_path / "cut")], capture_output=True, text=True,
                       timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert not (tmp_path / "cut/config.json").exists()  # no model folder yet, only the checkpoint
    torch.set_num_threads(1)
    train_gan(data(), config(kind), tmp_path / "cut", groups=groups(kind), progress=False, resume=True)
    full = train_gan(data(), config(kind), tmp_path / "full", groups=groups(kind), progress=False)
    assert_same_weights(full, tmp_path / "cut")


def test_resume_refuses_other_data_or_encoder_and_accepts_new_lr(tmp_path):
    x, cfg = data(), config("gan", steps=3)
    meta = {"encoder": {"fingerprint": "aaa"}}
    out = train_gan(x, cfg, tmp_path / "g", meta=meta, progress=False)
    with pytest.raises(InputError, match="training rows or labels"):
        train_gan(data(seed=1), cfg, out, meta=meta, progress=False, resume=True)
    with pytest.raises(InputError, match="another encoder"):
        train_gan(x, cfg, out, meta={"encoder": {"fingerprint": "bbb"}}, progress=False, resume=True)
    with pytest.raises(InputError, match="config differs.*width"):
        train_gan(x, config("gan", steps=3, **{"width": 8}) if False else
                  make_kind("gan").config(**{**cfg.to_dict(), "width": 8, "betas": None}), out, meta=meta,
                  progress=False, resume=True)
    import dataclasses

    train_gan(x, dataclasses.replace(cfg, steps=6, lr_g=1e-5), out, meta=meta, progress=False, resume=True)
    assert load(out).config.steps == 6


def test_divergence_stops_keeps_the_checkpoint_and_resume_with_lower_lr_works(tmp_path, monkeypatch):
    from textgan.gan.gan import GANStep

    real = GANStep.train_step

    def nan_at_5(self, t):
        out = real(self, t)
        return {**out, "d_loss": float("nan")} if t == 4 and self.cfg.lr_g > 1e-4 else out

    monkeypatch.setattr(GANStep, "train_step", nan_at_5)
    cfg = config("gan", lr_g=1e-3)
    with pytest.raises(InputError, match="diverged at step 5.*checkpoint \\(step 3\\) is kept.*--resume"):
        train_gan(data(), cfg, tmp_path / "nan", progress=False)
    import dataclasses

    train_gan(data(), dataclasses.replace(cfg, lr_g=5e-5), tmp_path / "nan", progress=False, resume=True)
    assert load(tmp_path / "nan").config.lr_g == 5e-5


def test_killed_before_first_checkpoint_resumes_from_scratch(tmp_path):
    def crash(done, losses):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_gan(data(), config("gan"), tmp_path / "g", progress=False, callback=crash)
    assert not (tmp_path / "g").exists()  # stopped before its first checkpoint: its new folder is gone
    # kill -9 cannot clean up: its files stay, a rerun is refused, and --resume starts from scratch
    (tmp_path / "g").mkdir()
    (tmp_path / "g/resolved_config.json").write_text("{}")
    with pytest.raises(InputError, match="not empty.*--resume"):
        train_gan(data(), config("gan"), tmp_path / "g", progress=False)
    with pytest.warns(UserWarning, match="no checkpoint yet"):
        train_gan(data(), config("gan"), tmp_path / "g", progress=False, resume=True)
    assert_same_weights(train_gan(data(), config("gan"), tmp_path / "ref", progress=False), tmp_path / "g")


def test_saved_files_are_checksummed_and_shareable(tmp_path):
    import os

    out = train_gan(data(), config("gan", steps=2), tmp_path / "g", progress=False)
    from textgan.common.artifacts import DIR_MODE, FILE_MODE

    # tempfile makes 0600 / 0700; shared artefacts get the umask's normal modes (0644 / 0755 under 022)
    for f in (out / "generator.safetensors", out / "config.json", out / "checkpoint/state.safetensors"):
        assert os.stat(f).st_mode & 0o777 == FILE_MODE, f
    assert os.stat(out / "checkpoint").st_mode & 0o777 == DIR_MODE
    assert FILE_MODE & 0o044  # readable by others under any usual umask
    raw = bytearray((out / "critic.safetensors").read_bytes())
    raw[-3] ^= 0xFF  # a flipped bit in a weight, same size
    (out / "critic.safetensors").write_bytes(bytes(raw))
    with pytest.raises(InputError, match="critic.safetensors: checksum mismatch"):
        load(out)


def test_folders_of_textgan_0_1_load_only_when_the_user_allows_unchecked(tmp_path, monkeypatch):
    """Format textgan-gan/1 had no kind for the core GAN, EBM `noise` instead of a temperature, `lr_e`,
    and no digests: setting the format to /1 must not switch checking off, so the user opts in."""
    out = train_gan(data(), config("ebm-langevin", steps=2), tmp_path / "e", progress=False)
    info = json.loads((out / "config.json").read_text())
    conf = info["config"]
    conf["lr_e"] = conf.pop("lr_d")
    conf["noise"] = (2 * conf["step_size"] * conf.pop("temperature")) ** 0.5
    del conf["checkpoint_every"]
    old = {"format": "textgan-gan/1", "kind": "ebm-langevin", "config": conf, "shape": info["shape"],
           "dim": info["dim"], "steps_done": 2, "meta": {}}
    (out / "config.json").write_text(json.dumps(old))
    with pytest.raises(InputError, match="saved by textgan 0.1, without checksums.*TEXTGAN_LOAD_UNCHECKED=1"):
        load(out)
    monkeypatch.setenv("TEXTGAN_LOAD_UNCHECKED", "1")
    m = load(out)
    assert m.config.temperature == pytest.approx(config("ebm-langevin").temperature)
    g = train_gan(data(), config("gan", steps=2), tmp_path / "g", progress=False)
    info = json.loads((g / "config.json").read_text())
    current = dict(info, kind="flow-from-the-future")
    for key in ("kind", "versions", "files", "sha256"):
        del info[key]
    info["format"] = "textgan-gan/1"
    (g / "config.json").write_text(json.dumps(info))
    assert load(g).kind == "gan"
    (g / "config.json").write_text(json.dumps(current))
    with pytest.raises(InputError, match="unknown model kind 'flow-from-the-future'"):
        load(g)


def test_bad_inputs(tmp_path):
    with pytest.raises(InputError, match="no dimensions"):
        train_gan(np.zeros((64, 0), np.float32), config("gan"), tmp_path / "a", progress=False)
    with pytest.raises(InputError, match="fewer than one batch"):
        train_gan(data(10), config("meg"), tmp_path / "b", progress=False)
    with pytest.raises(InputError, match="NaN"):
        train_gan(torch.full((64, 2), float("nan")), config("ebm-langevin"), tmp_path / "c", progress=False)
    with pytest.raises(InputError, match="needs one group label"):
        train_gan(data(), config("conditional"), tmp_path / "d", progress=False)
    with pytest.raises(InputError, match="does not use group labels"):
        train_gan(data(), config("meg"), tmp_path / "e", groups=groups("conditional"), progress=False)
    for bad, msg in [(dict(lr_g=float("nan")), "--lr-g must be a finite"), (dict(lr_d=-1.0), "--lr-d must be > 0"),
                     (dict(steps=0), "--steps must be >= 1"), (dict(temperature=0.0), "--set temperature must be > 0")]:
        kind = "ebm-langevin" if "temperature" in bad or "lr_d" in bad else "gan"
        with pytest.raises(InputError, match=msg):
            train_gan(data(), config(kind, **bad), tmp_path / "f", progress=False)
    m = load(train_gan(data(), config("gan", steps=1), tmp_path / "g", progress=False))
    for n in (0, -3, 2.5):
        with pytest.raises(InputError, match="--n must be a whole number"):
            sample(m, n)
    with pytest.raises(InputError, match=r"--n 2000000000000 would need about .* GiB"):
        sample(m, 2_000_000_000_000)
    assert not any((tmp_path / d).exists() for d in "abcdef")
