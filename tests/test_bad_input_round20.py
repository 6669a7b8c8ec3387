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
