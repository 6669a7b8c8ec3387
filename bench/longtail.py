"""Protocol G6: long-tail intents (Hariharan & Girshick's low-shot setting inside a mature system).

CLINC150 train with every third intent (sorted names: the 3rd, 6th, ...; 50 intents) cut to its
first `--tail-size` sentences (the tail) and the other 100 kept at 100 sentences (the head).
Accuracy on the CLINC150 test sentences of the tail intents (1,500), the head intents (3,000)
and overall, over 150 intents. Vectors: frozen all-MiniLM-L6-v2 (`minilm`), or per seed a GRU +
AM-Softmax encoder (library defaults) trained on the long-tail train set (`gru`).

Classifier rows, all logistic regression on fixed vectors:
- plain; class-balanced loss (weights inverse to class frequency); logit adjustment (Menon et al.
  ICLR 2021, post hoc: logit - tau log prior); tail upsampling (tail vectors repeated to the head
  size) -- the non-generative rows;
- generative oversampling of each tail intent up to the head size in vector space: distribution
  calibration (Yang et al. ICLR 2021, head intents as base classes) and every generator kind asked
  for, trained on the long-tail train vectors with their intents (a kind that samples around a
  prototype is asked around the tail intent's shot mean; a label-conditioned one by name).
Encoder rows (`--vectors gru-replay,gru-gaussian,gru-calibrated,gru-anchored`): the GRU trained with
`--tail-synth` (similarity.tail_synth): every step adds synthetic vectors of the tail intents to
the margin loss -- queued real ones reused (`replay`, non-generative), Gaussian samples around the
tail mean with the head intents' pooled covariance (`gaussian`) or distribution-calibrated ones
(`calibrated`), or drawn by the class-anchored GAN refitted on the queues every epoch
(`anchored`, a generator of the kinds registry). Every GRU encoder gets every classifier row above plus `head prototypes` (the
margin head's own argmax, where the synthetic rows act directly) and `head + logit adjustment`
(its logits s cos minus tau log prior, tau on val); all GRU rows are compared in
one table (`<encoder> / <classifier>`, generative when either part is).
Every setting (C, tau, calibration k / w / alpha) is chosen on CLINC val (mean of tail and head
accuracy), then frozen. Differences: paired bootstrap 95% CI over the test sentences, pooled
over `--seeds` seeds, against plain and against the best non-generative row (chosen on val).
Target: a generative row raises tail accuracy >= 3 points over the best non-generative one (CI
excluding 0) and loses <= 0.5 points on the head.

    python bench/longtail.py --threads 1 --json bench/results/longtail.json
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import calibration, clinc, stats  # noqa: E402
from similarity.tail_synth import SYNTH  # noqa: E402

SYNTH_GENERATIVE = {name: row.generative for name, row in SYNTH.items()}

C_GRID = (1.0, 10.0, 100.0)
TAU_GRID = (0.5, 1.0, 1.5, 2.0)
# --vectors rows: the --tail-synth source each GRU encoder trains with (None: frozen MiniLM)
ENCODERS = {"minilm": None, "gru": "none", "gru-replay": "replay", "gru-gaussian": "gaussian",
            "gru-calibrated": "calibrated", "gru-anchored": "anchored"}
HEAD_SCALE = 30.0  # the AM-Softmax default scale (similarity.losses)
DC_GRID = [dict(k=k, w=w, alpha=a) for k in (2, 5) for w in (0.25, 0.5) for a in (0.1, 1.0)]


def long_tail(data: dict, tail_size: int):
    """(indices of the kept train rows, intent names, tail mask over the names)."""
    names = sorted({g for _, g in data["train"]})
    tail = np.array([i % 3 == 2 for i in range(len(names))])
    tail_names = {n for n, t in zip(names, tail) if t}
    seen: dict[str, int] = {}
    keep = []
    for i, (_, g) in enumerate(data["train"]):
        seen[g] = seen.get(g, 0) + 1
        if g not in tail_names or seen[g] <= tail_size:
            keep.append(i)
    return np.array(keep), names, tail


def fit(x, y, C, seed, weight=None):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=500, random_state=seed, class_weight=weight).fit(x, y)


class Setup:
    """The long-tail train vectors of one seed, with what the rows need."""

    def __init__(self, x, y, tail, args, seed, work):
        self.x, self.y, self.tail, self.args, self.seed, self.work = x, y, tail, args, seed, work
        self.k = len(tail)
        self.counts = np.bincount(y, minlength=self.k)
        self.target = int(self.counts[~tail].max())  # oversample the tail up to the head size
        head = ~tail[y]
        self.base = calibration.base_stats(x[head], y[head])
        self.models: dict = {}

    def oversampled(self, extra_x, extra_y):
        return np.concatenate([self.x, extra_x]), np.concatenate([self.y, extra_y])

    def need(self):
        return [(c, self.target - self.counts[c]) for c in np.flatnonzero(self.tail) if self.target > self.counts[c]]

    def upsample(self, rng):
        idx = np.concatenate([np.flatnonzero(self.y == c)[rng.integers(self.counts[c], size=n)] for c, n in self.need()])
        return self.oversampled(self.x[idx], self.y[idx])

    def dc(self, rng, k, w, alpha):
        xs, ys = [], []
        for c, n in self.need():
            sx, sy = calibration.dc_sample(self.x[self.y == c], self.y[self.y == c], n, self.base, k, w, alpha, rng)
            xs.append(sx)
            ys.append(sy)
        return self.oversampled(np.concatenate(xs), np.concatenate(ys))

    def kind(self, kind, rng):
        from textgan.gan import load, train_by_name

        if kind not in self.models:
            folder = self.work / f"{kind}_s{self.seed}"
            shutil.rmtree(folder, ignore_errors=True)
            train_by_name(kind, self.x, folder, groups=[f"i{c:03d}" for c in self.y], steps=self.args.kind_steps,
                          seed=self.seed)
            self.models[kind] = load(folder)
        m = self.models[kind]
        xs, ys = [], []
        for c, n in self.need():
            s = int(rng.integers(2**31))
            if hasattr(m, "sample_prototype"):  # around the tail intent's shot mean
                v = m.sample_prototype(n, clinc.unit(self.x[self.y == c].mean(0)), seed=s).numpy()
            else:
                v = m.sample(n, seed=s, group=f"i{c:03d}").numpy()
            xs.append(clinc.unit(v))
            ys.append(np.full(n, c))
        return self.oversampled(np.concatenate(xs), np.concatenate(ys))


def predictors(s: Setup, kinds, chosen, rng, prototypes=None):
    """Row name -> (generative, predict(vectors) -> labels) with the chosen settings."""
    C, tau = chosen["C"], chosen["tau"]
    plain = fit(s.x, s.y, C, s.seed)
    prior = np.log(s.counts / s.counts.sum())
    rows = {}
    if prototypes is not None:  # the margin head itself, plain and logit-adjusted (Menon et al.)
        rows["head prototypes"] = (False, lambda v: head_logits(v, prototypes).argmax(1))
        rows["head + logit adjustment"] = (
            False, lambda v: (head_logits(v, prototypes) - chosen["head_tau"] * prior).argmax(1))
    rows |= {
        "plain": (False, plain.predict),
        "class-balanced loss": (False, fit(s.x, s.y, C, s.seed, "balanced").predict),
        "logit adjustment": (False, lambda v: (plain.decision_function(v) - tau * prior).argmax(1)),
        "tail upsampling": (False, fit(*s.upsample(rng), C, s.seed).predict),
        "dc oversampling": (True, fit(*s.dc(rng, **chosen["dc"]), C, s.seed).predict),
    }
    for kind in kinds:
        rows[f"{kind} oversampling"] = (True, fit(*s.kind(kind, rng), C, s.seed).predict)
    return rows


def split_acc(pred, y, tail) -> dict:
    right = pred == y
    t = tail[y]
    return {"tail": float(right[t].mean()), "head": float(right[~t].mean()), "overall": float(right.mean())}


def head_logits(v, prototypes):
    """The margin head's logits s cos(v, W_c) at the AM-Softmax scale the encoder trained with."""
    return HEAD_SCALE * v @ prototypes.T


