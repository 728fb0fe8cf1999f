"""The reference photographs: real, distinct, each from a package pinned in requirements.txt."""

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from msbiqa.data.photos import PHOTOS, is_gray, package_file

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"
GRAY = {"camera", "grass", "brick", "gravel", "coins", "ascent"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    return {p.name: p.load() for p in PHOTOS}


def test_photos_are_many_named_once_and_split_three_ways():
    assert len(PHOTOS) >= 26 and len({p.name for p in PHOTOS}) == len(PHOTOS)
    counts = {s: sum(p.split == s for p in PHOTOS) for s in ("train", "val", "test")}
    assert sum(counts.values()) == len(PHOTOS) and counts["test"] >= 5 and counts["val"] >= 3


def test_every_photo_is_a_real_rgb_image(images):
    for name, image in images.items():
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, name
        assert min(image.shape[:2]) >= 300 and image.std() > 20, name
    assert {name for name, image in images.items() if is_gray(image)} == GRAY


def test_no_two_photos_show_the_same_scene(images):
    thumbs = {}
    for name, image in images.items():
        small = np.asarray(Image.fromarray(image).convert("L").resize((32, 32), Image.Resampling.BOX), float)
        thumbs[name] = (small - small.mean()).ravel() / small.std()
    names = sorted(thumbs)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert abs(thumbs[a] @ thumbs[b]) / thumbs[a].size < 0.9, (a, b)


def test_every_source_is_a_pinned_package_and_says_who_and_which_licence():
    pinned = {}
    for line in REQUIREMENTS.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s#]+)", line.strip())
        if match:
            pinned[_normal(match.group(1))] = match.group(2)
    for photo in PHOTOS:
        distribution, rest = photo.source.split(": ", 1)
        assert _normal(distribution) in pinned, f"{photo.name}: {distribution} is not pinned in requirements.txt"
        assert re.fullmatch(r"\S+ \(.+\)", rest), photo.source


def test_package_file_names_the_fix():
    with pytest.raises(FileNotFoundError, match="not installed.*pip install -r requirements.txt"):
        package_file("no-such-distribution-msbiqa", "x.png")
    with pytest.raises(FileNotFoundError, match="file skimage/data/none.png is missing"):
        package_file("scikit-image", "skimage/data/none.png")
