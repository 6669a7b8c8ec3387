"""Round 21: what a new user following the README met (train-similarity's silent early stop,
augment's report with a given generator) and sweep 33's findings."""
from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import FAQ as ROOT_FAQ
from helpers import assert_one_line_error


def _run(tmp_path, epochs_run: int, **train):
    run = tmp_path / "run"
    run.mkdir()
    cfg = {"epochs": 16, "patience": 3, "max_steps": None, **train}
    (run / "config.json").write_text(json.dumps({"train": cfg}))
    (run / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e + 1}) + "\n" for e in range(epochs_run)))
    return run


def test_early_stop_is_said_with_the_epochs_run_and_the_patience(tmp_path, capsys):
    from textgan.commands.similarity import _echo_early_stop

    _echo_early_stop(_run(tmp_path, 9))
    assert capsys.readouterr().out == ("stopped early after epoch 9 of 16: no held-out gain for 3 epochs "
                                       "(--patience 3)\n")


def test_no_early_stop_line_for_a_full_run_a_step_cap_or_a_missing_file(tmp_path, capsys):
    from textgan.commands.similarity import _echo_early_stop

    for i, (n, train) in enumerate([(16, {}), (4, {"max_steps": 100}), (0, {})]):
        (tmp_path / str(i)).mkdir()
        _echo_early_stop(_run(tmp_path / str(i), n, **train))
    _echo_early_stop(tmp_path / "absent")
    assert capsys.readouterr().out == ""


def test_augment_with_a_given_generator_names_it_as_the_source(faq, tmp_path, cli_main):
    """"66 few-shot groups ... learned from 66 base groups" read as a slip when the variation came
    from a generator trained on the same groups."""
    from textgan.gan import make_kind, train_gan
    from textgan.common.vectors import encoder_meta

    import similarity

    model, texts, groups, vectors = faq
    g = np.asarray(groups)
    names = sorted(set(groups))[:3]
    keep = np.isin(g, names)
    gan = train_gan(vectors[keep], make_kind("anchored").config(steps=2, batch_size=8), tmp_path / "a",
                    groups=g[keep].tolist(), progress=False,
                    meta={"encoder": encoder_meta(similarity.load(model), model)})
    data = tmp_path / "few.csv"
    other = sorted(set(groups))[10]
    rows = [t for t, gg in zip(texts, groups) if gg == other][:2]
    data.write_text("text,group\n" + "".join(f'"{t}",{other}\n' for t in rows))
    code, out, err = cli_main("augment", model, data, "--per-group", 3, "--max-shots", 5, "--gan", tmp_path / "a",
                              "--out", tmp_path / "aug")
    assert code == 0, err
    assert f"for 1 few-shot groups ({other} (2)) with the variation of {tmp_path / 'a'} (trained on 3 groups)" in out
    assert np.load(tmp_path / "aug.npy").shape == (3, vectors.shape[1])


# sweep 33 -------------------------------------------------------------------------------------------

def _deep(n: int) -> str:
    return "[" * n + "]" * n


def test_data_files_nested_past_the_limit_are_refused_before_arrow_reads_them(tmp_path, faq, cli_main):
    """A JSONL value nested 100,000 deep crashed the process inside Arrow (exit 139, no output);
    5,000 deep gave a RecursionError traceback."""
    from textgan.common.errors import InputError
    from textgan.common.tables import MAX_JSON_DEPTH, check_json_depth

    f = tmp_path / "deep.jsonl"
    f.write_text('{"text": "a b", "group": "g"}\n{"text": "c d", "group": ' + _deep(100_000) + "}\n")
    code, out, err = cli_main("encode", faq[0], f, "--text-col", "text", "--out", tmp_path / "v.npy")
    assert code == 2 and err.strip().splitlines() == [
        f"error: {f}: line 2: a value nested more than {MAX_JSON_DEPTH} levels deep (a data file holds rows of "
        "sentences and labels)"]
    assert not (tmp_path / "v.npy").exists()
    # depth carried across the lines of a pretty-printed .json
    g = tmp_path / "deep.json"
    g.write_text("[\n" * 150 + '{"text": "a"}' + "\n]" * 150 + "\n")
    try:
        check_json_depth(g, limit=100)
        raise AssertionError("not refused")
    except InputError as exc:
        assert exc.problem.startswith("line 101: a value nested more than 100 levels deep")
    # brackets inside sentences are text, not nesting; the limit itself passes
    ok = tmp_path / "ok.jsonl"
    ok.write_text(json.dumps({"text": "[" * 5000 + ' \\" {{', "group": "g"}) + "\n"
                  + '{"text": "x", "group": ' + _deep(MAX_JSON_DEPTH - 1) + "}\n")
    check_json_depth(ok)


