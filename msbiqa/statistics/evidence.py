"""Tables of evidence from per-image certificate rows: every statistic with its bootstrap intervals.

Input: the rows of `msbiqa.experiments.certification.certify_dataset` (one per sigma, defence, image: mos, score,
delta, certified, ...). Per group (e.g. sigma x defence) the statistics are

* srocc, plcc, krocc: agreement of the (defended) score with MOS, **sign-corrected** so that higher always
  means agrees with MOS (a lower-is-better metric's scores are negated first); plcc after the 4-parameter
  logistic fit, which is fitted once on all images of the group and held fixed in the resamples (a refit
  per resample costs ~100x more; the interval then leaves out the fit's own variability);
* mean_delta: mean certified delta = max(upper - median, median - lower) over the certified images;
* norm_delta: mean_delta / the across-image SD of the defended scores of the same images (scale-free: a
  defence that compresses scores across images cannot lower it by compressing; `docs/fair_test_rules.md` 6);
* fidelity_srocc, fidelity_plcc: label-free agreement of the defended score with the undefended base score
  of the same image (plcc linear: the ideal defended score equals the base score).

Each comes with a 95 % bootstrap interval over images and, where images have reference photos (the embedded
set), one over photos (cluster bootstrap); datasets without references (KonIQ, SPAQ, CLIVE) get the image
interval only. Comparisons of two defences are paired differences on the same resamples.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from msbiqa.statistics.correlations import kendall_b, logistic_mapping, pearson, spearman
from msbiqa.statistics.uncertainty import Bootstrap, Interval, bootstrap, paired_difference

STATISTICS = ("srocc", "plcc", "krocc", "mean_delta", "norm_delta", "fidelity_srocc", "fidelity_plcc")


class GroupStatistics:
    """The vector of STATISTICS for any index array of one group's images."""

    def __init__(self, group: pd.DataFrame, higher_is_better: bool = True):
        self.score = group["score"].to_numpy(float)
        self.pred = (1.0 if higher_is_better else -1.0) * self.score
        self.mos = group["mos"].to_numpy(float)
        self.base = group["base"].to_numpy(float) if "base" in group else np.full(len(group), np.nan)
        self.delta = np.where(group["certified"].astype(bool), group["delta"].to_numpy(float), np.nan)
        self.mapped = logistic_mapping(self.pred, self.mos)

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        pred, score, mos, base, delta = self.pred[idx], self.score[idx], self.mos[idx], self.base[idx], self.delta[idx]
        mapped = self.mapped[idx]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # mean of an all-NaN delta, constant resamples
            mean_delta = np.nanmean(delta) if np.isfinite(delta).any() else np.nan
            return np.array(
                [
                    spearman(pred, mos),
                    pearson(mapped, mos),
                    kendall_b(pred, mos),
                    mean_delta,
                    normalised(mean_delta, score),
                    spearman(score, base) if np.isfinite(base).all() else np.nan,
                    pearson(score, base) if np.isfinite(base).all() else np.nan,
                ]
            )


def normalised(mean_delta: float, score: np.ndarray) -> float:
    """`mean_delta` over the across-image SD of the defended scores (NaN when they do not spread)."""
    spread = float(np.std(score, ddof=1)) if len(score) > 1 else 0.0
    return mean_delta / spread if spread > 0 else np.nan


def with_context(per_image: pd.DataFrame, dataset=None, by: Sequence[str] = ("sigma",)) -> pd.DataFrame:
    """`per_image` plus `base` (the undefended score of the same image, from the rows of defence "none" with
    the same `by` values) and `photo` (the image's reference photo, from the dataset's `table`, when it has
    one). Without "none" rows the fidelity statistics are NaN; without photos only image intervals exist."""
    out = per_image.copy()
    by = [c for c in by if c in out]
    none = out[out["defence"] == "none"][[*by, "image", "score"]].rename(columns={"score": "base"})
    out = out.merge(none, on=[*by, "image"], how="left") if len(none) else out.assign(base=np.nan)
    table = getattr(dataset, "table", None)
    if table is not None and {"name", "ref"} <= set(table.columns):
        photo = dict(zip(table["name"].astype(str), table["ref"].astype(str)))
        out["photo"] = out["image"].astype(str).map(photo)
    return out


