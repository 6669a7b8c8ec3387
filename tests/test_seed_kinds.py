"""Reference checks of the key formula of each of the seed's remaining generators (BEGAN, GLANN,
BiGAN-QP), each rebuilt independently."""
import torch

from textgan.gan.began import k_update
from textgan.gan.bigan_qp import JointCritic, joint_critic_loss
from textgan.gan.glann import imle_assign


def test_began_k_update_follows_the_equilibrium_rule_and_is_clipped():
    k = torch.tensor(0.5)
    # k + lambda_k (gamma L(x) - L(G(z))) = 0.5 + 0.1 (0.7 * 2 - 1) = 0.54
    assert torch.isclose(k_update(k, torch.tensor(2.0), torch.tensor(1.0), 0.7, 0.1), torch.tensor(0.54))
    assert k_update(k, torch.tensor(100.0), torch.tensor(0.0), 0.7, 0.1) == 1.0
    assert k_update(k, torch.tensor(0.0), torch.tensor(100.0), 0.7, 0.1) == 0.0


def test_imle_assigns_each_code_its_nearest_mapped_sample():
    g = torch.Generator().manual_seed(0)
    targets, cands = torch.randn(7, 3, generator=g), torch.randn(40, 3, generator=g)
    brute = [min(range(40), key=lambda j: float(((cands[j] - t) ** 2).sum())) for t in targets]
    assert imle_assign(targets, cands).tolist() == brute


def test_bigan_qp_critic_loss_is_gan_qp_on_joint_pairs():
    g = torch.Generator().manual_seed(1)
    x, ex, gz, z = (torch.randn(5, d, generator=g) for d in (4, 2, 4, 2))
    critic = JointCritic(4, 2, 8, 1)
    loss, pen = joint_critic_loss(critic, x, ex, gz, z, weight=10.0)
    real, fake = torch.cat([x, ex], 1), torch.cat([gz, z], 1)
    v_r, v_f = critic(real), critic(fake)
    rms = (real - fake).pow(2).mean(1).sqrt()  # distance over the joint (x, z), per dimension
    quad = ((v_r - v_f) ** 2 / (2 * 10.0 * rms)).mean()
    assert torch.allclose(pen, quad) and torch.allclose(loss, (v_f - v_r).mean() + quad)
