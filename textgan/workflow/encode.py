"""Streaming, sharded, resumable encoding: a corpus of any size -> a folder of vector shards.

The corpus is read as a stream (a .txt line by line, a data file through `datasets`
streaming), cut into shards of `shard_size` rows, and each shard is encoded and written
on its own:

    encode.json               what this folder is being made from (encoder fingerprint, dim,
                              shard size, corpus name/size/sha256/columns); a rerun must match it
    shard-00000.npy           (rows, D) float32 unit vectors, memory-mappable (np.load mmap_mode="r")
    shard-00000.texts.jsonl   one {"text"[, "group"]} per row
    shard-00000.json          rows + sha256 of both files: written last, it marks the shard done
    manifest.json             written when every shard is done: encoder, n, dim, shard list

Every file is written atomically, so a killed or failed run (full disk included) leaves
whole shards only, and a rerun encodes just the shards not yet done, or damaged: a shard counts as
done when its files match the sha256 its marker records, so rerunning a finished encode repairs it. Work splits two ways
that compose: `shard=(i, n)` makes this copy own shards k with k % n == i (n copies on n
machines, any scheduler), and `workers` processes split this copy's shards among them.
Every process reads the stream itself and skips the shards it does not own: reading text
costs far less than encoding it, and no process ever holds more than one shard.
"""
from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np

from textgan.common.artifacts import (atomic_file, clean_stale_temps, file_sha256, is_nonempty_dir, load_json,
                                      save_json, save_npy)
from textgan.common.errors import InputError
from textgan.index.shards import FORMAT, MANIFEST, RUN_FILE, ShardSet, open_shards, shard_name  # noqa: F401
from textgan.workflow.rows import chunks, stream_rows  # noqa: F401 (API: stream_rows)

DEFAULT_SHARD_SIZE = 100_000


def parse_shard(spec: str | None) -> tuple[int, int]:
    """"i/n" -> (i, n) with 0 <= i < n; None -> (0, 1)."""
    if spec is None:
        return 0, 1
    try:
        i, n = (int(v) for v in str(spec).split("/"))
    except ValueError:
        raise InputError(f"--shard must be I/N (this copy's number and the number of copies), got {spec!r}") from None
    if n < 1 or not 0 <= i < n:
        raise InputError(f"--shard {spec}: need 0 <= I < N (copies are numbered 0 to N-1)")
    return i, n


# --- writing shards -----------------------------------------------------------------------

def _run_identity(enc, corpus, text_col, group_col, shard_size: int) -> dict:
    """What a folder is made from. The corpus by its content (sha256, streamed once: reading costs
    far less than encoding): name and size alone let an edited corpus of the same size resume onto
    stale shards, and two corpora of one name and size mix into one "complete" folder."""
    from textgan.common.saved_dataset import folder_digest, saved_folder
    from similarity.splits import split_of

    if (saved := saved_folder(str(corpus))) is not None:  # a save_to_disk folder: its split's files
        size, digest = folder_digest(*saved, corpus)
    else:
        p = (split_of(str(corpus)) or (Path(corpus), None))[0]  # data_full.json:val: the file (name keeps the split)
        size, digest = p.stat().st_size, file_sha256(p)
    return {"format": FORMAT, "version": 1, "fingerprint": enc.fingerprint, "dim": int(enc.dim),
            "shard_size": int(shard_size),
            "corpus": {"name": Path(corpus).name, "bytes": size, "sha256": digest, "text_col": text_col,
                       "group_col": group_col}}


def _start(out: Path, ident: dict) -> bool:
    """Claim `out` for this encode, or check that a rerun / another copy encodes the same thing.
    True when this call made the claim (wrote encode.json)."""
    f = out / RUN_FILE
    if out.exists() and not out.is_dir():
        raise InputError("output path is a file, expected a shard folder", out)
    if out.is_dir():  # temp files of a killed run (kill -9), never a live copy's: then the folder is judged
        clean_stale_temps(out, any_name=True)
    if f.is_file():
        old = load_json(f)
        if old != ident:
            raise InputError(_mismatch(old, ident), out)
        return False
    if is_nonempty_dir(out):
        raise InputError("output folder is not empty and holds no encode.json; choose a new --out", out)
    out.mkdir(parents=True, exist_ok=True)
    save_json(ident, f)
    return True


