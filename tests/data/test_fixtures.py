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


def test_count_zero_is_a_one_line_error(tmp_path, capsys):
    assert main(["make-fixtures", str(tmp_path / "f"), "--count", "0"]) == 2
    err = capsys.readouterr().err
    assert "--count) must be a whole number of images >= 1, got 0" in err and err.count("\n") == 1
    assert not (tmp_path / "f").exists()


@pytest.mark.parametrize(
    "user_file",
    [
        "koniq10k/koniq10k_distributions_sets.csv",
        "spaq/Annotations/MOS and Image attribute scores.xlsx",
        "clive/Data/AllMOS_release.mat",
        "clive/Images/100.JPG",
    ],
)
def test_a_users_dataset_files_are_never_overwritten(tmp_path, user_file):
    path = tmp_path / user_file
    path.parent.mkdir(parents=True)
    path.write_bytes(b"the user's real data")
    with pytest.raises(ValueError, match=rf"{path.name} was not written by msbiqa make-fixtures.*untouched"):
        write_layouts(tmp_path, count=1)
    assert path.read_bytes() == b"the user's real data"
    assert not (tmp_path / "koniq10k" / "512x384").exists()  # refused before anything was written


def test_a_rerun_replaces_its_own_files_but_not_added_ones_or_links(tmp_path):
    write_layouts(tmp_path, count=1)
    write_layouts(tmp_path, count=1)  # everything there is its own
    listed = (tmp_path / "clive" / ".msbiqa-fixtures").read_text().splitlines()
    assert len(listed) == len(set(listed)) == 1 + 7 + 2  # each file listed once
    target = tmp_path / "precious.jpg"
    target.write_bytes(b"keep me")
    image = tmp_path / "koniq10k" / "512x384" / "1000000.jpg"
    image.unlink()
    image.symlink_to(target)
    with pytest.raises(ValueError, match=r"1000000\.jpg is a symbolic link"):
        write_layouts(tmp_path, count=1)
    image.unlink()
    (tmp_path / "spaq" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"notes\.txt was not written by msbiqa make-fixtures"):
        write_layouts(tmp_path, count=1)
    assert target.read_bytes() == b"keep me" and (tmp_path / "spaq" / "notes.txt").read_text() == "mine"
