"""Bad inputs found by the third hostile sweep of the CLI (2026-12-04 evening): each is one `error:`
line and exit 2, a counted `warning:`, or a sensible default, never nonsense with exit 0."""
from __future__ import annotations

import json

import pytest

from helpers import FAQ, ROOT, assert_one_line_error


@pytest.fixture
def gan_vectors(tmp_path):
    """5 random unit vectors of dimension 8 in a .npy file."""
    import numpy as np

    x = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    np.save(tmp_path / "v.npy", x / np.linalg.norm(x, axis=1, keepdims=True))
    return tmp_path / "v.npy"


def test_chinese_with_teacher_none_trains_on_characters(cli_main, tmp_path):
    """The word tokenizer read each unsegmented sentence as one token: held-out top-1 0.0."""
    code, _, err = cli_main("train-similarity", str(ROOT / "data" / "faq_zh.csv"), "--teacher", "none",
                            "--epochs", "1", "--out", str(tmp_path / "m"), "--no-progress")
    assert code == 0, err
    assert "there is no teacher: training with --tokenizer char" in err
    assert json.loads((tmp_path / "m" / "config.json").read_text())["train"]["tokenizer"] == "char"


@pytest.mark.parametrize("lines", [["only one sentence"], ["one sentence", "another sentence"]])
def test_an_index_too_small_for_a_gate_has_none_and_score_refuses_it(cli_main, faq, tmp_path, lines):
    (tmp_path / "c.txt").write_text("\n".join(lines) + "\n")
    code, out, err = cli_main("index", str(faq[0]), str(tmp_path / "c.txt"), "--out", str(tmp_path / "ix"))
    assert code == 0 and "warning" not in err, err
    assert f"gate: none ({len(lines)} sentence(s) are too few" in out
    code, out, _ = cli_main("search", str(tmp_path / "ix"), "hello", "--json")
    row = json.loads(out.splitlines()[0])
    assert code == 0 and row["in_domain"] is None and row["in_domain_score"] is None  # was 1e8, "in domain"
    assert row["hits"][0]["text"] in lines
    code, _, err = cli_main("score", str(faq[0]), str(tmp_path / "c.txt"), "--index", str(tmp_path / "ix"),
                            "--out", str(tmp_path / "s.jsonl"))
    assert_one_line_error(code, err, "ix: the index holds", "too few to score against")
    assert not (tmp_path / "s.jsonl").exists()


@pytest.mark.parametrize("cell", [["a", "b"], {"a": 1}, True])
def test_a_text_cell_that_is_not_text_is_refused(cli_main, faq, tmp_path, cell):
    rows = [{"text": "reset my password", "group": "g"}, {"text": cell, "group": "g"}]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    for args in (["index", str(faq[0]), str(tmp_path / "d.jsonl"), "--text-col", "text", "--group-col", "group",
                  "--out", str(tmp_path / "ix")],
                 ["evaluate-similarity", str(faq[0]), str(tmp_path / "d.jsonl"), "--teacher", "none"],
                 ["encode", str(faq[0]), str(tmp_path / "d.jsonl"), "--text-col", "text",
                  "--out", str(tmp_path / "e.npy")]):
        code, _, err = cli_main(*args)
        assert_one_line_error(code, err, "d.jsonl: row 2: column 'text' holds", "expected text")
    assert not (tmp_path / "ix").exists() and not (tmp_path / "e.npy").exists()


def test_blank_and_zero_width_lines_are_counted_not_dropped_silently(cli_main, faq, tmp_path):
    (tmp_path / "q.txt").write_text("hello\n\nreset password\n   \nwhere is my parcel\n\u200b\u200d\n",
                                    encoding="utf-8")
    code, out, err = cli_main("encode", str(faq[0]), str(tmp_path / "q.txt"), "--out", str(tmp_path / "e.npy"))
    assert code == 0 and "wrote 3 x" in out
    assert "q.txt: skipped 3 blank line(s)" in err
    code, _, err = cli_main("search", str(faq[0]), "\u200b")  # only a zero-width space
    assert_one_line_error(code, err, "query 1 is blank")


