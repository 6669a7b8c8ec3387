"""MEG + MALA (textgan.gan.energy) and the Langevin EBM (textgan.gan.langevin)."""
import dataclasses
import math

import pytest
import torch

from textgan.common.errors import InputError
from textgan.gan import PRESETS, carry_over, load, train_gan
from textgan.gan.energy import MEGConfig, jsd_mi, mala
from textgan.gan.langevin import EBMConfig, langevin

torch.set_num_threads(1)
MU, VAR = 1.5, 0.5


def gaussian_potential(z):
    return ((z - MU) ** 2).sum(1) / (2 * VAR)  # (B,)


def test_mala_recovers_gaussian_mean_and_variance():
    g = torch.Generator().manual_seed(0)
    # step a = VAR: unadjusted Langevin's stationary variance is VAR / (1 - a / (2 VAR)) = 2 VAR
    z, acc = mala(gaussian_potential, torch.zeros(4000, 1), 200, VAR, generator=g)
    assert abs(z.mean().item() - MU) < 0.05
    assert abs(z.var().item() / VAR - 1) < 0.07
    assert 0.5 < acc < 0.95
    z_ula, _ = mala(gaussian_potential, torch.zeros(4000, 1), 200, VAR, generator=g, metropolis=False)
    assert z_ula.var().item() / VAR > 1.7  # the MH correction with q(z|z')/q(z'|z) is what fixes this


def test_mala_needs_the_proposal_density():
    """Symmetric-proposal MH on a Langevin proposal (the classic bug) is biased; ours is not."""
    g = torch.Generator().manual_seed(1)
    a = 1.5 * VAR
    z = torch.zeros(4000, 1)
    u = gaussian_potential(z)
    for _ in range(200):  # reference MH ignoring the proposal density, same proposal
        zr = z.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(gaussian_potential(zr).sum(), zr)
        zp = z - a * grad + math.sqrt(2 * a) * torch.randn(z.shape, generator=g)
        up = gaussian_potential(zp)
        acc = torch.rand(4000, generator=g).log() < (u - up)
        z, u = torch.where(acc[:, None], zp, z), torch.where(acc, up, u)
    z_ok, _ = mala(gaussian_potential, torch.zeros(4000, 1), 200, a, generator=g)
    assert abs(z_ok.var().item() / VAR - 1) < 0.08
    assert abs(z.var().item() / VAR - 1) > 0.15


def test_langevin_converges_to_quadratic_minimum():
    c = torch.tensor([2.0, -1.0, 0.5])
    energy = lambda x: 0.5 * ((x - c) ** 2).sum(1)  # noqa: E731
    x0 = 5 * torch.randn(256, 3, generator=torch.Generator().manual_seed(0))
    x = langevin(energy, x0, 100, 0.1, 0.0)
    assert (x - c).norm(dim=1).max() < 1e-3
    # noise sigma = sqrt(2 a T) = 0.05 at T = 0.0125: the chain x <- x - a (x - c) + sigma eps has
    # variance sigma^2 / (1 - (1-a)^2)
    x = langevin(energy, x0, 200, 0.1, 0.0125, generator=torch.Generator().manual_seed(1))
    assert (x.mean(0) - c).abs().max() < 0.02
    assert abs(x.var(0).mean().item() / (0.05**2 / (1 - 0.9**2)) - 1) < 0.2


def test_jsd_mi_is_zero_for_uninformative_statistics():
    t = torch.zeros(10)
    assert jsd_mi(t, t).item() == pytest.approx(-2 * math.log(2))
    assert jsd_mi(torch.full((10,), 8.0), torch.full((10,), -8.0)).item() > -1e-3


def blob(n=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.tensor([2.0, 2.0]) + 0.1 * torch.randn(n, 2, generator=g)


FAR = torch.tensor([[-2.0, -2.0], [2.0, -2.0], [-2.0, 2.0]])  # points well off the blob at (2, 2)


def trained_on_the_blob(cfg, out, seed: int, tol: float):
    """(model, 500 samples) of `cfg` trained on `blob()`, after checking that it learned the blob:
    held-out data gets lower energy than every far point, and the samples centre on (2, 2)."""
    m = load(train_gan(blob(), cfg, out, progress=False))
    assert m.energy(blob(200, seed=1)).mean() < m.energy(FAR).min()
    x = m.sample(500, seed=seed)
    assert (x.mean(0) - torch.tensor([2.0, 2.0])).norm() < tol
    return m, x


def test_ebm_learns_low_energy_on_data_and_samples_there(tmp_path):
    cfg = EBMConfig(steps=150, batch_size=128, width=64, depth=2, n_langevin=10, buffer_size=1000, seed=0)
    out = tmp_path / "ebm"
    m, x = trained_on_the_blob(cfg, out, seed=3, tol=0.3)
    assert torch.equal(x, load(out).sample(500, seed=3))  # round trip, seeded
    assert m.kind == "ebm-langevin" and torch.equal(m.score(FAR), -m.energy(FAR))
    assert (out / "losses.png").stat().st_size > 1000
    # sampling temperature: a colder chain sits tighter on the energy's minimum; the config's
    # sample_temperature is what sample() uses unless a temperature is passed
    cold, hot = m.sample(500, seed=3, temperature=1e-5), m.sample(500, seed=3, temperature=0.05)
    assert cold.var(0).sum() < 0.8 * hot.var(0).sum()
    m.config = dataclasses.replace(m.config, sample_temperature=0.05)
    assert torch.equal(m.sample(50, seed=1), m.sample(50, seed=1, temperature=0.05))
    with pytest.raises(InputError, match="temperature must be a finite number > 0"):
        m.sample(5, seed=1, temperature=float("nan"))
    with pytest.raises(InputError, match="--set sample_temperature must be > 0"):
        EBMConfig(sample_temperature=0.0).validate()


def test_meg_energy_and_generator(tmp_path):
    cfg = MEGConfig(steps=200, batch_size=128, noise_dim=4, width=64, depth=2, lr_g=1e-3, lr_d=1e-3, seed=0)
    out = tmp_path / "meg"
    m, x = trained_on_the_blob(cfg, out, seed=0, tol=0.5)
    # MALA in latent space lowers the mean latent potential U(z) = E(G(z)) + |z|^2/2
    xm = m.sample(500, seed=0, mala_steps=20, step_size=0.01)
    assert 0 < m.last_acceptance <= 1
    assert m.energy(xm).mean() <= m.energy(x).mean() + 0.05
    assert torch.equal(m.sample(50, seed=1), load(out).sample(50, seed=1))


def test_presets_carry_over_to_energy_kinds():
    cfg = carry_over(MEGConfig, PRESETS["embeddings"])
    emb = PRESETS["embeddings"]
    assert (cfg.steps, cfg.batch_size, cfg.noise_dim, cfg.width, cfg.head) == \
        (emb.steps, emb.batch_size, emb.noise_dim, emb.width, "sphere")
    assert cfg.lr_d == MEGConfig().lr_d  # the preset leaves lr to the objective row: the kind keeps its own
    ebm = carry_over(EBMConfig, PRESETS["toy"])
    assert (ebm.width, ebm.lr_d) == (PRESETS["toy"].width, 1e-3)


def test_langevin_noise_is_the_temperature():
    """Langevin noise sqrt(2 a T): at E(x) = x^2/2 the chain's stationary variance is T (for small a)."""
    torch.manual_seed(0)
    x = langevin(lambda v: 0.5 * (v**2).sum(1), torch.zeros(4000, 1), 400, 0.01, 0.25)
    assert x.var().item() == pytest.approx(0.25 / (1 - 0.01 / 2), rel=0.08)