def _unclaim(out: Path, created: bool) -> None:
    """Undo a claim when the encode failed before any shard: a corpus refused on its first row
    would otherwise leave a folder that refuses the corrected corpus as "another corpus"."""
    try:
        if any(p.name != RUN_FILE for p in out.iterdir()):
            return
        (out / RUN_FILE).unlink(missing_ok=True)
        if created:
            out.rmdir()
    except OSError:  # another copy wrote meanwhile: the claim is its too
        pass


def _mismatch(old, ident: dict) -> str:
    """Why a folder's encode.json refuses this encode, in one line."""
    if not isinstance(old, dict):
        return f"{RUN_FILE} is not a textgan encode record; use a new --out"
    if old.get("fingerprint") != ident["fingerprint"]:
        return (f"this folder holds shards of another model (encoder {str(old.get('fingerprint'))[:12]}, this one "
                f"is {ident['fingerprint'][:12]}): this model's vectors need their own folder; use a new --out")
    was, now = old.get("corpus") if isinstance(old.get("corpus"), dict) else {}, ident["corpus"]
    if "sha256" not in was:
        return ("this folder was started by an older version that recorded no sha256 of its corpus, so it "
                "cannot be matched to this one; use a new --out")
    if was.get("sha256") != now["sha256"] and all(was.get(k) == now[k] for k in ("text_col", "group_col")):
        return (f"this folder holds shards of another corpus (sha256 {str(was.get('sha256'))[:12]}, "
                f"{was.get('name')} of {was.get('bytes')} bytes; this one is {now['sha256'][:12]}, {now['name']} "
                f"of {now['bytes']} bytes): the corpus changed or is another file; use a new --out")
    diff = [k for k in ident if old.get(k) != ident[k]]
    return f"this folder holds shards of another encode (differs in {', '.join(diff)}); use a new --out"


