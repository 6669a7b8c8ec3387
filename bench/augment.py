"""Few-shot intent classification on CLINC150 with and without conditional-GAN vectors.

Protocol: intents sorted by name; the GRU + AM-Softmax encoder is trained on the first 100
intents' train sentences only. The few-shot task is the other 50 intents: 5 or 10 train
sentences each (drawn per seed), tested on their 1,500 test sentences. Classifiers on the
encoder's unit vectors: nearest centroid (cosine) and logistic regression. Augmentation:
a class-conditional GAN (textgan.gan.conditional, WGAN-GP + projection critic) trained on
the few-shot vectors only adds `--per-class` generated vectors per intent ("filtered": only
those whose nearest few-shot centroid is their own intent); a "jitter" baseline adds the
same number of noisy copies of the few-shot vectors instead.

    python bench/augment.py --json bench/results/augment.json
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def centroid_acc(xtr, ytr, xte, yte) -> float:
    classes = np.unique(ytr)
    c = np.stack([xtr[ytr == k].mean(0) for k in classes])
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    return float(np.mean(classes[(xte @ c.T).argmax(1)] == yte))


def logreg_acc(xtr, ytr, xte, yte, seed: int) -> float:
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=10.0, max_iter=2000, random_state=seed)
    clf.fit(xtr, ytr)
    return float(np.mean(clf.predict(xte) == yte))


def encoder(clinc: dict, seen: set, work: Path, epochs: int, seed: int):
    import similarity

    out = work / f"gru_100intents_e{epochs}_s{seed}"
    if not (out / "model").exists():
        tr = [(t, g) for t, g in clinc["train"] if g in seen]
        va = [(t, g) for t, g in clinc["val"] if g in seen]
        similarity.train(similarity.TrainConfig(epochs=epochs, seed=seed), [t for t, _ in tr], [g for _, g in tr],
                         out, eval_texts=[t for t, _ in va], eval_groups=[g for _, g in va], progress=False)
    return similarity.load(out / "model")


def generate(x, y, names, per_class: int, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train a conditional GAN on the few-shot vectors; per_class samples for each intent."""
    from textgan.gan import ConditionalConfig, load, train_gan

    tmp = Path(tempfile.mkdtemp(prefix="augment-"))
    try:
        cfg = ConditionalConfig(objective="wgan-gp", steps=steps, n_critic=2, batch_size=128, noise_dim=16, width=128,
                        depth=2, head="sphere", lr_g=1e-3, lr_d=1e-3, seed=seed)
        train_gan(x, cfg, tmp / "cgan", groups=[names[k] for k in y], progress=False)
        m = load(tmp / "cgan")
        gx = [m.sample(per_class, seed=seed * 1000 + k, group=names[k]).numpy() for k in np.unique(y)]
        gy = [np.full(per_class, k) for k in np.unique(y)]
        return np.concatenate(gx), np.concatenate(gy)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def keep_consistent(x, y, gx, gy) -> tuple[np.ndarray, np.ndarray]:
    """Drop generated vectors whose nearest few-shot centroid is not their requested intent."""
    classes = np.unique(y)
    c = np.stack([x[y == k].mean(0) for k in classes])
    keep = classes[(gx @ c.T).argmax(1)] == gy
    return gx[keep], gy[keep]


def jitter(x, y, per_class: int, sigma: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gx, gy = [], []
    for k in np.unique(y):
        base = x[y == k][rng.integers((y == k).sum(), size=per_class)]
        v = base + sigma * rng.normal(size=base.shape) / np.sqrt(x.shape[1])
        gx.append(v / np.linalg.norm(v, axis=1, keepdims=True))
        gy.append(np.full(per_class, k))
    return np.concatenate(gx).astype(np.float32), np.concatenate(gy)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/clinc150/data_full.json"))
    ap.add_argument("--work", default="runs/bench_augment")
    ap.add_argument("--shots", default="5,10")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--gan-steps", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=6, help="encoder epochs (on the other 100 intents)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from bench import stats as _stats

    _stats.check_flags(args)
    shot_list = _stats.ints(args.shots, "--shots", high=100)  # an intent has 100 train sentences to draw from
    torch.set_num_threads(1)
    clinc = json.loads(Path(args.data).read_text(encoding="utf-8"))
    intents = sorted({g for _, g in clinc["train"]})
    seen, fewshot = set(intents[:100]), intents[100:]
    t0 = time.perf_counter()
    enc = encoder(clinc, seen, Path(args.work), args.epochs, 0)
    label = {g: i for i, g in enumerate(fewshot)}
    pool = [(t, g) for t, g in clinc["train"] if g in label]
    test = [(t, g) for t, g in clinc["test"] if g in label]
    xpool, ypool = enc.encode([t for t, _ in pool]), np.array([label[g] for _, g in pool])
    xte, yte = enc.encode([t for t, _ in test]), np.array([label[g] for _, g in test])
    print(f"encoder ready in {time.perf_counter() - t0:.0f}s (trained on {len(seen)} other intents); "
          f"{len(fewshot)} few-shot intents, {len(yte)} test sentences", flush=True)
    result = {"protocol": "encoder on intents[:100] train; few-shot on intents[100:], test split",
              "encoder": "GRU + AM-Softmax (similarity.train)", "per_class": args.per_class, "shots": {}}
    for shots in shot_list:
        runs = []
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            idx = np.concatenate([rng.choice(np.flatnonzero(ypool == k), shots, replace=False)
                                  for k in range(len(fewshot))])
            x, y = xpool[idx], ypool[idx]
            t1 = time.perf_counter()
            gx, gy = generate(x, y, fewshot, args.per_class, args.gan_steps, seed)
            gan_s = time.perf_counter() - t1
            jx, jy = jitter(x, y, args.per_class, 0.5, seed)
            fx, fy = keep_consistent(x, y, gx, gy)
            row = {"gan_seconds": round(gan_s, 1), "kept_share": round(len(fy) / len(gy), 3)}
            for name, (ax, ay) in {"none": (x, y), "cgan": (np.r_[x, gx], np.r_[y, gy]),
                                   "cgan_filtered": (np.r_[x, fx], np.r_[y, fy]),
                                   "jitter": (np.r_[x, jx], np.r_[y, jy])}.items():
                row[f"centroid_{name}"] = centroid_acc(ax, ay, xte, yte)
                row[f"logreg_{name}"] = logreg_acc(ax, ay, xte, yte, seed)
            runs.append(row)
            print(f"  {shots}-shot seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
        keys = [k for k in runs[0] if k not in ("gan_seconds", "kept_share")]
        result["shots"][str(shots)] = {k: float(np.mean([r[k] for r in runs])) for k in keys}
        result["shots"][str(shots)]["runs"] = runs
    result["seconds"] = round(time.perf_counter() - t0, 1)
    print("\n| shots | classifier | no augmentation | + cGAN vectors | + cGAN, filtered | + jitter copies |"
          "\n|---|---|---|---|---|---|")
    for shots, r in result["shots"].items():
        for clf in ("centroid", "logreg"):
            print(f"| {shots} | {clf} | {r[f'{clf}_none']:.3f} | {r[f'{clf}_cgan']:.3f} | "
                  f"{r[f'{clf}_cgan_filtered']:.3f} | {r[f'{clf}_jitter']:.3f} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
