"""Evidence tables: correlations are sign-corrected, fidelity compares with the base score, photos become clusters,
paired differences decide only clear gaps, delta is also normalised, and training replicates combine into their
mean with an interval over replicates and images, decided only when every replicate agrees in sign."""

import numpy as np
import pandas as pd
import pytest

from msbiqa.report.tables import decided_text, formatted
from msbiqa.statistics.evidence import (
    STATISTICS,
    combined_differences,
    combined_table,
    interval_table,
    paired_differences,
    with_context,
)
from msbiqa.statistics.uncertainty import Bootstrap

FAST = Bootstrap(resamples=200, seed=0)


class Photos:
    """A stand-in data set whose table names each image's reference photo, as the embedded set's does."""

    def __init__(self, n, photos=4):
        self.table = pd.DataFrame({"name": [f"im{i}" for i in range(n)], "ref": [f"p{i % photos}" for i in range(n)]})


def rows(n=48, sign=1.0, seed=0):
    """Per-image rows of three defences: none (the base score), a good and a noisy defence, at one sigma."""
    rng = np.random.default_rng(seed)
    mos = rng.uniform(0, 100, n)
    base = mos + rng.normal(0, 5, n)
    scores = {"none": base, "good": base + rng.normal(0, 2, n), "noisy": base + rng.normal(0, 40, n)}
    return pd.DataFrame(
        [
            {
                "sigma": 0.1,
                "defence": d,
                "image": f"im{i}",
                "mos": mos[i],
                "score": sign * s[i],
                "delta": np.nan if d == "none" else 1.0 + i % 3,
                "certified": d != "none",
            }
            for d, s in scores.items()
            for i in range(len(mos))
        ]
    )


def test_table_has_intervals_fidelity_and_photo_clusters():
    table = interval_table(with_context(rows(), Photos(48)), ["sigma", "defence"], config=FAST).set_index("defence")
    assert list(table.index) == ["none", "good", "noisy"]
    assert (table["images"] == 48).all() and (table["photos"] == 4).all()
    assert table.loc["none", "fidelity_srocc"] == 1 and np.isnan(table.loc["none", "mean_delta"])
    assert table.loc["good", "mean_delta"] == pytest.approx(2.0) and table.loc["good", "certified"] == 1
    assert table.loc["good", "fidelity_srocc"] > table.loc["noisy", "fidelity_srocc"]
    for name in STATISTICS:
        ok = table[name].notna()
        assert (table.loc[ok, f"{name}_lo"] <= table.loc[ok, name] + 1e-12).all()
        assert (table.loc[ok, name] <= table.loc[ok, f"{name}_hi"] + 1e-12).all()
        assert table.loc[ok, f"{name}_photo_lo"].notna().all()


def test_lower_is_better_scores_are_sign_corrected():
    up = interval_table(with_context(rows()), ["defence"], config=FAST)
    down = interval_table(with_context(rows(sign=-1.0)), ["defence"], higher_is_better=False, config=FAST)
    for name in ("srocc", "plcc", "krocc", "fidelity_srocc", "fidelity_plcc"):
        np.testing.assert_allclose(down[name], up[name], atol=1e-6)
    assert (down["srocc"] > 0.5).all()
    raw = interval_table(with_context(rows(sign=-1.0)), ["defence"], config=FAST)  # the mistake this prevents
    assert (raw["srocc"] < -0.5).all()


def test_without_reference_photos_only_image_intervals():
    table = interval_table(with_context(rows()), ["defence"], config=FAST)
    assert (table["photos"] == 0).all() and table["srocc_photo_lo"].isna().all() and table["srocc_lo"].notna().all()
    text = formatted(table, ["srocc"], ["defence"])["SROCC"].iloc[0]
    assert text.count("[") == 1 and "{" not in text


