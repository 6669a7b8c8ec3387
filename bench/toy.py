"""Benchmark G1: mode coverage on ring-8 and grid-25 (PacGAN / VEEGAN protocol).

Every objective of the table is trained with its own row defaults (penalty, optimiser,
lr, n_critic) on the toy preset's networks for `--sweep-steps` generator steps; the tuned
toy preset (`PRESETS["toy"]`) is also run to its full budget. Each run is scored on 2,500
samples (3-sigma rule); mean and std over seeds are printed beside the published rows.

    python bench/toy.py --json bench/results/toy.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from textgan.gan import KINDS, OBJECTIVES, PRESETS, GANConfig, load, train_by_name, train_gan
from textgan.gan.toy import TOY_DATASETS, mode_metrics, toy_data

# published means of 10 runs, as quoted in BENCHMARKS.md (Lin et al. 2018, PacGAN; Srivastava et al. 2017, VEEGAN)
ANCHORS = {
    "grid25": [("GAN (published)", 17.3, 94.8, 0.70), ("PacGAN4 (published)", 24.8, 93.6, 0.04),
               ("VEEGAN (published)", 24.6, 40.0, "-")],
    "ring8": [("PacGAN2 (published)", 7.9, 95.6, 0.07)],
}
PRESET_KEY = "preset"
TEMPS_KEY = "ebm-langevin (T chosen on held-out points)"


def chamfer(x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean distance from each point of x to its nearest in y, plus the same from y to x.

    A local two-sample criterion: it rises when samples spread off the data (the sample-to-real
    term) or leave data uncovered (real-to-sample). Energy distance, tried first, is dominated by
    the global layout and preferred the broadest chains (4 x T) on grid-25.
    """
    d = torch.cdist(x, y)
    return float(d.min(1).values.mean() + d.min(0).values.mean())


def temperature_rows(model, dataset: str, scales: list[float], seed: int) -> dict:
    """A row per sampling temperature (a multiple c of the training T), and the row of the c whose
    samples are nearest (chamfer) to 2,500 real points held out for this, drawn apart from those
    that train and from the mode centres that score: the choice never sees the metric."""
    held_out = toy_data(dataset, 2500, seed=50_000 + seed)
    rows, dist = {}, {}
    for c in scales:
        t = c * model.config.temperature
        dist[c] = chamfer(model.sample(2500, seed=30_000 + seed, temperature=t), held_out)
        x = model.sample(2500, seed=10_000 + seed, temperature=t)
        rows[f"ebm-langevin (sampled at {c:g} x T)"] = {"scale": c, "samples": x.tolist(), **mode_metrics(x, dataset)}
    best = min(dist, key=dist.get)
    rows[TEMPS_KEY] = {**rows[f"ebm-langevin (sampled at {best:g} x T)"], "chamfer": dist}
    return rows


def sweep_config(objective: str, steps: int, batch_size: int) -> GANConfig:
    """Toy networks and schedule, but the objective row's own penalty/optimiser/lr/n_critic."""
    row_defaults = dict(n_critic=None, lr_g=None, lr_d=None, optimizer=None, betas=None, penalty=None,
                        penalty_weight=None)
    return dataclasses.replace(PRESETS["toy"], objective=objective, steps=steps, batch_size=batch_size,
                               **row_defaults)


