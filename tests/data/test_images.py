"""Image loading: modes and bit depths, and clear errors for missing or corrupt files."""

import numpy as np
import pytest
import torch
from PIL import Image

from msbiqa.data.images import load_image, psnr, sample_photo_path


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
    Image.fromarray(np.dstack([rgb, np.full((9, 7), 7, np.uint8)])).save(tmp_path / "a.png")
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.png")
    assert load_image(tmp_path / "x.jpg").shape == (3, 9, 7)
    assert torch.allclose(load_image(tmp_path / "a.png"), torch.from_numpy(rgb).permute(2, 0, 1).float() / 255)
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