def test_paired_differences_decide_only_clear_gaps():
    ctx = with_context(rows(), Photos(48))
    pairs = [("good", "noisy"), ("good", "good"), ("good", "none")]
    diff = paired_differences(ctx, pairs, by=["sigma"], config=FAST).set_index("comparison")
    assert diff.loc["good - noisy", "srocc"] > 0 and diff.loc["good - noisy", "srocc_decided"]
    assert diff.loc["good - noisy", "fidelity_srocc_decided"]
    same = diff.loc["good - good"]
    assert all(same[c] == 0 for c in ("srocc", "srocc_lo", "srocc_hi", "srocc_photo_lo", "srocc_photo_hi"))
    assert not same["srocc_decided"] and not diff.loc["good - none", "mean_delta_decided"]  # NaN: nothing to decide
    cell = formatted(diff.reset_index(), ["srocc"], ["comparison"])["SROCC"].iloc[0]
    assert cell.count("[") == 1 and cell.count("{") == 1
    text = dict(zip(diff.index, decided_text(diff)))
    assert text["good - good"] == "no, no" and text["good - noisy"].startswith("yes, ")


def test_certificate_statistics_count_certified_images_only():
    table = rows()
    noisy = table["defence"] == "noisy"
    table.loc[noisy & (table["image"].str[2:].astype(int) % 2 == 1), ["certified", "delta"]] = [False, np.nan]
    out = interval_table(with_context(table), ["defence"], config=FAST).set_index("defence")
    assert out.loc["noisy", "certified"] == 0.5 and out.loc["good", "certified"] == 1
    certified = table[noisy & table["certified"]]
    assert out.loc["noisy", "mean_delta"] == pytest.approx(certified["delta"].mean())
    assert out.loc["noisy", "median_delta"] == pytest.approx(certified["delta"].median())


def test_normalised_delta_is_mean_delta_over_the_score_spread_and_scale_free():
    table = pd.DataFrame(
        {
            "defence": "ms",
            "image": [f"im{i}" for i in range(4)],
            "mos": [10.0, 20.0, 30.0, 40.0],
            "score": [1.0, 2.0, 3.0, 4.0],
            "delta": [0.5, 1.5, np.nan, 1.0],
            "certified": [True, True, False, True],
        }
    )
    spread = np.std([1.0, 2.0, 3.0, 4.0], ddof=1)  # every image's score, certified or not
    out = interval_table(with_context(table), ["defence"], config=FAST)
    assert out["norm_delta"].item() == pytest.approx(1.0 / spread)
    assert out["norm_delta_lo"].item() <= out["norm_delta"].item() <= out["norm_delta_hi"].item()
    scaled = table.assign(score=10 * table["score"], delta=10 * table["delta"])
    again = interval_table(with_context(scaled), ["defence"], config=FAST)
    assert again["mean_delta"].item() == pytest.approx(10 * out["mean_delta"].item())
    for column in ("norm_delta", "norm_delta_lo", "norm_delta_hi"):
        assert again[column].item() == pytest.approx(out[column].item())


def test_compressed_scores_do_not_lower_the_normalised_delta():
    ctx = with_context(rows())
    before = interval_table(ctx, ["defence"], config=FAST).set_index("defence")
    squeezed = ctx["defence"] == "noisy"  # a defence that shrinks every score (and so its delta) fourfold
    ctx.loc[squeezed, ["score", "delta"]] = ctx.loc[squeezed, ["score", "delta"]] / 4
    after = interval_table(ctx, ["defence"], config=FAST).set_index("defence")
    assert after.loc["noisy", "mean_delta"] == pytest.approx(before.loc["noisy", "mean_delta"] / 4)
    assert after.loc["noisy", "norm_delta"] == pytest.approx(before.loc["noisy", "norm_delta"])
    diff = paired_differences(ctx, [("noisy", "good")], config=FAST).iloc[0]
    assert diff["norm_delta"] == pytest.approx(after.loc["noisy", "norm_delta"] - after.loc["good", "norm_delta"])
    assert diff["norm_delta_lo"] <= diff["norm_delta"] <= diff["norm_delta_hi"]


