"""Results of the twenty-first sweep and of the known problems left open after the twentieth."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_empty_cache_variables_count_as_unset():
    """XDG_CACHE_HOME="" made huggingface_hub's cache the relative path "huggingface": every CSV the
    CLI read left a huggingface/ folder in the current directory."""
    from textgan.common.paths import drop_empty_cache_vars

    env = {"XDG_CACHE_HOME": "", "HF_HOME": "  ", "HF_DATASETS_CACHE": "/c", "OTHER": ""}
    drop_empty_cache_vars(env)
    assert env == {"HF_DATASETS_CACHE": "/c", "OTHER": ""}


def test_the_cli_drops_them_before_the_hub_reads_its_cache_root(tmp_path):
    code = ("import cli, huggingface_hub.constants as c, datasets.config as d, os;"
            "print(os.path.isabs(c.HF_HOME), os.path.isabs(str(d.HF_DATASETS_CACHE)))")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": "", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["True", "True"], out.stderr[-500:]


def test_an_interrupt_is_one_line_when_stderr_is_not_a_terminal(capsys):
    """SIGTERM is turned into KeyboardInterrupt; click then printed a blank line before ours."""
    import pytest

    import cli

    @cli.cli.command("interrupted-for-test")
    def interrupted():
        raise KeyboardInterrupt

    try:
        with pytest.raises(SystemExit) as stop:
            cli.main(["interrupted-for-test"])
    finally:
        cli.cli.commands.pop("interrupted-for-test")
    assert stop.value.code == 130
    assert capsys.readouterr().err == "error: aborted\n"


def test_a_run_without_a_teacher_is_held_against_char_tfidf(tmp_path, capsys):
    """A Chinese run (no teacher by default) printed no held-out figure at all: it now prints the
    model's beside a character TF-IDF's on the same held-out sentences, and advice when below."""
    import json

    from helpers import run_cli

    from similarity.advice import baseline_advice
    from similarity.baseline import NAME as BASELINE
    from similarity.baseline import tfidf_vectors
    from similarity.evaluate import knn_top1

    train, ev = ["红色的苹果", "绿色的梨子", "红苹果", "绿梨"], ["苹果红", "梨子绿"]
    t, e = tfidf_vectors(train, train, ev)
    assert knn_top1(e, ["a", "p"], t, ["a", "p", "a", "p"]) == 1.0  # shared characters find the group
    assert baseline_advice({"loo_top1": 0.5}, {"loo_top1": 0.504}, ("loo_top1",)) is None  # within half a point
    assert "loo_top1 0.500 vs 0.600" in baseline_advice({"loo_top1": 0.5}, {"loo_top1": 0.6}, ("loo_top1",))

    data = tmp_path / "zh.csv"
    rows = [(f"{c}{d}的问题{i}", c) for c in "甲乙丙丁戊己" for d in "天地人" for i in range(2)]
    data.write_text("text,group\n" + "".join(f"{t},{g}\n" for t, g in rows), encoding="utf-8")
    code, out, err = run_cli(capsys, "train-similarity", data, "--out", tmp_path / "run", "--epochs", "1",
                             "--hidden", "16", "--embed-dim", "16", "--quiet")
    assert code == 0, err
    h = json.loads((tmp_path / "run" / "heldout.json").read_text())
    assert h["baseline_name"] == BASELINE and "teacher" not in h and set(h["baseline"]) == set(h["model"])
    assert h["baseline"]["knn_top1"] == 1.0  # the group's character starts every sentence
    line = [ln for ln in out.splitlines() if ln.startswith("held-out")][0]
    assert f"knn_top1 model {h['model']['knn_top1']:.3f} vs {BASELINE} 1.000" in line
    ci = h["ci95_model_minus_ref"]  # the advice follows the paired interval (round 22)
    assert (h["recommendation"] is not None) == (any(hi < 0 for _, hi in ci.values())
                                                 and not any(lo > 0 for lo, _ in ci.values()))



def test_pair_accuracy_at_the_majority_share_warns(tmp_path, capsys):
    """AFQMC read pair_accuracy 0.690 for model and teacher alike, the share of its non-paraphrases,
    with nothing saying that no threshold did better than calling every pair one."""
    import json

    from helpers import faq_model, run_cli

    model, texts, _, _ = faq_model()
    pairs = tmp_path / "p.tsv"
    # the non-paraphrases are sentences beside themselves (cosine 1): no threshold finds the paraphrases
    rows = [(texts[i], texts[i], 0) for i in range(8)] + [(texts[0], texts[400], 1), (texts[1], texts[300], 1)]
    pairs.write_text("sentence1\tsentence2\tscore\n" + "".join(f"{a}\t{b}\t{y}\n" for a, b, y in rows))
    code, out, err = run_cli(capsys, "evaluate-similarity", model, "--pairs", pairs, "--teacher", "none")
    assert code == 0, err
    assert json.loads(out)["pair_accuracy"] == 0.8
    # no teacher: the char TF-IDF is the comparison (its cosines of identical sentences are 1 too)
    assert json.loads(out)["baseline"] == dict(json.loads(out)["baseline"], name="tf-idf (char_wb 1-3)",
                                                 pair_accuracy=0.8)
    assert "metric           model   tf-idf" in err
    assert "pair_accuracy of the model (0.8000) is the share of the majority class" in err
    assert "calling every pair a non-paraphrase" in err
    sane = tmp_path / "q.tsv"
    sane.write_text("sentence1\tsentence2\tscore\n" + "".join(f"{a}\t{b}\t{1 - y}\n" for a, b, y in rows))
    code, out, err = run_cli(capsys, "evaluate-similarity", model, "--pairs", sane, "--teacher", "none")
    assert code == 0 and json.loads(out)["pair_accuracy"] == 1.0 and "majority" not in err, err


def test_a_warning_is_said_once_per_command(capsys):
    """evaluate-similarity reads the data for the model and again for its teacher: each warning came twice."""
    import warnings

    from textgan.commands.common import warnings_as_lines

    with warnings_as_lines():
        for _ in range(2):
            warnings.warn("dropped 3 repeated sentence(s)", stacklevel=1)
        warnings.warn("another", stacklevel=1)
    assert capsys.readouterr().err == "warning: dropped 3 repeated sentence(s)\nwarning: another\n"


def test_a_dataset_folder_of_one_train_file_keeps_its_labels_as_written(tmp_path):
    """`hf:FOLDER` went through datasets' type inference: labels 1, 01 and 1.0 became one group
    (CSV), and 1 beside "1" merged (JSON), where the same file read directly keeps or refuses them."""
    import json

    import pytest

    import similarity
    from textgan.common.errors import InputError

    (tmp_path / "c").mkdir()
    (tmp_path / "j").mkdir()
    labels = ["1", "01", "1.0", "2"]
    (tmp_path / "c" / "train.csv").write_text("text,group\n" + "".join(
        f"sentence {k} of {g},{g}\n" for g in labels for k in range(2)))
    (tmp_path / "j" / "train.jsonl").write_text("".join(
        json.dumps({"text": f"s {k} {g}", "group": g}) + "\n" for g in (1, "1") for k in range(2)))
    _, groups = similarity.load_groups(f"hf:{tmp_path / 'c'}")
    assert sorted(set(groups)) == sorted(labels)
    with pytest.raises(InputError, match="hold 1 as a number and as a string"):
        similarity.load_groups(f"hf:{tmp_path / 'j'}")


def test_commands_that_publish_a_folder_or_file_whole_are_locked(tmp_path, capsys):
    """train-outlier, quantize-similarity and sample took no lock: of two runs into one --out both
    said done and the slower one's output replaced the other's. train-outlier also replaced a
    symlinked --out with a folder, leaving the link's target empty."""
    from helpers import faq_model, run_cli

    from textgan.common.runlock import output_lock, run_lock

    model, _, _, _ = faq_model()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("how do I reset my password\nwhere is my parcel\nopen an account\n")
    out = tmp_path / "out"
    for args in (("train-outlier", model, corpus, "--steps", "5"), ("quantize-similarity", model)):
        with run_lock(out):
            code, _, err = run_cli(capsys, *args, "--out", out)
        assert code == 2 and "another run is writing to this folder (locked)" in err, err
        assert not out.exists()
    (tmp_path / "target").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "target")
    code, _, err = run_cli(capsys, "train-outlier", model, corpus, "--steps", "5", "--out", tmp_path / "link")
    assert code == 2 and "output folder is a symbolic link" in err and (tmp_path / "link").is_symlink(), err
    vec = tmp_path / "v.npy"
    import numpy as np

    np.save(vec, np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
    code, _, err = run_cli(capsys, "train-gan", vec, "--steps", "2", "--batch-size", "16", "--out", tmp_path / "gan")
    assert code == 0, err
    with output_lock(tmp_path / "s.npy"):
        code, _, err = run_cli(capsys, "sample", tmp_path / "gan", "--n", "4", "--out", tmp_path / "s.npy")
    assert code == 2 and "another run is writing to this file (locked)" in err and not (tmp_path / "s.npy").exists()


def test_api_labels_blank_sentences_and_pair_arguments_are_checked(tmp_path):
    """train_gan / train_semisup took labels unchecked (1 and "1" one group, NaN a group "nan");
    classify scored a blank sentence; pair_metrics scored blank sentences, ignored positives of the
    wrong length or given as a string, and met a (n, 1) array with a bare TypeError."""
    import numpy as np
    import pytest

    import similarity
    import textgan
    from helpers import faq_model
    from textgan.common.errors import InputError

    x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    with pytest.raises(InputError, match="label '1' appears both as a number and as a string"):
        textgan.train_gan(x, tmp_path / "g", groups=[1, "1"] * 32, progress=False)
    with pytest.raises(InputError, match="item 64 is float 'nan', not a label"):
        textgan.train_gan(x, tmp_path / "g", groups=["a", "b"] * 31 + ["a", float("nan")], progress=False)
    with pytest.raises(InputError, match="labels: item 1 is float '0.0'"):
        textgan.train_semisup(x[:8], [0.0, 1.0] * 4, x[8:], tmp_path / "k")
    assert not (tmp_path / "g").exists() and not (tmp_path / "k").exists()

    model, texts, _, _ = faq_model()
    a, b = texts[:4], texts[4:8]
    with pytest.raises(InputError, match="second sentences: item 2 is blank"):
        similarity.pair_metrics(model, a, [b[0], "\u200b", b[2], b[3]], [1, 0, 0, 1])
    with pytest.raises(InputError, match="positives: 1 for 4 pairs"):
        similarity.pair_metrics(model, a, b, [3, 0, 1, 2], positives=[1])
    with pytest.raises(InputError, match="positives: pass one number per pair"):
        similarity.pair_metrics(model, a, b, [3, 0, 1, 2], positives="1010")
    with pytest.raises(InputError, match=r"scores: pass one number per pair .* shape \(4, 1\)"):
        similarity.pair_metrics(model, a, b, np.array([[1], [0], [0], [1]]))
    assert similarity.pair_metrics(model, a, b, (y for y in [1, 0, 0, 1]))["pair_auroc"] >= 0


def test_classify_refuses_a_blank_sentence(tmp_path):
    import numpy as np
    import pytest

    import textgan
    from helpers import faq_model
    from textgan.common.errors import InputError
    from textgan.workflow.core import encoder_meta

    model, texts, groups, vectors = faq_model()
    from textgan.gan.kplus1 import KPlus1Config

    k1 = textgan.train_semisup(vectors[:40], groups[:40], vectors[40:200], tmp_path / "k1",
                               config=KPlus1Config(steps=10, width=16, batch_size=32),
                               encoder=encoder_meta(textgan.workflow.core.load_encoder(model), model))
    with pytest.raises(InputError, match="sentence 2 is blank"):
        textgan.classify(k1, [texts[0], "  \u200b "])
    assert np.isfinite(textgan.classify(k1, [texts[0]])[0]["confidence"])


def test_train_kplus1_resumes_a_run_killed_before_its_first_checkpoint(tmp_path, capsys):
    """kill -9 left metrics.jsonl and resolved_config.json: the rerun was refused as not empty, and
    train-kplus1 had no --resume, so the folder had to be deleted by hand."""
    import shutil

    from helpers import faq_model, run_cli

    from textgan.common.artifacts import folder_digests

    model, texts, _, _ = faq_model()
    data = ROOT / "data" / "faq_en.csv"
    unl = tmp_path / "u.txt"
    unl.write_text("\n".join(f"{t} please" for t in texts[:60]) + "\n")
    args = ("train-kplus1", model, data, "--unlabeled", unl, "--steps", "12", "--seed", "3")
    code, _, err = run_cli(capsys, *args, "--out", tmp_path / "a")
    assert code == 0, err
    killed = tmp_path / "b"
    killed.mkdir()
    for f in ("metrics.jsonl", "resolved_config.json"):
        shutil.copy(tmp_path / "a" / f, killed / f)
    code, _, err = run_cli(capsys, *args, "--out", killed)
    assert code == 2 and "pass --resume to continue" in err, err
    code, _, err = run_cli(capsys, *args, "--out", killed, "--resume")
    assert code == 0 and "no checkpoint yet, training from step 0" in err, err
    weights = [f for f in folder_digests(tmp_path / "a") if f.endswith(".safetensors")]
    assert weights and all(folder_digests(tmp_path / "a")[f] == folder_digests(killed)[f] for f in weights)


def test_vector_columns_of_bools_or_strings_are_refused(tmp_path):
    """A Parquet bool vector column, a JSONL row of `true`s or a "1" among numbers trained as 1.0."""
    import json

    import numpy as np
    import pandas as pd
    import pytest

    from textgan.common.errors import InputError
    from textgan.gan.data import load_vectors

    x = np.random.default_rng(0).normal(size=(8, 3))
    pd.DataFrame({"v": [list(a > 0) for a in x]}).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(InputError, match="column 'v' holds bool values, expected numbers"):
        load_vectors(tmp_path / "b.parquet", column="v")
    for i, bad in ((2, True), (5, "1")):
        rows = [list(map(float, a)) for a in x]
        rows[i - 1][1] = bad
        f = tmp_path / f"r{i}.jsonl"
        f.write_text("".join(json.dumps({"v": r}) + "\n" for r in rows))
        with pytest.raises(InputError, match=f"row {i}: column 'v' holds {type(bad).__name__}"):
            load_vectors(f, column="v")
    f.write_text("".join(json.dumps({"v": list(map(float, a))}) + "\n" for a in x))
    assert np.allclose(load_vectors(f, column="v").numpy(), x.astype(np.float32))


def test_score_combine_names_the_default_parts_and_unknown_names_first(tmp_path, capsys):
    """`--combine knn,outlier` with --index was refused although the default combined is exactly
    knn + the index's own outlier classifier; `--combine KNN` was blamed on --index."""
    from helpers import faq_model, run_cli

    model, texts, _, _ = faq_model()
    data = ROOT / "data" / "faq_en.csv"
    code, _, err = run_cli(capsys, "index", model, data, "--text-col", "text", "--group-col", "group",
                           "--out", tmp_path / "idx")
    assert code == 0, err
    q = tmp_path / "q.txt"
    q.write_text("how do I reset my password\nwhat is the boiling point of tungsten\n")
    runs = {}
    for combine in (None, "knn,outlier"):
        extra = ("--combine", combine) if combine else ()
        code, out, err = run_cli(capsys, "score", model, q, "--index", tmp_path / "idx", *extra)
        assert code == 0, err
        runs[combine] = out
    assert runs[None] == runs["knn,outlier"]
    code, _, err = run_cli(capsys, "score", model, q, "--index", tmp_path / "idx", "--combine", "KNN")
    assert code == 2 and "unknown scoring method 'KNN'" in err, err


def test_utf32_is_named_and_the_advised_copy_keeps_its_extension(tmp_path):
    """A UTF-32 file was called UTF-16 (LE) and the advice wrote FILE.utf8, a name then refused."""
    import pytest

    import similarity
    from textgan.common.errors import InputError

    for codec, name in (("utf-32", "UTF-32 (LE)"), ("utf-16", "UTF-16 (LE)")):
        f = tmp_path / f"{codec}.txt"
        f.write_bytes("hello world\nreset my password\n".encode(codec))
        with pytest.raises(InputError, match=rf"the file is {re.escape(name)}, not UTF-8; .*iconv -f {codec} -t "
                                             r"utf-8 FILE > FILE-utf8\.txt"):
            similarity.load_texts(f)
    f = tmp_path / "gbk.csv"
    f.write_bytes("text,group\n忘记密码,a\n".encode("gbk"))
    with pytest.raises(InputError, match=r"iconv -f gb18030 -t utf-8 FILE > FILE-utf8\.csv"):
        similarity.load_groups(f)


def test_demo_reads_queries_from_a_data_file_by_datas_text_column(tmp_path, capsys):
    """`demo --queries q.csv` advised --text-col, which did not help: the queries are read now from
    DATA's --text-col column (checked before any training)."""
    from helpers import run_cli

    q = tmp_path / "q.csv"
    q.write_text("query\nwhere is my parcel\n")
    code, _, err = run_cli(capsys, "demo", ROOT / "data" / "faq_en.csv", "--out", tmp_path / "run", "--queries", q)
    assert code == 2 and "missing column 'text'; columns are: query (the demo reads queries from DATA's " \
        "--text-col column, 'text': give a .txt file" in err, err
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())


