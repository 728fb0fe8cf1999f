"""The compile benchmark: a tiny run writes its table, compiled scores and certificates agree with eager ones,
the training step's variants start from the same losses, and the keep rule needs both speed and equal results."""

import csv
import json
import math

import pytest
import torch

from msbiqa.cli import main
from msbiqa.experiments.bench import BenchPlan
from msbiqa.experiments.bench_compile import (
    FLOAT_RTOL,
    KEEP_RATIO,
    compile_options,
    rows_of,
    run_compile_bench,
    verdicts,
)
from msbiqa.smoothing.certify import certificate_from_scores

COLUMNS = {"path", "defence", "variant", "ms_per_unit", "ratio", "compile_s", "max_diff", "cert_diff", "equal", "keep"}


@pytest.fixture(scope="module")
def compiled_run(tmp_path_factory):
    """Plain MS at 32x32, n = 32 (two full batches: one shape to compile), eager vs torch.compile, one repeat."""
    if not torch._dynamo.is_dynamo_supported():
        pytest.skip("torch.compile is not supported by this Python or platform")
    out = tmp_path_factory.mktemp("bench_compile")
    args = ["--compile-paths", "none", "--compile-variants", "compile", "--compile-size", "32", "--compile-n", "32"]
    try:
        rc = main(["bench", "--part", "compile", *args, "--repeats", "1", "--out", str(out)])
    except torch._dynamo.exc.BackendCompilerFailed as err:  # e.g. no C++ compiler for inductor's CPU kernels
        pytest.skip(f"inductor cannot compile here: {str(err).splitlines()[0]}")
    return rc, out


def test_tiny_run_writes_the_table_and_verdict(compiled_run):
    rc, out = compiled_run
    assert rc == 0
    result = json.loads((out / "bench.json").read_text())
    rows = list(csv.DictReader((out / "compile.csv").open()))
    assert [r["variant"] for r in rows] == ["eager", "compile"] and len(result["compile"]) == 2
    assert COLUMNS <= set(rows[0])
    assert result["env"]["compile_threads"] == 1 and len(result["env"]["load_avg_end"]) == 3
    text = (out / "bench.md").read_text()
    assert "| x eager | compile s |" in text and "certify none: keep" in text
    assert result["compile_verdicts"] == verdicts(result["compile"])


def test_compiled_scores_and_certificate_equal_eager_within_float_tolerance(compiled_run):
    eager, compiled = json.loads((compiled_run[1] / "bench.json").read_text())["compile"]
    assert eager["ratio"] == 1.0 and eager["max_diff"] == 0.0 and eager["keep"] is False
    assert (compiled["path"], compiled["defence"], compiled["n"], compiled["unit"]) == ("certify", "none", 32, "sample")
    assert math.isfinite(compiled["ratio"]) and compiled["ratio"] > 0 and compiled["ms_per_unit"] > 0
    if compiled["fresh_cache"]:  # an empty inductor cache: the warm-up really compiled
        assert compiled["compile_s"] > 0.5
    # TinyIQA scores lie in (0, 100): float rounding moves them by far less than 1e-2
    assert compiled["max_diff"] < FLOAT_RTOL * 100 and compiled["cert_diff"] <= compiled["max_diff"]
    assert compiled["equal"] is True
    assert compiled["keep"] is (compiled["ratio"] >= KEEP_RATIO)


def test_training_variants_start_from_the_same_losses(one_thread):
    rows = run_compile_bench(["train"], ["fused-adam"], (32, 32), 32, 2, repeats=1, train_steps=1)
    assert [(r["path"], r["defence"], r["denoiser"], r["variant"]) for r in rows] == [
        ("train", "dms-iqa", "U-Net", "eager"),
        ("train", "dms-iqa", "U-Net", "fused-adam"),
    ]
    fused = rows[1]
    assert fused["compared"] == "first-step losses" and fused["unit"] == "step" and fused["n"] == 2
    assert fused["max_diff"] == 0.0 and fused["equal"] is True  # the first loss comes before any Adam step


def _measured(eager_s: float, variant_s: float, scores: torch.Tensor, other: torch.Tensor) -> dict:
    def out(s):
        return {"scores": s, "cert": certificate_from_scores(s, sigma=0.12, eps=0.05, alpha=0.001)}

    return {
        "eager": {"warmup_s": eager_s, "times": [eager_s], "first": out(scores)},
        "compile": {"warmup_s": 10.0, "times": [variant_s], "first": out(other)},
    }


def test_keep_needs_the_ratio_and_equal_certificates():
    path = {"path": "certify", "defence": "none", "units": 100}
    scores = 50 + torch.linspace(-3, 3, 100)
    fast = rows_of(path, _measured(1.5, 1.0, scores, scores + 1e-5))[1]
    assert fast["ratio"] == 1.5 and fast["equal"] and fast["keep"] and fast["compile_s"] == 9.0
    slow = rows_of(path, _measured(1.2, 1.0, scores, scores))[1]
    assert slow["identical"] and not slow["keep"]
    wrong = rows_of(path, _measured(2.0, 1.0, scores, scores + 0.1))[1]
    assert wrong["cert_diff"] == pytest.approx(0.1, rel=1e-4) and not wrong["equal"] and not wrong["keep"]
    assert verdicts([fast]) == ["certify none: keep compile (1.50x eager, equal within float tolerance)"]
    assert "below 1.3x" in verdicts([slow])[0] and "beyond float tolerance" in verdicts([wrong])[0]


def test_variants_and_sizes_are_checked():
    assert compile_options("fused-adam", "default") is None
    assert compile_options("compile+freezing", "reduce-overhead") == {"dynamic": False, "options": {"freezing": True}}
    with pytest.raises(ValueError, match="unknown compile paths or variants"):
        run_compile_bench(["none"], ["jit"], (32, 32), 32, 2, repeats=1)
    with pytest.raises(ValueError, match="cannot certify"):
        BenchPlan(parts=["compile"], compile_n=8).check()
    BenchPlan(parts=["compile"], compile_paths=["train"], compile_n=8).check()  # training only: n is unused
