"""scripts/install_browser.sh runs apt-get only when asked (MSBIQA_INSTALL_BROWSER=1, which CI sets); otherwise
it says which command would, and the browser test skips with that reason."""

import os
import shutil
import subprocess

import pytest
from support import ROOT

SCRIPT = ROOT / "scripts" / "install_browser.sh"


def fake_root_with_apt(folder):
    """A PATH where the user is root and apt-get only records that it ran (and no chromium is installed)."""
    folder.mkdir()
    for tool in ("env", "mktemp", "tail", "rm"):
        (folder / tool).symlink_to(shutil.which(tool))
    (folder / "id").write_text("#!/bin/sh\necho 0\n")
    (folder / "apt-get").write_text(f'#!/bin/sh\necho "$@" >> {folder / "apt.log"}\n')
    for tool in ("id", "apt-get"):
        (folder / tool).chmod(0o755)
    return folder


def install(folder, **env) -> str:
    bash = shutil.which("bash")
    run = subprocess.run([bash, str(SCRIPT)], env={"PATH": str(folder), **env}, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_apt_get_runs_only_when_asked(tmp_path):
    path = fake_root_with_apt(tmp_path / "bin")
    reason = install(path)
    assert not (path / "apt.log").exists()
    assert "MSBIQA_INSTALL_BROWSER=1 bash scripts/test.sh" in reason and reason.count("\n") == 1
    assert "not on PATH" in install(path, MSBIQA_INSTALL_BROWSER="1")
    assert "install -y -qq chromium chromium-driver" in (path / "apt.log").read_text()


def test_ci_asks_for_it_and_runs_the_readme_test_command():
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if not line.startswith("#")]
    assert "export MSBIQA_INSTALL_BROWSER=1" in lines and lines[-1] == "exec bash scripts/test.sh"
    assert "\nbash scripts/test.sh " in (ROOT / "README.md").read_text()
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