def run_one(job: tuple) -> dict:
    dataset, key, cfg_dict, seed, temps = job
    torch.set_num_threads(1)
    data = toy_data(dataset, 100_000, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.process_time()
        try:
            if key in KINDS:  # MEG, Langevin EBM, O-GAN: the kind's own defaults
                train_by_name(key, data, Path(tmp) / "run", steps=cfg_dict["steps"], seed=seed,
                              checkpoint_every=10**9, log_every=10**9)
            else:
                cfg = GANConfig.from_dict({**cfg_dict, "seed": seed, "checkpoint_every": 10**9,
                                           "log_every": 10**9})
                train_gan(data, cfg, Path(tmp) / "run", progress=False)
        except Exception as exc:  # a diverged objective is a result, not a crash of the bench
            return {"dataset": dataset, "key": key, "seed": seed, "error": str(exc)[:200],
                    "seconds": time.process_time() - t0, "modes": 0, "hq": 0.0, "rkl": math.log(25)}
        seconds = time.process_time() - t0  # CPU seconds: the machine is shared
        model = load(Path(tmp) / "run")
        x = model.sample(2500, seed=10_000 + seed)
        extra = temperature_rows(model, dataset, temps, seed) if key == "ebm-langevin" and temps else {}
    return {"dataset": dataset, "key": key, "seed": seed, "seconds": seconds, "samples": x.tolist(),
            **mode_metrics(x, dataset), "extra": extra}


def summarise(runs: list[dict]) -> dict:
    out = {}
    for m in ("modes", "hq", "rkl", "seconds"):
        vals = [r[m] for r in runs]
        out[m] = statistics.fmean(vals)
        out[m + "_std"] = statistics.pstdev(vals)
    out["seeds"] = len(runs)
    if runs and "scale" in runs[0]:
        out["scales"] = [r["scale"] for r in runs]  # sampling temperatures chosen, x training T
    out["errors"] = [r["error"] for r in runs if "error" in r]
    return out


def plot(dataset: str, results: dict, samples: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(results)
    cols = 5
    rows = math.ceil((len(keys) + 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows))
    axes = axes.ravel()
    lim = 1.4 if dataset == "ring8" else 5.2
    real = toy_data(dataset, 2500, seed=0)
    for ax, key, pts in [(axes[0], "real data", real)] + [(axes[i + 1], k, torch.tensor(samples[k]))
                                                          for i, k in enumerate(keys)]:
        ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.4)
        title = key if key not in results else (f"{key}\n{results[key]['modes']:.1f} modes "
                                                f"{results[key]['hq']:.1f}% HQ")
        ax.set_title(title, fontsize=8)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
    for ax in axes[len(keys) + 1:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=Path("bench/results/toy.json"))
    ap.add_argument("--png-dir", type=Path, default=None, help="default: beside --json")
    ap.add_argument("--datasets", default=",".join(TOY_DATASETS))
    ap.add_argument("--objectives", default=",".join(OBJECTIVES))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sweep-steps", type=int, default=1500, help="generator steps per objective in the sweep")
    ap.add_argument("--sweep-batch", type=int, default=None, help="default: PRESETS['toy'].batch_size")
    ap.add_argument("--preset-steps", default="", help="per dataset, e.g. ring8=4000,grid25=10000 "
                    "(default: PRESETS['toy'].steps)")
    ap.add_argument("--jobs", type=int, default=2, help="parallel single-thread runs")
    ap.add_argument("--no-preset", action="store_true", help="skip the (long) toy-preset runs")
    ap.add_argument("--packs", default="", help="PacGAN rows: the toy preset with its critic judging M samples "
                    "jointly, e.g. 2,4 (Lin et al. 2018; the batch size must be a multiple of M)")
    ap.add_argument("--energy", default="meg,ebm-langevin,ogan",
                    help="energy/encoder models run beside the objectives (MEG, Langevin EBM, O-GAN)")
    ap.add_argument("--energy-steps", type=int, default=1500, help="training steps per energy/encoder model")
    ap.add_argument("--energy-temps", default="0.5,0.25,0.0625",
                    help="sampling temperatures of the Langevin EBM, as multiples of its training T (1 is "
                    "always tried): a row each, and a row for the one whose samples are nearest to held-out "
                    "real points ('' for none)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` as a package
    from bench import stats as _stats

    _stats.check_flags(args)

    datasets = _stats.pick(args.datasets, TOY_DATASETS, "--datasets")
    # an unknown name would train nothing and be reported as a diverged row ('' for none)
    objectives = _stats.pick(args.objectives, OBJECTIVES, "--objectives") if args.objectives else []
    energy = _stats.kinds(args.energy, "--energy", labelled=False)  # toy points carry no intent labels
    preset = PRESETS["toy"]
    steps = {ds: preset.steps for ds in datasets}
    steps.update(_stats.key_ints(args.preset_steps, "--preset-steps", TOY_DATASETS))
    sweep_batch = args.sweep_batch or preset.batch_size
    packs = _stats.ints(args.packs, "--packs") if args.packs else []
    temps = _stats.positive_floats(args.energy_temps, "--energy-temps")
    temps = sorted({1.0, *temps}, reverse=True) if temps else []
    for m in packs:
        if m < 1 or preset.batch_size % m:
            print(f"error: --packs {m} must be >= 1 and divide the preset batch size {preset.batch_size}",
                  file=sys.stderr)
            raise SystemExit(2)
    jobs = []  # the long preset runs first so the pool ends evenly
    for ds in datasets:
        jobs += [(ds, f"{PRESET_KEY}+pack{m}", dataclasses.replace(preset, steps=steps[ds], pack=m).to_dict(), s, [])
                 for m in packs for s in range(args.seeds)]
    for ds in datasets if not args.no_preset else []:
        cfg = dataclasses.replace(preset, steps=steps[ds]).to_dict()
        jobs += [(ds, PRESET_KEY, cfg, s, []) for s in range(args.seeds)]
    for ds in datasets:
        jobs += [(ds, o, sweep_config(o, args.sweep_steps, sweep_batch).to_dict(), s, []) for o in objectives
                 for s in range(args.seeds)]
    for ds in datasets:
        jobs += [(ds, e, {"steps": args.energy_steps}, s, temps) for e in energy for s in range(args.seeds)]
    t0 = time.time()
    runs = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for i, r in enumerate(pool.map(run_one, jobs)):
            runs.append(r)
            for k, m in r.pop("extra", {}).items():
                runs.append({"dataset": r["dataset"], "key": k, "seed": r["seed"], "seconds": r["seconds"], **m})
                print(f"    {k}: {m['modes']} modes {m['hq']:.1f}% HQ rKL {m['rkl']:.3f}"
                      + (f" (chose {m['scale']:g} x T)" if k == TEMPS_KEY else ""), file=sys.stderr, flush=True)
            print(f"[{i + 1}/{len(jobs)} {time.time() - t0:.0f}s] {r['dataset']} {r['key']} seed {r['seed']}: "
                  f"{r['modes']} modes {r['hq']:.1f}% HQ rKL {r['rkl']:.3f} ({r['seconds']:.0f} cpu-s)"
                  + (f" ERROR {r['error']}" if "error" in r else ""), file=sys.stderr, flush=True)

    results: dict = {}
    png_dir = args.png_dir or args.json.parent
    png_dir.mkdir(parents=True, exist_ok=True)
    for ds in datasets:
        keys = ([] if args.no_preset else [PRESET_KEY]) + [f"{PRESET_KEY}+pack{m}" for m in packs] + objectives + energy
        if temps and "ebm-langevin" in energy:
            keys += [f"ebm-langevin (sampled at {c:g} x T)" for c in temps if c != 1] + [TEMPS_KEY]
        results[ds] = {k: summarise([r for r in runs if r["dataset"] == ds and r["key"] == k]) for k in keys}
        samples = {k: next(r["samples"] for r in runs if r["dataset"] == ds and r["key"] == k and "samples" in r)
                   for k in keys if any("samples" in r for r in runs if r["dataset"] == ds and r["key"] == k)}
        plot(ds, {k: results[ds][k] for k in samples}, samples, png_dir / f"toy_{ds}.png")
    results["settings"] = {"preset": preset.to_dict(), "preset_steps": steps, "sweep_steps": args.sweep_steps,
                           "sweep_batch": sweep_batch, "seeds": args.seeds,
                           "energy_steps": args.energy_steps, "energy_temps": temps,
                           "samples": 2500, "seconds": "CPU seconds per run (1 thread)",
                           "hq": "percent", "wall_s_total": round(time.time() - t0, 1)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")

    for ds in datasets:
        k = len(TOY_DATASETS[ds][0])
        print(f"\n### {ds} ({args.seeds} seeds, 2,500 samples; preset {steps[ds]} steps, "
              f"sweep {args.sweep_steps} steps at batch {sweep_batch})\n")
        print("| objective | modes (/%d) | high quality %% | reverse KL | CPU s/run |" % k)
        print("|---|---|---|---|---|")
        for key, r in results[ds].items():
            name = key
            if key.startswith(PRESET_KEY):
                name = f"**{preset.objective}+{preset.resolved().penalty} (toy preset{key[len(PRESET_KEY):]})**"
            err = f" ({len(r['errors'])} diverged)" if r["errors"] else ""
            print(f"| {name}{err} | {r['modes']:.1f} ± {r['modes_std']:.1f} | {r['hq']:.1f} ± {r['hq_std']:.1f} | "
                  f"{r['rkl']:.3f} ± {r['rkl_std']:.3f} | {r['seconds']:.0f} |")
        for name, modes, hq, rkl in ANCHORS[ds]:
            print(f"| {name} | {modes} | {hq} | {rkl} | - |")
    print(f"\nwrote {args.json} and {png_dir}/toy_*.png in {time.time() - t0:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
