"""G1 side study: which held-out criterion would choose the Langevin EBM's sampling temperature?

Trains the EBM on a toy set once per seed, samples it at multiples c of its training temperature T
and at several chain lengths, and reports, per row, the mode metrics (high-quality share, modes,
reverse KL: the G1 protocol) beside criteria computed against real points held out for this:
chamfer distance (what `bench/toy.py` picks with) and a Gaussian-kernel MMD at the held-out points'
median nearest-neighbour distance h and at 2h and 4h. A criterion "chooses" the row where it is
lowest; the README's G1 section reads the table.

    OMP_NUM_THREADS=1 python bench/ebm_temperature.py --json bench/results/ebm_temperature.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch


def mmd(x: torch.Tensor, y: torch.Tensor, h: float) -> float:
    """Biased MMD^2 with a Gaussian kernel of bandwidth h (Gretton et al. 2012)."""
    k = lambda a, b: torch.exp(-torch.cdist(a, b).pow(2) / (2 * h * h))  # noqa: E731
    return float(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path, default=Path("bench/results/ebm_temperature.json"))
    ap.add_argument("--dataset", default="grid25")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--steps", type=int, default=1500, help="EBM training steps")
    ap.add_argument("--temps", default="1,0.5,0.25,0.125,0.0625", help="multiples of the training T")
    ap.add_argument("--chains", default="60,200,600", help="Langevin steps at sampling time (60: the default)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` as a package
    from bench import stats as _stats
    from bench.toy import chamfer
    from textgan.gan import load, train_by_name
    from textgan.gan.toy import TOY_DATASETS, mode_metrics, toy_data

    _stats.check_flags(args)
    _stats.check_out(args.json)
    dataset = _stats.pick(args.dataset, TOY_DATASETS, "--dataset")[0]
    temps = _stats.positive_floats(args.temps, "--temps")
    chains = _stats.ints(args.chains, "--chains")
    torch.set_num_threads(args.threads)
    rows = []
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.process_time()
            train_by_name("ebm-langevin", toy_data(dataset, 100_000, seed=seed), Path(tmp) / "run", steps=args.steps,
                          seed=seed, checkpoint_every=10**9, log_every=10**9)
            cpu = time.process_time() - t0
            model = load(Path(tmp) / "run")
        held = toy_data(dataset, 2500, seed=50_000 + seed)  # never the mode centres that score
        d = torch.cdist(held, held)
        d.fill_diagonal_(float("inf"))
        h = float(d.min(1).values.median())
        real = mode_metrics(held, dataset)
        for k in chains:
            for c in temps:
                t = c * model.config.temperature
                judged = model.sample(2500, seed=30_000 + seed, temperature=t, steps=k)  # for the criteria
                scored = model.sample(2500, seed=10_000 + seed, temperature=t, steps=k)  # for the metrics
                m = mode_metrics(scored, dataset)
                rows.append({"seed": seed, "chain": k, "temp": c, "train_cpu_s": round(cpu, 1),
                             "hq": m["hq"], "modes": m["modes"], "rkl": m["rkl"],
                             "chamfer": chamfer(judged, held), **{f"mmd_{w}h": mmd(judged, held, w * h)
                                                                   for w in (1, 2, 4)}})
                print(json.dumps(rows[-1]), flush=True)
    crit = ("chamfer", "mmd_1h", "mmd_2h", "mmd_4h")
    chosen = {f"seed {s} chain {k}": {c: min((r for r in rows if r["seed"] == s and r["chain"] == k),
                                             key=lambda r: r[c])["temp"] for c in crit}
              for s in range(args.seeds) for k in chains}
    print(f"\n| chain | T multiple | HQ % | modes | {' | '.join(crit)} |\n|---|---|---|---|{'---|' * len(crit)}")
    for r in rows:
        print(f"| {r['chain']} | {r['temp']:g} | {r['hq']:.1f} | {r['modes']} | "
              + " | ".join(f"{r[c]:.5f}" for c in crit) + " |")
    print(f"\nreal held-out points: HQ {real['hq']:.1f}%; temperature chosen (x T) by each criterion: {chosen}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"dataset": dataset, "steps": args.steps, "real_hq": real["hq"], "rows": rows,
                                     "chosen": chosen}, indent=2))


if __name__ == "__main__":
    main()
