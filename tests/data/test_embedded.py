"""The embedded set: images and labels, labels fall with distortion level, splits disjoint by photo,
deterministic cached builds, the build-data command, real photos, distortions, the pseudo-MOS formula."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from msbiqa.cli import build_data
from msbiqa.data import EmbeddedIQA, IQADataset, load_dataset
from msbiqa.data import embedded as emb
from msbiqa.data.distortions import DISTORTIONS, LEVELS, distort
from msbiqa.data.photos import CROPS, PHOTOS
from msbiqa.data.pseudo_mos import ANCHORS, FRScorer, pseudo_mos

SIZE = 48


PER_CROP = 1 + len(DISTORTIONS) * len(LEVELS)


@pytest.fixture(scope="session")
def embedded_root(tmp_path_factory):
    return emb.build_embedded(tmp_path_factory.mktemp("embedded") / "set", SIZE, progress=False)


def test_embedded_images_and_labels(embedded_root):
    ds = load_dataset("embedded", root=embedded_root, size=SIZE)
    assert isinstance(ds, EmbeddedIQA) and isinstance(ds, IQADataset)
    assert len(ds) == len(PHOTOS) * len(CROPS) * PER_CROP
    assert len(set(ds.names)) == len(ds) and ds.mos_range == (0.0, 100.0)
    assert ((ds.mos >= 0) & (ds.mos <= 100)).all()
    for i in (0, len(ds) // 2, len(ds) - 1):
        img, mos, name = ds[i]
        assert img.dtype == torch.float32 and img.shape == (3, SIZE, SIZE)
        assert 0.0 <= img.min() and img.max() <= 1.0
        assert mos == ds.mos[i] and name == ds.names[i]
    table = ds.table
    assert (table.loc[table.distortion == "pristine", "mos"] > 99.99).all()
    assert (table.loc[table.distortion != "pristine", "mos"] < 99.99).all()


def test_labels_fall_with_distortion_level(embedded_root):
    table = EmbeddedIQA(root=embedded_root, size=SIZE).table
    by_level = table[table.level > 0].groupby(["ref", "distortion", "level"])["mos"].mean().unstack()
    assert (by_level.diff(axis=1).iloc[:, 1:] < 0).all().all(), "a stronger distortion got a higher pseudo-MOS"
    assert table["mos"].std() > 10


def test_splits_are_disjoint_by_reference_photo(embedded_root):
    parts = {s: EmbeddedIQA(s, root=embedded_root, size=SIZE) for s in ("train", "val", "test")}
    refs = {s: set(ds.table["ref"]) for s, ds in parts.items()}
    assert not (refs["train"] & refs["val"] or refs["train"] & refs["test"] or refs["val"] & refs["test"])
    assert refs["train"] | refs["val"] | refs["test"] == {p.name for p in PHOTOS}
    assert sum(len(ds) for ds in parts.values()) == len(EmbeddedIQA(root=embedded_root, size=SIZE))
    assert all(len(ds) > 0 for ds in parts.values())


def test_build_is_deterministic(embedded_root):
    """A second rendering of one photo gives the same pixels and the same labels as the cached build."""
    table = pd.read_csv(embedded_root / emb.LABELS).set_index("name")
    photo = next(p for p in PHOTOS if p.split == "test")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the build; much faster on a shared CPU
    try:
        rows = emb.render_photo(photo, SIZE, FRScorer())
    finally:
        torch.set_num_threads(threads)
    assert len(rows) == len(CROPS) * PER_CROP
    for row in rows:
        on_disk = np.asarray(Image.open(embedded_root / "images" / f"{row['name']}.png"))
        np.testing.assert_array_equal(on_disk, row["image"])
        assert row["mos"] == pytest.approx(table.loc[row["name"], "mos"], abs=1e-3)


def test_cache_is_reused_and_versioned(embedded_root, monkeypatch, tmp_path):
    assert emb.is_current(embedded_root, SIZE)
    assert not emb.is_current(embedded_root, SIZE + 1)
    monkeypatch.setattr(emb, "RECIPE_VERSION", emb.RECIPE_VERSION + 1)
    assert not emb.is_current(embedded_root, SIZE)  # a new recipe means a rebuild
    monkeypatch.setenv("MSBIQA_CACHE", str(tmp_path))
    assert emb.default_root(64) == tmp_path / f"embedded-v{emb.RECIPE_VERSION}-64"


def test_build_refuses_foreign_folder_and_tiny_size(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds no embedded set"):
        emb.build_embedded(tmp_path, SIZE)
    with pytest.raises(ValueError, match="size must be"):
        emb.build_embedded(tmp_path / "new", 16)


def test_build_data_command_reports_cached_set(embedded_root, capsys):
    sub = argparse.ArgumentParser().add_subparsers()
    build_data.register(sub)
    assert build_data.run(argparse.Namespace(root=str(embedded_root), size=SIZE, force=False)) == 0
    out = capsys.readouterr().out
    assert f"{len(PHOTOS) * len(CROPS) * PER_CROP} images" in out and "test :" in out


def test_photos_are_real_rgb_photographs():
    assert {p.split for p in PHOTOS} == {"train", "val", "test"}
    assert len({p.name for p in PHOTOS}) == len(PHOTOS)
    for photo in PHOTOS:
        image = photo.load()
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, photo.name
        assert min(image.shape[:2]) >= 300 and image.std() > 20, photo.name


def test_distortions_grow_with_level():
    image = PHOTOS[0].load()[100:196, 200:296]
    for name in DISTORTIONS:
        errors = []
        for level in LEVELS:
            out = distort(image, name, level, np.random.default_rng(0))
            assert out.dtype == np.uint8 and out.shape == image.shape, name
            errors.append(np.mean((out.astype(float) - image) ** 2))
        assert errors[0] > 0 and np.all(np.diff(errors) > 0), (name, errors)
    a = distort(image, "noise", 2, np.random.default_rng(5))
    np.testing.assert_array_equal(a, distort(image, "noise", 2, np.random.default_rng(5)))


def test_pseudo_mos_formula():
    best = {m: np.array([b]) for m, (b, _) in ANCHORS.items()}
    worst = {m: np.array([w]) for m, (_, w) in ANCHORS.items()}
    assert pseudo_mos(best)[0] == pytest.approx(100.0)
    assert pseudo_mos(worst)[0] == pytest.approx(0.0)
    half = {m: np.array([(b + w) / 2]) for m, (b, w) in ANCHORS.items()}
    assert pseudo_mos(half)[0] == pytest.approx(50.0)
    beyond = {m: np.array([w - (b - w)]) for m, (b, w) in ANCHORS.items()}
    assert pseudo_mos(beyond)[0] == 0.0  # clipped


def test_manifest_describes_recipe(embedded_root):
    manifest = json.loads((embedded_root / emb.MANIFEST).read_text())
    assert manifest["recipe_version"] == emb.RECIPE_VERSION and manifest["size"] == SIZE
    assert set(manifest["photos"]) == {p.name for p in PHOTOS} and set(manifest["distortions"]) == set(DISTORTIONS)
