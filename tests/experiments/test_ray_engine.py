"""The Ray engine on a local 2-CPU Ray cluster (one per module): the local engine's rows, a killed worker's shard
rerun, a killed run resumed without recomputing, and a GPU request the cluster cannot meet refused up front; and
the Ray instance a run starts dies with its driver, even when the driver is killed."""

import logging
import os
import subprocess
import sys
import time
from functools import partial

import pandas as pd
import pytest
import torch
from support import ItemSet

from msbiqa import load_metric
from msbiqa.experiments import certification
from msbiqa.experiments.certification import Certification, certify_dataset
from msbiqa.experiments.engine_work import EngineError
from msbiqa.experiments.watchdog import family
from msbiqa.smoothing.certify import Bounds

try:
    from msbiqa.experiments.ray_engine import RayEngine, import_ray

    ray = import_ray()
except EngineError as err:
    pytest.skip(f"Ray engine tests need Ray: {err}", allow_module_level=True)

RUN = Certification(
    defences=["none", "ms", "dms-iqa", "binned-rs"], sigmas=[0.12], bounds=Bounds(eps=0.05, n=40, alpha=0.01), images=6
)
SETTINGS = dict(run=RUN, device="cpu", progress=False)
KEY = ["sigma", "defence", "image"]
certify_row = certification.certify_row  # the real one, also when a test patches the module's


@pytest.fixture(scope="module")
def cluster():
    """ray.init(num_cpus=2) on this machine, quiet; workers get this module by value, for its helpers."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # no token written to ~/.ray
    ray.init(
        address="local",
        num_cpus=2,
        num_gpus=0,
        include_dashboard=False,
        logging_level=logging.WARNING,
        object_store_memory=100 << 20,
    )
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    ray.shutdown()


@pytest.fixture(scope="module")
def dataset(photos):
    return ItemSet(photos)


@pytest.fixture(scope="module")
def local_rows(dataset, one_thread, tmp_path_factory):
    """The local engine's table (one torch thread, as a worker with one CPU has)."""
    return certify_dataset(load_metric(), dataset, out_csv=tmp_path_factory.mktemp("local") / "rows.csv", **SETTINGS)


def die_once(defended, job, item, device, *, marker, index, **options):
    """certify_row, but the first time it meets dataset image `index` it kills its process, as a preempted node."""
    if job[2] == index and not marker.exists():
        marker.touch()
        os._exit(1)
    return certify_row(defended, job, item, device, **options)


def same_rows(table, local):
    pd.testing.assert_frame_equal(table.drop(columns="seconds"), local.drop(columns="seconds"))


def test_ray_rows_equal_the_local_rows_and_a_killed_worker_loses_only_its_shard(
    cluster, dataset, local_rows, tmp_path, monkeypatch
):
    marker, csv = tmp_path / "died", tmp_path / "rows.csv"
    monkeypatch.setattr(certification, "certify_row", partial(die_once, marker=marker, index=3))
    table = certify_dataset(load_metric(), dataset, out_csv=csv, engine=RayEngine(workers=2, shard_size=3), **SETTINGS)
    assert marker.exists()  # a worker died in its first shard; a new worker reran that shard
    same_rows(table, local_rows)  # same values, columns and order (the file holds them as shards finished)
    written = pd.read_csv(csv)
    assert len(written) == 24 and not written.duplicated(KEY).any()
    assert ray.is_initialized()  # the engine leaves the caller's Ray session up


def test_a_killed_run_resumes_without_recomputing(cluster, dataset, local_rows, tmp_path, monkeypatch):
    marker, csv = tmp_path / "died", tmp_path / "rows.csv"
    monkeypatch.setattr(certification, "certify_row", partial(die_once, marker=marker, index=7))
    with pytest.raises(EngineError, match="died 1 times.*rerun resumes"):
        certify_dataset(
            load_metric(),
            dataset,
            out_csv=csv,
            engine=RayEngine(workers=1, shard_size=2, attempts=1),
            **SETTINGS,
        )
    saved = pd.read_csv(csv)  # images 0, 1, 3, 4, 6, 7: the run died in its third shard
    assert saved["image"].tolist() == ["crop0", "crop1", "crop3", "crop4"]
    table = certify_dataset(load_metric(), dataset, out_csv=csv, engine=RayEngine(workers=1), **SETTINGS)
    same_rows(table, local_rows)
    assert len(pd.read_csv(csv)) == 24  # the saved rows were not computed again


def test_the_device_follows_the_cluster_and_a_gpu_it_lacks_is_refused_up_front(cluster, dataset):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert RayEngine().devices(None) == (cpu, cpu)  # no GPU in this cluster
    here = cuda if torch.cuda.is_available() else cpu  # networks load on the driver's GPU only if it has one
    assert RayEngine().devices("cuda:1") == (here, cuda)  # a worker's GPU is its cuda:0
    with pytest.raises(EngineError, match="cluster has 0 GPUs.*--device cpu"):
        certify_dataset(load_metric(), dataset, engine=RayEngine(), **{**SETTINGS, "device": "cuda"})


DRIVER = """
import time
import torch
from msbiqa.experiments.engine_work import Work
from msbiqa.experiments.ray_engine import RayEngine

def certify(defended, job, item, device):
    time.sleep(600)

work = Work(dataset=[0], jobs=[(0.1, "none", 0)], defended={(0.1, "none"): torch.nn.Identity()}, certify=certify)
for row in RayEngine(workers=1).run(work, torch.device("cpu")):
    pass
"""


def _running(processes: dict[int, str]) -> set[int]:
    """The processes of {pid: start time} still running (a reused pid is another process)."""
    return {pid for pid, started in family(processes).items() if processes.get(pid) == started}


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="the watchdog needs /proc (Linux)")
def test_a_killed_driver_takes_its_ray_instance_with_it(tmp_path):
    """SIGKILL of a driver that started Ray: within seconds no process of that instance is left (the raylet's
    agents used to outlive it by 1-4 minutes)."""
    (tmp_path / "driver.py").write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(tmp_path / "driver.py")], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not any("ShardWorker" in _cmdline(pid) for pid in family([driver.pid])):
            assert time.monotonic() < deadline and driver.poll() is None, "the driver never started a Ray worker"
            time.sleep(0.5)
        time.sleep(1)  # the watchdog looks twice a second
        processes = family([driver.pid])
    finally:
        driver.kill()
        driver.wait()
    del processes[driver.pid]
    assert len(processes) >= 5  # gcs, raylet, agents, worker, watchdog ...
    deadline = time.monotonic() + 10
    while _running(processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not {_cmdline(pid) for pid in _running(processes)}


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
