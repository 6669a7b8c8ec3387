"""The lexical part's weight chosen on held-out scored pairs (similarity.lexical_choice): mixing the
saved parts again is re-encoding at the other weight, the weight that ranks the pairs best wins,
every saved vector moves with it, a given --lexical-weight is scored but kept, and the CLI says it."""
from __future__ import annotations

import json
import random
import warnings

import numpy as np
import pytest
import torch

import similarity
from helpers import FAQ, assert_one_line_error
from similarity.gru import GRUEncoder
from similarity.lexical_choice import GRID, check_pairs, choose_lexical_weight, gain_interval, mix, parts
from similarity.model import SentenceEncoder
from similarity.tokenization import train_tokenizer
from textgan.common.errors import InputError

TEXTS, GROUPS = similarity.load_groups(FAQ)
DIM = 64


def _encoder(weight: float = 0.2) -> SentenceEncoder:
    torch.manual_seed(0)
    tok = train_tokenizer(TEXTS, "word", 2000, 1)
    m = GRUEncoder(tok.get_vocab_size(), 16, 8, tokenizer=tok, lexical_dim=DIM, lexical_weight=weight).eval()
    m.fit_lexical(TEXTS)
    names = sorted(set(GROUPS))[:5]
    enc = SentenceEncoder(m, info={"train_config": {"lexical_dim": DIM, "lexical_weight": weight}})
    protos = np.stack([enc.encode([t for t, g in zip(TEXTS, GROUPS) if g == n]).mean(0) for n in names])
    enc.prototypes = names, protos / np.linalg.norm(protos, axis=1, keepdims=True)
    enc.heldout = enc.encode(TEXTS[:40])
    return enc


def _pairs(n: int = 60) -> tuple[list[str], list[str]]:
    rng = random.Random(0)
    return [rng.choice(TEXTS) for _ in range(n)], [rng.choice(TEXTS) for _ in range(n)]


def test_mixing_the_saved_parts_again_is_encoding_at_the_other_weight():
    enc = _encoder(0.3)
    v03 = enc.encode(TEXTS[:50])
    enc.module.lexical_weight = 0.8
    np.testing.assert_allclose(mix(*parts(v03, DIM), 0.8), enc.encode(TEXTS[:50]), atol=1e-5)
    gru, lex = parts(v03, DIM)
    assert np.allclose(np.linalg.norm(gru, axis=1), 1) and np.allclose(np.linalg.norm(lex, axis=1), 1)


@pytest.mark.parametrize("side", ["lexical", "gru"])
def test_the_weight_that_ranks_the_pairs_best_is_saved_with_every_vector(side, tmp_path):
    enc = _encoder(0.2)
    path = enc.save(tmp_path / "m")
    a, b = _pairs()
    (ga, la), (gb, lb) = parts(enc.encode(a), DIM), parts(enc.encode(b), DIM)
    # gold scores that are one part's cosines: the grid's end on that part's side ranks them best
    gold = ((la * lb) if side == "lexical" else (ga * gb)).sum(1).tolist()
    record = choose_lexical_weight(path, (a, b, gold), given=False)
    want = GRID[-1] if side == "lexical" else GRID[0]
    assert record["chosen"] == want and record["trained_weight"] == 0.2 and record["n_pairs"] == 60
    assert record["by_weight"][f"{want:g}"] == max(record["by_weight"].values())
    assert record["by_weight"][f"{want:g}"] > record["by_weight"]["0.2"] + 0.01
    got = similarity.load(path)  # digests re-recorded: it loads, at the new weight
    assert got.module.lexical_weight == want and got.info["train_config"]["lexical_weight"] == want
    assert got.info["lexical_choice"]["chosen"] == want
    enc.module.lexical_weight = want  # every saved vector is the re-encoded one
    np.testing.assert_allclose(got.encode(a), enc.encode(a), atol=1e-5)
    np.testing.assert_allclose(got.heldout, enc.encode(TEXTS[:40]), atol=1e-5)
    names, protos = got.prototypes
    lex_part = protos[:, -DIM:] / np.linalg.norm(protos[:, -DIM:], axis=1, keepdims=True)
    np.testing.assert_allclose(np.linalg.norm(protos[:, -DIM:], axis=1), np.sqrt(want), atol=1e-5)
    np.testing.assert_allclose(lex_part, parts(_encoder().prototypes[1], DIM)[1], atol=1e-5)


