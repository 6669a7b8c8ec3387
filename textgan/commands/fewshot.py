"""Command for few-shot augmentation: augment. See `textgan.commands` for what the command modules share.
"""
from __future__ import annotations

import click

from textgan.commands.common import progress_option, warnings_as_lines
from textgan.common.errors import InputError


@click.command("augment")
@click.argument("model", type=click.Path())
@click.argument("data", type=click.Path())
@click.option("--per-group", type=int, required=True, help="Generated vectors per few-shot group.")
@click.option("--out", "out_file", required=True, type=click.Path(),
              help="Output stem: OUT.npy (vectors) and OUT.labels.txt (their groups).")
@click.option("--text-col", default="text", show_default=True)
@click.option("--group-col", default="group", show_default=True)
@click.option("--max-shots", type=int, default=10, show_default=True,
              help="Groups with fewer sentences are augmented; the others teach the variation.")
@click.option("--gan", "gan_dir", type=click.Path(), default=None,
              help="An anchored model already trained on base groups (default: train one).")
@click.option("--steps", type=int, default=None, help="Steps of the anchored model trained here (not with --gan).  "
                                                      "[default: 1500]")
@click.option("--seed", type=int, default=0, show_default=True)
@progress_option()
def augment_cmd(model, data, per_group, out_file, text_col, group_col, max_shots, gan_dir, steps, seed,
                progress) -> None:
    """Hallucinate vectors for the groups of DATA with few sentences (similarity MODEL's space).

    An anchored generator learns how groups spread around their prototypes on the groups
    with at least --max-shots sentences; each smaller group gets --per-group samples around
    its own prototype (the normalised mean of its vectors, as the generator's prototypes are).

    \b
    Example:
      textgan augment runs/sim/model my_groups.csv --per-group 20 --max-shots 8 --out runs/aug
      textgan augment runs/sim/model data/faq_en.csv --per-group 20 --max-shots 9 --gan runs/cgan --out runs/aug
    """
    from textgan.common.artifacts import check_output_file
    from textgan.common.paths import output_files
    from textgan.workflow.fewshot import augment

    if max_shots < 2:
        raise InputError(f"--max-shots must be at least 2, got {max_shots}")
    if gan_dir is not None and steps is not None:  # nothing is trained: the steps would be ignored
        raise InputError("sets the training of the anchored model, and --gan gives one already trained", "--steps")
    for f in output_files(out_file, (".npy", ".labels.txt")):
        check_output_file(f, [model, data, gan_dir])
    with warnings_as_lines():
        r = augment(model, data, per_group, out_file, text_col=text_col, group_col=group_col, max_shots=max_shots,
                    gan=gan_dir, seed=seed, progress=progress, **({} if steps is None else {"steps": steps}))
    for g, why in r["skipped"].items():
        click.echo(f"warning: skipped group {g!r}: {why}", err=True)
    click.echo(f"wrote {r['n']} vectors for {len(r['hallucinated'])} few-shot groups "
               f"({', '.join(f'{g} ({n})' for g, n in list(r['hallucinated'].items())[:8])}"
               f"{', ...' if len(r['hallucinated']) > 8 else ''}) {_source(r, gan_dir)} "
               f"to {r['vectors']} and {r['labels']}")


def _source(r: dict, gan_dir) -> str:
    """Where the variation came from: this data's base groups, or a given generator's own groups
    (which may be the same groups as the few-shot ones: "66 few-shot ... from 66 base" read as a slip)."""
    if gan_dir is None:
        return f"learned from {len(r['base'])} base groups"
    return f"with the variation of {gan_dir} (trained on {len(r['base'])} groups)"

