"""Scale bench: sharded encode over processes, the on-disk IVF-PQ index, torchrun training.

Keys written to --json:
  encode_speedup_2_workers   wall time of `encode_shards(workers=1)` / `(workers=2)` on the same
                             --sentences sentences (CLINC150 sentences repeated) with a GRU of the
                             default architecture trained for --sim-steps steps; 1 torch thread each.
  encode                     {sentences, seconds_1_worker, seconds_2_workers, sent_per_s_per_core,
                              shard_bytes_per_sentence}
  ondisk                     {n, dim, factory, params, rerank, target_recall, bytes_per_vector,
                              recall_at_10, qps, flat_qps, qps_ratio_vs_flat, peak_rss_mb,
                              build_peak_rss_mb, build_peak_rss_by_phase_mb, flat_index_mb, build_s, ...}
                             for --n synthetic clustered unit vectors (bench/retrieval.py's "clustered"
                             mixture) written as shards, built on disk in one child process and searched
                             in another (peak_rss_mb: the search process's, build_peak_rss_mb: the
                             build's); recall@10 of --queries fresh queries against exact search; Flat
                             searched in this process with the same 1 FAISS thread and query batches;
                             each timed as the best of 3 passes (the machine may be shared). Peak RSS
                             is VmHWM: Linux carries ru_maxrss from the forking parent into a child.
  ddp                        {gan, similarity}: {max_abs_diff_loss, max_abs_diff_weights, ...} between
                             1 process and `torchrun --nproc_per_node 2` (gloo) over --ddp-steps steps at
                             the same global batch: `train-gan` (default kind) on the encoded CLINC
                             vectors, every step's losses; `train-similarity` (defaults, MiniLM teacher)
                             on the CLINC150 train sentences, every step's loss. gan also reports one
                             process against itself with the data moved by one float32 ulp.
  partial_fc                 {groups, full, partial_0.1, partial_0.1_2_ranks}: the AM-Softmax head alone at
                             --pfc-groups classes (D 256, batch 64): step time (forward, backward, Adam) and
                             peak RSS per process, full vs Partial FC vs Partial FC sharded over 2 ranks.
  projection_100m            time (1 and 16 cores), disk and RAM for 100M sentences from the figures above.

    flock /tmp/textgan-heavy.lock env PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python bench/scale.py \
        --json bench/results/scale.json
    # the on-disk part only, shards and index kept for the next run:
    env PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python bench/scale.py --only ondisk \
        --workdir /tmp/textgan-scale --json bench/results/scale_ondisk.json
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "bench"))  # after ROOT: bench/similarity.py must not shadow the package


def clinc_sentences(data: Path) -> list[str]:
    splits = json.loads((data / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    return [t for rows in splits.values() for t, _ in rows]


def quick_model(data: Path, out: Path, steps: int) -> Path:
    """A GRU of the default architecture after `steps` optimiser steps on CLINC150 train."""
    import similarity

    splits = json.loads((data / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    texts, groups = zip(*splits["train"])
    cfg = similarity.TrainConfig(epochs=1, max_steps=steps, seed=0)
    return Path(similarity.train(cfg, list(texts), list(groups), out / "sim", progress=False))


def bench_encode(model: Path, corpus: Path, tmp: Path, shard_size: int) -> dict:
    from textgan.workflow.encode import encode_shards

    secs = {}
    for w in (1, 2):
        t = time.perf_counter()
        res = encode_shards(model, corpus, tmp / f"enc{w}", shard_size=shard_size, workers=w)
        secs[w] = time.perf_counter() - t
    n = res["rows"]
    shard_bytes = sum(f.stat().st_size for f in (tmp / "enc1").glob("shard-*") if not f.name.endswith(".json"))
    return {"sentences": n, "seconds_1_worker": round(secs[1], 2), "seconds_2_workers": round(secs[2], 2),
            "sent_per_s_per_core": round(n / secs[1], 1), "shard_bytes_per_sentence": round(shard_bytes / n, 1),
            "speedup": round(secs[1] / secs[2], 3)}


def _centres(n: int, dim: int, seed: int) -> np.ndarray:
    from retrieval import sphere

    return sphere(max(10, n // 100), dim, np.random.default_rng(seed))


def write_synthetic_shards(folder: Path, n: int, dim: int, shard_size: int, seed: int) -> None:
    """Clustered unit vectors (n/100 centres) as a shard folder, written into a temporary folder
    and renamed, so an interrupted run never leaves a half folder for --workdir to reuse."""
    from retrieval import clustered

    from textgan.common.artifacts import save_json
    from textgan.workflow.encode import FORMAT, RUN_FILE, finalize, write_shard

    centres = _centres(n, dim, seed)
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_json({"format": FORMAT, "version": 1, "fingerprint": "synthetic", "dim": dim, "shard_size": shard_size,
               "corpus": {"name": "synthetic-clustered", "bytes": n, "text_col": None, "group_col": None}},
              tmp / RUN_FILE)
    for k, lo in enumerate(range(0, n, shard_size)):
        m = min(shard_size, n - lo)
        x = clustered(m, dim, centres, np.random.default_rng(seed + 1 + k))
        write_shard(tmp, k, [(f"row {lo + i}", None) for i in range(m)], x, "synthetic")
    finalize(tmp, (n + shard_size - 1) // shard_size, n)
    tmp.rename(folder)


def synthetic_queries(n: int, dim: int, seed: int, nq: int) -> np.ndarray:
    """Fresh queries from the corpus mixture (same centres, a seed no shard uses)."""
    from retrieval import clustered

    return clustered(nq, dim, _centres(n, dim, seed), np.random.default_rng(seed + 10**6))


# Build and search run in separate child processes: they are separate jobs for a user, and each
# one's peak RSS (ru_maxrss, mapped file pages included) is reported on its own.
BUILD_CHILD = r"""
import json, sys, time
import faiss
faiss.omp_set_num_threads(1)
from textgan.index.ondisk import build_ondisk, peak_rss_mb
from textgan.index.options import IndexOptions
from textgan.index.shards import open_shards
shards_dir, out, rerank, memory_mb, target, factory = sys.argv[1:7]
base_rss = peak_rss_mb()
t = time.perf_counter()
options = IndexOptions.of(rerank=None if rerank == "auto" else int(rerank), target_recall=float(target),
                          factory=None if factory == "auto" else factory,
                          memory_budget_mb=None if memory_mb == "none" else float(memory_mb))
