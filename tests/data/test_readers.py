"""Readers of KonIQ-10k, SPAQ, CLIVE and pyiqa's meta-info layout on small files in the official layouts."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pandas as pd
import pytest
import scipy.io
import torch
from PIL import Image

from msbiqa.data import load_dataset
from msbiqa.data.base import seeded_split


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


def test_spaq_official_xlsx_and_a_csv_beside_it(tmp_path):
    names = [f"{i:05d}.jpg" for i in range(1, 11)]
    _images(tmp_path / "TestImage", names, size=(64, 48))
    sheet = pd.DataFrame({"Image name": names, "MOS": np.linspace(5, 95, 10), "Brightness": 50.0})
    sheet.to_excel(tmp_path / "MOS and Image attribute scores.xlsx", index=False)
    ds = load_dataset("spaq", root=tmp_path, resize=None)
    assert ds.names == names and np.allclose(ds.mos, sheet["MOS"])
    sheet.assign(MOS=1.0).to_csv(tmp_path / "MOS and Image attribute scores.csv", index=False)
    assert np.allclose(load_dataset("spaq", root=tmp_path).mos, 1.0)  # the CSV export wins when both are there


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


def _rewrite_koniq_labels(root, **column_values):
    table = pd.read_csv(root / "koniq10k_distributions_sets.csv")
    for column, (row, value) in column_values.items():
        table[column] = table[column].astype(object)
        table.loc[row, column] = value
    table.to_csv(root / "koniq10k_distributions_sets.csv", index=False)


@pytest.mark.parametrize("entry", ["../../outside.jpg", "sub/../../outside.jpg", "/abs/outside.jpg", "C:\\outside.jpg"])
def test_label_entries_cannot_read_files_outside_the_root(tmp_path, entry):
    root = tmp_path / "koniq"
    _koniq(root)
    _images(tmp_path, ["outside.jpg"])
    _rewrite_koniq_labels(root, image_name=(7, entry))
    with pytest.raises(ValueError, match=re.escape(f"KonIQ-10k: label entry {entry!r} points outside the image")):
        load_dataset("koniq10k", root=root)


def test_pyiqa_and_clive_entries_stay_inside_the_root_too(tmp_path):
    (tmp_path / "imgs").mkdir()
    meta = tmp_path / "meta.csv"
    meta.write_text("img_name,mos\n../meta.csv,1.0\n")
    with pytest.raises(ValueError, match="label entry '../meta.csv' points outside"):
        load_dataset("pyiqa", root=tmp_path / "imgs", meta_info_file=meta)
    _clive(tmp_path / "clive")
    cells = np.empty((20, 1), dtype=object)
    for i in range(20):
        cells[i, 0] = np.array(["/etc/passwd"])
    scipy.io.savemat(tmp_path / "clive" / "Data" / "AllImages_release.mat", {"AllImages_release": cells})
    with pytest.raises(ValueError, match="CLIVE: label entry '/etc/passwd' points outside"):
        load_dataset("clive", root=tmp_path / "clive")


def test_a_header_only_label_file_is_refused_naming_it(tmp_path):
    _koniq(tmp_path)
    (tmp_path / "koniq10k_distributions_sets.csv").write_text("image_name,MOS,set\n")
    with pytest.raises(ValueError, match="koniq10k_distributions_sets.csv: no rows under the header"):
        load_dataset("koniq10k", root=tmp_path, split="test")


@pytest.mark.parametrize("value, hint", [("3,5", "; write decimals with a point (3.5, not 3,5)"), ("good", "")])
def test_mos_that_is_not_a_number_is_refused_naming_the_column(tmp_path, value, hint):
    _koniq(tmp_path)
    _rewrite_koniq_labels(tmp_path, MOS=(2, value))
    message = f"koniq10k_distributions_sets.csv: column 'MOS' holds {value!r}, not a number{hint}"
    with pytest.raises(ValueError, match=re.escape(message) + "$"):
        load_dataset("koniq10k", root=tmp_path)
    meta = tmp_path / "meta.csv"
    meta.write_text(f'img_name,mos_score\n512x384/1000.jpg,"{value}"\n')
    with pytest.raises(ValueError, match=re.escape(f"meta.csv: column 'mos_score' holds {value!r}, not a number")):
        load_dataset("pyiqa", root=tmp_path, meta_info_file=meta)


@pytest.mark.parametrize(
    "variable, content, message",
    [
        ("AllMOS_release", "good", "AllMOS_release.mat: variable 'AllMOS_release' holds 'good', not a number"),
        ("AllImages_release", "a.bmp", "variable 'AllImages_release' holds text, not a cell array of image file"),
    ],
)
def test_a_clive_mat_holding_text_is_refused_naming_it(tmp_path, variable, content, message):
    _clive(tmp_path)
    scipy.io.savemat(tmp_path / "Data" / f"{variable}.mat", {variable: content})
    with pytest.raises(ValueError, match=re.escape(message)):
        load_dataset("clive", root=tmp_path)
