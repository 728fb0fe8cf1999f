"""Small stand-ins for KonIQ-10k, SPAQ and CLIVE in their official layouts and image sizes, written from the
photos that msbiqa's dependencies ship: for smoke runs of the readers and of `msbiqa reproduce --scale full`
without the real data (`bench/gpu_bench.sh` runs one on the GPU).

Each image is one photo with one synthetic distortion at level 0 (none) to 4; its "MOS" falls with the level.
The labels are made up, so such a run checks that everything works, not how well anything works.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
from PIL import Image, ImageOps

from msbiqa.data.distortions import distort
from msbiqa.data.photos import PHOTOS
from msbiqa.data.readers import KONIQ_SETS, SPAQ_SHEET

SIZES = {"koniq10k": (512, 384), "spaq": (1024, 768), "clive": (500, 500)}  # width x height as distributed
KINDS = ("gaussian_blur", "white_noise", "jpeg", "contrast_change", "pixelate", "darken")  # fast at full size


def _images(count: int, size: tuple[int, int], seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """`count` distorted photos of `size` and their made-up MOS (0-100, lower for stronger distortions)."""
    rng = np.random.default_rng(seed)
    photos = [Image.fromarray(photo.load()) for photo in PHOTOS[:count]]
    images, mos = [], []
    for k in range(count):
        image = np.asarray(ImageOps.fit(photos[k % len(photos)], size, Image.Resampling.LANCZOS))
        level = k % 5
        images.append(distort(image, KINDS[k % len(KINDS)], level, rng) if level else image)
        mos.append(90.0 - 18.0 * level + rng.uniform(-4.0, 4.0))
    return images, np.round(mos, 2)


def write_fixture_datasets(root: str | Path, count: int = 25, seed: int = 0) -> dict[str, Path]:
    """Write `count` images per dataset under root/koniq10k, root/spaq and root/clive; {name: folder} for
    `load_dataset(name, root=folder)` or `msbiqa reproduce --data name=folder`."""
    root = Path(root)
    folders = {name: root / name for name in SIZES}

    images, mos = _images(count, SIZES["koniq10k"], seed)
    names = [f"{100000 + k}.jpg" for k in range(count)]
    _save(folders["koniq10k"] / "512x384", names, images)
    sets = np.array(["training", "validation", "test", "training", "training"])[np.arange(count) % 5]
    pd.DataFrame({"image_name": names, "MOS": 1 + mos * 0.99, "set": sets}).to_csv(
        folders["koniq10k"] / KONIQ_SETS, index=False
    )

    images, mos = _images(count, SIZES["spaq"], seed + 1)
    names = [f"{k + 1:05d}.jpg" for k in range(count)]
    _save(folders["spaq"] / "TestImage", names, images)
    (folders["spaq"] / "Annotations").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"Image name": names, "MOS": mos}).to_csv(
        folders["spaq"] / "Annotations" / f"{SPAQ_SHEET}.csv", index=False
    )

    images, mos = _images(count + 7, SIZES["clive"], seed + 2)  # the first seven are the raters' training images
    names = [f"t{k + 1}.bmp" for k in range(7)] + [f"{k + 100}.bmp" for k in range(count)]
    _save(folders["clive"] / "Images" / "trainingImages", names[:7], images[:7])
    _save(folders["clive"] / "Images", names[7:], images[7:])
    cells = np.empty((len(names), 1), dtype=object)
    for k, name in enumerate(names):
        cells[k, 0] = np.array([name])
    (folders["clive"] / "Data").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(folders["clive"] / "Data" / "AllImages_release.mat", {"AllImages_release": cells})
    scipy.io.savemat(folders["clive"] / "Data" / "AllMOS_release.mat", {"AllMOS_release": mos[None, :]})
    return folders


def _save(folder: Path, names: list[str], images: list[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, image in zip(names, images):
        Image.fromarray(image).save(folder / name, **({"quality": 95} if name.endswith(".jpg") else {}))
