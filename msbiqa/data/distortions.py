"""Synthetic distortions at four graded levels (1 = mildest, 4 = strongest) for the embedded set.

Every function maps an HxWx3 uint8 image to a uint8 image of the same size; the noise is drawn from
the generator passed in, so a fixed seed gives the same pixels on every machine.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def gaussian_blur(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur with std `sigma` pixels (reflecting borders)."""
    return _to_uint8(gaussian_filter(image / 255.0, sigma=(sigma, sigma, 0), mode="reflect"))


def gaussian_noise(image: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Additive white Gaussian noise with std `std` on the [0, 1] scale, clipped."""
    return _to_uint8(image / 255.0 + rng.normal(0.0, std, size=image.shape))


def jpeg(image: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    """Pillow JPEG compression at `quality` (4:2:0 chroma subsampling, Pillow's default)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    with Image.open(buffer) as im:
        return np.asarray(im.convert("RGB"))


def contrast(image: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Contrast reduced to `factor` of the original around the image mean."""
    x = image / 255.0
    return _to_uint8(x.mean() + factor * (x - x.mean()))


def brightness(image: np.ndarray, shift: float, rng: np.random.Generator) -> np.ndarray:
    """Brightness raised by `shift` on the [0, 1] scale; highlights clip (over-exposure)."""
    return _to_uint8(image / 255.0 + shift)


def resample(image: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Bicubic downscale by `factor`, then bicubic upscale back (loss of resolution)."""
    h, w = image.shape[:2]
    small = Image.fromarray(image).resize(
        (max(1, round(w / factor)), max(1, round(h / factor))), Image.Resampling.BICUBIC
    )
    return np.asarray(small.resize((w, h), Image.Resampling.BICUBIC))


# name -> (function, parameter at levels 1..4)
DISTORTIONS = {
    "blur": (gaussian_blur, (0.5, 1.0, 1.6, 2.6)),
    "noise": (gaussian_noise, (0.02, 0.05, 0.09, 0.15)),
    "jpeg": (jpeg, (50, 25, 12, 5)),
    "contrast": (contrast, (0.75, 0.55, 0.4, 0.25)),
    "brightness": (brightness, (0.08, 0.16, 0.25, 0.35)),
    "resample": (resample, (1.5, 2.0, 3.0, 4.0)),
}
LEVELS = (1, 2, 3, 4)


def distort(image: np.ndarray, name: str, level: int, rng: np.random.Generator) -> np.ndarray:
    """`image` with distortion `name` at `level` (1..4)."""
    function, params = DISTORTIONS[name]
    return function(image, params[level - 1], rng)
