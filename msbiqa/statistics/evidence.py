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

Rows of several training replicates (a `replicate` column: one trained denoiser per seed) are summarised per
replicate by adding "replicate" to the groups, and across replicates by `combined_table` and
`combined_differences`: the mean over replicates with a two-level interval (replicates, then images or photos:
`msbiqa.statistics.uncertainty.replicate_bootstrap`); a combined difference is decided only when every
replicate's difference has the same sign and the combined intervals exclude 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import partial

import numpy as np
import pandas as pd

from msbiqa.statistics.correlations import kendall_b, logistic_mapping, pearson, spearman
from msbiqa.statistics.uncertainty import Bootstrap, Interval, bootstrap, difference, replicate_bootstrap

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
        row = {**_keys(by, key), **_sizes(group)}
        row.update(_columns(*_both(partial(bootstrap, stat, len(group), config=config), _photos(group))))
        row.update(_extras(group))
        out.append(row)
    return pd.DataFrame(out)


def combined_table(
    rows: pd.DataFrame, by: Sequence[str], *, higher_is_better: bool = True, config: Bootstrap | None = None
) -> pd.DataFrame:
    """`interval_table` over training replicates (rows with a `replicate` column, e.g. one denoiser per training
    seed): per group of `by`, on the images every replicate certified, each statistic S is the mean over
    replicates, S_lo / S_hi its two-level interval over replicates and images and S_photo_lo / S_photo_hi over
    replicates and photos (`replicate_bootstrap`); `replicates` counts them, the other columns are their means."""
    out = []
    for key, group in rows.groupby(list(by), sort=False):
        parts = _aligned([part for _, part in group.groupby("replicate", sort=False)])
        stats = [GroupStatistics(part, higher_is_better) for part in parts]
        row = {**_keys(by, key), "replicates": len(parts), **_sizes(parts[0])}
        interval = partial(replicate_bootstrap, stats, len(parts[0]), config=config)
        row.update(_columns(*_both(interval, _photos(parts[0]))))
        row.update(pd.DataFrame([_extras(part) for part in parts]).mean().to_dict())
        out.append(row)
    return pd.DataFrame(out)


def _keys(by: Sequence[str], key) -> dict:
    return dict(zip(by, key if isinstance(key, tuple) else (key,)))


def _sizes(group: pd.DataFrame) -> dict:
    photos = _photos(group)
    return {"images": len(group), "photos": 0 if photos is None else len(set(photos))}


def _extras(group: pd.DataFrame) -> dict:
    """The certified fraction, the median certified delta and the mean seconds per image (when timed)."""
    certified = group["certified"].astype(bool)
    row = {"certified": float(certified.mean())}
    row["median_delta"] = float(group.loc[certified, "delta"].median()) if certified.any() else np.nan
    if "seconds" in group:
        row["s_per_image"] = float(group["seconds"].mean())
    return row


def _aligned(frames: Sequence[pd.DataFrame]) -> list[pd.DataFrame]:
    """The rows of the images every frame has, in the first frame's order (one row per image in each)."""
    common = frames[0]["image"]
    for frame in frames[1:]:
        common = common[common.isin(frame["image"])]
    return [frame.set_index("image").loc[common.to_numpy()].reset_index() for frame in frames]


def _both(interval, photos) -> tuple[Interval, Interval | None]:
    """interval(clusters=None) (over images) and, given photos, interval(clusters=photos) (over photos)."""
    return interval(clusters=None), interval(clusters=photos) if photos is not None else None


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
    for key, group, a, b in _pair_groups(rows, pairs, by):
        left, right = _aligned([group[group["defence"] == d] for d in (a, b)])
        if len(left) < 3:
            continue
        diff = difference(GroupStatistics(left, higher_is_better), GroupStatistics(right, higher_is_better))
        row = {**_keys(by, key), "comparison": f"{a} - {b}", **_sizes(left)}
        out.append(_decided_row(row, partial(bootstrap, diff, len(left), config=config), _photos(left), []))
    return pd.DataFrame(out)


def combined_differences(
    rows: pd.DataFrame,
    pairs: Sequence[tuple[str, str]],
    *,
    by: Sequence[str] = (),
    higher_is_better: bool = True,
    config: Bootstrap | None = None,
) -> pd.DataFrame:
    """`paired_differences` over training replicates (column `replicate`): per replicate the paired difference on
    the images both defences and every replicate certified; each statistic is the mean over replicates with its
    two-level interval (`replicate_bootstrap` of the per-replicate differences). `decided`: every replicate's
    difference is on the same side of 0 and the combined intervals (image, and photo where available) exclude 0."""
    out = []
    for key, group, a, b in _pair_groups(rows, pairs, by):
        replicates = [part for _, part in group.groupby("replicate", sort=False)]
        frames = _aligned([part[part["defence"] == d] for part in replicates for d in (a, b)])
        if len(frames[0]) < 3:
            continue
        stats = [GroupStatistics(frame, higher_is_better) for frame in frames]
        diffs = [difference(stats[2 * r], stats[2 * r + 1]) for r in range(len(replicates))]
        points = [d(np.arange(len(frames[0]))) for d in diffs]
        row = {**_keys(by, key), "comparison": f"{a} - {b}", "replicates": len(diffs), **_sizes(frames[0])}
        interval = partial(replicate_bootstrap, diffs, len(frames[0]), config=config)
        out.append(_decided_row(row, interval, _photos(frames[0]), points))
    return pd.DataFrame(out)


def _pair_groups(rows: pd.DataFrame, pairs, by: Sequence[str]):
    """(group key, group rows, a, b) for every group of `by` and pair (a, b)."""
    groups = rows.groupby(list(by), sort=False) if by else [((), rows)]
    for key, group in groups:
        for a, b in pairs:
            yield key, group, a, b


def _decided_row(row: dict, interval, photos, points: Sequence[np.ndarray]) -> dict:
    """`row` with the difference's columns and S_decided: its intervals exclude 0 and the point differences in
    `points` (one per replicate; none for a single run) are all on the same side of 0."""
    images, by_photo = _both(interval, photos)
    row.update(_columns(images, by_photo))
    intervals = [images] + ([by_photo] if by_photo is not None else [])
    for k, name in enumerate(STATISTICS):
        excluded = all(i.low[k] > 0 or i.high[k] < 0 for i in intervals)
        row[f"{name}_decided"] = excluded and _same_side([p[k] for p in points])
    return row


def _same_side(values: Sequence[float]) -> bool:
    """Every value above 0, or every value below 0 (True for no values; NaN is on neither side)."""
    signs = set(np.sign(values).tolist())
    return signs <= {1.0} or signs <= {-1.0}