def test_join_indexes_refuses_one_string_and_a_folder_twice(tmp_path):
    """One folder twice returned every hit twice; a string was joined character by character."""
    import pytest

    from textgan.common.errors import InputError
    from textgan.index.members import join_indexes

    (tmp_path / "idx").mkdir()
    with pytest.raises(InputError, match="pass a list of index folders, not one str"):
        join_indexes(str(tmp_path / "idx"), tmp_path / "j")
    with pytest.raises(InputError, match=r"given twice \(also as .*idx\): each index folder joins once"):
        join_indexes([tmp_path / "idx", tmp_path / ".." / tmp_path.name / "idx"], tmp_path / "j")
    assert not (tmp_path / "j").exists()


def test_a_sentence_under_two_groups_warns_where_it_is_learned_twice(tmp_path):
    import warnings

    from textgan.workflow.core import read_corpus

    f = tmp_path / "d.csv"
    f.write_text("text,group\nhello there,a\nbye now,b\n hello there,c\nbye now,b\n")
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        texts, groups = read_corpus(f, "text", "group")
        read_corpus(f, "text", "group", two_groups_warning=False)
    assert groups == ["a", "b", "c", "b"] and len(said) == 1
    assert "1 row(s) repeat a sentence under another group (e.g. 'hello there' in 'a' and 'c')" in str(said[0].message)


