"""Pinned numbers: the bundled photo certified with the shipped weights at a fixed seed gives the stored values
(tests/pinned/certificates.json, made by tests/pinned/make_certificates.py), so any change that moves a
certificate is seen, as piq pins its metrics to reference values."""

import json
import sys
from pathlib import Path

import pytest

PINNED = Path(__file__).parent / "pinned"
sys.path.insert(0, str(PINNED))
from make_certificates import SETTING, certificates  # noqa: E402


def test_the_bundled_photo_certifies_to_the_pinned_values():
    stored = json.loads((PINNED / "certificates.json").read_text())
    assert stored["setting"] == SETTING
    now = certificates()
    assert set(now) == set(stored["certificates"])
    for defence, values in stored["certificates"].items():
        for key, value in values.items():
            # float32 networks: the same code may differ in the last bits across CPUs and BLAS builds
            assert now[defence][key] == pytest.approx(value, abs=2e-4), (defence, key)