idx = build_ondisk(open_shards(shards_dir, verify=False), out, encoder={"fingerprint": "synthetic"}, options=options)
print(json.dumps({"build_s": time.perf_counter() - t, "base_rss_mb": base_rss, "peak_rss_mb": peak_rss_mb()}))
"""

SEARCH_CHILD = r"""
import json, sys, time
import numpy as np
import faiss
faiss.omp_set_num_threads(1)
from textgan.index.ondisk import peak_rss_mb
from textgan.index.build import load_index
out, qfile, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
base_rss = peak_rss_mb()
idx = load_index(out)
load_rss = peak_rss_mb()
q = np.load(qfile)
idx.search(q[:50], 10)
times = []
for rep in range(3):  # best of 3: the machine is shared, the minimum is the least disturbed run
    t = time.perf_counter()
    ids = np.concatenate([idx.search(q[i:i + batch], 10)[1] for i in range(0, len(q), batch)])
    times.append(time.perf_counter() - t)
search_s = min(times)
np.save(qfile + ".ids.npy", ids)
print(json.dumps({"search_s": search_s, "threads": faiss.omp_get_max_threads(),
      "meta": {k: idx.meta.get(k) for k in ("factory", "recall_at_10", "params", "bytes_per_vector", "rerank",
                                            "build_seconds", "build_peak_rss_mb", "block_rows", "lists")},
      "base_rss_mb": base_rss, "load_rss_mb": load_rss,
      "peak_rss_mb": peak_rss_mb()}))
