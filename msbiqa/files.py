"""Writing into folders the project shares with its users: never through a symbolic link, whole files only
(a temporary file renamed into place) and an flock for what two runs can share.

Every writer of output files goes through these helpers, so a link planted (or left) in an output folder is
refused with its name instead of having its target overwritten, and a kill or a full disk never leaves half a file.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import tempfile
from pathlib import Path


def link_error(path: str | Path) -> ValueError:
    """The error for a symbolic link found where the project writes."""
    return ValueError(f"{path} is a symbolic link; msbiqa does not write through links: remove it or write elsewhere")


def refuse_link(path: str | Path) -> None:
    """A ValueError naming `path` when it is a symbolic link."""
    if Path(path).is_symlink():
        raise link_error(path)


def open_no_follow(path: str | Path, flags: int, mode: int = 0o644) -> int:
    """`os.open` that refuses (ValueError naming `path`) to follow a symbolic link at `path`."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise link_error(path) from None
        raise


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Replace `path` by `data` as a whole: written to a temporary file beside it, fsynced, then renamed over it
    (a link at `path` is refused, never followed)."""
    path = Path(path)
    refuse_link(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # O_EXCL: no link followed
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data.encode() if isinstance(data, str) else data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class FileLock:
    """An exclusive flock on `path` (created without following links, removed on release), which the system
    releases when the holding process dies. With `wait` it waits for another holder; without, taking it held
    elsewhere is a ValueError: the `busy` message, its "{owner}" replaced by the holder's pid and host."""

    def __init__(self, path: str | Path, busy: str = "", *, wait: bool = False):
        self.path, self.busy, self.wait = Path(path), busy, wait
        self.fd: int | None = None

    def acquire(self) -> FileLock:
        """Take the lock (see the class)."""
        while self.fd is None:
            fd = open_no_follow(self.path, os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
            except BlockingIOError:
                owner = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                raise ValueError(self.busy.replace("{owner}", owner)) from None
            if self._same_file(fd):
                self.fd = fd
            else:  # the previous holder removed the file after we opened it: lock the current one
                os.close(fd)
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        return self

    def _same_file(self, fd: int) -> bool:
        """Whether `fd` is still the file at `path` (the lock is only meaningful on that one)."""
        try:
            now = os.lstat(self.path)
        except FileNotFoundError:
            return False
        held = os.fstat(fd)
        return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)

    def release(self) -> None:
        """Remove the lock file and release it (idempotent)."""
        if self.fd is not None:
            self.path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
