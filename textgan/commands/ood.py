"""Commands for in-domain scoring: score, train-outlier. See `textgan.commands` for what they share.
"""
from __future__ import annotations

import click

from textgan.common.errors import InputError

from textgan.ood.scoring import DEFAULT_METHOD as DEFAULT_SCORE_METHOD, METHODS as METHOD_NAMES


def _check_score_options(method: str, combine, labels, k: int, gan_dirs, index_dir=None) -> None:
    """The API's option checks (`textgan.workflow.score.check_score_options`, a --gan folder named
    twice among them) on --combine's list."""
    from textgan.workflow.score import check_score_options

    listed = None if combine is None else [c.strip() for c in combine.split(",")]
    check_score_options(method, listed, labels, k, gan_dirs, index_dir, combine_text=combine)


# --- in-domain scoring -------------------------------------------------------------------
@click.command("score")
@click.argument("model", type=click.Path())
@click.argument("sentences", type=click.Path())
@click.option("--index", "index_dir", type=click.Path(), default=None,
              help="Index folder (knn, mahalanobis, combined; and the threshold without --val-in).")
@click.option("--gan", "gan_dirs", type=click.Path(), multiple=True,
              help="Model folder with a scorer: a flow, GAN or energy model, or an outlier classifier; repeatable.")
@click.option("--method", type=click.Choice(list(METHOD_NAMES)), default=DEFAULT_SCORE_METHOD, show_default=True,
              help="In-domain score. The default, combined with no --gan / --combine, is knn + the index's own "
                   "outlier classifier (its groups vs noise on the sphere, cached beside the index), z-scored: "
                   "the best measured by bench/ood.py on both protocols and both encoders (README).")
@click.option("--combine", default=None, help="combined: comma-separated components (default: knn + every --gan).")
@click.option("--labels", type=click.Path(), default=None,
              help="mahalanobis: one group per index row (.txt lines or JSON list; default: the index's groups).")
@click.option("--val-in", type=click.Path(), default=None,
              help="In-domain validation sentences: threshold + combined calibration (default: the held-out "
                   "sentences MODEL keeps from its training run, else corpus rows the scorer did not fit on).")
@click.option("--tpr", type=float, default=0.95, show_default=True, help="Target true-positive rate, in (0, 1).")
@click.option("--k", type=int, default=1, show_default=True, help="kNN: mean of the top-k cosines.")
@click.option("--text-col", default=None, help="Text column of a data file.")
@click.option("--out", "out_file", type=click.Path(), default=None, help="JSONL: text, score, in_domain.")
def score_cmd(model, sentences, index_dir, gan_dirs, method, combine, labels, val_in, tpr, k, text_col,
              out_file) -> None:
    """Give each sentence of SENTENCES an in-domain score (higher = more like the corpus); flag outliers.

    \b
    Methods (textgan.ood.scoring.METHODS): knn, mahalanobis (needs the corpus' groups), flow
    (--gan FLOW), outlier (--gan CLASSIFIER, or the index's own), critic, energy, energy-head
    (MODEL's margin head), combined (--combine). The threshold keeps --tpr of the --val-in
    sentences, else of the held-out sentences MODEL keeps from its training run (never
    trained on; with --index, unless they are of another domain than the index), else of
    corpus rows the scorer did not fit on; it is printed with the TPR it gives on them.

    \b
    Example:
      textgan score runs/sim/model data/queries.txt --index runs/index --out scores.jsonl
      textgan score runs/sim/model q.txt --index runs/index --method mahalanobis --val-in val.txt
    """
    from textgan.commands.common import text_col_unused
    from textgan.common.artifacts import check_output_file, maybe_locked, save_jsonl
    from textgan.common.texts import shown
    from textgan.workflow.score import score_texts
    from textgan.gan import read_labels
    from textgan.workflow.core import read_corpus

    if out_file is not None:
        from textgan.common.paths import check_suffix

        check_output_file(out_file, [sentences, val_in, model, index_dir, labels, *gan_dirs])
        check_suffix(out_file, ".jsonl", "JSON lines")
    _check_score_options(method, combine, labels, k, gan_dirs, index_dir)
    text_col_unused(text_col, sentences, val_in)
    with maybe_locked(out_file):  # a second run into one --out is refused, not raced (rows were lost)
        texts, _ = read_corpus(sentences, text_col)
        val = read_corpus(val_in, text_col)[0] if val_in else None
        groups = read_labels(labels) if labels else None
        parts = None if combine is None else [c.strip() for c in combine.split(",")]
        res = score_texts(model, texts, method, index=index_dir, gan=list(gan_dirs), val_in=val, tpr=tpr, k=k,
                          labels=groups, combine=parts, val_in_name=val_in)
        flags = res["in_domain"] or [None] * len(texts)
        rows = [{"text": t, "score": float(s), "in_domain": f} for t, s, f in zip(texts, res["scores"], flags)]
        if out_file:
            save_jsonl(rows, out_file)
    for r in rows:
        mark = "" if r["in_domain"] is None else ("in " if r["in_domain"] else "OUT")
        click.echo(f"{r['score']:9.4f}  {mark:3s}  {shown(r['text'])}")
    if res["threshold"] is not None:
        n_out = sum(not r["in_domain"] for r in rows)
        target = f"{tpr:.0%}" if tpr >= 0.01 else f"{tpr:.2g}"  # --tpr 1e-9 read "target TPR 0%"
        click.echo(f"{method} threshold {res['threshold']:.4f} (target TPR {target}; keeps "
                   f"{res['expected_tpr']:.1%} of {res['threshold_source']}; of new in-domain sentences "
                   f"{res['new_tpr_95'][0]:.1%}-{res['new_tpr_95'][1]:.1%}, 95% interval): "
                   f"{n_out} of {len(rows)} flagged out of domain", err=True)


