"""The certificate check runs end to end, counts violations correctly on constructed cases, and on a score
whose worst-case attack is known it violates no more often than alpha allows; `msbiqa attack`."""

import numpy as np
import pandas as pd
import pytest
import torch
from support import Blur, TinyConv

from msbiqa.experiments import certificate_check as certificate_check_module
from msbiqa.experiments.certificate_check import certificate_check, median_interval, summarize_check, violations
from msbiqa.smoothing.defended import DefendedMetric


def test_violation_counting_on_constructed_cases():
    lower, upper = np.array([1, 1, 1, 1, 1.0]), np.array([2, 2, 2, 2, 2.0])
    median = np.array([1.5, 2.1, 2.1, 0.5, 0.9])
    lo = np.array([1.4, 1.9, 2.05, 0.4, 0.8])
    hi = np.array([1.6, 2.2, 2.3, 0.6, 1.1])
    point, confirmed = violations(lower, upper, median, lo, hi)
    assert point.tolist() == [False, True, True, True, True]
    assert confirmed.tolist() == [False, False, True, True, False]

    table = pd.DataFrame(
        {
            "image": [0, 0, 1, 1, 2],
            "point_violation": point,
            "confirmed_violation": confirmed,
            "base_change": [3.0, -4, 1, -1, 0],
            "defended_change": [0.1, -0.2, 0, 0, 0.1],
            "delta": [0.5] * 5,
        }
    )
    s = summarize_check(table, alpha=0.01, beta=0.015)
    assert (s["rows"], s["images"], s["confirmed_violations"], s["point_violations"]) == (5, 3, 2, 4)
    assert s["confirmed_rate"] == pytest.approx(0.4) and s["allowed_rate"] == pytest.approx(0.05)
    assert s["expected_count_max"] == pytest.approx(0.25) and s["p_value_bound"] == pytest.approx(0.125)
    assert not s["exceeds_allowed"]
    assert s["mean_abs_base_change"] == pytest.approx(1.8) and s["base_change_exceeds_delta_rate"] == 0.8


def test_median_interval_is_the_binomial_median_interval():
    scores = torch.arange(100.0).flip(0)  # order must not matter
    median, lo, hi = median_interval(scores, 0.05)
    assert median == 49.5
    # P[Bin(100, 1/2) <= 41] = 0.044 <= 0.05 < P[<= 42] = 0.067: 1-based ranks 42 and 59
    assert (lo, hi) == (41.0, 58.0)


