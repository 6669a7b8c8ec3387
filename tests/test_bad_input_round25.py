"""Round 25: options that would be accepted and ignored are refused (a weight without a penalty,
Adam's betas with RMSProp, a recall target for exact search, a memory budget an explicit factory
exceeds); JSON data files laid out as columns, arrays or one value say how to lay them out; an
invalid OMP_NUM_THREADS is named, not silently replaced; complex vectors are refused."""
from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import FAQ, assert_one_line_error


@pytest.fixture
def vecs(tmp_path):
    path = tmp_path / "v.npy"
    np.save(path, np.random.default_rng(0).normal(size=(64, 4)).astype("float32"))
    return path


@pytest.mark.parametrize("args, needle", [
    (["--penalty", "none", "--penalty-weight", "3"], "--penalty-weight: this run has no critic penalty"),
    (["--objective", "gan-ns", "--penalty-weight", "3"], "--penalty-weight: this run has no critic penalty"),
    (["--optimizer", "rmsprop", "--set", "betas=[0.1,0.9]"], "--set betas: betas are Adam's"),
    (["--objective", "wgan", "--set", "betas=[0.1,0.9]"], "--set betas: betas are Adam's"),  # the row's RMSProp
])
def test_train_gan_refuses_settings_the_run_would_ignore(tmp_path, cli_main, vecs, args, needle):
    code, _, err = cli_main("train-gan", vecs, "--out", tmp_path / "g", *args)
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "g").exists()


def test_train_gan_keeps_betas_with_adam_and_a_weight_with_a_penalty(tmp_path, cli_main, vecs):
    code, _, err = cli_main("train-gan", vecs, "--out", tmp_path / "g", "--objective", "wgan", "--optimizer", "adam",
                            "--set", "betas=[0.1,0.9]", "--penalty", "gp", "--penalty-weight", "3", "--steps", 2,
                            "--batch-size", 16, "--no-progress")
    assert code == 0, err
    config = json.loads((tmp_path / "g" / "config.json").read_text())
    cfg = config.get("config", config)
    assert cfg["betas"] == [0.1, 0.9] and cfg["penalty_weight"] == 3.0 and cfg["optimizer"] == "adam"


def test_exact_index_refuses_a_recall_target_and_a_factory_over_budget_before_encoding(tmp_path, cli_main, faq):
    model = faq[0]
    args = ["index", model, FAQ, "--text-col", "text", "--out", tmp_path / "ix"]
    code, _, err = cli_main(*args, "--factory", "Flat", "--target-recall", "0.9")
    assert_one_line_error(code, err, "--target-recall: a Flat index searches exactly")
    # 528 sentences x dim floats x 4 bytes is well over 0.01 MB: refused with the size it needs
    code, _, err = cli_main(*args, "--factory", "IVF4,Flat", "--memory-mb", "0.01")
    assert_one_line_error(code, err, "--factory 'IVF4,Flat' needs about", "over --memory-mb 0.01")
    assert not (tmp_path / "ix").exists()
    code, _, err = cli_main(*args, "--factory", "Flat", "--memory-mb", "100")  # it fits: built
    assert code == 0, err


def test_budget_estimate_matches_raw_vectors():
    from textgan.common.errors import InputError
    from textgan.index.choice import check_budget

    check_budget("Flat", 1000, 256, 1000 * 256 * 4 / 2**20)  # exactly the raw vectors: fits
    with pytest.raises(InputError, match="needs about 0.977 MB"):
        check_budget("Flat", 1000, 256, 0.9)
    check_budget("Flat", 10**9, 256, None)  # no budget: nothing to check


@pytest.mark.parametrize("content, needle", [
    ('{"text": ["a b", "c d", "e f", "g h"], "group": ["x", "x", "y", "y"]}', "one array per column ('text', 'group')"),
    ('[["a b", "x"], ["c d", "x"], ["e f", "y"], ["g h", "y"]]', "a list of arrays (fields without names)"),
    ("42", "the file holds a number, not rows"),
    ('"a sentence"', "the file holds a string, not rows"),
])
def test_json_layouts_that_are_not_records_say_how_to_write_them(tmp_path, cli_main, content, needle):
    data = tmp_path / "d.json"
    data.write_text(content)
    code, _, err = cli_main("train-similarity", data, "--teacher", "none", "--out", tmp_path / "r")
    assert_one_line_error(code, err, "d.json", needle, "list of records")


def test_a_header_of_blank_names_is_named(tmp_path, cli_main):
    data = tmp_path / "d.csv"
    data.write_text("  ,   \na b,x\nc d,x\ne f,y\ng h,y\n")
    code, _, err = cli_main("train-similarity", data, "--teacher", "none", "--out", tmp_path / "r")
    assert_one_line_error(code, err, "d.csv", "the header row names no column")


