"""Agreement of predicted scores with MOS (SROCC, KROCC, PLCC), and resumable scoring of a dataset.

PLCC is reported after the usual 4-parameter logistic mapping of predictions to the MOS scale
(VQEG; f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2) and also raw (linear). The logistic may be
decreasing, so the fitted PLCC is positive for a lower-is-better metric too; SROCC, KROCC and the raw
PLCC keep the sign.
"""

from __future__ import annotations

import csv
import numbers
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import optimize, stats
from tqdm.auto import tqdm


def _pair(pred, mos) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    mos = np.asarray(mos, dtype=np.float64).reshape(-1)
    if pred.shape != mos.shape:
        raise ValueError(f"pred has {pred.size} values but mos has {mos.size}")
    if pred.size < 3:
        raise ValueError(f"correlations need at least 3 images, got {pred.size}")
    if not (np.isfinite(pred).all() and np.isfinite(mos).all()):
        raise ValueError("pred and mos must be finite (drop NaN/inf rows first)")
    return pred, mos


def srocc(pred, mos) -> float:
    """Spearman rank-order correlation (scipy.stats.spearmanr)."""
    return float(stats.spearmanr(*_pair(pred, mos)).statistic)


def krocc(pred, mos) -> float:
    """Kendall rank-order correlation, tau-b (scipy.stats.kendalltau)."""
    return float(stats.kendalltau(*_pair(pred, mos)).statistic)


def plcc(pred, mos) -> float:
    """Pearson linear correlation of the raw predictions (scipy.stats.pearsonr)."""
    return float(stats.pearsonr(*_pair(pred, mos)).statistic)


def logistic4(x, b1: float, b2: float, b3: float, b4: float):
    """The 4-parameter logistic: b2 at x -> -inf, b1 at x -> +inf, midpoint b3, slope scale |b4|."""
    return (b1 - b2) / (1.0 + np.exp(-(x - b3) / np.abs(b4))) + b2


def fit_logistic(pred, mos) -> np.ndarray:
    """Least-squares parameters (b1, b2, b3, b4) of logistic4 mapping pred to mos.

    Initial guess: the MOS extremes as asymptotes (swapped when pred and MOS rank in opposite order),
    the median prediction as midpoint and the prediction spread as slope scale.
    """
    pred, mos = _pair(pred, mos)
    hi, lo = mos.max(), mos.min()
    if stats.spearmanr(pred, mos).statistic < 0:
        hi, lo = lo, hi
    spread = np.std(pred) or 1.0
    p0 = [hi, lo, float(np.median(pred)), spread]
    params, _ = optimize.curve_fit(logistic4, pred, mos, p0=p0, maxfev=20000)
    return params


def plcc_logistic(pred, mos) -> float:
    """PLCC after the 4-parameter logistic fit; falls back to raw PLCC, with a warning, if the fit fails."""
    pred, mos = _pair(pred, mos)
    try:
        if pred.size <= 4:
            raise ValueError(f"{pred.size} points cannot determine 4 logistic parameters")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optimize.OptimizeWarning)  # no covariance: irrelevant here
            fitted = logistic4(pred, *fit_logistic(pred, mos))
        if not np.isfinite(fitted).all() or np.ptp(fitted) == 0:
            raise RuntimeError("degenerate fit")
    except (RuntimeError, ValueError) as err:
        warnings.warn(f"logistic fit failed ({err}); reporting the raw PLCC instead", RuntimeWarning, stacklevel=2)
        return plcc(pred, mos)
    return float(stats.pearsonr(fitted, mos).statistic)


def correlations(pred, mos) -> dict[str, float]:
    """{"srocc", "plcc" (after the logistic fit), "plcc_raw", "krocc"} of predictions against MOS."""
    return {
        "srocc": srocc(pred, mos),
        "plcc": plcc_logistic(pred, mos),
        "plcc_raw": plcc(pred, mos),
        "krocc": krocc(pred, mos),
    }


