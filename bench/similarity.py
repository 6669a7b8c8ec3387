"""Protocol S (sentence similarity) of BENCHMARKS.md on CLINC150 and STS-B dev.

Systems: GRU + AM-Softmax / normalised softmax / InfoNCE / triplet (trained from scratch
with `similarity.train`, no teacher), `gru-distil` (the defaults of `train-similarity`: the
GRU distilled from all-MiniLM-L6-v2, with STS-B train and COCO caption sentences as
unlabelled data), TF-IDF 1-2 grams (sklearn), all-MiniLM-L6-v2 off the shelf and fine-tuned
with AM-Softmax (the backbone defaults of `--backbone minilm`), Model2Vec (`model2vec.distill`
of the local MiniLM, PCA 256), the encoder levers one at a time (`LEVER_SYSTEMS`: the
defaults with one lever flipped) and `gru-distil-int8` (gru-distil's models, int8 dynamic
quantization, no retraining). `--lang zh`: the Chinese protocol of bench/similarity_zh.py.
Every trained system is trained three times: on all 150 intents (knn/loo/oos/STS-B, speed),
on the first 100 sorted intents (unseen_loo_top1 on the last 50) and on the intents of the
first 7 sorted domains of `domains.json` (unseen_domain_loo_top1: leave-one-out among the
other 3 domains' test sentences). Model selection uses the CLINC `val` split (knn against
train), never `test`. `train_cpu_s` is the process CPU time of the first training, teacher
encoding included (the teacher cache starts empty in every run).

    .venv/bin/python bench/similarity.py --json bench/results/similarity.json
    .venv/bin/python bench/similarity.py --systems gru-distil,tfidf,minilm --threads 1
    .venv/bin/python bench/similarity.py --lang zh --threads 1   # Chinese: bench/similarity_zh.py

Speeds are sentences/s on 5,000 CLINC test+oos sentences, batch 256, second run, with the
ratio to MiniLM measured in the same process (the machine is shared and noisy).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ANCHORS = {  # BENCHMARKS.md, measured 2026-11-20 by throwaway scripts (not this code)
    "anchor TF-IDF 1-2 grams": dict(knn_top1=0.772, loo_top1=0.815, unseen_loo_top1=0.833,
                                    oos_auroc=0.807, oos_fpr95=0.712, stsb_dev_spearman=68.9),
    "anchor MiniLM off the shelf": dict(knn_top1=0.880, loo_top1=0.916, unseen_loo_top1=0.945,
                                        oos_auroc=0.963, oos_fpr95=0.205, stsb_dev_spearman=86.7,
                                        encode_sent_per_s=672),
    "anchor biGRU-128 softmax": dict(knn_top1=0.873, loo_top1=0.886, unseen_loo_top1=0.820,
                                     oos_auroc=0.922, oos_fpr95=0.45),
    "anchor biGRU-128 AM-Softmax": dict(knn_top1=0.911, loo_top1=0.928, unseen_loo_top1=0.845,
                                        oos_auroc=0.950, oos_fpr95=0.26, encode_sent_per_s=22964),
}
# GRU rows without a teacher: the TrainConfig fields that define each
GRU_SYSTEMS = {"gru-am": dict(loss="am"), "gru-softmax": dict(loss="softmax"), "gru-infonce": dict(loss="infonce"),
               "gru-triplet": dict(loss="triplet"),
               "gru-am-pfc0.1": dict(loss="am", partial_fc=0.1)}  # Partial FC: 10% of the intents a step
# one row per encoder lever (issue "encoder"), each the defaults with one lever flipped
LEVER_SYSTEMS = {"gru-distil-static": dict(embed_init="teacher-static"),
                 "gru-distil-input-emb": dict(embed_init="teacher"),
                 "gru-distil-aug2": dict(augment=2), "gru-distil-noaug": dict(augment=0),
                 "gru-distil-scale1": dict(distil_scale=1.0), "gru-distil-scale2": dict(distil_scale=2.0),
                 "gru-distil-ssl": dict(ssl_weight=0.1)}
# gru-distil-stsb-weight: the defaults, with the STS-B train pairs' labels choosing the lexical weight after
# training (`train(eval_pairs=...)`, similarity.lexical_choice); STS-B dev is never read for it
PAIR_CHOICE = "gru-distil-stsb-weight"
# gru-distil-int8: gru-distil's three models quantized (int8 dynamic), no retraining; model2vec:
# model2vec.distill of the local MiniLM, PCA 256 (the library's defaults otherwise)
ALL = (list(GRU_SYSTEMS) + ["gru-distil"] + list(LEVER_SYSTEMS) + [PAIR_CHOICE]
       + ["gru-distil-int8", "tfidf", "minilm", "model2vec", "minilm-am"])


class Model2Vec:
    """model2vec.distill of a local sentence-transformers folder (PCA 256), unit vectors."""

    def __init__(self, path: str, dims: int = 256):
        from model2vec.distill import distill

        self.model = distill(model_name=path, pca_dims=dims)

    def encode(self, texts, batch_size=256, progress=False):
        v = np.asarray(self.model.encode(list(texts), batch_size=batch_size), dtype=np.float32)
        return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def load_clinc(path: Path) -> dict:
    d = json.loads(path.read_text(encoding="utf-8"))
    return {k: ([t for t, _ in v], [g for _, g in v]) for k, v in d.items()}


def load_stsb(path: Path) -> tuple[list[str], list[str], list[float]]:
    a, b, s = [], [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        f = line.split("\t")[:7]  # unescaped quotes and extra fields: split on tabs only
        if len(f) == 7:
            s.append(float(f[4]))
            a.append(f[5])
            b.append(f[6])
    return a, b, s


class TfIdf:
    """TF-IDF 1-2 grams, L2-normalised sparse rows (the metric code densifies per block)."""

    def __init__(self, texts):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(texts)

    def encode(self, texts, batch_size=256, progress=False):
        from sklearn.preprocessing import normalize

        return normalize(self.vec.transform(texts)).astype(np.float32)  # sparse (N, V)


def metrics(enc, data, stsb) -> dict:
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    from similarity.evaluate import knn_top1, loo_topk

    tr, tr_g = data["train"]
    te, te_g = data["test"]
    oos, _ = data["oos_test"]
    e_tr, e_te, e_oos = enc.encode(tr), enc.encode(te), enc.encode(oos)
    out = {}
    out["knn_top1"], in_score = knn_top1(e_te, te_g, e_tr, tr_g, return_scores=True)
    out.update(loo_topk(e_te, te_g))
    _, oos_score = knn_top1(e_oos, ["oos"] * len(oos), e_tr, tr_g, return_scores=True)
    y = np.r_[np.ones(len(in_score)), np.zeros(len(oos_score))]
    out["oos_auroc"] = float(roc_auc_score(y, np.r_[in_score, oos_score]))
    thr = np.quantile(in_score, 0.05)  # 95% of in-scope sentences score at least thr
    out["oos_fpr95"] = float((oos_score >= thr).mean())
    a, b, s = stsb
    if isinstance(enc, TfIdf):  # its vocabulary must cover STS-B: fit on the dev sentences
        enc = TfIdf(a + b)
    ea, eb = enc.encode(a), enc.encode(b)
    cos = np.asarray(ea.multiply(eb).sum(1)).ravel() if hasattr(ea, "multiply") else (ea * eb).sum(1)
    out["stsb_dev_spearman"] = 100 * float(spearmanr(cos, s).statistic)
    return out


def unseen_split(data, domains: dict | None = None):
    """(train, val, test) of the open-set protocols: the first 100 sorted intents against the
    last 50, or, given `domains`, the intents of the first 7 sorted domains against the rest."""
    intents = sorted(set(data["train"][1]))
    seen = set(intents[:100])
    if domains is not None:
        seen = {i for d in sorted(domains)[:7] for i in domains[d]}
    unseen = set(intents) - seen
    pick = lambda split, keep: [(t, g) for t, g in zip(*data[split]) if g in keep]  # noqa: E731
    cols = lambda rows: ([t for t, _ in rows], [g for _, g in rows])  # noqa: E731
    return cols(pick("train", seen)), cols(pick("val", seen)), cols(pick("test", unseen))


def load_unlabeled(stsb_train: Path, coco: Path, n_coco: int) -> list[str]:
    """STS-B train sentences and the first `n_coco` COCO captions, de-duplicated in order."""
    a, b, _ = load_stsb(stsb_train)
    caps = [x["caption"].strip() for x in json.loads(coco.read_text(encoding="utf-8"))["annotations"]]
    return list(dict.fromkeys(a + b + caps[:n_coco]))


def unseen_loo(enc, test) -> float:
    from similarity.evaluate import loo_topk

    return loo_topk(enc.encode(test[0]), test[1], ks=(1,))["loo_top1"]


def speed(enc, texts) -> float:
    enc.encode(texts, batch_size=256)  # first run: warm-up
    t0 = time.perf_counter()
    enc.encode(texts, batch_size=256)  # second run: timed
    return len(texts) / (time.perf_counter() - t0)


def train_system(cfg, train, val, workdir: Path, unlabeled=None, cache_dir=None, eval_pairs=None):
    import similarity

    t0, c0 = time.perf_counter(), time.process_time()
    path = similarity.train(cfg, train[0], train[1], workdir, val[0], val[1], progress=False,
                            unlabeled=unlabeled, cache_dir=cache_dir, eval_pairs=eval_pairs)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    hist = [json.loads(x) for x in (workdir / "metrics.jsonl").read_text().splitlines()]
    return similarity.load(path), secs, cpu, len(hist)


def main() -> None:
    if "--lang" in sys.argv and sys.argv[sys.argv.index("--lang") + 1:][:1] != ["en"]:
        import importlib.util  # bench/ is no package, and "similarity" names the library here

        spec = importlib.util.spec_from_file_location("similarity_zh", Path(__file__).with_name("similarity_zh.py"))
        zh = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(zh)
        return zh.main(sys.argv[1:])  # the Chinese leave-groups-out protocol
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lang", default="en", help="en (this protocol) or zh (bench/similarity_zh.py)")
    ap.add_argument("--clinc", default=str(ROOT / "../shared/data/clinc150/data_full.json"))
    ap.add_argument("--stsb", default=str(ROOT / "../shared/data/stsbenchmark/sts-dev.csv"))
    ap.add_argument("--stsb-train", default=str(ROOT / "../shared/data/stsbenchmark/sts-train.csv"))
    ap.add_argument("--coco", default=str(ROOT / "../shared/data/coco_captions/captions_val2017.json"))
    ap.add_argument("--domains", default=str(ROOT / "../shared/data/clinc150/domains.json"))
    ap.add_argument("--coco-captions", type=int, default=10000,
                    help="COCO captions among gru-distil's unlabelled sentences")
    ap.add_argument("--json", default=None, help="write figures here (merged into an existing file)")
    ap.add_argument("--systems", default=",".join(ALL), help=f"comma list of {', '.join(ALL)}")
    ap.add_argument("--gru", default="{}", help="JSON overrides of TrainConfig for GRU systems")
    ap.add_argument("--finetune-steps", type=int, default=200, help="MiniLM AM-Softmax steps")
    ap.add_argument("--skip-finetune", action="store_true")
    ap.add_argument("--quick", action="store_true", help="3 GRU epochs, 50 fine-tune steps")
    ap.add_argument("--no-unseen", action="store_true", help="skip the two open-set retrainings")
    ap.add_argument("--speed-anchor", action="store_true",
                    help="time MiniLM for the speed ratio even when 'minilm' is not a system")
    ap.add_argument("--unseen-only", action="store_true",
                    help="only the 100-intent retraining (merged into the JSON's rows)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from bench import stats as _stats

    _stats.check_flags(args)
    systems = _stats.pick(args.systems, ALL)  # exit status 2, as every bench refuses a flag
    gru_over = _stats.train_config(args.gru, "--gru")

    import torch

    import similarity
    from similarity.model import load_st, minilm_path

    torch.set_num_threads(args.threads)
    if minilm_path() is None:
        systems = [s for s in systems if not s.startswith("minilm") and s != "model2vec"]
    if args.skip_finetune:
        systems = [s for s in systems if s != "minilm-am"]
    data = load_clinc(Path(args.clinc))
    stsb = load_stsb(Path(args.stsb))
    u_train, u_val, u_test = unseen_split(data)
    d_train, d_val, d_test = unseen_split(data, json.loads(Path(args.domains).read_text()))
    unlabeled = None
    if any(s.startswith("gru-distil") for s in systems):
        unlabeled = load_unlabeled(Path(args.stsb_train), Path(args.coco), args.coco_captions)
    speed_texts = (data["test"][0] + data["oos_test"][0])[:5000]
    if args.quick:
        gru_over.setdefault("epochs", 3)
        args.finetune_steps = min(args.finetune_steps, 50)
    results: dict[str, dict] = {}
    if args.json and Path(args.json).is_file():
        results = json.loads(Path(args.json).read_text())
    minilm = load_st(minilm_path()) if minilm_path() else None
    minilm_speed = None
    if minilm is not None and ("minilm" in systems or args.speed_anchor):
        minilm_speed = speed(similarity.SentenceEncoder(minilm, "sentence-transformers"),
                             speed_texts)
    tmp = Path(tempfile.mkdtemp(prefix="bench-sim-"))
    trained: dict[str, tuple] = {}  # name -> (all-intent, 100-intent, 7-domain) encoders
    for name in systems:
        print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
        row: dict = {}
        if name == "gru-distil-int8":
            from similarity.quantize import quantize

            if "gru-distil" not in trained:
                sys.exit("error: gru-distil-int8 quantizes gru-distil's models: list gru-distil before it")
            enc, u_enc, d_enc = (quantize(e) if e is not None else None for e in trained["gru-distil"])
            row.update(config={"quantize": "int8"})
        elif name in GRU_SYSTEMS or name in LEVER_SYSTEMS or name in ("gru-distil", "minilm-am", PAIR_CHOICE):
            base = dict(seed=args.seed)
            extra = {}
            if name == "minilm-am":  # the backbone row's lr, head multiplier and warm-up
                base.update(backbone="minilm", epochs=1, batch_size=32, max_steps=args.finetune_steps)
            elif name in ("gru-distil", PAIR_CHOICE) or name in LEVER_SYSTEMS:  # train-similarity's defaults
                base.update(gru_over, **LEVER_SYSTEMS.get(name, {}))
                extra = dict(unlabeled=unlabeled, cache_dir=tmp / "teacher-cache")
                if name == PAIR_CHOICE:
                    extra["eval_pairs"] = tuple(map(list, load_stsb(Path(args.stsb_train))))
            else:
                base.update(teacher="none", **GRU_SYSTEMS[name], **gru_over)
            cfg = dataclasses.replace(similarity.TrainConfig(), **base)
            if not args.unseen_only:
                enc, secs, cpu, epochs = train_system(cfg, data["train"], data["val"], tmp / name, **extra)
                row.update(train_seconds=round(secs, 1), train_cpu_s=round(cpu, 1),
                           epochs_run=epochs, config={k: v for k, v in base.items()})
                if name == PAIR_CHOICE:  # the choice's record: weights scored on the STS-B train pairs
                    row["lexical_weight"] = json.loads((tmp / name / "heldout.json").read_text()).get("lexical_weight")
            if not args.no_unseen:
                u_enc, *_ = train_system(cfg, u_train, u_val, tmp / (name + "-unseen"), **extra)
                d_enc, *_ = train_system(cfg, d_train, d_val, tmp / (name + "-domains"), **extra)
            trained[name] = (enc if not args.unseen_only else None,
                             None if args.no_unseen else u_enc, None if args.no_unseen else d_enc)
        elif name == "model2vec":
            enc = u_enc = d_enc = Model2Vec(str(minilm_path()))
        elif name == "tfidf":
            enc = TfIdf(data["train"][0])
            u_enc, d_enc = TfIdf(u_train[0]), TfIdf(d_train[0])
        else:  # minilm off the shelf
            enc = u_enc = d_enc = similarity.SentenceEncoder(minilm, "sentence-transformers")
        if not args.no_unseen:
            row["unseen_loo_top1"] = unseen_loo(u_enc, u_test)
            row["unseen_domain_loo_top1"] = unseen_loo(d_enc, d_test)
        if args.unseen_only:
            results.setdefault(name, {}).update(row)
            _save(results, args.json)
            continue
        row.update(metrics(enc, data, stsb))
        if name != "tfidf":
            row["encode_sent_per_s"] = round(speed(enc, speed_texts), 1)
            if minilm_speed:
                row["encode_speedup_vs_minilm"] = round(row["encode_sent_per_s"] / minilm_speed, 2)
        results.setdefault(name, {}).update(row)
        print(json.dumps({name: row}), flush=True)
        _save(results, args.json)
    shutil.rmtree(tmp, ignore_errors=True)
    print_table(results)


def _save(results: dict, path: str | None) -> None:
    if path:
        from textgan.common.artifacts import save_json

        save_json(results, path)


def print_table(results: dict) -> None:
    cols = ["knn_top1", "loo_top1", "loo_top5", "loo_top10", "unseen_loo_top1",
            "unseen_domain_loo_top1", "oos_auroc", "oos_fpr95", "stsb_dev_spearman",
            "encode_sent_per_s", "encode_speedup_vs_minilm", "train_seconds", "train_cpu_s"]
    fmt = lambda v: "-" if v is None else (f"{v:.3f}" if isinstance(v, float) and v < 10  # noqa
                                           else f"{v:,.1f}" if isinstance(v, float) else str(v))
    print("\n| system | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, row in list(ANCHORS.items()) + list(results.items()):
        print(f"| {name} | " + " | ".join(fmt(row.get(c)) for c in cols) + " |")


if __name__ == "__main__":
    main()
