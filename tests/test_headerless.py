"""Files without a header row (LCQMC, BQ, the original STS-B release): columns named by position,
counting from 1, read every row as data; a tab-separated file named .csv is said to be one."""
from __future__ import annotations

import pytest

import similarity
from textgan.common.errors import InputError

LCQMC = ("喜欢打篮球的男生喜欢什么样的女生\t爱打篮球的男生喜欢什么样的女生\t1\n"
         "我手机丢了，我想换个手机\t我想买个新手机，求推荐\t1\n"
         "大家觉得她好看吗\t大家觉得跑男好看吗？\t0\n")
STS = ("main-captions\tMSRvid\t2012test\t0001\t5.000\tA plane is taking off.\tAn air plane is taking off.\n"
       "main-captions\tMSRvid\t2012test\t0005\t3.800\tA man, spreading cheese.\tA man is spreading cheese.\n")


def test_positions_read_a_headerless_pair_file_whole(tmp_path):
    (tmp_path / "lcqmc.tsv").write_text(LCQMC)
    a, b, labels = similarity.load_pairs(tmp_path / "lcqmc.tsv", "1", "2", "3")
    # the first row is a pair too (its label "1" is not a header naming column 1, 2 and 3)
    assert a[0] == "喜欢打篮球的男生喜欢什么样的女生" and b[2] == "大家觉得跑男好看吗？"
    assert labels == [1.0, 1.0, 0.0]
    (tmp_path / "sts.tsv").write_text(STS)
    a, b, scores = similarity.load_pairs(tmp_path / "sts.tsv", "6", "7", "5")
    assert a == ["A plane is taking off.", "A man, spreading cheese."] and scores == [5.0, 3.8]


def test_positions_read_a_headerless_grouped_file(tmp_path):
    (tmp_path / "g.csv").write_text("how do I pay,billing\n007 is my pin,security\nchange my pin,security\n"
                                    "pay my bill,billing\n")
    texts, groups = similarity.load_groups(tmp_path / "g.csv", text_col="1", group_col="2")
    assert texts == ["how do I pay", "007 is my pin", "change my pin", "pay my bill"]  # "007" stays text
    assert groups == ["billing", "security", "security", "billing"]


def test_a_header_that_names_the_digits_is_a_header(tmp_path):
    (tmp_path / "h.csv").write_text("2,1\nhello there,a\nhi there,a\n")
    texts, groups = similarity.load_groups(tmp_path / "h.csv", text_col="2", group_col="1")
    assert texts == ["hello there", "hi there"] and groups == ["a", "a"]


def test_bad_positions_and_missing_names_point_at_positions(tmp_path):
    (tmp_path / "lcqmc.tsv").write_text(LCQMC)
    with pytest.raises(InputError, match="column position 0 is outside the first row's 3 columns "
                                         "\\(positions count from 1\\)"):
        similarity.load_pairs(tmp_path / "lcqmc.tsv", "0", "1", "2")
    with pytest.raises(InputError, match="name its columns by position, counting from 1"):
        similarity.load_pairs(tmp_path / "lcqmc.tsv")  # sentence1, sentence2, score


def test_a_tab_separated_csv_is_named(tmp_path, cli_main):
    (tmp_path / "sts.csv").write_text(STS)
    with pytest.raises(InputError, match="7 tab-separated fields and 1 comma-separated: a tab-separated "
                                         "file, name it .tsv"):
        similarity.load_pairs(tmp_path / "sts.csv", "6", "7", "5")
    code, _, err = cli_main("train-similarity", str(tmp_path / "sts.csv"), "--out", str(tmp_path / "m"))
    assert code == 2 and err.strip().endswith("name it .tsv") and len(err.strip().splitlines()) == 1


