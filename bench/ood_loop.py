"""bench/ood.py helpers for issue 19: paired bootstrap CIs for its "A beats B" claims, the encoders' own
figures, the reduced-run train subsample."""
from __future__ import annotations

import numpy as np

from textgan.ood.scoring import auroc


def check_flags(args, encoders, rows) -> None:
    """Refuse, before any encoder trains, bench/ood.py's lists of names (`--protocols bogus` was a
    traceback after MiniLM loaded; an unknown --scorers / --encoders row ran nothing for it) and the
    reduced-run TrainConfig fields."""
    import json

    from bench import stats

    protocols = ("clinc_oos", "unseen_intents", *(f"unseen_intents:{k}" for k in range(4)))
    stats.pick(args.protocols, protocols, "--protocols")
    stats.pick(args.encoders, encoders, "--encoders")
    if args.scorers:
        stats.pick(args.scorers, rows, "--scorers")
    if args.opengan_on:  # '' scores opengan for no encoder
        stats.pick(args.opengan_on, [*encoders, "minilm"], "--opengan-on")
    fields = {"epochs": args.epochs, "vo_weight": args.vo_weight, "vo_start": args.vo_start}
    stats.train_config(json.dumps({k: v for k, v in fields.items() if v is not None}), "--vo-weight/--vo-start")


def _fpr95(s_in, s_out) -> float:
    t = np.sort(s_in)[int(np.floor(0.05 * len(s_in) + 1e-9))]
    return float(np.mean(s_out >= t))


def paired_ci(a: list, b: list, n: int = 1000, seed: int = 0) -> dict:
    """Paired bootstrap of (a - b) in AUROC and FPR95, averaged over splits: a, b are lists (one
    per split) of (s_in, s_out) test scores of two systems on the same sentences; each resample
    draws the in- and out-of-domain sentences of every split with replacement, the same for both."""
    rng = np.random.default_rng(seed)
    d_auc, d_fpr = [], []
    for _ in range(n):
        da, df = [], []
        for (ai, ao), (bi, bo) in zip(a, b):
            i, o = rng.integers(0, len(ai), len(ai)), rng.integers(0, len(ao), len(ao))
            da.append(auroc(ai[i], ao[o]) - auroc(bi[i], bo[o]))
            df.append(_fpr95(ai[i], ao[o]) - _fpr95(bi[i], bo[o]))
        d_auc.append(np.mean(da))
        d_fpr.append(np.mean(df))
    point_a = np.mean([auroc(*x) for x in a]) - np.mean([auroc(*x) for x in b])
    point_f = np.mean([_fpr95(*x) for x in a]) - np.mean([_fpr95(*x) for x in b])
    return {"auroc_diff": float(point_a), "auroc_ci95": [float(x) for x in np.percentile(d_auc, [2.5, 97.5])],
            "fpr95_diff": float(point_f), "fpr95_ci95": [float(x) for x in np.percentile(d_fpr, [2.5, 97.5])],
            "resamples": n}


def encoder_figures(enc, v: dict, splits: dict, protocol: str) -> dict:
    """Seen knn_top1 (test in-domain vs train) and, for unseen_intents, leave-one-out top-1 among
    the held-out intents' test sentences: the loop must not cost similarity."""
    from similarity.evaluate import knn_top1, loo_topk

    out = {"knn_top1": knn_top1(v["test_in"], splits["test_in"][1], v["train"], splits["train"][1])}
    out["unseen_loo_top1"] = loo_topk(v["test_out"], splits["test_out"][1], ks=(1,))["loo_top1"] \
        if protocol.startswith("unseen") else None
    return out


def per_intent(split: tuple, n: int | None) -> tuple:
    if not n:
        return split
    seen: dict[str, int] = {}
    keep = [i for i, g in enumerate(split[1]) if seen.__setitem__(g, seen.get(g, 0) + 1) or seen[g] <= n]
    return [split[0][i] for i in keep], [split[1][i] for i in keep]


def load_runs(paths: list[str], work) -> tuple[dict, dict, dict, dict]:
    """(result, raw, encoders, timing) of earlier `--json` runs (one protocol each, say) and the raw
    test scores they left under `work`, for `--merge`; refuses raw scores that a later run with
    other settings overwrote (their AUROC no longer matches the JSON's)."""
    import json
    from pathlib import Path

    result, raw, encoders, timing = {}, {}, {}, {}
    for path in paths:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        for p, by_enc in data.items():
            if not (p in ("clinc_oos", "unseen_intents") or p.startswith("unseen_intents:")):
                continue
            result.setdefault(p, {}).update(by_enc)  # runs of one protocol with other encoders add rows
            for e, rows in by_enc.items():
                f = np.load(Path(work) / p.replace(":", "_") / f"raw_{e}.npz")
                scores: dict = {}
                for key in f.files:
                    row, side = key.rsplit("|", 1)
                    scores.setdefault(row, [None, None])[side == "out"] = f[key]
                raw[p, e] = {r: tuple(s) for r, s in scores.items()}
                for r, x in rows.items():
                    if abs(auroc(*raw[p, e][r]) - x["auroc"]) > 1e-9:
                        raise SystemExit(f"{path}: {p}/{e}/{r}: the raw scores under {work} are of another run")
        for e, s in data.get("encoders", {}).items():
            encoders.setdefault(e, {}).update(s["by_protocol"])
        timing.update(data.get("timing", {}))
    return result, raw, encoders, timing