def test_a_rank_stopped_while_rank_0_reports_exits_without_a_traceback(tmp_path):
    """torchrun's SIGTERM reached rank 1 in its grace sleep: a KeyboardInterrupt traceback."""
    import os
    import signal
    import time

    code = ("import cli\n"
            "from textgan.common.errors import InputError\n"
            "cli.OTHER_RANK_GRACE_S = 30\n"
            "def boom():\n"
            "    print('ready', flush=True)\n"
            "    raise InputError('bad')\n"
            "cli.cli.add_command(__import__('click').command('boom')(boom))\n"
            "cli.main(['boom'])\n")
    env = dict(os.environ, WORLD_SIZE="2", LOCAL_RANK="1", RANK="1", PYTHONPATH=str(ROOT))
    p = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(1)  # into the grace sleep
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=60)[1]
    assert p.returncode == 2 and "Traceback" not in err, err


def test_a_header_row_repeated_inside_the_data_is_refused(tmp_path):
    """`cat a.csv b.csv` left "text,group" as a row: indexed as a sentence "text" in a group "group"."""
    import pytest

    import similarity
    from textgan.common.errors import InputError

    f = tmp_path / "all.csv"
    f.write_text("text,group\na b,x\nc d,x\ntext,group\ne f,y\ng h,y\n")
    with pytest.raises(InputError, match=r"row 3 repeats the header \(text, group\): files joined with cat"):
        similarity.load_groups(f)
    f.write_text("text,group\ntext,x\nc d,x\ne f,group\ng h,group\n")  # a cell alone may be the column's name
    assert similarity.load_groups(f)[0] == ["text", "c d", "e f", "g h"]


