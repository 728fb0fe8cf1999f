"""Per-image result rows appended to a CSV as they are computed, so that a killed run resumes where it stopped.

A row is identified by its key columns (image, sigma, defence, ...) together with the run's constants: every
setting that changes the row (metric, n, seed, ...), written on every row. Rows of the file with other
constants belong to other runs: they stay in the file and are not reused (or, with `strict=True`, they are an
error). Dataset scoring and certification runs both write through `ResultsFile`.
"""

from __future__ import annotations

import csv
import numbers
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def csv_scalar(value):
    """A CSV-writable scalar from a number, one-element tensor/array, string, bool or None."""
    if isinstance(value, torch.Tensor | np.ndarray | np.generic):
        size = value.numel() if isinstance(value, torch.Tensor) else value.size
        if size != 1:
            raise TypeError(f"row values must be scalars, got an array of shape {tuple(value.shape)}")
        value = value.item()
    if value is None or isinstance(value, str | bool | numbers.Real):
        return value
    raise TypeError(f"row values must be numbers (or str/None), got {type(value).__name__}")


def _text(value) -> str:
    """How the csv module writes `value` (None as an empty field, floats with full precision)."""
    return "" if value is None else str(value)


class ResultsFile:
    """The rows of one run in `path` (in memory only when `path` is None).

    `key` names the columns that identify a row within the run; `constants` are written on every row.
    Reading repairs a row cut short by a kill (the partial last line is dropped).
    """

    def __init__(
        self, path: str | Path | None, key: list[str], constants: Mapping | None = None, *, strict: bool = False
    ):
        self.path = Path(path) if path is not None else None
        self.key = list(key)
        self.constants = {str(k): csv_scalar(v) for k, v in (constants or {}).items()}
        self.strict = strict
        self.header: list[str] | None = None
        self.memory: list[dict] = []
        self.finished = self._read_finished()

    def _read_finished(self) -> set[tuple[str, ...]]:
        """Keys of this run's rows already in the file; checks that the file fits this run."""
        if self.path is None or not self.path.is_file() or self.path.stat().st_size == 0:
            return set()
        text = self.path.read_text()
        if not text.endswith("\n"):  # killed in the middle of a row: drop the partial row
            text = text[: text.rfind("\n") + 1]
            self.path.write_text(text)
        if not text:
            return set()
        table = pd.read_csv(self.path, dtype=str, keep_default_na=False)
        self.header = list(table.columns)
        needed = self.key + list(self.constants)
        if not set(needed) <= set(self.header):
            raise ValueError(
                f"{self.path} has columns {self.header}, but this run needs {needed}; "
                "write to another file (or delete this one)"
            )
        return set(map(tuple, table.loc[self._same_run(table), self.key].to_numpy()))

    def _same_run(self, text: pd.DataFrame) -> np.ndarray:
        """Mask of the rows (read as text) written with this run's constants."""
        same = np.ones(len(text), dtype=bool)
        for column, value in self.constants.items():
            match = text[column].to_numpy() == _text(value)
            if self.strict and not match.all():
                written = sorted(set(text[column]))
                raise ValueError(f"{self.path} was written with {column}={written}, this run has {column}={value!r}")
            same &= match
        return same

    def is_done(self, key_values) -> bool:
        """Whether the row with these key values (in `key` order) is already written by this run."""
        return tuple(_text(csv_scalar(v)) for v in key_values) in self.finished

    def append(self, row: Mapping) -> dict:
        """Write one row (the constants are added to it) and flush it to the file."""
        row = {str(k): csv_scalar(v) for k, v in row.items()}
        row.update(self.constants)  # columns the caller placed keep their place; the others go last
        self.finished.add(tuple(_text(row[k]) for k in self.key))
        if self.path is None:
            self.memory.append(row)
            return row
        if self.header is None:
            self.header = list(row)
        elif list(row) != self.header:
            raise ValueError(
                f"{self.path} has columns {self.header} but this run writes {list(row)}; "
                "write to another file (or delete this one)"
            )
        new = not self.path.is_file() or self.path.stat().st_size == 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(self.header)
            writer.writerow(row.values())
            f.flush()
        return row

    def table(self, dtype: Mapping | None = None) -> pd.DataFrame:
        """This run's rows (file rows with other constants left out), with pandas' column types."""
        if self.path is None:
            return pd.DataFrame(self.memory)
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return pd.DataFrame(columns=self.key + list(self.constants))
        table = pd.read_csv(self.path, dtype=dict(dtype or {}))
        same = self._same_run(pd.read_csv(self.path, dtype=str, keep_default_na=False))
        return table[same].reset_index(drop=True)