def choose(s: Setup, xv, yv, rng, prototypes=None) -> dict:
    """C, tau and the calibration settings on CLINC val: the mean of tail and head accuracy."""
    def score(pred):
        a = split_acc(pred, yv, s.tail)
        return (a["tail"] + a["head"]) / 2

    C = max(C_GRID, key=lambda c: score(fit(s.x, s.y, c, s.seed).predict(xv)))
    plain = fit(s.x, s.y, C, s.seed)
    prior = np.log(s.counts / s.counts.sum())
    tau = max(TAU_GRID, key=lambda t: score((plain.decision_function(xv) - t * prior).argmax(1)))
    dc = max(DC_GRID, key=lambda g: score(fit(*s.dc(rng, **g), C, s.seed).predict(xv)))
    out = {"C": C, "tau": tau, "dc": dc}
    if prototypes is not None:
        logits = head_logits(xv, prototypes)
        out["head_tau"] = max(TAU_GRID, key=lambda t: score((logits - t * prior).argmax(1)))
    return out


def vectors(source, data, keep, seed, args, names):
    """(train rows kept, val, test) vectors of one seed, and the margin head's unit prototypes in
    the order of `names` (None for MiniLM)."""
    if source == "minilm":
        v = clinc.minilm(data)
        return v["train"][keep], v["val"], v["test"], None
    import similarity

    synth = ENCODERS[source]
    epochs = f"_e{args.gru_epochs}" if args.gru_epochs else ""
    out = args.work / f"gru_tail{args.tail_size}{'' if synth == 'none' else '_' + synth}{epochs}_s{seed}"
    if not (out / "model").is_dir():
        shutil.rmtree(out, ignore_errors=True)
        rows = [data["train"][i] for i in keep]
        cfg = similarity.TrainConfig(seed=seed, tail_synth=synth, epochs=args.gru_epochs)
        t0 = time.process_time()
        from textgan.workflow.vo_kinds import tail_sampler

        similarity.train(cfg, [t for t, _ in rows], [g for _, g in rows], out,
                         eval_texts=[t for t, _ in data["val"]], eval_groups=[g for _, g in data["val"]],
                         progress=False, tail_sampler=tail_sampler(synth))
        (out / "train_cpu_s.json").write_text(json.dumps(round(time.process_time() - t0, 1)))
    enc = similarity.load(out / "model")
    order, weights = enc.prototypes
    at = {n: i for i, n in enumerate(order)}
    protos = clinc.unit(np.asarray(weights, np.float32)[[at[n] for n in names]])
    return (*(enc.encode([t for t, _ in rows]) for rows in ([data["train"][i] for i in keep], data["val"],
                                                            data["test"])), protos)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clinc", type=Path, default=clinc.DEFAULT)
    ap.add_argument("--work", type=Path, default=ROOT / "bench/results/longtail_work")
    ap.add_argument("--tail-size", type=int, default=5, help="train sentences kept per tail intent")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--vectors", default="minilm", help="comma-separated rows of ENCODERS: " + ", ".join(ENCODERS))
    ap.add_argument("--gru-epochs", type=int, default=None, help="sized runs: GRU epochs (default: the library's)")
    ap.add_argument("--kinds", default="anchored,conditional", help="generator kinds with groups")
    ap.add_argument("--kind-steps", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from bench import stats as _stats

    _stats.check_flags(args)
    stats.at_least(args.tail_size, 1, "--tail-size")
    if args.tail_size >= 100:
        stats.refuse(f"--tail-size {args.tail_size} leaves no tail: head intents have 100 train sentences")
    stats.at_least(args.seeds, 1, "--seeds")
    stats.at_least(args.kind_steps, 1, "--kind-steps")
    sources = [v for v in args.vectors.split(",") if v]
    if not sources or set(sources) - set(ENCODERS):
        stats.refuse(f"--vectors must name rows of {', '.join(ENCODERS)}, got {args.vectors!r}")
    if args.gru_epochs is not None:
        stats.at_least(args.gru_epochs, 1, "--gru-epochs")
    kinds = stats.kinds(args.kinds, "--kinds", labelled=True)
    stats.check_out(args.json, args.clinc)

    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    data = clinc.load(args.clinc)
    keep, names, tail = long_tail(data, args.tail_size)
    index = {g: i for i, g in enumerate(names)}
    y = np.array([index[data["train"][i][1]] for i in keep])
    yv, yt = (np.array([index[g] for _, g in data[s]]) for s in ("val", "test"))
    result, cpu = {}, {}
    # MiniLM alone; every GRU encoder in one table, so encoder rows compete with classifier rows
    tables = {"minilm": [v for v in sources if v == "minilm"], "gru": [v for v in sources if v != "minilm"]}
    for table, members in tables.items():
        if not members:
            continue
        correct, val_score, chosen = {}, {}, {}
        for seed in range(args.seeds):
            for source in members:
                x, xv, xt, protos = vectors(source, data, keep, seed, args, names)
                s = Setup(x, y, tail, args, seed, args.work / source)
                rng = np.random.default_rng([seed, 7])
                if source not in chosen:  # chosen once on val (seed 0), then frozen for every seed
                    chosen[source] = choose(s, xv, yv, rng, protos)
                    print(f"  {source}: chosen on val {chosen[source]}", flush=True)
                enc_gen = source != "minilm" and SYNTH_GENERATIVE[ENCODERS[source]]
                prefix = f"{source} / " if len(members) > 1 else ""
                for row, (gen, predict) in predictors(s, kinds, chosen[source], rng, protos).items():
                    name = prefix + row
                    correct.setdefault(name, (gen or enc_gen, []))[1].append((predict(xt) == yt).astype(np.float32))
                    a = split_acc(predict(xv), yv, tail)
                    val_score.setdefault(name, []).append((a["tail"] + a["head"]) / 2)
                    print(f"  {source} seed {seed}: {name} tail {correct[name][1][-1][tail[yt]].mean():.4f} "
                          f"head {correct[name][1][-1][~tail[yt]].mean():.4f}", flush=True)
                cost = args.work.glob(f"gru_tail{args.tail_size}*_s{seed}/train_cpu_s.json")
                cpu.update({p.parent.name: json.loads(p.read_text()) for p in cost})
        result[table] = summarise(correct, val_score, tail[yt], chosen)
    if cpu:
        result["train_cpu_s"] = cpu
    seconds = round(time.perf_counter() - t0, 1)
    print_tables(result, args, seconds)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"protocol": "G6", "results": result, "seconds": seconds,
                                         "settings": {k: str(v) if isinstance(v, Path) else v
                                                      for k, v in vars(args).items()}}, indent=2))


