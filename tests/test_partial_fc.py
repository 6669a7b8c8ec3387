"""similarity.partial_fc: sampled class centres and the lazy Adam that updates only their rows."""
from __future__ import annotations


def test_partial_fc_keeps_positives_and_matches_a_hand_written_cross_entropy():
    import torch
    import torch.nn.functional as F

    from similarity.losses import make_loss
    from similarity.partial_fc import init_rows, sample_classes, sharded_margin_loss

    labels = torch.tensor([3, 7, 3, 999])
    classes = sample_classes(labels, 1000, 50, torch.Generator().manual_seed(0))
    assert len(classes) == 50 and set(labels.tolist()) <= set(classes.tolist())
    assert torch.equal(classes, classes.sort().values)
    assert len(sample_classes(labels, 1000, 1)) == 3  # never fewer than the positives
    # a shard's rows are the same rows whatever the sharding
    assert torch.equal(init_rows(0, 9000, 8, 3)[4000:8500], init_rows(4000, 8500, 8, 3))

    torch.manual_seed(0)
    emb, y = F.normalize(torch.randn(6, 8), dim=1), torch.tensor([0, 5, 5, 19, 2, 2])
    w = torch.randn(20, 8)
    # all classes: AM-Softmax over the 20 centres, written out with F.cross_entropy
    ref = F.cross_entropy(30.0 * (emb @ F.normalize(w, dim=1).T - 0.35 * F.one_hot(y, 20)), y)
    got = sharded_margin_loss(emb, w, 0, y, None, 30.0, lambda c: c - 0.35)
    assert abs(float(got) - float(ref)) < 1e-5
    # sampled classes: the same over the sampled columns only, targets re-indexed
    cls = torch.tensor([0, 2, 5, 11, 19])
    sub = emb @ F.normalize(w[cls], dim=1).T  # (6, 5)
    t = torch.searchsorted(cls, y)
    ref = F.cross_entropy(30.0 * (sub - 0.35 * F.one_hot(t, 5)), t)
    assert abs(float(sharded_margin_loss(emb, w, 0, y, cls, 30.0, lambda c: c - 0.35)) - float(ref)) < 1e-5

    # the head built with --partial-fc: only sampled centres get a gradient
    head = make_loss("am", 8, 10_000, sample_rate=0.01, seed=1)
    head(emb, y).backward()
    touched = len(head.weight.grad.coalesce().indices()[0])  # a sparse gradient: sampled rows only
    assert touched == 100 and head.partial and not make_loss("am", 8, 20).partial
    # a step's sample is the same for every rank and for a resume: it is seeded by the iteration
    a = make_loss("am", 8, 1000, sample_rate=0.05, seed=1)
    b = make_loss("am", 8, 1000, sample_rate=0.05, seed=1)
    assert torch.equal(a(emb, y), b(emb, y)) and torch.equal(a(emb, y), b(emb, y))


def test_lazy_adam_is_adam_on_the_rows_it_touches():
    import torch

    from similarity.partial_fc import lazy_adam_

    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(50, 8))
    ref = torch.nn.Parameter(w.detach().clone())
    opt = torch.optim.Adam([ref], lr=1e-2)
    state = torch.zeros(50, 8), torch.zeros(50, 8), torch.zeros(50, dtype=torch.long)
    for _ in range(20):  # every row every step: bitwise torch.optim.Adam
        g = torch.randn(50, 8)
        w.grad, ref.grad = g.to_sparse(1), g.clone()
        lazy_adam_(w, *state, lr=1e-2)
        opt.step()
    assert torch.equal(w, ref)
    before = w.detach().clone()
    g = torch.zeros(50, 8)
    g[[3, 7]] = 1.0
    w.grad = g.to_sparse(1)
    lazy_adam_(w, *state, lr=1e-2)
    moved = (w != before).any(1).nonzero().flatten().tolist()
    assert moved == [3, 7] and state[2][3] == 21 and state[2][0] == 20
