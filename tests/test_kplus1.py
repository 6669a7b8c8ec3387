"""Semi-supervised K+1 classification (textgan.workflow.kplus1, `train-kplus1`, `classify`)."""
import numpy as np
import pytest
import torch

from helpers import FAQ, assert_one_line_error
from textgan.workflow import kplus1
from textgan.common.errors import InputError
from textgan.gan.kplus1 import KPlus1Config, feature_matching, k_plus_1_losses


def test_k_plus_1_losses_match_the_k_plus_1_softmax():
    """With the generated class's logit fixed at 0, the unsupervised loss is the K+1 cross-entropy of
    'real' (any of the K) for real rows and of 'generated' for fake rows."""
    g = torch.Generator().manual_seed(0)
    l_lab, l_unl, l_fake = (torch.randn(5, 4, generator=g) for _ in range(3))
    y = torch.tensor([0, 1, 2, 3, 0])
    sup, unsup = k_plus_1_losses(l_lab, y, l_unl, l_fake)
    full = lambda l: torch.cat([l, torch.zeros(len(l), 1)], 1).softmax(1)  # noqa: E731  (B, K+1)
    ref_unsup = -full(l_unl)[:, :4].sum(1).log().mean() - full(l_fake)[:, 4].log().mean()
    assert torch.allclose(unsup, ref_unsup, atol=1e-6)
    assert torch.allclose(sup, -l_lab.log_softmax(1)[torch.arange(5), y].mean())
    f = torch.randn(6, 3, generator=g)
    assert torch.allclose(feature_matching(f, f + 1), torch.tensor(3.0))


@pytest.fixture(scope="module")
def k1_model(faq, tmp_path_factory):
    model, texts, groups, vectors = faq
    g = np.asarray(groups)
    first = np.array([np.sum(g[:i + 1] == g[i]) <= 2 for i in range(len(g))])  # 2 labelled per group
    out = tmp_path_factory.mktemp("k1") / "m"
    cfg = KPlus1Config(steps=300, batch_size=64, width=128, noise_dim=16, seed=0)
    path = kplus1.train(vectors[first], g[first].tolist(), vectors[~first], out, config=cfg,
                         encoder={"fingerprint": __import__("similarity").load(model).fingerprint,
                                  "path": str(model)})
    return path, first


def test_classify_sentences_and_vectors(faq, k1_model, tmp_path, cli_main):
    model, texts, groups, vectors = faq
    path, first = k1_model
    r = kplus1.classify_vectors(path, vectors[~first])
    acc = np.mean(np.asarray(r["group"]) == np.asarray(groups)[~first])
    assert acc > 0.15, acc  # 66 groups, chance 0.015; 2 labelled sentences each
    assert r["in_scope"].mean() > 0.5 and 0 < r["confidence"].min() <= r["confidence"].max() <= 1
    (tmp_path / "q.txt").write_text("how do i reset my password\nwhat is the weather on mars\n")
    code, out, err = cli_main("classify", path, tmp_path / "q.txt", "--out", tmp_path / "c.jsonl")
    assert code == 0, err
    assert len(out.splitlines()) == 2 and len((tmp_path / "c.jsonl").read_text().splitlines()) == 2


def test_kplus1_bad_inputs(faq, k1_model, tmp_path, cli_main):
    model, texts, groups, vectors = faq
    (tmp_path / "empty.txt").write_text("\n")
    (tmp_path / "q.txt").write_text("hello\n")
    code, _, err = cli_main("train-kplus1", model, FAQ, "--unlabeled", tmp_path / "empty.txt",
                            "--out", tmp_path / "k")
    assert_one_line_error(code, err, "empty.txt")
    one = tmp_path / "one.csv"
    one.write_text("text,group\nreset my password,pw\nforgot my password,pw\n")
    code, _, err = cli_main("train-kplus1", model, one, "--unlabeled", tmp_path / "q.txt", "--out", tmp_path / "k1")
    assert_one_line_error(code, err, "one.csv", "at least 2 groups, found 1")
    assert not (tmp_path / "k1").exists()
    with pytest.raises(InputError, match="no unlabelled vectors"):
        kplus1.train(vectors[:10], groups[:10], np.zeros((0, vectors.shape[1])), tmp_path / "k2")
    # a K+1 model whose vectors came from another encoder is never fed this encoder's vectors
    other = kplus1.train(vectors[:40], groups[:40], vectors[40:80], tmp_path / "o",
                          config=KPlus1Config(steps=1, batch_size=16, width=8),
                          encoder={"fingerprint": "another-encoder", "path": str(model)})
    code, _, err = cli_main("classify", other, tmp_path / "q.txt")
    assert_one_line_error(code, err, "the K+1 model was built with encoder another-en")
    code, _, err = cli_main("classify", model, tmp_path / "q.txt")
    assert_one_line_error(code, err, "this is a similarity model folder, not a generator / scorer folder")