"""


def _child(code: str, *args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(p.stderr[-3000:])
    return json.loads(p.stdout.strip().splitlines()[-1])


def flat_search(shards_dir: Path, q: np.ndarray, batch: int) -> tuple[np.ndarray, float]:
    """Exact top-10 ids and the seconds an IndexFlatIP (1 thread, same batches) takes for them."""
    import faiss

    from textgan.index.shards import open_shards

    faiss.omp_set_num_threads(1)
    shards = open_shards(shards_dir, verify=False)
    flat = faiss.IndexFlatIP(shards.dim)
    for s in range(len(shards)):
        flat.add(np.ascontiguousarray(shards.vectors(s)))
    flat.search(q[:50], 10)
    times = []
    for rep in range(3):  # best of 3, as for the on-disk index
        t = time.perf_counter()
        truth = np.concatenate([flat.search(q[i:i + batch], 10)[1] for i in range(0, len(q), batch)])
        times.append(time.perf_counter() - t)
    return truth, min(times)


def bench_ondisk(work: Path, n: int, dim: int, shard_size: int, seed: int, nq: int, batch: int,
                 rerank: str, memory_mb: str, rebuild: bool, target: float, factory: str = "auto") -> dict:
    from textgan.index.choice import recall_at_k

    syn, idx_dir = work / f"syn-{n}-{dim}-{seed}", work / f"idx-{n}-{dim}-{seed}-{target}-{factory.replace(',', '_')}"
    t = time.perf_counter()
    if not (syn / "manifest.json").is_file():
        write_synthetic_shards(syn, n, dim, shard_size, seed)
    gen_s = time.perf_counter() - t
    q = synthetic_queries(n, dim, seed, nq)
    np.save(work / "q.npy", q)
    build = None
    if rebuild or not (idx_dir / "meta.json").is_file():
        build = _child(BUILD_CHILD, syn, idx_dir, rerank, memory_mb, target, factory)
    child = _child(SEARCH_CHILD, idx_dir, work / "q.npy", batch)
    ids = np.load(work / "q.npy.ids.npy")
    truth, flat_s = flat_search(syn, q, batch)
    m = child["meta"]
    return {"n": n, "dim": dim, "factory": m["factory"], "params": m["params"], "rerank": m["rerank"],
            "target_recall": target, "timing": "best of 3 passes over the queries, each index",
            "queries": nq, "query_batch": batch, "faiss_threads": child["threads"],
            "bytes_per_vector": round(m["bytes_per_vector"], 2),
            "recall_at_10": round(recall_at_k(ids, truth), 4),
            "recall_at_10_build_estimate": round(m["recall_at_10"], 4),
            "qps": round(nq / child["search_s"], 1), "flat_qps": round(nq / flat_s, 1),
            "qps_ratio_vs_flat": round(flat_s / child["search_s"], 1),
            "peak_rss_mb": round(child["peak_rss_mb"], 1), "search_rss_after_load_mb": round(child["load_rss_mb"], 1),
            "rss_after_imports_mb": round(child["base_rss_mb"], 1),
            "build_peak_rss_mb": None if build is None else round(build["peak_rss_mb"], 1),
            "build_peak_rss_by_phase_mb": m.get("build_peak_rss_mb"), "block_rows": m.get("block_rows"),
            "codes": "in RAM (4-bit fast scan)" if m.get("lists") == "ram" else "inverted lists on disk",
            "build_seconds": m["build_seconds"], "flat_index_mb": round(n * dim * 4 / 2**20, 1),
            "build_s": None if build is None else round(build["build_s"], 1),
            "build_s_per_vector": None if build is None else build["build_s"] / n, "generate_s": round(gen_s, 1),
            "shard_bytes_per_vector": round(sum(f.stat().st_size for f in syn.glob("shard-*.npy")) / n, 1)}


def _torchrun(args: list[str], env: dict) -> None:
    p = subprocess.run([str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node", "2",
                        "-m", "cli", *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(p.stderr[-3000:])


def _max_weight_diff(a_dir: Path, b_dir: Path, names: list[str]) -> float:
    from safetensors.torch import load_file

    out = 0.0
    for name in names:
        a, b = load_file(a_dir / name), load_file(b_dir / name)
        out = max(out, max(float((a[k] - b[k]).abs().max()) for k in a))
    return out


def bench_ddp_gan(vectors: Path, tmp: Path, steps: int) -> dict:
    """`train-gan` (default kind and objective) on 1 process, on 2 torchrun processes, and on 1
    process with the data moved by one float32 ulp: the last shows how far rounding alone carries."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    args = ["train-gan", "--steps", str(steps), "--batch-size", "256", "--quiet",
            "--checkpoint-every", str(steps), "--set", "log_every=1"]
    x = np.load(vectors)
    np.save(tmp / "ulp.npy", np.nextafter(x, np.float32(2)))
    runs = {}
    for name, data, two in (("one", vectors, False), ("two", vectors, True), ("ulp", tmp / "ulp.npy", False)):
        t = time.perf_counter()
        cmd = [args[0], str(data), *args[1:], "--out", str(tmp / f"gan_{name}")]
        if two:
            _torchrun(cmd, env)
        else:
            subprocess.run([sys.executable, "-m", "cli", *cmd], env=env, check=True, cwd=ROOT)
        runs[name] = time.perf_counter() - t
    rows = {d: [json.loads(ln) for ln in (tmp / f"gan_{d}" / "metrics.jsonl").read_text().splitlines()]
            for d in runs}
    keys = [k for k in rows["one"][-1] if k not in ("step", "seconds")]

    def loss_diff(other: str, upto: int | None = None) -> float:
        return max(abs(a[k] - b[k]) for a, b in list(zip(rows["one"], rows[other]))[:upto] for k in keys)

    names = ["generator.safetensors", "critic.safetensors"]
    return {"steps": steps, "global_batch": 256, "max_abs_diff_loss": loss_diff("two"),
            "max_abs_diff_loss_first_10_steps": loss_diff("two", 10),
            "max_abs_diff_weights": _max_weight_diff(tmp / "gan_one", tmp / "gan_two", names),
            "one_process_1ulp_data_max_abs_diff_loss": loss_diff("ulp"),
            "seconds_1_process": round(runs["one"], 1), "seconds_2_processes": round(runs["two"], 1)}


