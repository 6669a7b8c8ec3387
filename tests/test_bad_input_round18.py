"""Results of the twenty-fifth and twenty-sixth sweeps and of the leftovers of the twenty-fourth."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest

from helpers import FAQ


def _caught(fn, *args, **kwargs) -> list[str]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        fn(*args, **kwargs)
    return [str(w.message) for w in seen]


def test_eval_groups_unseen_in_training_are_named_as_knn_misses():
    """Sweep 24: held-out rows of groups the training lacks can only be kNN misses; they capped the
    epoch-choosing figure silently (evaluate-similarity --reference already warned)."""
    from similarity.heldout_rows import check_eval_groups

    msgs = _caught(check_eval_groups, ["a", "a", "x", "y"], ["a", "b"], "ev.csv")
    assert msgs == ["ev.csv: 2 group(s) are not training groups (2 rows, e.g. 'x'): those rows count as kNN misses"]
    assert _caught(check_eval_groups, ["a", "b"], ["a", "b", "c"], "ev.csv") == []


def test_labels_differing_only_in_spaces_merge_with_a_warning(tmp_path):
    """Sweep 24: ' spaced ' and 'spaced' were two groups in the file and one in the model, silently."""
    import similarity
    from textgan.workflow.core import read_corpus

    p = tmp_path / "d.csv"
    p.write_text("text,group\na b,spaced\nc d, spaced \ne f,other\ng h,other\n")
    msgs = _caught(similarity.load_groups, p)
    assert [m for m in msgs if "surrounding spaces" in m] == [
        f"{p}: column 'group': labels differing only in surrounding spaces are read as one group "
        "(1 such, e.g. ' spaced ' and 'spaced')"]
    assert not [m for m in _caught(read_corpus, p, "text", "group") if "surrounding" not in m]
    assert any("surrounding" in m for m in _caught(read_corpus, p, "text", "group"))
    q = tmp_path / "ok.csv"  # stripped alike everywhere: one form per group, nothing merged
    q.write_text("text,group\na b, spaced \nc d, spaced \ne f,other\ng h,other\n")
    assert not [m for m in _caught(similarity.load_groups, q) if "surrounding" in m]


def test_a_group_given_with_its_file_spaces_is_found(tmp_path):
    """Sweep 24: `--group ' spaced '`, the file's own spelling, was refused as unknown: labels are stripped."""
    from textgan.gan import load, sample, train_by_name

    x = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    groups = ["spaced"] * 20 + ["other"] * 20
    train_by_name("anchored", x, tmp_path / "g", groups=groups, steps=3, batch_size=16, log_every=10**9)
    model = load(tmp_path / "g")
    a, b = sample(model, 4, seed=1, group=" spaced "), sample(model, 4, seed=1, group="spaced")
    assert np.array_equal(a.numpy(), b.numpy())


def test_interpolate_warns_about_each_end_alone(tmp_path, faq):
    """Sweep 24: the unknown-token share was pooled over both ends, so an end made only of unknown
    tokens (the [UNK] vector: an arbitrary start) passed when the other end was ordinary."""
    import similarity
    import textgan
    from textgan.workflow.core import index_corpus

    cfg = similarity.TrainConfig(epochs=1, teacher="none", embed_dim=8, hidden_size=8)  # a word vocabulary
    model = similarity.train(cfg, faq[1], faq[2], tmp_path / "run", progress=False)
    index_corpus(model, FAQ, tmp_path / "ix", text_col="text", progress=False)
    msgs = _caught(textgan.interpolate, tmp_path / "ix", "zzzqqq", "where is my parcel please", steps=3)
    assert [m.split(":")[0] for m in msgs if "unknown to the model" in m] == ["sentence A"]


