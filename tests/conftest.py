"""Test-wide settings (offline hubs, a headless matplotlib backend) and shared fixtures."""

import os

import pytest
import torch
from support import TinyMetric

from msbiqa.data.images import load_image, sample_photo_path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="module")
def one_thread():
    """One CPU thread for a module: on a CPU shared with other jobs two threads can be many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny_metric():
    """A fresh TinyMetric (the same weights every time)."""
    return TinyMetric()


@pytest.fixture(scope="module")
def photos():
    """Eight 32x32 crops of a real photo, darkened by different amounts, MOS falling with the darkening."""
    x = load_image(sample_photo_path())
    return [((x[:, 12 * i : 12 * i + 32, 40:72] * (1 - 0.08 * i)), 80.0 - 7 * i, f"crop{i}") for i in range(8)]
