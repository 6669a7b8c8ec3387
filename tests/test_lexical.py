"""The GRU's lexical part (similarity.gru: hashed character n-gram TF-IDF appended to the GRU's
vector): its cosines are sklearn's char_wb TF-IDF cosines, the vector mixes the two cosines by
--lexical-weight, it keeps grams never seen in training, and it round-trips through both loaders."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import similarity
from helpers import assert_one_line_error
from similarity.gru import GRUEncoder
from similarity.tokenization import train_tokenizer

ZH = ["我想查询一下我的账户余额", "怎么修改登录密码", "信用卡还款日期是哪天", "帮我查一下账户余额",
      "密码忘记了怎么办", "信用卡怎么分期还款", "Reset my PASSWORD please", "reset  my password"]


def _module(dim: int, weight: float = 0.5, texts=ZH) -> GRUEncoder:
    torch.manual_seed(0)
    tok = train_tokenizer(texts, "char", 1000, 1)
    m = GRUEncoder(tok.get_vocab_size(), 16, 8, tokenizer=tok, lexical_dim=dim, lexical_weight=weight).eval()
    m.fit_lexical(texts)
    return m


def _lexical(m: GRUEncoder, texts) -> np.ndarray:
    f = m.lexical_features(texts)
    return m.lexical(f["lexical_ids"], f["lexical_tf"]).numpy()


def test_lexical_cosines_are_sklearn_char_wb_tfidf_cosines():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from similarity.gru import LEX_BUCKETS

    ref = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True).fit(ZH).transform(ZH)
    want = (ref @ ref.T).toarray()
    assert want[0, 3] > 0.3 and want[0, 1] < 0.1  # the check has teeth: related pairs differ from others
    wide = _lexical(_module(LEX_BUCKETS), ZH)  # one column per bucket: no two grams fold together
    assert np.abs(wide @ wide.T - want).max() < 1e-5
    # folded to 512 columns, grams that share a column add +-noise of about 1/sqrt(512) to a cosine
    folded = _lexical(_module(512), ZH)
    assert np.abs(folded @ folded.T - want).mean() < 0.03


def test_the_vector_mixes_the_two_cosines_by_the_lexical_weight():
    m = _module(64, weight=0.3)
    feats = m.preprocess(ZH)
    v = m(feats)["sentence_embedding"]
    assert v.shape == (len(ZH), m.gru_dim + 64) and m.dim == m.gru_dim + 64
    g = m.embed(feats["input_ids"], feats["attention_mask"])
    lex = torch.from_numpy(_lexical(m, ZH))
    want = 0.7 * (g @ g.T) + 0.3 * (lex @ lex.T)
    assert torch.allclose(v @ v.T, want, atol=1e-5)
    assert torch.allclose(v.norm(dim=1), torch.ones(len(ZH)), atol=1e-5)


def test_grams_never_seen_in_training_keep_the_highest_idf():
    m = _module(4096)
    new = ["熊猫看书打开", "打开熊猫看书吧"]  # characters absent from ZH (the char tokenizer maps them to [UNK])
    lex = _lexical(m, new)
    assert float(lex[0] @ lex[1]) > 0.5
    assert float(m.lexical_idf.max()) == pytest.approx(np.log(len(ZH) + 1) + 1)


def test_a_lexical_model_round_trips_through_both_loaders(tmp_path):
    from sentence_transformers import SentenceTransformer

    from similarity.model import SentenceEncoder

    enc = SentenceEncoder(_module(256))
    path = enc.save(tmp_path / "m")
    cfg = json.loads((path / "encoder_config.json").read_text())
    assert cfg["lexical_dim"] == 256 and cfg["lexical_weight"] == 0.5
    a, b = enc.encode(ZH), similarity.load(path).encode(ZH)
    st = SentenceTransformer(str(path), trust_remote_code=True, device="cpu").encode(ZH, normalize_embeddings=True)
    assert a.shape == (len(ZH), 256 + 16) and np.array_equal(a, b) and np.abs(st - a).max() < 1e-6
    # a bigger batch pads the gram lists further: the vectors do not move
    assert np.abs(enc.encode(ZH, batch_size=3) - a).max() < 1e-6


def test_lexical_dim_defaults_on_for_char_text_and_from_1000_sentences():
    from similarity.config import for_data_size

    assert similarity.TrainConfig(tokenizer="char").resolved().lexical_dim == 512
    assert similarity.TrainConfig(teacher="none").resolved().lexical_dim == 0
    assert similarity.TrainConfig().resolved().lexical_dim == 0
    assert for_data_size(similarity.TrainConfig(), 999).resolved().lexical_dim == 0  # the demo's size
    assert for_data_size(similarity.TrainConfig(), 1000).resolved().lexical_dim == 512
    assert for_data_size(similarity.TrainConfig(lexical_dim=0), 5000).resolved().lexical_dim == 0  # given wins
    assert for_data_size(similarity.TrainConfig(backbone="minilm"), 5000).resolved().lexical_dim == 0
    # its weight: 0.5 for char text, 0.2 otherwise (chosen on CLINC150 val), a given one kept
    assert similarity.TrainConfig(tokenizer="char").resolved().lexical_weight == 0.5
    assert similarity.TrainConfig().resolved().lexical_weight == 0.2
    assert similarity.TrainConfig(lexical_weight=0.7).resolved().lexical_weight == 0.7
    assert similarity.TrainConfig(tokenizer="char", lexical_dim=0).resolved().lexical_dim == 0
    from textgan.common.errors import InputError

    with pytest.raises(InputError, match="GRU backbone only"):
        similarity.TrainConfig(backbone="minilm", lexical_dim=8).resolved()


@pytest.mark.parametrize("args,needle", [
    (("--lexical-dim", "-1"), "--lexical-dim must be an integer in [0, 65536]"),
    (("--lexical-weight", "1"), "--lexical-weight must be a number in (0, 1)"),
    (("--lexical-weight", "nan"), "--lexical-weight must be a number in (0, 1)"),
])
def test_bad_lexical_options_exit_2_with_one_line(args, needle, tmp_path, cli_main):
    from helpers import FAQ

    code, out, err = cli_main("train-similarity", FAQ, "--teacher", "none", "--out", tmp_path / "r", *args)
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "r").exists()


def test_a_tampered_lexical_weight_is_refused_naming_the_file(tmp_path):
    from textgan.common.errors import InputError
    from similarity.gru_folder import check_config

    with pytest.raises(InputError, match="lexical_weight must be a number in"):
        check_config({"vocab_size": 10, "lexical_weight": 2}, tmp_path / "encoder_config.json")


def test_train_similarity_says_the_vector_has_a_lexical_part(tmp_path, cli_main):
    from helpers import ROOT

    code, out, err = cli_main("train-similarity", ROOT / "data" / "faq_zh.csv", "--epochs", 1, "--out", tmp_path / "r")
    assert code == 0, err
    assert "(768-d: GRU 256 + lexical 512 at weight 0.5)" in out
    assert similarity.load(tmp_path / "r" / "model").dim == 768
