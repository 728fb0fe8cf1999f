"""The Ray engine: `certify_dataset`'s jobs as tasks on a Ray cluster (`msbiqa compare --engine ray`).

The jobs are cut into shards (one sigma and defence, a few images). Each worker is a Ray actor that loads the
networks once: the driver sends every defended metric the run needs as one `torch.save` blob, and each image
travels with its shard, so workers need neither weights files nor the dataset, only the driver's Python
environment. The driver keeps one shard in flight per worker and yields rows as shards finish. A worker that dies
loses only its shard, which goes back to the queue (a few times at most); rows already yielded are in the caller's
resumable file, so a run killed altogether resumes from there. Ray is optional: a missing package, an address
that does not answer and resources the cluster lacks are `EngineError`s naming the fix, raised before any work.
"""

from __future__ import annotations

import collections
import io
import itertools
import logging
import os
import pickle
import socket
from pathlib import Path

import torch

from msbiqa.console import plain
from msbiqa.experiments import watchdog
from msbiqa.experiments.engine_work import EngineError, Job, Work, check_ray_options

INSTALL = "pip install ray==2.60.0 (bash scripts/setup.sh installs it into .venv)"
# Set before Ray is imported or started: no usage reporting, and an address that accepts TCP connections but is
# not a Ray cluster (or refuses this driver) fails within seconds instead of retrying for about 14 minutes.
ENVIRONMENT = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_NUM_REDIS_GET_RETRIES": "1", "RAY_py_gcs_connect_timeout_s": "3"}
PROBE_SECONDS = 3.0


def import_ray():
    """The ray module, imported with `ENVIRONMENT`; an EngineError with the install command when it is missing."""
    for key, value in ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    try:
        import ray
    except ImportError as err:
        raise EngineError(f"the Ray engine needs the ray package ({err}): {INSTALL}; or use --engine local") from None
    if not hasattr(ray, "init"):  # a folder named `ray` in the working directory shadows the package
        where = list(getattr(ray, "__path__", []))
        raise EngineError(f"`import ray` found the folder {where}, not the ray package: run from another directory")
    return ray


def cluster_address(address: str) -> str:
    """HOST:PORT of the cluster `address` ("auto" or HOST:PORT), checked to accept connections within 3 s."""
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS") or _address_started_here()
    if "://" in address:
        raise EngineError(
            f"Ray address {address!r}: give the cluster's HOST:PORT (what `ray start --head` prints, port 6379 by "
            "default), not a client URL"
        )
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise EngineError(
            f"Ray address {address!r}: expected HOST:PORT with a port from 1 to 65535 (e.g. 10.0.0.5:6379) or auto"
        )
    try:
        socket.create_connection((host, int(port)), timeout=PROBE_SECONDS).close()
    except OSError as err:
        raise EngineError(
            f"cannot reach a Ray cluster at {address} ({err.strerror or err}): start it there with "
            f"`ray start --head --port={port}`, or check the address (and the firewall)"
        ) from None
    return address


def _address_started_here() -> str:
    """The address `ray start --head` left on this machine (where Ray's own "auto" looks)."""
    temp = os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp"
    path = Path(temp) / "ray" / "ray_current_cluster"
    text = path.read_text().strip() if path.is_file() else ""
    if not text:
        raise EngineError(
            "--address auto found no Ray cluster (RAY_ADDRESS is unset and no `ray start --head` runs on this "
            "machine): start one with `ray start --head`, or give --address HOST:PORT"
        )
    return text


def shards(jobs: list[Job], size: int) -> list[list[Job]]:
    """`jobs` in runs of at most `size` images of one (sigma, defence), in order."""
    runs = []
    for _, group in itertools.groupby(jobs, key=lambda job: job[:2]):
        group = list(group)
        runs += [group[i : i + size] for i in range(0, len(group), size)]
    return runs