def test_flow_virtual_outliers_do_not_print_the_flow_folders_advice():
    """Sweep 24: the refit flow has no held-out rows by design; its warning spoke of `score --val-in`."""
    from textgan.workflow.vo_kinds import kind_sampler

    x = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    s = dataclasses.replace(kind_sampler("flow"), steps=2)
    assert not [m for m in _caught(s.fit, x, np.zeros(64, dtype=np.int64), 0) if "holdout" in m]
    assert s.sample(np.zeros(3, dtype=np.int64), 0).shape == (3, 8)



def test_calibration_rows_of_an_on_disk_index_step_over_their_repeats(tmp_path, faq):
    """Sweep 25: an on-disk index keeps repeated sentences; each held-out sentence found its twin at
    cosine 1.0 when left out of its own neighbours, the threshold became 1.0000 and every query was
    flagged out of domain, silently."""
    import textgan
    from textgan.common.vectors import drop_copies

    scores = np.array([[1.0, 1.0, 0.8, 0.7], [1.0, 0.9, 0.6, 0.5]], np.float32)
    ids = np.array([[4, 9, 2, 3], [5, 1, 2, 3]])
    assert drop_copies(scores, ids, [4, 5], 2).tolist() == [[pytest.approx(0.8), pytest.approx(0.7)],
                                                            [pytest.approx(0.9), pytest.approx(0.6)]]
    assert drop_copies(scores, ids, [4, 5], 4)[0, 2:].tolist() == [-np.inf, -np.inf]  # padded, never a copy
    once, twice = tmp_path / "once.txt", tmp_path / "twice.txt"
    once.write_text("".join(t + "\n" for t in faq[1]))
    twice.write_text("".join(t + "\n" for t in faq[1] * 2))
    thr = {}
    for name, corpus in (("once", once), ("twice", twice)):
        textgan.index_corpus(faq[0], corpus, tmp_path / name, storage="disk")
        thr[name] = textgan.score_texts(faq[0], ["how do i reset my password"], method="knn",
                                        index=tmp_path / name)["threshold"]
    assert thr["twice"] == pytest.approx(thr["once"], abs=1e-6) and thr["twice"] < 0.99
    # search lists each sentence once (round 24): the twice-held corpus answers as the once-held one
    hits = {name: textgan.search(tmp_path / name, ["how do i reset my password"], k=6)[0] for name in thr}
    assert [h["text"] for h in hits["twice"]] == [h["text"] for h in hits["once"]]
    assert len({h["text"] for h in hits["twice"]}) == 6


def test_join_indexes_refuses_a_copy_of_a_member(tmp_path, faq):
    """Sweep 25: `cp -r ix ix_copy` has another path but the same build: every hit came back twice."""
    import shutil

    import textgan
    from textgan.common.errors import InputError
    from textgan.index.members import join_indexes

    textgan.index_corpus(faq[0], FAQ, tmp_path / "ix", text_col="text")
    shutil.copytree(tmp_path / "ix", tmp_path / "ix_copy")
    with pytest.raises(InputError, match=r"ix_copy: a copy of .*ix \(the same build_id\): each index joins once"):
        join_indexes([tmp_path / "ix", tmp_path / "ix_copy"], tmp_path / "j")
    assert not (tmp_path / "j").exists()


def test_an_ivf_index_in_ram_keeps_faiss_native_warning_off_stderr(capfd):
    """Sweep 25: FAISS's own 'WARNING clustering 96 points to 8 centroids' line reached stderr
    (the on-disk build already silenced it; recall is measured and warned about in our words)."""
    import textgan

    x = np.random.default_rng(0).normal(size=(96, 8)).astype(np.float32)
    textgan.build_index(x, [f"s{i}" for i in range(96)], factory="IVF8,Flat")
    assert "WARNING clustering" not in capfd.readouterr().err