def test_a_gain_of_noise_size_keeps_the_trained_weight(tmp_path):
    enc = _encoder(0.2)
    path = enc.save(tmp_path / "m")
    before = (path / "similarity_config.json").read_bytes()
    a, b = _pairs(200)
    gold = np.random.default_rng(3).normal(size=200).tolist()  # scores unrelated to either part
    record = choose_lexical_weight(path, (a, b, gold), given=False)
    lo, hi = record["ci95_best_minus_trained"]
    assert record["best"] != 0.2 and lo <= 0 < hi and record["chosen"] == 0.2
    assert (path / "similarity_config.json").read_bytes() == before
    c = np.random.default_rng(0).normal(size=50)
    assert gain_interval(c, c, np.arange(50.0)) == (0.0, 0.0)


def test_a_given_weight_is_scored_but_kept(tmp_path):
    enc = _encoder(0.2)
    path = enc.save(tmp_path / "m")
    before = (path / "similarity_config.json").read_bytes()
    a, b = _pairs()
    (_, la), (_, lb) = parts(enc.encode(a), DIM), parts(enc.encode(b), DIM)
    record = choose_lexical_weight(path, (a, b, (la * lb).sum(1).tolist()), given=True)
    assert record["chosen"] == 0.2 and record["given"] and len(record["by_weight"]) == len(GRID)
    assert (path / "similarity_config.json").read_bytes() == before


