"""The benchmark: a quick run writes its files, compares batch sizes with the naive loop, fits scaling lines;
the naive loop draws the sampler's noise; plans and sizes are checked."""

import csv
import json
import math

import pytest
import torch

from msbiqa.allocator import glibc_version
from msbiqa.cli import main
from msbiqa.data.images import sample_photo
from msbiqa.experiments.bench import BenchPlan, fit_line, naive_scores, parse_size
from msbiqa.smoothing.defended import DefendedMetric
from msbiqa.smoothing.sampler import sample_scores


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    rc = main(["bench", "--quick", "--threads", "1", "--batch-size", "auto", "3", "--out", str(out)])
    return rc, out


def test_quick_run_writes_csv_json_and_markdown(quick_run):
    rc, out = quick_run
    assert rc == 0
    rows = list(csv.DictReader((out / "bench.csv").open()))
    result = json.loads((out / "bench.json").read_text())
    assert len(rows) == len(result["rows"]) > 0
    for key in (
        "model",
        "denoiser",
        "height",
        "width",
        "n",
        "batch",
        "precision",
        "samples_per_s",
        "s_per_image",
        "ratio_vs_naive",
        "device_name",
        "torch",
    ):
        assert key in rows[0]
    assert result["env"]["torch"] == torch.__version__ and result["env"]["threads"] == 1
    assert "| samples/s |" in (out / "bench.md").read_text()
    for row in result["rows"]:
        for key in ("samples_per_s", "ms_per_sample", "s_per_image", "warmup_s"):
            assert math.isfinite(row[key]) and row[key] > 0
        assert row["samples_per_s"] == pytest.approx(row["n"] / row["s_per_image"])


def test_base_point_compares_each_batch_size_with_the_naive_loop(quick_run):
    result = json.loads((quick_run[1] / "bench.json").read_text())
    for denoiser in ("none", "unet"):
        base = [r for r in result["rows"] if r["denoiser"] == denoiser and "ratio_vs_naive" in r]
        assert [r["method"] for r in base] == ["naive", "batched", "batched"]
        naive, auto, three = base
        assert naive["batch"] == 1 and naive["precision"] == "fp32" and three["batch"] == 3
        assert 1 <= auto["batch"] <= naive["n"]
        for row in (auto, three):
            assert math.isfinite(row["ratio_vs_naive"]) and row["ratio_vs_naive"] > 0
            # fp32 on both sides, same noise: scores agree to rounding, certificates within tolerance
            assert row["max_score_diff"] < 1e-3 * max(row["score_spread"], 1e-6)
            assert row["cert_ok"] is True


def test_scaling_fits_have_three_points_on_each_axis(quick_run):
    result = json.loads((quick_run[1] / "bench.json").read_text())
    fits = result["scaling"]
    assert sorted((f["denoiser"], f["axis"]) for f in fits) == [
        ("none", "n"),
        ("none", "pixels"),
        ("unet", "n"),
        ("unet", "pixels"),
    ]
    for fit in fits:
        assert len(fit["x"]) == len(fit["s_per_image"]) == 3
        assert math.isfinite(fit["slope"]) and math.isfinite(fit["intercept"]) and fit["r2"] <= 1.0
    assert {tuple(f["x"]) for f in fits if f["axis"] == "pixels"} == {(32 * 32, 24 * 24, 40 * 40)}
    scaling = list(csv.DictReader((quick_run[1] / "scaling.csv").open()))
    assert len(scaling) == len(fits) and "r2" in scaling[0]


def test_allocator_comparison_runs_each_setting_in_its_own_process_at_each_size(quick_run):
    result = json.loads((quick_run[1] / "bench.json").read_text())
    rows = list(csv.DictReader((quick_run[1] / "allocator.csv").open()))
    assert [(r["height"], r["width"]) for r in result["allocator"]] == [(32, 32), (40, 60)] and len(rows) == 2
    tuned_as = "tuned" if glibc_version() else "unavailable"
    for row in result["allocator"]:
        assert row["default_allocator"] == "default" and row["tuned_allocator"] == tuned_as
        assert row["same_scores"] is True and row["ratio"] > 0
        for key in ("wall_ms", "user_ms", "sys_ms"):
            assert row[f"default_{key}"] >= 0 and row[f"tuned_{key}"] >= 0
    assert "| ratio |" in (quick_run[1] / "bench.md").read_text()


def test_naive_loop_draws_the_samplers_noise():
    image = sample_photo(16, 20, torch.device("cpu"))

    def mean(x):
        return x.mean(dim=(1, 2, 3))

    reference = sample_scores(mean, image, sigma=0.12, n=30, seed=5, batch_size=7)
    torch.testing.assert_close(naive_scores(DefendedMetric(mean, 0.12), image, n=30, seed=5), reference)


def test_fit_recovers_a_line():
    fit = fit_line([1, 2, 4], [3.0, 5.0, 9.0])
    assert fit["slope"] == pytest.approx(2.0) and fit["intercept"] == pytest.approx(1.0)
    assert fit["r2"] == pytest.approx(1.0)


def test_sizes_and_plans_are_checked():
    assert parse_size("96") == (96, 96) and parse_size("384x512") == (384, 512)
    for bad in ("x", "4", "3x4x5", "big"):
        with pytest.raises(ValueError, match="S or HxW"):
            parse_size(bad)
    with pytest.raises(ValueError, match="unknown model"):
        BenchPlan(models=["vgg"]).check()
    with pytest.raises(ValueError, match="raise n to at least"):
        BenchPlan(ns=[100], naive_n=5).check()
    with pytest.raises(ValueError, match="positive"):
        BenchPlan(batch_sizes=[0]).check()
    with pytest.raises(ValueError, match="one positive n per --allocator-size"):
        BenchPlan(allocator_ns=[64]).check()


def test_cli_errors_are_one_line(capsys):
    assert main(["bench", "--quick", "--batch-size", "many"]) == 2
    assert "--batch-size" in capsys.readouterr().err