def test_shard_and_cache_folders_inside_a_model_are_refused(tmp_path, monkeypatch):
    """`index --vectors` and `--teacher-cache` (or TEXTGAN_CACHE_DIR) inside a saved model wrote
    files there, and the model then failed its digests everywhere."""
    import pytest

    from helpers import faq_model

    from similarity.teacher import check_cache_dir, default_cache_dir
    from textgan.common.errors import InputError
    from textgan.workflow.core import index_corpus

    model, _, _, _ = faq_model()
    with pytest.raises(InputError, match="--vectors lies inside the saved model/index folder"):
        index_corpus(model, ROOT / "data" / "queries.txt", tmp_path / "idx", vectors_dir=model / "vv")
    with pytest.raises(InputError, match="--teacher-cache lies inside the saved model/index folder"):
        check_cache_dir(model)
    monkeypatch.setenv("TEXTGAN_CACHE_DIR", str(model / "cc"))
    with pytest.raises(InputError, match=r"\$TEXTGAN_CACHE_DIR lies inside the saved model/index folder"):
        default_cache_dir()
    assert not (model / "vv").exists() and not (model / "cc").exists() and not (tmp_path / "idx").exists()
    assert check_cache_dir(tmp_path / "cache") == tmp_path / "cache"


def test_score_api_misuse_and_on_disk_methods(tmp_path, capsys):
    """score_texts read combine="knn" letter by letter; a text tpr read as a bug; train_semisup refused
    a bad encoder record only after training, and another kind's config with an AttributeError;
    the default score of an on-disk index failed naming neither the index nor --method knn."""
    import numpy as np
    import pytest

    import textgan
    from helpers import faq_model
    from textgan.common.errors import InputError
    from textgan.gan.config import GANConfig

    model, texts, _, _ = faq_model()
    with pytest.raises(InputError, match="combine: pass a list of method names, not one string"):
        textgan.score_texts(model, ["hello"], method="combined", combine="knn")
    with pytest.raises(InputError, match="--tpr must be in \\(0, 1\\), got '0.9'"):
        textgan.score_texts(model, ["hello"], tpr="0.9")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    with pytest.raises(InputError, match="fingerprint"):
        textgan.train_semisup(x[:8], ["a", "b"] * 4, x[8:], tmp_path / "k", encoder={"fingerprint": 5})
    with pytest.raises(InputError, match="config is a GANConfig; train_semisup takes a KPlus1Config"):
        textgan.train_semisup(x[:8], ["a", "b"] * 4, x[8:], tmp_path / "k", config=GANConfig())
    assert not (tmp_path / "k").exists()
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(f"{t} number {i}\n" for i, t in enumerate(texts * 2)))
    idx = textgan.index_corpus(model, corpus, tmp_path / "ix", storage="disk")
    assert idx.meta["storage"] == "disk"
    for method in ("combined", "mahalanobis"):
        with pytest.raises(InputError, match="read shard by shard, and .* every vector at once: score it with "
                                             "--method knn"):
            textgan.score_texts(model, ["hello"], method=method, index=tmp_path / "ix")
    assert textgan.score_texts(model, ["hello"], method="knn", index=tmp_path / "ix")["threshold"] is not None
    from helpers import run_cli  # plain `search` of an index without a gate: no reason to print (was a TypeError)

    code, out, err = run_cli(capsys, "search", tmp_path / "ix", "how do I reset my password", "--k", "1")
    assert code == 0 and out.splitlines()[0] == "how do I reset my password" and "OUT OF DOMAIN" not in out, err


