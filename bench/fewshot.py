"""Protocol G3: few-shot intent classification on CLINC150, generated vs non-generative augmentation.

Intents sorted by name: the first 100 are base intents, the last 50 novel. An episode draws K
labelled train sentences per novel intent; the novel intents' 1,500 test sentences are
classified among the 50 novel intents. Every episode is shared by every method (paired).

No setting is chosen on the test sentences. Each method's settings (classifier C, noise scale,
calibration k / w / alpha / shrinkage, generator training steps) are chosen on a meta-validation
split of the base intents: the first 70 base intents play base, the last 30 play novel (shots from
their train sentences, tested on their CLINC val sentences), `--val-episodes` episodes per K.
The chosen settings are then frozen for the test episodes (statistics and generators from all 100
base intents). The best non-generative method is also chosen on meta-validation.

Methods (vectors: cached all-MiniLM-L6-v2 by default, or the GRU trained on the base intents):
- prototype (nearest centroid, cosine) and logistic regression on the shots;
- logistic regression on the shots plus `--per-group` added vectors per intent: Gaussian noise,
  a base-intent delta, extrapolation between two shots (Kumar et al. 2019, arXiv:1910.04176);
- calibrated-mean LDA (closed form, `bench/calibration.py`), non-generative;
- generative: distribution calibration sampling (Yang et al. ICLR 2021) and every generator kind
  asked for (trained on the base vectors, sampled around each novel intent's shot prototype by
  `clinc.GroupSampler`);
- SetFit (Tunstall et al. 2022; `pip install -e .[bench]`): the local MiniLM fine-tuned
  contrastively on the shots' texts plus a logistic head, on the first `--setfit-episodes`
  episodes only, with its CPU seconds: the practitioner's anchor.
Every row carries its paired 95% CI (t over episodes) against logistic regression and against the
best non-generative method; the JSON keeps every per-episode accuracy.

    python bench/fewshot.py --threads 1 --json bench/results/fewshot.json
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

unit = clinc.unit


class Split:
    """One meta-split: base vectors (and their statistics), the novel pool to draw shots from, the
    novel test rows, and lazily trained generators."""

    def __init__(self, name, bx, by, px, py, ptexts, tx, ty, ttexts, args):
        self.name, self.bx, self.by, self.px, self.py, self.tx, self.ty = name, bx, by, px, py, tx, ty
        self.ptexts, self.ttexts, self.args = ptexts, ttexts, args
        self.base = calibration.base_stats(bx, by)
        self.k = int(py.max()) + 1
        self.protos = unit(self.base.means)
        self.gens: dict = {}

    def generator(self, kind: str, steps: int):
        from textgan.gan import KINDS, load, train_by_name

        if (kind, steps) not in self.gens:
            folder = self.args.work / f"{self.args.vectors}_{self.name}_{kind}_{steps}_s{self.args.seed}"
            t = time.process_time()
            if not (folder / "config.json").is_file():
                shutil.rmtree(folder, ignore_errors=True)
                groups = [f"b{i}" for i in self.by] if KINDS[kind].needs_labels else None
                train_by_name(kind, self.bx, folder, groups=groups, steps=steps, seed=self.args.seed)
            self.gens[kind, steps] = clinc.GroupSampler(load(folder), self.protos)
            print(f"  generator {kind} {steps} steps on {self.name}: {time.process_time() - t:.0f} cpu-s", flush=True)
        return self.gens[kind, steps]

    def episode(self, K: int, ep: int):
        # the same episode for every method: the seed names the split, K and the episode
        rng = np.random.default_rng([self.name == "test", K, ep, self.args.seed])
        idx = np.concatenate([rng.choice(np.flatnonzero(self.py == c), K, replace=False) for c in range(self.k)])
        return idx, rng


def logreg(x, y, test, C: float, seed: int = 0) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=1000, random_state=seed).fit(x, y).predict(test)


def each_class(y, per, rng):
    return np.concatenate([np.flatnonzero(y == c)[rng.integers((y == c).sum(), size=per)] for c in np.unique(y)])


# --- methods: (generative, settings grid, run(split, x, y, rng, setting, C) -> predictions) -------

def _prototype(s, x, y, rng, st, C):
    return (s.tx @ unit(np.stack([x[y == c].mean(0) for c in range(s.k)])).T).argmax(1)


def _logreg(s, x, y, rng, st, C):
    return logreg(x, y, s.tx, st.get("C", C))


def _augmented(added):
    def run(s, x, y, rng, st, C):
        ax, ay = added(s, x, y, rng, st)
        return logreg(np.concatenate([x, ax]), np.concatenate([y, ay]), s.tx, C)
    return run


def _noise(s, x, y, rng, st):
    i = each_class(y, s.args.per_group, rng)
    return unit(x[i] + st["sigma"] * rng.standard_normal((len(i), x.shape[1])) / np.sqrt(x.shape[1])), y[i]


def _delta(s, x, y, rng, st):
    i = each_class(y, s.args.per_group, rng)
    cls = rng.integers(s.by.max() + 1, size=len(i))
    a = np.array([rng.choice(np.flatnonzero(s.by == c), 2, replace=False) for c in cls])  # (M, 2)
    return unit(x[i] + s.bx[a[:, 0]] - s.bx[a[:, 1]]), y[i]


def _extrapolation(s, x, y, rng, st):
    out, lab = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) < 2:  # needs two shots: adds nothing at K = 1
            continue
        j, k = np.array([rng.choice(idx, 2, replace=False) for _ in range(s.args.per_group)]).T
        out.append((x[j] - x[k]) * st["lam"] + x[j])
        lab.append(np.full(s.args.per_group, c))
    return (unit(np.concatenate(out)), np.concatenate(lab)) if out else (x[:0], y[:0])


def _dc(s, x, y, rng, st):
    return calibration.dc_sample(x, y, s.args.per_group, s.base, st["k"], st["w"], st["alpha"], rng)


def _lda(s, x, y, rng, st, C):
    return calibration.lda_predict(x, y, s.tx, s.base, st["k"], st["w"], st["shrink"])


def _kind(kind):
    def added(s, x, y, rng, st):
        protos = unit(np.stack([x[y == c].mean(0) for c in range(s.k)]))
        gen = s.generator(kind, st["steps"])
        return unit(gen.sample(protos, s.args.per_group, seed=int(rng.integers(2**31)))), \
            np.repeat(np.arange(s.k), s.args.per_group)
    return _augmented(added)


def grid(**axes):
    import itertools

    return [dict(zip(axes, vals)) for vals in itertools.product(*axes.values())]


def methods(args) -> dict:
    steps = stats.ints(args.steps_grid, "--steps-grid")
    rows = {
        "logreg": (False, grid(C=[1.0, 10.0, 100.0]), _logreg),
        "prototype": (False, [{}], _prototype),
        "logreg+noise": (False, grid(sigma=[0.1, 0.3, 0.5, 1.0]), _augmented(_noise)),
        "logreg+delta": (False, [{}], _augmented(_delta)),
        "logreg+extrapolation": (False, grid(lam=[0.5, 1.0]), _augmented(_extrapolation)),
        "calibrated-mean LDA": (False, grid(k=[1, 2, 5], w=[0.0, 0.25, 0.5], shrink=[0.1, 0.5, 0.9]), _lda),
        "logreg+dc-sampling": (True, grid(k=[1, 2, 5], w=[0.25, 0.5], alpha=[0.1, 1.0]), _augmented(_dc)),
    }
    for kind in stats.kinds(args.kinds, "--kinds", labelled=True):
        rows[f"logreg+{kind}"] = (True, grid(steps=steps), _kind(kind))
    return rows


def evaluate(split, K, episodes, run, setting, C) -> list[float]:
    accs = []
    for ep in range(episodes):
        idx, rng = split.episode(K, ep)
        accs.append(float(np.mean(run(split, split.px[idx], split.py[idx], rng, setting, C) == split.ty)))
    return accs


def choose(val, K, table, args) -> dict:
    """Per method: the setting with the best mean meta-validation accuracy (logistic regression's C
    first: the augmented rows reuse it)."""
    chosen = {}
    for name, (gen, settings, run) in table.items():
        C = chosen.get("logreg", {}).get("setting", {}).get("C", 10.0)
        scores = [(np.mean(evaluate(val, K, args.val_episodes, run, st, C)), i) for i, st in enumerate(settings)]
        best, i = max(scores)
        chosen[name] = {"setting": settings[i], "val_accuracy": float(best), "C": C,
                        "val_grid": [[settings[j], float(a)] for a, j in scores]}
        print(f"  {K}-shot val {name}: {settings[i]} -> {best:.4f}", flush=True)
    return chosen


def setfit_accuracy(split, idx, K, ep, args) -> tuple[float, float]:
    """SetFit on the episode's shot texts (the local MiniLM as body): test accuracy and CPU seconds."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from similarity.model import minilm_path

    t = time.process_time()
    model = SetFitModel.from_pretrained(str(minilm_path()), local_files_only=True)
    train = Dataset.from_dict({"text": [split.ptexts[i] for i in idx], "label": split.py[idx].tolist()})
    targs = TrainingArguments(batch_size=16, num_epochs=1, num_iterations=args.setfit_iterations,
                              seed=1000 * K + ep, report_to="none", show_progress_bar=False,
                              output_dir=str(args.work / "setfit"), save_strategy="no")
    Trainer(model=model, args=targs, train_dataset=train).train()
    pred = np.asarray(model.predict(split.ttexts, batch_size=128))
    return float(np.mean(pred == split.ty)), time.process_time() - t


