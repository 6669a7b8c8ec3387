"""O-GAN: the critic's vector output as an encoder (textgan.gan.ogan)."""
import numpy as np
import pytest
import torch

from textgan.common.errors import InputError
from textgan.gan import OGANConfig, load, train_gan
from textgan.gan.ogan import pearson, reconstruction_report

torch.set_num_threads(1)


def clusters(n, seed=0, k=10, dim=16):
    """Unit vectors around k random directions: (n, dim)."""
    g = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(k, dim, generator=g), dim=1)
    g.manual_seed(seed + 1)
    lab = torch.randint(k, (n,), generator=g)
    return torch.nn.functional.normalize(centres[lab] + 0.15 * torch.randn(n, dim, generator=g), dim=1)


def test_pearson_matches_numpy():
    a, b = torch.randn(5, 9), torch.randn(5, 9)
    ref = [np.corrcoef(a[i].numpy(), b[i].numpy())[0, 1] for i in range(5)]
    assert np.allclose(pearson(a, b).numpy(), ref, atol=1e-5)
    assert torch.allclose(pearson(a, 3 * a + 1), torch.ones(5), atol=1e-5)


@pytest.fixture(scope="module")
def ogan_dir(tmp_path_factory):
    cfg = OGANConfig(steps=500, batch_size=128, noise_dim=8, width=96, depth=2, head="sphere", seed=0)
    return train_gan(clusters(3000), cfg, tmp_path_factory.mktemp("og") / "ogan", progress=False)


def test_ogan_reconstruction_beats_random_code(ogan_dir):
    m = load(ogan_dir)
    held = clusters(500, seed=7)
    rep = reconstruction_report(m, held, seed=0)
    assert rep["cos_reconstruct"] > rep["cos_random_code"] + 0.25
    assert rep["l2_reconstruct"] < rep["l2_random_code"]
    z = m.encode(held)
    assert z.shape == (500, 8)
    assert torch.allclose(z.mean(1), torch.zeros(500), atol=1e-4)  # standardised like z ~ N(0, I)
    # the code carries information: an untrained critic's code would not correlate with z
    zz = torch.randn(256, 8, generator=torch.Generator().manual_seed(3))
    assert pearson(zz, m.critic.code(m.net(zz))).mean() > 0.5


def test_ogan_round_trip_and_bad_input(ogan_dir):
    a, b = load(ogan_dir), load(ogan_dir, ema=False)
    assert a.kind == "ogan" and a.dim == 16 and a.config.objective == "gan-ns" and a.config.penalty == "r1"
    assert torch.equal(a.sample(20, seed=4), load(ogan_dir).sample(20, seed=4))
    assert not torch.equal(a.sample(20, seed=4), b.sample(20, seed=4))  # EMA vs raw generator
    x = clusters(10, seed=9)
    assert torch.equal(a.encode(x), b.encode(x))  # same critic either way
    with pytest.raises(InputError, match=r"dimension 5, expected 16"):
        a.encode(torch.zeros(3, 5))
    with pytest.raises(InputError, match="unknown objective"):
        OGANConfig(objective="nope").resolved()
    assert OGANConfig(objective="wgan-gp", penalty=None, penalty_weight=None).resolved().penalty == "gp"
