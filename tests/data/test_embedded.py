"""The embedded world on a five-photo, 48 px build: splits by photo and by distortion family, the hash
manifest that guards the cache, and a build that does not depend on the number of worker processes."""

import argparse
import dataclasses
import hashlib
import os
import re
import shutil
import time

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from msbiqa.cli import build_data
from msbiqa.data import EmbeddedIQA, load_dataset
from msbiqa.data import embedded as emb
from msbiqa.data.distortions import CHROMA_ONLY, DISTORTIONS, FAMILIES, FAMILY_OF, LEVELS
from msbiqa.data.photos import PHOTOS
from msbiqa.data.pseudo_mos import FRScorer

SIZE = 48
SUBSET = ("kodim23", "camera", "monarch", "chelsea", "coins")  # train colour + grey, val, test colour + grey
IN_FAMILIES = [f for f in FAMILIES if f not in emb.HELD_OUT_FAMILIES]


@pytest.fixture(scope="module")
def photos():
    """The recipe restricted to SUBSET for this module (the check compares the recipe, so it stays patched)."""
    with pytest.MonkeyPatch.context() as mp:
        subset = tuple(p for p in PHOTOS if p.name in SUBSET)
        mp.setattr(emb, "PHOTOS", subset)
        yield subset


@pytest.fixture(scope="module")
def root(photos, tmp_path_factory):
    return emb.build_embedded(tmp_path_factory.mktemp("world") / "set", SIZE, progress=False, workers=2)


@pytest.fixture
def copy(root, tmp_path):
    """A private copy of the built set, to tamper with."""
    return shutil.copytree(root, tmp_path / "set")


def _per_crop(gray: bool, test: bool) -> int:
    types = sum(len(FAMILIES[f]) for f in IN_FAMILIES) - (len(CHROMA_ONLY) if gray else 0)
    held_out = sum(len(FAMILIES[f]) for f in emb.HELD_OUT_FAMILIES) if test else 0
    return 1 + (types + held_out) * len(LEVELS)


# ---------------------------------------------------------------- splits


def test_splits_hold_photos_apart_and_hold_families_out_of_training(root, photos):
    table = pd.read_csv(root / emb.LABELS_FILE)
    parts = {s: emb.select(table, s) for s in emb.SPLITS}
    refs = {s: set(part["ref"]) for s, part in parts.items()}
    assert not (refs["train"] & refs["val"] or refs["train"] & refs["test"] or refs["val"] & refs["test"])
    assert refs["test-ood"] == refs["test"] == {p.name for p in photos if p.split == "test"}
    assert refs["train"] | refs["val"] | refs["test"] == {p.name for p in photos}
    for split in ("train", "val", "test"):
        assert set(parts[split]["family"]) == {"none", *IN_FAMILIES}, split
        assert not parts[split]["ood"].any()
    ood = parts["test-ood"]
    assert set(ood["family"]) == {"none", *emb.HELD_OUT_FAMILIES} and ood.loc[ood.distortion != "pristine", "ood"].all()
    pristine = parts["test"][parts["test"].distortion == "pristine"]
    pd.testing.assert_frame_equal(ood[ood.distortion == "pristine"], pristine)  # the references of both test sets
    assert set(table["split"]) == {"train", "val", "test", "test-ood"}  # the split column partitions the rows
    assert (table["family"] == table["distortion"].map({**FAMILY_OF, "pristine": "none"})).all()
    assert (table["ood"] == table["family"].isin(emb.HELD_OUT_FAMILIES)).all()


def test_each_crop_has_every_type_and_level_it_should(root, photos):
    table = pd.read_csv(root / emb.LABELS_FILE)
    for photo in photos:
        gray, test = photo.name in ("camera", "coins"), photo.split == "test"
        for c, part in table[table.ref == photo.name].groupby("crop"):
            assert len(part) == _per_crop(gray, test), (photo.name, c)
            assert set(part.loc[part.level > 0, "level"]) == set(LEVELS)
            assert bool(set(part["distortion"]) & CHROMA_ONLY) != gray, photo.name
    assert len(table) == len(emb.CROPS) * sum(
        _per_crop(p.name in ("camera", "coins"), p.split == "test") for p in photos
    )


@pytest.mark.parametrize("split", emb.SPLITS)
def test_load_dataset_returns_every_split(root, split):
    ds = load_dataset("embedded", root=root, size=SIZE, split=split, progress=False)
    assert isinstance(ds, EmbeddedIQA) and len(ds) == len(emb.select(pd.read_csv(root / emb.LABELS_FILE), split)) > 0
    image, mos, name = ds[len(ds) - 1]
    assert image.shape == (3, SIZE, SIZE) and image.dtype == torch.float32 and name == ds.names[-1]
    assert mos == ds.mos[-1] and ds.mos_range == (0.0, 100.0) and split in repr(ds)


