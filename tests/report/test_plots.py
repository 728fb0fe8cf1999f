"""Saved figures and run facts are written whole, never through a symbolic link."""

import json

import matplotlib.pyplot as plt
import pytest

from msbiqa.notebooks.session import record_run
from msbiqa.report.plots import save_figure


def test_figures_and_run_facts_refuse_a_link_and_are_written_whole(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    assert save_figure(fig, tmp_path, "line").read_bytes().startswith(b"\x89PNG")
    record_run(tmp_path, seed=3)
    assert json.loads((tmp_path / "run.json").read_text()) == {"seed": 3}
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    for name in ("line.png", "run.json"):
        (tmp_path / name).unlink()
        (tmp_path / name).symlink_to(target)
    with pytest.raises(ValueError, match=r"line\.png is a symbolic link"):
        save_figure(fig, tmp_path, "line")
    with pytest.raises(ValueError, match=r"run\.json is a symbolic link"):
        record_run(tmp_path, seed=4)
    plt.close(fig)
    assert target.read_text() == "keep me"
