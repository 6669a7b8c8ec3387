"""Checkpoints are artefacts too: `digests.json` covers every file of a GAN or similarity
checkpoint, and resume refuses an edited, unrecorded or unsealed one in one line."""
import json

import numpy as np
import pytest

from helpers import assert_one_line_error

GAN = ["--width", "16", "--depth", "1", "--noise-dim", "3", "--batch-size", "16", "--quiet"]
SIM = ["--epochs", "1", "--hidden", "8", "--embed-dim", "8", "--batch-size", "8", "--quiet",
       "--eval-fraction", "0.34", "--teacher", "none"]
WORDS = {"pay": "bill invoice card money refund charge", "ship": "parcel box courier track deliver road",
         "login": "password account reset email user locked"}


def _edit_state(ckpt):
    """A valid JSON edit a tamperer would make: the recorded step / epoch moved on."""
    meta = json.loads((ckpt / "state.json").read_text())
    meta["step"] = meta["step"] + 1
    (ckpt / "state.json").write_text(json.dumps(meta))
    return ckpt / "state.json", "checksum mismatch"


def _drop_seal(ckpt):
    (ckpt / "digests.json").unlink()
    return ckpt, "no digests.json"


def _extra_file(ckpt):
    (ckpt / "extra.safetensors").write_bytes(b"x")
    return ckpt / "digests.json", "no recorded digest"


def _run(kind, tmp_path, cli_main, resume=False):
    if kind == "gan":
        np.save(tmp_path / "v.npy", np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))
        args = ["train-gan", tmp_path / "v.npy", "--objective", "lsgan", "--steps", "4" if resume else "2",
                "--out", tmp_path / "run", *GAN]
    else:
        rows = [f"{w} {v} {i},{g}" for g, ws in WORDS.items() for i, (w, v) in
                enumerate(zip(ws.split(), ws.split()[1:] + ws.split()[:1]))]
        (tmp_path / "d.csv").write_text("text,group\n" + "\n".join(rows) + "\n")
        args = ["train-similarity", tmp_path / "d.csv", "--out", tmp_path / "run", *SIM]
        if resume:
            args[args.index("--epochs") + 1] = "2"
    return cli_main(*args, *(["--resume"] if resume else []))


@pytest.mark.parametrize("kind", ["gan", "similarity"])
def test_checkpoint_records_every_file_and_resume_checks_them(kind, tmp_path, cli_main):
    assert _run(kind, tmp_path, cli_main)[0] == 0
    ckpt = tmp_path / "run" / "checkpoint"
    seal = json.loads((ckpt / "digests.json").read_text())
    files = sorted(p.relative_to(ckpt).as_posix() for p in ckpt.rglob("*") if p.is_file())
    assert sorted(seal) == [f for f in files if f != "digests.json"] and "state.json" in seal
    for tamper in (_edit_state, _drop_seal, _extra_file):
        backup = {p: p.read_bytes() for p in ckpt.rglob("*") if p.is_file()}
        where, needle = tamper(ckpt)
        code, _, err = _run(kind, tmp_path, cli_main, resume=True)
        assert_one_line_error(code, err, str(where), needle)
        for p in list(ckpt.rglob("*")):
            if p.is_file() and p not in backup:
                p.unlink()
        for p, b in backup.items():
            p.write_bytes(b)
    assert _run(kind, tmp_path, cli_main, resume=True)[0] == 0  # restored: it resumes
