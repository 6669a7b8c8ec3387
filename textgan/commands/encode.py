"""Commands that turn sentences into vectors with a trained model: encode (one .npy, or streamed
shards) and quantize-similarity (an int8 copy of a GRU model). See `textgan.commands` for what
they share.
"""
from __future__ import annotations

import click

from pathlib import Path

from textgan.commands.common import progress_option
from textgan.common.errors import InputError

# names of files that are not a .npy: encode would take them for a shard folder's name
DATA_SUFFIXES = (".npz", ".csv", ".tsv", ".txt", ".json", ".jsonl", ".parquet", ".pt", ".pkl", ".safetensors", ".gz",
                 ".zip", ".tar", ".h5", ".hdf5", ".bin", ".fvecs", ".arrow")


@click.command("encode")
@click.argument("model")
@click.argument("texts")
@click.option("--text-col", default=None, help="Column to read when TEXTS is a data file.")
@click.option("--group-col", default=None, help="Sharded encode: group column kept beside each sentence.")
@click.option("--out", "out_file", required=True,
              help="Output .npy file (N, D) float32, or a folder of shards (streaming, resumable).")
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--shard-size", type=int, default=None,
              help="Rows per shard (default 100000 when --out is a folder).")
@click.option("--workers", type=int, default=1, show_default=True, help="Encoding processes on this machine.")
@click.option("--shard", "shard_spec", default=None, metavar="I/N",
              help="This copy encodes shards k with k % N == I (run N copies, e.g. on N machines).")
@progress_option()
def encode_cmd(model, texts, text_col, group_col, out_file, batch_size, shard_size, workers, shard_spec,
               progress) -> None:
    """Encode TEXTS (a .txt file, one sentence per line, or a data file) with MODEL.

    With --out a folder (or any of --shard-size, --workers, --shard) the corpus is read as
    a stream and written as shards of memory-mappable .npy vectors plus a manifest.json;
    a rerun of the same command continues after the last finished shard.

    \b
    Example:
      textgan encode runs/sim/model data/queries.txt --out queries.npy
      textgan encode runs/sim/model corpus.txt --out runs/vecs --workers 2 --shard 0/4
    """
    import similarity
    from textgan.commands.common import text_col_unused
    from textgan.common.artifacts import check_output_file, check_writable, output_lock, save_npy
    from textgan.common.paths import check_named

    if batch_size < 1:
        raise InputError(f"--batch-size must be an integer >= 1, got {batch_size}")
    text_col_unused(text_col, texts)
    check_named(out_file, "a .npy file or a folder path")  # before the suffix picks a .npy or a shard folder
    if shard_size is not None or workers != 1 or shard_spec is not None or not out_file.lower().endswith(".npy"):
        from textgan.common.paths import check_inputs_outside
        from textgan.workflow.encode import DEFAULT_SHARD_SIZE, encode_shards, parse_shard

        if Path(out_file).is_file():
            check_output_file(out_file, [texts, model])
        if Path(out_file).suffix.lower() in DATA_SUFFIXES:  # read as a shard folder's name otherwise
            raise InputError(f"--out names a {Path(out_file).suffix} file: encode writes a .npy file, or a shard "
                             "folder (a name without such a suffix)", out_file)
        if out_file.lower().endswith(".npy") or Path(out_file).is_file():
            raise InputError("--out must be a folder for a sharded encode (--shard-size, --workers, --shard)",
                             out_file)
        # the folder itself, not manifest.json below it: a finished folder has one, and a rerun repairs it
        check_writable(check_output_file(Path(out_file) / "manifest.json", [texts, model]).parent)
        check_inputs_outside(out_file, [texts, model])
        res = encode_shards(model, texts, out_file, text_col=text_col, group_col=group_col,
                            shard_size=DEFAULT_SHARD_SIZE if shard_size is None else shard_size,
                            batch_size=batch_size, workers=workers,
                            shard=parse_shard(shard_spec), progress=progress)
        state = "complete" if res["complete"] else "waiting for the other --shard copies"
        click.echo(f"encoded {res['encoded_shards']} shard(s) of {res['shards']} ({res['rows']} sentences) "
                   f"into {out_file}: {state}")
        return
    if group_col is not None:  # a .npy holds vectors only: the groups would be dropped silently
        raise InputError("--group-col is for a sharded encode (--out a folder, which keeps each sentence's group)")
    check_writable(check_output_file(out_file, [texts, model]).parent)
    with output_lock(out_file):  # a second encode into this file is refused, not raced
        enc = similarity.load(model)
        from similarity.evaluate import warn_unknown_tokens

        rows = similarity.load_texts(texts, text_col)
        warn_unknown_tokens(enc, rows, texts)
        vectors = enc.encode(rows, batch_size=batch_size)
        save_npy(out_file, vectors)
    click.echo(f"wrote {vectors.shape[0]} x {vectors.shape[1]} vectors to {out_file}")


@click.command("quantize-similarity")
@click.argument("model")
@click.option("--out", "out_dir", required=True, help="New folder for the quantized model.")
def quantize_similarity_cmd(model, out_dir) -> None:
    """Write an int8 (dynamic quantization) copy of the GRU model MODEL to OUT; it loads with
    `similarity.load` and `SentenceTransformer(OUT, trust_remote_code=True)` alike.

    \b
    Example:
      textgan quantize-similarity runs/sim/model --out runs/sim/model-int8
    """
    from similarity.quantize import quantize
    from textgan.common.artifacts import check_new_out_dir, check_replaced_folder, check_writable, run_lock

    check_writable(check_new_out_dir(out_dir, hint="choose a new --out", inputs=[model]))
    with run_lock(check_replaced_folder(out_dir)):  # two runs into one --out: one model replaced the other
        path = quantize(model).save(out_dir)
    click.echo(f"saved int8 model to {path}")
