"""Real photographs that ship inside installed packages: the references of the embedded set.

Only natural photographs are used (no text, synthetic patterns, microscopy, medical or astronomy images,
and not skimage's `clock`, which is motion-blurred on purpose). Each photo is assigned to one split,
so no reference ever appears in two splits.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Photo:
    """One reference photograph: a short name, where it comes from, and its split."""

    name: str
    source: str
    split: str
    load: Callable[[], np.ndarray]  # -> HxWx3 uint8


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        image = getattr(skimage.data, name)()
        if name == "stereo_motorcycle":
            image = image[0]  # left view of the (left, right, disparity) triple
        return _rgb(image)

    return load


def _grace_hopper() -> np.ndarray:
    from matplotlib import cbook

    return _read(Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))


def tid2013_reference_dir() -> Path:
    """pyiqa's calibration folder with five TID2013 reference images (`ResultsCalibra/ref_dir`).

    Its sibling `dist_dir` holds distorted versions of the same photos and is not used.
    """
    spec = importlib.util.find_spec("pyiqa")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("pyiqa is not installed; the embedded set needs its ResultsCalibra folder")
    folder = Path(spec.origin).parent.parent / "ResultsCalibra" / "ref_dir"
    if not folder.is_dir():
        raise FileNotFoundError(f"pyiqa's TID2013 reference images are missing: expected {folder}")
    return folder


def _tid2013(name: str) -> Callable[[], np.ndarray]:
    return lambda: _read(tid2013_reference_dir() / f"{name}.bmp")


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _rgb(image: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 from a grayscale or RGB array."""
    image = np.asarray(image, dtype=np.uint8)
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


PHOTOS: tuple[Photo, ...] = (
    # scikit-image, colour
    Photo("astronaut", "skimage.data.astronaut (NASA, public domain)", "train", _skimage("astronaut")),
    Photo("coffee", "skimage.data.coffee (R. Michetti, CC0)", "train", _skimage("coffee")),
    Photo("rocket", "skimage.data.rocket (SpaceX, CC0)", "train", _skimage("rocket")),
    Photo("motorcycle", "skimage.data.stereo_motorcycle, left view (Middlebury)", "val", _skimage("stereo_motorcycle")),
    Photo("chelsea", "skimage.data.chelsea (S. van der Walt, CC0)", "test", _skimage("chelsea")),
    # scikit-image, grayscale (repeated to RGB)
    Photo("camera", "skimage.data.camera (CC0)", "train", _skimage("camera")),
    Photo("grass", "skimage.data.grass (CC0)", "train", _skimage("grass")),
    Photo("brick", "skimage.data.brick (CC0)", "train", _skimage("brick")),
    Photo("gravel", "skimage.data.gravel (CC0)", "val", _skimage("gravel")),
    Photo("coins", "skimage.data.coins (Walters Art Museum, public domain)", "test", _skimage("coins")),
    # matplotlib
    Photo("grace_hopper", "matplotlib sample_data/grace_hopper.jpg (US Navy, public domain)", "train", _grace_hopper),
    # pyiqa's TID2013 references (Kodak Lossless True Color Image Suite)
    Photo("tid_i03", "pyiqa ResultsCalibra/ref_dir/I03.bmp (TID2013)", "train", _tid2013("I03")),
    Photo("tid_i04", "pyiqa ResultsCalibra/ref_dir/I04.bmp (TID2013)", "train", _tid2013("I04")),
    Photo("tid_i08", "pyiqa ResultsCalibra/ref_dir/I08.bmp (TID2013)", "train", _tid2013("I08")),
    Photo("tid_i06", "pyiqa ResultsCalibra/ref_dir/I06.bmp (TID2013)", "val", _tid2013("I06")),
    Photo("tid_i19", "pyiqa ResultsCalibra/ref_dir/I19.bmp (TID2013)", "test", _tid2013("I19")),
)

# Square crops per photo: (side as a fraction of the shorter image side, centre x, centre y as fractions).
CROPS: tuple[tuple[float, float, float], ...] = ((1.0, 0.5, 0.5), (0.6, 0.3, 0.35), (0.6, 0.7, 0.65))


def crop_and_resize(image: np.ndarray, crop: tuple[float, float, float], size: int) -> np.ndarray:
    """The square crop `crop` of an HxWx3 uint8 image, resized (Lanczos) to size x size uint8."""
    h, w = image.shape[:2]
    frac, cx, cy = crop
    side = round(frac * min(h, w))
    left = min(max(round(cx * w - side / 2), 0), w - side)
    top = min(max(round(cy * h - side / 2), 0), h - side)
    patch = Image.fromarray(np.ascontiguousarray(image[top : top + side, left : left + side]))
    return np.asarray(patch.resize((size, size), Image.Resampling.LANCZOS))