def test_certificate_check_end_to_end():
    imgs = [torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    metric = TinyConv().eval()
    table, summary = certificate_check(
        DefendedMetric(metric, 0.25, Blur().eval()),
        imgs,
        eps=0.1,
        n=100,
        alpha=0.05,
        steps=3,
        eot_samples=2,
        names=["a", "b", "c"],
        progress=False,
    )
    assert len(table) == 6 and table["image"].tolist() == ["a", "a", "b", "b", "c", "c"]
    assert table["direction"].tolist() == ["up", "down"] * 3
    assert np.all(table[["eot_norm", "base_norm"]].to_numpy() <= 0.1 + 1e-6)
    assert np.all(table["lower"] <= table["median"]) and np.all(table["median"] <= table["upper"])
    assert np.all(table["adv_median_lo"] <= table["adv_median"]) and np.all(
        table["adv_median"] <= table["adv_median_hi"]
    )
    assert np.all(table["point_violation"] | ~table["confirmed_violation"])  # confirmed implies point
    up, down = table[table.direction == "up"], table[table.direction == "down"]
    assert np.all(up["base_change"] > 0) and np.all(down["base_change"] < 0)
    assert summary["rows"] == 6 and summary["n"] == 100 and summary["beta"] == 0.05
    assert np.isfinite(summary["mean_abs_base_change"]) and summary["denoiser"] == "Blur"
    with pytest.raises(ValueError, match="raise n"):
        certificate_check(DefendedMetric(metric, 0.1), imgs, eps=0.3, n=20, alpha=0.001, progress=False)


def test_worst_case_attack_violates_no_more_than_alpha_allows():
    """f = 3 + 10 * pixel0: EOT-PGD puts all of eps on pixel 0, so the true median at x + delta equals the
    certified percentile q_hi exactly (the worst case). Confirmed violations stay within 2 (alpha + beta);
    the noisy point estimate crosses the bound far more often, which is why it is not the test."""
    alpha, trials = 0.05, 150
    metric = lambda x: 3.0 + 10.0 * x[:, 0, 0, 0]  # noqa: E731
    imgs = torch.full((trials, 3, 2, 2), 0.5)
    table, s = certificate_check(
        DefendedMetric(metric, 0.12), imgs, eps=0.06, n=60, alpha=alpha, steps=4, eot_samples=4, progress=False
    )
    up = table[table.direction == "up"]
    assert np.allclose(up["eot_norm"], 0.06, rtol=1e-4)
    assert np.allclose(up["base_change"], 0.6, rtol=1e-4)  # 10 * eps: the undefended metric moves freely
    slack = 3.5 * np.sqrt(s["allowed_rate"] * (1 - s["allowed_rate"]) / s["rows"])
    assert s["confirmed_rate"] <= s["allowed_rate"] + slack
    assert s["point_violations"] > s["confirmed_violations"]


def test_attacks_beyond_the_certified_radius_are_flagged():
    """The same score attacked at 4 eps: the median really leaves the certified interval, and the check says so."""
    metric = lambda x: 3.0 + 10.0 * x[:, 0, 0, 0]  # noqa: E731
    imgs = torch.full((6, 3, 2, 2), 0.5)
    table, s = certificate_check(
        DefendedMetric(metric, 0.12),
        imgs,
        eps=0.05,
        attack_eps=0.2,
        n=100,
        alpha=0.01,
        steps=4,
        eot_samples=4,
        progress=False,
    )
    assert table["confirmed_violation"].all() and s["confirmed_violations"] == 12
    assert s["exceeds_allowed"] and s["p_value_bound"] == pytest.approx(12 * 0.04 / 12)
    assert s["attack_eps"] == 0.2 and s["eps"] == 0.05


def test_attack_command_json_and_csv(tmp_path, capsys):
    """`msbiqa attack` on the bundled photo with an untrained TinyIQA and a small U-Net written to files."""
    import json

    from msbiqa.cli import main
    from msbiqa.data.images import sample_photo_path
    from msbiqa.models.denoisers import build_denoiser, save_denoiser
    from msbiqa.models.metrics.learned import checkpoint
    from msbiqa.models.metrics.tinyiqa import TinyIQANet

    torch.manual_seed(0)
    torch.save(checkpoint(TinyIQANet(), {}), tmp_path / "metric.pt")
    save_denoiser(build_denoiser("unet", depth=1, width=4), tmp_path / "den.pt", {"sigma": 0.12})
    rc = main(
        [
            "attack",
            str(sample_photo_path()),
            "--weights",
            str(tmp_path / "metric.pt"),
            "--denoiser",
            str(tmp_path / "den.pt"),
            "--n",
            "40",
            "--eps",
            "0.02",
            "--alpha",
            "0.05",
            "--steps",
            "2",
            "--eot-samples",
            "2",
            "--device",
            "cpu",
            "--json",
            "--out",
            str(tmp_path / "t.csv"),
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert rc == 0 and summary["rows"] == 2 and summary["metric"] == "tinyiqa" and summary["n"] == 40
    table = pd.read_csv(tmp_path / "t.csv")
    assert table["direction"].tolist() == ["up", "down"] and np.all(table["eot_norm"] <= 0.02 + 1e-6)
    assert main(["attack", str(sample_photo_path()), "--n", "5", "--eps", "0.1"]) == 2
    assert "raise n to at least" in capsys.readouterr().err


def test_a_killed_check_resumes_from_its_rows(tmp_path, monkeypatch):
    imgs = [torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    defended = DefendedMetric(TinyConv().eval(), 0.25)
    kw = dict(eps=0.1, n=60, alpha=0.05, steps=2, eot_samples=2, names=["a", "b", "c"], progress=False)
    full, _ = certificate_check(defended, imgs, **kw)
    out = tmp_path / "check" / "rows.csv"  # a missing folder is created before any work
    calls = []
    real = certificate_check_module._check_one

    def killed_after_two(*args, **kwargs):
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(certificate_check_module, "_check_one", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        certificate_check(defended, imgs, out_csv=out, **kw)
    monkeypatch.setattr(certificate_check_module, "_check_one", real)
    assert len(pd.read_csv(out)) == 4
    resumed, summary = certificate_check(defended, imgs, out_csv=out, **kw)
    assert resumed["image"].tolist() == ["a", "a", "b", "b", "c", "c"] and summary["rows"] == 6
    columns = ["median", "lower", "upper", "adv_median", "base_change"]
    np.testing.assert_allclose(resumed[columns].to_numpy(float), full[columns].to_numpy(float), rtol=1e-6)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match="cannot write results"):
        certificate_check(defended, imgs, out_csv=blocker / "rows.csv", **kw)


def test_a_bad_beta_is_named_beta(capsys):
    from msbiqa.cli import main

    assert main(["attack", "--beta", "2"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (  # after the cost estimate
        "msbiqa attack: error: beta must be in (0, 0.5) (e.g. 0.001 for 99.9% confidence), got 2.0"
    )
