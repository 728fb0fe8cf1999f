"""The allocator comparison's summary: medians per setting, the default/tuned ratio, and whether both settings
gave the same scores (the runs themselves are in tests/experiments/test_bench.py's quick run)."""

import pytest

from msbiqa.experiments.bench_allocator import run_allocator_bench, summarize


def _row(setting, wall, sys_ms, digest="a", repeat=0):
    return {
        "setting": setting,
        "allocator": setting,
        "height": 8,
        "width": 12,
        "n": 4,
        "batch": 2,
        "wall_ms": wall,
        "user_ms": 1.0,
        "sys_ms": sys_ms,
        "scores_sha256": digest,
        "repeat": repeat,
    }


def test_summary_takes_medians_per_setting_and_the_wall_time_ratio():
    rows = [_row("default", w, 5.0, repeat=i) for i, w in enumerate((10.0, 30.0, 20.0))]
    rows += [_row("tuned", w, 0.0, repeat=i) for i, w in enumerate((5.0, 4.0, 6.0))]
    (summary,) = summarize(rows)
    assert summary["default_wall_ms"] == 20.0 and summary["tuned_wall_ms"] == 5.0 and summary["ratio"] == 4.0
    assert summary["default_sys_ms"] == 5.0 and summary["tuned_sys_ms"] == 0.0 and summary["repeats"] == 3
    assert summary["same_scores"] is True


def test_summary_flags_different_scores():
    (summary,) = summarize([_row("default", 1.0, 0.0, "a"), _row("tuned", 1.0, 0.0, "b")])
    assert summary["same_scores"] is False


def test_one_n_per_size():
    with pytest.raises(ValueError, match="one n per size"):
        run_allocator_bench([(8, 8), (16, 16)], [4], [None], repeats=1)