def placement(resources: dict, device, workers: int | None, cpus_per_worker: float, gpus_per_worker: float):
    """(GPUs per worker, number of workers) for workers on `device` on a cluster with `resources` (Ray's totals).

    Ray would queue a request the cluster can never meet forever, so this checks the totals first.
    """
    gpus_total, cpus_total = float(resources.get("GPU", 0)), float(resources.get("CPU", 0))
    gpus = gpus_per_worker if torch.device(device).type == "cuda" else 0.0
    if gpus > gpus_total:
        raise EngineError(
            f"the device is {device} with {gpus:g} GPU per Ray worker, but the cluster has {gpus_total:g} GPUs: "
            "add GPU nodes (`ray start --address=HEAD:PORT --num-gpus=N` on each), lower --gpus-per-worker, "
            "or use --device cpu"
        )
    if cpus_per_worker > cpus_total:
        raise EngineError(
            f"each Ray worker asks for {cpus_per_worker:g} CPUs, but the cluster has {cpus_total:g}: "
            "lower --cpus-per-worker"
        )
    fit = int(cpus_total / cpus_per_worker + 1e-9)
    if gpus:
        fit = min(fit, int(gpus_total / gpus + 1e-9))
    return gpus, min(workers or fit, fit)


def _reason(err: BaseException) -> str:
    """The last line of a Ray error (the original exception for a failed actor), without colour codes."""
    lines = [line.strip() for line in plain(str(err)).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


class ShardWorker:
    """A Ray actor: unpickles the defended metrics once onto its device, then certifies shard after shard."""

    def __init__(self, networks: bytes, certify, device: str, threads: int, cpu_autocast: tuple[bool, torch.dtype]):
        torch.set_num_threads(threads)  # Ray's default (OMP_NUM_THREADS) would also do; explicit is reproducible
        self.device = torch.device(device)
        # the driver's own blob of networks it loaded (weights_only=True) and checked, not a file from elsewhere
        loaded = torch.load(io.BytesIO(networks), map_location=self.device, weights_only=False)
        self.defended = {pair: defended.eval() for pair, defended in loaded.items()}
        self.certify = certify
        self.cpu_autocast = cpu_autocast

    def where(self) -> str:
        """Host, process and device: also the sign that loading the networks worked."""
        return f"{socket.gethostname()} pid {os.getpid()} {self.device}"

    def run(self, shard: list[tuple[Job, tuple]]) -> list[dict]:
        """Rows of the (job, dataset item) pairs of one shard, under the driver's CPU autocast setting."""
        enabled, dtype = self.cpu_autocast
        with torch.autocast("cpu", dtype=dtype, enabled=enabled):
            return [self.certify(self.defended[job[:2]], job, item, self.device) for job, item in shard]


class RayEngine:
    """Certify on a Ray cluster: `address` None starts a Ray instance on this machine for the run (or uses the
    one this process already joined), which dies with this process even when it is killed (see watchdog);
    "auto" or HOST:PORT joins a running cluster.

    Each worker takes `cpus_per_worker` CPUs and, on CUDA, `gpus_per_worker` GPUs; the device None means CUDA
    when the cluster has GPUs. A shard whose worker dies is retried on a new worker up to `attempts` times.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        cpus_per_worker: float = 1.0,
        gpus_per_worker: float = 1.0,
        shard_size: int = 4,
        attempts: int = 3,
    ):
        check_ray_options(workers, cpus_per_worker, gpus_per_worker, shard_size)
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts!r}")
        import_ray()  # fail now, not after the data and networks are loaded
        self.address = None if address is None else cluster_address(address)
        self.workers, self.shard_size, self.attempts = workers, shard_size, attempts
        self.cpus_per_worker, self.gpus_per_worker = float(cpus_per_worker), float(gpus_per_worker)
        self.watchdog = None  # kills the Ray instance `run` starts if this process is killed

    def _connect(self, ray) -> bool:
        """Join or start Ray; True when this call started the session (the caller ends it)."""
        if ray.is_initialized():
            return False
        try:
            if self.address is None:
                os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private instance: no token in ~/.ray
                before = watchdog.children(os.getpid())
                ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
                self.watchdog = watchdog.guard(watchdog.children(os.getpid()) - before)  # dies with this driver
            else:
                ray.init(address=self.address, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as err:
            raise EngineError(
                f"Ray did not accept this driver at {self.address or 'a new local instance'} ({_reason(err)}): "
                "a cluster with token authentication needs RAY_AUTH_MODE=token and its token (RAY_AUTH_TOKEN or "
                "~/.ray/auth_token), and the driver needs the cluster's Python and Ray versions"
            ) from None
        return True

    def devices(self, device=None) -> tuple[torch.device, torch.device]:
        """(where this process loads the networks, where the workers certify).

        Workers use `device`'s kind (a worker's GPU is its cuda:0, whichever index was named), by default CUDA when
        the cluster has a GPU per worker; this process loads onto the same device when it has one, else its CPU.
        """
        if device is None:
            device = "cuda" if self._cluster_gpus() >= self.gpus_per_worker else "cpu"
        there = torch.device(torch.device(device).type)
        here = there if there.type != "cuda" or torch.cuda.is_available() else torch.device("cpu")
        return here, there

    def _cluster_gpus(self) -> float:
        """The cluster's GPUs, without keeping a Ray session open for the question."""
        ray = import_ray()
        if ray.is_initialized():
            return float(ray.cluster_resources().get("GPU", 0))
        if self.address is None:  # the instance `run` starts has this machine's GPUs
            return float(torch.cuda.device_count())
        self._connect(ray)
        try:
            return float(ray.cluster_resources().get("GPU", 0))
        finally:
            ray.shutdown()

    def run(self, work: Work, device: torch.device):
        """Yield the row of every job of `work`, shard by shard as workers finish them."""
        if not work.jobs:
            return
        ray = import_ray()
        started_here = self._connect(ray)
        actors = []
        try:
            gpus, workers = placement(
                ray.cluster_resources(), device, self.workers, self.cpus_per_worker, self.gpus_per_worker
            )
            queue = collections.deque(enumerate(shards(work.jobs, self.shard_size)))
            networks = ray.put(_networks({job[:2]: work.defended[job[:2]] for job in work.jobs}))
            cpu_autocast = (torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu"))
            threads = max(1, int(self.cpus_per_worker))
            remote = ray.remote(ShardWorker).options(num_cpus=self.cpus_per_worker, num_gpus=gpus, max_restarts=0)

            def start():
                actors.append(remote.remote(networks, work.certify, str(device), threads, cpu_autocast))
                return actors[-1]

            yield from self._stream(ray, work.dataset, queue, start, min(workers, len(queue)))
        finally:
            for actor in actors:  # free their CPUs/GPUs now, not when Python's garbage collector gets to them
                ray.kill(actor)
            if started_here:
                ray.shutdown()
                self._stop_watchdog()

    def _stop_watchdog(self) -> None:
        """End the watchdog of the Ray instance this engine started, once that instance is shut down."""
        if self.watchdog is not None:
            self.watchdog.kill()
            self.watchdog.wait()
            self.watchdog = None

    def _stream(self, ray, dataset, queue: collections.deque, start, workers: int):
        """Rows of the numbered shards in `queue`, one in flight per worker; a dead worker's shard goes back to the
        queue for a new worker (`start()` makes one), and after `attempts` deaths the others finish, then it stops.
        """
        from ray.exceptions import RayActorError

        first = [start() for _ in range(workers)]
        try:
            ray.get([actor.where.remote() for actor in first])
        except RayActorError as err:
            raise EngineError(
                f"Ray workers could not load the networks ({_reason(err)}): every node needs the driver's "
                "Python environment (the same msbiqa, torch and ray)"
            ) from None
        pending, attempts, failure = {}, collections.Counter(), None

        def submit(actor):
            number, jobs = queue.popleft()
            attempts[number] += 1
            items = [(job, dataset[job[2]]) for job in jobs]  # images travel with their shard
            pending[actor.run.remote(items)] = (actor, number, jobs)

        for actor in first:
            submit(actor)
        while pending:
            [ref], _ = ray.wait(list(pending), num_returns=1)
            actor, number, jobs = pending.pop(ref)
            try:
                rows = ray.get(ref)
            except RayActorError as err:
                ray.kill(actor)
                if attempts[number] >= self.attempts and failure is None:
                    sigma, defence, _ = jobs[0]
                    failure = EngineError(
                        f"Ray workers died {attempts[number]} times on a shard of {len(jobs)} images "
                        f"(sigma {sigma:g}, {defence}; last: {_reason(err)}); the finished rows are saved, "
                        "so a rerun resumes; if a worker ran out of memory, lower --shard-size or give each "
                        "worker more memory"
                    )
                if failure is not None:
                    continue
                queue.appendleft((number, jobs))
                actor = start()
            else:
                yield from rows
            if queue and failure is None:
                submit(actor)
        if failure is not None:
            raise failure


def _networks(defended: dict) -> bytes:
    """The defended metrics as one blob (a metric they share is stored once)."""
    buffer = io.BytesIO()
    try:
        torch.save(defended, buffer)
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        raise EngineError(f"the networks cannot be sent to Ray workers ({err}); use --engine local") from None
    return buffer.getvalue()