def bench_ddp_similarity(data: Path, tmp: Path, steps: int) -> dict:
    """`train-similarity` (defaults: GRU, AM-Softmax, MiniLM teacher) on the CLINC150 train
    sentences for `steps` steps, 1 process vs 2 torchrun processes; per-step losses compared."""
    import csv

    rows = json.loads((data / "clinc150" / "data_full.json").read_text(encoding="utf-8"))["train"]
    with open(tmp / "clinc_train.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "group"])
        w.writerows(rows)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    args = ["train-similarity", str(tmp / "clinc_train.csv"), "--epochs", "1", "--max-steps", str(steps),
            "--quiet"]
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli", *args, "--out", str(tmp / "sim_one")], env=env, check=True,
                   cwd=ROOT, capture_output=True)
    one_s = time.perf_counter() - t
    t = time.perf_counter()
    _torchrun([*args, "--out", str(tmp / "sim_two")], env)
    two_s = time.perf_counter() - t
    losses = [[v for ln in (tmp / d / "metrics.jsonl").read_text().splitlines()
               for v in json.loads(ln)["step_losses"]] for d in ("sim_one", "sim_two")]
    assert len(losses[0]) == len(losses[1]) == steps, [len(x) for x in losses]
    w_diff = _max_weight_diff(tmp / "sim_one" / "model", tmp / "sim_two" / "model",
                              ["model.safetensors", "head.safetensors"])
    return {"steps": steps, "global_batch": 64, "max_abs_diff_loss": max(abs(a - b) for a, b in zip(*losses)),
            "last_loss": losses[0][-1], "max_abs_diff_weights": w_diff,
            "seconds_1_process": round(one_s, 1), "seconds_2_processes": round(two_s, 1)}


def bench_ddp(vectors: Path, data: Path, tmp: Path, steps: int) -> dict:
    return {"gan": bench_ddp_gan(vectors, tmp, steps), "similarity": bench_ddp_similarity(data, tmp, steps)}


PFC_CHILD = r"""
import json, resource, sys, time
import torch
from similarity.losses import make_loss
from textgan.common import distributed as ddp
torch.set_num_threads(1)
groups, dim, batch, rate, steps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), 5
rank, world = ddp.init()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
head = make_loss("am", dim, groups, sample_rate=rate, seed=0, shard=ddp.row_range(groups) if world > 1 else None)
dense = [p for p in head.parameters() if not (head.partial and p is head.weight)]  # as the trainer does
opt = torch.optim.Adam(dense, lr=1e-3) if dense else None
gen = torch.Generator().manual_seed(1)
times = []
for t in range(steps + 1):
    emb = torch.nn.functional.normalize(torch.randn(batch, dim, generator=gen), dim=1).requires_grad_()
    labels = torch.randint(0, groups, (batch,), generator=gen)
    t0 = time.perf_counter()
    loss = head(emb, labels)
    (loss / world).backward()
    if opt is not None:
        opt.step()
        opt.zero_grad()
    if head.partial:
        head.sparse_step(1e-3)
    times.append(time.perf_counter() - t0)
res = {"rank": rank, "step_ms": 1000 * sum(times[1:]) / steps, "centres_per_rank": head.hi - head.lo,
       "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rss_after_imports_mb": base,
       "loss": float(loss)}
print("PFC " + json.dumps(res), flush=True)
"""


