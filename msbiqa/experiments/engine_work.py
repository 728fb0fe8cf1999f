"""What every engine of `msbiqa.experiments.engines` takes and raises: the jobs and `Work` it certifies, the error
that says it cannot run as asked, and the one rule for the Ray options. Its own module, so that the Ray engine
and the module that builds engines both import it and neither imports the other at load time."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from msbiqa.smoothing.validate import check_count

Job = tuple[float, str, int]  # (sigma, defence, dataset index)


class EngineError(RuntimeError):
    """An engine cannot run as asked (Ray missing, cluster unreachable, resources it lacks); the message says
    what to do."""


@dataclass
class Work:
    """What an engine certifies.

    `defended` maps (sigma, defence) to its defended metric, on the engine's first device; `certify(defended,
    job, item, device)` returns the row of one job, with item = dataset[index]. A Ray worker runs `certify` in
    another process: it must pickle (a module-level function or a partial of one).
    """

    dataset: Any
    jobs: list[Job]
    defended: dict
    certify: Callable


def check_ray_options(workers: int | None, cpus_per_worker: float, gpus_per_worker: float, shard_size: int) -> None:
    """The one rule for the Ray options (Python and command line alike): counts are whole numbers >= 1 (workers
    may be None: as many as fit), shares of a CPU or GPU finite numbers > 0."""
    counts = {"shard_size": shard_size} | ({} if workers is None else {"workers": workers})
    for name, value in counts.items():
        check_count(value, name=f"{name} (--{name.replace('_', '-')})")
    for name, value in {"cpus_per_worker": cpus_per_worker, "gpus_per_worker": gpus_per_worker}.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{name} (--{name.replace('_', '-')}) must be a finite number > 0, got {value!r}")