def test_artefact_json_too_deep_or_with_a_huge_integer_is_one_corrupt_json_line(tmp_path):
    from textgan.common.artifacts import load_json
    from textgan.common.errors import InputError

    for name, body in [("deep.json", '{"x": ' + _deep(100_000) + "}"), ("big.json", '{"x": ' + "9" * 5000 + "}")]:
        (tmp_path / name).write_text(body)
        try:
            load_json(tmp_path / name)
            raise AssertionError("not refused")
        except InputError as exc:
            assert exc.problem.startswith("corrupt JSON (") and len(exc.problem) < 260


def test_set_values_nested_too_deep_or_thousands_of_digits_long(tmp_path, cli_main):
    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    np.save(tmp_path / "v.npy", x)
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--out", tmp_path / "g", "--steps", 5,
                            "--set", "betas=" + _deep(5000))
    assert code == 2 and err.strip() == "error: --set betas: a value nested too deeply"
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--out", tmp_path / "g", "--steps", 5,
                            "--set", "betas=[0.5,1.5]")
    assert code == 2 and err.strip() == "error: --set betas must be in [0, 1), got (0.5, 1.5)"
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--out", tmp_path / "g", "--steps", 5,
                            "--set", "ema=" + "x" * 5000)
    assert code == 2 and len(err) < 300 and "(5002 characters)" in err, err[:300]
    assert not (tmp_path / "g").exists()


def test_control_characters_and_lone_combining_marks_are_blank_emoji_are_not():
    from textgan.common.texts import is_blank

    for t in ("\x01\x02\x03", "\u0301\u0300", "\x7f", "\ufe0f", " \u200b\x1b ", "\u2028"):
        assert is_blank(t), repr(t)
    for t in ("\U0001f600", "e\u0301", "a", "中", "\x01a"):
        assert not is_blank(t), repr(t)


def test_case_and_space_copies_are_one_sentence_everywhere(tmp_path):
    """The default tokenizer is uncased: "HOW DO I..." encodes to the very vector of "How do I...",
    so a lower-cased copy read loo_top1 1.0 and got past the trained-sentence warning."""
    from similarity.heldout_rows import drop_duplicates
    from similarity.seen import _keys, sentence_keys, trained_share
    from textgan.common.texts import text_key, unicode_key

    s = "How do I reset my password?"
    assert text_key("  HOW do  i reset my\tpassword?") == text_key(s) == "how do i reset my password?"
    assert drop_duplicates([s, s.upper(), s.lower(), "other"], list("abcd")) == ([s, "other"], ["a", "d"], 2)
    fake = type("Enc", (), {"trained": sentence_keys([s])})()
    assert trained_share(fake, [s.upper(), "How  do I reset my password?", "new"]) == 2 / 3
    fake.trained = np.unique(_keys([s], unicode_key))  # a model saved before case folding still matches
    assert trained_share(fake, [s, s + "\u200b"]) == 1.0


