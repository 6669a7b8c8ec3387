"""Results of the twenty-ninth sweep: folders written by `save_to_disk` in every reader."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import FAQ


@pytest.fixture
def saved(tmp_path):
    import datasets
    import pandas as pd

    d = pd.read_csv(FAQ).iloc[:120]
    ds = datasets.Dataset.from_pandas(d, preserve_index=False)
    ds.save_to_disk(str(tmp_path / "ds"))
    vec = np.random.default_rng(0).standard_normal((120, 8)).astype("float32")
    ds.add_column("vec", vec.tolist()).save_to_disk(str(tmp_path / "vecds"))
    return tmp_path, d, vec


def test_hf_prefix_names_a_saved_folder_in_the_streamed_and_vector_readers(saved):
    """README: a saved folder is read by every command, `hf:FOLDER` alike. The streamed readers
    (encode into shards, index on disk), train-gan's vectors and --unlabeled said 'missing file'."""
    from similarity.distil import load_unlabeled
    from textgan.gan.data import load_vectors
    from textgan.workflow.rows import stream_rows

    tmp, d, vec = saved
    rows = list(stream_rows(f"hf:{tmp / 'ds'}", text_col="text", group_col="group"))
    assert rows == list(zip(d.text.tolist(), d.group.astype(str).tolist()))
    assert np.array_equal(load_vectors(f"hf:{tmp / 'vecds'}", column="vec").numpy(), vec)
    assert load_unlabeled(f"hf:{tmp / 'ds'}") == d.text.tolist()


def test_a_corrupt_arrow_file_is_one_error_not_a_decode_traceback(saved):
    """Bytes flipped inside a saved folder's Arrow file loaded, and a UnicodeDecodeError escaped when
    the text column was read."""
    from similarity.data import load_groups
    from textgan.common.errors import InputError
    from textgan.workflow.rows import stream_rows

    tmp, _, _ = saved
    f = next((tmp / "ds").glob("*.arrow"))
    b = bytearray(f.read_bytes())
    b[3000:3100] = b"\xff" * 100
    f.write_bytes(bytes(b))
    with pytest.raises(InputError, match=r"ds: a corrupt Arrow file: .*Invalid UTF8"):
        load_groups(tmp / "ds")
    with pytest.raises(InputError, match=r"ds: a corrupt Arrow file"):
        list(stream_rows(tmp / "ds", text_col="text"))


def test_a_format_saved_with_some_columns_does_not_hide_the_others(tmp_path):
    """`set_format(columns=[...])` before `save_to_disk` hid the text column from reads while
    `column_names` listed it: a KeyError traceback."""
    import datasets
    import pandas as pd

    from similarity.data import load_groups
    from textgan.workflow.rows import stream_rows

    d = pd.read_csv(FAQ).iloc[:60]
    ds = datasets.Dataset.from_pandas(d, preserve_index=False)
    ds.set_format(type=None, columns=["group"])
    ds.save_to_disk(str(tmp_path / "ds"))
    assert load_groups(tmp_path / "ds", min_groups=2)[0] == d.text.tolist()
    assert [t for t, _ in stream_rows(tmp_path / "ds", text_col="text")] == d.text.tolist()


def test_a_pickle_in_a_module_folder_without_safetensors_is_refused(tmp_path):
    """A sentence-transformers folder with safetensors at the top and a Dense module holding only
    2_Dense/pytorch_model.bin passed the check, and sentence-transformers unpickled the module."""
    import json

    import torch
    from safetensors.torch import save_file

    from similarity.model import check_safetensors
    from textgan.common.errors import InputError

    m = tmp_path / "st"
    (m / "2_Dense").mkdir(parents=True)
    save_file({"w": torch.zeros(2)}, str(m / "model.safetensors"))
    (m / "modules.json").write_text(json.dumps([{"idx": 0, "name": "0", "path": "", "type": "x"},
                                                {"idx": 2, "name": "2", "path": "2_Dense", "type": "y"}]))
    (m / "2_Dense" / "pytorch_model.bin").write_bytes(b"cos\nsystem\n(S'true'\ntR.")
    with pytest.raises(InputError, match=r"st: 2_Dense/pytorch_model.bin is a pickle with no .safetensors weights"):
        check_safetensors(m)
    save_file({"w": torch.zeros(2)}, str(m / "2_Dense" / "unused.safetensors"))  # not the one the loader reads
    with pytest.raises(InputError, match=r"st: 2_Dense/pytorch_model.bin is a pickle"):
        check_safetensors(m)
    save_file({"w": torch.zeros(2)}, str(m / "2_Dense" / "model.safetensors"))  # preferred by the loader
    check_safetensors(m)
    (m / "training_args.bin").write_bytes(b"x")  # beside the top-level safetensors: never loaded
    check_safetensors(m)
    (m / "modules.json").write_text(json.dumps([{"idx": 0, "name": "0", "path": "../elsewhere", "type": "x"}]))
    with pytest.raises(InputError, match=r"modules.json names the module path '../elsewhere', outside the folder"):
        check_safetensors(m)


