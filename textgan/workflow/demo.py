"""`textgan demo`: the whole workflow on one grouped corpus, with a Markdown report.

train similarity -> evaluate -> index -> train GAN on the vectors -> generate -> decode.
Everything lands in one run folder; `report.md` links the PNGs written beside it.
Every input is checked before any training starts, and the run is built in a temporary
sibling folder that replaces `out` in one rename at the end: a rerun into the same folder
(a second `make demo`) replaces the old run whole, and a failed run leaves the old one intact.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from textgan.workflow import core as workflow
from textgan.common.artifacts import atomic_dir, atomic_file, is_nonempty_dir, run_lock, save_json
from textgan.common.errors import InputError

# generation_report's density/coverage radii are k=5 nearest neighbours among the held-out vectors
MIN_HELDOUT = 6
MIN_GAN_BATCH = 8


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """Args: holdout: share of each group's sentences kept out of training for evaluation;
    sim_epochs: similarity epochs; sim_teacher: the similarity teacher (minilm, a folder or
    none); gan_kind: a model kind (`textgan kinds`; the default, anchored, is trained on the
    groups and samples each requested group); gan_objective: a row of the objectives table
    (for the kinds that take one; None: the kind's default);
    gan_steps: generator steps; gan_batch_size: GAN batch, lowered to fit small data (see
    `gan_batch`); n_generate: vectors decoded in the report table; k: neighbours per decoded
    vector; seed: everything's seed."""

    holdout: float = 0.25
    # small-data settings: the library defaults are tuned on CLINC150's 15,000 sentences;
    # a few hundred sentences want smaller batches (more steps) and a higher learning rate
    sim_epochs: int = 16
    sim_batch_size: int = 16
    sim_lr: float = 5e-3
    # the GRU distilled from the teacher, with its tokenizer: a few hundred labelled sentences
    # are exactly where a teacher helps; "none" trains from scratch with a "word" tokenizer
    sim_teacher: str = "minilm"
    sim_tokenizer: str | None = None
    gan_kind: str = "anchored"
    gan_objective: str | None = None
    gan_steps: int = 600
    gan_batch_size: int = 256
    n_generate: int = 20
    k: int = 3
    seed: int = 0

    def validate(self) -> "DemoConfig":
        """Refuse bad settings before anything trains (InputError naming the setting)."""
        from textgan.gan import make_kind, make_objective

        kind = make_kind(self.gan_kind)
        if self.gan_objective is not None:
            if "objective" not in {f.name for f in dataclasses.fields(kind.config)}:
                raise InputError(f"kind {kind.name!r} takes no objective")
            make_objective(self.gan_objective)
        for name in ("sim_epochs", "sim_batch_size", "gan_steps", "gan_batch_size", "n_generate", "k"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.holdout < 1:
            raise InputError(f"holdout must be in (0, 1), got {self.holdout}")
        if not self.sim_lr > 0:
            raise InputError(f"sim_lr must be positive, got {self.sim_lr}")
        from similarity import TrainConfig

        # a missing teacher or a tokenizer it cannot serve fails here, before any training
        TrainConfig(teacher=self.sim_teacher, tokenizer=self.sim_tokenizer).resolved()
        return self


def gan_batch(preset: int, n_train: int) -> int:
    """The preset GAN batch, lowered for small data to the largest power of two <= n_train
    (the trainers refuse data smaller than one batch)."""
    if n_train < MIN_GAN_BATCH:
        raise InputError(f"the GAN needs at least {MIN_GAN_BATCH} training sentences, got {n_train}")
    return min(preset, 2 ** int(np.log2(n_train)))


def _check_out(out: Path) -> Path:
    """`out` may be new, empty, or an earlier demo run (replaced whole); nothing else is overwritten."""
    if out.exists() and not out.is_dir():
        raise InputError("output folder is a file", out)
    if is_nonempty_dir(out) and not (out / "results.json").is_file():
        raise InputError("output folder is not empty and holds no earlier demo run (it would be "
                         "replaced); choose a new --out", out)
    return out


def _pca_plot(real: np.ndarray, fake: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mu = real.mean(0)
    # principal axes of the real vectors; generated ones are projected onto the same axes
    _, _, vt = np.linalg.svd(real - mu, full_matrices=False)
    pr, pf = (real - mu) @ vt[:2].T, (fake - mu) @ vt[:2].T
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(pr[:, 0], pr[:, 1], s=8, alpha=0.5, label=f"real ({len(real)})")
    ax.scatter(pf[:, 0], pf[:, 1], s=8, alpha=0.5, marker="x", label=f"generated ({len(fake)})")
    ax.set(title=title, xlabel="PC 1", ylabel="PC 2")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    from similarity.encoder import GRUEncoder

    torch.manual_seed(seed)
    module = GRUEncoder(**enc.module.get_config_dict(), tokenizer=enc.module.tokenizer).eval()
    return similarity.SentenceEncoder(module)


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def run_demo(data, out, text_col: str = "text", group_col: str = "group",
             queries=None, pairs=None, config: DemoConfig = DemoConfig(), progress: bool = True) -> Path:
    """Run the whole workflow on a grouped corpus; returns the path of `report.md`.

    Args:
        data: CSV/TSV/JSON/JSONL/Parquet file with a text and a group column.
        out: run folder; an earlier demo run there is replaced whole, atomically.
        queries: optional .txt of search queries shown in the report.
        pairs: optional scored pairs file (sentence1, sentence2, score) for Spearman.
        config: demo settings (small, so the demo runs in minutes on a CPU).
    """
    import similarity
    from similarity.data import split_groups

    # 0. everything that can be wrong with the inputs fails here, before any training
    config.validate()
    out = _check_out(Path(out))
    texts, groups = similarity.load_groups(data, text_col=text_col, group_col=group_col)
    if len(set(groups)) < 2:
        raise InputError(f"the demo needs at least 2 groups of 2 or more sentences, got {len(set(groups))}", data)
    tr, ho = split_groups(texts, groups, config.holdout, seed=config.seed)
    if len(ho) < MIN_HELDOUT:
        raise InputError(f"holdout {config.holdout} keeps {len(ho)} sentences out of training; the generation "
                         f"metrics need at least {MIN_HELDOUT} (add sentences or raise the holdout)", data)
    batch = gan_batch(config.gan_batch_size, len(tr))
    qs = similarity.load_texts(queries) if queries is not None else []
    scored_pairs = similarity.load_pairs(pairs) if pairs is not None else None

    with run_lock(out), atomic_dir(out) as tmp:
        results, search_rows, decoded = _run(data, tmp, out, text_col, group_col, texts, groups, tr, ho, qs,
                                             scored_pairs, dataclasses.replace(config, gan_batch_size=batch),
                                             progress)
        save_json(results, tmp / "results.json")
        with atomic_file(tmp / "report.md") as fh:
            fh.write(_report(results, search_rows, decoded))
    return out / "report.md"


def _run(data, tmp: Path, out: Path, text_col, group_col, texts, groups, tr, ho, qs, scored_pairs,
         config: DemoConfig, progress: bool):
    """The demo's steps, written into `tmp`; paths recorded in artefacts point into `out`,
    where `tmp` will be renamed to."""
    import similarity
    from similarity.teacher import resolve_teacher
    from textgan.gan import PRESETS, carry_over, make_kind
    from textgan.metrics import generation_report

    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    # 1. similarity: train on most of each group, evaluate on the held-out sentences
    tr_t, tr_g = [texts[i] for i in tr], [groups[i] for i in tr]
    ho_t, ho_g = [texts[i] for i in ho], [groups[i] for i in ho]
    sim_cfg = similarity.TrainConfig(epochs=config.sim_epochs, batch_size=config.sim_batch_size, lr=config.sim_lr,
                                     teacher=config.sim_teacher, tokenizer=config.sim_tokenizer, patience=5,
                                     seed=config.seed)
    model_dir = Path(similarity.train(sim_cfg, tr_t, tr_g, tmp / "similarity", eval_texts=ho_t, eval_groups=ho_g,
                                      progress=progress))
    final_model = out / model_dir.relative_to(tmp)
    enc = similarity.load(model_dir)
    sim_metrics = similarity.evaluate(enc, ho_t, ho_g, reference_texts=tr_t, reference_groups=tr_g)
    untrained = similarity.evaluate(_untrained_like(enc, config.seed), ho_t, ho_g,
                                    reference_texts=tr_t, reference_groups=tr_g)
    sims = {"untrained": untrained, "trained": sim_metrics}
    teacher = resolve_teacher(sim_cfg.resolved().teacher)
    if teacher is not None:
        sims["teacher"] = similarity.evaluate(similarity.SentenceEncoder(teacher.model, "sentence-transformers"),
                                              ho_t, ho_g, reference_texts=tr_t, reference_groups=tr_g)
    if scored_pairs is not None:
        sim_metrics["spearman"] = similarity.spearman(enc, *scored_pairs)
        if teacher is not None:
            sims["teacher"]["spearman"] = similarity.spearman(
                similarity.SentenceEncoder(teacher.model, "sentence-transformers"), *scored_pairs)
    timings["similarity"] = time.perf_counter() - t0

    # 2. retrieval over the whole corpus
    t1 = time.perf_counter()
    index = workflow.index_corpus(model_dir, data, tmp / "index", text_col=text_col, group_col=group_col,
                                  progress=False, encoder_path=final_model)
    search_rows = []
    if qs:
        # each query is also scored by the default in-domain scorer: a nearest sentence is not an answer
        for q, res in zip(qs, workflow.search(index, qs, k=1, model=enc, gate=True)):
            search_rows.append((q, res["hits"][0], res))
    timings["index"] = time.perf_counter() - t1

    # 3. GAN on the training sentences' vectors
    t2 = time.perf_counter()
    train_vecs = enc.encode(tr_t)
    held_vecs = enc.encode(ho_t)
    kind = make_kind(config.gan_kind)
    obj = {} if config.gan_objective is None else {"objective": config.gan_objective}
    run = dict(steps=config.gan_steps, batch_size=config.gan_batch_size, seed=config.seed, **obj)
    if kind.needs_labels:  # the kind's own defaults are tuned for grouped sentence vectors
        gan_cfg = kind.config(**run)
    else:
        gan_cfg = carry_over(kind.config, PRESETS["embeddings"], **run)
    gan_dir = workflow.train_gan(train_vecs, tmp / "gan", config=gan_cfg,
                                 encoder=workflow.encoder_meta(enc, final_model), progress=progress,
                                 groups=tr_g if kind.needs_labels else None)
    timings["gan"] = time.perf_counter() - t2
    if kind.needs_labels:
        results, decoded = _finish_grouped(
            tmp, out, gan_dir, index, train_vecs, held_vecs, tr_g, ho_g, config, timings, t0,
            dict(data=str(data), n_sentences=len(texts), n_groups=len(set(groups)),
                 similarity=sims, index=index.meta))
        return results, search_rows, decoded

    # 4. generate, decode, measure against the held-out sentences
    fake = workflow.generate(gan_dir, len(held_vecs), seed=config.seed)
    gauss = _gaussian_baseline(train_vecs, len(held_vecs), config.seed)
    gen_metrics = {"gan": generation_report(train_vecs, held_vecs, fake),
                   "gaussian": generation_report(train_vecs, held_vecs, gauss),
                   "copy (train vectors)": generation_report(
                       train_vecs, held_vecs,
                       train_vecs[np.random.default_rng(config.seed).choice(len(train_vecs), len(held_vecs))])}
    summary = workflow.generate_embeddings(gan_dir, config.n_generate, tmp / "generated", index=index,
                                           k=config.k, seed=config.seed)
    decoded = [json.loads(line) for line in
               Path(summary["decoded"]).read_text(encoding="utf-8").splitlines()]
    # the files' final names, once the run folder is renamed into place
    summary.update(vectors=str(out / "generated.npy"), decoded=str(out / "generated.jsonl"))
    _pca_plot(np.concatenate([train_vecs, held_vecs]), fake, tmp / "pca.png",
              "Sentence vectors: real vs GAN samples (PCA of real)")
    timings["total"] = time.perf_counter() - t0

    results = {"data": str(data), "n_sentences": len(texts), "n_groups": len(set(groups)),
               "similarity": sims,
               "index": index.meta, "generation": gen_metrics, "generated": summary,
               "seconds": timings, "config": dataclasses.asdict(config)}
    return results, search_rows, decoded


def _finish_grouped(tmp: Path, out: Path, gan_dir, index, train_vecs, held_vecs, tr_g, ho_g, config: DemoConfig,
                    timings: dict, t0: float, results: dict):
    """Generation for a kind trained on the groups: every sample is asked for a group.

    The metric set asks each held-out sentence's group once; the decoded table cycles through
    the groups. `in_group_share` = share of samples whose nearest real sentence is in the
    requested group (the report's headline for conditional generation).
    """
    from textgan.gan import load
    from textgan.metrics import generation_report

    model = load(gan_dir)
    names = sorted(set(ho_g))
    fake = np.concatenate([workflow.generate(model, ho_g.count(n), seed=config.seed + i, group=n)
                           for i, n in enumerate(names)])
    asked_all = [n for n in names for _ in range(ho_g.count(n))]
    tr_arr = np.asarray(tr_g)
    nearest = tr_arr[(fake @ train_vecs.T).argmax(1)]
    in_group_all = float(np.mean(nearest == np.asarray(asked_all)))
    gauss = _gaussian_baseline(train_vecs, len(held_vecs), config.seed)
    gen_metrics = {config.gan_kind: generation_report(train_vecs, held_vecs, fake),
                   "gaussian": generation_report(train_vecs, held_vecs, gauss),
                   "copy (train vectors)": generation_report(
                       train_vecs, held_vecs,
                       train_vecs[np.random.default_rng(config.seed).choice(len(train_vecs), len(held_vecs))])}
    all_groups = sorted(set(tr_g))
    asked = [all_groups[i % len(all_groups)] for i in range(config.n_generate)]
    vecs = np.concatenate([workflow.generate(model, 1, seed=config.seed + i, group=g) for i, g in enumerate(asked)])
    decoded = workflow.decode(vecs, index, k=config.k, novelty_cosine=model.meta.get("typical_nn_cosine"))
    for d, g in zip(decoded, asked):
        d["requested_group"] = g
        d["in_group"] = d["neighbours"][0]["group"] == g
    with atomic_file(tmp / "generated.npy", "wb") as fh:
        np.save(fh, vecs, allow_pickle=False)
    with atomic_file(tmp / "generated.jsonl") as fh:
        fh.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in decoded)
    summary = {"n": len(decoded), "dim": int(vecs.shape[1]), "seed": config.seed,
               "vectors": str(out / "generated.npy"), "decoded": str(out / "generated.jsonl"),
               "novel_share": float(np.mean([d["novel"] for d in decoded])),
               "mean_top1_cosine": float(np.mean([d["neighbours"][0]["score"] for d in decoded])),
               "in_group_share": float(np.mean([d["in_group"] for d in decoded])),
               "in_group_share_all": in_group_all, "n_all": len(fake)}
    _pca_plot(np.concatenate([train_vecs, held_vecs]), fake, tmp / "pca.png",
              f"Sentence vectors: real vs {config.gan_kind} samples (PCA of real)")
    timings["total"] = time.perf_counter() - t0
    results.update(generation=gen_metrics, generated=summary, seconds=timings, config=dataclasses.asdict(config))
    return results, decoded


def _report(r: dict, search_rows, decoded) -> str:
    sim, gen = r["similarity"], r["generation"]
    lines = [
        "# textgan demo report", "",
        f"Data: `{r['data']}`: {r['n_sentences']} sentences in {r['n_groups']} groups; "
        f"{r['config']['holdout']:.0%} of each group held out for evaluation. "
        f"Total time {r['seconds']['total']:.0f} s (similarity {r['seconds']['similarity']:.0f} s, "
        f"GAN {r['seconds']['gan']:.0f} s).", "",
        "## 1. Sentence similarity (GRU encoder, AM-Softmax"
        + (f", distilled from {r['config']['sim_teacher']})" if "teacher" in sim else ")"), "",
        "| metric (held-out sentences) | untrained encoder | trained encoder | teacher off the shelf |",
        "|---|---|---|---|",
    ]
    teacher = sim.get("teacher", {})
    for key in ("knn_top1", "loo_top1", "loo_top5", "loo_top10"):
        lines.append(f"| {key} | {_fmt(sim['untrained'].get(key, '-'))} | {_fmt(sim['trained'].get(key, '-'))} "
                     f"| {_fmt(teacher.get(key, '-'))} |")
    if "spearman" in sim["trained"]:
        lines.append(f"| Spearman (scored pairs) | - | {_fmt(sim['trained']['spearman'])} "
                     f"| {_fmt(teacher.get('spearman', '-'))} |")
    if teacher:
        from similarity.advice import recommendation

        advice = recommendation(sim["trained"], teacher, r["config"]["sim_teacher"])
        if advice:
            lines += ["", f"**Recommendation:** {advice}."]
    lines += ["", "Training curves: ![similarity curves](similarity/curves.png)", "",
              "## 2. Retrieval", "",
              f"Index `{r['index'].get('factory')}` over {r['index'].get('n')} sentences, "
              f"measured recall@10 vs exact search: {_fmt(r['index'].get('recall_at_10'))}.", ""]
    if search_rows:
        g = search_rows[0][2]
        lines += [f"In domain: the `{g['method']}` score (the default of `textgan score`) is at least "
                  f"{g['threshold']:.3f}, which keeps 95% of corpus sentences it did not fit on; other "
                  f"queries are marked **out of domain** and their nearest sentence is no answer.", "",
                  "| query | nearest sentence | group | cosine | in domain |", "|---|---|---|---|---|"]
        lines += [f"| {q} | {h['text']} | {h['group']} | {h['score']:.3f} | "
                  f"{'yes' if g['in_domain'] else '**no: out of domain**'} |" for q, h, g in search_rows]
        lines.append("")
    lines += [f"## 3. Generator ({r['config']['gan_kind']}) on sentence vectors", "",
              "Against the held-out sentences' vectors (k=3 precision/recall, k=5 density/coverage):", "",
              "| generator | precision | recall | density | coverage | FD | authenticity |",
              "|---|---|---|---|---|---|---|"]
    for name, m in gen.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(m[k]) for k in
                                                  ("precision", "recall", "density", "coverage", "fd",
                                                   "authenticity")) + " |")
    lines += ["", "Loss curves: ![GAN losses](gan/losses.png)", "",
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
    return "\n".join(lines) + "\n"