def test_augment_with_a_generator_that_records_no_encoder_warns(faq, tmp_path, cli_main):
    """generate-embeddings and score said it; augment --gan (a Chinese model's raw vectors) said nothing."""
    from textgan.gan import make_kind, train_gan

    model, texts, groups, vectors = faq
    g = np.asarray(groups)
    keep = np.isin(g, sorted(set(groups))[:3])
    train_gan(vectors[keep], make_kind("anchored").config(steps=2, batch_size=8), tmp_path / "a",
              groups=g[keep].tolist(), progress=False)
    data = tmp_path / "few.csv"
    other = sorted(set(groups))[10]
    data.write_text("text,group\n" + "".join(f'"{t}",{other}\n' for t, gg in zip(texts, groups) if gg == other))
    code, out, err = cli_main("augment", model, data, "--per-group", 2, "--max-shots", 9, "--gan", tmp_path / "a",
                              "--out", tmp_path / "aug")
    assert code == 0, err
    assert f"warning: {tmp_path / 'a'}: records no encoder (trained on raw vectors" in err


def test_gru_module_names_a_corrupt_json_file(tmp_path, faq):
    """SentenceTransformer(path) goes through GRUEncoder.load, not similarity.load's checks."""
    import shutil

    from similarity.gru import GRUEncoder

    folder = tmp_path / "m"
    shutil.copytree(faq[0], folder)
    rec = json.loads((folder / "similarity_config.json").read_text())
    (folder / "similarity_config.json").write_text(json.dumps(rec)[:-1] + ', "x": ' + _deep(100_000) + "}")
    try:
        GRUEncoder.load(str(folder))
        raise AssertionError("not refused")
    except ValueError as exc:
        assert str(exc) == f"{folder / 'similarity_config.json'}: corrupt JSON (RecursionError)"


def test_subpackages_are_reachable_after_import_textgan_alone():
    import subprocess
    import sys

    code = "import textgan; print(textgan.metrics.frechet_distance.__name__, textgan.ood.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["frechet_distance", "textgan.ood"], out.stderr


def test_index_gate_does_not_count_single_sentence_groups_of_its_calibration_split(faq, tmp_path, cli_main):
    """Every group has 3 sentences; the gate's classifier trains on the rows left after calibration,
    where some groups keep one: "3 group(s) with a single sentence" read as a fault of the corpus."""
    model, texts, groups, _ = faq
    names = sorted(set(groups))[:20]
    rows = [(t, g) for g in names for t in [t for t, gg in zip(texts, groups) if gg == g][:3]]
    data = tmp_path / "c.csv"
    data.write_text("text,group\n" + "".join(f'"{t}",{g}\n' for t, g in rows))
    code, out, err = cli_main("index", model, data, "--group-col", "group", "--out", tmp_path / "ix")
    assert code == 0, err
    assert "single sentence" not in err and "indexed 60 sentences" in out, (out, err)


def test_tables_print_control_characters_as_escapes(faq, tmp_path, cli_main):
    """A query or corpus sentence holding an ANSI sequence recoloured or cleared the user's terminal."""
    from textgan.common.texts import shown

    assert shown("a\x1b[2Jb\x07") == "a\\x1b[2Jb\\x07"
    assert shown("naïve 中文 \U0001f600") == "naïve 中文 \U0001f600"
    model, texts, groups, _ = faq
    data = tmp_path / "c.csv"
    rows = [(t, g) for t, g in zip(texts, groups) if g in sorted(set(groups))[:4]]
    rows[0] = ("\x1b[31m" + rows[0][0], rows[0][1])
    data.write_text("text,group\n" + "".join(f'"{t}",{g}\n' for t, g in rows))
    code, _, err = cli_main("index", model, data, "--group-col", "group", "--out", tmp_path / "ix")
    assert code == 0, err
    code, out, err = cli_main("search", tmp_path / "ix", "\x1b[2J" + rows[0][0][5:], "--k", 3)
    assert code == 0 and "\x1b" not in out and "\\x1b[2J" in out and "\\x1b[31m" in out, out


# sweep 34 -------------------------------------------------------------------------------------------

