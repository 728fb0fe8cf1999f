"""KADID-10k's distortion menu on real 96 px photo crops: every type at every level, and the SSIM that labels them."""

import itertools
import zlib

import numpy as np
import PIL.features
import pyiqa
import pytest
import torch

from msbiqa.data.distortions import CHROMA_ONLY, DISTORTIONS, FAMILIES, FAMILY_OF, LEVELS, distort
from msbiqa.data.photos import CROPS, PHOTOS, crop_and_resize, is_gray
from msbiqa.data.pseudo_mos import FRScorer, pseudo_mos, ssim

pytestmark = pytest.mark.usefixtures("one_thread")

KADID = {
    "blur": {"gaussian_blur", "lens_blur", "motion_blur"},
    "color": {"color_diffusion", "color_shift", "color_quantization", "color_saturation1", "color_saturation2"},
    "compression": {"jpeg2000", "jpeg"},
    "noise": {"white_noise", "color_noise", "impulse_noise", "multiplicative_noise", "denoise"},
    "brightness": {"brighten", "darken", "mean_shift"},
    "spatial": {"jitter", "non_eccentricity_patch", "pixelate", "quantization", "color_block"},
    "sharpness_contrast": {"high_sharpen", "contrast_change"},
}
RANDOM = {
    "motion_blur",
    "color_shift",
    "white_noise",
    "color_noise",
    "impulse_noise",
    "multiplicative_noise",
    "denoise",
    "jitter",
    "non_eccentricity_patch",
    "color_block",
}


def _crop(name: str, c: int) -> np.ndarray:
    photo = next(p for p in PHOTOS if p.name == name)
    return crop_and_resize(photo.load(), CROPS[c], 96)


@pytest.fixture(scope="module")
def crops() -> dict[str, np.ndarray]:
    """Both 96 px crops of three colour photos of different content (parrots, cat, building)."""
    return {f"{name}/{c}": _crop(name, c) for name in ("kodim23", "chelsea", "china") for c in range(len(CROPS))}


def _levels(image: np.ndarray, name: str, key: str) -> list[np.ndarray]:
    """All levels of one type, seeded as the build seeds them (per image and type, shared by the levels)."""
    seed = zlib.crc32(f"{key}/{name}".encode())
    return [distort(image, name, level, np.random.default_rng(seed)) for level in LEVELS]


def _psnr(x: np.ndarray, ref: np.ndarray) -> float:
    mse = np.mean((x.astype(np.float64) - ref) ** 2)
    return float(10 * np.log10(255.0**2 / mse)) if mse > 0 else np.inf


def test_menu_is_kadids_25_types_in_7_families():
    assert {family: set(types) for family, types in FAMILIES.items()} == KADID
    assert len(DISTORTIONS) == 25 and LEVELS == (1, 2, 3, 4, 5)
    assert all(len(params) == len(LEVELS) for _, params in DISTORTIONS.values())
    assert all(FAMILY_OF[name] == family for family, types in KADID.items() for name in types)
    assert PIL.features.check("jpg_2000"), "Pillow lacks OpenJPEG: jpeg2000 cannot be made"


@pytest.mark.parametrize("name", list(DISTORTIONS))
def test_every_level_gives_a_changed_uint8_image_of_the_same_shape_deterministically(name, crops):
    image = crops["kodim23/1"]
    for img in (image, image[:70, :83]):  # also non-square, not a multiple of the patch size
        for level in LEVELS:
            a = distort(img, name, level, np.random.default_rng(3))
            assert a.dtype == np.uint8 and a.shape == img.shape, (name, level)
            np.testing.assert_array_equal(a, distort(img, name, level, np.random.default_rng(3)))
            assert not np.array_equal(a, img), (name, level)
    other = distort(image, name, 3, np.random.default_rng(4))
    assert np.array_equal(other, distort(image, name, 3, np.random.default_rng(3))) == (name not in RANDOM)


@pytest.mark.parametrize("name", list(DISTORTIONS))
def test_psnr_falls_with_every_level_on_real_photos(name, crops):
    for key, image in crops.items():
        psnr = [_psnr(out, image) for out in _levels(image, name, key)]
        assert np.all(np.diff(psnr) < 0), (key, np.round(psnr, 2))


def test_pseudo_mos_falls_with_every_level(crops):
    """Monotone for every type on every crop, except colour diffusion: a chroma blur that the luma-based
    metrics barely see (its label stays near 97), so only its first-to-last drop is required."""
    scorer = FRScorer()
    for key in ("kodim23/0", "chelsea/1"):
        image = crops[key]
        batch = np.stack([out for name in DISTORTIONS for out in _levels(image, name, key)])
        mos = pseudo_mos(scorer(batch, image)).reshape(len(DISTORTIONS), len(LEVELS))
        for name, row in zip(DISTORTIONS, mos):
            if name == "color_diffusion":
                assert row[-1] < row[0] < 100, (key, row)
            else:
                assert np.all(np.diff(row) < 0), (key, name, row.round(2))
        assert 80 < mos[:, 0].mean() < 97 and 35 < mos[:, -1].mean() < 60  # mild..strong, on the label scale


def test_levels_share_their_random_draws(crops):
    """A stronger level is the same corruption, stronger: what salt and pepper hit at one level stays hit
    with the same value at the next, and the noise of the strongest level is the mildest one's, scaled."""
    image = crops["chelsea/0"]
    impulses = _levels(image, "impulse_noise", "chelsea/0")
    for weaker, stronger in itertools.pairwise(impulses):
        hit = weaker != image
        np.testing.assert_array_equal(stronger[hit], weaker[hit])
        assert (stronger != image).sum() > hit.sum()
    noise = [out.astype(np.float64) - image for out in _levels(image, "white_noise", "chelsea/0")]
    assert np.corrcoef(noise[0].ravel(), noise[-1].ravel())[0, 1] > 0.9


def test_chroma_only_types_leave_grey_photos_grey_and_the_others_do_not():
    gray = _crop("camera", 0)
    assert is_gray(gray)
    for name in DISTORTIONS:
        out = distort(gray, name, 5, np.random.default_rng(0))
        unchanged = np.abs(out.astype(int) - gray).max() <= 1
        assert unchanged == (name in CHROMA_ONLY), name


def test_distort_names_the_choices():
    image = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="gaussian_blur"):
        distort(image, "blurr", 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="level must be one of"):
        distort(image, "jpeg", 6, np.random.default_rng(0))


def test_ssim_equals_pyiqas(crops):
    """The build's SSIM against pyiqa's "ssim" on distorted real crops (pyiqa rounds float32 luma)."""
    metric = pyiqa.create_metric("ssim", device="cpu")
    image = crops["china/0"]
    batch = np.stack([out for name in DISTORTIONS for out in _levels(image, name, "china/0")[::2]] + [image])
    x = torch.tensor(batch).permute(0, 3, 1, 2).float() / 255
    ref = torch.tensor(image).permute(2, 0, 1).float().div(255).expand_as(x).contiguous()
    with torch.no_grad():
        expected = metric(x, ref).double().numpy()
    ours = ssim(batch, image)
    np.testing.assert_allclose(ours, expected, atol=5e-5)
    assert ours[-1] == pytest.approx(1.0) and ours.min() < 0.5
