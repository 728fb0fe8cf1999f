"""KADID-10k's menu of synthetic distortions: 25 types in 7 families, 5 graded levels (1 = mildest).

Each type is written here from its description in the KADID-10k paper (Lin, Hosu and Saupe, QoMEX 2019),
with numpy, scipy, scikit-image and Pillow; parameters are set for the embedded set's 96 px images (a
crop of a photo shrunk 3-6x), so spatial sizes are smaller than KADID's 512x384 ones.

Every function maps an HxWx3 uint8 image and the level's parameter to a uint8 image of the same size.
Random draws come from the generator passed in. The build seeds it per image and type, not per level,
so the five levels of one image share their draws: a stronger level is the same corruption, stronger
(more of the same noise, the same patches plus more), which keeps the levels ordered on every image.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import color, restoration


def _float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) / 255.0


def _uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def _filter(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Each channel correlated with a 2-D kernel (reflecting borders)."""
    x = _float(image)
    return _uint8(np.stack([ndimage.correlate(x[..., c], kernel, mode="reflect") for c in range(3)], axis=2))


def _lab(image: np.ndarray) -> np.ndarray:
    return color.rgb2lab(_float(image))


def _from_lab(lab: np.ndarray) -> np.ndarray:
    """uint8 RGB from CIELAB; out-of-gamut colours clip (skimage's warning about it is expected here)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Conversion from CIE-LAB", category=UserWarning)
        return _uint8(color.lab2rgb(lab))


# ---------------------------------------------------------------- blurs


def gaussian_blur(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur with std `sigma` pixels."""
    return _uint8(ndimage.gaussian_filter(_float(image), sigma=(sigma, sigma, 0), mode="reflect"))


def lens_blur(image: np.ndarray, radius: float, rng: np.random.Generator) -> np.ndarray:
    """Defocus: a uniform disk kernel of `radius` pixels (edge pixels weighted by their covered area)."""
    r = int(np.ceil(radius))
    fine = (np.arange(-r * 8, (r + 1) * 8) + 0.5) / 8 - 0.5  # 8x8 samples per pixel
    inside = (fine[:, None] ** 2 + fine[None, :] ** 2 <= radius**2).astype(float)
    kernel = inside.reshape(2 * r + 1, 8, 2 * r + 1, 8).mean(axis=(1, 3))
    return _filter(image, kernel / kernel.sum())


def motion_blur(image: np.ndarray, length: float, rng: np.random.Generator) -> np.ndarray:
    """Linear camera motion over `length` pixels in a random direction."""
    angle = rng.uniform(0.0, np.pi)
    r = int(np.ceil(length / 2))
    kernel = np.zeros((2 * r + 1, 2 * r + 1))
    for t in np.linspace(-length / 2, length / 2, 8 * int(np.ceil(length)) + 1):
        x, y = r + t * np.cos(angle), r + t * np.sin(angle)
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - x0, y - y0
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                if 0 <= y0 + dy <= 2 * r and 0 <= x0 + dx <= 2 * r:
                    kernel[y0 + dy, x0 + dx] += wy * wx
    return _filter(image, kernel / kernel.sum())


# ---------------------------------------------------------------- colour distortions


