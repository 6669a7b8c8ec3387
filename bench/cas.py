"""Classification Accuracy Score for conditional generators (Ravuri & Vinyals 2019, arXiv:1905.10887):
the conditional section of protocol G2 (`bench/generation.py --conditional`).

Every system produces, for each intent, as many vectors as the intent has train sentences; a
logistic regression is fitted on those vectors only and tested on the real test sentences.
`cas_ratio` is CAS over the same classifier fitted on the real train vectors. Rows:
- `real train vectors`: the reference (CAS ratio 1 by definition);
- `real val sentences`: the ceiling of a perfect generator of unseen sentences (the CLINC val
  sentences in place of samples; 20 per intent, fewer than the 100 samples of the others);
- `copy`: the memoriser (train vectors of the intent resampled with replacement);
- `group-gaussian`: a full-covariance Gaussian per intent;
- every kind asked for (default: the kinds with groups; `KIND+packM`: with a PacGAN critic), trained on the train vectors with their
  intents and sampled per intent by name, or through `clinc.GroupSampler` when the kind
  cannot be asked for a named group.
Per intent also: `coverage` (Naeem et al. 2020, k=5) of the intent's test vectors by its samples
and `group_precision` (share of samples whose nearest train vector is of the intent), averaged
over intents; `authenticity` against the intent's train vectors. Each CAS carries a paired
bootstrap 95% CI (test sentences resampled) of its difference to the per-intent Gaussian.
"""
from __future__ import annotations

import shutil
import time

import numpy as np

from bench import clinc, stats

CLASSIFIER_C = 10.0  # the fixed CAS classifier (the C of the few-shot bench's logistic regression)


def group_gaussian(x: np.ndarray, n: int, rng) -> np.ndarray:
    """Full-covariance Gaussian fit of one group's vectors (ridge 1e-4), n samples on the sphere."""
    cov = np.cov(x, rowvar=False) + 1e-4 * np.eye(x.shape[1])
    return clinc.unit(rng.multivariate_normal(x.mean(0), cov, size=n))


