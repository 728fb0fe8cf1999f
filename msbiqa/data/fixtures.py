"""Small copies of the official KonIQ-10k, SPAQ and CLIVE layouts, made from the real photographs the embedded
set uses, for tests and for trying the full-scale pipeline (`msbiqa reproduce --scale full`) without the data.

Each copy has the official folders, label files and file formats, so the real readers read it: KonIQ-10k's
`koniq10k_distributions_sets.csv` with 512x384 JPEGs in `512x384/`; SPAQ's `MOS and Image attribute
scores.xlsx` with large JPEGs of mixed orientation in `TestImage/`; CLIVE's `AllImages_release.mat` /
`AllMOS_release.mat` with 500x500 JPEGs in `Images/` (and the seven training images in
`Images/trainingImages/`). Images are Gaussian-blurred at graded strengths and their MOS falls with the blur
(on each dataset's scale), so correlations with MOS mean something; the labels are synthetic, not opinions.
Each dataset root lists the files written there in `.msbiqa-fixtures`; a root holding anything else (a user's
real data, say) is refused untouched, and every file is written whole, never through a link.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
from PIL import Image
from scipy.ndimage import gaussian_filter

from msbiqa.data.photos import PHOTOS
from msbiqa.files import link_error, open_no_follow, refuse_link, write_atomic

BLURS = (0.0, 1.0, 2.0, 3.5)  # Gaussian blur std in pixels at 512 px, one level per image in turn
MANIFEST = ".msbiqa-fixtures"  # in each dataset root: the files make-fixtures wrote there, one per line
KONIQ_SETS = ("training", "training", "training", "training", "training", "training", "validation", "test", "test")


def _photo(index: int) -> np.ndarray:
    """The index-th packaged photograph (cycling), as HxWx3 uint8."""
    return PHOTOS[index % len(PHOTOS)].load()


def _fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The centre crop of `image` with the aspect ratio width:height, resized (Lanczos) to width x height."""
    h, w = image.shape[:2]
    scale = min(w / width, h / height)
    cw, ch = round(width * scale), round(height * scale)
    top, left = (h - ch) // 2, (w - cw) // 2
    patch = Image.fromarray(np.ascontiguousarray(image[top : top + ch, left : left + cw]))
    return np.asarray(patch.resize((width, height), Image.Resampling.LANCZOS))


def _degraded(image: np.ndarray, level: int) -> np.ndarray:
    """`image` blurred at BLURS[level] (scaled to the image size)."""
    sigma = BLURS[level] * max(image.shape[:2]) / 512
    if sigma == 0:
        return image
    return np.clip(np.rint(gaussian_filter(image.astype(float), sigma=(sigma, sigma, 0))), 0, 255).astype(np.uint8)


def _mos(level: int, index: int, lo: float, hi: float) -> float:
    """A label on [lo, hi] that falls with the blur level, with a little per-image spread."""
    quality = 0.9 - 0.22 * level + 0.04 * np.sin(index)
    return round(lo + (hi - lo) * quality, 3)


def _encoded(image: np.ndarray, kind: str, **options) -> bytes:
    """`image` as the bytes of an image file of format `kind` (JPEG, BMP)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=kind, **options)
    return buffer.getvalue()


def _check_ours(root: Path) -> set[str]:
    """The files listed in `root`'s MANIFEST, after checking that `root` is new, empty, or written by make-fixtures
    with nothing added since (everything in it listed): a user's label files and images are never overwritten."""
    refuse_link(root)
    if not root.exists():
        return set()
    listed = set((root / MANIFEST).read_text().splitlines()) if (root / MANIFEST).is_file() else set()
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            raise link_error(path)
        if path.is_file() and path.relative_to(root).as_posix() not in listed | {MANIFEST}:
            raise ValueError(
                f"{path} was not written by msbiqa make-fixtures; msbiqa leaves it untouched: choose a new or "
                "empty folder"
            )
    return listed


