"""Commands for retrieval and the workflow: index, search, generate-embeddings, interpolate, demo. See
`textgan.commands` for what they share.
"""
from __future__ import annotations

import click

from textgan.commands.common import column_hint, column_list, progress_option
from textgan.common.errors import InputError


# --- retrieval and workflow ----------------------------------------------------------

@click.command("index")
@click.argument("model", type=click.Path())
@click.argument("corpus", type=click.Path())
@click.option("--out", required=True, type=click.Path(), help="Index folder to write.")
@click.option("--text-col", default=None, help="Text column of a data file (not needed for .txt).")
@click.option("--group-col", default=None, help="Optional group column kept beside each sentence.")
@click.option("--factory", default=None, help="FAISS index_factory string (default: chosen from size/memory).")
@click.option("--memory-mb", type=float, default=None, help="Memory budget steering the automatic choice.")
@click.option("--storage", type=click.Choice(["auto", "ram", "disk", "shards"]), default="auto", show_default=True,
              help="disk: IVF-PQ re-ranked with exact vectors kept on disk; shards: one index per group of "
                   "shards, searched together. Both stream a corpus file into shards first (see --vectors).")
@click.option("--members", type=int, default=None,
              help="--storage shards: member indexes (default: each member's raw vectors fit --memory-mb, or 1 GiB).")
@click.option("--groups", "members_old", type=int, default=None, hidden=True)  # the old name of --members
@click.option("--vectors", "vectors_dir", default=None, type=click.Path(),
              help="Shard folder a corpus file is encoded into for --storage disk/shards (default: OUT.vectors); "
                   "a rerun resumes it.")
@click.option("--target-recall", type=float, default=None,
              help="recall@10 (measured against exact search) the search settings are tuned to [default: 0.95].")
@progress_option()
def index_cmd(model, corpus, out, text_col, group_col, factory, memory_mb, storage, members, members_old,
              vectors_dir, target_recall, progress):
    """Encode CORPUS with similarity MODEL and build a FAISS index folder.

    An index in RAM also gets the out-of-domain threshold `search` applies, calibrated on the
    sentences MODEL held out of its training (else on the index rows, said to be optimistic):
    recorded in meta.json and printed with the promised and the reached TPR.

    CORPUS may be a shard folder written by `textgan encode ... --out FOLDER`: it is then
    read shard by shard, and built on disk when it is large or passes --memory-mb. With
    --storage disk or shards a corpus file is read as a stream and encoded shard by shard
    into --vectors first, so neither step holds the corpus in memory.

    \b
    Example:
      textgan index runs/sim/model data/faq_en.csv --text-col text --group-col group --out runs/index
      textgan index runs/sim/model runs/vecs --memory-mb 2000 --out runs/index
      textgan index runs/sim/model big.txt --storage disk --out runs/big-index
      textgan index runs/sim/model runs/vecs --storage shards --members 4 --out runs/sharded-index
    """
    from pathlib import Path

    from textgan.index.folder import code_bytes
    from textgan.index.options import IndexOptions
    from textgan.workflow import core as workflow

    if members is not None and members_old is not None:
        raise InputError("--groups is the old name of --members: give one of them")
    from textgan.commands.common import text_col_unused

    text_col_unused(text_col, corpus)
    options = IndexOptions(factory=factory, memory_budget_mb=memory_mb, target_recall=target_recall, storage=storage,
                           members=members if members is not None else members_old, progress=progress)
    idx = workflow.index_corpus(model, corpus, out, text_col=text_col, group_col=group_col, options=options,
                                vectors_dir=vectors_dir)
    m = idx.meta
    bpv = code_bytes(Path(out)) / max(1, m["n"])
    where = {"disk": " on disk", "shards": f" in {len(m.get('members', []))} index shards"}.get(m.get("storage"), "")
    dups = ("repeated sentences kept: not looked for on disk" if m.get("storage") == "disk"  # streamed, never whole
            else f"{idx.stats.get('duplicates_dropped', 0)} duplicates dropped")
    click.echo(f"indexed {m['n']} sentences ({dups}) "
               f"with {m['factory']}{where}, "
               f"{bpv:.1f} bytes/vector, recall@10 {m['recall_at_10']:.3f} -> {out}")
    g = m.get("gate")
    if not g:
        from textgan.ood.gate import no_gate_reason

        click.echo(f"out-of-domain gate: none ({no_gate_reason(idx) or 'not asked for'})")
        return
    r = g["report"]
    parts = [c.split(':')[0] for c in g['components']]
    # a .txt corpus: a user read "combined (knn)" as a slip
    # how groups get in: a shard folder keeps those `encode --group-col` gave it; a .txt has no columns
    how = ("shards encoded with --group-col would add" if Path(corpus).is_dir() else "a data file with a group "
           "column and --group-col would add" if Path(corpus).suffix.lower() == ".txt" else "--group-col adds")
    alone = f" (the corpus has no groups: kNN alone; {how} the outlier part)" \
        if parts == ["knn"] and getattr(idx, "groups", None) is None else ""
    click.echo(f"out-of-domain gate: {g['method']} ({' + '.join(parts)}){alone}, "
               f"threshold {g['threshold']:.4f}, calibrated on {g['calibrated_on']}")
    line = (f"  promised TPR {r['promised_tpr']:.2f}, reached {r['reached_tpr']:.3f} on those {r['n']} sentences "
            + (f"({r['cross_fitted_tpr']:.3f} fitted on one half, measured on the other)"
               if r.get("cross_fitted_tpr") is not None else "(too few to fit on one half)"))
    if isinstance(r.get("new_tpr_95"), list):  # gates fitted before it have none
        lo, hi = r["new_tpr_95"]
        line += f"; on new in-domain sentences drawn like them it keeps {lo:.3f}-{hi:.3f} (95% interval)"
    if "rows_threshold" in r:
        line += (f"; fitted on the index rows it would be {r['rows_threshold']:.4f}, keeping "
                 f"{r['rows_threshold_tpr']:.3f} of the held-out sentences")
    click.echo(line)