def test_demo_pairs_get_evaluate_similaritys_warnings(tmp_path):
    import warnings

    from similarity.pairs import demo_pair_checks

    scored = (["a b", "c d"], ["e f", "x y"], [0.0, 5.0])
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        demo_pair_checks(scored, "score", "p.tsv", ["a b", "c d", "e f"])
    text = " | ".join(str(w.message) for w in said)
    assert "only 2 pairs: their figures are noise-sized" in text
    assert "holds only the values 0, 5" in text and "evaluate-similarity --pairs ... --positive-min X" in text
    assert "75% of the pairs' sentences are sentences the demo trains on" in text


def test_anchored_on_vectors_off_the_unit_sphere_warns(tmp_path):
    """Its sphere head samples unit vectors: data of norm 14 got samples of norm 1, unsaid."""
    import numpy as np
    import pytest

    import textgan
    from textgan.gan.anchored import AnchoredConfig

    x = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32) * 5
    with pytest.warns(UserWarning, match="median norm is .*sphere head generates unit vectors"):
        textgan.train_gan(x, tmp_path / "g", config=AnchoredConfig(steps=2, batch_size=8), groups=["a", "b"] * 16)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        textgan.train_gan(unit, tmp_path / "u", config=AnchoredConfig(steps=2, batch_size=8), groups=["a", "b"] * 16)


