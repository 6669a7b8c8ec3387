"""Contracts over every registered objective, plus independent reference computations."""
import math

import pytest
import torch
import torch.nn.functional as F

from textgan.common.errors import InputError
from textgan.gan import OBJECTIVES, GANConfig, make_objective
from textgan.gan.nets import Critic
from textgan.gan.objectives import F_DIVERGENCES
from textgan.gan.penalties import (PENALTIES, clip_weights, div_penalty, gradient_penalty, make_penalty,
                                   r1_penalty)
from textgan.gan.gan import GANStep

torch.set_num_threads(1)
L2 = math.log(2)

# For P = Q the optimal critic is a constant v*; the losses there, derived by hand:
# name -> (v*, critic loss at v*, generator loss at v*)
AT_OPTIMUM = {
    "gan-minimax": (0.0, 2 * L2, -L2),  # D* = sigmoid(0) = 1/2
    "gan-ns": (0.0, 2 * L2, L2),
    "wgan": (0.3, 0.0, -0.3),
    "wgan-gp": (0.3, 0.0, -0.3),
    "wgan-div": (0.3, 0.0, -0.3),
    # f-GAN: g_f(v*) = f'(1), and F = f'(1) - f*(f'(1)) = f(1): 0 except for the GAN row
    "f-kl": (1.0, 0.0, -1.0),  # f'(1) = 1
    "f-reverse-kl": (0.0, 0.0, 1.0),  # g = -exp(-v) = -1
    "f-pearson": (0.0, 0.0, 0.0),
    "f-neyman": (0.0, 0.0, 0.0),
    "f-hellinger": (0.0, 0.0, 0.0),
    "f-js": (0.0, 0.0, 0.0),  # g = log 2 - softplus(0) = 0
    "f-gan": (0.0, 2 * L2, L2),  # g = -log 2; f(1) = -2 log 2 (the same BCE as gan-ns)
    "f-tv": (0.0, 0.0, 0.0),
    "lsgan": (0.5, 0.25, 0.125),
    "hinge": (0.0, 2.0, 0.0),
    "gan-qp-l1": (0.3, 0.0, 0.0),
    "gan-qp-l2": (0.3, 0.0, 0.0),
}


def test_every_objective_has_an_optimum_entry():
    assert set(AT_OPTIMUM) == set(OBJECTIVES)


def test_unknown_objective_lists_valid_names():
    with pytest.raises(InputError) as err:
        make_objective("wgan-zz")
    for name in OBJECTIVES:
        assert name in str(err.value)


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_losses_at_optimum(name):
    obj, (v, d_ref, g_ref) = make_objective(name), AT_OPTIMUM[name]
    s = torch.full((64,), v, dtype=torch.float64)
    assert obj.d_loss(s, s).item() == pytest.approx(d_ref, abs=1e-9)
    assert obj.g_loss(s, s).item() == pytest.approx(g_ref, abs=1e-9)
    # v* is optimal: no other constant critic lowers the critic loss when P = Q
    for dv in (-0.4, -0.1, 0.1, 0.4):
        s2 = torch.full((64,), v + dv, dtype=torch.float64)
        assert obj.d_loss(s2, s2).item() >= d_ref - 1e-9


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_contract_finite_and_gradients_reach_both_players(name):
    torch.manual_seed(0)
    cfg = GANConfig(objective=name, width=16, depth=2, noise_dim=4, batch_size=32).resolved()
    st = GANStep(cfg, torch.zeros(32, 3))  # builds G (3 <- 4) and D with width 16, depth 2
    g, d = st.g, st.d
    real = torch.randn(32, 3) + 2
    d_loss, pen, g_loss = st.one_loss(real)
    for t in (d_loss, pen, g_loss):
        assert t.dim() == 0 and torch.isfinite(t)
    gd = torch.autograd.grad(d_loss + pen, list(d.parameters()), retain_graph=True, allow_unused=True)
    gg = torch.autograd.grad(g_loss, list(g.parameters()), allow_unused=True)
    assert sum(x.abs().sum() for x in gd if x is not None) > 0
    assert sum(x.abs().sum() for x in gg if x is not None) > 0


def test_critic_loss_sign_separates_distributions():
    """A critic that scores real higher than fake must have a lower loss than one that does not."""
    real, fake = torch.full((8,), 1.0), torch.full((8,), -1.0)
    for name, obj in OBJECTIVES.items():
        if name == "lsgan":
            real, fake = torch.full((8,), 1.0), torch.zeros(8)
        good, bad = obj.d_loss(real, fake), obj.d_loss(fake, real)
        assert good < bad, name
        real, fake = torch.full((8,), 1.0), torch.full((8,), -1.0)


def test_fgan_gan_row_is_bce_with_logits():
    torch.manual_seed(1)
    r, f = torch.randn(100) * 3, torch.randn(100) * 3
    ref = F.binary_cross_entropy_with_logits(r, torch.ones(100)) + F.binary_cross_entropy_with_logits(
        f, torch.zeros(100))
    assert OBJECTIVES["f-gan"].d_loss(r, f).item() == pytest.approx(ref.item(), rel=1e-6)
    assert OBJECTIVES["gan-ns"].d_loss(r, f).item() == pytest.approx(ref.item(), rel=1e-6)


@pytest.mark.parametrize("key", list(F_DIVERGENCES))
def test_stable_conjugate_equals_literal(key):
    div = F_DIVERGENCES[key]
    v = torch.linspace(-4, 4, 401, dtype=torch.float64)
    literal = div.conjugate(div.activation(v))
    assert torch.allclose(div.conj_act(v), literal, rtol=1e-9, atol=1e-9)


