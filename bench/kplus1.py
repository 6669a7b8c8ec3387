"""Protocol G5: semi-supervised intent classification on CLINC150 with the K+1 GAN.

5 labelled train sentences per intent (750, drawn with `--seed`), the other 14,250 train
sentences unlabelled; accuracy on the 4,500 in-scope test sentences. All methods use the same
frozen vectors of a GRU encoder trained once with the library defaults on the 150 intents'
train sentences (cached). Baselines: logistic regression, nearest prototype and kNN on the
labelled vectors; scikit-learn label propagation (kNN kernel) and self-training (logistic
regression) with the unlabelled vectors. Generative: the K+1 GAN (`textgan.workflow.kplus1`).

    python bench/kplus1.py --json bench/results/kplus1.json
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


def baselines(xl, yl, xu, xt, seed: int) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.semi_supervised import LabelPropagation, SelfTrainingClassifier

    k = yl.max() + 1
    protos = np.stack([xl[yl == c].mean(0) for c in range(k)])
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    sims = xt @ xl.T
    top = np.argsort(-sims, 1)[:, :5]
    vote = np.array([np.bincount(yl[r], weights=sims[i, r], minlength=k).argmax() for i, r in enumerate(top)])
    x_all = np.concatenate([xl, xu])
    y_all = np.concatenate([yl, -np.ones(len(xu), dtype=int)])
    return {
        "logreg": lambda: LogisticRegression(C=10.0, max_iter=1000, random_state=seed).fit(xl, yl).predict(xt),
        "prototype": lambda: (xt @ protos.T).argmax(1),
        "knn-1": lambda: yl[sims.argmax(1)],
        "knn-5": lambda: vote,
        "label-propagation": lambda: LabelPropagation(kernel="knn", n_neighbors=10, max_iter=200)
        .fit(x_all, y_all).predict(xt),
        "self-training": lambda: SelfTrainingClassifier(
            LogisticRegression(C=10.0, max_iter=500, random_state=seed), threshold=0.9, max_iter=5)
        .fit(x_all, y_all).predict(xt),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clinc", type=Path, default=clinc.DEFAULT)
    ap.add_argument("--work", type=Path, default=ROOT / "bench/results/kplus1_work")
    ap.add_argument("--shots", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3000, help="K+1 training steps")
    ap.add_argument("--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                    help="K+1 config field (repeatable), e.g. --set unsup_weight=1.0")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    import shutil

    import torch

    from textgan.workflow import kplus1
    from textgan.gan.kplus1 import KPlus1Config

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    data = clinc.load(args.clinc)
    enc, enc_dir = clinc.encoder(data, seed=0)
    intents = sorted({g for _, g in data["train"]})
    lab = {g: i for i, g in enumerate(intents)}
    xtr, ytr = enc.encode([t for t, _ in data["train"]]), np.array([lab[g] for _, g in data["train"]])
    xt, yt = enc.encode([t for t, _ in data["test"]]), np.array([lab[g] for _, g in data["test"]])
    rng = np.random.default_rng(args.seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(ytr == c), args.shots, replace=False) for c in range(len(intents))])
    mask = np.zeros(len(ytr), bool)
    mask[idx] = True
    xl, yl, xu = xtr[mask], ytr[mask], xtr[~mask]
    print(f"encoder ready ({time.perf_counter() - t0:.0f} s); {len(xl)} labelled, {len(xu)} unlabelled, "
          f"{len(xt)} test", flush=True)
    methods, secs = {}, {}
    for name, fit in baselines(xl, yl, xu, xt, args.seed).items():
        t = time.perf_counter()
        methods[name] = {"accuracy": float(np.mean(fit() == yt)), "generative": False}
        secs[name] = round(time.perf_counter() - t, 1)
        print(f"  {name}: {methods[name]['accuracy']:.4f} ({secs[name]} s)", flush=True)
    fields = {}
    for pair in args.settings:
        k, v = pair.split("=", 1)
        fields[k] = json.loads(v)
    cfg = KPlus1Config(steps=args.steps, seed=args.seed, **fields)
    t = time.perf_counter()
    out = args.work / "kplus1"
    shutil.rmtree(out, ignore_errors=True)
    path = kplus1.train(xl, [intents[i] for i in yl], xu, out, config=cfg,
                         encoder={"fingerprint": enc.fingerprint, "dim": int(enc.dim), "path": str(enc_dir)})
    pred = kplus1.classify_vectors(path, xt)["group"]
    methods["kplus1"] = {"accuracy": float(np.mean(np.asarray(pred) == np.asarray(intents)[yt])), "generative": True}
    secs["kplus1"] = round(time.perf_counter() - t, 1)
    seconds = round(time.perf_counter() - t0, 1)
    print(f"\nProtocol G5, CLINC150, {args.shots} labelled per intent, K+1 {args.steps} steps "
          f"{fields or ''}; wall {seconds} s\n")
    print("| method | generative | accuracy | seconds |\n|---|---|---|---|")
    for m, r in methods.items():
        print(f"| {m} | {'yes' if r['generative'] else 'no'} | {r['accuracy']:.4f} | {secs[m]} |")
    sup = max(methods[m]["accuracy"] for m in ("logreg", "prototype", "knn-1", "knn-5"))
    k1 = methods["kplus1"]["accuracy"]
    print(f"\nK+1 vs best supervised-only: {100 * (k1 - sup):+.1f} points; vs label propagation: "
          f"{100 * (k1 - methods['label-propagation']['accuracy']):+.1f} points")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"methods": methods, "seconds": seconds, "method_seconds": secs,
                                         "settings": {"shots": args.shots, "steps": args.steps, "seed": args.seed,
                                                      "kplus1": fields}}, indent=2))


if __name__ == "__main__":
    main()