def test_pairs_are_checked_before_training():
    cfg = similarity.TrainConfig(lexical_dim=DIM).resolved()
    a, b = _pairs()
    assert check_pairs(None, cfg) is None
    no_part = similarity.TrainConfig(lexical_dim=0).resolved()
    assert check_pairs((a, b, [1.0] * 60), no_part) is None  # nothing to choose
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert check_pairs((a[:5], b[:5], [0, 1, 0, 1, 2]), cfg, "dev.tsv") is None
    message = str(w[0].message)
    assert "5 scored pairs without a training sentence are too few" in message and "stays 0.2" in message
    # pairs with a training sentence are left out (the warning counts the rest)
    trained = [a[0].upper()] + b[:10]  # a copy in other case is the same sentence
    seen = {t.casefold() for t in trained}
    kept = check_pairs((a, b, list(range(60))), cfg, trained=trained)
    want = [i for i in range(60) if a[i].casefold() not in seen and b[i].casefold() not in seen]
    assert kept == ([a[i] for i in want], [b[i] for i in want], want) and 30 <= len(want) < 50
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert check_pairs((a, b, list(range(60))), cfg, "train.tsv", trained=a[:40]) is None
    assert "scored pairs without a training sentence are too few" in str(w[0].message)
    with warnings.catch_warnings(record=True) as w:  # 0/1 labels: nearly all of one label ranks nothing
        warnings.simplefilter("always")
        assert check_pairs((a, b, [1] * 5 + [0] * 55), cfg, "train.tsv") is None
    assert "5 pairs of one label (of 60) without a training sentence are too few" in str(w[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a given weight is not chosen: no word about too few pairs
        assert check_pairs((a, b, [1] * 5 + [0] * 55), cfg, "train.tsv", given=True) is None
    assert check_pairs((a, b, [1] * 10 + [0] * 50), cfg) is not None
    assert check_pairs((a, b, [1] * 60), cfg) is None  # a label column of one value ranks nothing: no choice
    assert check_pairs((a, b, list(np.arange(60, dtype=np.float32))), cfg) is not None  # numpy scores are numbers
    for bad, needle in [((a, b), "three lists"), ((a, b[:3], [1.0] * 60), "three lists"),
                        ((a, [""] * 60, [1.0] * 60), "non-blank"), ((a, b, [float("nan")] * 60), "finite")]:
        with pytest.raises(InputError, match=needle):
            check_pairs(bad, cfg)


def test_train_similarity_chooses_the_weight_on_scored_held_out_pairs(tmp_path, cli_main):
    """Paraphrase pairs (1) and pairs across groups (0) of FAQ; the held-out file's labels choose."""
    by = {}
    for t, g in zip(TEXTS, GROUPS):
        by.setdefault(g, []).append(t)
    names = sorted(by)
    rows = {"train": [], "held": []}
    for k, g in enumerate(names):
        s, other = by[g], by[names[(k + 1) % len(names)]]
        rows["train"] += [(s[i], s[i + 1], 1) for i in range(3)] + [(s[0], other[0], 0)]
        rows["held"] += [(s[i], s[i + 1], 1) for i in (4, 5)] + [(s[4], other[5], 0), (s[6], other[6], 0)]
    for name, r in rows.items():
        (tmp_path / f"{name}.tsv").write_text("s1\ts2\tlabel\n" + "".join(f"{x}\t{y}\t{z}\n" for x, y, z in r))
    args = ("train-similarity", tmp_path / "train.tsv", "--pair-cols", "s1,s2,label", "--eval-data",
            tmp_path / "held.tsv", "--teacher", "none", "--epochs", 2, "--lexical-dim", DIM, "--hidden", 16,
            "--embed-dim", 16, "--no-progress")
    code, out, err = cli_main(*args, "--out", tmp_path / "r")
    assert code == 0, err
    lw = json.loads((tmp_path / "r" / "heldout.json").read_text())["lexical_weight"]
    best = max(lw["by_weight"], key=lambda w: (lw["by_weight"][w], w == "0.2"))
    assert lw["best"] == float(best) and lw["n_pairs"] == len(rows["held"])
    assert lw["chosen"] == (lw["best"] if lw["ci95_best_minus_trained"][0] > 0 else 0.2)
    assert lw["reference"] == "tf-idf (char_wb 1-3)"  # no teacher: the char TF-IDF's Spearman beside it
    cfg = json.loads((tmp_path / "r" / "model" / "encoder_config.json").read_text())
    assert cfg["lexical_weight"] == lw["chosen"]
    line = [ln for ln in out.splitlines() if ln.startswith("lexical weight")][0]
    assert f"on {len(rows['held'])} scored pairs the model did not train on" in line
    assert f"{lw['by_weight'][best]:.3f}" in line and f"lexical weight {lw['chosen']:g} " in line
    assert f"tf-idf (char_wb 1-3) {lw['reference_spearman']:.3f}" in line
    code, out, err = cli_main(*args, "--lexical-weight", "0.5", "--out", tmp_path / "given")
    assert code == 0, err
    assert "at the given --lexical-weight 0.5" in out
    assert json.loads((tmp_path / "given" / "model" / "encoder_config.json").read_text())["lexical_weight"] == 0.5
    (tmp_path / "bad.tsv").write_text("s1\ts2\tlabel\n" + "".join(f"{x}\t{y}\tnan\n" for x, y, _ in rows["held"]))
    code, _, err = cli_main(*args[:4], tmp_path / "bad.tsv", *args[5:], "--out", tmp_path / "b")
    assert_one_line_error(code, err, "bad.tsv")


def test_a_second_choice_compares_with_the_weight_it_trained_at(tmp_path):
    """A run resumed after its choice finds the chosen weight in its model: the record still
    names the trained weight, and a second choice on the same pairs changes nothing."""
    enc = _encoder(0.2)
    path = enc.save(tmp_path / "m")
    a, b = _pairs()
    (_, la), (_, lb) = parts(enc.encode(a), DIM), parts(enc.encode(b), DIM)
    pairs = (a, b, (la * lb).sum(1).tolist())
    first = choose_lexical_weight(path, pairs, given=False)
    saved = (path / "similarity_config.json").read_bytes()
    again = choose_lexical_weight(path, pairs, given=False)
    assert first["chosen"] == again["chosen"] == GRID[-1] and again["trained_weight"] == 0.2
    assert (path / "similarity_config.json").read_bytes() == saved


def test_pairs_whose_cosines_are_all_alike_keep_the_model_as_it_is(tmp_path):
    """Pairs of a sentence with itself rank nothing: a warning after training, not an error that
    would end a finished run without its report."""
    path = _encoder(0.2).save(tmp_path / "m")
    before = (path / "similarity_config.json").read_bytes()
    a, _ = _pairs()
    with pytest.warns(UserWarning, match="the lexical weight stays 0.2: every pair has the same cosine"):
        assert choose_lexical_weight(path, (a, a, list(range(60))), given=False) is None
    assert (path / "similarity_config.json").read_bytes() == before
