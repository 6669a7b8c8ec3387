"""Each loss against an independent hand-built computation (pure Python math)."""
from __future__ import annotations

import math

import pytest
import torch

import torch.nn.functional as F

from similarity.losses import LOSS_NAMES, MARGINS, make_loss, sphereface_psi
from textgan.common.errors import InputError


def _arcface(c, m, easy=False):
    """ArcFace's target as its paper code writes it: cos(theta + m) with the th/mm fallback."""
    phi = c * math.cos(m) - math.sqrt(1 - c * c) * math.sin(m)
    if easy:
        return phi if c > 0 else c
    return phi if c > math.cos(math.pi - m) else c - math.sin(math.pi - m) * m


def _psi(c, m):
    """SphereFace psi, piece by piece (eq. 7 of arXiv:1704.08063)."""
    theta = math.acos(c)
    k = min(int(theta * m / math.pi), int(m) - 1)
    return (-1) ** k * math.cos(m * theta) - 2 * k


ITER = 40  # sphereface: lambda = max(5, 1000 / (1 + 0.12 * 40)) = 172.4
LAM = max(5.0, 1000.0 / (1 + 0.12 * ITER))
TARGET = {  # the paper formulas, written independently of the library's table
    "softmax": lambda c, m: c,
    "am": lambda c, m: c - m,
    "aam": _arcface,
    "aam-easy": lambda c, m: _arcface(c, m, easy=True),
    "a-softmax": lambda c, m: min(c, 8 * c**4 - 8 * c**2 + 1),
    "sphereface": lambda c, m: (LAM * c + _psi(c, m)) / (1 + LAM),
}


def _hand_ce(emb, weight, labels, s, m, target):
    total = 0.0
    for x, y in zip(emb.tolist(), labels.tolist()):
        nx = math.sqrt(sum(v * v for v in x))
        logits = []
        for c, w in enumerate(weight.tolist()):
            nw = math.sqrt(sum(v * v for v in w))
            cos = sum(a * b for a, b in zip(x, w)) / (nx * nw)
            logits.append(s * (target(cos, m) if c == y else cos))
        mx = max(logits)
        lse = mx + math.log(sum(math.exp(v - mx) for v in logits))
        total += lse - logits[y]
    return total / len(labels)


@pytest.mark.parametrize("name", list(MARGINS))
def test_margin_loss_equals_hand_built_cross_entropy(name):
    torch.manual_seed(0)
    s, m = (30.0, 4.0) if name in ("a-softmax", "sphereface") else (30.0, 0.0) if name == "softmax" else (30.0, 0.35)
    loss = make_loss(name, dim=5, n_classes=4, scale=s, margin=m).double().eval()
    loss.iteration.fill_(ITER)
    emb, labels = torch.randn(7, 5, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 0, 1, 3])
    emb[0] = -loss.weight.detach()[0] + 0.05  # about 175 degrees from its class: the aam fallback
    want = _hand_ce(emb, loss.weight.detach(), labels, s, m, TARGET[name])
    assert loss(emb, labels).item() == pytest.approx(want, rel=1e-9, abs=1e-9)
    assert int(loss.iteration) == ITER  # evaluation does not advance the schedule


@pytest.mark.parametrize("name", ["aam", "aam-easy", "am", "sphereface"])
def test_gradient_at_170_degrees_points_toward_the_class(name):
    # Plain cos(theta + m) turns back up past theta = pi - m: there the gradient pushed
    # the sample away from its class. The other class is orthogonal to the plane.
    loss = make_loss(name, dim=3, n_classes=2, scale=30.0).double()
    loss.weight.data = torch.tensor([[1.0, 0, 0], [0, 0, 1.0]], dtype=torch.float64)
    t = math.radians(170)
    emb = torch.tensor([[math.cos(t), math.sin(t), 0.0]], dtype=torch.float64, requires_grad=True)
    loss(emb, torch.tensor([0])).backward()
    moved = emb.detach() - 1e-3 * emb.grad
    assert (moved[0, 0] / moved.norm()).item() > math.cos(t) + 1e-4


def test_sphereface_psi_reference_values():
    angles = torch.tensor([0.0, 22.5, 45.0, 60.0, 90.0, 135.0, 180.0], dtype=torch.float64)
    got = sphereface_psi(torch.cos(torch.deg2rad(angles)), 4)
    # by hand: cos(4 theta) on [0, 45], then -cos(4 theta) - 2, cos(4 theta) - 4, -cos(4 theta) - 6
    want = torch.tensor([1.0, 0.0, -1.0, -1.5, -3.0, -5.0, -7.0], dtype=torch.float64)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    fine = sphereface_psi(torch.cos(torch.linspace(0, math.pi, 721, dtype=torch.float64)), 4)
    assert (fine.diff() <= 1e-9).all()  # monotone: falls with the angle everywhere