def test_eval_fraction_above_half_is_refused(tmp_path, cli_main):
    code, _, err = cli_main("train-similarity", FAQ, "--teacher", "none", "--eval-fraction", "0.99",
                            "--out", tmp_path / "r")
    assert_one_line_error(code, err, "--eval-fraction must be a number in (0, 0.5], got 0.99")


@pytest.mark.parametrize("value, dropped", [("abc", True), ("0", True), ("-2", True), ("2,1", False), ("3", False)])
def test_an_invalid_omp_num_threads_is_dropped_and_named(monkeypatch, value, dropped):
    from textgan.common import threads

    env = {"OMP_NUM_THREADS": value}
    monkeypatch.setattr(threads, "_IGNORED", {})
    threads.drop_invalid_thread_count(env)
    assert ("OMP_NUM_THREADS" not in env) is dropped
    if dropped:
        with pytest.warns(UserWarning, match=f"OMP_NUM_THREADS='{value}' is not a positive whole number"):
            assert threads.default_threads(env, affinity={0, 1, 2}, self_cgroup="") == 3
    else:
        assert threads.default_threads(env) == int(value.split(",")[0])


def test_train_gan_api_refuses_complex_and_missing_vectors(tmp_path):
    from textgan.common.errors import InputError
    from textgan.workflow.gan_train import train_gan

    with pytest.raises(InputError, match="complex numbers"):
        train_gan(np.ones((32, 4)) * (1 + 1j), tmp_path / "g")
    with pytest.raises(InputError, match="not NoneType"):
        train_gan(None, tmp_path / "g")
    assert not (tmp_path / "g").exists()


class _Copies:
    """An on-disk-like index whose three best rows are one sentence: a top-3 mean over them is 0.9."""

    ntotal, dim = 6, 2
    texts = ["a", "a", "a", "b", "c", "d"]
    meta = {"storage": "disk"}

    def search(self, v, k):
        scores = np.array([0.9, 0.9, 0.9, 0.6, 0.3, 0.0], np.float32)[:k]
        return np.tile(scores, (len(v), 1)), np.tile(np.arange(k, dtype=np.int64), (len(v), 1))


def test_knn_score_on_an_index_that_keeps_repeats_counts_each_sentence_once():
    from textgan.ood.scoring import knn_score

    v = np.ones((2, 2), np.float32)
    np.testing.assert_allclose(knn_score(v, _Copies(), k=3), [0.6, 0.6], rtol=1e-6)  # (0.9 + 0.6 + 0.3) / 3
    np.testing.assert_allclose(knn_score(v, _Copies(), k=1), [0.9, 0.9], rtol=1e-6)
    ram = _Copies()
    ram.meta = {}  # a RAM index holds no repeats: its rows are averaged as found
    np.testing.assert_allclose(knn_score(v, ram, k=3), [0.9, 0.9], rtol=1e-6)


def test_an_index_interrupted_after_publishing_says_what_it_left_on_its_abort_line(faq, tmp_path, cli_main,
                                                                                  monkeypatch):
    """The interrupt's warning was held and dropped with the abort: `error: aborted` said nothing
    of the index already in place."""
    import textgan.workflow.heldout as heldout

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(heldout, "calibrate_index_gate", interrupted)
    code, _, err = cli_main("index", faq[0], FAQ, "--text-col", "text", "--out", tmp_path / "ix")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 130 and len(lines) == 1, err
    assert lines[0].startswith(f"error: {tmp_path / 'ix'}: interrupted after the index was written"), err


def test_resume_into_another_command_s_run_folder_names_that_folder(tmp_path, cli_main, vecs):
    """It said "not a textgan GAN checkpoint (format None)" or "incomplete checkpoint (no 'config';
    written by an older version?)" about a perfectly good run of the other command."""
    code, _, err = cli_main("train-similarity", FAQ, "--teacher", "none", "--epochs", 1, "--no-progress",
                            "--out", tmp_path / "sim")
    assert code == 0, err
    code, _, err = cli_main("train-gan", vecs, "--steps", 2, "--batch-size", 16, "--no-progress", "--out",
                            tmp_path / "gan")
    assert code == 0, err
    code, _, err = cli_main("train-gan", vecs, "--steps", 4, "--batch-size", 16, "--resume", "--out", tmp_path / "sim")
    assert_one_line_error(code, err, "--resume: this is a train-similarity run folder", "not a train-gan run folder")
    code, _, err = cli_main("train-similarity", FAQ, "--teacher", "none", "--epochs", 2, "--resume",
                            "--out", tmp_path / "gan")
    assert_one_line_error(code, err, "--resume: this is a generator", "not a train-similarity run folder")
