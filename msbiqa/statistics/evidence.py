"""Tables of evidence from per-image certificate rows: every statistic with its bootstrap intervals.

Input: the rows of `msbiqa.experiments.comparison.certify_dataset` (one per sigma, defence, image: mos, score,
delta, certified, ...). Per group (e.g. sigma x defence) the statistics are

* srocc, plcc, krocc: agreement of the (defended) score with MOS, **sign-corrected** so that higher always
  means agrees with MOS (a lower-is-better metric's scores are negated first); plcc after the 4-parameter
  logistic fit, which is fitted once on all images of the group and held fixed in the resamples (a refit
  per resample costs ~100x more; the interval then leaves out the fit's own variability);
* mean_delta: mean certified delta = max(upper - median, median - lower) over the certified images;
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

from msbiqa.report import tables
from msbiqa.report.correlations import logistic_mapped
from msbiqa.report.uncertainty import Bootstrap, Interval, bootstrap, paired_difference

STATISTICS = ("srocc", "plcc", "krocc", "mean_delta", "fidelity_srocc", "fidelity_plcc")
LABELS = {
    "srocc": "SROCC",
    "plcc": "PLCC",
    "krocc": "KROCC",
    "mean_delta": "mean delta",
    "fidelity_srocc": "fidelity SROCC",
    "fidelity_plcc": "fidelity PLCC",
}
INTERVAL_NOTE = (
    "95 % bootstrap intervals: [ ] over images, { } over reference photos (cluster bootstrap: all images of a "
    "photo move together; only where the data set has reference photos)"
)
SIGN_NOTE = (
    f"{tables.SIGN_NOTE}; fidelity = agreement of the defended score with the undefended base score (label-free, "
    "PLCC linear)"
)


def average_ranks(a: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their average rank (as scipy.stats.rankdata), without its overhead."""
    order = np.argsort(a, kind="stable")
    ordered = a[order]
    new = np.empty(len(a), bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    starts = np.flatnonzero(np.append(new, True))
    ranks = np.empty(len(a))
    ranks[order] = ((starts[:-1] + starts[1:] + 1) / 2.0)[np.cumsum(new) - 1]
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho with average ranks for ties (as scipy.stats.spearmanr)."""
    return pearson(average_ranks(x), average_ranks(y))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r; NaN when either input is constant."""
    x, y = x - x.mean(), y - y.mean()
    denom = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / denom) if denom > 0 else float("nan")


def kendall_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b (as scipy.stats.kendalltau) by counting pairs: O(n^2) memory, but fast for the few
    hundred images of one table cell, where scipy's overhead dominates."""
    dx, dy = x[:, None] - x[None, :], y[:, None] - y[None, :]
    both = dx * dy
    denom = np.sqrt(np.count_nonzero(dx) * np.count_nonzero(dy))
    return float((np.count_nonzero(both > 0) - np.count_nonzero(both < 0)) / denom) if denom > 0 else float("nan")


def logistic_mapping(pred: np.ndarray, mos: np.ndarray) -> np.ndarray:
    """pred through the 4-parameter logistic fitted to mos (`correlations.logistic_mapped`); pred itself, i.e.
    the raw PLCC, where the fit fails or there are too few (or non-finite) values."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return logistic_mapped(pred, mos)[0]
    except ValueError:
        return pred


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
            return np.array(
                [
                    spearman(pred, mos),
                    pearson(mapped, mos),
                    kendall_b(pred, mos),
                    np.nanmean(delta) if np.isfinite(delta).any() else np.nan,
                    spearman(score, base) if np.isfinite(base).all() else np.nan,
                    pearson(score, base) if np.isfinite(base).all() else np.nan,
                ]
            )


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


def formatted(table: pd.DataFrame, statistics: Sequence[str], keep: Sequence[str], digits: int = 3) -> pd.DataFrame:
    """A display copy of an interval table: the `keep` columns, then one text column per statistic,
    'value [image interval] {photo interval}' (the photo part only where it exists)."""
    out = table[list(keep)].copy()
    for name in statistics:
        out[LABELS.get(name, name)] = [_cell(row, name, digits) for _, row in table.iterrows()]
    return out


def decided_text(table: pd.DataFrame) -> list[str]:
    """'yes, no' per row of a paired-difference table: whether its SROCC and its PLCC difference are decided
    (intervals exclude 0), the column tables show as 'decided (SROCC, PLCC)'."""
    return [
        f"{'yes' if a else 'no'}, {'yes' if b else 'no'}" for a, b in zip(table["srocc_decided"], table["plcc_decided"])
    ]


def _cell(row, name: str, digits: int) -> str:
    value = row[name]
    if not np.isfinite(value):
        return "–"
    f = f"{{:.{digits}f}}"
    text = f"{f.format(value)} [{f.format(row[f'{name}_lo'])}, {f.format(row[f'{name}_hi'])}]"
    lo, hi = row.get(f"{name}_photo_lo", np.nan), row.get(f"{name}_photo_hi", np.nan)
    if np.isfinite(lo) and np.isfinite(hi):
        text += f" {{{f.format(lo)}, {f.format(hi)}}}"
    return text