def test_combine_advice_only_when_it_works_and_complex_vectors_refused():
    """`--method energy --gan FLOW` advised `--combine energy,flow`, which the same --gan cannot give;
    decode/search vectors of complex or bool type lost their imaginary part or read True as 1.0."""
    from types import SimpleNamespace

    import numpy as np
    import pytest

    from textgan.common.errors import InputError
    from textgan.common.vectors import as_matrix
    from textgan.ood.scoring import check_models_used

    flow = SimpleNamespace(methods=["flow"], kind="flow", name="f")
    with pytest.raises(InputError) as energy:
        check_models_used("energy", ["energy"], [flow])
    assert "use --method flow)" in energy.value.problem and "--combine" not in energy.value.problem
    with pytest.raises(InputError, match=r"use --method flow, or --method combined --combine knn,flow"):
        check_models_used("knn", ["knn"], [flow])
    for bad, name in ((np.ones((2, 3), complex), "complex128"), (np.ones((2, 3), bool), "bool")):
        with pytest.raises(InputError, match=f"vectors are {name} values, expected real numbers"):
            as_matrix(bad)
    assert as_matrix([[1, 2]]).dtype == np.float32


def test_a_streamed_corpus_refuses_a_repeated_header_too(tmp_path):
    import pytest

    from textgan.common.errors import InputError
    from textgan.workflow.rows import stream_rows

    f = tmp_path / "cat.csv"
    f.write_text("text,group\na b,x\ntext,group\nc d,y\n")
    with pytest.raises(InputError, match=r"row 2 repeats the header \(text, group\)"):
        list(stream_rows(f, "text", "group"))


