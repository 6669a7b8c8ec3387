"""Small-data encoder levers (issue "encoder"): the demo-sized case, tuned on a validation split.

Protocol: the demo's split of a grouped corpus (`split_groups(holdout=0.25, seed)`, as `textgan
demo` does); the demo's training part is split again (`--val-fraction` of each group, seeded) into
train and validation. Every row trains the GRU with the demo's settings (16 epochs, batch 16,
lr 5e-3, patience 5) on train, selects its epoch on validation, and is scored on validation:
kNN top-1 against the train sentences and leave-one-out top-1 among the validation sentences,
beside the teacher off the shelf. `--test` scores on the demo's held-out sentences instead (for
the final report with settings chosen on validation; never tune with it).

Each "A beats B" figure comes with a paired bootstrap 95% CI over the scored sentences.

    OMP_NUM_THREADS=1 python bench/small_data.py --rows base,static,aug,scale,all --threads 1
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

# rows: TrainConfig overrides on top of the demo's settings; "base" is the pre-issue default
ROWS = {
    "base": dict(embed_init="teacher", augment=0, distil_scale=1.0),
    "static": dict(embed_init="teacher-static", augment=0, distil_scale=1.0),
    "aug": dict(embed_init="teacher", augment=None, distil_scale=1.0),
    "scale": dict(embed_init="teacher", augment=0, distil_scale=None),
    "aug+scale": dict(embed_init="teacher", augment=None, distil_scale=None),
    "all": dict(embed_init="teacher-static", augment=None, distil_scale=None),
    "defaults": dict(),
    # the small-data gap (issue "encoder", round 2): each the defaults with one change
    "pure": dict(distil_scale=1000.0),  # distillation only, in effect (the margin loss 1/1000)
    "lr2e-3": dict(lr=2e-3),
    "ep32": dict(epochs=32, patience=8),
    "lr1e-3-ep32": dict(lr=1e-3, epochs=32, patience=8),
    "bs32": dict(batch_size=32),
    "nodrop": dict(dropout=0.0),
    "emb384": dict(embed_dim=384),  # the teacher-static vectors without PCA
    "hid256": dict(hidden_size=256),
    "cli-defaults": dict(epochs=12, batch_size=64, lr=2e-3, patience=3),  # train-similarity's
    "small-rule": dict(epochs=30, batch_size=16, lr=5e-3, patience=3),  # bench/similarity_zh.py's gru-char-small
    # round 3: the teacher itself fine-tuned (`--backbone minilm`, its own lr / warm-up / head rows)
    "minilm": dict(backbone="minilm", lr=None, epochs=None, batch_size=None),
    "minilm-bs16": dict(backbone="minilm", lr=None, epochs=None),
    "minilm-bs16-ep8": dict(backbone="minilm", lr=None, epochs=8),
}
DEMO = dict(epochs=16, batch_size=16, lr=5e-3, patience=5)


def hits_knn(q: np.ndarray, qg: list[str], ref: np.ndarray, rg: list[str]) -> np.ndarray:
    nn = (q @ ref.T).argmax(1)
    return np.array([rg[j] == g for j, g in zip(nn, qg)])


def hits_loo(q: np.ndarray, qg: list[str]) -> np.ndarray:
    sim = q @ q.T
    np.fill_diagonal(sim, -np.inf)
    nn = sim.argmax(1)
    return np.array([qg[j] == g for j, g in zip(nn, qg)])


def paired_ci(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of a - b (per-sentence 0/1 hits) and its paired bootstrap 95% CI."""
    d = a.astype(float) - b.astype(float)
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, len(d), (n_boot, len(d)))].mean(1)
    return float(d.mean()), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "data/faq_en.csv"))
    ap.add_argument("--holdout", type=float, default=0.25, help="the demo's held-out share")
    ap.add_argument("--val-fraction", type=float, default=0.34, help="validation share of the demo's train part")
    ap.add_argument("--rows", default="base,static,aug,scale,all", help=f"comma list of {', '.join(ROWS)}")
    ap.add_argument("--set", default="{}", help="JSON TrainConfig overrides for every row")
    ap.add_argument("--test", action="store_true", help="score on the demo's held-out sentences (final report only)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--generic-unlabeled", type=int, default=None, metavar="N",
                    help="distil also on bench/similarity.py's unlabelled text (STS-B train + N COCO captions)")
    args = ap.parse_args()
    from bench import stats as _stats

    _stats.check_flags(args)
    from bench.stats import refuse

    unknown = [r for r in args.rows.split(",") if r not in ROWS]
    if unknown:
        refuse(f"unknown --rows {unknown[0]!r}; valid: {', '.join(ROWS)}")
    _stats.train_config(args.set, "--set")  # a bad field failed after the teacher encoded everything

    import torch

    import similarity
    from similarity.data import split_groups
    from similarity.teacher import resolve_teacher

    torch.set_num_threads(args.threads)
    texts, groups = similarity.load_groups(args.data)
    tr, ho = split_groups(texts, groups, args.holdout, seed=args.seed)
    t_t, t_g = [texts[i] for i in tr], [groups[i] for i in tr]
    if args.test:
        a_t, a_g, v_t, v_g = t_t, t_g, [texts[i] for i in ho], [groups[i] for i in ho]
    else:
        a, v = split_groups(t_t, t_g, args.val_fraction, seed=args.seed + 1)
        a_t, a_g, v_t, v_g = [t_t[i] for i in a], [t_g[i] for i in a], [t_t[i] for i in v], [t_g[i] for i in v]
    teacher = similarity.SentenceEncoder(resolve_teacher("minilm").model, "sentence-transformers")
    tv, ta = teacher.encode(v_t), teacher.encode(a_t)
    ref = {"knn": hits_knn(tv, v_g, ta, a_g), "loo": hits_loo(tv, v_g)}
    results = {"protocol": {"data": args.data, "n_train": len(a_t), "n_scored": len(v_t),
                            "split": "test" if args.test else "validation"},
               "teacher": {"knn_top1": float(ref["knn"].mean()), "loo_top1": float(ref["loo"].mean())}}
    unl = _generic_unlabeled(args.generic_unlabeled) if args.generic_unlabeled is not None else None
    print(f"train {len(a_t)} sentences, scored {len(v_t)} ({results['protocol']['split']})", flush=True)
    base_hits = None
    for name in args.rows.split(","):
        over = {**DEMO, **ROWS[name], **json.loads(args.set), "seed": args.seed}
        cfg = similarity.TrainConfig(**over)
        c0, w0 = time.process_time(), time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            path = similarity.train(cfg, a_t, a_g, Path(tmp) / "run", eval_texts=v_t, eval_groups=v_g,
                                    progress=False, unlabeled=unl)
            enc = similarity.load(path)
            info = json.loads((Path(tmp) / "run" / "config.json").read_text())
        ev, ea = enc.encode(v_t), enc.encode(a_t)
        h = {"knn": hits_knn(ev, v_g, ea, a_g), "loo": hits_loo(ev, v_g)}
        row = {"knn_top1": float(h["knn"].mean()), "loo_top1": float(h["loo"].mean()),
               "cpu_s": round(time.process_time() - c0, 1), "wall_s": round(time.perf_counter() - w0, 1),
               "n_augmented": (info.get("teacher") or {}).get("n_augmented"),
               "distil_scale": (info.get("teacher") or {}).get("distil_scale"),
               "vs_teacher": {k: paired_ci(h[k], ref[k]) for k in h}}
        if base_hits is not None:
            row["vs_first_row"] = {k: paired_ci(h[k], base_hits[k]) for k in h}
        else:
            base_hits = h
        results[name] = row
        print(name, json.dumps(row), flush=True)
    print_table(results, args.rows.split(","))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))