def _put(root: Path, name: str, data: bytes, listed: set[str]) -> None:
    """Write the file `name` (relative to `root`) whole, listed in MANIFEST (`listed`) first: a rerun may replace
    it."""
    if name not in listed:
        listing = open_no_follow(root / MANIFEST, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(listing, f"{name}\n".encode())
        finally:
            os.close(listing)
        listed.add(name)
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)


def write_koniq10k(root: Path, count: int) -> Path:
    """KonIQ-10k: 512x384 JPEGs and the official split file (MOS on 1-100)."""
    listed = _start(root, count)
    rows = []
    for i in range(count):
        name = f"{1000000 + i}.jpg"
        level = i % len(BLURS)
        _put(root, f"512x384/{name}", _encoded(_degraded(_fit(_photo(i), 512, 384), level), "JPEG", quality=92), listed)
        rows.append({"image_name": name, "MOS": _mos(level, i, 1, 100), "set": KONIQ_SETS[i % len(KONIQ_SETS)]})
    _put(root, "koniq10k_distributions_sets.csv", pd.DataFrame(rows).to_csv(index=False).encode(), listed)
    return root


def write_spaq(root: Path, count: int) -> Path:
    """SPAQ: large smartphone-style JPEGs, portrait and landscape in turn, and the official xlsx sheet."""
    listed = _start(root, count)
    rows = []
    for i in range(count):
        name = f"{i + 1:05d}.jpg"
        level = i % len(BLURS)
        width, height = (1024, 768) if i % 2 == 0 else (768, 1024)
        image = _degraded(_fit(_photo(i + 3), width, height), level)
        _put(root, f"TestImage/{name}", _encoded(image, "JPEG", quality=92), listed)
        mos = _mos(level, i, 0, 100)
        rows.append(
            {
                "Image name": name,
                "MOS": mos,
                "Brightness": mos,
                "Colorfulness": 50.0,
                "Contrast": 50.0,
                "Noisiness": 50.0,
                "Sharpness": mos,
            }
        )
    sheet = io.BytesIO()
    pd.DataFrame(rows).to_excel(sheet, index=False)
    _put(root, "Annotations/MOS and Image attribute scores.xlsx", sheet.getvalue(), listed)
    return root


def write_clive(root: Path, count: int) -> Path:
    """CLIVE: 500x500 JPEGs, the seven rater-training images first, and the two .mat label files (MOS 0-100)."""
    listed = _start(root, count)
    names, mos = [], []
    for i in range(count + 7):
        training = i < 7
        name = f"t{i + 1}.bmp" if training else f"{i + 100}.JPG"
        level = i % len(BLURS)
        image = _degraded(_fit(_photo(i + 7), 500, 500), level)
        data = _encoded(image, "BMP") if training else _encoded(image, "JPEG", quality=92)
        _put(root, f"Images/{'trainingImages/' if training else ''}{name}", data, listed)
        names.append(name)
        mos.append(_mos(level, i, 0, 100))
    cells = np.empty((len(names), 1), dtype=object)
    for i, name in enumerate(names):
        cells[i, 0] = np.array([name])
    for stem, value in {"AllImages_release": cells, "AllMOS_release": np.array([mos])}.items():
        buffer = io.BytesIO()
        scipy.io.savemat(buffer, {stem: value})
        _put(root, f"Data/{stem}.mat", buffer.getvalue(), listed)
    return root


def _start(root: Path, count: int) -> set[str]:
    """Check `count` and that `root` may be written (see _check_ours), make it; returns the files it lists."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count (--count) must be a whole number of images >= 1, got {count!r}")
    listed = _check_ours(root)
    root.mkdir(parents=True, exist_ok=True)
    return listed


def write_layouts(folder: str | Path, count: int = 20) -> dict[str, Path]:
    """KonIQ-10k, SPAQ and CLIVE copies with `count` images each under `folder`; returns {name: root}. Each is
    checked before any is written: a folder holding files make-fixtures did not write is refused."""
    folder = Path(folder)
    writers = {"koniq10k": write_koniq10k, "spaq": write_spaq, "clive": write_clive}
    for name in writers:
        _check_ours(folder / name)
    return {name: write(folder / name, count) for name, write in writers.items()}