def _scalar(value):
    """A CSV-writable scalar from a number, one-element tensor/array, string, bool or None."""
    if isinstance(value, torch.Tensor | np.ndarray | np.generic):
        size = value.numel() if isinstance(value, torch.Tensor) else value.size
        if size != 1:
            raise TypeError(f"score values must be scalars, got an array of shape {tuple(value.shape)}")
        value = value.item()
    if value is None or isinstance(value, str | bool | numbers.Real):
        return value
    raise TypeError(f"score values must be numbers (or str/None), got {type(value).__name__}")


def _score_row(result) -> dict:
    if isinstance(result, Mapping):
        if not result:
            raise ValueError("score_fn returned an empty dict")
        return {str(k): _scalar(v) for k, v in result.items()}
    return {"score": _scalar(result)}


def score_dataset(
    score_fn: Callable[[torch.Tensor], float | Mapping[str, float]],
    dataset,
    out_csv: str | Path,
    *,
    progress: bool = True,
    extra_columns: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """Score every image of `dataset` with `score_fn` into `out_csv`, resuming an interrupted run.

    Rows are `name, mos, *extra_columns, *score columns` (a float result gives one column "score", a
    dict one column per key), written and flushed one image at a time. Images whose name is already in
    `out_csv` are skipped without being loaded or scored. `extra_columns` are constants written on every
    row (e.g. metric name, sigma); resuming with other columns or other constants is an error, as is a
    file holding images that are not in `dataset`. Returns all rows, in dataset order.
    """
    out_csv = Path(out_csv)
    extra = {str(k): _scalar(v) for k, v in (extra_columns or {}).items()}
    names = list(dataset.names)
    if len(set(names)) != len(names):
        raise ValueError("dataset names must be unique to resume by name")
    header, done = _existing(out_csv, extra, set(names))
    todo = [i for i, n in enumerate(names) if n not in done]
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(out_csv, "a", newline="") as f,
        tqdm(
            total=len(names),
            initial=len(names) - len(todo),
            desc=f"scoring {out_csv.name}",
            unit="img",
            disable=not progress,
        ) as bar,
    ):
        writer = csv.writer(f)
        for i in todo:
            image, mos, name = dataset[i]
            scores = _score_row(score_fn(image))
            row = {"name": name, "mos": mos, **extra, **scores}
            if header is None:
                clash = set(scores) & {"name", "mos", *extra}
                if clash:
                    raise ValueError(f"score_fn returned reserved column name(s) {sorted(clash)}")
                header = list(row)
                writer.writerow(header)
            elif list(row) != header:
                raise ValueError(
                    f"{out_csv} has columns {header} but this run writes {list(row)}; "
                    "use another out_csv (or delete the file) to score with different outputs"
                )
            writer.writerow(row.values())  # csv writes None as "" and floats with full precision
            f.flush()
            bar.update(1)
    table = pd.read_csv(out_csv, dtype={"name": str})
    order = {n: k for k, n in enumerate(names)}
    return table.sort_values("name", key=lambda s: s.map(order)).reset_index(drop=True)


def _existing(out_csv: Path, extra: dict, names: set[str]) -> tuple[list[str] | None, set[str]]:
    """Header and finished names of a previous run (None, empty set if none); checks it fits this run."""
    if not out_csv.is_file() or out_csv.stat().st_size == 0:
        return None, set()
    text = out_csv.read_text()
    if not text.endswith("\n"):  # killed in the middle of a row: drop the partial row
        text = text[: text.rfind("\n") + 1]
        out_csv.write_text(text)
    if not text:
        return None, set()
    table = pd.read_csv(out_csv, dtype=str, keep_default_na=False)
    header = list(table.columns)
    expected = ["name", "mos", *extra]
    if header[: len(expected)] != expected:
        raise ValueError(
            f"{out_csv} has columns {header}, expected it to start with {expected}; "
            "use another out_csv (or delete the file)"
        )
    for column, value in extra.items():
        written = set(table[column])
        if written - {"" if value is None else str(value)}:
            raise ValueError(f"{out_csv} was written with {column}={sorted(written)}, this run has {column}={value!r}")
    unknown = set(table["name"]) - names
    if unknown:
        raise ValueError(f"{out_csv} holds {len(unknown)} images not in this dataset (e.g. {min(unknown)})")
    return header, set(table["name"])
