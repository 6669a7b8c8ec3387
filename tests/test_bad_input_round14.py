"""Inputs of the fourteenth sweep: a closed stdout or a pipe closed early, a held-out split whose
groups have one sentence each, bad k and empty or non-finite scores at the metrics API, and a
demo report that printed the configured held-out share instead of the one used."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest

from helpers import TEXTGAN


def test_a_closed_stdout_is_an_error_and_a_closed_pipe_ends_as_sigpipe():
    closed = subprocess.run(f"{TEXTGAN} kinds >&-", shell=True, capture_output=True, text=True, timeout=120)
    assert closed.returncode == 2 and closed.stderr.strip().startswith("error: <stdout>: closed"), closed.stderr
    piped = subprocess.run(f"{TEXTGAN} kinds | head -c 1 >/dev/null; exit ${{PIPESTATUS[0]}}", shell=True,
                           executable="/bin/bash", capture_output=True, text=True, timeout=120)
    assert piped.returncode in (0, 141) and piped.stderr == ""  # 0 when the table fit the pipe before head closed it


def test_loo_of_rows_without_partners_is_zero_not_nan():
    """A held-out split of one sentence a group wrote NaN (invalid JSON) into metrics.jsonl."""
    from similarity.evaluate import loo_topk

    res = loo_topk(np.eye(3, dtype=np.float32), ["a", "b", "c"], ks=(1, 5))
    assert res == {"loo_top1": 0.0, "loo_top5": 0.0}


@pytest.mark.parametrize("call", ["pr0", "pr_float", "dc_neg", "report0"])
def test_metrics_refuse_a_bad_k(call):
    from textgan import metrics
    from textgan.common.errors import InputError

    a, b = np.random.default_rng(0).random((20, 4)), np.random.default_rng(1).random((20, 4))
    f = {"pr0": lambda: metrics.precision_recall(a, b, k=0), "pr_float": lambda: metrics.precision_recall(a, b, k=2.5),
         "dc_neg": lambda: metrics.density_coverage(a, b, k=-2),
         "report0": lambda: metrics.generation_report(a, b, a, k_pr=0)}[call]
    with pytest.raises(InputError, match="k must be a whole number >= 1"):
        f()


@pytest.mark.parametrize("a,b", [([], [1.0, 2.0]), ([1.0, 2.0], []), ([np.nan, 1.0], [0.0]), ([1.0], [np.inf])])
def test_auroc_and_fpr_refuse_empty_or_non_finite_scores(a, b):
    from textgan.common.errors import InputError
    from textgan.ood.scoring import auroc, fpr_at_tpr

    with pytest.raises(InputError, match="must be a non-empty list of finite numbers"):
        auroc(a, b)
    if len(a) and np.isfinite(a).all():
        with pytest.raises(InputError, match="out-of-domain scores must be a non-empty list of finite numbers"):
            fpr_at_tpr(a, b)
    assert auroc([2.0, 3.0], [0.0, 1.0]) == 1.0


def test_the_demo_report_states_the_held_out_share_it_used():
    """36 sentences split 24 / 12 at holdout 0.25 (two of six per group): the report said 25%."""
    from textgan.workflow.demo import _report

    r = {"data": "d", "n_sentences": 36, "n_held_out": 12, "n_groups": 6, "config": {"holdout": 0.25,
         "gan_kind": "anchored"}, "seconds": {"total": 1, "similarity": 1, "gan": 1},
         "similarity": {"trained": {}, "untrained": {}}, "index": {}, "generation": {},
         "generated": {"n": 0, "novel_share": 0.0}}
    text = _report(r, [], [])
    assert "36 sentences in 6 groups; 12 of them (33%) held out for evaluation." in text
