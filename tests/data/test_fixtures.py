"""The layout copies are read by the real readers: official files, formats, splits, sizes and orientations."""

import numpy as np
import pytest
from PIL import Image

from msbiqa.cli import main
from msbiqa.data import load_dataset
from msbiqa.data.fixtures import write_layouts


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    return write_layouts(tmp_path_factory.mktemp("layouts"), count=20)


def test_every_layout_reads_with_its_official_split_and_sizes(roots):
    koniq = {s: load_dataset("koniq10k", root=roots["koniq10k"], split=s) for s in ("train", "val", "test")}
    assert [len(koniq[s]) for s in ("train", "val", "test")] == [14, 2, 4]
    assert koniq["test"][0][0].shape == (3, 384, 512) and (roots["koniq10k"] / "512x384").is_dir()
    spaq = load_dataset("spaq", root=roots["spaq"])
    shapes = {tuple(spaq[i][0].shape) for i in range(2)}
    assert shapes == {(3, 512, 683), (3, 683, 512)}  # landscape and portrait, shorter side resized to 512
    assert (roots["spaq"] / "Annotations" / "MOS and Image attribute scores.xlsx").is_file()
    clive = load_dataset("clive", root=roots["clive"])
    assert len(clive) == 20 and clive[0][0].shape == (3, 500, 500)  # the seven training images are left out
    with Image.open(roots["clive"] / "Images" / clive.names[0]) as im:
        assert im.format == "JPEG"


def test_labels_fall_with_the_blur_on_each_scale(roots):
    for name, (lo, hi) in {"koniq10k": (1, 100), "spaq": (0, 100), "clive": (0, 100)}.items():
        ds = load_dataset(name, root=roots[name])
        assert lo <= ds.mos.min() and ds.mos.max() <= hi
        sharpness = [float(np.abs(np.diff(ds[i][0].numpy(), axis=2)).mean()) for i in range(8)]
        assert np.corrcoef(sharpness, ds.mos[:8])[0, 1] > 0.5, name


def test_command_writes_them(tmp_path, capsys):
    assert main(["make-fixtures", str(tmp_path), "--count", "3"]) == 0
    assert "reproduce --scale full --data koniq10k=" in capsys.readouterr().out
    assert len(list((tmp_path / "spaq" / "TestImage").glob("*.jpg"))) == 3