def correct_of(x: np.ndarray, y: np.ndarray, test: np.ndarray, test_y: np.ndarray, seed: int) -> np.ndarray:
    """Per test sentence 0/1: logistic regression fitted on (x, y) only, right on the test sentence."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=CLASSIFIER_C, max_iter=300, random_state=seed).fit(x, y)
    return (clf.predict(test) == test_y).astype(np.float32)


def sample_kind(kind: str, train, ids, names, steps: int, seed: int, work, counts) -> list[np.ndarray]:
    """Train `kind` on the train vectors (with their intents when it takes groups); counts[i] unit
    samples of intent i. `KIND+packM` is the kind with a PacGAN critic judging M samples jointly."""
    from textgan.gan import KINDS, load, train_by_name

    folder = work / f"cond_{kind}"
    kind, _, pack = kind.partition("+pack")
    fields = {"pack": int(pack)} if pack else {}
    shutil.rmtree(folder, ignore_errors=True)
    groups = [names[i] for i in ids] if KINDS[kind].needs_labels else None
    train_by_name(kind, train, folder, groups=groups, steps=steps, seed=seed, **fields)
    model = load(folder)
    if model.groups and not hasattr(model, "sample_prototype"):  # label-conditioned: ask by name
        return [clinc.unit(model.sample(c, seed=i, group=g).numpy()) for i, (g, c) in enumerate(zip(names, counts))]
    protos = clinc.unit(np.stack([train[ids == i].mean(0) for i in range(len(names))]))
    sampler = clinc.GroupSampler(model, protos)
    return [clinc.unit(sampler.sample(protos[i:i + 1], c, seed=i)) for i, c in enumerate(counts)]


def per_intent(train, ids, test, test_ids, fakes) -> dict:
    from textgan.metrics import authenticity, density_coverage

    cov, prec, auth = [], [], []
    for i, f in enumerate(fakes):
        cov.append(density_coverage(test[test_ids == i], f)[1])
        prec.append(np.mean(ids[(f @ train.T).argmax(1)] == i))
        auth.append(authenticity(train[ids == i], f))
    return {"coverage": float(np.mean(cov)), "group_precision": float(np.mean(prec)),
            "authenticity": float(np.mean(auth)), "coverage_per_intent": [round(float(c), 4) for c in cov]}


def conditional_section(kinds, train, tr_g, test, te_g, val, va_g, args) -> dict:
    """CAS, cas_ratio and per-intent coverage of every system; prints the table, returns the JSON."""
    names = sorted(set(tr_g))
    index = {g: i for i, g in enumerate(names)}
    ids, test_ids = np.array([index[g] for g in tr_g]), np.array([index[g] for g in te_g])
    val_ids = np.array([index[g] for g in va_g])
    counts = [int((ids == i).sum()) for i in range(len(names))]
    rng = np.random.default_rng(args.seed)
    systems: dict[str, tuple[list[np.ndarray], float]] = {
        "real train vectors": ([train[ids == i] for i in range(len(names))], 0.0),
        "real val sentences (ceiling)": ([val[val_ids == i] for i in range(len(names))], 0.0),
        "copy": ([train[ids == i][rng.integers(c, size=c)] for i, c in enumerate(counts)], 0.0)}
    t = time.perf_counter()
    systems["group-gaussian"] = ([group_gaussian(train[ids == i], c, rng) for i, c in enumerate(counts)],
                                 time.perf_counter() - t)
    for kind in kinds:
        t = time.perf_counter()
        systems[kind] = (sample_kind(kind, train, ids, names, args.conditional_steps, args.seed, args.work, counts),
                         time.perf_counter() - t)
        print(f"conditional {kind}: {systems[kind][1]:.0f} s", flush=True)
    out, correct = {}, {}
    for name, (fakes, secs) in systems.items():
        x = np.concatenate(fakes)
        y = np.concatenate([np.full(len(f), i) for i, f in enumerate(fakes)])
        correct[name] = correct_of(x, y, test, test_ids, args.seed)
        out[name] = {"cas": float(correct[name].mean()), **per_intent(train, ids, test, test_ids, fakes),
                     "samples": int(len(x)), "seconds": round(secs, 1)}
        print(f"  CAS {name}: {out[name]['cas']:.4f}", flush=True)
    ref, gauss = correct["real train vectors"], correct["group-gaussian"]
    for name, m in out.items():
        m["cas_ratio"] = m["cas"] / float(ref.mean())
        m["vs_group_gaussian"] = stats.ci_dict(stats.paired_bootstrap(correct[name], gauss))
        m["vs_real_train"] = stats.ci_dict(stats.paired_bootstrap(correct[name], ref))
    print_table(out, names, args)
    return out


TARGET = "a GAN kind reaches cas_ratio >= 0.97 and beats group-gaussian on CAS (CI excluding 0) and coverage"


def print_table(out: dict, names, args) -> None:
    print(f"\nG2 conditional (CAS), CLINC150, {len(names)} intents, samples per intent = its train sentences; "
          f"logistic regression C={CLASSIFIER_C} on samples only, tested on the {args.test_size} test sentences; "
          f"kinds {args.conditional_steps} steps. Target: {TARGET}\n")
    print("| system | CAS | cas_ratio | CAS - group-gaussian (points, 95% CI) | coverage | group_precision | "
          "authenticity | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for name, m in out.items():
        vs = stats.fmt_diff(tuple(m["vs_group_gaussian"].values()))
        print(f"| {name} | {m['cas']:.4f} | {m['cas_ratio']:.3f} | {vs} | {m['coverage']:.3f} | "
              f"{m['group_precision']:.3f} | {m['authenticity']:.3f} | {m['seconds']:.0f} |")
    fixed = ("real train vectors", "real val sentences (ceiling)", "copy", "group-gaussian")
    g = out["group-gaussian"]
    met = [k for k in out if k not in fixed and out[k]["cas_ratio"] >= 0.97 and out[k]["coverage"] > g["coverage"]
           and out[k]["vs_group_gaussian"]["low"] > 0]
    print(f"\ntarget {'MET by ' + ', '.join(met) if met else 'NOT met'}")
