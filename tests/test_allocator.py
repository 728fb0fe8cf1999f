"""The allocator tuning: on by default on glibc Linux, MSBIQA_MALLOC=default turns it off, the user's own glibc
variables win, other platforms are skipped, and certificates are identical with and without it (each setting in
its own process: mallopt is process-wide)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from msbiqa import allocator

REPO = Path(__file__).resolve().parents[1]
GLIBC = pytest.mark.skipif(allocator.glibc_version() is None, reason="mallopt is a glibc (Linux) function")

# Certify a real photo with the shipped DMS-IQA pair, and ask malloc whether a 64 MiB block is served by mmap
# (glibc's default) or from the heap (tuned): mallinfo2().hblkhd counts the bytes in mmapped blocks.
CHILD = """
import ctypes, hashlib, json
import torch
from msbiqa import DefendedMetric, load_denoiser, load_image, load_metric
from msbiqa.allocator import tune_allocator
from msbiqa.data.images import fit_within, sample_photo_path

FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
class MallInfo2(ctypes.Structure):
    _fields_ = [(k, ctypes.c_size_t) for k in FIELDS.split()]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype, libc.malloc.restype, libc.malloc.argtypes = MallInfo2, ctypes.c_void_p, [ctypes.c_size_t]
before = libc.mallinfo2().hblkhd
block = libc.malloc(64 << 20)
mmapped = libc.mallinfo2().hblkhd - before
libc.free(ctypes.c_void_p(block))
torch.set_num_threads(1)
defended = DefendedMetric(load_metric(), sigma=0.12, denoiser=load_denoiser("dms-iqa", sigma=0.12))
image = fit_within(load_image(sample_photo_path()), 64)
cert = defended.certify(image, eps=0.05, n=200, alpha=0.001, seed=3, batch_size=16)
scores = defended.sample(image, n=200, seed=3, batch_size=16)
print(json.dumps({"allocator": tune_allocator(), "mmapped": mmapped, "cert": cert.to_dict(),
                  "scores": hashlib.sha256(scores.numpy().tobytes()).hexdigest()}))
"""


def run_child(setting: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (allocator.ENV, *allocator.GLIBC_VARIABLES)}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    if setting is not None:
        env[allocator.ENV] = setting
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def children():
    return {"tuned": run_child(None), "default": run_child("default")}


@GLIBC
def test_tuned_by_default_and_the_off_switch_restores_glibcs_thresholds(children):
    assert children["tuned"]["allocator"] == "tuned" and children["tuned"]["mmapped"] == 0
    assert children["default"]["allocator"] == "default" and children["default"]["mmapped"] >= 64 << 20


@GLIBC
def test_certificates_are_identical_with_and_without_the_tuning(children):
    assert children["tuned"]["cert"] == children["default"]["cert"]
    assert children["tuned"]["scores"] == children["default"]["scores"]


def test_the_setting_is_read_from_the_environment():
    assert allocator.requested({}) == "tuned"
    assert allocator.requested({allocator.ENV: " Default "}) == "default"
    with pytest.warns(UserWarning, match="not 'tuned' or 'default'"):
        assert allocator.requested({allocator.ENV: "off-ish"}) == "tuned"
    assert allocator.user_set({"MALLOC_MMAP_THRESHOLD_": "65536"})
    assert allocator.user_set({"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"})
    assert not allocator.user_set({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX"})


def test_off_switch_user_variables_and_other_platforms_leave_malloc_alone(monkeypatch):
    tune = allocator.tune_allocator.__wrapped__  # the cached one already ran on import
    monkeypatch.setenv(allocator.ENV, "default")
    assert tune() == "default"
    monkeypatch.delenv(allocator.ENV)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    assert tune() == "user"
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    monkeypatch.setattr(sys, "platform", "darwin")
    assert allocator.glibc_version() is None and tune() == "unavailable"