def summarise(correct, val_score, is_tail, chosen) -> dict:
    best = max((n for n, (g, _) in correct.items() if not g), key=lambda n: np.mean(val_score[n]))
    # "plain": logistic regression on the first encoder's vectors (`gru / plain` in the GRU table)
    plain = next(n for n in correct if n.split(" / ")[-1] == "plain")
    out = {"chosen": chosen, "best_non_generative": best, "plain": plain, "rows": {}}
    parts = {"tail": is_tail, "head": ~is_tail, "overall": np.ones_like(is_tail)}
    for name, (gen, c) in correct.items():
        a = np.stack(c)  # (seeds, N)
        row = {"generative": gen, "val_score": float(np.mean(val_score[name]))}
        for part, m in parts.items():
            row[part] = float(a[:, m].mean())
            row[f"{part}_per_seed"] = [float(v) for v in a[:, m].mean(1)]
            for ref, key in ((plain, "vs_plain"), (best, "vs_best_non_generative")):
                row[f"{part}_{key}"] = stats.ci_dict(stats.paired_bootstrap(a[:, m], np.stack(correct[ref][1])[:, m]))
        out["rows"][name] = row
    return out


def print_tables(result, args, seconds) -> None:
    print(f"\nProtocol G6, CLINC150 long tail: 50 tail intents at {args.tail_size} train sentences, 100 head intents "
          f"at 100; {args.seeds} seeds; kinds {args.kind_steps} steps; wall {seconds} s. Accuracy in %, mean over seeds; "
          f"differences in points, paired bootstrap 95% CI over test sentences x seeds (* excludes 0).\n")
    for source, r in result.items():
        if source == "train_cpu_s":
            print(f"\nGRU training CPU seconds: {r}")
            continue
        best = r["best_non_generative"]
        print(f"\n#### {source} vectors (chosen on val: {r['chosen']}; best non-generative on val: {best})\n")
        print(f"| row | generative | tail | head | overall | tail vs {best} | head vs {best} | tail vs {r['plain']} |")
        print("|---|---|---|---|---|---|---|---|")
        for n, v in r["rows"].items():
            d = lambda k: stats.fmt_diff(tuple(v[k].values()))  # noqa: E731
            print(f"| {n} | {'yes' if v['generative'] else 'no'} | {100 * v['tail']:.2f} | {100 * v['head']:.2f} | "
                  f"{100 * v['overall']:.2f} | {d('tail_vs_best_non_generative')} | {d('head_vs_best_non_generative')} | "
                  f"{d('tail_vs_plain')} |")
        met = [n for n, v in r["rows"].items() if v["generative"] and v["tail_vs_best_non_generative"]["diff"] >= 0.03
               and v["tail_vs_best_non_generative"]["low"] > 0 and v["head_vs_best_non_generative"]["diff"] >= -0.005]
        print(f"\ntarget (tail >= +3 points over {best}, CI excluding 0, head >= -0.5 points): "
              f"{'MET by ' + ', '.join(met) if met else 'NOT met'}")


if __name__ == "__main__":
    main()
