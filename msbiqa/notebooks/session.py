"""What every reproduction notebook does first and last: its output folder, device and figure style, and the
facts of its run (data, metric, denoisers, seeds) for the index `msbiqa reproduce` writes."""

from __future__ import annotations

import json
from pathlib import Path

import torch

import msbiqa
from msbiqa.devices import default_device
from msbiqa.files import refuse_link, write_atomic


def repo_root() -> Path:
    """The source checkout msbiqa is imported from (an editable install: `pip install -e .`)."""
    return Path(msbiqa.__file__).resolve().parents[1]


def start_notebook(name: str, out: str | Path | None = None, device=None) -> tuple[Path, torch.device]:
    """(output folder, device) of notebook `name`: `out` (default results/<name> in the repository), created;
    `device` (default CUDA if available); also the project's figure style (seaborn whitegrid)."""
    import seaborn as sns

    sns.set_theme(style="whitegrid")
    folder = Path(out) if out is not None else repo_root() / "results" / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder, default_device(device)


def record_run(out: str | Path, **info) -> dict:
    """Add facts about a notebook's run (data, metric, denoisers, seeds ...) to `out/run.json`, for the index."""
    path = Path(out) / "run.json"
    refuse_link(path)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data.update(
        {k: v if isinstance(v, (str, int, float, bool, list, dict, type(None))) else str(v) for k, v in info.items()}
    )
    write_atomic(path, json.dumps(data, indent=1, default=str))
    return data
