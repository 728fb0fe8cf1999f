"""Result files survive kills and faults: torn or empty files are repaired, a second writer is refused,
failed writes are undone and say what is saved, unwritable folders fail before any work."""

import errno
import os

import pandas as pd
import pytest

from msbiqa.experiments.resumable import ResultsFile


def rows(path):
    return pd.read_csv(path, dtype={"image": str})


def test_rows_are_appended_whole_and_resumed_by_key_and_constants(tmp_path):
    path = tmp_path / "r.csv"
    with ResultsFile(path, ["image"], {"metric": "a", "n": 10}) as results:
        results.append({"image": "x", "score": 1.5})
        results.append({"image": "y", "score": 2.5})
    with ResultsFile(path, ["image"], {"metric": "a", "n": 10}) as results:
        assert results.is_done(["x"]) and results.is_done(["y"]) and not results.is_done(["z"])
    with ResultsFile(path, ["image"], {"metric": "b", "n": 10}) as other:  # another run's rows are not reused
        assert not other.is_done(["x"])
        other.append({"image": "x", "score": 9.0})
        assert other.table()["score"].tolist() == [9.0]
    assert path.read_text().count("\n") == 4 and path.read_text().count("image") == 1  # one header


def test_a_torn_last_row_and_an_empty_file_are_repaired(tmp_path):
    path = tmp_path / "r.csv"
    with ResultsFile(path, ["image"], {"n": 1}) as results:
        results.append({"image": "x", "score": 1.0})
    with open(path, "a") as f:
        f.write("y,2.")  # killed mid-row: the lock file stays behind
    (tmp_path / "r.csv.lock").write_text("pid 1 on elsewhere\n")
    with ResultsFile(path, ["image"], {"n": 1}) as results:
        assert not results.is_done(["y"])
        results.append({"image": "y", "score": 2.0})
    assert rows(path)["image"].tolist() == ["x", "y"]
    empty = tmp_path / "e.csv"
    empty.write_text("")  # killed before the header was written
    with ResultsFile(empty, ["image"], {"n": 1}) as results:
        results.append({"image": "x", "score": 1.0})
    assert rows(empty)["score"].tolist() == [1.0]


def test_a_second_writer_is_refused_until_the_first_is_done(tmp_path):
    path = tmp_path / "r.csv"
    with ResultsFile(path, ["image"], {"n": 1}):
        with pytest.raises(ValueError, match=rf"r\.csv is being written by another run \(pid {os.getpid()}"):
            ResultsFile(path, ["image"], {"n": 1})
    with ResultsFile(path, ["image"], {"n": 1}) as results:  # released: the next run may write
        results.append({"image": "x", "score": 1.0})
    assert not (tmp_path / "r.csv.lock").exists()


def test_unwritable_folders_fail_before_any_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")  # the output folder cannot be created (fails for root too)
    with pytest.raises(OSError, match="cannot write results to .*choose a writable output folder"):
        ResultsFile(blocker / "r.csv", ["image"], {})


def test_a_failed_write_is_undone_and_says_what_is_saved(tmp_path, monkeypatch):
    path = tmp_path / "r.csv"
    with ResultsFile(path, ["image"], {"n": 1}) as results:
        results.append({"image": "x", "score": 1.0})
        real_write = os.write

        def disk_full(fd, data):
            real_write(fd, data[:5])  # part of the row reaches the disk, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "write", disk_full)
        with pytest.raises(OSError, match="No space left on device.*1 rows finished before are saved"):
            results.append({"image": "y", "score": 2.0})
        monkeypatch.setattr(os, "write", real_write)
    assert rows(path)["image"].tolist() == ["x"]  # no torn row left behind


def test_a_users_csv_without_a_last_newline_is_refused_untouched(tmp_path):
    labels = tmp_path / "mylabels.csv"
    labels.write_bytes(b"image_name,MOS\na.jpg,3.2\nb.jpg,4.1")  # a user's file, its last line without newline
    before = labels.read_bytes()
    with pytest.raises(ValueError, match=r"mylabels\.csv has columns \['image_name', 'MOS'\].*leaves it untouched"):
        ResultsFile(labels, ["image"], {"n": 1})
    assert labels.read_bytes() == before and not (tmp_path / "mylabels.csv.lock").exists()


def test_a_binary_file_is_a_one_line_error_naming_it_untouched(tmp_path):
    path = tmp_path / "per_image.csv"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match=r"per_image\.csv is not a CSV file of results \(binary data\)") as err:
        ResultsFile(path, ["image"], {"n": 1})
    assert "\n" not in str(err.value) and path.read_bytes() == bytes(range(256)) * 4


@pytest.mark.parametrize("link", ["r.csv", "r.csv.lock"])
def test_a_symbolic_link_for_the_file_or_its_lock_is_refused_not_followed(tmp_path, link):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (tmp_path / link).symlink_to(target)
    with pytest.raises(ValueError, match=rf"{link} is a symbolic link; msbiqa does not write through links"):
        ResultsFile(tmp_path / "r.csv", ["image"], {"n": 1})
    assert target.read_text() == "keep me" and (tmp_path / link).is_symlink()


def test_a_last_line_without_newline_is_only_dropped_after_a_killed_run(tmp_path):
    """A file with this run's columns but no kill behind it (e.g. a user's per_image.csv) keeps its last line."""
    path = tmp_path / "per_image.csv"
    path.write_bytes(b"image,n,score\nx,1,0.5\ny,1,0.7")
    with pytest.raises(ValueError, match=r"per_image\.csv ends in a line without a newline.*leaves it untouched"):
        ResultsFile(path, ["image"], {"n": 1})
    assert path.read_bytes() == b"image,n,score\nx,1,0.5\ny,1,0.7"