@click.command("search")
@click.argument("index", type=click.Path())
@click.argument("queries", nargs=-1)
@click.option("--file", "query_file", type=click.Path(), default=None,
              help="Queries: a .txt file, one per line, or a data file with --text-col.")
@click.option("--text-col", default=None, help="Column of the queries in a --file data file (CSV, TSV, JSONL, ...).")
@click.option("--k", default=10, show_default=True, help="Neighbours per query.")
@click.option("--model", default=None, type=click.Path(), help="Encoder (default: the one recorded in the index).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
def search_cmd(index, queries, query_file, text_col, k, model, as_json):
    """Semantic search: nearest corpus sentences of each query.

    Queries that the default in-domain scorer rejects (95% TPR on the sentences the encoder
    never trained on when they are of the index's domain, else on the index rows; see `textgan
    score`) are marked OUT OF DOMAIN: their neighbours are the
    nearest sentences, not answers. The threshold is the one `textgan index` recorded in the
    index's meta.json, else fitted once and cached beside the index (.INDEX.gate/).

    \b
    Example:
      textgan search runs/index "how do I change my password" --k 3
      textgan search runs/index --file data/queries.txt --k 1 --json
    """
    import json as _json

    from textgan.common.texts import shown
    from textgan.workflow import core as workflow

    qs = list(queries)
    if text_col is not None and not query_file:
        raise InputError("--text-col names the queries' column of a --file data file: pass --file")
    if query_file:
        from textgan.commands.common import text_col_unused

        text_col_unused(text_col, query_file)
        qs += _read_queries(query_file, text_col)
    if not qs:
        raise InputError("give queries as arguments or with --file")
    for q, res in zip(qs, workflow.search(index, qs, k=k, model=model, gate=True)):
        if as_json:
            click.echo(_json.dumps({"query": q, **res}, ensure_ascii=False))
            continue
        if res["in_domain"] is not False:  # in domain, or no gate (an on-disk index): no score to show
            click.echo(shown(q))
        else:
            click.echo(f"{shown(q)}  [OUT OF DOMAIN: {res['method']} score {res['in_domain_score']:.3f} < "
                       f"{res['threshold']:.3f}]")
        for h in res["hits"]:
            grp = f"  [{shown(h['group'])}]" if h.get("group") else ""
            click.echo(f"  {h['score']:.3f}  {shown(h['text'])}{grp}")


def _read_queries(path: str, text_col: str | None = None) -> list[str]:
    """Queries from a text file, blank lines skipped (and counted), not searched; or a data file's
    `text_col` (`similarity.load_texts`): read line by line, a CSV searched its header and rows."""
    from pathlib import Path

    from similarity.data import FORMATS

    p = Path(path)
    if text_col is not None or (p.suffix.lower() in FORMATS and p.is_file()):
        import similarity

        return similarity.load_texts(p, text_col)  # a data file without --text-col: says to pass it
    if not p.is_file():
        raise InputError("not a regular file" if p.exists() else "missing file", p)
    from similarity.file_quirks import encoding_hint
    from textgan.common.texts import is_blank, nul_error, text_lines

    raw = p.read_bytes()
    if b"\x00" in raw:  # valid UTF-8, but UTF-16 without a BOM (or binary) read as text
        raise nul_error(p, raw[:raw.index(b"\x00")].count(b"\n") + 1)
    try:
        lines = text_lines(raw.decode("utf-8-sig"))  # a BOM is not part of the first query
    except UnicodeDecodeError as exc:
        lineno = raw[:exc.start].count(b"\n") + 1
        bad = raw.split(b"\n")[lineno - 1]
        raise InputError(f"not valid UTF-8 (line {lineno}){encoding_hint(bad, lineno, Path(p).suffix)}", p) from None

    qs = [ln.strip() for ln in lines if not is_blank(ln)]
    if not qs:
        raise InputError("no queries (the file is empty or blank)", p)
    if len(qs) < len(lines):
        click.echo(f"warning: {p}: skipped {len(lines) - len(qs)} blank line(s)", err=True)
    return qs


@click.command("generate-embeddings")
@click.argument("gan_dir", type=click.Path())
@click.option("--n", default=20, show_default=True, help="Number of vectors to sample.")
@click.option("--out", required=True, type=click.Path(), help="Output stem: writes OUT.npy (+ OUT.jsonl with --index).")
@click.option("--index", "index_dir", default=None, type=click.Path(), help="Index to decode vectors into sentences.")
@click.option("--k", type=int, default=None, help="Neighbours per decoded vector (with --index).  [default: 5]")
@click.option("--seed", default=0, show_default=True, help="Sampling seed (same seed, same vectors).")
@click.option("--group", default=None, help="Group to sample from a class-conditional GAN.")
def generate_embeddings_cmd(gan_dir, n, out, index_dir, k, seed, group):
    """Sample N vectors from a trained GAN; decode them to real sentences with an index.

    Each decoded vector gets its k nearest corpus sentences with cosine scores and a
    `novel` flag: its nearest sentence is farther than corpus sentences typically are
    from each other (not a near-copy of a training sentence).

    \b
    Example:
      textgan generate-embeddings runs/gan --n 20 --index runs/index --k 3 --out runs/generated
      textgan generate-embeddings runs/cgan --group reset_password --n 5 --index runs/index --out runs/reset
    """
    from textgan.workflow import core as workflow
    from textgan.common.artifacts import check_output_file
    from textgan.common.paths import output_files
    from textgan.common.vectors import check_k

    if k is not None and index_dir is None:
        raise InputError("sets the neighbours of each decoded vector: give --index to decode", "--k")
    given = {} if k is None else {"k": check_k(k)}  # else generate_embeddings' own default
    for f in output_files(out, (".npy", ".jsonl")):
        check_output_file(f, [gan_dir, index_dir])
    s = workflow.generate_embeddings(gan_dir, n, out, index=index_dir, seed=seed, group=group, **given)
    msg = f"wrote {s['n']} vectors ({s['dim']}-d) to {s['vectors']}"
    if "decoded" in s:
        msg += (f"; decoded to {s['decoded']} (mean top-1 cosine {s['mean_top1_cosine']:.3f}, "
                f"novel {s['novel_share']:.0%})")
    click.echo(msg)


@click.command("interpolate")
@click.argument("index", type=click.Path())
@click.argument("sentence_a")
@click.argument("sentence_b")
@click.option("--steps", default=8, show_default=True, help="Points on the great circle, ends included.")
@click.option("--model", default=None, type=click.Path(), help="Encoder (default: the one recorded in the index).")
def interpolate_cmd(index, sentence_a, sentence_b, steps, model):
    """Walk the sphere between two sentences' encodings; print the nearest sentence at each step.

    \b
    Example:
      textgan interpolate runs/index "reset my password" "where is my parcel" --steps 6
    """
    from textgan.common.texts import shown
    from textgan.workflow import core as workflow

    for row in workflow.interpolate(index, sentence_a, sentence_b, steps=steps, model=model):
        click.echo(f"t={row['t']:.2f}  {row['score']:.3f}  {shown(row['text'])}")


@click.command("demo")
@click.argument("data", type=click.Path(), default="data/faq_en.csv")
@click.option("--out", default="runs/demo", show_default=True, type=click.Path(), help="Run folder.")
@click.option("--text-col", default="text", show_default=True)
@click.option("--group-col", default="group", show_default=True)
@click.option("--queries", default=None, type=click.Path(),
              help="Search queries shown in the report (.txt, or a data file with DATA's --text-col column).")
@click.option("--pairs", default=None, type=click.Path(), help="Scored pairs for Spearman (columns: --pair-cols).")
@click.option("--pair-cols", default="sentence1,sentence2,score", show_default=True,
              help="The two sentence columns and the score column of --pairs (names, or positions from 1).")
@click.option("--gan-steps", default=None, type=int, help="Generator steps (default: DemoConfig).")
@click.option("--kind", "gan_kind", default=None, help="Model kind (default: anchored, trained on the groups).")
@click.option("--objective", default=None, help="GAN objective (default: DemoConfig).")
@click.option("--seed", default=0, show_default=True)
@progress_option()
def demo_cmd(data, out, text_col, group_col, queries, pairs, pair_cols, gan_steps, gan_kind, objective, seed,
             progress):
    """Run the whole workflow on DATA and write OUT/report.md.

    train-similarity -> index -> train-gan -> generate-embeddings -> decode, plus metrics,
    a PCA plot of real vs generated vectors and the loss curves. Inputs are checked before
    any training; a rerun into the same OUT replaces the earlier run whole.

    \b
    Example:
      textgan demo data/faq_en.csv --out runs/demo --queries data/queries.txt --gan-steps 300
    """
    import dataclasses

    from textgan.workflow.demo import DemoConfig, run_demo

    cfg = DemoConfig(seed=seed)
    if gan_steps is not None:
        cfg = dataclasses.replace(cfg, gan_steps=gan_steps)
    if objective is not None:
        cfg = dataclasses.replace(cfg, gan_objective=objective)
    if gan_kind is not None:
        cfg = dataclasses.replace(cfg, gan_kind=gan_kind)
    if not pairs and click.get_current_context().get_parameter_source("pair_cols").name != "DEFAULT":
        raise InputError("names the columns of --pairs: give --pairs", "--pair-cols")
    cols = column_list(pair_cols, "--pair-cols")
    if len(cols) != 3:
        raise InputError("--pair-cols needs three names: A,B,SCORE")
    try:
        report = run_demo(data, out, text_col=text_col, group_col=group_col, queries=queries, pairs=pairs,
                          config=cfg, progress=progress, pair_cols=cols if pairs else None)
    except InputError as exc:  # --text-col would rename DATA's column too: the way out is another file
        if pairs is not None and str(exc.path) == str(pairs):
            raise column_hint(exc, "name them with --pair-cols A,B,SCORE") from None
        if queries is None or str(exc.path) != str(queries):
            raise
        raise column_hint(exc, f"the demo reads queries from DATA's --text-col column, {text_col!r}: give a .txt "
                          "file, one query a line, or name the queries' column so") from None
    click.echo(report.read_text(encoding="utf-8"))
    click.echo(f"report: {report}")
