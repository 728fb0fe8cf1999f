"""The embedded set: real photos from installed packages, synthetic distortions, FR pseudo-MOS labels.

Built once, deterministically, into a cache folder (PNG files + labels.csv + embedded.json) and rebuilt
when RECIPE_VERSION or the size changes. Each reference photo belongs to one split (see photos.PHOTOS).
This is a small KADIS-style stand-in for a real IQA dataset, not KonIQ or any human-rated set.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm

from msbiqa.data.base import IQADataset, check_split
from msbiqa.data.distortions import DISTORTIONS, LEVELS, distort
from msbiqa.data.photos import CROPS, PHOTOS, Photo, crop_and_resize
from msbiqa.data.pseudo_mos import ANCHORS, FR_METRICS, FRScorer, pseudo_mos

RECIPE_VERSION = 1
DEFAULT_SIZE = 96
MIN_SIZE = 48  # pyiqa's VIF fails on 32 px images; 48 is the smallest size tested
MOS_RANGE = (0.0, 100.0)
LABELS, MANIFEST = "labels.csv", "embedded.json"


def default_root(size: int = DEFAULT_SIZE) -> Path:
    """Cache folder of the set: $MSBIQA_CACHE (default ~/.cache/msbiqa) / embedded-v{RECIPE_VERSION}-{size}."""
    base = Path(os.environ.get("MSBIQA_CACHE") or Path.home() / ".cache" / "msbiqa")
    return base / f"embedded-v{RECIPE_VERSION}-{size}"


def variants(reference: np.ndarray, key: str) -> Iterator[tuple[str, int, np.ndarray]]:
    """(distortion, level, uint8 image) for the pristine crop and every distortion level.

    The noise of each variant is seeded from `key` (photo/crop) and the variant, so it never depends on
    build order.
    """
    yield "pristine", 0, reference
    for name in DISTORTIONS:
        for level in LEVELS:
            rng = np.random.default_rng(zlib.crc32(f"{key}/{name}/{level}".encode()))
            yield name, level, distort(reference, name, level, rng)


def render_photo(photo: Photo, size: int, scorer: FRScorer) -> list[dict]:
    """Rows (with the uint8 image under "image") for every crop and variant of one photo."""
    full = photo.load()
    rows = []
    for c, crop in enumerate(CROPS):
        reference = crop_and_resize(full, crop, size)
        batch = list(variants(reference, f"{photo.name}/{c}"))
        scores = scorer(np.stack([image for _, _, image in batch]), reference)
        labels = pseudo_mos(scores)
        for k, (distortion, level, image) in enumerate(batch):
            rows.append(
                {
                    "name": f"{photo.name}_c{c}_{distortion}_{level}",
                    "ref": photo.name,
                    "crop": c,
                    "distortion": distortion,
                    "level": level,
                    "param": DISTORTIONS[distortion][1][level - 1] if level else np.nan,
                    "split": photo.split,
                    "mos": round(float(labels[k]), 4),
                    **{m: round(float(scores[m][k]), 6) for m in FR_METRICS},
                    "image": image,
                }
            )
    return rows


def _manifest(size: int, n_images: int, seconds: float) -> dict:
    return {
        "recipe_version": RECIPE_VERSION,
        "size": size,
        "n_images": n_images,
        "build_seconds": round(seconds, 1),
        "label": "pseudo-MOS = 100 * mean_m clip((s_m - worst_m) / (best_m - worst_m), 0, 1)",
        "anchors_best_worst": ANCHORS,
        "photos": {p.name: {"source": p.source, "split": p.split} for p in PHOTOS},
        "crops_side_cx_cy": CROPS,
        "distortions": {name: list(params) for name, (_, params) in DISTORTIONS.items()},
    }


def is_current(root: Path, size: int) -> bool:
    """Whether `root` holds a complete set built with this recipe and size."""
    try:
        manifest = json.loads((root / MANIFEST).read_text())
        n_labels = len(pd.read_csv(root / LABELS, usecols=["name"]))
        n_files = len(os.listdir(root / "images"))
    except (OSError, ValueError):
        return False
    same = manifest.get("recipe_version") == RECIPE_VERSION and manifest.get("size") == size
    return same and manifest.get("n_images") == n_labels == n_files


def build_embedded(
    root: str | Path | None = None, size: int = DEFAULT_SIZE, *, force: bool = False, progress: bool = True
) -> Path:
    """Build the set into `root` (default: default_root(size)) unless it is already current; return root.

    The set is written to a temporary sibling folder and renamed into place, so an interrupted or
    concurrent build never leaves a half-written set behind.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIZE:
        raise ValueError(f"size must be an integer >= {MIN_SIZE} pixels, got {size!r}")
    root = Path(root) if root is not None else default_root(size)
    if not force and is_current(root, size):
        return root
    if root.exists() and any(root.iterdir()) and not (root / MANIFEST).exists():
        raise ValueError(f"{root} is not empty and holds no embedded set ({MANIFEST}); choose a new folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the FR metrics run many small float64 convolutions: 4-5x faster on a busy CPU
    try:
        rows = _render_all(tmp, size, progress)
        pd.DataFrame(rows).to_csv(tmp / LABELS, index=False)
        manifest = _manifest(size, len(rows), time.perf_counter() - start)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        torch.set_num_threads(threads)
    _replace(tmp, root, size, force)
    return root


def _render_all(folder: Path, size: int, progress: bool) -> list[dict]:
    """Write every image of the set to folder/images and return the label rows."""
    scorer = FRScorer()
    rows = []
    total = len(PHOTOS) * len(CROPS) * (1 + len(DISTORTIONS) * len(LEVELS))
    with tqdm(total=total, desc=f"building embedded set ({size}px)", unit="img", disable=not progress) as bar:
        for photo in PHOTOS:
            for row in render_photo(photo, size, scorer):
                Image.fromarray(row.pop("image")).save(folder / "images" / f"{row['name']}.png")
                rows.append(row)
            bar.update(len(CROPS) * (1 + len(DISTORTIONS) * len(LEVELS)))
    return rows


def _replace(tmp: Path, root: Path, size: int, force: bool) -> None:
    """Move the freshly built `tmp` to `root`, discarding a stale set there.

    If a concurrent build already put a current set in place, that one is kept (readers may be using it).
    """
    if root.exists() and not force and is_current(root, size):
        shutil.rmtree(tmp, ignore_errors=True)
        return
    if root.exists():
        stale = root.parent / f".{root.name}.old-{os.getpid()}"
        os.replace(root, stale)
        shutil.rmtree(stale, ignore_errors=True)
    try:
        os.replace(tmp, root)
    except OSError:  # a concurrent build put its copy in place between the two renames
        shutil.rmtree(tmp, ignore_errors=True)
        if not is_current(root, size):
            raise


class EmbeddedIQA(IQADataset):
    """The embedded set as a dataset; builds it on first use (see build_embedded).

    `table` holds every column of labels.csv for the chosen split (ref, crop, distortion, level, param,
    split, mos and the raw FR scores), in dataset order.
    """

    def __init__(
        self, split: str = "all", *, root: str | Path | None = None, size: int = DEFAULT_SIZE, progress: bool = True
    ):
        check_split(split)
        self.root = build_embedded(root, size, progress=progress)
        table = pd.read_csv(self.root / LABELS)
        if split != "all":
            table = table[table["split"] == split]
        self.table = table.reset_index(drop=True)
        self.size = size
        super().__init__(
            [self.root / "images" / f"{n}.png" for n in self.table["name"]],
            self.table["mos"].to_numpy(),
            self.table["name"].tolist(),
            mos_range=MOS_RANGE,
            title=f"embedded {size}px, split {split}",
        )


def summary(table: pd.DataFrame) -> str:
    """Counts and MOS statistics per split, one line each."""
    lines = []
    for split, part in table.groupby("split", sort=False):
        refs = ", ".join(sorted(part["ref"].unique()))
        mos = part["mos"]
        lines.append(
            f"{split:5s}: {len(part):4d} images from {part['ref'].nunique()} photos ({refs}); "
            f"pseudo-MOS mean {mos.mean():.1f}, range {mos.min():.1f}..{mos.max():.1f}"
        )
    return "\n".join(lines)
