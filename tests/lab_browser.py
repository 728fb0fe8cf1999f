"""JupyterLab in headless Chromium for the browser tests: a private JupyterLab server on 127.0.0.1 and a selenium
driver for Debian's chromium and chromium-driver, with the page queries the tests wait on.

The server runs the project's Python (its kernel too) with every Jupyter folder in a temporary directory:
autosave off, checkpoints outside the notebooks' folder, no news, update check, announcement or extension
manager reaching the network. `window.jupyterapp` is exposed so that the test can run commands and read the
notebook's model. Every wait polls a state of the page; none sleeps for a fixed time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

SETUP_HINT = "MSBIQA_INSTALL_BROWSER=1 bash scripts/test.sh installs them with apt-get (as root or password-less sudo)"
LAB_USER_SETTINGS = {  # autosave off; a 1 s interval would make an ignored setting show as a changed file at once
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False, "autosaveInterval": 1},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}
PAGE_CONFIG = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}  # it fetches news
CHROMIUM_FLAGS = (
    "--headless=new",  # no display
    "--no-sandbox",  # Chromium refuses to start as root otherwise
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",  # nothing but the local server resolves
    "--window-size=1400,1800",  # tall enough for the sliders and their whole figure in one screenshot
    "--lang=en-US",
)


def browser_binaries() -> tuple[str, str] | str:
    """(chromium, chromedriver) paths, or why they are missing (the browser tests' skip reason)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    reason = os.environ.get("MSBIQA_BROWSER_SETUP") or SETUP_HINT
    return f"Debian's chromium and chromium-driver are not installed ({reason})"


def folder_digest(folder: Path) -> dict[str, str]:
    """{relative path: sha256 and mtime} of every file below `folder`: a rewrite with the same bytes counts too."""
    return {
        str(p.relative_to(folder)): f"{hashlib.sha256(p.read_bytes()).hexdigest()} {p.stat().st_mtime_ns}"
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def wait_for(condition, timeout: float, what: str, poll: float = 0.1):
    """The first truthy value of `condition()` within `timeout` seconds; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} after {timeout:.0f} s")
        time.sleep(poll)


class LabServer:
    """`jupyter lab` serving `root` on 127.0.0.1 at a free port, its state under `work`; a context manager."""

    def __init__(self, root: Path, work: Path):
        self.root, self.work = root, work
        self.token = secrets.token_hex(16)
        self.url = ""
        self.proc: subprocess.Popen | None = None
        self.log = work / "jupyterlab.log"

    def __enter__(self) -> LabServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _dirs(self) -> dict[str, Path]:
        names = ("config", "data", "runtime", "ipython", "checkpoints", "settings", "workspaces")
        dirs = {name: self.work / name for name in names}
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        for name, value in LAB_USER_SETTINGS.items():
            (dirs["settings"] / name).parent.mkdir(parents=True, exist_ok=True)
            (dirs["settings"] / name).write_text(json.dumps(value))
        (dirs["config"] / "labconfig").mkdir(exist_ok=True)
        (dirs["config"] / "labconfig" / "page_config.json").write_text(json.dumps(PAGE_CONFIG))
        return dirs

    def start(self, timeout: float = 120) -> None:
        dirs = self._dirs()
        command = [
            *(sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", "--port=0", "--port-retries=0"),
            "--allow-root",  # CI runs as root, which jupyter refuses otherwise
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            f"--FileCheckpoints.checkpoint_dir={dirs['checkpoints']}",  # not .ipynb_checkpoints beside the notebook
            f"--LabApp.user_settings_dir={dirs['settings']}",
            f"--LabApp.workspaces_dir={dirs['workspaces']}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",  # the default one queries PyPI
            "--expose-app-in-browser",  # window.jupyterapp
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
        env.update(
            JUPYTER_CONFIG_DIR=str(dirs["config"]),
            JUPYTER_DATA_DIR=str(dirs["data"]),
            JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
            JUPYTER_PLATFORM_DIRS="1",
            IPYTHONDIR=str(dirs["ipython"]),
        )
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        info = dirs["runtime"] / f"jpserver-{self.proc.pid}.json"  # written once the server listens

        def listening():
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError, ValueError, KeyError):
                self.url = json.loads(info.read_text())["url"]
                return self.api("GET", "api/status").get("started")

        wait_for(listening, timeout, "answer from jupyter lab")

    def api(self, method: str, path: str) -> dict:
        request = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else {}

    def stop(self) -> None:
        """Shut the server and its kernels down; kill the process group if it does not stop."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(OSError):
            self.api("POST", "api/shutdown")
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the server and its kernels
            self.proc.wait()


def chromium_driver(chromium: str, chromedriver: str, work: Path):
    """A selenium Chrome driver for Debian's chromium, with a fresh profile and the browser console log kept."""
    os.environ["SE_OFFLINE"] = "true"  # selenium-manager never downloads a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={work / 'chromium-profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=chromedriver, log_output=str(work / "chromedriver.log"))
    return webdriver.Chrome(service=service, options=options)


PANEL = "const w = window.jupyterapp && jupyterapp.shell.currentWidget;"
JS_NOTEBOOK_READY = PANEL + "return !!(w && w.content && document.querySelector('.jp-NotebookPanel .jp-Cell'));"
JS_KERNEL_IDLE = PANEL + "return !!(w && w.sessionContext && w.sessionContext.kernelDisplayStatus === 'idle');"
JS_KERNEL_INFO = (  # async: the kernel's kernel_info reply, after which JupyterLab has set language_info
    PANEL + "const done = arguments[arguments.length - 1];"
    "w.sessionContext.session.kernel.info.then(i => done(i.language_info), e => done('error: ' + e));"
)
JS_MODEL = PANEL + "return {dirty: w.context.model.dirty, metadata: w.context.model.toJSON().metadata};"
JS_RUN_ALL = (  # async: resolves after the last cell ran, false if a cell raised
    "const done = arguments[arguments.length - 1];"
    "jupyterapp.commands.execute('notebook:run-all-cells').then(v => done(v), e => done('error: ' + e));"
)
JS_ERRORS = """
  // textContent, not innerText: cells scrolled out of view render with content-visibility:auto, innerText ''
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const text = [...nb.querySelectorAll('.jp-OutputArea')].map(e => e.textContent).join('\\n');
  return {
    stderr_or_traceback: [...nb.querySelectorAll('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map(e => e.textContent.slice(0, 500)),  // tracebacks render with the stderr mime type too
    widget_errors: [...nb.querySelectorAll('.jupyter-widgets-error-widget')].map(e => e.textContent.slice(0, 300)),
    error_texts: ['Error displaying widget', 'Failed to load model class', 'Traceback (most recent call last)',
                  'Click to show javascript error', 'interactive(children='].filter(s => text.includes(s)),
  };"""
JS_INTERACT = """
  const box = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .widget-interact')].pop();
  if (!box) return null;
  const img = box.querySelector('.widget-output img');
  return {src: img ? img.getAttribute('src') : null,
          text: box.querySelector('.widget-output').textContent,
          readouts: Object.fromEntries([...box.querySelectorAll('.widget-slider')].map(s => [
              s.querySelector('.widget-label').textContent.trim(),
              s.querySelector('.widget-readout').textContent.trim()]))};"""


def page_errors(driver) -> dict:
    """Error outputs, widget errors and SEVERE console messages on the page (empty lists when clean)."""
    found = driver.execute_script(JS_ERRORS)
    found["console"] = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return {k: v for k, v in found.items() if v}


def press_slider_key(driver, label: str, key: str, timeout: float) -> tuple[dict, float]:
    """Press `key` (a selenium Keys name) on the handle of the last interact's slider labelled `label`; returns
    the interact's state once the figure was redrawn and the kernel is idle, and the seconds that took."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    before = driver.execute_script(JS_INTERACT)
    handle = driver.find_element(
        By.XPATH,
        "(//div[contains(@class,'widget-interact')])[last()]//div[contains(@class,'widget-slider')]"
        f"[.//label[normalize-space()='{label}']]//div[contains(@class,'noUi-handle')]",
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", handle)
    start = time.monotonic()
    handle.send_keys(getattr(Keys, key))  # focuses the handle; noUiSlider moves one step (or to an end)

    def redrawn():
        now = driver.execute_script(JS_INTERACT)
        changed = now["src"] and now["src"] != before["src"] and now["readouts"][label] != before["readouts"][label]
        return now if changed and driver.execute_script(JS_KERNEL_IDLE) else None

    after = wait_for(redrawn, timeout, f"redraw after {key} on {label}")
    return after, time.monotonic() - start
