"""The same GAN core on images: scikit-learn's bundled 8x8 digits (no download).

Data are (N, 1, 8, 8) scaled to [-1, 1]; the MLP generator/critic flatten them to 64-d
and the `tanh` head keeps samples in range. Any row of the objectives table works:

    python examples/digits_gan.py --objective gan-ns --steps 1500 --out runs/digits
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch


def main() -> None:
    from sklearn.datasets import load_digits

    from textgan.gan import OBJECTIVES, PRESETS, load, train_gan

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objective", default=PRESETS["images"].objective, choices=list(OBJECTIVES))
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/digits"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    images = torch.tensor(load_digits().images, dtype=torch.float32)  # (1797, 8, 8), values 0..16
    data = (images / 8.0 - 1.0).unsqueeze(1)  # (N, 1, 8, 8) in [-1, 1]
    config = dataclasses.replace(PRESETS["images"], objective=args.objective, steps=args.steps, seed=args.seed)
    if args.objective != PRESETS["images"].objective:  # other rows keep their own published penalty etc.
        config = dataclasses.replace(config, penalty=None, penalty_weight=None, lr_g=None, lr_d=None,
                                     n_critic=None, optimizer=None, betas=None)
    out = train_gan(data, config, args.out, progress=True, resume=(args.out / "checkpoint").exists())

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fake = load(out).sample(64, seed=0, flat=False)[:, 0]  # (64, 8, 8)
    real = data[torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:64], 0]
    fig, axes = plt.subplots(8, 17, figsize=(8.5, 4))
    for i in range(64):
        r, c = divmod(i, 8)
        axes[r, c].imshow(real[i], cmap="gray_r", vmin=-1, vmax=1)
        axes[r, c + 9].imshow(fake[i], cmap="gray_r", vmin=-1, vmax=1)
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 3].set_title("real", fontsize=9)
    axes[0, 12].set_title(f"generated ({config.objective})", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "samples.png", dpi=100)
    print(f"wrote {out / 'samples.png'}")


if __name__ == "__main__":
    main()