def test_json_labels_mixing_a_number_and_its_string_are_refused(tmp_path):
    from textgan.common.errors import InputError
    from textgan.gan import read_labels

    f = tmp_path / "labels.json"
    f.write_text(json.dumps([0, 1, "0", "1"]))
    try:
        read_labels(f)
        raise AssertionError("not refused")
    except InputError as exc:
        assert "rows 1 and 3 hold 0 as a number and as a string" in exc.problem
    f.write_text(json.dumps([0, 1, 1]))
    assert read_labels(f) == ["0", "1", "1"]


def test_a_single_scorer_method_given_two_gan_folders_is_refused():
    """flow / outlier / critic read the first --gan; the second was ignored (swapping them swapped the result)."""
    from textgan.common.errors import InputError
    from textgan.workflow.score import check_score_options

    for method in ("flow", "outlier", "critic"):
        try:
            check_score_options(method, None, None, 1, ["a", "b"])
            raise AssertionError("not refused")
        except InputError as exc:
            assert str(exc) == f"--gan: --method {method} reads one scorer, got 2 (--method combined sums them)"
    check_score_options("combined", None, None, 1, ["a", "b"])


def test_sampling_memory_counts_the_network_not_only_the_output(monkeypatch):
    """A flow peaked at 6.5x its output: --n 5,000,000 passed the check and the kernel killed the run."""
    import textgan.gan.saved as saved
    from textgan.common import memory
    from textgan.common.errors import InputError

    monkeypatch.setattr(memory, "available_memory", lambda: 2 * 2**30)  # 1 GiB may be used
    n = 2**30 // (256 * 4 * 2)  # the old count (output and its copy) fitted exactly
    try:
        saved.check_sample_count(n, 256)
        raise AssertionError("not refused")
    except InputError as exc:
        assert exc.problem.startswith(f"--n {n} would need about 4.0 GiB")
    assert saved.check_sample_count(n // saved.SAMPLE_COPIES * 2, 256) == n // saved.SAMPLE_COPIES * 2


def test_join_refuses_an_index_already_inside_an_earlier_join(tmp_path):
    import textgan
    from textgan.common.errors import InputError
    from textgan.index.members import join_indexes

    rng = np.random.default_rng(0)
    for name, lo in (("A", 0), ("B", 40)):
        x = rng.normal(size=(40, 8)).astype(np.float32)
        textgan.build_index(x, [f"s{lo + i}" for i in range(40)]).save(tmp_path / name)
    join_indexes([tmp_path / "A", tmp_path / "B"], tmp_path / "AB")
    for combo, said in [(["AB", "A"], "A: is already joined inside"), (["A", "AB"], "AB: holds"),
                        (["AB", "B"], "B: is already joined inside")]:
        try:
            join_indexes([tmp_path / c for c in combo], tmp_path / "X")
            raise AssertionError(f"{combo} not refused")
        except InputError as exc:
            assert str(exc).startswith(str(tmp_path / said.split(":")[0]) + ":" + said.split(":", 1)[1]), str(exc)
    assert not (tmp_path / "X").exists()


def test_score_warns_of_a_tiny_tpr_and_of_validation_text_the_model_cannot_read(faq, tmp_path, cli_main):
    model, texts, groups, _ = faq
    data = tmp_path / "c.csv"
    rows = [(t, g) for t, g in zip(texts, groups) if g in sorted(set(groups))[:6]]
    data.write_text("text,group\n" + "".join(f'"{t}",{g}\n' for t, g in rows))
    assert cli_main("index", model, data, "--group-col", "group", "--out", tmp_path / "ix")[0] == 0
    q = tmp_path / "q.txt"
    q.write_text("how do I reset my password\nwho painted the mona lisa\n")
    code, out, err = cli_main("score", model, q, "--index", tmp_path / "ix", "--method", "knn", "--tpr", "1e-9")
    assert code == 0 and "warning: --tpr 1e-09 keeps 0% of in-domain sentences: most in-domain queries" in err
    assert "(target TPR 1e-09; keeps " in err
    val = tmp_path / "val_zh.txt"
    val.write_text("我忘记了密码怎么办\n如何更改我的收货地址\n我的包裹在哪里\n怎样取消订单呢\n")
    code, out, err = cli_main("score", model, q, "--index", tmp_path / "ix", "--method", "knn", "--val-in", val)
    assert code == 0 and f"warning: {val}: " in err and "unknown to the model's vocabulary" in err, err


def test_demo_drops_repeats_before_its_split(tmp_path):
    """An upper-cased copy of each sentence put 28 of 30 held-out sentences in training: the untrained
    encoder read knn_top1 0.933 (0.375 without the copies), and the report said nothing."""
    import textgan
    from textgan.workflow.demo import DemoConfig

    import similarity

    texts, groups = similarity.load_groups(ROOT_FAQ)
    keep = sorted(set(groups))[:8]
    rows = [(t, g) for t, g in zip(texts, groups) if g in keep]
    data = tmp_path / "x2.csv"
    data.write_text("text,group\n" + "".join(f'"{t}",{g}\n' for t, g in rows + [(t.upper(), g) for t, g in rows]))
    with pytest.warns(UserWarning, match=f"dropped {len(rows)} duplicate sentence"):
        report = textgan.run_demo(data, tmp_path / "demo", config=DemoConfig(gan_steps=20), progress=False)
    res = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert res["n_sentences"] == len(rows) and res["n_duplicates_dropped"] == len(rows)
    assert f"({len(rows)} repeats dropped first)" in report.read_text()


def test_train_kplus1_warns_of_unlabelled_text_the_model_cannot_read(faq, tmp_path, cli_main):
    """Its rejection threshold is fitted on the unlabelled sentences: Chinese ones for an English model
    let every out-of-scope query through (classify flagged 0 of 8), without a word."""
    model, texts, groups, _ = faq
    data = tmp_path / "l.csv"
    rows = [(t, g) for t, g in zip(texts, groups) if g in sorted(set(groups))[:4]]
    data.write_text("text,group\n" + "".join(f'"{t}",{g}\n' for t, g in rows))
    unl = tmp_path / "u.txt"
    unl.write_text("".join(f"{s}\n" for s in ("我忘记了密码怎么办", "如何更改我的收货地址", "我的包裹在哪里",
                                                "怎样取消订单呢", "信用卡被锁了", "退款多久到账")))
    code, out, err = cli_main("train-kplus1", model, data, "--unlabeled", unl, "--steps", 5, "--out", tmp_path / "k")
    assert code == 0, err
    assert "warning: --unlabeled: " in err and "unknown to the model's vocabulary" in err, err


def test_out_of_memory_is_one_error_line_and_other_runtime_errors_stay_tracebacks(monkeypatch, cli_main):
    import textgan.gan.objectives as objectives

    class Boom:
        def __init__(self, exc):
            self.exc = exc

        def values(self):
            raise self.exc

    for exc in (MemoryError(), RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory")):
        monkeypatch.setattr(objectives, "OBJECTIVES", Boom(exc))
        code, out, err = cli_main("objectives")
        assert code == 2 and err.startswith("error: out of memory: ask for less") and len(err.splitlines()) == 1
    monkeypatch.setattr(objectives, "OBJECTIVES", Boom(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        cli_main("objectives")


def test_groups_left_with_one_sentence_by_dropped_repeats_are_dropped_too(tmp_path, cli_main):
    """Groups of a sentence and its upper-cased copy trained on groups of one: held-out loo_top1 0.000."""
    import similarity

    texts, groups = similarity.load_groups(ROOT_FAQ)
    first = {}
    for t, g in zip(texts, groups):
        first.setdefault(g, t)
    data = tmp_path / "case2.csv"
    data.write_text("text,group\n" + "".join(f'"{t}",{g}\n"{t.upper()}",{g}\n' for g, t in first.items()))
    code, out, err = cli_main("train-similarity", data, "--out", tmp_path / "run")
    assert_one_line_error(code, err, f"error: {data}: no group has two or more sentences ({len(first)} group(s) of "
                          "one; repeated sentences, equal up to case and spacing, count once)")  # round 24: alone
    assert not (tmp_path / "run").exists()
