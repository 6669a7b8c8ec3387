"""Bad inputs of this stop's CLI round (2026-12-04, night): each is one `error:` line and exit 2
that says what to change, never a message about an option the user did not pass."""
from __future__ import annotations

from helpers import FAQ, assert_one_line_error


def test_outliers_with_one_epoch_name_the_default_vo_start(cli_main, tmp_path):
    """`--outliers F --epochs 1` said "--vo-start must be at most the last epoch (1), got 2"."""
    (tmp_path / "oos.txt").write_text("what is the weather\nplay some music\n")
    code, _, err = cli_main("train-similarity", str(FAQ), "--outliers", str(tmp_path / "oos.txt"), "--epochs", "1",
                            "--teacher", "none", "--out", str(tmp_path / "r"))
    assert_one_line_error(code, err, "starts at epoch --vo-start 2 (its default), after the last epoch (1): "
                                     "pass --vo-start 1 or more --epochs")
    assert not (tmp_path / "r" / "model").exists()


def test_an_unreachable_hub_reads_the_cache_only_and_says_so(monkeypatch):
    """Offline, an `hf:` name took 25 s of hub retries before its error; the hub's host is now tried
    once (a TCP connect) and `datasets` told it is offline: a cached copy loads, else one line."""
    import socket
    import time

    import datasets
    import datasets.config
    import pytest
    from huggingface_hub import constants

    import similarity
    from textgan.common.errors import InputError

    def no_network(*args, **kwargs):
        raise OSError("Network is unreachable")

    seen = []

    def cached_only(name, split, **kwargs):  # stands in for datasets: what offline mode it saw
        seen.append((constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE))
        if name == "owner/cached":
            return datasets.Dataset.from_dict({"text": ["a b", "a c", "b c", "b d"], "group": ["x", "x", "y", "y"]})
        raise ConnectionError(f"Couldn't reach '{name}' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(datasets, "load_dataset", cached_only)
    before = constants.HF_HUB_OFFLINE
    assert similarity.load_groups("hf:owner/cached")[1] == ["x", "x", "y", "y"]
    start = time.perf_counter()
    with pytest.raises(InputError, match="hf:owner/gone: the Hugging Face Hub cannot be reached and the dataset is "
                                         "not in the local cache"):
        similarity.load_groups("hf:owner/gone")
    assert time.perf_counter() - start < 5
    assert seen == [(True, True), (True, True)] and constants.HF_HUB_OFFLINE == before  # restored


def test_the_demo_report_does_not_promise_a_rate_from_two_sentences():
    """A 36-sentence Chinese demo calibrated its gate on 2 sentences and said it keeps 95%."""
    from textgan.ood.gate import gate_promise

    rough = gate_promise({"n": 2, "promised_tpr": 0.95, "cross_fitted_tpr": 0.5, "calibrated_on": "held-out"})
    assert rough == ("calibrated on only 2 sentence(s), so its promise to keep 95% of in-domain queries is rough "
                     "(cross-fitted estimate 50%)")
    assert gate_promise({"n": 80, "promised_tpr": 0.95, "calibrated_on": "held-out"}) == \
        "which keeps 95% of the 80 corpus sentences it was calibrated on (held-out)"


def test_train_gan_names_the_vectors_file_and_a_table_given_as_labels(cli_main, tmp_path):
    import numpy as np

    np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(48, 8)).astype(np.float32))
    code, _, err = cli_main("train-gan", str(tmp_path / "v.npy"), "--out", str(tmp_path / "g"))
    assert_one_line_error(code, err, f"{tmp_path / 'v.npy'}: only 48 training rows, fewer than one batch")
    (tmp_path / "lab.csv").write_text("text,category\n" + "".join(f"s{i},c{i % 3}\n" for i in range(48)))
    code, _, err = cli_main("train-gan", str(tmp_path / "v.npy"), "--labels", str(tmp_path / "lab.csv"),
                            "--batch-size", "16", "--out", str(tmp_path / "g"))
    assert_one_line_error(code, err, "49 labels for 48 vectors (a labels file is one label a line, not a table")