def test_one_position_on_a_file_whose_first_label_is_1_reads_the_sentences(tmp_path):
    """`--text-col 1` on LCQMC (first label cell "1") read the label column as sentences, exit 0."""
    (tmp_path / "lcqmc.tsv").write_text(LCQMC)
    assert similarity.load_texts(tmp_path / "lcqmc.tsv", text_col="1")[2] == "大家觉得她好看吗"
    assert similarity.load_pairs(tmp_path / "lcqmc.tsv", 1, 2, 3)[2] == [1.0, 1.0, 0.0]  # int positions (API)
    (tmp_path / "n.csv").write_text("0,1\nhello there,a\nhi there,a\n")  # pandas' numbered header
    assert similarity.load_groups(tmp_path / "n.csv", text_col="0", group_col="1")[0] == ["hello there", "hi there"]


def test_semicolon_files_are_read_and_encodings_named(tmp_path):
    (tmp_path / "hwu.csv").write_text("userid;intent;answer\n1;set;wake me up at five\n1;set;set an alarm\n"
                                      "1;play;play jazz\n1;play;play some rock\n")
    texts, groups = similarity.load_groups(tmp_path / "hwu.csv", text_col="answer", group_col="intent")
    assert texts[0] == "wake me up at five" and groups == ["set", "set", "play", "play"]
    (tmp_path / "x.csv").write_text('"text";"category"\r\n"hi, there";"a"\r\n"hello";"a"\r\n', encoding="utf-8-sig")
    assert similarity.load_groups(tmp_path / "x.csv", text_col="text", group_col="category")[0] == ["hi, there", "hello"]
    (tmp_path / "gbk.csv").write_bytes("text,group\n你好,a\n".encode("gbk"))
    with pytest.raises(InputError, match="line 2\\): it reads as GBK/GB18030.*iconv -f gb18030 -t utf-8"):
        similarity.load_groups(tmp_path / "gbk.csv")
    (tmp_path / "u16.tsv").write_bytes("text\tgroup\nhi\ta\n".encode("utf-16"))
    with pytest.raises(InputError, match="the file is UTF-16"):
        similarity.load_groups(tmp_path / "u16.tsv")
    (tmp_path / "msr.txt").write_text("Quality\t#1 String\t#2 String\n1\ta\tb\n")
    with pytest.raises(InputError, match="its first line has 3 tab-separated fields: rename it .tsv"):
        similarity.load_pairs(tmp_path / "msr.txt", "#1 String", "#2 String", "Quality")


def test_api_training_rows_from_a_pipeline(tmp_path):
    """int labels (pandas.factorize) crashed the data digest; generators were indexed; NaN labels
    made one-sentence groups; eval sentences that are training sentences were kept as held-out."""
    import warnings

    import numpy as np

    texts = [f"{a} {b}" for a in "abcd" for b in "wxyz"]
    groups = np.repeat(np.arange(4), 4)  # numpy int64 ids
    cfg = similarity.TrainConfig(epochs=1, teacher="none", embed_dim=8, hidden_size=8)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        path = similarity.train(cfg, (t for t in texts), iter(groups), tmp_path / "r", progress=False,
                                eval_texts=texts[:2] + ["e w", "e x"], eval_groups=[0, 0, 1, 1])
    assert "dropped 2 of 4 held-out sentence(s) that are also training sentences" in " ".join(map(str, (w.message for w in seen)))
    assert similarity.load(path).encode(["a w"]).shape[0] == 1
    with pytest.raises(InputError, match="group labels: item 3 is float 'nan', not a label"):
        similarity.train(cfg, texts, [0, 0, float("nan")] + [1] * 13, tmp_path / "r2", progress=False)
    with pytest.raises(InputError, match="held-out data must be sentences the model does not train on"):
        similarity.train(cfg, texts, groups, tmp_path / "r3", eval_texts=texts[:3], eval_groups=[0, 0, 0],
                         progress=False)


