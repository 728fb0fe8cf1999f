"""Where `certify_dataset` computes its certificates: in this process (`LocalEngine`, the default) or on a Ray
cluster (`msbiqa.experiments.ray_engine.RayEngine`), behind one interface.

An engine says where the networks load and where they certify (`devices`), then runs a `Work` — jobs (sigma,
defence, dataset index), the defended metrics and the function that certifies one image — and yields one result
row per job as it finishes. Both engines call the same function with the same per-image seed, so for a fixed seed
they give the same rows (all but the timing column); the caller appends them to its resumable file, so a run
interrupted on either engine resumes the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from msbiqa.devices import default_device
from msbiqa.experiments.engine_work import Work, check_ray_options
from msbiqa.settings import setting

ENGINES = ("local", "ray")


class LocalEngine:
    """Certify in this process, job after job."""

    def devices(self, device=None) -> tuple[torch.device, torch.device]:
        """(where the networks load, where they certify): both `device`, by default CUDA when available."""
        device = default_device(device)
        return device, device

    def run(self, work: Work, device: torch.device) -> Iterator[dict]:
        """The rows of the jobs, in order."""
        for job in work.jobs:
            yield work.certify(work.defended[job[:2]], job, work.dataset[job[2]], device)


@dataclass
class EngineOptions:
    """Where certification runs (`msbiqa compare`); `build()` makes the engine."""

    engine: str = setting("local", "where certificates are computed: local (this process) or ray", choices=ENGINES)
    address: str | None = setting(
        None,
        "Ray cluster to join: auto (RAY_ADDRESS, else the cluster `ray start --head` runs on this machine) or "
        "HOST:PORT; default: a Ray instance of this machine started for the run",
    )
    workers: int | None = setting(None, "Ray workers (default: as many as the cluster's GPUs, or CPUs, hold)")
    cpus_per_worker: float = setting(1.0, "CPUs per Ray worker (also its torch threads)")
    gpus_per_worker: float = setting(1.0, "GPUs per Ray worker when the device is CUDA (0.5: two workers per GPU)")
    shard_size: int = setting(4, "images per Ray task; rows reach the results file as each task finishes")

    def __post_init__(self):
        check_ray_options(self.workers, self.cpus_per_worker, self.gpus_per_worker, self.shard_size)

    def build(self):
        """The engine: LocalEngine, or a RayEngine (checks now that Ray imports and the address answers)."""
        if self.engine == "local":
            if self.address is not None:
                raise ValueError("--address is for the Ray engine: add --engine ray")
            return LocalEngine()
        if self.engine != "ray":
            raise ValueError(f"unknown engine {self.engine!r}; choose from {ENGINES}")
        from msbiqa.experiments.ray_engine import RayEngine

        return RayEngine(
            address=self.address,
            workers=self.workers,
            cpus_per_worker=self.cpus_per_worker,
            gpus_per_worker=self.gpus_per_worker,
            shard_size=self.shard_size,
        )


def make_engine(engine: str = "local", address: str | None = None, **options):
    """The engine named `engine` (see `EngineOptions` for `address` and the Ray options)."""
    return EngineOptions(engine=engine, address=address, **options).build()
