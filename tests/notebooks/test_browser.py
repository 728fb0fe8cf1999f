"""Notebook 00 as a reader meets it in JupyterLab 4, in headless Chromium (Debian's chromium and chromium-driver,
driven by selenium; scripts/test.sh installs them): it opens unmodified, runs without a Python or widget error,
each slider (σ, ε, n, α) redraws the figure, a value that cannot be certified says why, and the notebook on disk
is unchanged afterwards. Works on a copy with small parameters; screenshots and timings land in the test's tmp dir.
"""

import json
import time

import nbformat
import pytest
from lab_browser import (
    JS_INTERACT,
    JS_KERNEL_IDLE,
    JS_KERNEL_INFO,
    JS_MODEL,
    JS_NOTEBOOK_READY,
    JS_RUN_ALL,
    LabServer,
    browser_binaries,
    chromium_driver,
    folder_digest,
    page_errors,
    press_slider_key,
    wait_for,
)

from msbiqa.notebooks.reproduce import notebooks_dir

NOTEBOOK = "00_quickstart.ipynb"
SMALL = {"n": 40, "sigmas": [0.12, 0.25], "eps_values": [0.05], "device": "cpu"}  # seconds per cell on a CPU
TIMEOUT_PAGE, TIMEOUT_RUN_ALL, TIMEOUT_REDRAW = 120, 300, 60  # generous: CI machines are small and shared
MOVES = [  # (slider, key, readout after): one keyboard step each from sigma 0.12, eps 0.05, n 40, alpha 0.001
    ("σ", "ARROW_RIGHT", "0.25"),
    ("ε", "ARROW_RIGHT", "0.06"),
    ("n", "ARROW_LEFT", "20"),
    ("α", "ARROW_LEFT", "0.0001"),
]


def copy_with_parameters(folder, out):
    """The notebook, copied into `folder` with SMALL parameters and `out` as its output folder (stored form kept:
    nbformat writes what JupyterLab writes)."""
    nb = nbformat.read(notebooks_dir() / NOTEBOOK, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    values = {**SMALL, "out": str(out)}
    lines = cell.source.splitlines()
    for i, line in enumerate(lines):
        name = line.split("=")[0].strip()
        if name in values:
            lines[i] = f"{name} = {values.pop(name)!r}"
    assert not values, f"parameters not in {NOTEBOOK}: {values}"
    cell.source = "\n".join(lines)
    folder.mkdir()
    nbformat.write(nb, folder / NOTEBOOK)
    return folder / NOTEBOOK


def assert_opens_unmodified(driver, stored_metadata):
    """JupyterLab's model holds the stored metadata and is not marked modified, for a second after the kernel
    reported its language_info; a kernel on another Python patch version may change language_info.version alone."""
    reported = driver.execute_async_script(JS_KERNEL_INFO)
    expected = json.loads(json.dumps(stored_metadata))
    expected.setdefault("language_info", {})["version"] = reported["version"]
    same_python = reported["version"] == stored_metadata.get("language_info", {}).get("version")
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        model = driver.execute_script(JS_MODEL)
        assert model["metadata"] == expected, f"JupyterLab changed the stored metadata to {model['metadata']}"
        assert not (same_python and model["dirty"]), "the notebook opens marked modified"
        time.sleep(0.1)


def test_quickstart_sliders_in_jupyterlab(tmp_path):
    binaries = browser_binaries()
    if isinstance(binaries, str):
        pytest.skip(binaries)
    phases, redraws, start = {}, {}, time.monotonic()

    def lap(name):
        phases[name] = round(time.monotonic() - start - sum(phases.values()), 2)

    stored = (notebooks_dir() / NOTEBOOK).read_bytes()
    notebook = copy_with_parameters(tmp_path / "notebooks", tmp_path / "results")
    before = folder_digest(notebook.parent)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    driver = None
    with LabServer(notebook.parent, tmp_path / "lab") as server:
        try:
            lap("server")
            driver = chromium_driver(*binaries, tmp_path)
            driver.set_script_timeout(TIMEOUT_RUN_ALL)
            driver.get(f"{server.url}lab/tree/{NOTEBOOK}?token={server.token}&reset")
            wait_for(lambda: driver.execute_script(JS_NOTEBOOK_READY), TIMEOUT_PAGE, "notebook on the page")
            wait_for(lambda: driver.execute_script(JS_KERNEL_IDLE), TIMEOUT_PAGE, "idle kernel")
            assert_opens_unmodified(driver, json.loads(stored)["metadata"])
            lap("open")

            ran = driver.execute_async_script(JS_RUN_ALL)
            assert ran is True, f"Run All stopped at an error ({ran}): {page_errors(driver)}"
            wait_for(lambda: (driver.execute_script(JS_INTERACT) or {}).get("src"), TIMEOUT_PAGE, "sliders' figure")
            assert not page_errors(driver), page_errors(driver)
            lap("run_all")
            box = driver.find_element("css selector", ".jp-NotebookPanel .widget-interact")
            driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", box)
            box.screenshot(str(shots / "sliders_start.png"))

            for label, key, value in MOVES:
                state, redraws[label] = press_slider_key(driver, label, key, TIMEOUT_REDRAW)
                assert state["readouts"][label] == value, (label, state["readouts"])
                assert not page_errors(driver), (label, page_errors(driver))
            box.screenshot(str(shots / "sliders_moved.png"))

            # End: eps 0.2, more than n = 20 samples can certify at sigma 0.25, alpha 0.0001
            state, redraws["ε not certified"] = press_slider_key(driver, "ε", "END", TIMEOUT_REDRAW)
            assert state["readouts"]["ε"] == "0.20" and "cannot certify eps=0.2" in state["text"], state["text"]
            assert "raise n to at least" in state["text"] and not page_errors(driver), page_errors(driver)
            box.screenshot(str(shots / "sliders_not_certified.png"))
            driver.save_screenshot(str(shots / "page.png"))
            lap("sliders")
        finally:
            if driver is not None:
                driver.quit()
    lap("close")

    assert folder_digest(notebook.parent) == before, "a file in the notebooks' folder was written"
    assert (notebooks_dir() / NOTEBOOK).read_bytes() == stored
    assert (tmp_path / "results" / "radius.png").is_file()
    report = {"seconds": phases, "redraw_seconds": {k: round(v, 2) for k, v in redraws.items()}}
    report["total_seconds"] = round(time.monotonic() - start, 2)
    (tmp_path / "timings.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print(f"\nbrowser test: {report}\nscreenshots: {shots}")