def test_opengan_outliers_that_are_corpus_sentences_are_dropped():
    """Sweep 25: the corpus given as its own outliers put held-out sentences on both sides of the
    selection's AUROC (0.53, exit 0)."""
    from textgan.common.errors import InputError
    from textgan.workflow.heldout import _outside

    x = np.eye(4, dtype=np.float32)
    out = np.array([[1, 0, 0, 0], [0, 0.6, 0.8, 0]], np.float32)
    with pytest.warns(UserWarning, match="--outliers: dropped 1 sentence"):
        assert _outside(out, x[:2], x[2:3]).tolist() == [[0, pytest.approx(0.6), pytest.approx(0.8), 0]]
    with pytest.raises(InputError, match="all 2 outlier sentences are corpus or held-out"):
        _outside(x[:2], x)


def test_opengan_names_the_set_that_is_too_small():
    from textgan.common.errors import InputError
    from textgan.ood.opengan import OpenGANConfig, train_opengan

    x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    with pytest.raises(InputError, match=r"^--outliers: opengan needs at least 2 outlier vectors, got 1$"):
        train_opengan(x, x[:5], OpenGANConfig(steps=1), x[:1])
    with pytest.raises(InputError, match=r"^opengan needs at least 2 held-out vectors, got 1$"):
        train_opengan(x, x[:1], OpenGANConfig(steps=1))


@pytest.mark.parametrize("model", [None, 5, np.zeros(3)])
def test_evaluate_functions_name_a_model_that_is_not_one(model):
    """Sweep 25: AttributeError: 'NoneType' object has no attribute 'encode' from inside evaluate.py."""
    import similarity
    from textgan.common.errors import InputError

    with pytest.raises(InputError, match="model must be a model folder .* or an encoder with .encode"):
        similarity.evaluate(model, ["a b", "c d", "e f"], ["x", "x", "y"])
    with pytest.raises(InputError, match="model must be a model folder"):
        similarity.spearman(model, ["a", "b"], ["c", "d"], [1.0, 2.0])
    with pytest.raises(InputError, match="model must be a model folder"):
        similarity.pair_metrics(model, ["a", "b"], ["c", "d"], [0, 1])