def test_an_unknown_split_names_the_choices(root):
    with pytest.raises(ValueError, match="train, val, test, test-ood, all"):
        load_dataset("embedded", root=root, size=SIZE, split="ood")


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_a_pristine_split_holds_only_that_splits_pristine_crops(root, split):
    ds = load_dataset("embedded", root=root, size=SIZE, split=f"{split}-pristine", progress=False)
    whole = load_dataset("embedded", root=root, size=SIZE, split=split, progress=False).table
    assert len(ds) == (whole["family"] == "none").sum() > 0
    assert (ds.table["distortion"] == "pristine").all() and set(ds.table["ref"]) == set(whole["ref"])
    for wrong in ("test-ood-pristine", "all-pristine", "pristine"):
        with pytest.raises(ValueError, match="train-pristine, val-pristine, test-pristine"):
            load_dataset("embedded", root=root, size=SIZE, split=wrong, progress=False)


def test_labels_are_pristine_at_100_and_fall_with_the_level(root):
    table = pd.read_csv(root / emb.LABELS_FILE)
    pristine = table[table.distortion == "pristine"].set_index(["ref", "crop"])["mos"]
    assert (pristine > 99.99).all()
    distorted = table[table.level > 0]
    assert (distorted["mos"].to_numpy() < pristine.loc[list(zip(distorted.ref, distorted.crop))].to_numpy()).all()
    by_level = distorted.groupby(["family", "level"])["mos"].mean().unstack()
    assert (by_level.diff(axis=1).iloc[:, 1:] < 0).all().all(), by_level.round(1)


def test_summary_and_command_report_both_test_sets(root, capsys):
    sub = argparse.ArgumentParser().add_subparsers()
    build_data.register(sub)
    assert build_data.run(argparse.Namespace(root=str(root), size=SIZE, force=False)) == 0
    out = capsys.readouterr().out
    assert f"{len(pd.read_csv(root / emb.LABELS_FILE))} images" in out
    assert "test    :" in out and "test-ood:" in out and "spatial, sharpness_contrast" in out


# ---------------------------------------------------------------- determinism


def test_build_is_the_same_with_one_worker(root, tmp_path):
    single = emb.build_embedded(tmp_path / "single", SIZE, progress=False, workers=1)
    for file in (emb.LABELS_FILE, emb.SUMS):
        assert (single / file).read_bytes() == (root / file).read_bytes(), file


def test_rendering_one_crop_again_gives_the_cached_pixels_and_labels(root, photos, one_thread):
    table = pd.read_csv(root / emb.LABELS_FILE).set_index("name")
    photo = next(p for p in photos if p.split == "test")
    rows = emb.render_crop(photo, 1, SIZE, FRScorer())
    assert len(rows) == (table["ref"] == photo.name).sum() / len(emb.CROPS)
    for row in rows:
        np.testing.assert_array_equal(np.asarray(Image.open(root / "images" / f"{row['name']}.png")), row["image"])
        assert row["mos"] == table.loc[row["name"], "mos"] and row["split"] == table.loc[row["name"], "split"]


def test_workers_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="workers must be"):
        emb.build_embedded(tmp_path / "x", SIZE, workers=0)
    assert emb.default_workers() >= 1


# ---------------------------------------------------------------- the hash manifest


def test_an_untouched_set_passes_and_the_check_is_cheap(root):
    start = time.perf_counter()
    assert emb.check(root, SIZE) is None
    seconds = time.perf_counter() - start
    n = len(os.listdir(root / "images"))
    print(f"check of {n} images: {seconds * 1000:.0f} ms")
    assert seconds < 5


def test_a_changed_mos_is_detected_and_the_set_rebuilt(copy, root):
    labels = (copy / emb.LABELS_FILE).read_text().splitlines()
    cells = labels[5].split(",")
    mos_col = labels[0].split(",").index("mos")
    cells[mos_col] = f"{float(cells[mos_col]) + 1:.4f}"
    (copy / emb.LABELS_FILE).write_text("\n".join(labels[:5] + [",".join(cells)] + labels[6:]) + "\n")
    assert emb.check(copy, SIZE) == f"{emb.LABELS_FILE} differs from the one it was built with"
    elsewhere = copy.parent / "elsewhere"
    elsewhere.mkdir()
    for name in (f".set.tmp-{os.getpid()}", f".set.old-{os.getpid()}"):  # the fixed names the build once used
        (copy.parent / name).symlink_to(elsewhere)
    with pytest.warns(
        UserWarning, match=re.escape(f"rebuilding the embedded set in {copy}: {emb.LABELS_FILE} differs")
    ):
        ds = EmbeddedIQA(root=copy, size=SIZE, progress=False)
    assert not any(elsewhere.iterdir())  # nothing was built through a link
    assert (
        emb.check(copy, SIZE) is None and (copy / emb.LABELS_FILE).read_bytes() == (root / emb.LABELS_FILE).read_bytes()
    )
    assert len(ds) == len(labels) - 1


