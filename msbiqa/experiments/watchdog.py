"""Processes that die with their driver, even when it is killed with SIGKILL (Linux).

Ray's own helpers fate-share with the process that starts them, but not their children (the raylet's dashboard
and runtime-env agents): killed, a driver left them running for 1-4 minutes. `guard(roots)` starts a watchdog
process that, while the driver lives, notes every process descended from `roots` (pid and start time) twice a
second; once the driver is gone it kills those still running. Run as a script it uses the standard library only
(no torch import), in its own session so that a Ctrl-C meant for the driver does not stop it first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

INTERVAL = 0.5  # seconds between looks at the driver and its processes


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of `pid` from /proc, None when it has ended (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else (int(fields[1]), fields[19])


def children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (none known where there is no /proc)."""
    found = set()
    if not os.path.isdir("/proc"):
        return found
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None and stat[0] == pid:
            found.add(int(entry))
    return found


def family(roots) -> dict[int, str]:
    """{pid: start time} of `roots` and all their descendants that are running."""
    parents: dict[int, list[int]] = {}
    started = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            parents.setdefault(stat[0], []).append(int(entry))
            started[int(entry)] = stat[1]
    found, todo = {}, [pid for pid in roots if pid in started]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found[pid] = started[pid]
            todo += parents.get(pid, [])
    return found


def watch(driver: int, roots: list[int]) -> None:
    """Until `driver` (this process's parent) is gone, note the family of `roots`; then kill what is left of it."""
    known: dict[int, str] = {}
    while os.getppid() == driver:
        known.update(family(roots))  # all ever seen: once the raylet dies its agents are no longer its children
        time.sleep(INTERVAL)
    for pid, started in known.items():
        if (stat := _stat(pid)) is not None and stat[1] == started:  # the same process, not a reused pid
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def guard(roots) -> subprocess.Popen | None:
    """A watchdog (see the module) for the processes `roots` started by this process; None where there is no
    /proc. Stop it with `.kill()` once the processes are ended properly."""
    if not os.path.isdir("/proc") or not roots:
        return None
    script = [sys.executable, "-I", os.path.abspath(__file__), str(os.getpid()), *map(str, sorted(roots))]
    return subprocess.Popen(script, start_new_session=True, stdin=subprocess.DEVNULL)


if __name__ == "__main__":
    watch(int(sys.argv[1]), [int(pid) for pid in sys.argv[2:]])