def test_a_quantized_copy_keeps_the_held_out_vectors_and_an_int8_input_is_said(cli_main, faq, tmp_path):
    """Without them the copy's index calibrated on training rows and said the model kept none."""
    import numpy as np

    import similarity

    code, _, err = cli_main("quantize-similarity", str(faq[0]), "--out", str(tmp_path / "q"))
    assert code == 0, err
    q = similarity.load(tmp_path / "q")
    assert q.heldout is not None and np.array_equal(q.heldout, similarity.load(faq[0]).heldout)
    code, _, err = cli_main("quantize-similarity", str(tmp_path / "q"), "--out", str(tmp_path / "q2"))
    assert code == 0 and "warning: the model is already int8" in err


def test_saved_weights_are_readable_like_their_neighbours(faq):
    import stat
    from pathlib import Path

    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in Path(faq[0]).iterdir() if p.is_file()}
    assert modes["model.safetensors"] == modes["tokenizer.json"], modes  # was 0600 among 0644


def test_an_index_out_that_is_a_symlink_is_refused(cli_main, faq, tmp_path):
    """The atomic rename replaced the link with a folder, leaving its target empty."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    code, _, err = cli_main("index", str(faq[0]), str(FAQ), "--text-col", "text", "--out", str(tmp_path / "link"))
    assert_one_line_error(code, err, "link: output folder is a symbolic link")
    assert (tmp_path / "link").is_symlink() and not any((tmp_path / "real").iterdir())


def test_a_textgan_gru_is_refused_as_teacher_or_backbone_in_one_whole_line(cli_main, faq, tmp_path):
    for flag in ("--teacher", "--backbone"):
        code, _, err = cli_main("train-similarity", str(FAQ), "--out", str(tmp_path / "m"), flag, str(faq[0]))
        assert_one_line_error(code, err, f"a textgan GRU encoder cannot be {flag}")
    assert not (tmp_path / "m").exists()


def test_only_kinds_that_sample_a_group_get_the_demo_s_grouped_report():
    """`boundary` trains on labels but samples between groups: the demo failed after training."""
    from textgan.gan import make_kind

    assert [k for k in ("conditional", "anchored", "kplus1", "boundary", "gan") if make_kind(k).samples_groups] \
        == ["conditional", "anchored", "kplus1"]


def test_an_unreachable_hub_is_quiet_inside_datasets_quietly():
    """Each retry of an `hf:` name offline was logged as two lines before the one error line."""
    import logging

    from textgan.common.tables import datasets_quietly

    hub = logging.getLogger("huggingface_hub")
    before = hub.level
    with datasets_quietly():
        assert not hub.isEnabledFor(logging.WARNING)
    assert hub.level == before


def test_a_blank_label_line_is_refused_not_dropped(cli_main, gan_vectors, tmp_path):
    """Dropping it shifted every later label onto the wrong vector ("3 labels for 4 vectors")."""
    (tmp_path / "labels.txt").write_text("a\nb\n\na\nb\n\n\n")  # blank lines at the end label nothing
    code, _, err = cli_main("train-gan", str(gan_vectors), "--labels", str(tmp_path / "labels.txt"),
                            "--steps", "2", "--out", str(tmp_path / "g"))
    assert_one_line_error(code, err, "labels.txt: line 3 is blank")
    from textgan.gan import read_labels

    (tmp_path / "ok.txt").write_text("a\nb\na\nb\na\n\n")
    assert read_labels(tmp_path / "ok.txt", 5) == ["a", "b", "a", "b", "a"]


def test_another_artefact_given_as_a_model_is_named(cli_main, faq, gan_vectors, tmp_path):
    code, _, err = cli_main("train-gan", str(gan_vectors), "--steps", "2", "--batch-size", "4",
                            "--out", str(tmp_path / "g"))
    assert code == 0, err
    (tmp_path / "run").mkdir()
    import shutil

    shutil.copytree(faq[0], tmp_path / "run" / "model")
    for folder, what in ((tmp_path / "g", "a generator / scorer folder"),
                         (tmp_path / "run", "a train-similarity run folder (its model is")):
        code, _, err = cli_main("encode", str(folder), str(FAQ), "--text-col", "text", "--out", str(tmp_path / "e.npy"))
        assert_one_line_error(code, err, f"this is {what}", "not a similarity model folder")


def test_an_index_whose_encoder_moved_names_the_path_and_the_flag(cli_main, faq, tmp_path):
    import shutil

    shutil.copytree(faq[0], tmp_path / "m")
    code, _, err = cli_main("index", str(tmp_path / "m"), str(FAQ), "--text-col", "text", "--out", str(tmp_path / "ix"))
    assert code == 0, err
    shutil.move(tmp_path / "m", tmp_path / "moved")
    code, _, err = cli_main("search", str(tmp_path / "ix"), "reset my password")
    assert_one_line_error(code, err, f"the index's encoder {tmp_path / 'm'} is missing", "pass --model MODEL")
    code, out, err = cli_main("search", str(tmp_path / "ix"), "reset my password", "--model", str(tmp_path / "moved"))
    assert code == 0 and "password" in out, err


def test_a_given_generator_s_base_groups_are_reported_as_its_own(faq, tmp_path):
    """With --gan, "learned from 0 base groups" was these data's count, not the generator's."""
    import numpy as np

    import textgan
    from textgan.gan import make_kind, train_gan

    _, _, groups, vectors = faq
    g = np.asarray(groups)
    names = sorted(set(groups))[:3]
    keep = np.isin(g, names)
    gan = train_gan(vectors[keep], make_kind("anchored").config(steps=2, batch_size=8), tmp_path / "a",
                    groups=g[keep].tolist(), progress=False)
    other = sorted(set(groups))[10]
    few = np.flatnonzero(g == other)[:2]
    _, labels, report = textgan.hallucinate(vectors[few], [other] * 2, 3, max_shots=5, gan=gan)
    assert labels == [other] * 3 and sorted(report["base"]) == names


def test_file_messages_say_what_is_wrong(cli_main, faq, tmp_path):
    (tmp_path / "noext").write_text("hello\nworld\n")
    code, _, err = cli_main("encode", str(faq[0]), str(tmp_path / "noext"), "--out", str(tmp_path / "e.npy"))
    assert_one_line_error(code, err, "unsupported file type '(none)': a corpus is a .txt file")
    code, _, err = cli_main("search", str(faq[0]), "--file", "/dev/null")
    assert_one_line_error(code, err, "/dev/null: not a regular file")


def test_a_generator_without_an_encoder_is_decoded_with_a_warning(cli_main, faq, tmp_path):
    import numpy as np

    from textgan.workflow.core import index_corpus

    np.save(tmp_path / "v.npy", faq[3])
    code, _, err = cli_main("train-gan", str(tmp_path / "v.npy"), "--steps", "2", "--batch-size", "16",
                            "--out", str(tmp_path / "g"))
    assert code == 0, err
    index_corpus(faq[0], FAQ, tmp_path / "ix", text_col="text", progress=False)
    code, _, err = cli_main("generate-embeddings", str(tmp_path / "g"), "--n", "3", "--index", str(tmp_path / "ix"),
                            "--out", str(tmp_path / "gen"))
    assert code == 0 and "warning:" in err and "the generator records no encoder" in err, err


def test_top_k_on_few_groups_comes_with_its_chance_level(cli_main, faq, tmp_path):
    from similarity.evaluate import chance_topk

    assert abs(chance_topk(["a", "a", "b", "b"], 1) - 1 / 3) < 1e-12  # one of 3 others is the partner
    assert chance_topk(["a"] * 8 + ["b"] * 8 + ["c"] * 8, 5) > 0.85
    lines = FAQ.read_text(encoding="utf-8").splitlines()
    three = [ln for ln in lines[1:] if ln.endswith((",reset_password", ",change_email", ",change_password"))]
    (tmp_path / "three.csv").write_text("\n".join([lines[0], *three]) + "\n", encoding="utf-8")
    code, out, err = cli_main("evaluate-similarity", str(faq[0]), str(tmp_path / "three.csv"), "--teacher", "none")
    assert code == 0 and "a random ranking already has a same-group sentence in the top 5" in err
    code, out, err = cli_main("evaluate-similarity", str(faq[0]), str(FAQ), "--teacher", "none")
    assert code == 0 and "random ranking" not in err  # 66 groups: 6% by chance


def test_mixup_on_one_group_says_it_mixes_within_it(cli_main, faq, tmp_path):
    lines = FAQ.read_text(encoding="utf-8").splitlines()
    one = [ln for ln in lines[1:] if ln.endswith(",reset_password")]
    (tmp_path / "one.csv").write_text("\n".join([lines[0], *one]) + "\n", encoding="utf-8")
    code, _, err = cli_main("train-outlier", str(faq[0]), str(tmp_path / "one.csv"), "--text-col", "text",
                            "--group-col", "group", "--steps", "3", "--out", str(tmp_path / "o"))
    assert code == 0 and "warning: one group: mixup mixes any two of its vectors" in err, err


def test_a_knn_k_beyond_the_index_is_said(faq, tmp_path):
    import numpy as np

    from textgan.index.build import build_index
    from textgan.ood.scoring import Scorer

    idx = build_index(faq[3][:6], faq[1][:6])
    with pytest.warns(UserWarning, match="--k 50 is more than the index's 6 rows"):
        s = Scorer("knn", idx, k=50)(faq[3][:2])
    assert np.allclose(s, (faq[3][:2] @ faq[3][:6].T).mean(1), atol=1e-5)  # the mean over all 6 rows


# --- sweep 4: the Python API -----------------------------------------------------------------

def test_the_api_refuses_one_string_or_non_strings_where_sentences_go(faq, tmp_path):
    """One string was iterated into one sentence per character; None / 1 / b"x" became the empty sentence."""
    import numpy as np

    import similarity
    import textgan
    from textgan.common.errors import InputError
    from textgan.index.build import build_index

    enc = similarity.load(faq[0])
    for call, words in ((lambda: enc.encode("hello world"), "not one string"),
                        (lambda: enc.encode(["ok", None]), "item 2 is NoneType"),
                        (lambda: enc.encode([b"x"]), "item 1 is bytes"),
                        (lambda: similarity.evaluate(enc, "abc", "abc"), "not one string"),
                        (lambda: build_index(faq[3][:5], "abcde"), "not one string"),
                        (lambda: build_index(faq[3][:2], ["a", "  "]), "text 2 is blank"),
                        (lambda: textgan.score_texts(enc, "abc", method="knn", index=None), "not one string")):
        with pytest.raises(InputError, match=words):
            call()
    assert enc.encode(("reset my password", np.str_("hi"))).shape == (2, enc.dim)  # any sequence of str


def test_spearman_of_round_off_and_evaluate_without_partners_are_refused(faq):
    import similarity
    from similarity.evaluate import spearman
    from textgan.common.errors import InputError

    a = ["reset my password", "where is my order", "cancel my subscription", "book a table for two"]
    with pytest.raises(InputError, match="every pair has the same cosine"):
        spearman(faq[0], a, a, [0, 1, 2, 3])  # cosines 1 +- 1e-7 ranked -0.19 before
    with pytest.raises(InputError, match="not all equal"):
        spearman(faq[0], a, a[::-1], [1.0] * 4)
    with pytest.raises(InputError, match="every group has a single sentence"):
        similarity.evaluate(faq[0], a, ["1", "2", "3", "4"])  # a model folder is loaded too


def test_the_training_api_drops_groups_of_one_like_the_cli(tmp_path):
    import similarity
    from textgan.common.errors import InputError

    cfg = similarity.TrainConfig(teacher="none", epochs=1)
    with pytest.raises(InputError, match="no group has two or more sentences"):
        similarity.train(cfg, [f"sentence {i}" for i in range(10)], [str(i) for i in range(10)], tmp_path / "m",
                         progress=False)
    with pytest.raises(InputError, match="group labels: item 2 is NoneType"):
        similarity.train(cfg, ["a b", "c d", "e f"], ["x", None, "x"], tmp_path / "m", progress=False)
    assert not (tmp_path / "m").exists()
