"""Readers for the human-rated IQA datasets users bring, in their official layouts.

Each reader checks the layout first and names the files it expected when `root` is wrong. Splits:
KonIQ-10k has an official one; SPAQ and CLIVE have none, so a seeded 70/10/20 split is used
(train + val = the usual 80 % training share, test = the usual held-out 20 %).
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path, PureWindowsPath

import numpy as np
import pandas as pd
import scipy.io

from msbiqa.data.base import IQADataset, check_files_exist, check_split, seeded_split

KONIQ_SETS = "koniq10k_distributions_sets.csv"
KONIQ_SCORES = "koniq10k_scores_and_distributions.csv"
KONIQ_SPLITS = {"training": "train", "validation": "val", "test": "test"}
SPAQ_SHEET = "MOS and Image attribute scores"
CLIVE_TRAINING_IMAGES = 7


def _select(split: str, labels: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows in `split` ("all" keeps every row)."""
    return np.ones(len(labels), dtype=bool) if split == "all" else np.asarray(labels) == split


def _first_existing(candidates: list[Path]) -> Path | None:
    return next((p for p in candidates if p.exists()), None)


def _root(root: str | Path | None, title: str) -> Path:
    if root is None:
        raise ValueError(f"{title} is not shipped with msbiqa: pass root= the folder where you unpacked it")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{title}: root folder {root} does not exist")
    return root


def koniq10k(
    root: str | Path | None, split: str = "all", *, image_dir: str | Path | None = None, resize: int | None = None
) -> IQADataset:
    """KonIQ-10k (Hosu et al. 2020), labels on its 1-100 MOS scale.

    Reads `koniq10k_distributions_sets.csv` (github.com/subpic/koniq, metadata/: columns image_name, MOS
    on 1-100, set = training/validation/test, the official 7058/1000/2015 split) or, for split="all"
    only, the download's `koniq10k_scores_and_distributions.csv` (MOS on 1-5, MOS_zscore on 1-100; the
    latter is used). Images come from `image_dir`, else `512x384/`, else `1024x768/` under root.
    """
    check_split(split)
    root = _root(root, "KonIQ-10k")
    folder = Path(image_dir) if image_dir is not None else _first_existing([root / "512x384", root / "1024x768"])
    sets, scores = root / KONIQ_SETS, root / KONIQ_SCORES
    if folder is None or not folder.is_dir() or not (sets.is_file() or scores.is_file()):
        raise FileNotFoundError(
            f"KonIQ-10k not found in {root}: expected {KONIQ_SETS} (or {KONIQ_SCORES}) and the images in "
            "512x384/ or 1024x768/ (or pass image_dir=)"
        )
    if sets.is_file():
        table = _read_table(sets, ["image_name", "MOS", "set"])
        mos, labels = _numbers(table["MOS"], "column 'MOS'", sets), table["set"].map(KONIQ_SPLITS)
        if labels.isna().any():
            raise ValueError(f"{sets}: column 'set' must hold training/validation/test")
    else:
        if split != "all":
            raise FileNotFoundError(
                f"the official KonIQ-10k split is in {KONIQ_SETS} (github.com/subpic/koniq, metadata/); "
                f"put it in {root}, or use split='all' with {KONIQ_SCORES}"
            )
        table = _read_table(scores, ["image_name", "MOS_zscore"])
        mos, labels = _numbers(table["MOS_zscore"], "column 'MOS_zscore'", scores), pd.Series(["all"] * len(table))
    keep = _select(split, labels.to_numpy())
    names = table["image_name"].astype(str)[keep].tolist()
    return _dataset(folder, names, mos[keep], "KonIQ-10k", split, (1.0, 100.0), resize)


