"""The pseudo-MOS formula: anchors map to 100 and 0, linear in between, clipped beyond."""

import numpy as np
import pytest

from msbiqa.data.pseudo_mos import ANCHORS, pseudo_mos


def test_pseudo_mos_formula():
    best = {m: np.array([b]) for m, (b, _) in ANCHORS.items()}
    worst = {m: np.array([w]) for m, (_, w) in ANCHORS.items()}
    assert pseudo_mos(best)[0] == pytest.approx(100.0)
    assert pseudo_mos(worst)[0] == pytest.approx(0.0)
    half = {m: np.array([(b + w) / 2]) for m, (b, w) in ANCHORS.items()}
    assert pseudo_mos(half)[0] == pytest.approx(50.0)
    beyond = {m: np.array([w - (b - w)]) for m, (b, w) in ANCHORS.items()}
    assert pseudo_mos(beyond)[0] == 0.0  # clipped