def build_splits(args):
    data = clinc.load(args.clinc)
    base, novel = clinc.split_intents(data)
    meta_base, meta_novel = base[:70], base[70:]
    if args.vectors == "minilm":
        vec = clinc.minilm(data)
        enc = lambda split, rows: vec[split][rows]  # noqa: E731
    else:
        e, _ = clinc.encoder(data, intents=base, seed=args.seed)
        enc = lambda split, rows: e.encode([data[split][i][0] for i in rows])  # noqa: E731

    def part(split, intents):
        lab = {g: i for i, g in enumerate(intents)}
        rows = [i for i, (_, g) in enumerate(data[split]) if g in lab]
        return enc(split, rows), np.array([lab[data[split][i][1]] for i in rows]), [data[split][i][0] for i in rows]

    def make(name, b, n, test_split):
        bx, by, _ = part("train", b)
        px, py, pt = part("train", n)
        tx, ty, tt = part(test_split, n)
        return Split(name, bx, by, px, py, pt, tx, ty, tt, args)

    return make("metaval", meta_base, meta_novel, "val"), make("test", base, novel, "test")


def check_flags(args, shots) -> None:
    stats.at_least(args.episodes, 1, "--episodes")
    stats.at_least(args.val_episodes, 1, "--val-episodes")
    stats.at_least(args.per_group, 1, "--per-group")
    stats.at_least(args.setfit_episodes, 0, "--setfit-episodes")
    if args.setfit_episodes > args.episodes:
        stats.refuse(f"--setfit-episodes ({args.setfit_episodes}) must not exceed --episodes ({args.episodes})")
    for K in shots:
        stats.at_least(K, 1, "--shots")
        if K > 100:  # every CLINC150 intent has 100 train sentences
            stats.refuse(f"--shots {K} is more than the 100 train sentences of an intent")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clinc", type=Path, default=clinc.DEFAULT)
    ap.add_argument("--work", type=Path, default=ROOT / "bench/results/fewshot_work")
    ap.add_argument("--vectors", choices=("minilm", "gru"), default="minilm")
    ap.add_argument("--shots", default="1,5")
    ap.add_argument("--episodes", type=int, default=30, help="test episodes per K (paired across methods)")
    ap.add_argument("--val-episodes", type=int, default=10, help="meta-validation episodes per K and setting")
    ap.add_argument("--per-group", type=int, default=50, help="added vectors per novel intent")
    ap.add_argument("--kinds", default="anchored,conditional", help="generator kinds (comma-separated)")
    ap.add_argument("--steps-grid", default="300,1000", help="generator training steps tried on meta-validation")
    ap.add_argument("--setfit-episodes", type=int, default=5, help="episodes per K for SetFit (0: skip)")
    ap.add_argument("--setfit-iterations", type=int, default=5, help="SetFit pair-generation iterations")
    ap.add_argument("--methods", default="", help="only these rows (comma-separated; logreg is always run): "
                    "e.g. --methods logreg --setfit-episodes 5 for the SetFit row alone")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from bench import stats as _stats

    _stats.check_flags(args)
    shots = stats.ints(args.shots, "--shots")
    check_flags(args, shots)
    methods(args)  # --steps-grid and --kinds, refused before any model loads

    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    table = methods(args)
    if args.methods:
        wanted = {"logreg", *args.methods.split(",")}
        if wanted - set(table):
            stats.refuse(f"unknown --methods {sorted(wanted - set(table))}; valid: {', '.join(table)}")
        table = {k: v for k, v in table.items() if k in wanted}
    val, test = build_splits(args)
    result: dict = {}
    for K in shots:
        chosen = choose(val, K, table, args)
        runs = {}
        for name, (gen, _, run) in table.items():
            runs[name] = evaluate(test, K, args.episodes, run, chosen[name]["setting"], chosen[name]["C"])
            print(f"  {K}-shot test {name}: {np.mean(runs[name]):.4f}", flush=True)
        best_non = max((m for m in table if not table[m][0]), key=lambda m: chosen[m]["val_accuracy"])
        rows = {}
        for name, accs in runs.items():
            rows[name] = {"generative": table[name][0], "accuracy": float(np.mean(accs)), "episodes": accs,
                          **chosen[name],
                          "vs_logreg": stats.ci_dict(stats.paired_episodes(accs, runs["logreg"])),
                          "vs_best_non_generative": stats.ci_dict(stats.paired_episodes(accs, runs[best_non]))}
        if args.setfit_episodes:
            accs, secs = [], []
            for ep in range(args.setfit_episodes):
                a, s = setfit_accuracy(test, test.episode(K, ep)[0], K, ep, args)
                accs.append(a)
                secs.append(s)
                print(f"  {K}-shot SetFit episode {ep}: {a:.4f} ({s:.0f} cpu-s)", flush=True)
            n = len(accs)
            rows["SetFit"] = {"generative": False, "accuracy": float(np.mean(accs)), "episodes": accs,
                              "cpu_seconds_per_episode": float(np.mean(secs)), "iterations": args.setfit_iterations,
                              "vs_logreg": stats.ci_dict(stats.paired_episodes(accs, runs["logreg"][:n])),
                              "vs_best_non_generative": stats.ci_dict(stats.paired_episodes(accs, runs[best_non][:n]))}
        result[str(K)] = {"best_non_generative": best_non, "methods": rows}
    seconds = round(time.perf_counter() - t0, 1)
    print_tables(result, args, seconds)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        args.json.write_text(json.dumps({"protocol": "G3", "results": result, "seconds": seconds,
                                         "settings": settings}, indent=2))