def spaq(root: str | Path | None, split: str = "all", *, seed: int = 0, resize: int | None = 512) -> IQADataset:
    """SPAQ (Fang et al. 2020): 11,125 smartphone photos, MOS on 0-100.

    Labels from `MOS and Image attribute scores.xlsx` (the official sheet; columns "Image name", "MOS") or a CSV
    export with the same name (preferred when both are there), in root or root/Annotations; images in
    root/TestImage. The photos are large and mix portrait and landscape: by default the shorter side is
    resized to 512 px, as in the SPAQ paper (the resize policy is part of every result row).
    """
    check_split(split)
    root = _root(root, "SPAQ")
    folders = [root, root / "Annotations", root / "annotations"]
    sheet = _first_existing([f / f"{SPAQ_SHEET}{ext}" for ext in (".csv", ".xlsx") for f in folders])
    images = root / "TestImage"
    if sheet is None or not images.is_dir():
        raise FileNotFoundError(
            f"SPAQ not found in {root}: expected '{SPAQ_SHEET}.xlsx' (or a .csv export) in root or "
            "Annotations/, and the images in TestImage/"
        )
    table = _read_table(sheet, ["Image name", "MOS"])
    mos = _numbers(table["MOS"], "column 'MOS'", sheet)
    keep = _select(split, seeded_split(len(table), seed))
    names = table["Image name"].astype(str)[keep].tolist()
    return _dataset(images, names, mos[keep], "SPAQ", split, (0.0, 100.0), resize)


def clive(
    root: str | Path | None,
    split: str = "all",
    *,
    seed: int = 0,
    include_training_images: bool = False,
    resize: int | None = None,
) -> IQADataset:
    """LIVE In the Wild Image Quality Challenge (CLIVE, Ghadiyaram & Bovik 2016), MOS on 0-100.

    Reads `Data/AllImages_release.mat` and `Data/AllMOS_release.mat`; images in `Images/` (the first
    seven entries, t1..t7, live in `Images/trainingImages/`). Those seven are the study's rater-training
    images and are left out by the standard protocol, giving 1162 images; include_training_images=True
    keeps them.
    """
    check_split(split)
    root = _root(root, "CLIVE")
    names_file, mos_file, images = (
        root / "Data/AllImages_release.mat",
        root / "Data/AllMOS_release.mat",
        root / "Images",
    )
    if not (names_file.is_file() and mos_file.is_file() and images.is_dir()):
        raise FileNotFoundError(
            f"CLIVE not found in {root}: expected Data/AllImages_release.mat, Data/AllMOS_release.mat and Images/"
        )
    cells = _mat(names_file, "AllImages_release")
    if cells.dtype != object:
        raise ValueError(
            f"{names_file}: variable 'AllImages_release' holds {'text' if cells.dtype.kind in 'SU' else 'numbers'}, "
            "not a cell array of image file names; use the release's file"
        )
    names = [str(np.asarray(cell).reshape(-1)[0]) for cell in cells.reshape(-1)]
    mos = _numbers(_mat(mos_file, "AllMOS_release").reshape(-1), "variable 'AllMOS_release'", mos_file)
    if len(names) != len(mos):
        raise ValueError(f"CLIVE: {len(names)} image names but {len(mos)} MOS values in {root / 'Data'}")
    if not include_training_images:
        names, mos = names[CLIVE_TRAINING_IMAGES:], mos[CLIVE_TRAINING_IMAGES:]
    keep = _select(split, seeded_split(len(names), seed))
    names = [n for n, k in zip(names, keep) if k]
    files = [_clive_file(images, _inside("CLIVE", n)) for n in names]
    check_files_exist("CLIVE", files, images)
    return IQADataset(files, mos[keep], names, mos_range=(0.0, 100.0), title=f"CLIVE, split {split}", resize=resize)


def _clive_file(images: Path, name: str) -> Path:
    direct = images / name
    return direct if direct.is_file() else images / "trainingImages" / name


