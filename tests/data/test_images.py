"""Image loading: modes and bit depths, and clear errors for missing or corrupt files."""

import warnings

import numpy as np
import png
import pytest
import torch
from PIL import Image

from msbiqa.data.images import ImageLoadWarning, load_image, psnr, sample_photo_path


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)


@pytest.mark.parametrize("fmt", ["png", "bmp"])
def test_lossless_rgb_round_trip(tmp_path, rgb, fmt):
    path = tmp_path / f"x.{fmt}"
    Image.fromarray(rgb).save(path)
    img = load_image(path)
    assert img.shape == (3, 9, 7) and img.dtype == torch.float32
    assert torch.allclose(img, torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)


def test_jpeg_rgba_palette_and_gray(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "x.jpg", quality=95)
    Image.fromarray(np.dstack([rgb, np.full((9, 7), 255, np.uint8)])).save(tmp_path / "a.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.png")
    assert load_image(tmp_path / "x.jpg").shape == (3, 9, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an opaque alpha channel changes nothing and says nothing
        opaque = load_image(tmp_path / "a.png")
    assert torch.allclose(opaque, torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)
    assert load_image(tmp_path / "p.png").shape == (3, 9, 7)
    gray = load_image(tmp_path / "g.png")
    assert torch.equal(gray[0], gray[2]) and torch.allclose(gray[1], torch.from_numpy(rgb[..., 0]).float() / 255)


def test_16_bit_grayscale_keeps_precision(tmp_path):
    values = np.array([[0, 1, 256, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "d.png")
    img = load_image(tmp_path / "d.png")
    assert img.shape == (3, 1, 4)
    assert torch.allclose(img[0, 0].double(), torch.from_numpy(values[0] / 65535.0), atol=1e-7)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_image(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    with pytest.raises(ValueError, match="corrupt"):
        load_image(tmp_path / "bad.png")
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="PNG"):
        load_image(tmp_path / "notes.txt")


def test_bundled_photo_loads():
    img = load_image(sample_photo_path())
    assert img.shape == (3, 128, 128) and 0.0 <= img.min() and img.max() <= 1.0 and img.std() > 0.1


def test_psnr():
    x = torch.zeros(2, 3, 4, 4)
    assert torch.allclose(psnr(x + 0.1, x), torch.tensor([20.0, 20.0]))
    assert psnr(x, x).tolist() == [100.0, 100.0]


def test_exif_orientation_is_applied_as_viewers_show(tmp_path, rgb):
    """A phone photo stored sideways with orientation 6 (rotate 90 degrees clockwise to view)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(tmp_path / "r.jpg", quality=100, exif=exif)
    with pytest.warns(ImageLoadWarning, match="EXIF orientation 6"):
        img = load_image(tmp_path / "r.jpg")
    plain = load_image_plain(tmp_path / "r.jpg")
    assert img.shape == (3, 7, 9)
    assert torch.allclose(img, torch.rot90(plain, k=-1, dims=(1, 2)))


def load_image_plain(path):
    with Image.open(path) as im:
        return torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)


def test_16_bit_rgb_png_keeps_precision(tmp_path):
    values = np.random.default_rng(1).integers(0, 65536, (5, 4, 3), dtype=np.uint16)
    with open(tmp_path / "c.png", "wb") as f:
        png.Writer(4, 5, greyscale=False, bitdepth=16).write(f, values.reshape(5, 12).tolist())
    img = load_image(tmp_path / "c.png")
    assert torch.allclose(img.double(), torch.from_numpy(values / 65535.0).permute(2, 0, 1), atol=1e-7)


def test_32_bit_integer_tiff_of_8_bit_values_is_not_black(tmp_path):
    values = np.arange(0, 256, dtype=np.int32).reshape(16, 16)
    Image.fromarray(values).save(tmp_path / "i.tif")
    with pytest.warns(ImageLoadWarning, match="read as 8-bit"):
        img = load_image(tmp_path / "i.tif")
    assert float(img.max()) == 1.0 and torch.allclose(img[0], torch.from_numpy(values / 255.0).float())


def test_transparent_pixels_are_composited_over_white(tmp_path, rgb):
    alpha = np.zeros((9, 7), np.uint8)
    alpha[:, :3] = 255
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "t.png")
    with pytest.warns(ImageLoadWarning, match="transparent; composited over white"):
        img = load_image(tmp_path / "t.png")
    assert torch.all(img[:, :, 3:] == 1.0)  # the hidden colour of transparent pixels is not scored
    assert torch.allclose(img[:, :, :3], torch.from_numpy(rgb[:, :3]).permute(2, 0, 1).float() / 255)


def test_decompression_bombs_are_refused(tmp_path, rgb, monkeypatch):
    Image.fromarray(rgb).save(tmp_path / "b.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # 63 pixels are then over twice the limit
    with pytest.raises(ValueError, match="too large to decode safely"):
        load_image(tmp_path / "b.png")


def write_png16(path, values: np.ndarray, **kind):
    """`values` (HxWxplanes uint16) as a 16-bit PNG written by pypng."""
    h, w, planes = values.shape
    with open(path, "wb") as f:
        png.Writer(w, h, bitdepth=16, **kind).write(f, values.reshape(h, w * planes).tolist())


def test_16_bit_grey_alpha_png_keeps_precision(tmp_path):
    grey = np.random.default_rng(2).integers(0, 65536, (5, 4), dtype=np.uint16)
    write_png16(tmp_path / "la.png", np.dstack([grey, np.full_like(grey, 65535)]), greyscale=True, alpha=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        img = load_image(tmp_path / "la.png")
    assert torch.allclose(img.double(), torch.from_numpy(grey / 65535.0).expand(3, 5, 4), atol=1e-7)
    alpha = np.zeros_like(grey)
    write_png16(tmp_path / "clear.png", np.dstack([grey, alpha]), greyscale=True, alpha=True)
    with pytest.warns(ImageLoadWarning, match="transparent; composited over white"):
        assert torch.all(load_image(tmp_path / "clear.png") == 1.0)


@pytest.mark.parametrize("kind", [{"greyscale": False}, {"greyscale": True, "alpha": True}])
def test_16_bit_png_bombs_meet_the_pixel_cap_before_decoding(tmp_path, monkeypatch, kind):
    planes = 2 if kind.get("alpha") else 3
    write_png16(tmp_path / "b.png", np.zeros((9, 7, planes), np.uint16), **kind)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # 63 pixels are then over twice the limit
    monkeypatch.setattr(png, "Reader", None)  # pypng (no pixel cap of its own) must not be reached
    with pytest.raises(ValueError, match="b.png is too large to decode safely"):
        load_image(tmp_path / "b.png")


@pytest.mark.parametrize("suffix", ["gif", "png", "tif", "webp"])
def test_files_of_several_frames_are_refused(tmp_path, rgb, suffix):
    """Animated GIF, APNG and WebP, multi-page TIFF: not certified as their first frame without a word."""
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    path = tmp_path / f"anim.{suffix}"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match=f"{path} holds 2 frames .* extract one frame"):
        load_image(path)
