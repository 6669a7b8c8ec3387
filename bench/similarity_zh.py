"""Chinese leave-groups-out protocol (`bench/similarity.py --lang zh`).

For each of `--splits` seeded splits of the groups of a grouped Chinese file (default
data/faq_zh.csv): train on half the groups (the CLI defaults of `train-similarity --tokenizer
char` plus each row's overrides), then leave-one-out top-1 among the sentences of the other
half (groups never seen in training). Anchors in the same run: character n-gram TF-IDF
(analyzer char_wb, 1-3 grams, sublinear tf, fitted on the training half: `tfidf-char`, whose
vocabulary drops grams seen only in the unseen groups, and `tfidf-char-hash`, which keeps them)
and all-MiniLM-L6-v2 off the shelf. Every row's figure is pooled over the splits' scored
sentences, with paired bootstrap 95% CIs against both TF-IDF rows (the target: the char model
beats TF-IDF by >= 2 points). `--gru '{"tokenizer": null}'` runs the GRU rows with the language's
own defaults (for English data: distilled from MiniLM).

    OMP_NUM_THREADS=1 python bench/similarity.py --lang zh --threads 1 --json bench/results/similarity_zh.json
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
sys.path.insert(0, str(ROOT))  # as a script, bench/ comes first and bench/similarity.py hides the package

# GRU rows: TrainConfig overrides on top of TrainConfig(tokenizer="char")
ROWS = {
    "gru-char": dict(),  # the defaults (no teacher for char text with an English teacher; lexical part 512)
    "gru-char-nolex": dict(lexical_dim=0),  # the defaults before the lexical part
    "gru-char-lex512": dict(lexical_dim=512),  # explicit: with --gru '{"tokenizer": null}' (English) too
    "gru-char-lex1024": dict(lexical_dim=1024),
    "gru-char-lexw03": dict(lexical_weight=0.3),
    "gru-char-lexw07": dict(lexical_weight=0.7),
    "gru-char-lexgrams2": dict(lexical_grams=2),  # the lexical part's grams: 1-2 characters
    "gru-char-lexgrams3": dict(lexical_grams=3),  # 1-3 characters, the default before 2026-12-07
    "gru-char-minilm": dict(teacher="minilm"),  # distilled from the English MiniLM
    "gru-char-none": dict(teacher="none"),
    "gru-char-ssl": dict(teacher="none", ssl_weight=1.0),
    "gru-char-ngram": dict(teacher="none", ngram_buckets=65536),
    "gru-char-ngram-ssl": dict(teacher="none", ngram_buckets=65536, ssl_weight=1.0),
    # the demo's small-data settings (batch 16, lr 5e-3) with 30 epochs: the CLI's batch of 64
    # gives about two steps an epoch on ~100 sentences
    "gru-char-small": dict(batch_size=16, lr=5e-3, epochs=30),
    # no --tokenizer at all: what `train-similarity DATA` does with Chinese text and no flags
    "gru-auto": dict(tokenizer=None),
}
# tfidf-char: the vocabulary of the training half (grams only in unseen groups are dropped);
# tfidf-char-hash: every gram hashed into 2**20 columns, IDF from the training half (unseen grams
# keep the highest IDF): what the GRU's lexical part computes before folding it to --lexical-dim
ANCHOR_ROWS = ("tfidf-char", "tfidf-char-hash", "minilm")


class CharTfIdf:
    def __init__(self, texts):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vec = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True).fit(texts)

    def encode(self, texts, batch_size=256, progress=False):
        from sklearn.preprocessing import normalize

        return normalize(self.vec.transform(texts)).toarray().astype(np.float32)


class HashedCharTfIdf:
    def __init__(self, texts):
        from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

        self.hv = HashingVectorizer(analyzer="char_wb", ngram_range=(1, 3), n_features=2 ** 20,
                                    alternate_sign=False, norm=None)
        self.idf = TfidfTransformer(sublinear_tf=True).fit(self.hv.transform(texts))

    def encode(self, texts, batch_size=256, progress=False):
        return self.idf.transform(self.hv.transform(texts))  # sparse, unit rows


def loo_hits(emb, groups: list[str]) -> np.ndarray:
    sim = emb @ emb.T
    sim = sim.toarray() if hasattr(sim, "toarray") else sim  # a sparse TF-IDF
    np.fill_diagonal(sim, -np.inf)
    nn = sim.argmax(1)
    return np.array([groups[j] == g for j, g in zip(nn, groups)])


def paired_ci(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0) -> list[float]:
    d = a.astype(float) - b.astype(float)
    boots = d[np.random.default_rng(seed).integers(0, len(d), (n_boot, len(d)))].mean(1)
    return [float(d.mean()), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lang", default="zh")
    ap.add_argument("--data", default=str(ROOT / "data/faq_zh.csv"))
    ap.add_argument("--text-col", default="text")
    ap.add_argument("--group-col", default="group")
    ap.add_argument("--systems", default=",".join(ANCHOR_ROWS + tuple(ROWS)),
                    help=f"comma list of {', '.join(ANCHOR_ROWS + tuple(ROWS))}")
    ap.add_argument("--gru", default="{}", help="JSON TrainConfig overrides for every GRU row")
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args, _ = ap.parse_known_args(argv)
    from bench import stats as _stats

    _stats.check_flags(args)
    systems = _stats.pick(args.systems, ANCHOR_ROWS + tuple(ROWS))
    gru_over = _stats.train_config(args.gru, "--gru")

    import torch

    import similarity
    from similarity.model import load_st, minilm_path

    torch.set_num_threads(args.threads)
    texts, groups = similarity.load_groups(args.data, args.text_col, args.group_col)
    names = sorted(set(groups))
    hits: dict[str, list[np.ndarray]] = {s: [] for s in systems}
    cpu: dict[str, float] = {s: 0.0 for s in systems}
    for split in range(args.splits):
        rng = random.Random(split)
        order = names[:]
        rng.shuffle(order)
        seen = set(order[: len(order) // 2])
        tr = [(t, g) for t, g in zip(texts, groups) if g in seen]
        te = [(t, g) for t, g in zip(texts, groups) if g not in seen]
        tr_t, tr_g = [t for t, _ in tr], [g for _, g in tr]
        te_t, te_g = [t for t, _ in te], [g for _, g in te]
        for name in systems:
            c0 = time.process_time()
            if name == "tfidf-char":
                enc = CharTfIdf(tr_t)
            elif name == "tfidf-char-hash":
                enc = HashedCharTfIdf(tr_t)
            elif name == "minilm":
                if minilm_path() is None:
                    continue
                enc = similarity.SentenceEncoder(load_st(minilm_path()), "sentence-transformers")
            else:
                over = {"tokenizer": "char", "seed": split, **ROWS[name], **gru_over}
                with tempfile.TemporaryDirectory() as tmp:
                    enc = similarity.load(similarity.train(similarity.TrainConfig(**over), tr_t, tr_g,
                                                           Path(tmp) / "run", progress=False))
            hits[name].append(loo_hits(enc.encode(te_t), te_g))
            cpu[name] += time.process_time() - c0
        print(f"split {split}: " + ", ".join(f"{s} {hits[s][-1].mean():.3f}" for s in systems if hits[s]),
              flush=True)
    results = {"protocol": {"data": args.data, "splits": args.splits, "groups": len(names),
                            "sentences": len(texts)}}
    ref = np.concatenate(hits["tfidf-char"]) if hits.get("tfidf-char") else None
    for name in systems:
        if not hits[name]:
            continue
        h = np.concatenate(hits[name])
        results[name] = {"unseen_loo_top1": float(h.mean()), "cpu_s": round(cpu[name], 1),
                         "per_split": [float(x.mean()) for x in hits[name]]}
        if ref is not None and name != "tfidf-char":
            results[name]["vs_tfidf_char"] = paired_ci(h, ref)
        if hits.get("tfidf-char-hash") and name not in ("tfidf-char", "tfidf-char-hash"):
            results[name]["vs_tfidf_char_hash"] = paired_ci(h, np.concatenate(hits["tfidf-char-hash"]))
    print(f"\n{args.data}: {len(names)} groups, {args.splits} group splits (half trained, LOO among the rest)")
    print("| system | unseen_loo_top1 | vs TF-IDF char 1-3 (95% CI) | vs hashed TF-IDF | CPU s |\n"
          "|---|---|---|---|---|")
    for name in systems:
        r = results.get(name)
        if r:
            cis = [r.get("vs_tfidf_char"), r.get("vs_tfidf_char_hash")]
            ci_s = [f"{ci[0]:+.3f} [{ci[1]:+.3f}, {ci[2]:+.3f}]" if ci else "-" for ci in cis]
            print(f"| {name} | {r['unseen_loo_top1']:.3f} | {ci_s[0]} | {ci_s[1]} | {r['cpu_s']} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