def _photos(group: pd.DataFrame):
    if "photo" not in group or group["photo"].isna().any() or group["photo"].nunique() < 2:
        return None
    return group["photo"].to_numpy()


def interval_table(
    rows: pd.DataFrame, by: Sequence[str], *, higher_is_better: bool = True, config: Bootstrap | None = None
) -> pd.DataFrame:
    """One row per group of `by` (rows from `with_context`): images, photos, and for each statistic S the
    columns S (all images), S_lo / S_hi (image bootstrap) and S_photo_lo / S_photo_hi (photo bootstrap, NaN
    without photos); also the certified fraction, the median delta and seconds per image (when timed)."""
    out = []
    for key, group in rows.groupby(list(by), sort=False):
        group = group.reset_index(drop=True)
        stat = GroupStatistics(group, higher_is_better)
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        row["images"] = len(group)
        photos = _photos(group)
        row["photos"] = 0 if photos is None else len(set(photos))
        row.update(_intervals(stat, len(group), photos, config))
        certified = group["certified"].astype(bool)
        row["certified"] = float(certified.mean())
        row["median_delta"] = float(group.loc[certified, "delta"].median()) if certified.any() else np.nan
        if "seconds" in group:
            row["s_per_image"] = float(group["seconds"].mean())
        out.append(row)
    return pd.DataFrame(out)


def _intervals(stat, n: int, photos, config) -> dict:
    images = bootstrap(stat, n, config=config)
    return _columns(images, bootstrap(stat, n, clusters=photos, config=config) if photos is not None else None)


def _columns(images: Interval, by_photo: Interval | None) -> dict:
    """S, S_lo, S_hi, S_photo_lo, S_photo_hi for each statistic S of STATISTICS."""
    row = {}
    for k, name in enumerate(STATISTICS):
        row[name] = float(images.estimate[k])
        row[f"{name}_lo"], row[f"{name}_hi"] = float(images.low[k]), float(images.high[k])
        row[f"{name}_photo_lo"] = float(by_photo.low[k]) if by_photo else np.nan
        row[f"{name}_photo_hi"] = float(by_photo.high[k]) if by_photo else np.nan
    return row


def paired_differences(
    rows: pd.DataFrame,
    pairs: Sequence[tuple[str, str]],
    *,
    by: Sequence[str] = (),
    higher_is_better: bool = True,
    config: Bootstrap | None = None,
) -> pd.DataFrame:
    """Paired differences defence_a - defence_b of every statistic, per group of `by`, on the images both
    defences scored: one row per (group, pair) with the columns of `interval_table` (the difference and its
    intervals) and `decided` = the image and photo intervals both exclude 0 (photo only where available)."""
    out = []
    groups = rows.groupby(list(by), sort=False) if by else [((), rows)]
    for key, group in groups:
        for a, b in pairs:
            left = group[group["defence"] == a].set_index("image")
            right = group[group["defence"] == b].set_index("image")
            common = left.index.intersection(right.index)
            if len(common) < 3:
                continue
            left, right = left.loc[common].reset_index(), right.loc[common].reset_index()
            photos = _photos(left)
            row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
            row.update(comparison=f"{a} - {b}", images=len(common), photos=0 if photos is None else len(set(photos)))
            stat_a, stat_b = GroupStatistics(left, higher_is_better), GroupStatistics(right, higher_is_better)
            images = paired_difference(stat_a, stat_b, len(common), config=config)
            by_photo = (
                paired_difference(stat_a, stat_b, len(common), clusters=photos, config=config)
                if photos is not None
                else None
            )
            row.update(_columns(images, by_photo))
            row.update({f"{name}_decided": _decided(images, by_photo, k) for k, name in enumerate(STATISTICS)})
            out.append(row)
    return pd.DataFrame(out)


def _decided(images: Interval, by_photo: Interval | None, k: int) -> bool:
    intervals = [images] + ([by_photo] if by_photo is not None else [])
    return all(i.low[k] > 0 or i.high[k] < 0 for i in intervals)
