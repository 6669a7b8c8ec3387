"""Shared test fixtures (the helpers they wrap are in helpers.py): `cli_main` runs `cli.main`
in-process, `faq` is the small FAQ model trained once."""
from __future__ import annotations

import os

import pytest
import torch

from helpers import faq_model, run_cli, scratch

torch.set_num_threads(1)  # two cores: tests beside other jobs must not oversubscribe
os.environ.setdefault("TEXTGAN_THREADS", "1")  # and so must the commands they run (`--threads` default)
# teacher vectors are cached per test session, never in the user's ~/.cache
if "TEXTGAN_CACHE_DIR" not in os.environ:  # xdist workers inherit the controller's
    os.environ["TEXTGAN_CACHE_DIR"] = str(scratch("textgan-test-cache-"))


@pytest.fixture
def cli_main(capsys):
    return lambda *args: run_cli(capsys, *args)


@pytest.fixture(scope="session")
def faq():
    """(model folder, texts, groups, unit vectors) of the small FAQ model (helpers.faq_model)."""
    return faq_model()
