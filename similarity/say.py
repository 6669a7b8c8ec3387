"""Lines a training run says as it goes (the teacher's cost, each epoch's loss and held-out figure):
between the progress bars when they are drawn, else as INFO records of the `similarity` logger,
which the CLI prints as they come. Before, a run without bars (a log file, a scheduler) printed
its teacher line at the end and no epoch line at all."""
from __future__ import annotations

import logging

LOG = logging.getLogger("similarity")


def say(line: str, progress: bool) -> None:
    """`line` between the bars (tqdm.write) when `progress`, else an INFO record of `LOG`."""
    if progress:
        from tqdm.auto import tqdm

        tqdm.write(line)
    else:
        LOG.info(line)
