"""Is OpenGAN's near-chance AUROC in bench/ood.py a bug or a result? One encoder's cached vectors.

Reads the vectors bench/ood.py cached for one protocol and encoder (`--vectors`: a folder with
train / val / test_in / test_out / val_out .npy) and trains `textgan.ood.opengan` three times:
selected against generated vectors (the default, no real outliers), against the protocol's
out-of-domain validation sentences (`val_out`: OpenGAN's own recipe, real outliers), and the same
selection on a toy set with known-separable outliers (8-d clusters vs far vectors) as a sanity
check of the score's sign and of the selection. Reported: the kept step, its selection AUROC,
and the test AUROC (in-domain test vs out-of-domain test, and vs uniform noise on the sphere).

    python bench/opengan.py --vectors runs/bench_ood/clinc_oos/vectors_<fingerprint> --steps 1000 \
        --json bench/results/opengan.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textgan.ood.opengan import OpenGANConfig, train_opengan  # noqa: E402
from textgan.ood.scoring import auroc  # noqa: E402


def _sphere(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _toy() -> dict:
    """4 tight clusters on the 8-d sphere; out = random unit vectors away from every centre."""
    rng = np.random.default_rng(0)
    centres = np.eye(8, dtype=np.float32)[:4]

    def draw(n_per):
        x = np.concatenate([c + 0.15 * rng.standard_normal((n_per, 8)).astype(np.float32) for c in centres])
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    far = _sphere(400, 8, 5)
    far = far[(far @ centres.T).max(1) < 0.5]
    return {"train": draw(60), "val": draw(20), "test_in": draw(40), "test_out": far[:100], "val_out": far[100:]}


def run(v: dict, cfg: OpenGANConfig, with_outliers: bool) -> dict:
    t0 = time.process_time()
    m = train_opengan(v["train"], v["val"], cfg, outliers=v["val_out"] if with_outliers else None)
    s = lambda x: m.score(x).numpy()  # noqa: E731
    unif = _sphere(1000, v["train"].shape[1], 1)
    return {"selected_against": m.selection["against"], "step": m.selection["step"],
            "selection_auroc": m.selection["val_auroc"], "test_auroc": auroc(s(v["test_in"]), s(v["test_out"])),
            "uniform_auroc": auroc(s(v["test_in"]), s(unif)), "cpu_s": round(time.process_time() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", required=True, help="a vectors_<fingerprint> folder of bench/ood.py's --work")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from bench import stats as _stats

    _stats.check_flags(args)
    from bench.stats import at_least, refuse

    at_least(args.steps, 1, "--steps")
    at_least(args.threads, 1, "--threads")
    missing = [k for k in ("train", "val", "test_in", "test_out", "val_out") if not (Path(args.vectors) / f"{k}.npy").is_file()]
    if missing:
        refuse(f"{args.vectors}: no {missing[0]}.npy (pass a vectors_<fingerprint> folder of bench/ood.py's --work)")
    torch.set_num_threads(args.threads)
    real = {k: np.load(Path(args.vectors) / f"{k}.npy") for k in ("train", "val", "test_in", "test_out", "val_out")}
    toy = OpenGANConfig(steps=600, batch_size=64, width=64, eval_every=50, lr=1e-3)
    rows = {"toy, generated": run(_toy(), toy, False),
            "vectors, generated": run(real, OpenGANConfig(steps=args.steps), False),
            "vectors, val_out (real outliers)": run(real, OpenGANConfig(steps=args.steps), True)}
    print("| data, selected against | kept step | selection AUROC | test AUROC | vs uniform noise AUROC | CPU s |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['step']} | {r['selection_auroc']:.3f} | {r['test_auroc']:.3f} | "
              f"{r['uniform_auroc']:.3f} | {r['cpu_s']} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        out = {"vectors": args.vectors, "steps": args.steps, "rows": rows}
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