def test_a_changed_split_in_labels_is_detected(copy):
    text = (copy / emb.LABELS_FILE).read_text()
    row = next(line for line in text.splitlines() if ",train," in line)
    (copy / emb.LABELS_FILE).write_text(text.replace(row, row.replace(",train,", ",test,")))
    assert emb.check(copy, SIZE) == f"{emb.LABELS_FILE} differs from the one it was built with"


def test_a_changed_split_in_the_recipe_is_detected(root, photos, monkeypatch):
    moved = tuple(dataclasses.replace(p, split="val") if p.split == "train" else p for p in photos)
    monkeypatch.setattr(emb, "PHOTOS", moved)
    assert "another recipe" in emb.check(root, SIZE)


@pytest.mark.parametrize("change", ["held_out", "params"])
def test_other_recipe_changes_are_detected(root, monkeypatch, change):
    if change == "held_out":
        monkeypatch.setattr(emb, "HELD_OUT_FAMILIES", ("spatial",))
    else:
        monkeypatch.setitem(FAMILIES["blur"], "gaussian_blur", (DISTORTIONS["gaussian_blur"][0], (1, 2, 3, 4, 5)))
    assert "another recipe" in emb.check(root, SIZE)


def test_swapped_images_are_detected(copy):
    a, b = copy / "images" / "chelsea_c0_jpeg_1.png", copy / "images" / "chelsea_c0_jpeg_5.png"
    os.replace(a, copy / "images" / "tmp.png")
    os.replace(b, a)
    os.replace(copy / "images" / "tmp.png", b)
    problem = emb.check(copy, SIZE)
    assert problem in {f"image {n} differs from the one it was built with" for n in (a.name, b.name)}


def test_missing_extra_and_edited_files_are_detected(copy):
    (copy / "images" / "chelsea_c0_jpeg_1.png").unlink()
    assert "files where" in emb.check(copy, SIZE)
    shutil.copy(copy / "images" / "chelsea_c0_jpeg_2.png", copy / "images" / "chelsea_c0_jpeg_1.png")
    assert "chelsea_c0_jpeg_1.png differs" in emb.check(copy, SIZE)
    shutil.copy(copy / "images" / "chelsea_c0_jpeg_2.png", copy / "images" / "extra.png")
    assert "files where" in emb.check(copy, SIZE)
    (copy / "images" / "extra.png").unlink()
    sums = (copy / emb.SUMS).read_text()
    digest = hashlib.sha256((copy / "images" / "chelsea_c0_jpeg_1.png").read_bytes()).hexdigest()
    (copy / emb.SUMS).write_text(
        "".join(
            f"{digest}  images/chelsea_c0_jpeg_1.png\n" if "chelsea_c0_jpeg_1.png" in line else f"{line}\n"
            for line in sums.splitlines()
        )
    )
    assert emb.check(copy, SIZE) == f"{emb.SUMS} differs from the one it was built with"
    (copy / emb.SUMS).unlink()
    assert emb.check(copy, SIZE) == f"{emb.SUMS} is missing"


@pytest.mark.parametrize("user_file", ["notes.txt", "images/mine.png", "images/mine.jpg"])
def test_a_rebuild_never_deletes_files_the_set_did_not_write(copy, user_file):
    (copy / user_file).write_text("mine")
    with pytest.raises(ValueError, match=rf"holds {re.escape(str(copy / user_file))}, which the embedded set did not"):
        emb.build_embedded(copy, SIZE, force=True, progress=False)  # build-data --root X --force
    (copy / emb.LABELS_FILE).write_text("tampered\n")
    with pytest.raises(ValueError, match="which the embedded set did not write"):
        EmbeddedIQA(root=copy, size=SIZE, progress=False)  # the automatic rebuild
    assert (copy / user_file).read_text() == "mine" and (copy / emb.MANIFEST).is_file()


def test_version_size_and_foreign_folders(root, monkeypatch, tmp_path):
    assert "another recipe version or image size" in emb.check(root, SIZE + 1)
    assert emb.check(tmp_path, SIZE) == f"no readable {emb.MANIFEST}"
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="holds no embedded set"):
        emb.build_embedded(tmp_path, SIZE)
    monkeypatch.setattr(emb, "RECIPE_VERSION", emb.RECIPE_VERSION + 1)
    assert not emb.is_current(root, SIZE)
    monkeypatch.setenv("MSBIQA_CACHE", str(tmp_path))
    assert emb.default_root(64) == tmp_path / f"embedded-v{emb.RECIPE_VERSION}-64"


def test_items_are_images_in_range_with_their_labels(root):
    ds = load_dataset("embedded", root=root, size=SIZE)
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


def test_too_small_sizes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="size must be"):
        emb.build_embedded(tmp_path / "new", 16)
