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