def pyiqa_meta(
    root: str | Path | None,
    split: str = "all",
    *,
    meta_info_file: str | Path,
    split_column: str | None = None,
    split_file: str | Path | None = None,
    split_index: int | str = 1,
    mos_range: tuple[float, float] | None = None,
    resize: int | None = None,
) -> IQADataset:
    """A dataset in pyiqa's meta-info layout: a CSV whose first two columns are image path and MOS.

    Images are looked up under `root`. The split comes from a column of train/val/test labels
    (`split_column`; default "official_split" or "split", whichever exists) or from a pyiqa split
    pickle `split_file` ({split_index: {"train": [...], "val": [...], "test": [...]}}; a trusted file,
    since unpickling runs code). `mos_range` defaults to the (min, max) of the file's MOS.
    """
    check_split(split)
    root = _root(root, "pyiqa meta-info dataset")
    meta = Path(meta_info_file)
    if not meta.is_file():
        raise FileNotFoundError(f"meta_info_file {meta} not found (a CSV: img_name, mos, ...)")
    table = _read_table(meta)
    if table.shape[1] < 2:
        raise ValueError(f"{meta}: expected at least two columns (image name, MOS), got {list(table.columns)}")
    names, mos = table.iloc[:, 0].astype(str), _numbers(table.iloc[:, 1], f"column {table.columns[1]!r}", meta)
    if split == "all":
        keep = np.ones(len(table), dtype=bool)
    elif split_file is not None:
        with open(split_file, "rb") as f:
            indices = pickle.load(f)[split_index][split]
        keep = np.zeros(len(table), dtype=bool)
        keep[np.asarray(indices, dtype=int)] = True
    else:
        column = split_column or _first_existing_column(table, ["official_split", "split"], meta)
        _require(table, [column], meta)
        keep = table[column].astype(str).to_numpy() == split
    lo_hi = mos_range if mos_range is not None else (float(mos.min()), float(mos.max()))
    return _dataset(root, names[keep].tolist(), mos[keep], meta.stem, split, lo_hi, resize)


def _first_existing_column(table: pd.DataFrame, candidates: list[str], path: Path) -> str:
    for column in candidates:
        if column in table.columns:
            return column
    options = [c for c in table.columns if "split" in c]
    raise ValueError(f"{path}: no split column {candidates}; pass split_column= one of {options} or split_file=")


def _dataset(folder, names, mos, title, split, mos_range, resize) -> IQADataset:
    files = [Path(folder) / _inside(title, n) for n in names]
    check_files_exist(title, files, Path(folder))
    return IQADataset(
        files,
        np.asarray(mos, dtype=np.float64),
        names,
        mos_range=mos_range,
        title=f"{title}, split {split}",
        resize=resize,
    )


def _inside(title: str, name: str) -> str:
    """A label entry that names a file inside the image folder: absolute paths and '..' would read files outside
    the dataset's root (a crafted or mistaken label file), so they are refused."""
    path = PureWindowsPath(name)  # also splits at '/', and sees drive letters
    if path.anchor or ".." in path.parts:
        raise ValueError(
            f"{title}: label entry {name!r} points outside the image folder; entries are paths inside it "
            "(no leading '/', drive or '..'): fix the label file"
        )
    return name


def _numbers(values, what: str, path: Path) -> np.ndarray:
    """Label values as float64; ValueError naming the file, `what` holds them and the first entry that is not a
    number. A decimal comma ("3,5") is refused, not guessed: the file must use a decimal point."""
    values = pd.Series(np.asarray(values).reshape(-1))
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        first = str(values[bad].iloc[0])
        hint = "; write decimals with a point (3.5, not 3,5)" if re.fullmatch(r"\s*[-+]?\d*,\d+\s*", first) else ""
        raise ValueError(f"{path}: {what} holds {first!r}, not a number{hint}")
    return numbers.to_numpy(np.float64)


def _read_table(path: Path, columns: list[str] = ()) -> pd.DataFrame:
    """A label table (xlsx, else CSV) with `columns`; ValueError naming the file when a column is missing or no row
    follows the header."""
    table = pd.read_excel(path) if path.suffix == ".xlsx" else pd.read_csv(path)
    _require(table, columns, path)
    if table.empty:
        raise ValueError(f"{path}: no rows under the header; the label file lists no images")
    return table


def _require(table: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {list(table.columns)}")


def _mat(path: Path, key: str) -> np.ndarray:
    data = scipy.io.loadmat(path)
    if key not in data:
        raise ValueError(f"{path}: no variable {key!r} (found {[k for k in data if not k.startswith('__')]})")
    return data[key]