def test_combine_names_are_judged_first_with_their_option_named(capsys, tmp_path):
    from helpers import run_cli

    q = tmp_path / "q.txt"
    q.write_text("hello\n")
    (tmp_path / "idx").mkdir()
    for combine, said in (("combined", "error: --combine: combined cannot be a part of itself"),
                          ("KNN,outlier", "error: --combine: unknown scoring method 'KNN'")):
        code, _, err = run_cli(capsys, "score", tmp_path / "m", q, "--index", tmp_path / "idx", "--method", "combined",
                               "--combine", combine)
        assert code == 2 and err.startswith(said) and len(err.splitlines()) == 1, err


def test_sweep24_checkpoint_outputs_reference_cols_and_generators_fitted_after_epoch_one(tmp_path, capsys):
    """An output inside a run's checkpoint/ broke every --resume; --reference of other column names
    had no option that worked; flow/boundary/anchored virtual outliers and anchored tail rows from
    epoch 1 (or with one epoch) were bitwise no-ops."""
    import dataclasses

    import pytest

    import similarity
    from helpers import faq_model, run_cli
    from textgan.common.artifacts import check_outside_artefacts
    from textgan.common.errors import InputError

    ck = tmp_path / "run" / "checkpoint"
    ck.mkdir(parents=True)
    (ck / "digests.json").write_text("{}")
    with pytest.raises(InputError, match="lies inside the saved model/index folder .*checkpoint"):
        check_outside_artefacts(ck / "q.npy")
    base = similarity.TrainConfig(epochs=1, teacher="none")
    for change, said in (({"virtual_outliers": "flow", "vo_start": 1}, "--vo-start must be 2 or more"),
                         ({"virtual_outliers": "flow"}, "pass --epochs 2 or more"),
                         ({"tail_synth": "anchored"}, "with --epochs 1 it would add nothing")):
        with pytest.raises(InputError, match=said):
            dataclasses.replace(base, **change).resolved()
    model, texts, groups, _ = faq_model()
    data, ref = tmp_path / "d.csv", tmp_path / "ref.csv"
    rows = list(zip(texts, groups))[:80]
    data.write_text("text,group\n" + "".join(f'"{t}",{g}\n' for t, g in rows[0::2]))
    ref.write_text("sentence,label\n" + "".join(f'"{t}",{g}\n' for t, g in rows[1::2]))
    code, _, err = run_cli(capsys, "evaluate-similarity", model, data, "--reference", ref, "--teacher", "none")
    assert code == 2 and "(name them with --reference-cols TEXT,GROUP)" in err, err
    code, _, err = run_cli(capsys, "evaluate-similarity", model, data, "--reference", ref, "--teacher", "none",
                           "--reference-cols", "sentence")
    assert code == 2 and "--reference-cols must name 2 columns" in err, err
    code, out, err = run_cli(capsys, "evaluate-similarity", model, data, "--reference", ref, "--teacher", "none",
                             "--reference-cols", "sentence,label")
    assert code == 0 and '"knn_top1"' in out, err
