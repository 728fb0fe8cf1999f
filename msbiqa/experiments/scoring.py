"""Score every image of a dataset with any function into a CSV, one row per image, resuming an interrupted run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from msbiqa.experiments.resumable import ResultsFile, csv_scalar


def _score_row(result) -> dict:
    if isinstance(result, Mapping):
        if not result:
            raise ValueError("score_fn returned an empty dict")
        return {str(k): csv_scalar(v) for k, v in result.items()}
    return {"score": csv_scalar(result)}


def score_dataset(
    score_fn: Callable[[torch.Tensor], float | Mapping[str, float]],
    dataset,
    out_csv: str | Path,
    *,
    progress: bool = True,
    extra_columns: Mapping[str, object] | None = None,
) -> pd.DataFrame:
    """Score every image of `dataset` with `score_fn` into `out_csv`, resuming an interrupted run.

    Rows are `name, mos, *extra_columns, *score columns` (a float result gives one column "score", a dict one
    column per key), written and flushed one image at a time. Images whose name is already in `out_csv` are
    skipped without being loaded or scored. `extra_columns` are constants written on every row (e.g. metric
    name, sigma); resuming with other columns or other constants is an error, as is a file holding images
    that are not in `dataset`. Returns all rows, in dataset order.
    """
    names = list(dataset.names)
    if len(set(names)) != len(names):
        raise ValueError("dataset names must be unique to resume by name")
    with ResultsFile(out_csv, ["name"], extra_columns, strict=True) as results:
        unknown = {name for (name,) in results.finished} - set(names)
        if unknown:
            raise ValueError(f"{out_csv} holds {len(unknown)} images not in this dataset (e.g. {min(unknown)})")
        todo = [i for i, name in enumerate(names) if not results.is_done([name])]
        bar = tqdm(
            total=len(names),
            initial=len(names) - len(todo),
            desc=f"scoring {Path(out_csv).name}",
            unit="img",
            disable=not progress,
        )
        with bar:
            for i in todo:
                image, mos, name = dataset[i]
                scores = _score_row(score_fn(image))
                clash = set(scores) & {"name", "mos", *results.constants}
                if clash:
                    raise ValueError(f"score_fn returned reserved column name(s) {sorted(clash)}")
                results.append({"name": name, "mos": mos, **results.constants, **scores})
                bar.update(1)
        table = results.table(dtype={"name": str})
    order = {n: k for k, n in enumerate(names)}
    return table.sort_values("name", key=lambda s: s.map(order)).reset_index(drop=True)