def test_an_edited_flow_n_layers_is_refused_before_any_layer_is_built(tmp_path, cli_main):
    """The size check divided the described weights by the flow's n_layers, so n_layers 10**12
    passed it and `sample` built coupling layers until memory ran out."""
    import json

    from helpers import assert_one_line_error

    rng = np.random.default_rng(0)
    v = rng.standard_normal((120, 16)).astype("float32")
    np.save(tmp_path / "v.npy", v / np.linalg.norm(v, axis=1, keepdims=True))
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--kind", "flow", "--steps", 3, "--batch-size", 32,
                            "--out", tmp_path / "flow")
    assert code == 0, err
    code, _, err = cli_main("sample", tmp_path / "flow", "--n", 2, "--out", tmp_path / "ok.npy")
    assert code == 0 and np.load(tmp_path / "ok.npy").shape == (2, 16), err  # the unedited flow samples
    info = json.loads((tmp_path / "flow" / "config.json").read_text())
    info["config"]["n_layers"] = 10 ** 12
    (tmp_path / "flow" / "config.json").write_text(json.dumps(info))
    code, _, err = cli_main("sample", tmp_path / "flow", "--n", 2, "--out", tmp_path / "s.npy")
    assert_one_line_error(code, err, str(tmp_path / "flow" / "config.json"), "the weight files hold")


def test_edited_scorer_sizes_are_refused_before_any_network_is_built(tmp_path):
    """The outlier classifier and the OpenGAN scorer built networks from config.json's sizes (its own
    digest is not recorded) before comparing them with the weights: dim 10**9 asked for 240 GB."""
    import json

    from textgan.common.errors import InputError
    from textgan.ood.opengan import OpenGAN, OpenGANConfig, train_opengan
    from textgan.ood.outlier import OutlierClassifier, OutlierConfig, train_outlier

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8)).astype("float32")
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    groups = [f"g{i % 4}" for i in range(64)]
    train_outlier(x, OutlierConfig(steps=1, batch_size=16, width=8), groups).save(tmp_path / "oc")
    train_opengan(x, x[:8], OpenGANConfig(steps=1, batch_size=16, width=8, noise_dim=4)).save(tmp_path / "og")
    assert OutlierClassifier.load(tmp_path / "oc").score(x).shape == (64,)  # the unedited ones load
    assert OpenGAN.load(tmp_path / "og").score(x).shape == (64,)

    def edit(folder, change):
        info = json.loads((folder / "config.json").read_text())
        change(info)
        (folder / "config.json").write_text(json.dumps(info))

    edit(tmp_path / "oc", lambda d: d.update(dim=10 ** 9))
    with pytest.raises(InputError, match=r"weights do not match config.json \(w: \(16, 1000000000\) described, "
                                         r"\(16, 8\) held\)"):
        OutlierClassifier.load(tmp_path / "oc")
    edit(tmp_path / "oc", lambda d: (d.update(dim=8), d["config"].update(head="mlp", depth=10 ** 9)))
    with pytest.raises(InputError, match=r"asks for 1,000,000,000 layers, but the weights hold 3 tensors"):
        OutlierClassifier.load(tmp_path / "oc")
    edit(tmp_path / "og", lambda d: d["config"].update(width=10 ** 6))
    with pytest.raises(InputError, match=r"weights do not match config.json \(0.weight: \(1000000, 8\) described"):
        OpenGAN.load(tmp_path / "og")


