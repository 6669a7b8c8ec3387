"""Commands for the semi-supervised K+1 classifier: train-kplus1, classify. See `textgan.commands`
for what the command modules share.
"""
from __future__ import annotations

import click

from textgan.commands.common import column_hint, progress_option, unlabeled_option
from textgan.common.errors import InputError


@click.command("train-kplus1")
@click.argument("model", type=click.Path())
@click.argument("labelled", type=click.Path())
@unlabeled_option("Unlabeled sentences (.txt or data file).", required=True)
@click.option("--out", "out_dir", required=True, type=click.Path(), help="K+1 model folder.")
@click.option("--text-col", default="text", show_default=True)
@click.option("--group-col", default="group", show_default=True)
@click.option("--steps", type=int, default=None)
@click.option("--batch-size", type=int, default=None,
              help="Rows per update (default: 128, lowered to fit small data when no other setting is given).")
@click.option("--seed", type=int, default=None)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint (bitwise), or "
              "from step 0 when it was killed before its first one.")
@progress_option(quiet_alias=True)
def train_kplus1_cmd(model, labelled, unlabeled, out_dir, text_col, group_col, steps, batch_size, seed,
                     resume, progress) -> None:
    """Semi-supervised K+1 classifier on LABELLED sentences (text + group) and --unlabeled ones.

    \b
    Example:
      textgan train-kplus1 runs/sim/model labelled.csv --unlabeled unlabeled.txt --out runs/kplus1
    """
    import dataclasses

    from textgan.common.artifacts import check_new_out_dir
    from textgan.gan.kplus1 import KPlus1Config
    from textgan.workflow.core import read_corpus
    from textgan.workflow.kplus1 import train_on_corpus

    check_new_out_dir(out_dir, resume, inputs=[model, labelled, unlabeled])  # a killed run's folder: --resume
    try:
        unl, _ = read_corpus(unlabeled, text_col if not str(unlabeled).endswith(".txt") else None)
    except InputError as exc:  # the reader's hint offers options that would rename LABELLED's column too
        raise column_hint(exc, f"--text-col {text_col!r} names the sentence column of LABELLED and --unlabeled "
                          "alike: give both that column, or --unlabeled as a .txt file, one sentence per line") \
            from None
    given = {k: v for k, v in {"steps": steps, "batch_size": batch_size, "seed": seed}.items() if v is not None}
    cfg = dataclasses.replace(KPlus1Config(), **given) if given else None
    path = train_on_corpus(model, labelled, unl, out_dir, text_col=text_col, group_col=group_col, config=cfg,
                           progress=progress, resume=resume)
    click.echo(f"saved K+1 classifier to {path}")


@click.command("classify")
@click.argument("model", type=click.Path())
@click.argument("sentences", type=click.Path())
@click.option("--encoder", default=None, type=click.Path(), help="Similarity model (default: the one recorded).")
@click.option("--text-col", default=None, help="Text column of a data file.")
@click.option("--out", "out_file", type=click.Path(), default=None, help="JSONL: text, group, confidence, in_scope.")
def classify_cmd(model, sentences, encoder, text_col, out_file) -> None:
    """Classify each sentence of SENTENCES with a K+1 MODEL: group, confidence, in scope or OOS.

    \b
    Example:
      textgan classify runs/kplus1 data/queries.txt
    """
    from textgan.common.artifacts import check_output_file, maybe_locked, save_jsonl
    from textgan.common.texts import shown
    from textgan.workflow.core import read_corpus
    from textgan.workflow.kplus1 import classify

    if out_file is not None:
        from textgan.common.paths import check_suffix

        check_output_file(out_file, [sentences, model, encoder])
        check_suffix(out_file, ".jsonl", "JSON lines")
    from textgan.commands.common import text_col_unused

    text_col_unused(text_col, sentences)
    with maybe_locked(out_file):  # a second run into one --out is refused, not raced (rows were lost)
        texts, _ = read_corpus(sentences, text_col)
        rows = classify(model, texts, encoder=encoder)
        if out_file:
            save_jsonl(rows, out_file)
    for r in rows:
        mark = "" if r["in_scope"] is None else ("   " if r["in_scope"] else "OOS")
        click.echo(f"{r['confidence']:.3f}  {mark}  {shown(r['group'])}\t{shown(r['text'])}")
