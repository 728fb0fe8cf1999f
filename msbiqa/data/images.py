"""Image files -> float tensors in [0, 1], with errors that say what to do; PSNR between such tensors."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

SAMPLE_PHOTO = "astronaut.png"


def sample_photo_path() -> Path:
    """Path of the bundled sample photo (NASA's public-domain astronaut portrait from scikit-image, 128x128)."""
    return Path(str(files("msbiqa") / "assets" / SAMPLE_PHOTO))


def load_image(path: str | Path) -> torch.Tensor:
    """Read an RGB, RGBA, palette, grayscale or 16-bit PNG/JPEG/BMP/... file as a 3xHxW float32 tensor in [0, 1].

    Alpha is dropped; grayscale is repeated to three channels; 16-bit data keeps its precision.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path} (check the path; directories are not images)")
    try:
        with Image.open(path) as im:
            im.load()
            array = _to_float_rgb(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(
            f"cannot read {path} as an image ({err}); the file is corrupt or not in a format Pillow "
            "reads (PNG, JPEG, BMP, TIFF, WebP): re-export it as PNG"
        ) from err
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def _to_float_rgb(im: Image.Image) -> np.ndarray:
    """HxWx3 float32 array in [0, 1] from any Pillow mode, scaling integer data by its bit depth."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        gray = np.asarray(im, dtype=np.float64)
        if gray.min(initial=0) < 0 or gray.max(initial=0) > 65535:
            raise ValueError("integer image values outside 0..65535; save the image as 8- or 16-bit PNG")
        return np.repeat((gray / 65535.0)[..., None], 3, axis=2).astype(np.float32)
    if im.mode == "F":
        raise ValueError("floating-point image mode 'F' has no fixed range; save the image as 8- or 16-bit PNG")
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def psnr(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of Bx3xHxW images in [0, 1] against `reference` (capped at 100 dB when identical)."""
    mse = (x.float() - reference.float()).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(1.0 / mse.clamp_min(1e-10))).clamp(max=100.0)
