"""Round 21: what a new user following the README met (train-similarity's silent early stop,
augment's report with a given generator) and sweep 33's findings."""
from __future__ import annotations

import json

import numpy as np


def _run(tmp_path, epochs_run: int, **train):
    run = tmp_path / "run"
    run.mkdir()
    cfg = {"epochs": 16, "patience": 3, "max_steps": None, **train}
    (run / "config.json").write_text(json.dumps({"train": cfg}))
    (run / "metrics.jsonl").write_text("".join(json.dumps({"epoch": e + 1}) + "\n" for e in range(epochs_run)))
    return run


def test_early_stop_is_said_with_the_epochs_run_and_the_patience(tmp_path, capsys):
    from textgan.commands.similarity import _echo_early_stop

    _echo_early_stop(_run(tmp_path, 9))
    assert capsys.readouterr().out == ("stopped early after epoch 9 of 16: no held-out gain for 3 epochs "
                                       "(--patience 3)\n")


def test_no_early_stop_line_for_a_full_run_a_step_cap_or_a_missing_file(tmp_path, capsys):
    from textgan.commands.similarity import _echo_early_stop

    for i, (n, train) in enumerate([(16, {}), (4, {"max_steps": 100}), (0, {})]):
        (tmp_path / str(i)).mkdir()
        _echo_early_stop(_run(tmp_path / str(i), n, **train))
    _echo_early_stop(tmp_path / "absent")
    assert capsys.readouterr().out == ""


def test_augment_with_a_given_generator_names_it_as_the_source(faq, tmp_path, cli_main):
    """"66 few-shot groups ... learned from 66 base groups" read as a slip when the variation came
    from a generator trained on the same groups."""
    from textgan.gan import make_kind, train_gan
    from textgan.common.vectors import encoder_meta

    import similarity

    model, texts, groups, vectors = faq
    g = np.asarray(groups)
    names = sorted(set(groups))[:3]
    keep = np.isin(g, names)
    gan = train_gan(vectors[keep], make_kind("anchored").config(steps=2, batch_size=8), tmp_path / "a",
                    groups=g[keep].tolist(), progress=False,
                    meta={"encoder": encoder_meta(similarity.load(model), model)})
    data = tmp_path / "few.csv"
    other = sorted(set(groups))[10]
    rows = [t for t, gg in zip(texts, groups) if gg == other][:2]
    data.write_text("text,group\n" + "".join(f'"{t}",{other}\n' for t in rows))
    code, out, err = cli_main("augment", model, data, "--per-group", 3, "--max-shots", 5, "--gan", tmp_path / "a",
                              "--out", tmp_path / "aug")
    assert code == 0, err
    assert f"for 1 few-shot groups ({other} (2)) with the variation of {tmp_path / 'a'} (trained on 3 groups)" in out
    assert np.load(tmp_path / "aug.npy").shape == (3, vectors.shape[1])
