"""Protocol G2 (../shared/BENCHMARKS.md): generated sentence embeddings on CLINC150.

Real = encoder vectors of CLINC150 train sentences; held-out = test sentences. Every
system generates as many vectors as the held-out set; all are scored in one run:
GAN objectives from the table, energy/encoder models when registered, and the
baselines `gaussian` (full covariance), `gmm` (150 components) and `copy` (memoriser).
The conditional section judges conditional generators by Classification Accuracy Score
(`bench/cas.py`): a classifier trained on their samples only, tested on real test sentences.

    python bench/generation.py --json bench/results/generation.json
    python bench/generation.py --only-conditional --vectors minilm --json bench/results/cas.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_OBJECTIVES = "gan-ns,wgan-gp,wgan-div,f-js,gan-qp-l2,hinge"
TARGET = "a GAN beats gaussian and gmm on coverage at density >= 0.9; intent_coverage >= 0.97; authenticity >= 0.5"


def load_clinc(path: Path):
    d = json.loads(path.read_text(encoding="utf-8"))
    return ([t for t, _ in d["train"]], [g for _, g in d["train"]],
            [t for t, _ in d["test"]], [g for _, g in d["test"]], d)


def baselines(train: np.ndarray, n: int, seed: int, gmm_components: int) -> dict[str, tuple[np.ndarray, float]]:
    """The three reference generators of protocol G2, each with its fit+sample seconds."""
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(seed)
    out = {}
    t = time.perf_counter()
    cov = np.cov(train, rowvar=False) + 1e-6 * np.eye(train.shape[1])
    g = rng.multivariate_normal(train.mean(0), cov, size=n)
    out["gaussian"] = (g, time.perf_counter() - t)
    t = time.perf_counter()
    # diagonal covariances: 150 full 256x256 covariances would not fit in minutes on a CPU
    gmm = GaussianMixture(gmm_components, covariance_type="diag", random_state=seed, max_iter=100).fit(train)
    out["gmm"] = (gmm.sample(n)[0], time.perf_counter() - t)
    t = time.perf_counter()
    out["copy"] = (train[rng.choice(len(train), n, replace=True)], time.perf_counter() - t)
    # everything lives on the unit sphere, like the encoder's vectors
    return {k: ((v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32), s) for k, (v, s) in out.items()}


def train_encoder(args, texts, groups) -> Path:
    """The GRU encoder (library defaults) trained on CLINC150 train, cached for every bench."""
    from bench import clinc

    return clinc.encoder(clinc.load(args.clinc), seed=args.seed)[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clinc", type=Path, default=ROOT.parent / "shared/data/clinc150/data_full.json")
    ap.add_argument("--model", type=Path, default=None, help="similarity model folder (default: train a GRU)")
    ap.add_argument("--objectives", default=DEFAULT_OBJECTIVES, help="comma-separated objective names")
    ap.add_argument("--extra", default="", help="comma-separated energy/encoder models (e.g. meg,ebm-langevin,ogan)")
    ap.add_argument("--steps", type=int, default=3000, help="generator steps per GAN")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gmm-components", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=ROOT / "bench/results/generation_work")
    ap.add_argument("--conditional", default=None,
                    help="comma-separated kinds for the conditional (CAS) section (default: every kind with "
                         "groups; '' skips it)")
    ap.add_argument("--vectors", choices=("gru", "minilm"), default="gru",
                    help="gru: --model or the cached GRU; minilm: the cached all-MiniLM-L6-v2 vectors")
    ap.add_argument("--conditional-steps", type=int, default=1000, help="training steps per kind (conditional)")
    ap.add_argument("--only-conditional", action="store_true", help="skip the unconditional table")
    ap.add_argument("--ebm-temps", default="1,0.5,0.25,0.0625",
                    help="with ebm-langevin in --extra: rows sampled at these multiples of its training T, and "
                    "the multiple nearest to the val vectors ('' for none)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from bench import stats as _stats

    _stats.check_flags(args)
    args.ebm_temps = _stats.positive_floats(args.ebm_temps, "--ebm-temps")  # before minutes of encoding
    from textgan.gan import OBJECTIVES

    if args.objectives:  # names trained one after another: a typo failed after the first ones
        _stats.pick(args.objectives, OBJECTIVES, "--objectives")
    _stats.kinds(args.extra, "--extra", labelled=False)
    _stats.kinds(args.conditional or "", "--conditional", labelled=True)

    import torch

    import similarity
    from textgan.workflow import core as workflow
    from textgan.gan import PRESETS
    from textgan.metrics import generation_report, group_coverage

    torch.set_num_threads(args.threads)
    tr_t, tr_g, te_t, te_g, data = load_clinc(args.clinc)
    t0 = time.perf_counter()
    if args.vectors == "minilm":
        from bench import clinc

        model, enc = "all-MiniLM-L6-v2", None
        vecs = clinc.minilm(data)
        train, held, val = vecs["train"], vecs["test"], vecs["val"]
    else:
        model = args.model or train_encoder(args, tr_t, tr_g)
        enc = similarity.load(model)
        train, held, val = enc.encode(tr_t), enc.encode(te_t), enc.encode([t for t, _ in data["val"]])
    print(f"encoder {model}: train {train.shape}, held-out {held.shape} ({time.perf_counter() - t0:.0f} s)")
    n = len(held)

    conditional = None
    if args.conditional != "":
        from textgan.gan import KINDS

        from bench.cas import conditional_section

        kinds = [k for k in (args.conditional or ",".join(k for k in KINDS if KINDS[k].needs_labels)).split(",")
                 if k]
        args.test_size = len(held)
        conditional = conditional_section(kinds, train, tr_g, held, te_g, val, [g for _, g in data["val"]], args)
    if args.only_conditional:
        args.objectives, args.extra, args.gmm_components = "", "", 0
    systems: dict[str, tuple[np.ndarray, float]] = baselines(train, n, args.seed, args.gmm_components) \
        if args.gmm_components else {}
    for name in [o for o in args.objectives.split(",") if o]:
        cfg = dataclasses.replace(PRESETS["embeddings"], objective=name, steps=args.steps, seed=args.seed)
        t = time.perf_counter()
        shutil.rmtree(args.work / name, ignore_errors=True)
        gan = workflow.train_gan(train, args.work / name, config=cfg,
                                 encoder=workflow.encoder_meta(enc, model) if enc else None, progress=False)
        systems[name] = (workflow.generate(gan, n, seed=args.seed), time.perf_counter() - t)
        print(f"{name}: {systems[name][1]:.0f} s")
    for name in [o for o in args.extra.split(",") if o]:
        from textgan.gan import load, train_by_name

        t = time.perf_counter()
        shutil.rmtree(args.work / name, ignore_errors=True)
        gan = train_by_name(name, train, args.work / name, steps=args.steps, seed=args.seed)
        systems[name] = (load(gan).sample(n, seed=args.seed).numpy(), time.perf_counter() - t)
        if name == "ebm-langevin" and args.ebm_temps:
            systems.update(ebm_temperature_rows(load(gan), n, val, args))

    results = {}
    for name, (fake, secs) in systems.items():
        m = generation_report(train, held, fake)
        m["intent_coverage"] = group_coverage(train, tr_g, fake)
        m["seconds"] = secs
        results[name] = m
    keys = ("precision", "recall", "density", "coverage", "fd", "authenticity", "intent_coverage", "seconds")
    if results:
        print_unconditional(results, keys, n, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"protocol": "G2", "steps": args.steps, "encoder": str(model),
                                         "results": results, "conditional": conditional,
                                         "seconds": round(time.perf_counter() - t0, 1)}, indent=2))


def ebm_temperature_rows(model, n: int, val: np.ndarray, args) -> dict[str, tuple[np.ndarray, float]]:
    """The EBM sampled at multiples c of its training T, a row each, and the row of the c whose
    samples are nearest (chamfer, bench/toy.py) to the CLINC val vectors: chosen on val, scored on test."""
    import torch

    from bench.toy import chamfer

    rows, dist, ref = {}, {}, torch.from_numpy(val)
    for c in args.ebm_temps:
        t = time.perf_counter()
        temp = c * model.config.temperature
        dist[c] = chamfer(model.sample(len(val), seed=args.seed + 1, temperature=temp), ref)
        rows[f"ebm-langevin (sampled at {c:g} x T)"] = (model.sample(n, seed=args.seed, temperature=temp).numpy(),
                                                        time.perf_counter() - t)
    best = min(dist, key=dist.get)
    print(f"ebm-langevin: chamfer to val by temperature multiple {dist}; chose {best:g} x T")
    rows[f"ebm-langevin (T chosen on val: {best:g} x T)"] = rows[f"ebm-langevin (sampled at {best:g} x T)"]
    return rows


def print_unconditional(results: dict, keys, n: int, args) -> None:
    print(f"\nProtocol G2, CLINC150, {n} generated vectors each, GAN steps {args.steps}. Target: {TARGET}\n")
    print("| system | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, m in results.items():
        print(f"| {name} | " + " | ".join(f"{m[k]:.3f}" if k != "seconds" else f"{m[k]:.0f}" for k in keys) + " |")
    gans = [k for k in results if k not in ("gaussian", "gmm", "copy")]
    dense = [k for k in gans if results[k]["density"] >= 0.9]
    if not dense:
        print(f"\nno generator reaches density >= 0.9 -> target NOT met "
              f"(best FD: {min(gans, key=lambda k: results[k]['fd'])})" if gans else "")
    else:
        best = max(dense, key=lambda k: results[k]["coverage"])
        b, ga, gm = results[best], results["gaussian"], results["gmm"]
        ok = (b["coverage"] > max(ga["coverage"], gm["coverage"])
              and b["intent_coverage"] >= 0.97 and b["authenticity"] >= 0.5)
        print(f"\nbest by coverage at density >= 0.9: {best} -> target {'MET' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
