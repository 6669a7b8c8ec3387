"""O-GAN as an auto-encoder on sentence vectors: how well does G(E(x)) reconstruct held-out x?

Encoder vectors of CLINC150 train sentences train an O-GAN (textgan.gan.ogan); on the test
sentences we report the mean cosine between x and its reconstruction G(E(x)), against
G(z) with a random code z, and the share of reconstructions whose nearest train sentence
has the same intent as x (vs the random-code share, about 1/150).

    python bench/ogan.py --encoder runs/bench_ood/gru_s0/model --json bench/results/ogan.json
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/clinc150/data_full.json"))
    ap.add_argument("--encoder", default=None, help="similarity model folder (default: train one, 10 epochs)")
    ap.add_argument("--work", default="runs/bench_ogan")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--corr-weight", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from bench import stats as _stats

    _stats.check_flags(args)
    torch.set_num_threads(1)
    import similarity
    from textgan.gan import OGANConfig, load, train_gan
    from textgan.gan.ogan import reconstruction_report

    clinc = json.loads(Path(args.data).read_text(encoding="utf-8"))
    work = Path(args.work)
    model = args.encoder
    if model is None:
        model = similarity.train(similarity.TrainConfig(seed=args.seed), [t for t, _ in clinc["train"]],
                                 [g for _, g in clinc["train"]], work / "gru", progress=False)
    enc = similarity.load(model)
    tr, te = enc.encode([t for t, _ in clinc["train"]]), enc.encode([t for t, _ in clinc["test"]])
    ytr, yte = np.array([g for _, g in clinc["train"]]), np.array([g for _, g in clinc["test"]])
    out = work / f"ogan_{args.steps}_s{args.seed}"
    shutil.rmtree(out, ignore_errors=True)
    cfg = OGANConfig(steps=args.steps, batch_size=256, noise_dim=64, width=256, depth=3,
                     head="sphere", seed=args.seed, log_every=100, corr_weight=args.corr_weight)
    t0 = time.perf_counter()
    train_gan(torch.from_numpy(tr), cfg, out, progress=False)
    seconds = time.perf_counter() - t0
    m = load(out)
    rep = reconstruction_report(m, te, seed=args.seed)
    rec = m.reconstruct(te).numpy()
    rnd = m.sample(len(te), seed=args.seed).numpy()
    same = lambda v: float(np.mean(ytr[(v @ tr.T).argmax(1)] == yte))  # noqa: E731
    rep.update({"intent_kept_reconstruct": same(rec), "intent_kept_random_code": same(rnd),
                "cos_nearest_train": float((te @ tr.T).max(1).mean()), "train_seconds": round(seconds, 1),
                "steps": args.steps, "encoder_dim": int(tr.shape[1])})
    print("| measure | G(E(x)) | G(random z) |\n|---|---|---|")
    print(f"| mean cos(x, .) on test | {rep['cos_reconstruct']:.3f} | {rep['cos_random_code']:.3f} |")
    print(f"| intent of nearest train sentence = x's | {rep['intent_kept_reconstruct']:.3f} | "
          f"{rep['intent_kept_random_code']:.3f} |")
    print(f"(reference: mean cos of a test vector to its nearest train vector {rep['cos_nearest_train']:.3f}; "
          f"trained in {seconds:.0f}s)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rep, indent=2) + "\n")


if __name__ == "__main__":
    main()
