"""Embedded set (built once per session at 48 px) and readers on fixture folders in the official layouts."""

from __future__ import annotations

import argparse
import json
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest
import scipy.io
import torch
from PIL import Image

from msbiqa.commands import build_data
from msbiqa.data import EmbeddedIQA, IQADataset, load_dataset
from msbiqa.data import embedded as emb
from msbiqa.data.base import seeded_split
from msbiqa.data.distortions import DISTORTIONS, LEVELS, distort
from msbiqa.data.photos import CROPS, PHOTOS
from msbiqa.data.pseudo_mos import ANCHORS, FRScorer, pseudo_mos

SIZE = 48
PER_CROP = 1 + len(DISTORTIONS) * len(LEVELS)


@pytest.fixture(scope="session")
def embedded_root(tmp_path_factory):
    return emb.build_embedded(tmp_path_factory.mktemp("embedded") / "set", SIZE, progress=False)


# ---------------------------------------------------------------- embedded set


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


# ---------------------------------------------------------------- readers on fixture folders


def _images(folder, names, size=(40, 30)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in names:
        pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name)


def _koniq(root, with_sets=True):
    names = [f"{1000 + i}.jpg" for i in range(8)]
    _images(root / "512x384", names)
    sets = ["training"] * 4 + ["validation"] * 2 + ["test"] * 2
    mos100 = np.linspace(10, 90, 8)
    counts = {f"c{k}": 0.2 for k in range(1, 6)}
    if with_sets:
        pd.DataFrame({"image_name": names, **counts, "c_total": 100, "MOS": mos100, "SD": 0.5, "set": sets}).to_csv(
            root / "koniq10k_distributions_sets.csv", index=False
        )
    else:
        pd.DataFrame(
            {"image_name": names, **counts, "c_total": 100, "MOS": 1 + mos100 / 25, "SD": 0.5, "MOS_zscore": mos100}
        ).to_csv(root / "koniq10k_scores_and_distributions.csv", index=False)
    return names, mos100


def test_koniq10k_official_split(tmp_path):
    names, mos = _koniq(tmp_path)
    test = load_dataset("koniq10k", root=tmp_path, split="test")
    assert test.names == names[6:] and np.allclose(test.mos, mos[6:]) and test.mos_range == (1.0, 100.0)
    assert len(load_dataset("koniq", root=tmp_path, split="train")) == 4
    assert len(load_dataset("koniq10k", root=tmp_path, split="val")) == 2
    img, m, name = test[0]
    assert img.shape == (3, 30, 40) and img.dtype == torch.float32 and name == names[6] and m == mos[6]


def test_koniq10k_scores_file_uses_100_point_scale(tmp_path):
    names, mos = _koniq(tmp_path, with_sets=False)
    ds = load_dataset("koniq10k", root=tmp_path)
    assert ds.names == names and np.allclose(ds.mos, mos)
    with pytest.raises(FileNotFoundError, match="koniq10k_distributions_sets.csv"):
        load_dataset("koniq10k", root=tmp_path, split="test")