def replicates(count=3, seed=0):
    """Rows of `count` training replicates: "none" and "good" shared (no training), "noisy" retrained per seed."""
    shared = rows(seed=seed)
    out = []
    for r in range(count):
        own = rows(seed=seed + 1 + r)
        part = shared.copy()
        noisy = part["defence"] == "noisy"
        part.loc[noisy, "score"] = own.loc[own["defence"] == "noisy", "score"].to_numpy()
        out.append(with_context(part, Photos(48)).assign(replicate=f"seed{r}"))
    return pd.concat(out, ignore_index=True)


def test_combined_table_is_the_mean_over_replicates_on_common_images():
    ctx = replicates()
    per = interval_table(ctx, ["replicate", "defence"], config=FAST)
    combined = combined_table(ctx, ["defence"], config=FAST).set_index("defence")
    assert (combined["replicates"] == 3).all() and (combined["photos"] == 4).all()
    for name in ("srocc", "norm_delta", "fidelity_srocc"):
        means = per.groupby("defence")[name].mean()
        np.testing.assert_allclose(combined.loc[means.index, name], means, atol=1e-12)
        ok = combined[name].notna()
        assert (combined.loc[ok, f"{name}_lo"] <= combined.loc[ok, name]).all()
        assert (combined.loc[ok, f"{name}_photo_hi"] >= combined.loc[ok, name]).all()
    good = per[per["defence"] == "good"].iloc[0]  # identical in every replicate: no training spread to add
    assert combined.loc["good", "srocc_hi"] - combined.loc["good", "srocc_lo"] == pytest.approx(
        good["srocc_hi"] - good["srocc_lo"], rel=0.3
    )
    fewer = ctx[~((ctx["replicate"] == "seed1") & (ctx["image"] == "im0"))]
    assert (combined_table(fewer, ["defence"], config=FAST)["images"] == 47).all()


def disagreeing(count: int, last_sign: float) -> pd.DataFrame:
    """Replicates where defence a follows MOS better than b, but for the last, whose difference has `last_sign`."""
    rng = np.random.default_rng(7)
    mos = rng.uniform(0, 100, 60)
    out = []
    for r in range(count):
        b = mos + rng.normal(0, 30, 60)
        a = mos + rng.normal(0, 5, 60) if r < count - 1 else _one_swap(b, mos, last_sign)
        for d, s in (("a", a), ("b", b)):
            out.append(
                pd.DataFrame({"defence": d, "image": [f"im{i}" for i in range(60)], "mos": mos, "score": s}).assign(
                    delta=1.0, certified=True, replicate=f"seed{r}"
                )
            )
    return with_context(pd.concat(out, ignore_index=True))


def _one_swap(b: np.ndarray, mos: np.ndarray, sign: float) -> np.ndarray:
    """b with the scores of two images of neighbouring rank swapped: an SROCC a hair above (sign > 0, the pair was
    misordered against MOS) or below (sign < 0) b's."""
    order = np.argsort(b)
    for i, j in zip(order[:-1], order[1:]):
        if np.sign(mos[j] - mos[i]) == -np.sign(sign):
            a = b.copy()
            a[[i, j]] = a[[j, i]]
            return a
    raise AssertionError("no such pair")


def test_combined_difference_is_decided_only_when_every_replicate_agrees():
    against = combined_differences(disagreeing(8, -1.0), [("a", "b")], config=FAST).iloc[0]
    per = paired_differences(disagreeing(8, -1.0), [("a", "b")], by=["replicate"], config=FAST)
    assert (per["srocc"].iloc[:-1] > 0.1).all() and -0.01 < per["srocc"].iloc[-1] < 0  # one seed disagrees
    assert against["srocc"] == pytest.approx(per["srocc"].mean())
    assert against["srocc_lo"] > 0 and not against["srocc_decided"]  # the combined interval alone would decide
    agree = combined_differences(disagreeing(8, 1.0), [("a", "b")], config=FAST).iloc[0]
    assert agree["srocc_lo"] > 0 and agree["srocc_decided"] and agree["replicates"] == 8