def test_sampling_chains_beyond_the_cap_are_refused(tmp_path, cli_main):
    """`--set sample_steps=10**12` trained, and sampling (or an edited config.json) ran for hours."""
    from helpers import assert_one_line_error

    v = np.random.default_rng(0).standard_normal((64, 8)).astype("float32")
    np.save(tmp_path / "v.npy", v)
    code, _, err = cli_main("train-gan", tmp_path / "v.npy", "--kind", "ebm-langevin", "--steps", 2,
                            "--set", "sample_steps=1000000000000", "--out", tmp_path / "e")
    assert_one_line_error(code, err, "--set sample_steps must be at most 100,000")
    assert not (tmp_path / "e" / "config.json").exists()


def test_hallucinate_refuses_training_settings_beside_a_trained_generator(faq, tmp_path):
    """`hallucinate(gan=DIR, steps=5)` and `out_gan=` were silently ignored (the CLI refuses --steps)."""
    import textgan
    from textgan.common.errors import InputError

    _, texts, groups, vecs = faq
    with pytest.raises(InputError, match=r"--steps: sets the training of the anchored model, and --gan gives one"):
        textgan.hallucinate(vecs, groups, per_group=2, max_shots=9, gan=tmp_path / "g", steps=5)
    with pytest.raises(InputError, match=r"--out-gan: sets the training"):
        textgan.hallucinate(vecs, groups, per_group=2, max_shots=9, gan=tmp_path / "g", out_gan=tmp_path / "o")


def test_sentence_transformers_loading_checks_the_recorded_digests_and_ranges(faq, tmp_path):
    """SentenceTransformer(path, trust_remote_code=True) read an edited encoder_config.json
    (max_length 0: every sentence one [UNK] vector) that similarity.load refuses."""
    import json
    import shutil

    from sentence_transformers import SentenceTransformer

    from similarity.gru import GRUEncoder

    m = tmp_path / "m"
    shutil.copytree(faq[0], m)
    v = SentenceTransformer(str(m), trust_remote_code=True, device="cpu").encode(["reset my password", "where is it"])
    assert float(v[0] @ v[1]) < 0.99  # the unedited folder loads and tells sentences apart
    cfg = json.loads((m / "encoder_config.json").read_text())
    (m / "encoder_config.json").write_text(json.dumps({**cfg, "max_length": 0}))
    with pytest.raises(ValueError, match=r"encoder_config.json: checksum mismatch"):
        SentenceTransformer(str(m), trust_remote_code=True, device="cpu")
    with pytest.raises(ValueError, match=r"max_length must be an integer >= 1, got 0"):
        GRUEncoder(10, max_length=0)  # a folder whose digests were recomputed
    with pytest.raises(ValueError, match=r"unk_id must be an integer in \[0, vocab_size\), got 10"):
        GRUEncoder(10, unk_id=10)


def test_classify_without_a_threshold_warns(faq, tmp_path, cli_main):
    """A `train-gan --kind kplus1` folder has no rejection.json: every row read as in scope, silently."""
    (tmp_path / "q.txt").write_text("i forgot my password\nwhat is the boiling point of mercury\n")
    code, _, err = cli_main("train-gan", FAQ, "--model", faq[0], "--text-col", "text", "--group-col", "group",
                            "--kind", "kplus1", "--steps", 2, "--batch-size", 32, "--out", tmp_path / "k1")
    assert code == 0, err
    code, out, err = cli_main("classify", tmp_path / "k1", tmp_path / "q.txt")
    assert code == 0 and len(out.strip().splitlines()) == 2, err
    assert "the K+1 model has no out-of-scope threshold (rejection.json, fitted by train-kplus1)" in err


def test_api_prototypes_repeated_names_dicts_and_unknown_groups(faq, tmp_path):
    """train_gan kept the last row of a repeated prototype name under the first group's name, took a
    dict for a path (OSError: file name too long); hallucinate ignored a typo'd group silently."""
    import warnings

    import textgan
    from textgan.common.errors import InputError
    from textgan.gan.anchored import AnchoredConfig, save_prototypes

    names = ["a", "b", "a"]
    with pytest.raises(InputError, match=r"prototype names repeat \('a' names 2 rows\)"):
        save_prototypes(names, np.eye(3, dtype=np.float32), tmp_path / "p.json")
    _, _, groups, vecs = faq
    with pytest.raises(InputError, match=r"prototypes must be \(names, vectors\), \{group: vector\} or a JSON file "
                                         r"path, got int"):
        textgan.train_gan(vecs, tmp_path / "g", groups=groups, prototypes=3, config=AnchoredConfig(steps=1))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(InputError):  # stops after the check, before any training
            textgan.hallucinate(vecs, groups, per_group=2, max_shots=1,
                                prototypes={"no-such-group": np.ones(vecs.shape[1], np.float32)})
    assert not [w for w in seen if "name no group" in str(w.message)]  # refused before: nothing to augment
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        first = groups[0]
        keep = [i for i, g in enumerate(groups) if g != first or i < 2]  # one group of 2 sentences
        textgan.hallucinate(vecs[keep], [groups[i] for i in keep], per_group=1, max_shots=5, steps=1,
                            prototypes={"no-such-group": np.ones(vecs.shape[1], np.float32)})
    assert "1 prototype(s) name no group of the data (e.g. 'no-such-group'): unused" in [str(w.message) for w in seen]


