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
    meta_info: str | None = setting(
        None, "pyiqa's meta-info CSV (image path relative to --root, MOS, ..., a split column); --dataset pyiqa only"
    )

    def load(self, **kwargs):
        """The dataset (its reader checks the folder and names the files it expected)."""
        from msbiqa.data import load_dataset, meta_info_option

        root = str(Path(self.root).expanduser().resolve()) if self.root else None
        options = meta_info_option(self.dataset, self.meta_info)
        return load_dataset(self.dataset, root=root, split=self.split, **options, **kwargs)
