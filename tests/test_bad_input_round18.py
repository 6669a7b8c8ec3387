"""Results of the twenty-fifth sweep and of the leftovers of the twenty-fourth."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

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

