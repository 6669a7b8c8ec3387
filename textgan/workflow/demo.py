"""`textgan demo`: the whole workflow on one grouped corpus, with a Markdown report.

train similarity -> evaluate -> index -> train GAN on the vectors -> generate -> decode.
Everything lands in one run folder; `report.md` links the PNGs beside it. Inputs are checked before
any training, and the run is built in a temporary sibling folder renamed over `out` at the end: a
rerun (a second `make demo`) replaces the old run whole; a failed run leaves the old one intact.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from textgan.workflow import core as workflow
from textgan.workflow.gan_train import train_gan
from textgan.common.artifacts import (atomic_dir, atomic_file, check_replaced_folder, check_writable, is_nonempty_dir,
                                      run_lock, save_json, save_jsonl, save_npy)
from textgan.common.args import MAX_COUNT, whole
from textgan.common.errors import InputError
from textgan.common.paths import check_inputs_outside
from textgan.common.plots import plot_pca
from textgan.metrics import table_verdict
from textgan.ood.gate import gate_promise

MIN_HELDOUT, MIN_GAN_BATCH = 6, 8  # held out: generation_report's density/coverage radii take k=5 neighbours


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """Args: holdout: share of each group's sentences kept out of training for evaluation;
    sim_epochs: similarity epochs; sim_teacher: the similarity teacher (minilm, a folder, none,
    or None: train-similarity's choice); gan_kind: a model kind (`textgan kinds`; the default,
    anchored, is trained on the groups and samples each requested group); gan_objective: a row of
    the objectives table (None: the kind's default); gan_steps: generator steps; gan_batch_size:
    GAN batch, lowered to fit small data (see `gan_batch`); n_generate: vectors decoded in the report
    table; k: neighbours per decoded vector; seed: everything's seed."""

    holdout: float = 0.25
    # small-data settings: the library defaults are tuned on CLINC150's 15,000 sentences;
    # a few hundred sentences want smaller batches (more steps) and a higher learning rate
    sim_epochs: int = 16
    sim_batch_size: int = 16
    sim_lr: float = 5e-3
    # a teacher helps most on a few hundred labelled sentences; "none": from scratch with a "word"
    # tokenizer; None: as train-similarity (mostly-CJK text: --tokenizer char, no English teacher)
    sim_teacher: str | None = None
    sim_tokenizer: str | None = None
    gan_kind: str = "anchored"
    gan_objective: str | None = None
    gan_steps: int = 600
    gan_batch_size: int = 256
    n_generate: int = 20
    k: int = 3
    seed: int = 0

    def validate(self) -> None:
        """Refuse bad settings before anything trains (InputError naming the setting)."""
        from textgan.gan import make_kind, make_objective

        kind = make_kind(self.gan_kind)
        if self.gan_objective is not None:
            if "objective" not in {f.name for f in dataclasses.fields(kind.config)}:
                raise InputError(f"kind {kind.name!r} takes no objective", "--objective")
            make_objective(self.gan_objective)
        for name in ("sim_epochs", "sim_batch_size", "gan_steps", "gan_batch_size", "n_generate", "k"):
            whole(getattr(self, name), "--gan-steps" if name == "gan_steps" else name, maximum=MAX_COUNT)
        if not 0 < self.holdout < 1:
            raise InputError(f"holdout must be in (0, 1), got {self.holdout}")
        if not self.sim_lr > 0:
            raise InputError(f"sim_lr must be positive, got {self.sim_lr}")
        from similarity import TrainConfig

        # a missing teacher or a tokenizer it cannot serve fails here, before any training
        TrainConfig(teacher=self.sim_teacher, tokenizer=self.sim_tokenizer).resolved()


def gan_batch(preset: int, n_train: int) -> int:
    """The preset GAN batch, lowered for small data to the largest power of two <= n_train
    (the trainers refuse data smaller than one batch)."""
    if n_train < MIN_GAN_BATCH:
        raise InputError(f"the GAN needs at least {MIN_GAN_BATCH} training sentences, got {n_train}")
    return min(preset, 2 ** int(np.log2(n_train)))


def _check_out(out: Path) -> Path:
    """`out` may be new, empty, or an earlier demo run (replaced whole); nothing else is overwritten."""
    if is_nonempty_dir(check_replaced_folder(out)) and not (out / "results.json").is_file():
        raise InputError("output folder is not empty and holds no earlier demo run (it would be replaced)", out)
    return check_writable(out)


def _gaussian_baseline(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Full-covariance Gaussian fit, projected back onto the sphere (the G2 baseline)."""
    rng = np.random.default_rng(seed)
    cov = np.cov(x, rowvar=False) + 1e-6 * np.eye(x.shape[1])
    s = rng.multivariate_normal(x.mean(0), cov, size=n).astype(np.float32)
    return s / np.linalg.norm(s, axis=1, keepdims=True)


def _untrained_like(enc, seed: int):
    """The same GRU architecture and tokenizer with fresh random weights: what training adds."""
    import torch

    import similarity
    from similarity.gru import GRUEncoder

    torch.manual_seed(seed)
    module = GRUEncoder(**enc.module.get_config_dict(), tokenizer=enc.module.tokenizer).eval()
    return similarity.SentenceEncoder(module)


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


@dataclasses.dataclass(frozen=True)
class DemoRun:
    """One demo's checked inputs and where it writes: everything is built in `tmp`, which is renamed
    to `out` at the end, so paths recorded in artefacts point into `out` (`final`)."""

    data: Path
    text_col: str
    group_col: str
    texts: list[str]
    groups: list[str]
    train: list[int]  # row ids the similarity model and the generator train on
    held: list[int]  # row ids held out for evaluation (>= MIN_HELDOUT)
    queries: list[str]
    pairs: tuple | None  # scored pairs (sentences1, sentences2, scores) for Spearman
    config: DemoConfig  # with gan_batch_size already fitted to the data (`gan_batch`)
    tmp: Path
    out: Path
    progress: bool
    n_duplicates: int = 0  # repeated sentences dropped before the split

    def rows(self, ids: list[int]) -> tuple[list[str], list[str]]:
        return [self.texts[i] for i in ids], [self.groups[i] for i in ids]

    def final(self, path: Path) -> Path:  # where a file under `tmp` will be once the run is in place
        return self.out / Path(path).relative_to(self.tmp)


def run_demo(data, out, text_col: str = "text", group_col: str = "group",
             queries=None, pairs=None, config: DemoConfig = DemoConfig(), progress: bool = True,
             pair_cols=None) -> Path:
    """Run the whole workflow on a grouped corpus; returns the path of `report.md`.

    Args:
        data: CSV/TSV/JSON/JSONL/Parquet file with a text and a group column.
        out: run folder; an earlier demo run there is replaced whole, atomically.
        queries: optional .txt of search queries shown in the report.
        pairs: optional scored pairs file for Spearman, its columns `pair_cols` (A, B, SCORE; default
            sentence1, sentence2, score).
        config: demo settings (small, so the demo runs in minutes on a CPU)."""
    import similarity
    from similarity.data import split_groups
    from similarity.heldout_rows import drop_repeats

    # 0. everything that can be wrong with the inputs fails here, before any training
    if not isinstance(config, DemoConfig):  # a dict of settings: an AttributeError
        raise InputError(f"config must be a DemoConfig, got {type(config).__name__}")
    config.validate()
    # an earlier run in `out` is deleted when the new one replaces it: so would be an input inside it
    check_inputs_outside(out, [data, queries, pairs, config.sim_teacher])
    out = _check_out(Path(out))
    texts, groups = similarity.load_groups(data, text_col=text_col, group_col=group_col)
    texts, groups, n_dup = drop_repeats(texts, groups, data)  # before the split (copies leaked into held-out)
    if len(set(groups)) < 2:
        raise InputError(f"the demo needs at least 2 groups of 2 or more sentences, got {len(set(groups))}", data)
    tr, ho = split_groups(texts, groups, config.holdout, seed=config.seed)
    if len(ho) < MIN_HELDOUT or len({groups[i] for i in ho}) < 2:  # of one group, every figure reads 1.0
        raise InputError(f"holdout {config.holdout} keeps {len(ho)} sentences of {len({groups[i] for i in ho})} "
                         f"group(s) out of training; the demo needs at least {MIN_HELDOUT}, of 2 groups or more "
                         "(add sentences to the groups)", data)
    config = dataclasses.replace(config, gan_batch_size=gan_batch(config.gan_batch_size, len(tr)))
    qs = similarity.load_texts(queries, text_col) if queries is not None else []  # a data file: DATA's column
    scored_pairs = similarity.pairs.demo_pairs(pairs, pair_cols, [texts[i] for i in tr])  # evaluate's checks

    with run_lock(out), atomic_dir(out) as tmp:
        run = DemoRun(Path(data), text_col, group_col, list(texts), list(groups), list(tr), list(ho), qs,
                      scored_pairs, config, tmp, out, progress, n_dup)
        results, search_rows, decoded = _run(run)
        save_json(results, tmp / "results.json")
        with atomic_file(tmp / "report.md") as fh:
            fh.write(_report(results, search_rows, decoded))
    return out / "report.md"


def _run(run: DemoRun):
    """The demo's steps, written into `run.tmp`: (results, search rows, decoded samples)."""
    from textgan.gan import make_kind

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    model_dir, enc, sims = _similarity(run)  # 1. train on most of each group, evaluate on the rest
    timings["similarity"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    index, search_rows = _retrieval(run, model_dir, enc)  # 2. retrieval over the whole corpus
    timings["index"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    train_vecs, held_vecs = enc.encode(run.rows(run.train)[0]), enc.encode(run.rows(run.held)[0])
    # 3. a generator on the training sentences' vectors
    gan_dir = _train_generator(run, train_vecs, workflow.encoder_meta(enc, run.final(model_dir)))
    timings["gan"] = time.perf_counter() - t2
    # 4. generate, decode, measure against the held-out sentences
    finish = _finish_grouped if make_kind(run.config.gan_kind).samples_groups else _finish_plain
    name, fake, summary, decoded = finish(run, gan_dir, index, train_vecs, held_vecs)
    gen_metrics = _generation_metrics(name, fake, train_vecs, held_vecs, run.config.seed)
    plot_pca(np.concatenate([train_vecs, held_vecs]), fake, run.tmp / "pca.png",
             f"Sentence vectors: real vs {name} samples (PCA of real)")
    timings["total"] = time.perf_counter() - t0
    results = {"data": str(run.data), "n_sentences": len(run.texts), "n_groups": len(set(run.groups)),
               "n_held_out": len(run.held), "n_duplicates_dropped": run.n_duplicates,
               "similarity": sims, "index": index.meta, "generation": gen_metrics, "generated": summary,
               "seconds": timings, "config": dataclasses.asdict(run.config)}
    return results, search_rows, decoded


def _similarity(run: DemoRun):
    """(model folder, encoder, {"untrained", "trained"[, "teacher"]: held-out metrics})."""
    import similarity
    from similarity.language import for_language
    from similarity.teacher import resolve_teacher

    cfg = run.config
    (tr_t, tr_g), (ho_t, ho_g) = run.rows(run.train), run.rows(run.held)
    sim_cfg = similarity.TrainConfig(epochs=cfg.sim_epochs, batch_size=cfg.sim_batch_size, lr=cfg.sim_lr,
                                     teacher=cfg.sim_teacher, tokenizer=cfg.sim_tokenizer, patience=5, seed=cfg.seed)
    model_dir = Path(similarity.train(sim_cfg, tr_t, tr_g, run.tmp / "similarity", eval_texts=ho_t,
                                      eval_groups=ho_g, progress=run.progress))
    enc = similarity.load(model_dir)
    encoders = {"untrained": _untrained_like(enc, cfg.seed), "trained": enc}
    teacher = resolve_teacher(for_language(sim_cfg, tr_t, announce=False).resolved().teacher)
    if teacher is not None:
        encoders["teacher"] = similarity.SentenceEncoder(teacher.model, "sentence-transformers")
    sims = {name: similarity.evaluate(e, ho_t, ho_g, reference_texts=tr_t, reference_groups=tr_g)
            for name, e in encoders.items()}
    if run.pairs is not None:
        for name in ("trained", "teacher") if teacher is not None else ("trained",):
            sims[name]["spearman"] = similarity.spearman(encoders[name], *run.pairs)
    return model_dir, enc, sims


def _retrieval(run: DemoRun, model_dir: Path, enc):
    """(the corpus index, one (query, best hit, gated result) per query)."""
    # the gate is calibrated at build time only when queries use it (a later search fits it itself)
    index = workflow.index_corpus(model_dir, run.data, run.tmp / "index", text_col=run.text_col,
                                  group_col=run.group_col, progress=False, encoder_path=run.final(model_dir),
                                  gate=bool(run.queries))
    if not run.queries:
        return index, []
    # each query is also scored by the default in-domain scorer: a nearest sentence is not an answer
    results = workflow.search(index, run.queries, k=1, model=enc, gate=True)
    return index, [(q, res["hits"][0], res) for q, res in zip(run.queries, results)]


def _train_generator(run: DemoRun, train_vecs: np.ndarray, encoder: dict) -> Path:
    """The configured kind trained on the training vectors (and their groups, for a kind that needs them)."""
    from textgan.gan import PRESETS, carry_over, make_kind

    cfg = run.config
    kind = make_kind(cfg.gan_kind)
    obj = {} if cfg.gan_objective is None else {"objective": cfg.gan_objective}
    settings = dict(steps=cfg.gan_steps, batch_size=cfg.gan_batch_size, seed=cfg.seed, **obj)
    # a labelled kind's own defaults are tuned for grouped sentence vectors
    gan_cfg = kind.config(**settings) if kind.needs_labels else \
        carry_over(kind.config, PRESETS["embeddings"], **settings)
    return train_gan(train_vecs, run.tmp / "gan", config=gan_cfg, encoder=encoder, progress=run.progress,
                              groups=run.rows(run.train)[1] if kind.needs_labels else None)


def _generation_metrics(name: str, fake: np.ndarray, train_vecs: np.ndarray, held_vecs: np.ndarray,
                        seed: int) -> dict:
    """The generator's samples against the held-out vectors, beside the two baselines every kind faces."""
    from textgan.metrics import generation_report

    copies = train_vecs[np.random.default_rng(seed).choice(len(train_vecs), len(held_vecs))]
    return {name: generation_report(train_vecs, held_vecs, fake),
            "gaussian": generation_report(train_vecs, held_vecs, _gaussian_baseline(train_vecs, len(held_vecs), seed)),
            "copy (train vectors)": generation_report(train_vecs, held_vecs, copies)}


def _finish_plain(run: DemoRun, gan_dir, index, train_vecs, held_vecs):
    """(metrics name, samples for the metrics, summary, decoded table) for an unconditional kind."""
    cfg = run.config
    fake = workflow.generate(gan_dir, len(held_vecs), seed=cfg.seed)
    summary = workflow.generate_embeddings(gan_dir, cfg.n_generate, run.tmp / "generated", index=index,
                                           k=cfg.k, seed=cfg.seed)
    decoded = [json.loads(line) for line in Path(summary["decoded"]).read_text(encoding="utf-8").splitlines()]
    summary.update(vectors=str(run.out / "generated.npy"), decoded=str(run.out / "generated.jsonl"))
    return cfg.gan_kind, fake, summary, decoded


def _finish_grouped(run: DemoRun, gan_dir, index, train_vecs, held_vecs):
    """The same for a kind trained on the groups: every sample is asked for a group.

    The metric set asks each held-out sentence's group once; the decoded table cycles through
    the groups. `in_group_share` = share of samples whose nearest real sentence is in the
    requested group (the report's headline for conditional generation)."""
    from textgan.gan import load

    cfg, model = run.config, load(gan_dir)
    tr_g, ho_g = run.rows(run.train)[1], run.rows(run.held)[1]
    names = sorted(set(ho_g))
    fake = np.concatenate([workflow.generate(model, ho_g.count(n), seed=cfg.seed + i, group=n)
                           for i, n in enumerate(names)])
    asked_all = [n for n in names for _ in range(ho_g.count(n))]
    nearest = np.asarray(tr_g)[(fake @ train_vecs.T).argmax(1)]
    all_groups = sorted(set(tr_g))
    asked = [all_groups[i % len(all_groups)] for i in range(cfg.n_generate)]
    vecs = np.concatenate([workflow.generate(model, 1, seed=cfg.seed + i, group=g) for i, g in enumerate(asked)])
    decoded = workflow.decode(vecs, index, k=cfg.k, novelty_cosine=model.meta.get("typical_nn_cosine"))
    for d, g in zip(decoded, asked):
        d["requested_group"] = g
        d["in_group"] = d["neighbours"][0]["group"] == g
    save_npy(run.tmp / "generated.npy", vecs)
    save_jsonl(decoded, run.tmp / "generated.jsonl")
    summary = {"n": len(decoded), "dim": int(vecs.shape[1]), "seed": cfg.seed,
               "vectors": str(run.out / "generated.npy"), "decoded": str(run.out / "generated.jsonl"),
               "novel_share": float(np.mean([d["novel"] for d in decoded])),
               "mean_top1_cosine": float(np.mean([d["neighbours"][0]["score"] for d in decoded])),
               "in_group_share": float(np.mean([d["in_group"] for d in decoded])),
               "in_group_share_all": float(np.mean(nearest == np.asarray(asked_all))), "n_all": len(fake)}
    return cfg.gan_kind, fake, summary, decoded


def _report(r: dict, search_rows, decoded) -> str:
    sim = r["similarity"]
    lines = [
        "# textgan demo report", "",
        f"Data: `{r['data']}`: {r['n_sentences']} sentences in {r['n_groups']} groups; "
        f"{r['n_held_out']} of them ({r['n_held_out'] / r['n_sentences']:.0%}) held out for evaluation"
        f"{' (%d repeats dropped first)' % r['n_duplicates_dropped'] if r.get('n_duplicates_dropped') else ''}. "
        f"Total time {r['seconds']['total']:.0f} s (similarity {r['seconds']['similarity']:.0f} s, "
        f"GAN {r['seconds']['gan']:.0f} s).", "",
        "## 1. Sentence similarity (GRU encoder, AM-Softmax"
        + (f", distilled from {r['config']['sim_teacher'] or 'minilm'})" if "teacher" in sim else ")"), "",
        "| metric (held-out sentences) | untrained encoder | trained encoder | teacher off the shelf |",
        "|---|---|---|---|"]
    teacher = sim.get("teacher", {})
    for key in ("knn_top1", "loo_top1", "loo_top5", "loo_top10"):
        lines.append(f"| {key} | {_fmt(sim['untrained'].get(key, '-'))} | {_fmt(sim['trained'].get(key, '-'))} "
                     f"| {_fmt(teacher.get(key, '-'))} |")
    if "spearman" in sim["trained"]:
        lines.append(f"| Spearman (scored pairs) | - | {_fmt(sim['trained']['spearman'])} "
                     f"| {_fmt(teacher.get('spearman', '-'))} |")
    from similarity.advice import recommendation, untrained_advice

    advice = (teacher and recommendation(sim["trained"], teacher, r["config"]["sim_teacher"] or "minilm")) \
        or untrained_advice(sim["trained"], sim["untrained"])
    lines += ["", f"**Recommendation:** {advice}."] if advice else []
    lines += ["", "Training curves: ![similarity curves](similarity/curves.png)", "",
              "## 2. Retrieval", "",
              f"Index `{r['index'].get('factory')}` over {r['index'].get('n')} sentences, "
              f"measured recall@10 vs exact search: {_fmt(r['index'].get('recall_at_10'))}.", ""]
    if search_rows:
        g = search_rows[0][2]
        lines += [f"In domain: the `{g['method']}` score (the default of `textgan score`) is at least "
                  f"{g['threshold']:.3f}, {gate_promise((r['index'].get('gate') or {}).get('report'))}; other "
                  f"queries are marked **out of domain** and their nearest sentence is no answer.", "",
                  "| query | nearest sentence | group | cosine | in domain |", "|---|---|---|---|---|"]
        lines += [f"| {q} | {h['text']} | {h['group']} | {h['score']:.3f} | "
                  f"{'yes' if g['in_domain'] else '**no: out of domain**'} |" for q, h, g in search_rows]
        lines.append("")
    return "\n".join(lines + _report_generation(r, decoded)) + "\n"


def _report_generation(r: dict, decoded) -> list[str]:
    """Sections 3 and 4: the generator's metrics and its decoded samples."""
    cols = ("precision", "recall", "density", "coverage", "fd", "authenticity")
    lines = [f"## 3. Generator ({r['config']['gan_kind']}) on sentence vectors", "",
             "Against the held-out sentences' vectors (k=3 precision/recall, k=5 density/coverage):", "",
             "| generator | precision | recall | density | coverage | FD | authenticity |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {name} | " + " | ".join(_fmt(m[k]) for k in cols) + " |" for name, m in r["generation"].items()]
    lines += ["", table_verdict(r["generation"]), "", "Loss curves: ![GAN losses](gan/losses.png)", "",
              "Real vs generated vectors: ![PCA](pca.png)", "",
              "## 4. Generated vectors, decoded to their nearest real sentences", "",
              f"{r['generated']['n']} samples; novel = farther from every corpus sentence than corpus "
              f"sentences typically are from each other (share novel: {r['generated']['novel_share']:.2f}).", ""]
    if "in_group_share" in r["generated"]:
        g = r["generated"]
        lines += [f"Each sample asks for a group: **{g['in_group_share']:.0%}** of these decode to a sentence of "
                  f"the requested group ({g['in_group_share_all']:.0%} of the {g['n_all']} samples of the "
                  f"metrics above).", "",
                  "| # | requested group | nearest real sentence | its group | cosine | in group | novel |",
                  "|---|---|---|---|---|---|---|"]
    else:
        lines += ["| # | nearest real sentence | group | cosine | novel |", "|---|---|---|---|---|"]
    for d in decoded:
        nb = d["neighbours"][0]
        pre = f"{d['requested_group']} | " if "requested_group" in d else ""
        mid = f" {'yes' if d['in_group'] else 'no'} |" if "in_group" in d else ""
        lines.append(f"| {d['id']} | {pre}{nb['text']} | {nb['group']} | {nb['score']:.3f} |{mid} "
                     f"{'yes' if d['novel'] else 'no'} |")
    return lines
