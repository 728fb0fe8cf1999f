"""Output files: written whole, never through a symbolic link, and locked against a second run."""

import os

import pytest

from msbiqa.files import FileLock, write_atomic


def test_write_atomic_replaces_whole_and_refuses_a_link(tmp_path):
    path = write_atomic(tmp_path / "a.json", "[1]")
    assert path.read_text() == "[1]" and os.listdir(tmp_path) == ["a.json"]  # no temporary file left
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (tmp_path / "b.json").symlink_to(target)
    with pytest.raises(ValueError, match=r"b\.json is a symbolic link"):
        write_atomic(tmp_path / "b.json", "x")
    assert target.read_text() == "keep me"


def test_a_held_lock_is_refused_with_its_owner_and_released_after(tmp_path):
    path = tmp_path / ".lock"
    with FileLock(path, "busy: {owner}"):
        with pytest.raises(ValueError, match=rf"busy: pid {os.getpid()} on "):
            FileLock(path, "busy: {owner}").acquire()
    assert not path.exists()
    with FileLock(path, wait=True):
        assert path.exists()
