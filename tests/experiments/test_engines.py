"""Choosing an engine, and the Ray engine's checks that need no cluster: Ray missing, an address that does not
answer, resources the cluster lacks, and how jobs are cut into shards."""

import importlib.util
import socket
import sys
import time
import types

import pytest
import torch
from support import TinySet

from msbiqa import DefendedMetric
from msbiqa.cli import main
from msbiqa.experiments.engine_work import EngineError, Work
from msbiqa.experiments.engines import EngineOptions, LocalEngine, make_engine
from msbiqa.experiments.ray_engine import cluster_address, import_ray, placement, shards

HAS_RAY = importlib.util.find_spec("ray") is not None


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_local_engine_certifies_each_job_with_its_defence_here(tiny_metric):
    defended = {(0.1, "ms"): DefendedMetric(tiny_metric, 0.1), (0.2, "ms"): DefendedMetric(tiny_metric, 0.2)}
    jobs = [(0.1, "ms", 0), (0.1, "ms", 1), (0.2, "ms", 0)]

    def certify(smoothed, job, item, device):
        return {"sigma": smoothed.sigma, "image": item[2], "device": device.type}

    engine = LocalEngine()
    assert engine.devices("cpu") == (torch.device("cpu"), torch.device("cpu"))
    rows = list(engine.run(Work(TinySet(), jobs, defended, certify), torch.device("cpu")))
    assert rows == [
        {"sigma": 0.1, "image": "a", "device": "cpu"},
        {"sigma": 0.1, "image": "b", "device": "cpu"},
        {"sigma": 0.2, "image": "a", "device": "cpu"},
    ]


def test_local_is_the_default_and_takes_no_address():
    assert isinstance(make_engine(), LocalEngine)
    with pytest.raises(ValueError, match="--engine ray"):
        make_engine("local", address="auto")


def test_missing_ray_names_the_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets without the package
    with pytest.raises(EngineError, match=r"pip install ray==2\.60\.0 .*scripts/setup\.sh"):
        import_ray()
    assert main(["compare", "--engine", "ray", "--images", "1"]) == 2  # before any data or network is loaded
    assert "pip install ray==2.60.0" in capsys.readouterr().err


def test_a_folder_named_ray_is_not_ray(monkeypatch, tmp_path):
    folder = types.ModuleType("ray")  # what `import ray` gives for a folder ./ray when Ray is not installed
    folder.__path__ = [str(tmp_path / "ray")]
    monkeypatch.setitem(sys.modules, "ray", folder)
    with pytest.raises(EngineError, match="not the ray package"):
        import_ray()


def test_an_address_that_does_not_answer_fails_in_seconds(monkeypatch, tmp_path, capsys):
    port = closed_port()
    start = time.perf_counter()
    with pytest.raises(EngineError, match=f"cannot reach a Ray cluster at 127.0.0.1:{port}.*ray start --head"):
        cluster_address(f"127.0.0.1:{port}")
    assert time.perf_counter() - start < 3.5
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))  # no `ray start --head` left an address here
    with pytest.raises(EngineError, match="auto found no Ray cluster.*ray start --head"):
        cluster_address("auto")
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    with pytest.raises(EngineError, match="cannot reach"):
        cluster_address("auto")
    for bad in ("ray://head:10001", "head", "head:port", "head:0", "head:70000", "head:99999999999999999999"):
        with pytest.raises(EngineError, match="HOST:PORT"):
            cluster_address(bad)
    if HAS_RAY:  # the command line says the same, before loading anything
        assert main(["compare", "--engine", "ray", "--address", f"127.0.0.1:{port}"]) == 2
        assert "ray start --head" in capsys.readouterr().err
        assert main(["reproduce", "--engine", "ray", "--address", f"127.0.0.1:{port}"]) == 2


def test_placement_fits_the_cluster_and_refuses_what_it_lacks():
    gpu_node = {"CPU": 16.0, "GPU": 2.0}
    assert placement(gpu_node, "cuda", None, 1.0, 1.0) == (1.0, 2)  # one worker per GPU
    assert placement(gpu_node, "cuda", None, 1.0, 0.5) == (0.5, 4)
    assert placement(gpu_node, "cpu", 3, 2.0, 1.0) == (0.0, 3)
    assert placement({"CPU": 2.0}, "cpu", 8, 1.0, 1.0) == (0.0, 2)  # never more workers than fit
    with pytest.raises(EngineError, match="cluster has 0 GPUs"):
        placement({"CPU": 2.0}, "cuda", None, 1.0, 1.0)
    with pytest.raises(EngineError, match="--cpus-per-worker"):
        placement({"CPU": 2.0}, "cpu", None, 4.0, 1.0)


def test_shards_keep_one_sigma_and_defence():
    jobs = [(0.1, "ms", i) for i in range(5)] + [(0.1, "dms", i) for i in range(2)]
    assert [[j[2] for j in s] for s in shards(jobs, 2)] == [[0, 1], [2, 3], [4], [0, 1]]


@pytest.mark.parametrize(
    "option, value",
    [("workers", 0), ("workers", -1), ("shard_size", 0), ("cpus_per_worker", float("nan")), ("gpus_per_worker", 0)],
)
def test_one_rule_for_the_ray_options_in_python_and_on_the_command_line(option, value, capsys):
    flag = "--" + option.replace("_", "-")
    with pytest.raises(ValueError, match=rf"{option} \({flag}\) must be a (whole|finite) number"):
        EngineOptions(**{option: value})
    assert main(["compare", "--images", "1", flag, str(value)]) == 2  # before any data or network is loaded
    err = capsys.readouterr().err
    assert f"({flag}) must be" in err and err.count("\n") == 1


def test_a_port_out_of_range_is_one_line_on_the_command_line(capsys):
    if not HAS_RAY:
        pytest.skip("the address is checked once Ray imports")
    assert main(["compare", "--engine", "ray", "--address", "127.0.0.1:70000"]) == 2
    err = capsys.readouterr().err
    assert "port from 1 to 65535" in err and err.count("\n") == 1