def print_tables(result, args, seconds) -> None:
    print(f"\nProtocol G3, CLINC150 50 novel intents, {args.vectors} vectors, {args.episodes} paired test episodes "
          f"(SetFit: the first {args.setfit_episodes}), {args.per_group} added vectors per intent; settings chosen "
          f"on {args.val_episodes} meta-validation episodes of held-out base intents; wall {seconds} s. "
          f"Accuracy ± 95% CI over episodes; differences in points, paired 95% CI (* excludes 0).\n")
    for K, r in result.items():
        best = r["best_non_generative"]
        print(f"\n#### {K}-shot (best non-generative on meta-validation: {best})\n")
        print("| method | generative | chosen setting | accuracy | vs logreg | vs best non-generative |")
        print("|---|---|---|---|---|---|")
        for m, v in r["methods"].items():
            setting = v.get("setting", f"{v.get('iterations')} iterations, {v.get('cpu_seconds_per_episode', 0):.0f} "
                                       f"cpu-s/episode")
            print(f"| {m} | {'yes' if v['generative'] else 'no'} | {setting} | {stats.fmt_mean(v['episodes'])} | "
                  f"{stats.fmt_diff(tuple(v['vs_logreg'].values()))} | "
                  f"{stats.fmt_diff(tuple(v['vs_best_non_generative'].values()))} |")
        wins = [m for m, v in r["methods"].items() if v["generative"] and v["vs_best_non_generative"]["low"] > 0]
        print(f"\n{K}-shot: generative rows beating {best} with a CI excluding 0: {', '.join(wins) or 'none'}")
        # the harder bar, not a tuning step: the strongest non-generative row on the test episodes
        rows = {m: v for m, v in r["methods"].items() if m != "SetFit"}
        top = max((m for m, v in rows.items() if not v["generative"]), key=lambda m: rows[m]["accuracy"])
        for m, v in rows.items():
            if v["generative"]:
                ci = stats.paired_episodes(v["episodes"], rows[top]["episodes"])
                print(f"{K}-shot: {m} vs the strongest non-generative row on test ({top}): {stats.fmt_diff(ci)}")


if __name__ == "__main__":
    main()
