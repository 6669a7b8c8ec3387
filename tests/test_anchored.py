"""Class-anchored generation (textgan.gan.anchored): samples stay in their group, unseen groups
are sampled from their prototype, external prototypes are used, both conditionings train."""
import json

import numpy as np
import pytest
import torch

import textgan
from textgan.common.errors import InputError
from textgan.gan import load, make_kind
from textgan.gan.anchored import AnchoredGenerator, prototype_of

torch.set_num_threads(1)


def blobs(k=6, n=40, dim=8, seed=0):
    """k well-separated groups of unit vectors around random centres."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(k, dim, generator=g), dim=1)
    x = centres.repeat_interleave(n, 0) + 0.15 * torch.randn(k * n, dim, generator=g)
    return torch.nn.functional.normalize(x, dim=1).numpy(), [f"g{i}" for i in range(k) for _ in range(n)], centres


def in_group(samples, x, groups, name):
    return float(np.mean(np.asarray(groups)[(samples @ x.T).argmax(1)] == name))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    x, groups, _ = blobs()
    root = tmp_path_factory.mktemp("anch")
    cfg = make_kind("anchored").config(steps=150, batch_size=64, width=32, noise_dim=4, embed_dim=8, seed=0)
    return x, groups, textgan.train_gan(x[:200], root / "a", config=cfg, groups=groups[:200], progress=False)


def test_groups_given_default_to_the_anchored_kind_and_samples_land_in_their_group(trained):
    x, groups, out = trained
    m = load(out)
    assert m.kind == "anchored" and m.groups == [f"g{i}" for i in range(5)]
    assert all(in_group(m.sample(30, seed=i, group=n).numpy(), x, groups, n) >= 0.9 for i, n in enumerate(m.groups))
    # g5 was never trained on: a prototype from three of its examples is enough
    novel = m.sample_prototype(30, prototype_of(x[200:203]), seed=0).numpy()
    assert in_group(novel, x, groups, "g5") >= 0.9
    with pytest.raises(InputError, match="unknown group 'g5'.*sample_prototype"):
        m.sample(2, group="g5")


def test_residual_is_clipped_so_a_sample_never_cancels_its_prototype():
    g = AnchoredGenerator(4, 2, 3, 8, 1, "concat", "sphere", residual_init=50.0)
    g.max_residual.fill_(0.5)
    p = torch.nn.functional.normalize(torch.randn(64, 4), dim=1)
    x = g(torch.randn(64, 2), p)
    # |r| <= 0.5 => cos(x, p) >= (1 - 0.5) / 1.5 at worst; well above any other direction's
    assert ((x * p).sum(1) >= 0.5 / 1.5 - 1e-5).all()


@pytest.mark.parametrize("gen_cond", ["selfmod", "concat"])
def test_external_prototypes_are_used_and_saved(tmp_path, gen_cond):
    x, groups, centres = blobs(k=3, n=20, dim=5)
    given = np.eye(5, dtype=np.float32)[:2]
    cfg = make_kind("anchored").config(steps=2, batch_size=16, width=8, noise_dim=2, embed_dim=2, gen_cond=gen_cond)
    out = textgan.train_gan(x, tmp_path / "m", config=cfg, groups=groups, prototypes=(["g0", "g1"], given),
                             progress=False)
    m = load(out)
    assert torch.allclose(m.prototypes[:2], torch.from_numpy(given))
    assert torch.allclose(m.prototypes[2], torch.nn.functional.normalize(torch.from_numpy(x[40:].mean(0)), dim=0))
    assert json.loads((out / "config.json").read_text())["config"]["prototypes"].endswith("m.prototypes.json")
    with pytest.raises(InputError, match="not a finite non-zero 5-d vector"):
        textgan.train_gan(x, tmp_path / "bad", config=cfg, groups=groups, prototypes=(["g0"], np.zeros((1, 5))),
                           progress=False)
    with pytest.raises(InputError, match="anchored kind only"):
        textgan.train_gan(x, tmp_path / "u", config=make_kind("gan").config(steps=1), prototypes=(["g0"], given[:1]))
    with pytest.raises(InputError, match="--set gen_cond must be one of concat, selfmod"):
        textgan.train_gan(x, tmp_path / "c", config=make_kind("anchored").config(gen_cond="film"), groups=groups)


def test_cli_train_gan_with_labels_defaults_to_anchored(tmp_path, cli_main):
    x, groups, _ = blobs(k=3, n=20, dim=5)
    np.save(tmp_path / "v.npy", x)
    (tmp_path / "l.txt").write_text("\n".join(groups))
    code, out, err = cli_main("train-gan", tmp_path / "v.npy", "--labels", tmp_path / "l.txt", "--steps", 2,
                              "--batch-size", 16, "--width", 8, "--out", tmp_path / "m")
    assert code == 0 and "saved anchored model" in out, err
    code, out, err = cli_main("generate-embeddings", tmp_path / "m", "--group", "g2", "--n", 4, "--out", tmp_path / "s")
    assert code == 0 and np.load(tmp_path / "s.npy").shape == (4, 5), err