def _generic_unlabeled(n_coco: int) -> list[str]:
    """bench/similarity.py's unlabelled sentences (STS-B train, the first `n_coco` COCO captions)."""
    import importlib.util  # bench/ is no package

    spec = importlib.util.spec_from_file_location("bench_similarity", Path(__file__).with_name("similarity.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    data = ROOT / "../shared/data"
    return mod.load_unlabeled(data / "stsbenchmark/sts-train.csv", data / "coco_captions/captions_val2017.json", n_coco)


def print_table(results: dict, rows: list[str]) -> None:
    def ci(t):
        return f"{t[0]:+.3f} [{t[1]:+.3f}, {t[2]:+.3f}]"

    print(f"\n{results['protocol']['split']}: {results['protocol']['n_scored']} sentences")
    print("| row | knn_top1 | loo_top1 | knn vs teacher | loo vs teacher | knn vs first row | loo vs first row | CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    t = results["teacher"]
    print(f"| teacher (MiniLM) | {t['knn_top1']:.3f} | {t['loo_top1']:.3f} | - | - | - | - | - |")
    for name in rows:
        r = results[name]
        first = r.get("vs_first_row")
        print(f"| {name} | {r['knn_top1']:.3f} | {r['loo_top1']:.3f} | {ci(r['vs_teacher']['knn'])} | "
              f"{ci(r['vs_teacher']['loo'])} | {ci(first['knn']) if first else '-'} | "
              f"{ci(first['loo']) if first else '-'} | {r['cpu_s']} |")


if __name__ == "__main__":
    main()
