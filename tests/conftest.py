"""Test-wide settings (offline hubs, a headless matplotlib backend) and shared fixtures."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="module")
def one_thread():
    """One CPU thread for a module: on a CPU shared with other jobs two threads can be many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class TinyMetric(torch.nn.Module):
    """Stand-in NR-IQA metric: a small seeded random CNN whose score lies in (0, 100)."""

    higher_is_better = True
    score_range = (0.0, 100.0)
    name = "tiny"

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.fc = torch.nn.Linear(4, 1)

    def forward(self, x):
        return 100 * torch.sigmoid(self.fc(torch.tanh(self.conv(x)).mean(dim=(2, 3)))).reshape(-1)


@pytest.fixture
def tiny_metric():
    """A fresh TinyMetric (the same weights every time)."""
    return TinyMetric()