def test_api_score_texts_refuses_the_options_the_cli_refuses(faq, tmp_path):
    """score_texts accepted --combine with knn, labels with knn, k with mahalanobis, a part named
    twice (counted twice) and an empty list (silently the default)."""
    import textgan
    from textgan.common.errors import InputError

    q = ["i forgot my password"]
    cases = [(dict(method="knn", combine=["knn", "mahalanobis"]), "names the components of --method combined"),
             (dict(method="knn", labels=faq[2]), "gives the groups for mahalanobis"),
             (dict(method="mahalanobis", k=5), "sets knn's top-k"),
             (dict(method="combined", combine=["knn", "knn"]), "knn named twice"),
             (dict(method="combined", combine=[]), "no component")]
    for kwargs, needle in cases:
        with pytest.raises(InputError, match=needle):
            textgan.score_texts(faq[0], q, **kwargs)


def test_api_refusals_match_the_cli_round32(faq, tmp_path):
    """The API accepted what the CLI refuses: seeds past 2**32 (torch keeps 32 bits: 2**32 sampled
    what 0 did), one string to `encode` (a vector per character), `k` without an index, settings
    `similarity.train` would not read (now a warning there: a base config shared by a control run and
    its variants is common), and one --gan folder twice (its scorer counted twice)."""
    import similarity
    import textgan
    from textgan.common.errors import InputError

    with pytest.raises(InputError, match=r"seed must be a whole number in \[0, 2\*\*32 - 1\]"):
        from textgan.gan.saved import rng

        rng(2 ** 32)  # every sampler's generator
    with pytest.raises(InputError, match="texts: pass a list of sentences, not one string"):
        textgan.encode(faq[0], "hello world")
    with pytest.raises(InputError, match="--k: sets the neighbours of each decoded vector: give --index"):
        textgan.generate_embeddings(tmp_path / "no-gan", 3, tmp_path / "out", k=3)
    from similarity.config import check_acting, for_data_size, non_default

    texts, groups = faq[1][:60], faq[2][:60]
    files = {"unlabeled": None, "outliers": None, "eval": None}
    for fields, needle in [(dict(lexical_dim=0, lexical_weight=0.5), "lexical_weight=0.5 sets the lexical part"),
                           (dict(loss="triplet", head_lr_mult=3.0), "head_lr_mult=3.0 sets the class-weight head"),
                           (dict(tail_below=3), "tail_below=3 sets the long-tail rows")]:
        cfg = similarity.TrainConfig(epochs=1, teacher="none", **fields)
        with pytest.warns(UserWarning, match=needle):
            check_acting(non_default(cfg), for_data_size(cfg, 60).resolved(), files, refuse=False)
        with pytest.raises(InputError, match=needle.split(" sets ")[0].split("=")[0].replace("_", "-")):
            check_acting(non_default(cfg), for_data_size(cfg, 60).resolved(), files)  # the CLI refuses
    with pytest.warns(UserWarning, match="eval_fraction=0.3 sets the share of DATA held out.*no effect in this run"):
        similarity.train(similarity.TrainConfig(epochs=1, teacher="none", eval_fraction=0.3, hidden_size=8,
                                                embed_dim=8, batch_size=16), texts, groups, tmp_path / "run",
                         eval_texts=faq[1][60:80], eval_groups=faq[2][60:80], progress=False)
    with pytest.raises(InputError, match=r"--gan: .*g is given twice"):
        textgan.score_texts(faq[0], ["hi there"], method="critic", gan=[tmp_path / "g", str(tmp_path / "g")])