def test_a_tsv_written_with_csv_quoting_is_read_as_its_text(tmp_path):
    """pandas' to_csv(sep="\\t") quotes cells holding a quote; they were trained with the quoting."""
    (tmp_path / "q.tsv").write_text('sentence1\tsentence2\tlabel\n'
                                    '"He said ""the card is blocked"" and left."\t"""Blocked,"" he said."\t1\n'
                                    '"Hello," he said.\tFine "thanks"\t0\n')
    with pytest.warns(UserWarning, match="column 'sentence1' has CSV-style quoted cells"):
        a, b, _ = similarity.load_pairs(tmp_path / "q.tsv", "sentence1", "sentence2", "label")
    assert a == ['He said "the card is blocked" and left.', '"Hello," he said.']  # MRPC-style quotes kept
    assert b == ['"Blocked," he said.', 'Fine "thanks"']


def test_a_json_file_of_splits_is_read_one_split_at_a_time(tmp_path):
    """CLINC150's data_full.json: {"train": [[sentence, intent], ...], ...} said "missing column 'text'"."""
    import json

    rows = [["what is my balance", "balance"], ["how much money do i have", "balance"],
            ["freeze my card", "freeze"], ["block my card please", "freeze"]]
    (tmp_path / "data_full.json").write_text(json.dumps({"oos_val": [["tell me a joke", "oos"]], "train": rows,
                                                         "val": rows[:2] + rows[2:]}))
    texts, groups = similarity.load_groups(f"{tmp_path / 'data_full.json'}:train")
    assert texts == [r[0] for r in rows] and groups == ["balance", "balance", "freeze", "freeze"]
    with pytest.raises(InputError, match="holds the splits oos_val, train, val of \\[sentence, label\\] pairs: "
                                         "pick one as .*/data_full.json:train"):
        similarity.load_groups(tmp_path / "data_full.json")
    with pytest.raises(InputError, match="has no split 'tset'"):
        similarity.load_texts(f"{tmp_path / 'data_full.json'}:tset", text_col="text")
    (tmp_path / "plain.json").write_text(json.dumps([{"text": "a b", "group": "x"}]))
    with pytest.raises(InputError, match="picks a split of a JSON file of splits"):
        similarity.load_groups(f"{tmp_path / 'plain.json'}:train")


def test_encode_reads_positions_splits_and_quoted_tsv_cells_too(cli_main, faq, tmp_path):
    """`encode` streams its corpus with its own reader: `--text-col 1` on LCQMC gave it the labels."""
    import json

    (tmp_path / "lcqmc.tsv").write_text(LCQMC)
    code, _, err = cli_main("encode", str(faq[0]), str(tmp_path / "lcqmc.tsv"), "--text-col", "1",
                            "--out", str(tmp_path / "e1"))
    assert code == 0, err
    rows = [json.loads(ln)["text"] for ln in (tmp_path / "e1" / "shard-00000.texts.jsonl").read_text().splitlines()]
    assert rows == [ln.split("\t")[0] for ln in LCQMC.splitlines()]
    (tmp_path / "d.json").write_text(json.dumps({"train": [["a b", "x"], ["c d", "y"]],
                                                 "val": [['"He said ""hi""."', "x"], ["e f", "y"]]}))
    code, _, err = cli_main("encode", str(faq[0]), f"{tmp_path / 'd.json'}:train", "--text-col", "text",
                            "--out", str(tmp_path / "e2"))
    assert code == 0 and "(2 sentences)" in _ + err, err
    (tmp_path / "q.tsv").write_text('text\n"He said ""hi""."\nplain\n')
    code, _, err = cli_main("encode", str(faq[0]), str(tmp_path / "q.tsv"), "--text-col", "text",
                            "--out", str(tmp_path / "e3"))
    rows = [json.loads(ln)["text"] for ln in (tmp_path / "e3" / "shard-00000.texts.jsonl").read_text().splitlines()]
    assert code == 0 and rows == ['He said "hi".', "plain"], err
