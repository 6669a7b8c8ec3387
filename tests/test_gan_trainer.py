"""Core GAN kind on the shared trainer: exact resume per objective, round trip, bad data, images, a toy run."""
import json

import pytest
import torch

from textgan.common.errors import InputError
from textgan.gan import GANConfig, load, train_gan
from textgan.gan.toy import mode_metrics, toy_data

torch.set_num_threads(1)
TINY = dict(width=32, depth=2, noise_dim=4, batch_size=32, log_every=1)


def _weights(path, name):
    from safetensors.torch import load_file

    return load_file(str(path / name))


@pytest.mark.parametrize("objective, extra", [("wgan-gp", {}), ("wgan", {}),
                                              ("gan-ns", dict(penalty="r1", pack=2, critic_fourier=4))])
def test_resume_equals_uninterrupted(tmp_path, monkeypatch, objective, extra):
    data = torch.randn(200, 3)
    cfg = GANConfig(objective=objective, steps=6, checkpoint_every=3, n_critic=2, lr_decay="linear", **TINY,
                    **extra)
    train_gan(data, cfg, tmp_path / "full", progress=False)

    def crash(done, losses):
        if done == 5:
            raise KeyboardInterrupt  # the run dies after the step-3 checkpoint

    with pytest.raises(KeyboardInterrupt):
        train_gan(data, cfg, tmp_path / "cut", progress=False, callback=crash)
    assert json.loads((tmp_path / "cut/checkpoint/state.json").read_text())["step"] == 3
    train_gan(data, cfg, tmp_path / "cut", progress=False, resume=True)
    for name in ("generator.safetensors", "generator_ema.safetensors", "critic.safetensors"):
        a, b = _weights(tmp_path / "full", name), _weights(tmp_path / "cut", name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
    rows = [json.loads(x) for x in (tmp_path / "cut/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]


def test_saved_generator_round_trip(tmp_path):
    data = torch.randn(100, 5)
    out = train_gan(data, GANConfig(objective="hinge", steps=4, **TINY), tmp_path / "g", meta={"enc": "abc"},
                    progress=False)
    assert (out / "losses.png").stat().st_size > 1000
    assert json.loads((out / "resolved_config.json").read_text())["config"]["penalty"] == "none"
    g = load(out)
    assert (g.dim, g.meta, g.uses_ema, g.config.objective) == (5, {"enc": "abc"}, True, "hinge")
    a, b = g.sample(7, seed=1), g.sample(7, seed=1)
    assert a.shape == (7, 5) and torch.equal(a, b)
    assert not torch.equal(a, g.sample(7, seed=2))
    # same outputs as the EMA network rebuilt by hand from the saved weights
    from textgan.gan.nets import Generator

    net = Generator((5,), 4, 32, 2)
    net.load_state_dict(_weights(out, "generator_ema.safetensors"))
    z = torch.randn(7, 4, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(net(z), a)
    raw = load(out, ema=False)
    assert not raw.uses_ema and not torch.equal(raw.sample(7, seed=1), a)
    assert g.critic(a).shape == (7,) and torch.equal(g.score(a), g.critic(a))


def test_images_shape_round_trip(tmp_path):
    data = torch.rand(64, 1, 8, 8) * 2 - 1
    out = train_gan(data, GANConfig(objective="gan-ns", steps=2, head="tanh", **TINY), tmp_path / "img",
                    progress=False)
    g = load(out)
    assert g.dim == 64 and g.sample(3, seed=0, flat=False).shape == (3, 1, 8, 8)
    assert g.sample(3, seed=0).abs().max() <= 1


def test_sphere_head_outputs_unit_vectors(tmp_path):
    data = torch.nn.functional.normalize(torch.randn(64, 6), dim=1)
    out = train_gan(data, GANConfig(objective="wgan-gp", steps=2, head="sphere", **TINY), tmp_path / "s",
                    progress=False)
    assert torch.allclose(load(out).sample(10, seed=0).norm(dim=1), torch.ones(10), atol=1e-5)


@pytest.mark.parametrize("data, msg", [
    (torch.tensor([[0.0, float("nan")]] * 40), "NaN or inf"),
    (torch.randn(10, 2), "fewer than one batch"),
    (torch.randn(40, 2, 2), "shape"),
    (torch.randn(40, 0), "no dimensions"),
])
def test_bad_data(tmp_path, data, msg):
    with pytest.raises(InputError, match=msg):
        train_gan(data, GANConfig(steps=1, **TINY), tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()


def test_unknown_config_keys_and_values():
    with pytest.raises(InputError, match="unknown GANConfig keys"):
        GANConfig.from_dict({"objective": "gan-ns", "lr": 1})
    with pytest.raises(InputError, match="valid: gan-minimax"):
        GANConfig(objective="nope").resolved()


def test_short_toy_run_captures_ring_modes(tmp_path):
    """600 LSGAN steps (a few CPU seconds) capture >= 7 of the 8 ring modes; step 1 captures none."""
    data = toy_data("ring8", 20000, seed=0)
    cfg = GANConfig(objective="lsgan", steps=600, batch_size=256, width=64, depth=2, noise_dim=4, lr_g=2e-3,
                    lr_d=2e-3, lr_decay="linear", ema=0.99, log_every=100, checkpoint_every=10**6)
    out = train_gan(data, cfg, tmp_path / "ring", progress=False)
    trained = mode_metrics(load(out).sample(2500, seed=0), "ring8")
    assert trained["modes"] >= 7 and trained["hq"] > 5 and trained["rkl"] < 1.0
    untrained = GANConfig(**{**cfg.to_dict(), "steps": 1, "betas": None})
    first = mode_metrics(load(train_gan(data, untrained, tmp_path / "r0", progress=False)).sample(
        2500, seed=0), "ring8")
    assert first["modes"] <= 1 and first["hq"] < 1


def test_run_folder_cuts_metrics_back_to_the_checkpoint_and_skips_a_torn_line(tmp_path):
    """A kill mid-write leaves a torn last line; resuming from step 2 keeps rows 1-2 only."""
    from textgan.common.runs import RunFolder

    folder = RunFolder(tmp_path, "step")
    for s in (1, 2, 3):
        folder.log({"step": s, "loss": float(s)})
    with open(folder.metrics, "a") as fh:
        fh.write('{"step": 4, "lo')
    folder.restart(2)
    assert [r["step"] for r in folder.rows()] == [1, 2] and folder.last_good == 2
    with pytest.raises(InputError, match=r"loss=nan.*checkpoint \(step 2\) is kept"):
        folder.check_finite({"loss": float("nan")}, "diverged at step 3")
    with pytest.raises(InputError, match=r"config differs.*\(lr\); only steps may change"):
        folder.check_resume({"config": {"lr": 1, "steps": 5}}, {"config": {"lr": 2, "steps": 9}}, ("steps",))
    folder.check_resume({"config": {"lr": 1, "steps": 5}}, {"config": {"lr": 1, "steps": 9}}, ("steps",))