@click.command("train-outlier")
@click.argument("model", type=click.Path())
@click.argument("corpus", type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(), help="Classifier folder to write.")
@click.option("--source", type=click.Choice(["boundary", "conditional", "mixup", "sphere", "opengan"]), default="mixup",
              show_default=True, help="Pseudo-outliers: a boundary / conditional model's samples (--generator), "
                                      "mixtures of two groups, or uniform noise on the sphere; opengan: a GAN whose "
                                      "discriminator, selected on the model's held-out sentences, is the scorer "
                                      "(score --method critic).")
@click.option("--outliers", "outliers_file", type=click.Path(), default=None,
              help="opengan: real out-of-scope sentences that select the discriminator (else generated ones).")
@click.option("--generator", type=click.Path(), default=None, help="Model folder of --source boundary/conditional.")
@click.option("--text-col", default=None, help="Text column of a data file.")
@click.option("--group-col", default=None, help="Group column: a (K+1)-way classifier (else binary).")
@click.option("--steps", type=int, default=1500, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def train_outlier_cmd(model, corpus, out_dir, source, generator, text_col, group_col, steps, seed,
                      outliers_file) -> None:
    """Train an outlier classifier: CORPUS sentences vs generated pseudo-outliers (`score --method outlier`).

    \b
    Example:
      textgan train-outlier runs/sim/model data/faq_en.csv --text-col text --group-col group --out runs/outlier
      textgan score runs/sim/model q.txt --method outlier --gan runs/outlier
    """
    from textgan.common.artifacts import check_new_out_dir, check_replaced_folder, run_lock

    check_new_out_dir(out_dir, hint="choose a new --out", inputs=[model, corpus, outliers_file, generator])
    with run_lock(check_replaced_folder(out_dir)):  # published whole: a link would be replaced, a racing run lost
        _train_outlier(model, corpus, out_dir, source, generator, text_col, group_col, steps, seed, outliers_file)


def _train_outlier(model, corpus, out_dir, source, generator, text_col, group_col, steps, seed, outliers_file):
    from textgan.commands.common import text_col_unused
    from textgan.ood.outlier import OutlierConfig
    from textgan.workflow.score import train_outlier_on_corpus

    text_col_unused(text_col, corpus, outliers_file)
    if source == "opengan" and (generator or group_col):  # it trains its own GAN, binary: both would be ignored
        raise InputError("--source opengan trains its own GAN, one class against its samples: drop it",
                         "--generator" if generator else "--group-col")
    if source == "opengan":
        from textgan.common.texts import text_key
        from textgan.workflow.core import load_encoder, read_corpus
        from textgan.workflow.heldout import opengan_on_corpus

        enc = load_encoder(model)
        texts, _ = read_corpus(corpus, text_col)
        real = read_corpus(outliers_file, text_col)[0] if outliers_file else None
        real = None if real is None else list({text_key(t): t for t in real}.values())  # a copy counts once
        if real is not None and len(real) < 2:  # its AUROC needs two sides of two or more (repeats count once)
            raise InputError(f"{len(real)} distinct out-of-scope sentence: the selection needs 2 or more",
                             outliers_file)
        gan = opengan_on_corpus(enc, model, texts, real, steps, seed)
        gan.save(out_dir)
        sel = gan.selection
        click.echo(f"OpenGAN discriminator of step {sel['step']} (validation AUROC {sel['val_auroc']:.4f}, "
                   f"{sel['held_out_source']} vs {sel['against']}) -> {out_dir}")
        return
    if outliers_file:
        raise InputError("--outliers selects the discriminator of --source opengan only")
    r = train_outlier_on_corpus(model, corpus, out_dir, OutlierConfig(source=source, steps=steps, seed=seed),
                                text_col=text_col, group_col=group_col, generator=generator)
    click.echo(f"outlier classifier ({r['source']}, {r['n']} sentences) -> {r['out']}")

