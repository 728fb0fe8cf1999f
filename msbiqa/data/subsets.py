"""Deterministic image subsets: evenly spread picks, and (distorted, pristine) pairs of the embedded set."""

from __future__ import annotations

import numpy as np
import torch


def spread(total: int, count: int | None) -> list[int]:
    """`count` indices spread evenly over range(total) (all of them when count is None or >= total).

    Datasets list the variants of one photo together, so the first `count` images would cover few photos.
    """
    if count is None or count >= total:
        return list(range(total))
    if count < 1:
        raise ValueError(f"need at least one image, got count={count}")
    return np.unique(np.linspace(0, total - 1, int(count)).round().astype(int)).tolist()


def reference_pairs(dataset, count: int | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(distorted, pristine, names): `count` distorted images spread over a dataset with pristine references
    (the embedded set, whose `table` names each image's ref, crop and distortion), stacked as Bx3xHxW."""
    table = getattr(dataset, "table", None)
    if table is None or not {"ref", "crop", "distortion"} <= set(table.columns):
        raise ValueError("this needs pristine references: use the embedded set (load_dataset('embedded'))")
    position = {name: i for i, name in enumerate(dataset.names)}
    distorted = table.index[table["distortion"] != "pristine"].tolist()
    picks = [distorted[i] for i in spread(len(distorted), count)]
    pairs = [(i, position[f"{table.at[i, 'ref']}_c{table.at[i, 'crop']}_pristine_0"]) for i in picks]
    return (
        torch.stack([dataset[i][0] for i, _ in pairs]),
        torch.stack([dataset[j][0] for _, j in pairs]),
        [dataset.names[i] for i, _ in pairs],
    )