def _mean_angle_after_training(name: str, steps: int = 300, seed: int = 0) -> float:
    """Free unit vectors and class weights optimised with one loss: mean angle to the class."""
    torch.manual_seed(0)
    loss = make_loss(name, 16, 8, seed=seed)
    emb = torch.nn.Parameter(torch.randn(64, 16))  # (N, D)
    labels = torch.arange(64) % 8
    opt = torch.optim.Adam([emb, loss.weight], lr=0.05)
    for _ in range(steps):
        value = loss(emb, labels)
        opt.zero_grad()
        value.backward()
        opt.step()
    assert int(loss.iteration) == steps  # training forward passes advance the schedule
    cos = (F.normalize(emb, dim=1) * F.normalize(loss.weight, dim=1)[labels]).sum(1)
    return torch.rad2deg(torch.acos(cos.clamp(-1, 1))).mean().item()


def test_sphereface_pulls_closer_than_the_simple_a_softmax():
    # mean over three initialisations: from some, a few samples escape the 72-degree trap
    simple, sphere = (sum(_mean_angle_after_training(name, seed=k) for k in range(3)) / 3
                      for name in ("a-softmax", "sphereface"))
    assert simple > 65  # the non-monotone min() form parks samples near 72 degrees
    assert sphere < simple - 10, (simple, sphere)


def test_margin_increases_loss_and_is_stable_at_large_scale():
    torch.manual_seed(1)
    emb, labels = torch.randn(16, 8), torch.randint(0, 5, (16,))
    plain = make_loss("softmax", 8, 5, scale=30.0)
    am = make_loss("am", 8, 5, scale=30.0)
    am.weight.data = plain.weight.data.clone()
    assert am(emb, labels).item() > plain(emb, labels).item()
    big = make_loss("am", 8, 5, scale=1e4)
    assert math.isfinite(big(emb, labels).item())


def _hand_infonce(emb, labels, s):
    e = [[v / math.sqrt(sum(u * u for u in x)) for v in x] for x in emb.tolist()]
    lab, out = labels.tolist(), []
    for i in range(len(e)):
        sims = {j: s * sum(a * b for a, b in zip(e[i], e[j])) for j in range(len(e)) if j != i}
        lse = math.log(sum(math.exp(v) for v in sims.values()))
        pos = [j for j in sims if lab[j] == lab[i]]
        if pos:
            out.append(sum(lse - sims[j] for j in pos) / len(pos))
    return sum(out) / len(out)


def _hand_triplet(emb, labels, m):
    e = [[v / math.sqrt(sum(u * u for u in x)) for v in x] for x in emb.tolist()]
    lab, out = labels.tolist(), []
    d = lambda i, j: 1 - sum(a * b for a, b in zip(e[i], e[j]))  # noqa: E731
    for i in range(len(e)):
        pos = [d(i, j) for j in range(len(e)) if j != i and lab[j] == lab[i]]
        neg = [d(i, j) for j in range(len(e)) if lab[j] != lab[i]]
        if pos and neg:
            out.append(max(0.0, max(pos) - min(neg) + m))
    return sum(out) / len(out)


def test_infonce_and_triplet_equal_hand_built():
    torch.manual_seed(2)
    emb = torch.randn(9, 6, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3, 4])  # 3 and 4: anchors with no positive
    nce = make_loss("infonce", scale=10.0)
    assert nce(emb, labels).item() == pytest.approx(_hand_infonce(emb, labels, 10.0), rel=1e-9)
    tri = make_loss("triplet", margin=0.3)
    assert tri(emb, labels).item() == pytest.approx(_hand_triplet(emb, labels, 0.3), rel=1e-9)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_every_loss_is_finite_with_gradients(name):
    torch.manual_seed(3)
    emb = torch.randn(12, 8, requires_grad=True)
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    loss = make_loss(name, 8, 4)
    value = loss(emb, labels)
    value.backward()
    assert torch.isfinite(value) and value.item() > 0
    assert emb.grad is not None and emb.grad.abs().sum() > 0


def test_unknown_loss_lists_the_table():
    with pytest.raises(InputError) as err:
        make_loss("cosface2")
    for name in LOSS_NAMES:
        assert name in str(err.value)
    with pytest.raises(InputError):
        make_loss("a-softmax", margin=3.0)
    with pytest.raises(InputError, match="whole-number"):
        make_loss("sphereface", margin=2.5)
