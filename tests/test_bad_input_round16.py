"""Results of the sixteenth and seventeenth sweeps: inputs that were refused with a message that
did not say what to give instead."""
from __future__ import annotations

import pytest

from textgan.common.errors import InputError


def test_train_gan_on_a_model_folder_says_what_a_vector_file_is(tmp_path):
    """A model folder given as VECTORS read "cannot read dataset (FileNotFoundError: Directory ... is
    neither a `Dataset` directory nor ...)": now it names the folder and what to give."""
    from textgan.gan.data import load_vectors

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(InputError, match=r"did not write \(it holds a config.json: a model folder\?\).*\.npy"):
        load_vectors(tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(InputError, match="a folder that `Dataset.save_to_disk` did not write: give a .npy"):
        load_vectors(tmp_path)