def bench_partial_fc(groups: int, dim: int = 256, batch: int = 64) -> dict:
    """The margin head alone at `groups` classes: full softmax, Partial FC at rate 0.1, and Partial FC
    with the centres split over 2 torchrun ranks; step time (forward, backward, Adam) and peak RSS."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    out = {}
    for name, rate, two in (("full", 1.0, False), ("partial_0.1", 0.1, False), ("partial_0.1_2_ranks", 0.1, True)):
        cmd = ["-c", PFC_CHILD, str(groups), str(dim), str(batch), str(rate)]
        if two:
            with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
                fh.write(PFC_CHILD)
            cmd = [str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node", "2",
                   fh.name, *cmd[2:]]
        else:
            cmd = [sys.executable, *cmd]
        p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
        if p.returncode:
            raise SystemExit(p.stderr[-3000:])
        rows = [json.loads(ln[4:]) for ln in p.stdout.splitlines() if ln.startswith("PFC ")]
        out[name] = {"step_ms": round(max(r["step_ms"] for r in rows), 1),
                     "centres_per_rank": max(r["centres_per_rank"] for r in rows),
                     "peak_rss_mb_per_rank": round(max(r["peak_rss_mb"] for r in rows), 1),
                     "rss_after_imports_mb": round(max(r["rss_after_imports_mb"] for r in rows), 1)}
        print(f"partial_fc {name}: {out[name]}", flush=True)
    return {"groups": groups, "dim": dim, "batch": batch, **out}


def projection(enc: dict, od: dict, n: int = 100_000_000, cores: int = 16) -> dict:
    """100M sentences from the measured per-unit costs (linear in n; IVF costs scaled by nlist)."""
    from textgan.index.choice import estimate_bytes, ondisk_factory

    eff = enc["speedup"] / 2  # parallel efficiency measured at 2 workers, assumed to hold at 16
    enc_1 = n / enc["sent_per_s_per_core"]
    dim = od["dim"]
    nl_bench, nl = (int(f.split(",")[0][3:]) for f in (od["factory"], ondisk_factory(n, dim)))
    b = od["build_seconds"]
    # k-means: 39 x nlist samples x nlist centroids -> x (nlist ratio)^2; adding: one coarse assignment
    # per vector (x nlist) -> x (n ratio) x (nlist ratio), an upper bound (PQ encoding does not grow);
    # the rest (merge, copies, exact recall sample, checksums) streams over the data -> x (n ratio)
    r_n, r_l = n / od["n"], nl / nl_bench
    add_1 = b["train"] * r_l**2 + b["add"] * r_n * r_l + (sum(b.values()) - b["train"] - b["add"]) * r_n
    dim = od["dim"]
    f = ondisk_factory(n, dim)
    return {"sentences": n, "factory": f, "parallel_efficiency_assumed": round(eff, 3),
            "encode_hours_1_core": round(enc_1 / 3600, 1),
            f"encode_hours_{cores}_cores": round(enc_1 / (cores * eff) / 3600, 2),
            "index_build_hours_1_core": round(add_1 / 3600, 1),
            f"index_build_hours_{cores}_cores": round(add_1 / cores / 3600, 2),
            "disk_gb_shards": round(n * enc["shard_bytes_per_sentence"] / 1e9, 1),
            "disk_gb_index": round(n * od["bytes_per_vector"] / 1e9, 1),
            "ram_gb_encode_per_worker": round((100_000 * enc["shard_bytes_per_sentence"] + 200e6) / 1e9, 2),
            # training sample + the codes held while adding (all of them for fast-scan codes, one block else)
            "ram_gb_index_build": round((39 * nl * dim * 4 + estimate_bytes(f, n if "fs" in f else 1_000_000, dim))
                                        / 1e9, 2),
            "ram_gb_search": round(estimate_bytes(f, n if "fs" in f else 0, dim) / 1e9, 3),
            "flat_ram_gb": round(n * dim * 4 / 1e9, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--sentences", type=int, default=200_000)
    ap.add_argument("--shard-size", type=int, default=10_000)
    ap.add_argument("--sim-steps", type=int, default=50)
    ap.add_argument("--n", type=int, default=2_000_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--ddp-steps", type=int, default=100)
    ap.add_argument("--pfc-groups", type=int, default=1_000_000)
    ap.add_argument("--skip", default="", help="comma list of parts to skip: encode,ondisk,ddp,pfc")
    ap.add_argument("--only", default=None, help="comma list of the parts to run (the others are skipped)")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="keep the synthetic shards and the on-disk index here and reuse them on the next run "
                         "(default: a temporary folder)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the on-disk index even if --workdir has one")
    ap.add_argument("--queries", type=int, default=2000, help="fresh queries timed (on-disk and Flat)")
    ap.add_argument("--query-batch", type=int, default=2000, help="queries per search call, both indexes")
    ap.add_argument("--rerank", default="auto", help="on-disk re-rank factor (default: tuned by the build)")
    ap.add_argument("--target-recall", type=float, default=0.95, help="recall@10 the on-disk build tunes to")
    ap.add_argument("--factory", default="auto", help="on-disk factory (default: index_choice.ondisk_factory)")
    ap.add_argument("--memory-mb", default="none", help="memory budget handed to the on-disk build")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from bench import stats as _stats

    _stats.check_flags(args)
    parts = ("encode", "ondisk", "ddp", "pfc")
    skip = set(_stats.pick(args.skip, parts, "--skip")) if args.skip else set()
    if args.only is not None:  # `--only bogus` ran nothing and said nothing
        skip |= set(parts) - set(_stats.pick(args.only, parts, "--only"))
    if not 0 < args.target_recall <= 1:
        _stats.refuse(f"--target-recall must be in (0, 1], got {args.target_recall}")
    _stats.number(args.memory_mb, "--memory-mb", keep=("none",))
    if args.rerank != "auto" and not (args.rerank.isascii() and args.rerank.isdigit()):  # 0: codes only
        _stats.refuse(f"--rerank must be auto or an integer >= 0, got {args.rerank!r}")
    import faiss
    import torch

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    res: dict = {"load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="textgan-scale-", dir="/tmp") as d:
        tmp = Path(d)
        if not {"encode", "ddp"} <= skip:
            model = quick_model(args.data, tmp, args.sim_steps)
            sents = clinc_sentences(args.data)
        if "encode" not in skip:
            corpus = tmp / "corpus.txt"
            corpus.write_text("\n".join((sents * (args.sentences // len(sents) + 1))[:args.sentences]) + "\n",
                              encoding="utf-8")
            enc = bench_encode(model, corpus, tmp, args.shard_size)
            res["encode"], res["encode_speedup_2_workers"] = enc, enc["speedup"]
            print(f"encode: {enc}", flush=True)
        if "ddp" not in skip:
            import similarity

            np.save(tmp / "clinc_vecs.npy", similarity.load(model).encode(sents[:args.shard_size]))
            res["ddp"] = bench_ddp(tmp / "clinc_vecs.npy", args.data, tmp, args.ddp_steps)
            print(f"ddp: {res['ddp']}", flush=True)
        if "pfc" not in skip:
            res["partial_fc"] = bench_partial_fc(args.pfc_groups)
        if "ondisk" not in skip:
            work = args.workdir or tmp
            work.mkdir(parents=True, exist_ok=True)
            res["ondisk"] = bench_ondisk(work, args.n, args.dim, 100_000, args.seed, args.queries, args.query_batch,
                                         args.rerank, args.memory_mb, args.rebuild, args.target_recall,
                                         args.factory)
            print(f"ondisk: {res['ondisk']}", flush=True)
    res["load_after"] = os.getloadavg()
    if "encode" in res and "ondisk" in res:
        res["projection_100m"] = projection(res["encode"], res["ondisk"])
        p = res["projection_100m"]
        print("\n| 100M sentences | 1 core | 16 cores |\n|---|---|---|")
        print(f"| encode (h) | {p['encode_hours_1_core']} | {p['encode_hours_16_cores']} |")
        print(f"| on-disk index build (h) | {p['index_build_hours_1_core']} | {p['index_build_hours_16_cores']} |")
        print(f"\ndisk: shards {p['disk_gb_shards']} GB + index {p['disk_gb_index']} GB; RAM: encode "
              f"{p['ram_gb_encode_per_worker']} GB/worker, index build {p['ram_gb_index_build']} GB, "
              f"search {p['ram_gb_search']} GB (+ page cache); a Flat index would need {p['flat_ram_gb']} GB")
    if "ondisk" in res:
        o = res["ondisk"]
        print("\n| index | n | bytes/vector | recall@10 | QPS | QPS ratio | peak RSS MB |\n|---|---|---|---|---|---|---|")
        print(f"| Flat (anchor) | {o['n']} | {o['dim'] * 4} | 1.0 | {o['flat_qps']} | 1.0 | {o['flat_index_mb']} (size) |")
        print(f"| {o['factory']} on disk, rerank {o['rerank']} | {o['n']} | {o['bytes_per_vector']} | "
              f"{o['recall_at_10']} | {o['qps']} | {o['qps_ratio_vs_flat']} | {o['peak_rss_mb']} (search; "
              f"build {o['build_peak_rss_mb']}) |")
    res["peak_rss_mb_bench_process"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
