"""Protocol G3: few-shot intent classification on CLINC150 with generated and non-generative augmentation.

Intents sorted by name: the first 100 are base intents, the last 50 novel. The GRU encoder
and every generator are trained on the base intents' train sentences only. An episode draws
K labelled train sentences per novel intent; the novel intents' 1,500 test sentences are
classified among the 50 novel intents by a prototype (nearest-centroid, cosine) classifier and
by logistic regression, trained on the K shots plus `--per-group` added vectors per intent:
- none: no augmentation;
- noise, delta, extrapolation: the feature-space augmentations of Kumar et al. 2019
  (arXiv:1910.04176): Gaussian noise on a shot; a shot plus the difference of two sentences
  of one base intent (linear delta); (x_j - x_k) * lam + x_j for two shots of the intent
  (extrapolation, DeVries & Taylor 2017; needs K >= 2, so at K = 1 it adds nothing);
- every generator kind of the registry (trained once on the base vectors), asked for samples
  around each novel intent's prototype (the mean of its shots) by `clinc.GroupSampler`:
  `anchored` conditions on the prototype; the other kinds' samples are carried over as
  residuals from their nearest base intent (delta transfer of generated variation).
Every vector is projected back onto the unit sphere.

    python bench/fewshot.py --json bench/results/fewshot.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import clinc  # noqa: E402

NON_GENERATIVE = ("none", "noise", "delta", "extrapolation")


unit = clinc.unit


def prototypes(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    return unit(np.stack([x[y == c].mean(0) for c in range(k)]))


def prototype_acc(x, y, xte, yte, k) -> float:
    return float(np.mean((xte @ prototypes(x, y, k).T).argmax(1) == yte))


def logreg_acc(x, y, xte, yte, seed: int) -> float:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=10.0, max_iter=1000, random_state=seed).fit(x, y)
    return float(np.mean(clf.predict(xte) == yte))


# --- non-generative feature augmentations (Kumar et al. 2019) ----------------------------------

def noise(x, y, per, rng, sigma, base_x, base_y):
    i = np.concatenate([np.flatnonzero(y == c)[rng.integers((y == c).sum(), size=per)] for c in np.unique(y)])
    return unit(x[i] + sigma * rng.normal(size=(len(i), x.shape[1])) / np.sqrt(x.shape[1])), y[i]


def delta(x, y, per, rng, sigma, base_x, base_y):
    i = np.concatenate([np.flatnonzero(y == c)[rng.integers((y == c).sum(), size=per)] for c in np.unique(y)])
    cls = rng.integers(base_y.max() + 1, size=len(i))
    a = np.array([rng.choice(np.flatnonzero(base_y == c), 2, replace=False) for c in cls])  # (M, 2)
    return unit(x[i] + base_x[a[:, 0]] - base_x[a[:, 1]]), y[i]


def extrapolation(x, y, per, rng, sigma, base_x, base_y, lam: float = 0.5):
    out, lab = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) < 2:
            continue
        j, k = np.array([rng.choice(idx, 2, replace=False) for _ in range(per)]).T
        out.append((x[j] - x[k]) * lam + x[j])
        lab.append(np.full(per, c))
    if not out:
        return x[:0], y[:0]
    return unit(np.concatenate(out)), np.concatenate(lab)


AUGMENT = {"noise": noise, "delta": delta, "extrapolation": extrapolation}


# --- generators ---------------------------------------------------------------------------------

# settings of a kind benched as an extra row beside its defaults
VARIANTS = {"anchored-shots": ("anchored", {"anchor_shots": 5})}


def train_generators(names, bx, by, base_names, work: Path, steps: int, seed: int) -> dict:
    import shutil

    from textgan.gan import KINDS, load, train_by_name

    out, secs = {}, {}
    protos = prototypes(bx, by, len(base_names))
    for name in names:
        t = time.perf_counter()
        kind, fields = VARIANTS.get(name, (name, {}))
        folder = work / f"gen_{name}_{steps}"
        if not (folder / "config.json").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            groups = [base_names[i] for i in by] if KINDS[kind].needs_labels else None
            train_by_name(kind, bx, folder, groups=groups, steps=steps, seed=seed, **fields)
        out[name] = clinc.GroupSampler(load(folder), protos)
        secs[name] = round(time.perf_counter() - t, 1)
        print(f"  generator {name}: {secs[name]} s", flush=True)
    return out, secs


def main() -> None:
    from textgan.gan import KINDS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clinc", type=Path, default=clinc.DEFAULT)
    ap.add_argument("--work", type=Path, default=ROOT / "bench/results/fewshot_work")
    ap.add_argument("--shots", default="1,5")
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--per-group", type=int, default=20, help="added vectors per novel intent")
    ap.add_argument("--kinds", default=",".join([*KINDS, *VARIANTS]),
                    help="generator kinds (default: every registered kind and the variants)")
    ap.add_argument("--steps", type=int, default=1000, help="training steps of each generator")
    ap.add_argument("--noise-sigma", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    data = clinc.load(args.clinc)
    base, novel = clinc.split_intents(data)
    enc, _ = clinc.encoder(data, intents=base, seed=args.seed)
    bl, nl = {g: i for i, g in enumerate(base)}, {g: i for i, g in enumerate(novel)}
    btr = [(t, g) for t, g in data["train"] if g in bl]
    ntr = [(t, g) for t, g in data["train"] if g in nl]
    nte = [(t, g) for t, g in data["test"] if g in nl]
    bx, by = enc.encode([t for t, _ in btr]), np.array([bl[g] for _, g in btr])
    px, py = enc.encode([t for t, _ in ntr]), np.array([nl[g] for _, g in ntr])
    tx, ty = enc.encode([t for t, _ in nte]), np.array([nl[g] for _, g in nte])
    print(f"encoder on {len(base)} base intents ready ({time.perf_counter() - t0:.0f} s)", flush=True)
    kinds = [k for k in args.kinds.split(",") if k]
    gens, gen_secs = train_generators(kinds, bx, by, base, args.work, args.steps, args.seed)

    result: dict = {}
    for K in [int(s) for s in args.shots.split(",")]:
        runs: dict[str, list[float]] = {}
        for ep in range(args.episodes):
            rng = np.random.default_rng(1000 * K + ep)
            idx = np.concatenate([rng.choice(np.flatnonzero(py == c), K, replace=False) for c in range(len(novel))])
            x, y = px[idx], py[idx]
            protos = prototypes(x, y, len(novel))
            added = {"none": (x[:0], y[:0])}
            for name, fn in AUGMENT.items():
                added[name] = fn(x, y, args.per_group, rng, args.noise_sigma, bx, by)
            for name, h in gens.items():
                added[name] = (unit(h.sample(protos, args.per_group, seed=ep)), np.repeat(np.arange(len(novel)),
                                                                                      args.per_group))
            for aug, (ax, ay) in added.items():
                xx, yy = np.concatenate([x, ax]), np.concatenate([y, ay])
                runs.setdefault(f"prototype+{aug}", []).append(prototype_acc(xx, yy, tx, ty, len(novel)))
                runs.setdefault(f"logreg+{aug}", []).append(logreg_acc(xx, yy, tx, ty, ep))
            print(f"  {K}-shot episode {ep}: " + ", ".join(f"{m} {v[-1]:.3f}" for m, v in runs.items()), flush=True)
        result[str(K)] = {m: {"accuracy": float(np.mean(v)), "std": float(np.std(v)),
                              "generative": m.split("+", 1)[1] not in NON_GENERATIVE} for m, v in runs.items()}
    seconds = round(time.perf_counter() - t0, 1)
    print(f"\nProtocol G3, CLINC150 50 novel intents, {args.episodes} episodes, {args.per_group} added "
          f"vectors per intent, generators {args.steps} steps; wall {seconds} s\n")
    print("| method | generative | " + " | ".join(f"{K}-shot" for K in result) + " |")
    print("|---|---|" + "---|" * len(result))
    for m in result[next(iter(result))]:
        print(f"| {m} | {'yes' if result[next(iter(result))][m]['generative'] else 'no'} | " +
              " | ".join(f"{r[m]['accuracy']:.3f} ± {r[m]['std']:.3f}" for r in result.values()) + " |")
    for K, r in result.items():
        gen = max((m for m in r if r[m]["generative"]), key=lambda m: r[m]["accuracy"], default=None)
        non = max((m for m in r if not r[m]["generative"]), key=lambda m: r[m]["accuracy"])
        if gen:
            print(f"{K}-shot: best generative {gen} {r[gen]['accuracy']:.3f} vs best non-generative {non} "
                  f"{r[non]['accuracy']:.3f}: {100 * (r[gen]['accuracy'] - r[non]['accuracy']):+.1f} points")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**result, "seconds": seconds, "generator_seconds": gen_secs,
                                         "settings": vars(args) | {"json": str(args.json), "clinc": str(args.clinc),
                                                                   "work": str(args.work)}}, indent=2))


if __name__ == "__main__":
    main()