def color_diffusion(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Colour bleeding: the a* and b* channels of CIELAB blurred with std `sigma` pixels."""
    lab = _lab(image)
    lab[..., 1:] = ndimage.gaussian_filter(lab[..., 1:], sigma=(sigma, sigma, 0), mode="reflect")
    return _from_lab(lab)


def color_shift(image: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Misregistered colour planes: the green channel moved `amount` pixels in a random direction."""
    angle = rng.uniform(0.0, 2 * np.pi)
    x = _float(image)
    x[..., 1] = ndimage.shift(x[..., 1], (amount * np.sin(angle), amount * np.cos(angle)), order=1, mode="nearest")
    return _uint8(x)


def color_quantization(image: np.ndarray, colors: float, rng: np.random.Generator) -> np.ndarray:
    """A palette of `colors` colours (median cut, no dithering)."""
    palette = Image.fromarray(image).quantize(
        colors=int(colors), method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    return np.asarray(palette.convert("RGB"))


def color_saturation1(image: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Desaturation: HSV saturation multiplied by `factor` (< 1)."""
    hsv = color.rgb2hsv(image)
    hsv[..., 1] *= factor
    return _uint8(color.hsv2rgb(hsv))


def color_saturation2(image: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Oversaturation: the chroma (Cb, Cr of YCbCr) multiplied by `factor` (> 1) at constant luma;
    out-of-gamut colours clip."""
    ycbcr = color.rgb2ycbcr(_float(image))
    ycbcr[..., 1:] = 128.0 + factor * (ycbcr[..., 1:] - 128.0)
    return _uint8(color.ycbcr2rgb(ycbcr))


# ---------------------------------------------------------------- compression


def jpeg2000(image: np.ndarray, psnr: float, rng: np.random.Generator) -> np.ndarray:
    """OpenJPEG (through Pillow) JPEG 2000, irreversible 9/7 wavelet, at the rate that reaches `psnr` dB.

    A PSNR target rather than KADID's compression ratio: on small images a fixed ratio soon asks for less
    than the smallest codestream (at 48 px, ratios 26 and 40 gave the same image).
    """
    buffer = io.BytesIO()
    Image.fromarray(image).save(
        buffer, format="JPEG2000", quality_mode="dB", quality_layers=[float(psnr)], irreversible=True
    )
    with Image.open(buffer) as im:
        return np.asarray(im.convert("RGB"))


def jpeg(image: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    """libjpeg (through Pillow) JPEG at `quality`, 4:2:0 chroma subsampling."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    with Image.open(buffer) as im:
        return np.asarray(im.convert("RGB"))


# ---------------------------------------------------------------- noise


def white_noise(image: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Additive white Gaussian noise with std `std` on the [0, 1] scale, independent per channel."""
    return _uint8(_float(image) + std * rng.standard_normal(image.shape))


def color_noise(image: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise with std `std` in the colour components: Cb and Cr of YCbCr (on [0, 1])."""
    ycbcr = color.rgb2ycbcr(_float(image)) / 255.0
    ycbcr[..., 1:] += std * rng.standard_normal(image.shape[:2] + (2,))
    return _uint8(color.ycbcr2rgb(ycbcr * 255.0))


def impulse_noise(image: np.ndarray, density: float, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper: a fraction `density` of the values of each channel set to 0 or 255."""
    draw = rng.random(image.shape)
    out = image.copy()
    out[draw < density / 2] = 0
    out[draw > 1 - density / 2] = 255
    return out


def multiplicative_noise(image: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Speckle: x * (1 + n) with n white Gaussian of std `std`."""
    x = _float(image)
    return _uint8(x * (1.0 + std * rng.standard_normal(image.shape)))


def denoise(image: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Denoising artefacts: white noise of std `std`, then total-variation denoising (Chambolle) with weight
    1.5 * std, run to convergence (a loose stopping rule made the result depend on when it stopped)."""
    noisy = np.clip(_float(image) + std * rng.standard_normal(image.shape), 0.0, 1.0)
    tv = restoration.denoise_tv_chambolle(noisy, weight=1.5 * std, eps=1e-5, max_num_iter=2000, channel_axis=-1)
    return _uint8(tv)


# ---------------------------------------------------------------- brightness change


def brighten(image: np.ndarray, gamma: float, rng: np.random.Generator) -> np.ndarray:
    """Non-linear brightening 1 - (1 - x)^gamma (gamma > 1): shadows and mid-tones lift, black and white stay."""
    return _uint8(1.0 - (1.0 - _float(image)) ** gamma)


def darken(image: np.ndarray, gamma: float, rng: np.random.Generator) -> np.ndarray:
    """Non-linear darkening x^gamma (gamma > 1): mid-tones and highlights sink, black and white stay."""
    return _uint8(_float(image) ** gamma)


def mean_shift(image: np.ndarray, shift: float, rng: np.random.Generator) -> np.ndarray:
    """Every value moved by `shift` (on [0, 1]) towards the far end: up for an image darker than mid-grey,
    down otherwise; values past 0 or 1 clip."""
    x = _float(image)
    return _uint8(x + (shift if x.mean() < 0.5 else -shift))


# ---------------------------------------------------------------- spatial distortions


def jitter(image: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Each pixel taken from a random nearby position: Gaussian offsets of std `amount` pixels (bilinear)."""
    h, w = image.shape[:2]
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    offsets = amount * rng.standard_normal((2, h, w))
    coords = [rows + offsets[0], cols + offsets[1]]
    x = _float(image)
    return _uint8(np.stack([ndimage.map_coordinates(x[..., c], coords, order=1, mode="reflect") for c in range(3)], 2))


PATCH = 8  # side in pixels of the patches of non_eccentricity_patch and color_block (96 px images)
MAX_PATCHES = 32  # patches drawn for every level; a level uses the first `count`


def non_eccentricity_patch(image: np.ndarray, count: float, rng: np.random.Generator) -> np.ndarray:
    """`count` small patches each replaced by a copy of a nearby patch (offset up to one patch side)."""
    h, w = image.shape[:2]
    draws = rng.random((MAX_PATCHES, 4))
    out = image.copy()
    for top_f, left_f, dy_f, dx_f in draws[: int(count)]:
        top, left = int(top_f * (h - PATCH + 1)), int(left_f * (w - PATCH + 1))
        src_top = int(np.clip(top + round((2 * dy_f - 1) * PATCH), 0, h - PATCH))
        src_left = int(np.clip(left + round((2 * dx_f - 1) * PATCH), 0, w - PATCH))
        out[top : top + PATCH, left : left + PATCH] = image[src_top : src_top + PATCH, src_left : src_left + PATCH]
    return out


def pixelate(image: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Blocks: box-downscaled by `factor`, then scaled back up by pixel repetition (nearest neighbour)."""
    h, w = image.shape[:2]
    small = Image.fromarray(image).resize((max(1, round(w / factor)), max(1, round(h / factor))), Image.Resampling.BOX)
    return np.asarray(small.resize((w, h), Image.Resampling.NEAREST))


def quantization(image: np.ndarray, levels: float, rng: np.random.Generator) -> np.ndarray:
    """Each channel quantised uniformly to `levels` grey levels (banding, posterisation)."""
    n = int(levels) - 1
    return _uint8(np.rint(_float(image) * n) / n)


def color_block(image: np.ndarray, count: float, rng: np.random.Generator) -> np.ndarray:
    """`count` uniformly coloured square patches pasted at random positions."""
    h, w = image.shape[:2]
    draws = rng.random((MAX_PATCHES, 5))
    out = image.copy()
    for top_f, left_f, *rgb in draws[: int(count)]:
        top, left = int(top_f * (h - PATCH + 1)), int(left_f * (w - PATCH + 1))
        out[top : top + PATCH, left : left + PATCH] = np.rint(np.asarray(rgb) * 255).astype(np.uint8)
    return out


# ---------------------------------------------------------------- sharpness and contrast


def high_sharpen(image: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Oversharpening: unsharp masking of CIELAB L* (Gaussian std 1 pixel) with gain `amount`."""
    lab = _lab(image)
    lightness = lab[..., 0]
    lab[..., 0] = np.clip(lightness + amount * (lightness - ndimage.gaussian_filter(lightness, 1.0)), 0, 100)
    return _from_lab(lab)


def contrast_change(image: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Contrast reduced to `factor` of the original around the image mean."""
    x = _float(image)
    return _uint8(x.mean() + factor * (x - x.mean()))


# family -> type -> (function, parameter at levels 1..5)
FAMILIES: dict[str, dict[str, tuple]] = {
    "blur": {
        "gaussian_blur": (gaussian_blur, (0.5, 0.8, 1.2, 1.8, 2.6)),
        "lens_blur": (lens_blur, (0.7, 1.0, 1.5, 2.2, 3.2)),
        "motion_blur": (motion_blur, (1.5, 3.0, 4.5, 6.5, 9.0)),
    },
    "color": {
        "color_diffusion": (color_diffusion, (1.0, 2.0, 3.0, 5.0, 8.0)),
        "color_shift": (color_shift, (0.3, 0.6, 1.0, 1.6, 2.5)),
        "color_quantization": (color_quantization, (64, 32, 16, 8, 4)),
        "color_saturation1": (color_saturation1, (0.7, 0.5, 0.3, 0.15, 0.0)),
        "color_saturation2": (color_saturation2, (1.6, 2.2, 3.0, 4.0, 5.5)),
    },
    "compression": {
        "jpeg2000": (jpeg2000, (34, 31, 28, 25, 22)),
        "jpeg": (jpeg, (50, 30, 18, 10, 5)),
    },
    "noise": {
        "white_noise": (white_noise, (0.02, 0.035, 0.05, 0.075, 0.11)),
        "color_noise": (color_noise, (0.04, 0.07, 0.11, 0.16, 0.24)),
        "impulse_noise": (impulse_noise, (0.002, 0.005, 0.01, 0.02, 0.04)),
        "multiplicative_noise": (multiplicative_noise, (0.05, 0.1, 0.15, 0.2, 0.3)),
        "denoise": (denoise, (0.015, 0.03, 0.05, 0.08, 0.12)),
    },
    "brightness": {
        "brighten": (brighten, (1.3, 1.6, 2.0, 2.6, 3.5)),
        "darken": (darken, (1.3, 1.6, 2.0, 2.6, 3.5)),
        "mean_shift": (mean_shift, (0.05, 0.1, 0.15, 0.2, 0.3)),
    },
    "spatial": {
        "jitter": (jitter, (0.2, 0.4, 0.7, 1.1, 1.7)),
        "non_eccentricity_patch": (non_eccentricity_patch, (3, 6, 12, 20, 32)),
        "pixelate": (pixelate, (2, 3, 4, 5, 6)),
        "quantization": (quantization, (16, 10, 7, 5, 3)),
        "color_block": (color_block, (2, 4, 7, 11, 16)),
    },
    "sharpness_contrast": {
        "high_sharpen": (high_sharpen, (0.5, 1.0, 2.0, 3.5, 6.0)),
        "contrast_change": (contrast_change, (0.8, 0.65, 0.5, 0.35, 0.2)),
    },
}
# type -> (function, parameters); type -> family
DISTORTIONS = {name: spec for family in FAMILIES.values() for name, spec in family.items()}
FAMILY_OF = {name: family for family, types in FAMILIES.items() for name in types}
LEVELS = (1, 2, 3, 4, 5)
# Types that leave a grey image unchanged (they act on chroma only): not applied to grayscale photos.
CHROMA_ONLY = frozenset({"color_diffusion", "color_saturation1", "color_saturation2"})


def distort(image: np.ndarray, name: str, level: int, rng: np.random.Generator) -> np.ndarray:
    """`image` (HxWx3 uint8) with distortion type `name` at `level` (1..5)."""
    if name not in DISTORTIONS:
        raise ValueError(f"unknown distortion {name!r}; choose one of {', '.join(DISTORTIONS)}")
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    function, params = DISTORTIONS[name]
    return function(image, params[level - 1], rng)
