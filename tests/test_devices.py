"""Devices: unknown or unavailable ones are one clear error; where a command computes (threads, device)."""

import pytest
import torch

from msbiqa.devices import Compute, default_device


@pytest.mark.parametrize("device", ["mps", "cuda:7", "tpu", "gpu"])
def test_unavailable_or_unknown_devices_are_one_clear_error(device):
    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 CUDA devices")
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    with pytest.raises(ValueError, match="not available on this machine|unknown device") as err:
        default_device(device)
    assert "\n" not in str(err.value)


def test_cuda_on_a_machine_without_cuda_names_the_fix():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="not available on this machine.*--device cpu"):
        default_device("cuda")
    assert default_device(None).type == "cpu"


def test_compute_sets_threads_and_refuses_fewer_than_one():
    before = torch.get_num_threads()
    try:
        assert Compute(device="cpu", threads=1).apply().type == "cpu" and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads must be a whole number >= 1"):
        Compute(threads=0)
