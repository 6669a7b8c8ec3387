"""Each loss against an independent hand-built computation (pure Python math)."""
from __future__ import annotations

import math

import pytest
import torch

from similarity.losses import LOSS_NAMES, MARGINS, make_loss
from textgan.errors import InputError

TARGET = {  # the paper formulas, written independently of the library's table
    "softmax": lambda c, m: c,
    "am": lambda c, m: c - m,
    "aam": lambda c, m: math.cos(math.acos(c) + m),
    "a-softmax": lambda c, m: min(c, 8 * c**4 - 8 * c**2 + 1),
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
    s, m = (30.0, 4.0) if name == "a-softmax" else (30.0, 0.35)
    loss = make_loss(name, dim=5, n_classes=4, scale=s, margin=m).double()
    emb, labels = torch.randn(7, 5, dtype=torch.float64), torch.tensor([0, 1, 2, 3, 0, 1, 3])
    want = _hand_ce(emb, loss.weight.detach(), labels, s, m, TARGET[name])
    assert loss(emb, labels).item() == pytest.approx(want, rel=1e-9, abs=1e-9)


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
