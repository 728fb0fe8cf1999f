"""Image files -> float tensors in [0, 1], with errors that say what to do; PSNR between such tensors."""

from __future__ import annotations

import warnings
from importlib.resources import files
from pathlib import Path

import numpy as np
import png
import torch
import torch.nn.functional as F
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

SAMPLE_PHOTO = "astronaut.png"
MIN_SIDE = 16  # the smallest side a metric here scores (TinyIQA's); a metric that needs more says so itself


def sample_photo(height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The bundled photo resized to height x width: 1x3xHxW in [0, 1] on `device` (what benchmarks time)."""
    photo = load_image(sample_photo_path())[None]
    return F.interpolate(photo, size=(height, width), mode="bilinear", align_corners=False).clamp(0, 1).to(device)


def sample_photo_path() -> Path:
    """Path of the bundled sample photo (NASA's public-domain astronaut portrait from scikit-image, 128x128)."""
    return Path(str(files("msbiqa") / "assets" / SAMPLE_PHOTO))


class ImageLoadWarning(UserWarning):
    """What `load_image` did to show an image as viewers do (rotation, transparency, bit depth)."""


def load_image(path: str | Path) -> torch.Tensor:
    """Read a PNG/JPEG/BMP/TIFF/WebP file as a 3xHxW float32 tensor in [0, 1], as image viewers show it.

    EXIF orientation is applied; transparent pixels are composited over white; grayscale is repeated to three
    channels; 16-bit data (grey, grey+alpha, RGB, RGBA) keeps its precision; 32-bit integer data is scaled by the
    bit depth its values fit (8 or 16). Each of these steps, when it changes the pixels, is reported as an
    ImageLoadWarning. Images beyond Pillow's decompression-bomb limit (checked from the header, before decoding,
    whichever decoder reads the pixels) and files of several frames (animations, multi-page TIFFs) are refused.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path} (check the path; directories are not images)")
    try:
        with Image.open(path) as im:  # reads the header: Pillow's pixel cap, the frame count
            _check_one_frame(im, path)
            array = _read_png16(path)
            if array is None:
                im.load()
                array = _to_float_rgb(_upright(im, path), path)
    except Image.DecompressionBombError as err:
        raise ValueError(
            f"{path} is too large to decode safely ({err}); downscale it (e.g. to 4096 px) before certifying"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, png.Error) as err:
        raise ValueError(
            f"cannot read {path} as an image ({err}); the file is corrupt or not in a format Pillow "
            "reads (PNG, JPEG, BMP, TIFF, WebP): re-export it as PNG"
        ) from err
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def _check_one_frame(im: Image.Image, path: Path) -> None:
    """ValueError for an animated GIF/PNG/WebP or a multi-page TIFF: certifying its first frame alone would be
    silent about the rest."""
    frames = getattr(im, "n_frames", 1)
    if frames > 1:
        raise ValueError(
            f"{path} holds {frames} frames (an animation or a multi-page file) and one image is certified at a "
            "time: extract one frame (e.g. save it as PNG) and pass that file"
        )


def _upright(im: Image.Image, path: Path) -> Image.Image:
    """The image rotated/flipped as its EXIF orientation tag says (what viewers display)."""
    orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
    if orientation in (None, 1):
        return im
    warnings.warn(f"{path.name}: applied EXIF orientation {orientation}", ImageLoadWarning, stacklevel=3)
    return ImageOps.exif_transpose(im)


def _over_white(rgb: np.ndarray, alpha: np.ndarray, path: Path) -> np.ndarray:
    """RGB in [0, 1] composited over a white background by alpha in [0, 1]."""
    if alpha.min() >= 1.0:
        return rgb
    share = float(np.mean(alpha < 1.0))
    warnings.warn(
        f"{path.name}: {share:.1%} of the pixels are (partly) transparent; composited over white",
        ImageLoadWarning,
        stacklevel=3,
    )
    return rgb * alpha[..., None] + (1.0 - alpha[..., None])


def _to_float_rgb(im: Image.Image, path: Path) -> np.ndarray:
    """HxWx3 float32 array in [0, 1] from any Pillow mode, scaling integer data by its bit depth."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        gray = np.asarray(im, dtype=np.float64)
        return np.repeat(_scale_integers(gray, 65535 if im.mode != "I" else None, path)[..., None], 3, axis=2)
    if im.mode == "F":
        raise ValueError("floating-point image mode 'F' has no fixed range; save the image as 8- or 16-bit PNG")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        return _over_white(rgba[..., :3], rgba[..., 3], path).astype(np.float32)
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def _scale_integers(values: np.ndarray, peak: int | None, path: Path) -> np.ndarray:
    """Integer pixel values as float32 in [0, 1]: divided by `peak`, or (for 32-bit data, whose range the file
    does not state) by the 8- or 16-bit peak that its values fit."""
    lo, hi = float(values.min(initial=0)), float(values.max(initial=0))
    if lo < 0 or hi > 65535:
        raise ValueError(
            f"{path}: integer pixel values in {lo:g}..{hi:g}, outside 0..65535; save it as 8- or 16-bit PNG"
        )
    if peak is None:
        peak = 255 if hi <= 255 else 65535
        warnings.warn(
            f"{path.name}: 32-bit integer pixels with values up to {hi:g}, read as {peak.bit_length()}-bit",
            ImageLoadWarning,
            stacklevel=4,
        )
    return (values / peak).astype(np.float32)


def _read_png16(path: Path) -> np.ndarray | None:
    """A 16-bit PNG with colour or alpha (which Pillow would cut to 8 bits) read with pypng at full precision, else
    None (Pillow reads 16-bit grey as it is). The caller has checked the size against the pixel cap."""
    with open(path, "rb") as f:
        head = f.read(26)
        if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 26 or head[24] != 16 or head[25] not in (2, 4, 6):
            return None
        f.seek(0)
        width, height, rows, info = png.Reader(file=f).asDirect()
        planes = info["planes"]
        data = np.vstack([np.asarray(row, dtype=np.float64) for row in rows]).reshape(height, width, planes) / 65535.0
    colour = np.repeat(data[..., :1], 3, axis=2) if planes in (1, 2) else data[..., :3]
    return (_over_white(colour, data[..., -1], path) if planes in (2, 4) else colour).astype(np.float32)


def check_min_side(image: torch.Tensor, path: Path) -> None:
    """Refuse, naming the file, an image too small for any metric here (a 1x1 pixel in a dataset, say), before a
    resize would blow it up to a flat image or a metric would refuse it without saying which one it is."""
    h, w = image.shape[-2:]
    if min(h, w) < MIN_SIDE:
        raise ValueError(
            f"{path} is {h}x{w} pixels, below the {MIN_SIDE} px a side that the metrics score: replace it or remove "
            "it from the label file"
        )


def fit_within(image: torch.Tensor, max_side: int) -> torch.Tensor:
    """3xHxW image downscaled (antialiased bicubic, clamped to [0, 1]) so that max(H, W) <= max_side; smaller
    images are returned as they are. A certificate of the result is a certificate of the downscaled image."""
    h, w = image.shape[-2:]
    if max(h, w) <= max_side:
        return image
    scale = max_side / max(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    out = torch.nn.functional.interpolate(image[None], size=size, mode="bicubic", antialias=True, align_corners=False)
    return out[0].clamp(0.0, 1.0)


def psnr(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of Bx3xHxW images in [0, 1] against `reference` (capped at 100 dB when identical)."""
    mse = (x.float() - reference.float()).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(1.0 / mse.clamp_min(1e-10))).clamp(max=100.0)
