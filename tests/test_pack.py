"""PacGAN packing (--pack M, Lin et al. 2018) for the critics of the adversarial kinds with groups:
input shapes, M = 1 is the unpacked critic exactly, packs are scored jointly, bad packs are
refused, packed runs resume bitwise."""
import json

import pytest
import torch

from textgan.common.errors import InputError
from textgan.gan import load, make_kind, train_gan
from textgan.gan.anchored import PrototypeCritic
from textgan.gan.conditional import CondCritic
from textgan.gan.nets import Critic

torch.set_num_threads(1)


def first_linear(module) -> torch.nn.Linear:
    return next(m for m in module.modules() if isinstance(m, torch.nn.Linear))


@pytest.mark.parametrize("mode", ["projection", "concat"])
def test_packed_conditional_critic_reads_m_samples_and_scores_each_pack(mode):
    torch.manual_seed(0)
    d = CondCritic(5, 3, 4, 16, 2, mode=mode, pack=4)
    assert first_linear(d).in_features == (4 * 5 if mode == "projection" else 4 * (5 + 4))
    x, y = torch.randn(8, 5), torch.tensor([0, 1, 2, 0, 1, 1, 2, 0])
    v = d(x, y)
    assert v.shape == (2,)
    # pack j is scored from samples 4j..4j+3 only: changing sample 5 moves score 1, not score 0
    x2 = x.clone()
    x2[5] += 1.0
    v2 = d(x2, y)
    assert v2[0] == v[0] and v2[1] != v[1]
    if mode == "projection":  # reference: psi(h) + <sum of the pack's label embeddings, h>
        h = d.phi(x.reshape(2, 20))
        e = d.embed(y).reshape(2, 4, 16).sum(1)
        assert torch.allclose(v, d.psi(h).squeeze(1) + (e * h).sum(1))


def test_pack_1_is_the_unpacked_critic_exactly():
    x, y = torch.randn(6, 5), torch.tensor([0, 1, 2, 0, 1, 2])
    for mode in ("projection", "concat"):
        torch.manual_seed(3)
        a = CondCritic(5, 3, 4, 16, 2, mode=mode, pack=1)
        torch.manual_seed(3)
        b = CondCritic(5, 3, 4, 16, 2, mode=mode)  # today's critic: no pack argument
        assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}
        assert torch.equal(a(x, y), b(x, y))
        if mode == "projection":  # the projection discriminator of Miyato & Koyama, by hand
            h = a.phi(x)
            assert torch.allclose(a(x, y), a.psi(h).squeeze(1) + (a.embed(y) * h).sum(1))
    torch.manual_seed(3)
    p1 = PrototypeCritic(5, 16, 2, False, pack=1)
    p = torch.nn.functional.normalize(torch.randn(6, 5), dim=1)
    h = p1.phi(x)
    assert torch.allclose(p1(x, p), p1.psi(h).squeeze(1) + (p1.embed(p) * h).sum(1))
    p4 = PrototypeCritic(5, 16, 2, False, pack=3)
    assert first_linear(p4).in_features == 15 and p4(x, p).shape == (2,)
    assert Critic((5,), 16, 2, pack=2)(x).shape == (3,)


@pytest.mark.parametrize("kind", ["conditional", "anchored"])
def test_pack_must_divide_the_batch(kind):
    with pytest.raises(InputError, match=r"--batch-size \(30\) must be a multiple of --pack \(4\)"):
        make_kind(kind).config(batch_size=30, pack=4).validate()
    with pytest.raises(InputError, match="--pack must be >= 1"):
        make_kind(kind).config(pack=0).validate()


def test_ogan_refuses_a_packed_critic():
    with pytest.raises(InputError, match="kind 'ogan' has no packed critic"):
        make_kind("ogan").config(pack=2).validate()


TINY = dict(batch_size=32, width=16, depth=1, log_every=1, checkpoint_every=3, noise_dim=3, steps=8)


def _weights(folder):
    from safetensors.torch import load_file

    return {p.name: load_file(str(p)) for p in sorted(folder.glob("*.safetensors"))}


@pytest.mark.parametrize("kind, extra", [("gan", {}), ("conditional", {"embed_dim": 4}),
                                         ("conditional", {"embed_dim": 4, "critic_cond": "concat"}),
                                         ("anchored", {"embed_dim": 4})])
def test_packed_critics_train_and_resume_bitwise(tmp_path, kind, extra):
    x = torch.randn(200, 5, generator=torch.Generator().manual_seed(0))
    groups = [f"g{i % 3}" for i in range(200)] if kind != "gan" else None
    cfg = make_kind(kind).config(pack=4, **TINY, **extra)
    full = train_gan(x, cfg, tmp_path / "full", groups=groups, progress=False)

    def crash(done, losses):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_gan(x, cfg, tmp_path / "cut", groups=groups, progress=False, callback=crash)
    train_gan(x, cfg, tmp_path / "cut", groups=groups, progress=False, resume=True)
    wa, wb = _weights(full), _weights(tmp_path / "cut")
    assert wa.keys() == wb.keys() and wa
    for name in wa:
        for k in wa[name]:
            assert torch.equal(wa[name][k], wb[name][k]), (name, k)
    # the saved critic is packed: 4 times the input width, and it will not score single vectors
    critic = _weights(full)["critic.safetensors"]
    widths = [w.shape[1] for k, w in critic.items() if k.endswith("weight") and w.dim() == 2 and "embed" not in k]
    assert 4 * 5 in widths or 4 * (5 + 4) in widths
    m = load(full)
    assert json.loads((full / "config.json").read_text())["config"]["pack"] == 4
    assert m.sample(3, seed=0, group="g1" if groups else None).shape == (3, 5)
    with pytest.raises(InputError, match="trained with --pack 4"):
        m.score(x[:8])