def test_stable_conjugate_does_not_overflow_where_literal_does():
    v = torch.tensor([-60.0, 60.0])
    for key in ("gan", "js"):
        assert torch.isfinite(F_DIVERGENCES[key].conj_act(v)).all()
    assert not torch.isfinite(F_DIVERGENCES["gan"].conjugate(F_DIVERGENCES["gan"].activation(v))).all()


def half_sq_norm(x):
    """Critic 0.5 ||x||^2 per sample: its gradient at x is x itself."""
    return 0.5 * x.flatten(1).pow(2).sum(1)


def test_gradient_penalty_uses_per_sample_norm_over_all_dims():
    x = torch.randn(6, 2, 3, 3)  # real == fake makes the interpolates equal x
    norms = x.flatten(1).norm(dim=1)
    ref = 10 * ((norms - 1) ** 2).mean()
    got = gradient_penalty(half_sq_norm, x, x, None, None, 10.0)
    assert got.item() == pytest.approx(ref.item(), rel=1e-5)
    batch_norm = 10 * (x.norm() - 1) ** 2  # the classic bug: one norm over the whole batch
    assert abs(got.item() - batch_norm.item()) > 1.0


def test_packed_critic_scores_packs_and_gp_uses_per_pack_norm():
    d = Critic((3,), 16, 2, pack=4, fourier=5, fourier_scale=2.0)
    assert d(torch.randn(8, 3)).shape == (2,)

    def packed_half_sq_norm(x):  # a packed critic: one score 0.5 ||pack||^2 per 4 samples
        return 0.5 * x.reshape(x.shape[0] // 4, -1).pow(2).sum(1)

    x = torch.randn(8, 3)
    ref = 10 * ((x.reshape(2, 12).norm(dim=1) - 1) ** 2).mean()
    assert gradient_penalty(packed_half_sq_norm, x, x, None, None, 10.0).item() == pytest.approx(ref.item(), rel=1e-5)
    with pytest.raises(InputError, match="multiple of --pack"):
        GANConfig(batch_size=30, pack=4).resolved()


def test_div_r1_and_qp_penalties_match_hand_computation():
    real, fake = torch.randn(5, 4), torch.randn(5, 4)
    nr, nf = real.norm(dim=1), fake.norm(dim=1)
    ref_div = 2 * torch.cat([nr**6, nf**6]).mean()
    assert div_penalty(half_sq_norm, real, fake, None, None).item() == pytest.approx(ref_div.item(), rel=1e-5)
    assert r1_penalty(half_sq_norm, real, fake, None, None, 4.0).item() == pytest.approx(
        (2 * nr**2).mean().item(), rel=1e-5)
    vr, vf = torch.randn(5), torch.randn(5)
    # Su's reference code divides by the per-dimension mean distance (mean |dx|, or RMS for L2),
    # not the raw norm: for D = 4 the L1 norm would make the penalty 4x weaker
    D = real.shape[1]
    for name, dist in (("qp-l1", (real - fake).norm(p=1, dim=1) / D),
                       ("qp-l2", (real - fake).norm(p=2, dim=1) / D**0.5)):
        ref = ((vr - vf) ** 2 / (2 * 10.0 * dist)).mean()
        assert make_penalty(name)(None, real, fake, vr, vf, 10.0).item() == pytest.approx(ref.item(), rel=1e-5)
    assert set(PENALTIES) >= {"gp", "div", "r1", "clip", "qp-l1", "qp-l2"}


def test_clip_weights_bounds_every_parameter():
    d = Critic((3,), 16, 2)
    clip_weights(d, 0.01)
    assert max(p.abs().max().item() for p in d.parameters()) <= 0.01 + 1e-12


def test_row_defaults():
    w = GANConfig(objective="wgan").resolved()
    assert (w.penalty, w.optimizer, w.lr_d, w.n_critic, w.penalty_weight) == ("clip", "rmsprop", 5e-5, 5, 0.01)
    gp = GANConfig(objective="wgan-gp").resolved()
    assert (gp.penalty, gp.penalty_weight, gp.n_critic, gp.betas) == ("gp", 10.0, 5, (0.0, 0.9))
    dv = GANConfig(objective="wgan-div").resolved()
    assert (dv.penalty, dv.penalty_weight) == ("div", 2.0)


@pytest.mark.parametrize("name", ["gan-ns", "wgan-gp", "gan-qp-l2", "f-kl"])
def test_one_loss_gradients_equal_alternating(name):
    torch.manual_seed(3)
    cfg = GANConfig(objective=name, width=16, depth=2, noise_dim=4, batch_size=16).resolved()
    st = GANStep(cfg, torch.zeros(16, 3))
    g, d = st.g, st.d
    real = torch.randn(16, 3)
    state = torch.get_rng_state()
    d_loss, pen, g_loss = st.one_loss(real)
    (d_loss + pen + g_loss).backward()
    one = [p.grad.clone() for p in list(d.parameters()) + list(g.parameters())]
    for p in list(d.parameters()) + list(g.parameters()):
        p.grad = None
    # alternating form from the same noise: critic on detached fakes, generator through the critic
    torch.set_rng_state(state)
    z = torch.randn(16, 4)
    fake = g(z)
    v_r, v_f = d(real), d(fake.detach())
    (st.obj.d_loss(v_r, v_f) + st.penalty(d, real, fake.detach(), v_r, v_f, cfg.penalty_weight)).backward()
    gd = [p.grad.clone() for p in d.parameters()]
    gg = torch.autograd.grad(st.obj.g_loss(d(real).detach(), d(fake)), list(g.parameters()))
    for a, b in zip(one, gd + list(gg)):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-5)
