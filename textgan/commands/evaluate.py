"""`evaluate-similarity`: a model's kNN / leave-one-out figures on grouped data and its pair
figures, beside its teacher's. See `textgan.commands`."""
from __future__ import annotations

import os
from pathlib import Path

import click

from textgan.commands.common import column_hint, column_list, grouped_data, warnings_as_lines
from textgan.common.errors import InputError


@click.command("evaluate-similarity")
@click.argument("model")
@click.argument("data", required=False)
@click.option("--text-col", default="text", show_default=True)
@click.option("--group-col", default="group", show_default=True)
@click.option("--reference", default=None, help="Labelled reference set for knn_top1.")
@click.option("--reference-cols", default=None,
              help="TEXT,GROUP columns of --reference when they are named otherwise than DATA's.")
@click.option("--pairs", default=None,
              help="Scored pairs file (sentence1, sentence2, score): Spearman; for 0/1 labels also AUROC, "
                   "AP, best accuracy and F1 with their cosine thresholds. DATA may then be left out.")
@click.option("--pair-cols", default="sentence1,sentence2,score", show_default=True)
@click.option("--positive-min", type=float, default=None,
              help="With --pairs: pairs whose score is at least this are paraphrases (1), the rest not "
                   "(0), scored by AUROC, AP, accuracy, F1: for graded scores or classes where higher means "
                   "more similar (-1/1; NLI's 0 = entailment runs the other way: relabel it first).")
@click.option("--json", "json_out", default=None, help="Write the metrics as JSON here.")
@click.option("--teacher", default=None,
              help="Also score this model off the shelf: minilm, a local sentence-transformers folder "
                   "or none (default: the model's teacher, else minilm when installed and its card reads "
                   "the sentences' language). Without a teacher a char TF-IDF is shown beside the model.")
def evaluate_similarity_cmd(model, data, text_col, group_col, reference, reference_cols, pairs, pair_cols,
                            positive_min, json_out, teacher) -> None:
    """kNN / leave-one-out top-k of MODEL on grouped DATA (and pair figures on --pairs), beside
    the same figures of the off-the-shelf teacher (under "teacher"), so you see what training added.

    \b
    Example:
      textgan evaluate-similarity runs/sim/model data/faq_en.csv --pairs data/faq_en_pairs.tsv --json eval.json
      textgan evaluate-similarity runs/sim/model --pairs paws_test.tsv --pair-cols sentence1,sentence2,label
    """
    import json

    import similarity
    from textgan.common.artifacts import check_output_file, check_writable, save_json

    from similarity.baseline import NAME
    from similarity.pairs import check_ranked, pair_metrics, pair_scores

    if data is None and not pairs:
        raise InputError("give grouped DATA, --pairs, or both")
    if positive_min is not None and not pairs:
        raise InputError("--positive-min marks the paraphrases of --pairs: give --pairs")
    if not pairs and click.get_current_context().get_parameter_source("pair_cols").name != "DEFAULT":
        raise InputError("names the columns of --pairs: give --pairs", "--pair-cols")
    if data is None and reference:
        raise InputError("--reference scores the sentences of DATA: give DATA", reference)
    source = click.get_current_context().get_parameter_source
    named = [n for n in ("text_col", "group_col") if source(n).name != "DEFAULT"]
    if data is None and named:  # --pairs alone: its columns are --pair-cols, and these were not read
        raise InputError("names a column of grouped DATA: give DATA, or name the pairs' columns with --pair-cols",
                         f"--{named[0].replace('_', '-')}")
    if reference_cols is not None and reference is None:
        raise InputError("names the columns of --reference: give --reference", "--reference-cols")
    if json_out is not None:
        check_writable(check_output_file(json_out, [data, model, reference, pairs], option="--json").parent)
    enc = similarity.load(model)
    texts = groups = ref_t = ref_g = None
    if data is not None:
        with warnings_as_lines():
            # with a reference every sentence is a kNN query: a group of one needs no partner
            (texts, groups), (ref_t, ref_g) = grouped_data(data, reference, text_col, group_col,
                                                       keep_singles=reference is not None, other_cols=reference_cols,
                                                       cols_option="--reference-cols")
    scored = None
    if pairs:
        cols = column_list(pair_cols, "--pair-cols")
        if len(cols) != 3:
            raise InputError("--pair-cols needs three names: A,B,SCORE")
        try:
            a, b, labels = similarity.load_pairs(pairs, *cols)
        except InputError as exc:  # the reader's hint names DATA's --text-col / --group-col too
            raise column_hint(exc, "name them with --pair-cols A,B,SCORE") from None
        with warnings_as_lines():  # Spearman stays against the labels; --positive-min makes the 0/1 figures
            binary = pair_scores(labels, positive_min, cols[2], pairs)
            _warn_trained_on(enc, a + b, pairs)
        check_ranked(labels, pairs)
        scored = a, b, labels, binary if positive_min is not None else None
    read = texts if texts is not None else scored[0] + scored[1]
    teach = _evaluation_teacher(teacher, enc, read)
    _warn_language(enc, model, teach, read)

    def figures(encoder) -> dict:
        out = similarity.evaluate(encoder, texts, groups, ref_t, ref_g) if texts is not None else {}
        if scored is not None:
            out.update(pair_metrics(encoder, *scored[:3], positives=scored[3]))
        return out

    result = figures(enc)
    if result.get("spearman", 0) < 0:  # a model ranking pairs backwards is rarer than labels that run backwards
        click.echo(f"warning: {pairs}: Spearman is negative ({result['spearman']:.3f}): do higher "
                   f"{cols[2]!r} values mean less similar pairs?", err=True)
    if result.get("pair_auroc", 1) < 0.5:  # the model ranks the marked paraphrases below the others
        click.echo(f"warning: {pairs}: pair AUROC is below 0.5 ({result['pair_auroc']:.3f}): are the pairs marked "
                   "as paraphrases the less similar ones (labels running the other way)?", err=True)
    result["model_fingerprint"] = enc.fingerprint
    if teach is not None:
        result["teacher"] = dict(figures(_cached_teacher(teach)), name=teach.name, fingerprint=teach.fingerprint)
    else:  # no teacher to compare with: the baseline a model must beat (a Chinese run, --teacher none)
        result["baseline"] = dict(_baseline(texts, groups, ref_t, ref_g, scored), name=NAME)
    if scored is not None and "pair_accuracy" in result:
        _warn_majority(result, pairs, scored[3] if scored[3] is not None else scored[2])
    if json_out:
        save_json(result, json_out)
    click.echo(json.dumps(result, indent=2))
    side, head = ("teacher", "teacher") if teach is not None else ("baseline", "tf-idf")
    keys = [k for k in ("knn_top1", "loo_top1", "loo_top5", "loo_top10", "spearman", "pair_auroc",
                        "pair_ap", "pair_accuracy", "pair_f1") if k in result and k in result[side]]
    rows = [f"{k:<13} {result[k]:>8.4f} {result[side][k]:>8.4f}" for k in keys]
    click.echo("\n".join([f"{'metric':<13} {'model':>8} {head:>8}", *rows]), err=True)


