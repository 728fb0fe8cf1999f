"""The dataset a command reads, as settings: its name, folder and split (every dataset command's options)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from msbiqa.settings import setting


@dataclass
class DataSource:
    """The dataset options every command that reads a dataset takes."""

    dataset: str = setting("embedded", "dataset: embedded, koniq10k, spaq, clive, pyiqa")
    root: str | None = setting(
        None, "dataset folder (not needed for embedded); relative paths are to the current folder"
    )
    split: str = setting("test", "split: train, val, test, all (embedded also test-ood)")

    def load(self, **kwargs):
        """The dataset (its reader checks the folder and names the files it expected)."""
        from msbiqa.data import load_dataset

        root = str(Path(self.root).expanduser().resolve()) if self.root else None
        return load_dataset(self.dataset, root=root, split=self.split, **kwargs)