def test_spaq_csv_export_and_seeded_split(tmp_path):
    names = [f"{i:05d}.jpg" for i in range(1, 21)]
    _images(tmp_path / "TestImage", names, size=(64, 48))
    (tmp_path / "Annotations").mkdir()
    pd.DataFrame({"Image name": names, "MOS": np.linspace(5, 95, 20), "Brightness": 50.0}).to_csv(
        tmp_path / "Annotations" / "MOS and Image attribute scores.csv", index=False
    )
    parts = {s: load_dataset("spaq", root=tmp_path, split=s) for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [14, 2, 4]
    assert sorted(n for ds in parts.values() for n in ds.names) == names
    assert parts["test"].names == load_dataset("spaq", root=tmp_path, split="test").names
    assert parts["test"].names != load_dataset("spaq", root=tmp_path, split="test", seed=1).names
    img, _, _ = parts["test"][0]
    assert img.shape == (3, 512, 683)  # shorter side resized to 512 by default
    assert load_dataset("spaq", root=tmp_path, split="test", resize=None)[0][0].shape == (3, 48, 64)


def test_spaq_xlsx_without_openpyxl_says_what_to_do(tmp_path):
    try:
        import openpyxl  # noqa: F401

        pytest.skip("openpyxl is installed")
    except ImportError:
        pass
    (tmp_path / "TestImage").mkdir()
    with zipfile.ZipFile(tmp_path / "MOS and Image attribute scores.xlsx", "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")  # what pandas looks for to call it .xlsx
    with pytest.raises(ImportError, match="openpyxl.*csv"):
        load_dataset("spaq", root=tmp_path)


def _clive(root):
    training = [f"t{i}.bmp" for i in range(1, 8)]
    test = [f"{i}.bmp" for i in range(100, 113)]
    _images(root / "Images" / "trainingImages", training)
    _images(root / "Images", test)
    (root / "Data").mkdir()
    cells = np.empty((20, 1), dtype=object)
    for i, name in enumerate(training + test):
        cells[i, 0] = np.array([name])
    scipy.io.savemat(root / "Data" / "AllImages_release.mat", {"AllImages_release": cells})
    mos = np.linspace(3, 92, 20)[None, :]
    scipy.io.savemat(root / "Data" / "AllMOS_release.mat", {"AllMOS_release": mos})
    return training, test, mos[0]


def test_clive_drops_the_seven_training_images(tmp_path):
    training, test, mos = _clive(tmp_path)
    ds = load_dataset("clive", root=tmp_path)
    assert ds.names == test and np.allclose(ds.mos, mos[7:]) and ds.mos_range == (0.0, 100.0)
    full = load_dataset("livec", root=tmp_path, include_training_images=True)
    assert full.names[:7] == training and full[0][0].shape == (3, 30, 40)
    parts = [load_dataset("clive", root=tmp_path, split=s).names for s in ("train", "val", "test")]
    assert sorted(n for part in parts for n in part) == sorted(test) and not set(parts[0]) & set(parts[2])


def test_pyiqa_meta_info_layout(tmp_path):
    names = [f"img{i}.png" for i in range(6)]
    _images(tmp_path / "imgs", names)
    meta = tmp_path / "meta_info_MyDataset.csv"
    split = ["train", "train", "train", "val", "test", "test"]
    pd.DataFrame({"img_name": names, "mos": np.arange(6.0), "std": 1.0, "official_split": split}).to_csv(
        meta, index=False
    )
    test = load_dataset("pyiqa", root=tmp_path / "imgs", split="test", meta_info_file=meta, mos_range=(0, 10))
    assert test.names == names[4:] and np.allclose(test.mos, [4, 5]) and test.mos_range == (0.0, 10.0)
    assert load_dataset("pyiqa", root=tmp_path / "imgs", meta_info_file=meta).mos_range == (0.0, 5.0)
    split_file = tmp_path / "split.pkl"
    split_file.write_bytes(pickle.dumps({1: {"train": [0, 1], "val": [], "test": [2, 5]}}))
    ds = load_dataset("pyiqa", root=tmp_path / "imgs", split="test", meta_info_file=meta, split_file=split_file)
    assert ds.names == [names[2], names[5]]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("koniq10k", "koniq10k_distributions_sets.csv"),
        ("spaq", "MOS and Image attribute scores"),
        ("clive", "AllImages_release.mat"),
    ],
)
def test_wrong_root_names_expected_files(tmp_path, name, expected):
    with pytest.raises(FileNotFoundError, match=expected):
        load_dataset(name, root=tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(name, root=tmp_path / "missing")
    with pytest.raises(ValueError, match="pass root="):
        load_dataset(name)


def test_missing_image_and_bad_arguments(tmp_path):
    names, _ = _koniq(tmp_path)
    (tmp_path / "512x384" / names[7]).unlink()
    with pytest.raises(FileNotFoundError, match=names[7]):
        load_dataset("koniq10k", root=tmp_path)
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("kadid", root=tmp_path)
    with pytest.raises(ValueError, match="split must be"):
        load_dataset("koniq10k", root=tmp_path, split="training")


def test_seeded_split_fractions():
    labels = seeded_split(1000, seed=3)
    assert [int((labels == s).sum()) for s in ("train", "val", "test")] == [700, 100, 200]
    assert (labels == seeded_split(1000, seed=3)).all()


def test_manifest_describes_recipe(embedded_root):
    manifest = json.loads((embedded_root / emb.MANIFEST).read_text())
    assert manifest["recipe_version"] == emb.RECIPE_VERSION and manifest["size"] == SIZE
    assert set(manifest["photos"]) == {p.name for p in PHOTOS} and set(manifest["distortions"]) == set(DISTORTIONS)
