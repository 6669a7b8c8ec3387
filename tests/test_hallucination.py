"""Few-shot hallucination (`textgan augment`, `textgan.augment`): groups with few sentences get
vectors around their prototype from variation learned on the well-populated groups."""
import csv

import numpy as np
import pytest

from helpers import FAQ, assert_one_line_error
from textgan.common.errors import InputError


@pytest.fixture(scope="module")
def fewshot_csv(faq, tmp_path_factory):
    """FAQ with every 6th group cut to 2 sentences, one group to 1, and one row without a group."""
    _, texts, groups, _ = faq
    names = sorted(set(groups))
    short = {n: 2 for n in names[::6]}
    short[names[1]] = 1
    rows, seen = [], {}
    for t, g in zip(texts, groups):
        seen[g] = seen.get(g, 0) + 1
        if seen[g] <= short.get(g, 99):
            rows.append((t, g))
    rows.append(("a sentence nobody labelled", ""))
    path = tmp_path_factory.mktemp("few") / "few.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([("text", "group"), *rows])
    return path, short


def test_augment_writes_labelled_vectors_for_the_few_shot_groups(faq, fewshot_csv, tmp_path, cli_main,
                                                                 monkeypatch):
    import tempfile

    model, _, _, vectors = faq
    path, short = fewshot_csv
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    code, out, err = cli_main("augment", model, path, "--per-group", 7, "--max-shots", 5, "--steps", 60,
                              "--out", tmp_path / "aug")
    assert code == 0, err
    x = np.load(tmp_path / "aug.npy")
    labels = (tmp_path / "aug.labels.txt").read_text().split()
    assert x.shape == (7 * len(short), vectors.shape[1]) and len(labels) == len(x)
    assert sorted(set(labels)) == sorted(short) and np.allclose(np.linalg.norm(x, axis=1), 1, atol=1e-5)
    # around each group's mean, as the generator was anchored: the nearest FAQ sentence is mostly of
    # the sample's own group (46% around the margin head's class weights, used before)
    near = np.asarray(faq[2])[(x @ vectors.T).argmax(1)]
    assert np.mean(near == np.asarray(labels)) >= 0.8
    assert "skipped group ''" in err and "no group label" in err
    assert "12 few-shot groups" in out and "54 base groups" in out
    assert not list((tmp_path / "tmp").iterdir())  # its scratch generator is gone


def test_augment_bad_inputs(faq, fewshot_csv, tmp_path, cli_main):
    import textgan
    from textgan.gan import make_kind, train_gan

    model, _, _, vectors = faq
    path, _ = fewshot_csv
    for n, msg in [(0, "--per-group must be a whole number >= 1, got 0"),
                   (10**12, "--per-group 1000000000000 for 12 groups makes 12000000000000 vectors that would need about")]:
        code, _, err = cli_main("augment", model, path, "--per-group", n, "--max-shots", 5, "--out", tmp_path / "a")
        assert_one_line_error(code, err, msg)
    code, _, err = cli_main("augment", model, FAQ, "--per-group", 3, "--max-shots", 5, "--out", tmp_path / "a")
    assert_one_line_error(code, err, "faq_en.csv", "no group has fewer than --max-shots 5")
    # a generator trained on another encoder's vectors, and one of a kind that cannot take a prototype
    other = train_gan(vectors, make_kind("anchored").config(steps=1, batch_size=16, width=8), tmp_path / "o",
                      groups=faq[2], meta={"encoder": {"fingerprint": "someone-else"}}, progress=False)
    code, _, err = cli_main("augment", model, path, "--per-group", 3, "--max-shots", 5, "--gan", other,
                            "--out", tmp_path / "a")
    assert_one_line_error(code, err, "the generator was built with encoder someone-else")
    plain = train_gan(vectors, make_kind("gan").config(steps=1, batch_size=16, width=8), tmp_path / "p", progress=False)
    with pytest.raises(InputError, match="needs an anchored model"):
        textgan.hallucinate(vectors[:20], ["a"] * 3 + ["b"] * 17, 2, max_shots=5, gan=plain)
    with pytest.raises(InputError, match="--max-shots: no group has 50 or more"):
        textgan.hallucinate(vectors[:20], ["a"] * 3 + ["b"] * 17, 2, max_shots=50)
    assert not list(tmp_path.glob("a*"))


def test_library_hallucinate_uses_given_prototypes(faq):
    import textgan

    _, _, groups, vectors = faq
    g = np.asarray(groups)
    few = sorted(set(groups))[0]
    keep = (g != few) | (np.cumsum(g == few) <= 2)
    target = vectors[g == sorted(set(groups))[5]].mean(0)
    x, labels, report = textgan.hallucinate(vectors[keep], g[keep].tolist(), 4, max_shots=3, steps=5,
                                            prototypes={few: target})
    assert labels == [few] * 4 and report["hallucinated"] == {few: 2} and len(report["base"]) == 65
    cos_target = (x @ (target / np.linalg.norm(target))).mean()
    assert cos_target > 0.5  # sampled around the given prototype, not the group mean
