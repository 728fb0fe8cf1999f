"""IQA datasets: the embedded set built from photos that ship with installed packages, and readers
for KonIQ-10k, SPAQ, CLIVE and pyiqa's meta-info layout (data users bring).

Every dataset yields `(image 3xHxW float32 in [0, 1], mos, name)` and has `mos`, `names`, `mos_range`.
"""

from __future__ import annotations

from pathlib import Path

from msbiqa.data.base import IQADataset
from msbiqa.data.embedded import EmbeddedIQA, build_embedded, default_root
from msbiqa.data.readers import clive, koniq10k, pyiqa_meta, spaq

READERS = {"koniq10k": koniq10k, "spaq": spaq, "clive": clive, "pyiqa": pyiqa_meta}
ALIASES = {"koniq": "koniq10k", "koniq-10k": "koniq10k", "livec": "clive", "livechallenge": "clive"}


def meta_info_option(name: str, meta_info: str | None) -> dict:
    """The reader option a command's --meta-info FILE gives: pyiqa's reader needs its meta-info CSV (as an absolute
    path); the other datasets read their own label files, so the option is refused there rather than ignored."""
    pyiqa = ALIASES.get(name.lower(), name.lower()) == "pyiqa"
    if pyiqa and not meta_info:
        raise ValueError("--dataset pyiqa needs --meta-info FILE: pyiqa's meta-info CSV for the images in --root")
    if meta_info and not pyiqa:
        raise ValueError(f"--meta-info is for --dataset pyiqa; --dataset {name} reads its own label files")
    return {"meta_info_file": str(Path(meta_info).expanduser().resolve())} if pyiqa else {}


def dataset_names() -> list[str]:
    """Every name `load_dataset` takes (aliases included)."""
    return ["embedded", *READERS, *ALIASES]


def load_dataset(name: str, root: str | Path | None = None, split: str = "all", **kwargs) -> IQADataset:
    """Dataset `name` ("embedded", "koniq10k", "spaq", "clive" or "pyiqa") restricted to `split`
    (train, val, test or all; "embedded" also has test-ood: its test photos under held-out distortion
    families, see msbiqa.data.embedded). `root` is the dataset folder (for "embedded": the cache folder,
    optional); other keyword arguments go to the reader, e.g. size= for "embedded", resize= for the others.
    """
    key = ALIASES.get(name.lower(), name.lower())
    if key == "embedded":
        return EmbeddedIQA(split, root=root, **kwargs)
    if key not in READERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(dataset_names())}")
    return READERS[key](root, split, **kwargs)


__all__ = [
    "EmbeddedIQA",
    "IQADataset",
    "build_embedded",
    "clive",
    "dataset_names",
    "default_root",
    "koniq10k",
    "load_dataset",
    "meta_info_option",
    "pyiqa_meta",
    "spaq",
]
