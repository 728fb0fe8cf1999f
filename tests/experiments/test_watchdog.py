"""The watchdog kills what a driver started, descendants included, once the driver is killed, and only then."""

import os
import subprocess
import sys
import time

import pytest

from msbiqa.experiments.watchdog import family

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="the watchdog needs /proc (Linux)")

DRIVER = """
import subprocess, sys, time
from msbiqa.experiments.watchdog import guard
child = subprocess.Popen(["sh", "-c", "sleep 600 & sleep 600"])  # a helper with a child of its own
guard({child.pid})
print(child.pid, flush=True)
time.sleep(600)
"""


def test_a_killed_drivers_processes_and_their_children_die_within_seconds(tmp_path):
    (tmp_path / "driver.py").write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(tmp_path / "driver.py")], stdout=subprocess.PIPE, text=True)
    try:
        helper = int(driver.stdout.readline())
        deadline = time.monotonic() + 20
        while len(family([helper])) < 2:  # the helper's own child has started
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(1.2)  # the watchdog has looked at least twice
        started = family([helper])
        assert len(family([driver.pid])) >= 4  # driver, watchdog, helper, its child
    finally:
        driver.kill()
        driver.wait()
    deadline = time.monotonic() + 5
    while set(family(started).items()) & set(started.items()):
        assert time.monotonic() < deadline, "the driver's processes outlived it"
        time.sleep(0.1)
