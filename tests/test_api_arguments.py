"""The Python API's plain arguments (paths, counts, seeds, numbers, labels): a wrong type or value is
an `InputError` naming the argument, never a TypeError from inside pathlib, numpy or torch, and
never a silent result (NaN paths, zero prototypes, a config trained as another kind)."""
from __future__ import annotations

import numpy as np
import pytest

import similarity
import textgan
from textgan.common.errors import InputError


def unit(n: int, d: int = 8, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def gans(tmp_path_factory):
    """(unconditional GAN, anchored GAN over groups a/b/c) trained for a few steps on 8-d vectors."""
    tmp = tmp_path_factory.mktemp("gans")
    x = unit(96)
    plain = textgan.train_gan(x, tmp / "plain", config=textgan.GANConfig(steps=5, batch_size=32), progress=False)
    groups = ["a"] * 40 + ["b"] * 40 + ["c"] * 16
    anchored = textgan.train_gan(x, tmp / "anchored", groups=groups, kind="anchored", progress=False,
                                 config=textgan.GANConfig(steps=5, batch_size=32))
    return textgan.load_generator(plain), anchored


@pytest.mark.parametrize("call, needle", [
    (lambda: similarity.load(None), "the model must be a path (str or pathlib.Path), got None"),
    (lambda: similarity.load(3), "the model must be a path"),
    (lambda: textgan.encode("", ["a"]), "the model must be a path"),
    (lambda: textgan.load_index(None), "the index must be a path"),
    (lambda: textgan.load_generator(None), "the generator must be a path"),
    (lambda: similarity.load_groups(None), "the data file must be a path"),
    (lambda: similarity.load_texts(3.5), "the data file must be a path"),
])
def test_a_path_argument_that_is_not_a_path_is_named(call, needle):
    with pytest.raises(InputError, match=None) as info:
        call()
    assert needle in str(info.value)


def test_train_refuses_a_config_that_is_not_a_train_config(tmp_path):
    with pytest.raises(InputError, match="config must be a similarity.TrainConfig, got NoneType"):
        similarity.train(None, ["a", "b"], ["x", "x"], tmp_path / "run")
    with pytest.raises(InputError, match="--backbone must be gru, minilm or a local"):
        similarity.TrainConfig(backbone=3).resolved()  # was a TypeError inside pathlib


@pytest.mark.parametrize("n", [0, -1, 2.5, "3", True])
def test_sampling_a_loaded_generator_checks_the_count(gans, n):
    """`load_generator(...).sample(n)` is API too: it used to take any n (2.5 -> a torch TypeError)."""
    with pytest.raises(InputError, match=f"--n must be a whole number >= 1, got {n!r}"):
        gans[0].sample(n)


@pytest.mark.parametrize("seed", ["a", -1, 1.5, 2**63])
def test_sampling_checks_the_seed(gans, seed):
    with pytest.raises(InputError, match="seed must be a whole number in"):
        gans[0].sample(3, seed=seed)
    with pytest.raises(InputError, match="seed must be a whole number in"):
        textgan.generate(gans[0], 3, seed=seed)


def test_a_checked_sample_is_still_the_kind_s_own(gans):
    a, b = gans[0].sample(4, seed=7), gans[0].sample(np.int64(4), seed=np.int64(7))
    assert a.shape == (4, 8) and bool((a == b).all())  # numpy integers are whole numbers
    assert not bool((a == gans[0].sample(4, seed=8)).all())


def test_anchored_sampling_refuses_a_zero_prototype_and_a_bad_count(gans):
    model = textgan.load_generator(gans[1])
    with pytest.raises(InputError, match="all-zero vector"):
        model.sample_prototype(3, np.zeros(8))
    with pytest.raises(InputError, match="--n must be a whole number >= 1, got 0"):
        model.sample_prototype(0, unit(1)[0])
    assert model.sample_prototype(3, unit(1)[0], seed=1).shape == (3, 8)
    assert model.sample_prototype(3, unit(1), seed=1).shape == (3, 8)  # one row (1, D) is one prototype
    with pytest.raises(InputError, match=r"one 8-d vector, got an array of shape \(2, 8\)"):
        model.sample_prototype(3, unit(2))


def test_unit_rows_of_huge_or_tiny_entries_keep_their_direction():
    """1e38 entries overflowed the float32 norm to inf (rows of 0, then "all-zero row")."""
    from textgan.common.vectors import normalize_rows

    got = normalize_rows(np.array([[1e38, 1e38], [1e-30, 0.0], [3.0, 4.0]], dtype=np.float32))
    assert np.allclose(got, [[0.5 ** 0.5, 0.5 ** 0.5], [1, 0], [0.6, 0.8]])
    with pytest.raises(InputError, match=r"all-zero row \(row 2, counting from 1\)"):
        normalize_rows(np.array([[1.0, 0.0], [0.0, 0.0]]))


def test_hallucinate_checks_labels_prototypes_and_counts(gans):
    x, groups = unit(44, seed=1), ["a"] * 20 + ["b"] * 20 + ["c"] * 4
    with pytest.raises(InputError, match="groups: pass one label per row, not None"):
        textgan.hallucinate(x, None, 3, gan=gans[1])
    with pytest.raises(InputError, match="groups: 3 labels for 44 rows"):
        textgan.hallucinate(x, ["a", "b", "c"], 3, gan=gans[1])
    with pytest.raises(InputError, match="item 2 is float"):
        textgan.hallucinate(x, ["a", 1.5] + groups[2:], 3, gan=gans[1])
    with pytest.raises(InputError, match="--max-shots must be a whole number >= 2, got 2.5"):
        textgan.hallucinate(x, groups, 3, gan=gans[1], max_shots=2.5)
    with pytest.raises(InputError, match="prototype of group 'c' must be a finite non-zero 8-d vector"):
        textgan.hallucinate(x, groups, 3, gan=gans[1], prototypes={"c": np.zeros(8)})
    with pytest.raises(InputError, match="prototype of group 'c' must be"):
        textgan.hallucinate(x, groups, 3, gan=gans[1], prototypes={"c": "abc"})
    with pytest.warns(UserWarning, match="1 prototype\\(s\\) name no group of the data \\(e.g. 'zz'\\)"):
        v, labels, _ = textgan.hallucinate(x, groups, 3, gan=gans[1], prototypes={"zz": x[0]})
    assert labels == ["c"] * 3 and v.shape == (3, 8)
    # integer ids are labels too (CLINC's intent ids), read as their text
    _, labels, _ = textgan.hallucinate(x, [0] * 20 + [1] * 20 + [np.int64(2)] * 4, 2, gan=gans[1])
    assert labels == ["2", "2"]


def test_train_gan_refuses_a_config_of_another_kind(tmp_path):
    """GANConfig with kind="flow" trained a GAN and said nothing."""
    with pytest.raises(InputError, match="config is a GANConfig, kind 'flow' takes a FlowConfig"):
        textgan.train_gan(unit(64), tmp_path / "g", config=textgan.GANConfig(steps=2), kind="flow")
    assert not (tmp_path / "g").exists()


def test_slerp_walks_the_great_circle_and_refuses_what_has_no_path():
    a, b = np.eye(4)[0], np.eye(4)[1]
    path = textgan.slerp(a, 3 * b, 3)  # lengths do not matter: directions are walked
    assert np.allclose(path[1], (a + b) / np.sqrt(2)) and np.allclose(np.linalg.norm(path, axis=1), 1)
    for args, needle in [((np.zeros(4), b, 3), "a must be a finite, non-zero vector"),
                         ((a, np.full(4, np.nan), 3), "b must be a finite, non-zero vector"),
                         ((a, -a, 3), "opposite directions"),
                         ((a, b, 2.5), "steps must be a whole number >= 2, got 2.5"),
                         ((a, np.ones(3), 3), "two vectors of one size")]:
        with pytest.raises(InputError, match=None) as info:
            textgan.slerp(*args)
        assert needle in str(info.value)


def test_index_and_decode_arguments():
    x, texts = unit(12), [f"sentence {i}" for i in range(12)]
    with pytest.raises(InputError, match="seed must be an integer in \\[0, 2\\*\\*63\\), got -1"):
        textgan.build_index(x, texts, seed=-1)  # was numpy's "expected non-negative integer"
    with pytest.raises(InputError, match="encoder must be a dict"):
        textgan.build_index(x, texts, encoder="abc")
    idx = textgan.build_index(x, texts)
    for value in ["0.5", float("nan"), 1.5]:
        with pytest.raises(InputError, match="novelty_cosine must be a finite number in \\[-1.0, 1.0\\]"):
            textgan.decode(x[:2], idx, novelty_cosine=value)  # NaN called every vector "not novel"
    with pytest.raises(InputError, match="--k must be a whole number >= 1, got '2'"):
        textgan.decode(x[:2], idx, k="2")  # said "must be at least 1, got 2"
    rows = textgan.decode(x[:2], idx, k=2, novelty_cosine=-1.0)
    assert [r["neighbours"][0]["text"] for r in rows] == texts[:2] and not any(r["novel"] for r in rows)


def test_an_output_that_is_a_file_is_one_input_error(tmp_path):
    """similarity.train / train_gan into a file (or below one) raised FileExistsError from mkdir."""
    (tmp_path / "afile").write_text("keep me")
    texts = [f"sentence {i} of group {g}" for g in "abc" for i in range(6)]
    groups = [g for g in "abc" for _ in range(6)]
    cfg = similarity.TrainConfig(epochs=1, teacher="none", embed_dim=8, hidden_size=8)
    with pytest.raises(InputError, match="output folder is a file"):
        similarity.train(cfg, texts, groups, tmp_path / "afile", progress=False)
    with pytest.raises(InputError, match="not a folder \\(cannot write below it\\)"):
        similarity.train(cfg, texts, groups, tmp_path / "afile" / "run", progress=False)
    with pytest.raises(InputError, match="output folder is a file"):
        textgan.train_gan(unit(64), tmp_path / "afile", config=textgan.GANConfig(steps=2, batch_size=32))
    assert (tmp_path / "afile").read_text() == "keep me"