def shard_done(out: Path, k: int, fingerprint: str) -> bool:
    """A shard counts as done when its marker names this encoder and its files match the recorded
    sha256 (a damaged shard is encoded again: rerunning a finished encode repairs it)."""
    f = out / f"{shard_name(k)}.json"
    if not f.is_file():
        return False
    try:
        info = json.loads(f.read_text(encoding="utf-8"))
        sha = info["sha256"]
        return (info.get("fingerprint") == fingerprint and isinstance(sha, dict) and len(sha) == 2
                and all(isinstance(name, str) and name.startswith(shard_name(k) + ".") and "/" not in name
                        and (out / name).is_file() and file_sha256(out / name) == want
                        for name, want in sha.items()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return False


def vouched(out: Path, k: int, fingerprint: str) -> bool:
    """A shard of a finished folder whose marker is lost but whose files still match manifest.json:
    the marker is rewritten from it and the files are kept. A rerun never replaces a file the
    manifest vouches for, so a reader of the finished folder keeps reading the bytes it checked."""
    m = _read(out / MANIFEST)
    if not (isinstance(m, dict) and isinstance(m.get("encoder"), dict) and isinstance(m.get("shards"), list)
            and m["encoder"].get("fingerprint") == fingerprint):
        return False
    entry = next((e for e in m["shards"] if isinstance(e, dict) and e.get("name") == shard_name(k)), None)
    sha = entry.get("sha256") if entry else None
    names = [f"{shard_name(k)}.npy", f"{shard_name(k)}.texts.jsonl"]
    if not (isinstance(sha, dict) and sorted(sha) == sorted(names) and isinstance(entry.get("rows"), int)
            and all((out / f).is_file() and file_sha256(out / f) == sha[f] for f in names)):
        return False
    save_json({"shard": k, "rows": entry["rows"], "fingerprint": fingerprint,
               "bytes": {f: (out / f).stat().st_size for f in names}, "sha256": {f: sha[f] for f in names}},
              out / f"{shard_name(k)}.json")
    return True


def write_shard(out: Path, k: int, rows: list, vectors: np.ndarray, fingerprint: str) -> dict:
    """Write one shard's vectors, texts and (last) its marker, each atomically."""
    name = shard_name(k)
    try:
        save_npy(out / f"{name}.npy", np.ascontiguousarray(vectors, dtype=np.float32))
        with atomic_file(out / f"{name}.texts.jsonl") as fh:
            for t, g in rows:
                fh.write(json.dumps({"text": t} if g is None else {"text": t, "group": g}, ensure_ascii=False) + "\n")
        files = [f"{name}.npy", f"{name}.texts.jsonl"]
        info = {"shard": k, "rows": len(rows), "fingerprint": fingerprint,
                "bytes": {f: (out / f).stat().st_size for f in files},
                "sha256": {f: file_sha256(out / f) for f in files}}
        save_json(info, out / f"{name}.json")
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise InputError(f"disk full while writing {name}; free space and rerun the same command "
                             "(finished shards are kept, no partial shard was left)", out) from None
        raise
    return info


def _owned(k: int, shard: tuple[int, int], worker: int, workers: int) -> bool:
    i, n = shard
    return k % n == i and (k // n) % workers == worker


def encode_part(model, corpus, out, text_col=None, group_col=None, shard_size: int = DEFAULT_SHARD_SIZE,
                batch_size: int = 256, shard: tuple[int, int] = (0, 1), worker: int = 0, workers: int = 1,
                progress: bool = False, threads: int | None = None) -> dict:
    """Encode the shards one process owns (skipping those already done); returns counts."""
    import torch

    import similarity

    if threads is not None:
        torch.set_num_threads(threads)
    enc = similarity.load(model)
    out = Path(out)
    n_shards = total = encoded = 0
    for k, part in chunks(stream_rows(corpus, text_col, group_col), shard_size):
        total, n_shards = total + len(part), k + 1
        if not _owned(k, shard, worker, workers) or shard_done(out, k, enc.fingerprint) \
                or vouched(out, k, enc.fingerprint):
            continue
        write_shard(out, k, part, enc.encode([t for t, _ in part], batch_size=batch_size, progress=progress),
                    enc.fingerprint)
        encoded += 1
    if total == 0:
        raise InputError("empty corpus: no sentences", corpus)
    return {"shards": n_shards, "rows": total, "encoded_shards": encoded}


def _worker(args: dict, queue) -> None:
    try:
        queue.put(("ok", encode_part(**args)))
    except InputError as exc:
        queue.put(("error", str(exc)))


def encode_shards(model, corpus, out, text_col: str | None = None, group_col: str | None = None,
                  shard_size: int = DEFAULT_SHARD_SIZE, batch_size: int = 256, workers: int = 1,
                  shard: tuple[int, int] = (0, 1), progress: bool = False) -> dict:
    """Encode `corpus` into the shard folder `out`; resumable, splittable over processes and copies.

    Args:
        model: similarity model folder. corpus: .txt or data file (+ text_col [, group_col]).
        out: shard folder (new, or one this same encode started: its done shards are kept).
        shard_size: rows per shard (the unit of work, of resumption and of memory).
        workers: processes on this machine (each with one torch thread).
        shard: (i, n): this copy owns shards k with k % n == i.
    Returns:
        {"shards", "rows", "encoded_shards", "complete", "manifest"}: `complete` is False while
        other copies still owe shards (the last copy to finish writes manifest.json).
    """
    import similarity

    for name, v in (("--shard-size", shard_size), ("--workers", workers), ("--batch-size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"{name} must be an integer >= 1, got {v}")
    _check_workers(workers)
    out = Path(out)
    enc = similarity.load(model)
    created = not out.exists()
    claimed = _start(out, _run_identity(enc, corpus, text_col, group_col, shard_size))
    try:
        res = _encode_all(model, corpus, out, text_col, group_col, shard_size, batch_size, shard, workers, progress)
    except (InputError, KeyboardInterrupt):
        if claimed:
            _unclaim(out, created)
        raise
    manifest = finalize(out, res["shards"], res["rows"])
    return dict(res, complete=manifest is not None, manifest=str(out / MANIFEST) if manifest else None)


MAX_WORKERS = 64  # each worker loads its own copy of the model: 1,000 forked processes hung the machine


def _check_workers(workers: int) -> None:
    import os
    import warnings

    if workers > MAX_WORKERS:
        raise InputError(f"--workers must be at most {MAX_WORKERS} (each loads its own copy of the model), "
                         f"got {workers}")
    cores = os.cpu_count() or 1
    if workers > cores:
        warnings.warn(f"--workers {workers} on {cores} CPU core(s): the processes share the cores and "
                      "run no faster than one per core", stacklevel=3)


def _encode_all(model, corpus, out: Path, text_col, group_col, shard_size, batch_size, shard, workers,
                progress) -> dict:
    """Encode this copy's shards, in this process or in `workers` processes."""
    import multiprocessing as mp

    common = dict(model=model, corpus=corpus, out=out, text_col=text_col, group_col=group_col,
                  shard_size=shard_size, batch_size=batch_size, shard=shard, workers=workers)
    if workers == 1:
        res = encode_part(**common, progress=progress)
    else:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        queue = ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(dict(common, worker=w, threads=1), queue)) for w in range(workers)]
        for p in procs:
            p.start()
        results = _collect(procs, queue)
        errors = [msg for status, msg in results if status == "error"]
        if errors:
            raise InputError(errors[0])
        if len(results) < workers or any(p.exitcode != 0 for p in procs):
            raise InputError(f"{workers - len(results)} encode worker(s) died (exit codes "
                             f"{[p.exitcode for p in procs]}); rerun the same command to encode the shards "
                             "they left (finished shards are kept)", out)
        res = {"shards": results[0][1]["shards"], "rows": results[0][1]["rows"],
               "encoded_shards": sum(r[1]["encoded_shards"] for r in results)}
    return res


def _collect(procs, queue) -> list:
    """Results of the worker processes; a killed worker sends none, so poll instead of blocking."""
    import queue as queue_mod

    results = []
    while len(results) < len(procs):
        try:
            results.append(queue.get(timeout=0.5))
        except queue_mod.Empty:
            if all(p.exitcode is not None for p in procs):
                break
    for p in procs:
        p.join()
    while len(results) < len(procs):  # results sent just before the last exit
        try:
            results.append(queue.get(timeout=0.5))
        except queue_mod.Empty:
            break
    return results


def finalize(out: Path, n_shards: int, n_rows: int) -> dict | None:
    """Write manifest.json once every shard 0..n_shards-1 is done; None while some are missing."""
    ident = load_json(out / RUN_FILE)
    infos = []
    for k in range(n_shards):
        if not shard_done(out, k, ident["fingerprint"]):
            return None
        infos.append(load_json(out / f"{shard_name(k)}.json"))
    if sum(i["rows"] for i in infos) != n_rows:
        raise InputError(f"shards hold {sum(i['rows'] for i in infos)} rows, the corpus has {n_rows}: "
                         "the corpus changed during the encode; use a new --out", out)
    manifest = {"format": FORMAT, "version": 1, "encoder": {"fingerprint": ident["fingerprint"], "dim": ident["dim"]},
                "n": n_rows, "dim": ident["dim"], "shard_size": ident["shard_size"], "corpus": ident["corpus"],
                "shards": [{"name": shard_name(i["shard"]), "rows": i["rows"], "sha256": i["sha256"]} for i in infos]}
    if not (out / MANIFEST).is_file() or _read(out / MANIFEST) != manifest:  # a rerun of a whole folder writes nothing
        save_json(manifest, out / MANIFEST)
    return manifest


def _read(f: Path):
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None


def encode_stream(enc, corpus, out, vectors_dir=None, text_col=None, group_col=None,
                  batch_size: int = 256, progress: bool = False) -> Path:
    """Encode a corpus file shard by shard into `vectors_dir` (default: OUT.vectors beside the index
    folder OUT), never holding the corpus in memory; a rerun resumes the shards not yet written."""
    folder = Path(vectors_dir) if vectors_dir is not None else Path(out).with_name(Path(out).name + ".vectors")
    if folder.resolve() == Path(out).resolve():
        raise InputError("--vectors must differ from --out (the index folder is replaced when it is written)", folder)
    try:
        encode_shards(enc, corpus, folder, text_col=text_col, group_col=group_col, batch_size=batch_size,
                      progress=progress)
    except InputError as exc:  # here the shard folder is --vectors (default OUT.vectors), not --out
        if not exc.problem.endswith("use a new --out"):
            raise
        raise InputError(exc.problem[:-len("use a new --out")] + "pass a new --vectors folder (or delete this one)",
                         exc.path) from None
    return folder