def test_a_parquet_file_of_no_rows_is_an_empty_dataset(tmp_path):
    """Sweep 25: 'cannot read dataset (ArrowInvalid: BatchSize must be greater than 0, got 0)'."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    import similarity
    from textgan.common.errors import InputError

    p = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string()), "group": pa.array([], pa.string())}), p)
    with pytest.raises(InputError, match=r"empty\.parquet: empty dataset$"):
        similarity.load_groups(p)


def test_search_says_an_ungated_index_answers_every_query(tmp_path, faq):
    """Sweep 25: `search` on an index in shards printed off-topic queries like answers (in_domain
    null), while `score --index` flagged them."""
    import textgan

    textgan.index_corpus(faq[0], FAQ, tmp_path / "ix", text_col="text", storage="disk")
    with pytest.warns(UserWarning, match="no out-of-domain gate .* every query is answered; `textgan score "
                                         "--index ... --method knn` flags out-of-domain queries"):
        hits = textgan.search(tmp_path / "ix", ["what is the capital of france"], k=1, gate=True)
    assert hits[0]["in_domain"] is None


def test_the_lexical_part_of_char_text_counts_single_characters():
    """Chinese has no spaces: char_wb's "word" is the whole sentence, whose rare 3-grams crowded out
    the characters paraphrases share (faq_zh unseen-group LOO 0.439 with 1-3 grams, 0.621 with 1)."""
    import dataclasses

    import similarity
    from similarity.gru import GRUEncoder, _word_grams

    assert len(_word_grams("借呗额度", 1)) == 6  # " 借 呗 额 度 " : the two spaces and four characters
    assert len(_word_grams("借呗额度", 3)) == 6 + 5 + 4  # 1-, 2- and 3-grams, as saved folders have them
    assert _word_grams("借呗额度", 3)[:6] == _word_grams("借呗额度", 1)  # unigrams first in both
    cfg = similarity.TrainConfig(teacher="none")
    assert dataclasses.replace(cfg, tokenizer="char").resolved().lexical_grams == 1
    assert cfg.resolved().lexical_grams == 3
    assert dataclasses.replace(cfg, tokenizer="char", lexical_grams=2).resolved().lexical_grams == 2
    with pytest.raises(Exception, match=r"--lexical-grams.*an integer in \[1, 5\]"):
        dataclasses.replace(cfg, lexical_grams=0).resolved()
    # a folder saved before the key reads 1-3 grams, as it was trained
    assert GRUEncoder(vocab_size=10, lexical_dim=8).lexical_grams == 3
    enc = GRUEncoder(vocab_size=10, lexical_dim=8, lexical_grams=1)
    assert enc.get_config_dict()["lexical_grams"] == 1
    enc.fit_lexical(["借呗额度", "花呗额度"])
    assert sorted(enc.text_grams("借呗").values()) == [1, 1, 2]  # " " twice, then each character once


def test_lexical_grams_round_trips_through_a_saved_char_model(tmp_path, cli_main):
    import json

    import similarity
    from helpers import ROOT

    code, _, err = cli_main("train-similarity", ROOT / "data" / "faq_zh.csv", "--epochs", "1", "--out",
                            tmp_path / "zh", "--quiet")
    assert code == 0, err
    saved = json.loads((tmp_path / "zh" / "model" / "encoder_config.json").read_text())
    assert saved["lexical_grams"] == 1 and saved["lexical_dim"] == 512
    model = similarity.load(tmp_path / "zh" / "model")
    a = model.encode(["借呗额度怎么提升"])
    b = similarity.load(tmp_path / "zh" / "model").encode(["借呗额度怎么提升"])
    assert np.array_equal(a, b)
    code, _, err = cli_main("train-similarity", FAQ, "--teacher", "none", "--lexical-dim", "0", "--lexical-grams",
                            "2", "--out", tmp_path / "o", "--quiet")
    assert code == 2 and "--lexical-grams: sets the lexical part, and this model has none" in err, err


def test_a_tampered_lexical_part_is_refused_by_the_encoder_itself():
    """Sweep 26: SentenceTransformer(path) runs the folder's encoder.py without similarity.load's
    checks: lexical_grams 0 made the lexical part all zeros, "2" and 2.5 were read as 2."""
    from similarity.gru import GRUEncoder

    for bad in (0, 9, "2", 2.5, True, None):
        with pytest.raises(ValueError, match="lexical_grams must be an integer in"):
            GRUEncoder(vocab_size=10, lexical_dim=8, lexical_grams=bad)
    with pytest.raises(ValueError, match="lexical_nfkc must be true or false"):
        GRUEncoder(vocab_size=10, lexical_dim=8, lexical_nfkc="yes")


def test_the_lexical_part_reads_full_width_text_as_the_tokenizer_does():
    """Sweep 26: the tokenizer applies NFKC, the lexical part only lower-cased: 'ＶＩＰ？' and 'VIP?'
    scored 0.38-0.72 on the lexical part. Folders saved before keep the raw text (their IDF)."""
    from similarity.gru import GRUEncoder

    new = GRUEncoder(vocab_size=10, lexical_dim=8, lexical_grams=1, lexical_nfkc=True)
    assert new.text_grams("我的ＶＩＰ会员？１２３") == new.text_grams("我的VIP会员?123")
    old = GRUEncoder(vocab_size=10, lexical_dim=8, lexical_grams=1)
    assert old.text_grams("ＶＩＰ") != old.text_grams("VIP")


def test_copies_that_differ_in_invisible_characters_or_unicode_form_are_repeats():
    """Sweep 26: a copy with a zero-width space (or in NFD) was a second sentence: loo_top1 1.0."""
    import unicodedata

    from similarity.heldout_rows import drop_duplicates, drop_seen
    from textgan.common.texts import warn_stripped_labels

    nfd = unicodedata.normalize("NFD", "café au lait")
    texts, groups, n = drop_duplicates(["café au lait", nfd, "reset\u200b password", "reset password"],
                                       ["a", "a", "b", "b"])
    assert (texts, n) == (["café au lait", "reset\u200b password"], 2)
    assert drop_seen(["x y", "reset password", "z w"], ["a", "b", "a"], ["reset\u200b password"], "ev") == \
        (["x y", "z w"], ["a", "a"])
    with pytest.warns(UserWarning, match=r"labels 'reset' and 'reset\\u200b' differ only in invisible"):
        warn_stripped_labels(["reset", "reset\u200b"], ["reset", "reset\u200b"], "group", "d.csv")


def test_scalars_and_0d_arrays_are_named_where_a_list_belongs():
    from textgan.common.errors import InputError
    from textgan.common.texts import as_labels, as_sentences

    with pytest.raises(InputError, match="texts: pass a list of sentences, not ndarray 'reset password'"):
        as_sentences(np.array("reset password"))
    with pytest.raises(InputError, match="texts: pass a list of sentences, not int '5'"):
        as_sentences(5)
    with pytest.raises(InputError, match="groups: pass one label per row, not ndarray 'a'"):
        as_labels(np.array("a"), 1)


def test_join_indexes_refuses_its_own_member_as_out_a_rebuild_and_non_paths(tmp_path, faq):
    """Sweep 26: out equal to a member replaced that input; a second build of one corpus (another
    build_id) returned every hit twice; None or 3 in the list died in pathlib."""
    import textgan
    from textgan.common.errors import InputError
    from textgan.index.members import join_indexes

    for name in ("a", "b"):
        textgan.index_corpus(faq[0], FAQ, tmp_path / name, text_col="text")
    before = sorted(p.name for p in (tmp_path / "b").iterdir())
    with pytest.raises(InputError, match="is one of the folders joined"):
        join_indexes([tmp_path / "a", tmp_path / "b"], tmp_path / "b")
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == before
    with pytest.raises(InputError, match=r"b: holds the same 528 sentences as .*a, in the same order: another build"):
        join_indexes([tmp_path / "a", tmp_path / "b"], tmp_path / "j")
    with pytest.raises(InputError, match="paths item 2 must be a path"):
        join_indexes([tmp_path / "a", None], tmp_path / "j")
    assert not (tmp_path / "j").exists()


def test_opengan_counts_a_repeated_outlier_sentence_once(tmp_path, cli_main, faq):
    """Sweep 26: one sentence five times passed the two-sentence check and read AUROC 1.0."""
    from helpers import assert_one_line_error

    rep = tmp_path / "oos.txt"
    rep.write_text("what is the weather on mars\n" * 5)
    code, _, err = cli_main("train-outlier", faq[0], FAQ, "--text-col", "text", "--source", "opengan",
                            "--outliers", rep, "--out", tmp_path / "o")
    assert_one_line_error(code, err, f"{rep}: 1 distinct out-of-scope sentence: the selection needs 2 or more")


@pytest.mark.parametrize("cmd", ["evaluate-similarity", "demo"])
def test_pair_cols_without_pairs_is_refused(tmp_path, cli_main, faq, cmd):
    from helpers import assert_one_line_error

    args = [faq[0], FAQ] if cmd == "evaluate-similarity" else [FAQ, "--out", tmp_path / "d"]
    code, _, err = cli_main(cmd, *args, "--pair-cols", "s1,s2,label")
    assert_one_line_error(code, err, "--pair-cols: names the columns of --pairs: give --pairs")
    assert not (tmp_path / "d").exists()


def test_a_joined_index_with_a_part_on_disk_names_itself_and_knn():
    from types import SimpleNamespace

    from textgan.common.errors import InputError
    from textgan.workflow.score import _check_on_disk

    idx = SimpleNamespace(meta={"storage": "shards", "members": [{"storage": "ram"}, {"storage": "disk"}]},
                          ntotal=96)
    with pytest.raises(InputError, match=r"^joined: an index of 96 vectors on disk .* --method knn"):
        _check_on_disk(idx, "joined", "mahalanobis", None, None)
    _check_on_disk(idx, "joined", "knn", None, None)  # knn reads shard by shard


def test_every_same_sentence_check_reads_invisible_and_unicode_variants_alike(tmp_path):
    """Sweep 27: repeats were found by text_key, but the reference overlap, --outliers, --unlabeled,
    the trained-sentence keys, the index's duplicates and the two-groups warning compared raw or
    stripped strings: a copy with U+200B (or U+200E, U+00AD) got past each of them."""
    import similarity
    from similarity.seen import _keys, sentence_keys, trained_share
    from textgan.common.texts import text_key, unicode_key, warn_two_groups

    s = "How do I reset my password?"
    for copy in (s + "\u200b", s + "\u200e", "How do I re\u00adset my password?", " " + s, s.replace("?", "？")):
        assert text_key(copy) == text_key(s) and unicode_key(copy) == s, repr(copy)
    fake = type("Enc", (), {"trained": sentence_keys([s]), "encode": lambda self, t, batch_size=256: None})()
    assert trained_share(fake, [s + "\u200b", "other"]) == 0.5
    fake.trained = np.unique(_keys([s + " "], lambda t: str(t).strip()))  # a model saved before: stripped text
    assert trained_share(fake, [s]) == 1.0
    with pytest.warns(UserWarning, match="repeat a sentence under another group"):
        warn_two_groups([s, s + "\u200b"], ["a", "b"], "d.csv")
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    import textgan
    idx = textgan.build_index(x, [s, s + "\u200b", "other"])
    assert idx.ntotal == 2 and idx.stats["duplicates_dropped"] == 1
    texts = [f"sentence number {i} of group {g}" for g in "ab" for i in range(4)]
    cfg = similarity.TrainConfig(epochs=1, teacher="none", embed_dim=8, hidden_size=8, loss="am", vo_start=1)
    with pytest.warns(UserWarning, match="dropped 2 outlier sentence"):
        similarity.train(cfg, texts, ["a"] * 4 + ["b"] * 4, tmp_path / "r", progress=False,
                         outliers=[texts[0] + "\u200b", texts[1] + "\u200e", "what is the weather"])


def test_a_reference_of_invisible_copies_warns_that_they_find_themselves():
    import similarity

    class Enc:
        def encode(self, texts, batch_size=256):
            rng = np.random.default_rng(len(texts))
            v = rng.normal(size=(len(texts), 4)).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    texts = ["a b c", "d e f", "g h i", "j k l"]
    with pytest.warns(UserWarning, match="4 sentence.s. of the data are also reference sentences"):
        similarity.evaluate(Enc(), texts, ["x", "x", "y", "y"], [t + "\u200b" for t in texts], ["x", "x", "y", "y"])


def test_train_semisup_needs_two_groups():
    """Sweep 27: one group trained, and classify put every sentence in it at confidence 1.0."""
    import textgan
    from textgan.common.errors import InputError

    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    with pytest.raises(InputError, match="labels: K\\+1 needs labelled sentences of at least 2 groups, found 1"):
        textgan.train_semisup(x[:8], ["a"] * 8, x[8:], "/nonexistent/never-written")


def test_calibration_scores_that_do_not_vary_are_refused():
    """Sweep 27: two --val-in sentences an encoder reads alike gave z-scores of 5e9 and threshold 0."""
    from textgan.common.errors import InputError
    from textgan.metrics import score_spread

    with pytest.raises(InputError, match=r"the knn scores of the 2 in-domain calibration rows do not vary"):
        score_spread(np.array([0.1062, 0.1062]), "knn")
    assert score_spread(np.array([0.1, 0.3]), "knn") == pytest.approx(0.1)
