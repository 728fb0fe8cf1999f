"""Per-image result rows appended to a CSV as they are computed, so that a killed run resumes where it stopped.

A row is identified by its key columns (image, sigma, defence, ...) together with the run's constants: every
setting that changes the row (metric, n, seed, ...), written on every row. Rows of the file with other
constants belong to other runs: they stay in the file and are not reused (or, with `strict=True`, they are an
error). Dataset scoring, certification runs and the certificate check all write through `ResultsFile`.

Robust to kills and faults: each row is one write of whole bytes, fsynced; a row cut short by a kill (which
leaves the lock file behind) is dropped on the next open; a failed write is undone and reported with what is
saved; a lock file (`<name>.lock`, an flock the system releases if the process dies) keeps a second run from
writing the same file.
A file that is not this run's CSV (a user's labels, binary data, other columns) is refused before anything is
written to it, and a symbolic link in place of the file or its lock is refused, never followed.
"""

from __future__ import annotations

import csv
import io
import numbers
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from msbiqa.files import FileLock, open_no_follow


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


def _read_all(fd: int) -> bytes:
    """The whole content of the open file `fd`."""
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _text(value) -> str:
    """How the csv module writes `value` (None as an empty field, floats with full precision)."""
    return "" if value is None else str(value)


class ResultsFile:
    """The rows of one run in `path` (in memory only when `path` is None); use it as a context manager.

    `key` names the columns that identify a row within the run; `constants` are written on every row. Opening
    takes the lock, checks the file can be written (before any work) and repairs a torn last row.
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
        self.fd: int | None = None
        self.lock: FileLock | None = None
        self.killed_before = False
        if self.path is not None:
            self._open()
        try:
            self.finished = self._read_finished()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _open(self) -> None:
        """Lock `<path>.lock` and open `path` for appending, with errors that say what to do (links are refused)."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        self.killed_before = lock_path.is_file()  # a run that closes removes its lock: this one was killed
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.lock = FileLock(
                lock_path,
                f"{self.path} is being written by another run ({{owner}}); wait for it to finish or write to another "
                "output folder",
            ).acquire()
            self.fd = open_no_follow(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
        except OSError as err:
            self.close()
            raise OSError(
                f"cannot write results to {self.path} ({err.strerror or err}); choose a writable output folder"
            ) from None
        except ValueError:
            self.close()
            raise

    def close(self) -> None:
        """Release the file and its lock (idempotent)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def _read_finished(self) -> set[tuple[str, ...]]:
        """Keys of this run's rows already in the file; checks that the file fits this run before changing it."""
        if self.fd is None:
            return set()
        data = _read_all(self.fd)
        if not data:
            return set()
        self.header = self._check_header(data)
        if not data.endswith(b"\n"):
            if not self.killed_before:
                raise ValueError(
                    f"{self.path} ends in a line without a newline, and no msbiqa run was killed writing it; "
                    "msbiqa leaves it untouched: write to another file"
                )
            data = data[: data.rfind(b"\n") + 1]  # the run was killed in the middle of a row: drop the partial row
            os.ftruncate(self.fd, len(data))
        table = self._parse(data, dtype=str, keep_default_na=False)
        return set(map(tuple, table.loc[self._same_run(table), self.key].to_numpy()))

    def _check_header(self, data: bytes) -> list[str]:
        """The file's columns, checked to be text holding this run's columns; a file that is not (a user's file,
        another program's) is refused untouched."""
        first = data.split(b"\n", 1)[0]
        try:
            header = next(csv.reader([first.decode()]), []) if b"\0" not in first else None
        except (UnicodeDecodeError, csv.Error):
            header = None
        if header is None:
            raise ValueError(
                f"{self.path} is not a CSV file of results (binary data); msbiqa leaves it untouched: "
                "write to another file"
            )
        needed = self.key + list(self.constants)
        if not set(needed) <= set(header):
            raise ValueError(
                f"{self.path} has columns {header}, but this run needs {needed}; msbiqa leaves it untouched: "
                "write to another file (or delete this one)"
            )
        return header

    def _parse(self, data: bytes, **options) -> pd.DataFrame:
        """The CSV `data` of this file as a table; a file that does not parse is a one-line error naming it."""
        try:
            return pd.read_csv(io.BytesIO(data), **options)
        except ValueError as err:  # pandas ParserError and UnicodeDecodeError included
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(f"{self.path} is not a readable CSV of results ({first}): write to another file") from None

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
        """Write one row (the constants are added to it) as one fsynced write of whole bytes."""
        row = {str(k): csv_scalar(v) for k, v in row.items()}
        row.update(self.constants)  # columns the caller placed keep their place; the others go last
        if self.path is None:
            self.memory.append(row)
        else:
            self._write(row)
        self.finished.add(tuple(_text(row[k]) for k in self.key))
        return row

    def _write(self, row: dict) -> None:
        if self.fd is None:
            raise ValueError(f"{self.path} is closed; open a new ResultsFile to write to it")
        if self.header is None:
            self.header = list(row)
        elif list(row) != self.header:
            raise ValueError(
                f"{self.path} has columns {self.header} but this run writes {list(row)}; "
                "write to another file (or delete this one)"
            )
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        size = os.fstat(self.fd).st_size
        if size == 0:
            writer.writerow(self.header)
        writer.writerow(row.values())
        data = buffer.getvalue().encode()
        try:
            if os.write(self.fd, data) != len(data):
                raise OSError("only part of the row was written (is the disk full?)")
            os.fsync(self.fd)
        except OSError as err:
            os.ftruncate(self.fd, size)  # no torn row stays behind
            raise OSError(
                f"could not write a row to {self.path} ({getattr(err, 'strerror', None) or err}); the "
                f"{len(self.finished)} rows finished before are saved there: free disk space (or fix "
                "permissions) and rerun the same command to resume"
            ) from None

    def table(self, dtype: Mapping | None = None) -> pd.DataFrame:
        """This run's rows (file rows with other constants left out), with pandas' column types."""
        if self.path is None:
            return pd.DataFrame(self.memory)
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return pd.DataFrame(columns=self.key + list(self.constants))
        data = self.path.read_bytes()
        table = self._parse(data, dtype=dict(dtype or {}))
        same = self._same_run(self._parse(data, dtype=str, keep_default_na=False))
        return table[same].reset_index(drop=True)
