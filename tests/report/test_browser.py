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

from msbiqa.report.reproduce import notebooks_dir

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


def test_quickstart_sliders_in_jupyterlab(tmp_path):
    binaries = browser_binaries()
    if isinstance(binaries, str):
        pytest.skip(binaries)
    timings, start = {}, time.monotonic()

    def lap(name):
        timings[name] = round(time.monotonic() - start - sum(timings.values()), 2)

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
            kernel_language = driver.execute_async_script(JS_KERNEL_INFO)
            lap("open")

            # opens unmodified: JupyterLab's model holds the stored metadata (language_info as the kernel reports
            # it); only a kernel on another Python patch version may differ, in language_info.version alone
            model = driver.execute_script(JS_MODEL)
            stored_meta = json.loads(stored)["metadata"]
            shown, kept = model["metadata"], json.loads(json.dumps(stored_meta))
            assert kernel_language["name"] == "python", kernel_language
            if kernel_language["version"] != stored_meta["language_info"]["version"]:
                kept["language_info"]["version"] = kernel_language["version"]
            else:
                assert not model["dirty"], "the notebook opens marked modified"
            assert shown == kept, f"JupyterLab changed the stored metadata: {shown} != {stored_meta}"

            ran = driver.execute_async_script(JS_RUN_ALL)
            assert ran is True, f"Run All stopped at an error ({ran}): {page_errors(driver)}"
            wait_for(lambda: (driver.execute_script(JS_INTERACT) or {}).get("src"), TIMEOUT_PAGE, "sliders' figure")
            assert not page_errors(driver), page_errors(driver)
            lap("run_all")
            box = driver.find_element("css selector", ".jp-NotebookPanel .widget-interact")
            driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", box)
            box.screenshot(str(shots / "sliders_start.png"))

            for label, key, value in MOVES:
                state, seconds = press_slider_key(driver, label, key, TIMEOUT_REDRAW)
                assert state["readouts"][label] == value, (label, state["readouts"])
                assert not page_errors(driver), (label, page_errors(driver))
                timings[f"redraw {label}"] = round(seconds, 2)
            box.screenshot(str(shots / "sliders_moved.png"))

            state, seconds = press_slider_key(driver, "ε", "END", TIMEOUT_REDRAW)  # 0.2: too far for n = 20
            assert state["readouts"]["ε"] == "0.20" and "cannot certify eps=0.2" in state["text"], state["text"]
            assert "raise n to at least" in state["text"] and not page_errors(driver), page_errors(driver)
            timings["redraw ε not certified"] = round(seconds, 2)
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
    timings["total"] = round(time.monotonic() - start, 2)
    (tmp_path / "timings.json").write_text(json.dumps(timings, indent=1, ensure_ascii=False))
    print(f"\nbrowser test: {timings}\nscreenshots: {shots}")