def _cached_teacher(teach):
    """The teacher as an encoder whose vectors go through its cache (`similarity.teacher`, the one
    training uses): evaluating the same sentences again reads them back (a user re-encoded 5,000
    sentences with MiniLM on every call, 41-70 s each)."""
    import similarity

    class Cached(similarity.SentenceEncoder):
        def encode(self, texts, batch_size: int = 256, progress: bool = False):
            return teach.vectors(list(texts))[0]

    return Cached(teach.model, "sentence-transformers")


def _baseline(texts, groups, ref_t, ref_g, scored) -> dict:
    """The char TF-IDF's figures on the same sentences and pairs (similarity.baseline)."""
    from similarity.baseline import grouped_figures, pair_figures

    out = grouped_figures(texts, groups, ref_t, ref_g) if texts is not None else {}
    if scored is not None:
        try:
            out.update(pair_figures(*scored))
        except InputError:  # TF-IDF cosines all alike (pairs sharing no character gram): no figure, not no run
            pass
    return out


def _warn_majority(result: dict, pairs, binary) -> None:
    """pair_accuracy that no threshold lifts above labelling every pair one way reads like a figure
    of merit (AFQMC: 0.690 for the model and the teacher alike, the share of non-paraphrases)."""
    import numpy as np

    share = float(np.mean(np.asarray(binary, dtype=np.float64) == 1.0))
    majority, which = max((share, "paraphrase"), (1 - share, "non-paraphrase"))
    whose = [name for name, r in (("model", result), ("teacher", result.get("teacher", {})))
             if "pair_accuracy" in r and r["pair_accuracy"] <= majority + 1e-9]
    if whose:
        click.echo(f"warning: {pairs}: pair_accuracy of the {' and the '.join(whose)} ({majority:.4f}) is the share "
                   f"of the majority class: no cosine threshold beats calling every pair a {which}; read pair_auroc "
                   "and pair_f1", err=True)


def _warn_trained_on(enc, sentences: list[str], where) -> None:
    """Pairs built from training sentences overstate the model, as DATA does (`similarity.evaluate`)."""
    import warnings

    from similarity.seen import mostly_trained

    if (seen := mostly_trained(enc, sentences)) is not None:
        warnings.warn(f"{where}: {seen:.0%} of the pairs' sentences are sentences the model trained on: their figures "
                      "overstate what it does on new sentences", stacklevel=2)


def _warn_language(enc, model: str, teach, texts: list[str]) -> None:
    """A `warning:` line for the model or teacher whose model card reads none of the sentences'
    CJK language (similarity.language)."""
    from similarity.language import scoring_warning

    shown = [(model, enc.info.get("source", model))] if enc.backbone == "sentence-transformers" else []
    said = set()
    for name, folder in shown + ([(teach.name, teach.path)] if teach is not None else []):
        if Path(folder).resolve() not in said and (msg := scoring_warning(name, folder, texts)) is not None:
            said.add(Path(folder).resolve())
            click.echo(f"warning: {msg}", err=True)


def _evaluation_teacher(name, enc, texts: list[str]):
    """The teacher to score beside the model: --teacher, else the one it was trained with, else
    minilm when installed and it reads the sentences' language; None for `none` or when no teacher
    is available (the char TF-IDF is then shown instead: MiniLM on Chinese is a floor, not a
    comparison, and cost 48-96 s a call)."""
    from similarity.language import scoring_warning
    from similarity.model import minilm_path
    from similarity.teacher import resolve_teacher

    if name is None:
        name = (enc.info.get("train_config") or {}).get("teacher") or "none"
        if name == "none" or (name != "minilm" and not os.path.isdir(name)):
            reads = minilm_path() is not None and scoring_warning("minilm", minilm_path(), texts) is None
            if name != "none":  # a folder of another machine, moved, or an edited record: say whom it compares with
                import warnings

                warnings.warn(f"the model's recorded teacher {str(name)[:80]!r} is not a folder here: comparing with "
                              f"{'minilm' if reads else 'no teacher'} instead (pass --teacher)", stacklevel=2)
            name = "minilm" if reads else "none"
        elif name == "minilm" and minilm_path() is None:
            name = "none"
    return resolve_teacher(name)
