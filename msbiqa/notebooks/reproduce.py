"""Run the numbered notebooks with papermill, in order, and index what they wrote in `<out>/README.md`.

Each notebook `NN_name.ipynb` runs with its `parameters` cell overridden by the chosen scale and writes its
tables (CSV + Markdown) and figures (PNG) into `<out>/NN_name/`, next to the executed notebook. A failing
notebook is recorded and the others still run. Notebooks run in a kernel on this very interpreter
(`sys.executable`), whatever kernelspecs are installed, so a fresh `.venv` needs no kernel registration.
Runs may share `<out>`: each notebook's folder is locked for its run (a second run of it is refused), and the
index is read and rewritten whole under a lock, so every run's record stays; a README.md of the user's is refused.
"""

from __future__ import annotations

import ast
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import yaml
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from tqdm.auto import tqdm

import msbiqa
from msbiqa.console import plain
from msbiqa.files import FileLock, refuse_link, write_atomic
from msbiqa.notebooks.session import repo_root

NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
INLINE_ROWS = 30  # tables up to this many rows are copied into the index; longer ones are linked
PACKAGES = (
    "torch",
    "torchvision",
    "pyiqa",
    "numpy",
    "scipy",
    "pandas",
    "matplotlib",
    "seaborn",
    "papermill",
    "scikit-image",
)

SCALES_FILE = "scales.yaml"  # beside the notebooks: parameter overrides per scale
HEADLESS = {"interactive": False, "progress": False}  # papermill runs have no widget front end: static figures, no bars


@dataclass
class NotebookRun:
    """What happened to one notebook."""

    name: str
    parameters: dict
    seconds: float = 0.0
    ok: bool = False
    error: str = ""
    outputs: list[str] = field(default_factory=list)
    scale: str = ""
    finished: str = ""


class ThisPythonKernelManager(AsyncKernelManager):
    """A kernel manager whose kernel is `sys.executable -m ipykernel_launcher`, ignoring installed kernelspecs.

    The kernel logs only critical messages: its start-up warning about unencrypted TCP on 127.0.0.1 and the
    "KeyboardInterrupt caught in kernel" of its shutdown are noise on the console of a run that succeeds (a cell's
    own errors reach the executed notebook and the run record, not the kernel's log)."""

    @property
    def kernel_spec(self) -> KernelSpec:
        if self._kernel_spec is None:
            self._kernel_spec = KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--log-level=CRITICAL"],
                display_name=f"Python {platform.python_version()} ({sys.prefix})",
                language="python",
            )
        return self._kernel_spec


def notebooks_dir(folder: str | Path | None = None) -> Path:
    """The folder of numbered notebooks: `folder`, or `notebooks/` at the repository root."""
    path = Path(folder) if folder is not None else repo_root() / "notebooks"
    if not path.is_dir() or not any(path.glob(NOTEBOOK_PATTERN)):
        raise FileNotFoundError(
            f"no numbered notebooks (NN_name.ipynb) in {path}; `msbiqa reproduce` runs from a source checkout "
            "installed editable (bash scripts/setup.sh, or pip install -e .), or pass --notebooks DIR"
        )
    return path


def select(folder: Path, only=None) -> list[Path]:
    """Notebooks of `folder` in reading order; `only` keeps those whose number or name is listed."""
    books = sorted(folder.glob(NOTEBOOK_PATTERN))
    if not only:
        return books
    wanted = {str(o).removesuffix(".ipynb") for o in only}
    picked = [b for b in books if b.stem[:2] in wanted or b.stem in wanted]
    known = {b.stem[:2] for b in books} | {b.stem for b in books}
    unknown = sorted(wanted - known)
    if unknown:
        raise ValueError(f"--only {unknown}: no such notebook; choose from {[b.stem for b in books]}")
    return picked


def load_scales(folder: Path) -> dict[str, dict[str, dict]]:
    """The scales of `folder/scales.yaml`: {scale: {"*" or "NN": {parameter: value}}}; without the file only
    "embedded" (the notebooks' own defaults)."""
    path = folder / SCALES_FILE
    if not path.is_file():
        return {"embedded": {}}
    scales = yaml.safe_load(path.read_text()) or {}
    if not isinstance(scales, dict) or not all(isinstance(v, dict) for v in scales.values()):
        raise ValueError(f"{path} must map each scale name to {{'*' or 'NN': {{parameter: value}}}}")
    return scales


def declared_parameters(notebook: Path) -> dict:
    """The notebook's `parameters` cell as {name: default value} (defaults that are not literals stay text)."""
    import papermill

    params = {}
    for name, info in papermill.inspect_notebook(str(notebook)).items():
        try:
            params[name] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            params[name] = info["default"]
    return params


def check_overrides(folder: Path, overrides: dict) -> None:
    """Every overridden parameter must be declared by its notebook ("NN") or by some notebook ("*"): a typo
    would otherwise be silently ignored; and its value must have the type of each such notebook's default."""
    declared = {book.stem[:2]: declared_parameters(book) for book in sorted(folder.glob(NOTEBOOK_PATTERN))}
    for target, values in overrides.items():
        if target != "*" and target not in declared:
            raise ValueError(f"no notebook {target!r} in {folder} for {sorted(values)}; notebooks: {sorted(declared)}")
        books = declared if target == "*" else {target: declared[target]}
        known = set().union(*books.values())
        unknown = sorted(set(values) - known)
        if unknown:
            where = "any notebook" if target == "*" else f"notebook {target}"
            raise ValueError(f"{where} declares no parameter {unknown}; its parameters: {sorted(known)}")
        for key, value in values.items():
            for book, params in books.items():
                if key in params:
                    check_type(key, value, params[key], book)


TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "text", list: "a list", dict: "a dict"}


def check_type(key: str, value, default, book: str) -> None:
    """ValueError unless `value` has the type of the notebook's `default`: a bool for a bool, an int for an int, a
    number for a float, text for text, a list or a dict for those. None fits a default of None and an int (a count:
    None = all); a default of None takes anything."""
    expected = type(default)
    fits = (
        default is None
        or type(value) is expected
        or (value is None and expected is int)
        or (type(value) is int and expected is float)
    )
    if not fits:
        raise ValueError(
            f"--set {key}={json.dumps(value)}: notebook {book}'s {key} takes "
            f"{TYPE_NAMES.get(expected, expected.__name__)} (its default is {json.dumps(default, default=repr)})"
        )


def resolve_parameters(notebook: Path, out: Path, scale: str, overrides: dict | None = None) -> dict:
    """Effective parameters of one notebook: its defaults, then the scale's (scales.yaml beside it) and the
    caller's overrides ("*" for all notebooks, "NN" for one); only declared names are set; "{out}" in strings
    becomes `out`."""
    scales = load_scales(notebook.parent)
    if scale not in scales:
        raise ValueError(f"unknown scale {scale!r}; choose from {sorted(scales)} ({notebook.parent / SCALES_FILE})")
    declared = declared_parameters(notebook)
    params = dict(declared)
    for layer in ({"*": HEADLESS}, scales[scale], overrides or {}):
        for key in ("*", notebook.stem[:2]):
            params.update({k: v for k, v in layer.get(key, {}).items() if k in declared})
    params = {k: v.replace("{out}", str(out)) if isinstance(v, str) else v for k, v in params.items()}
    if "out" in declared:
        params["out"] = str(out / notebook.stem)
    return params


def run_notebook(notebook: Path, out: Path, params: dict, timeout: float | None = None) -> NotebookRun:
    """Execute one notebook into `out/<name>/<name>.ipynb`; errors are recorded, not raised."""
    import papermill

    from msbiqa.notebooks.headless import ENGINE  # papermill's engine without nbclient's Output-widget imitation

    folder = out / notebook.stem
    folder.mkdir(parents=True, exist_ok=True)
    run = NotebookRun(notebook.stem, params)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook),
            str(folder / notebook.name),
            parameters=params,
            kernel_name="python3",
            language="python",
            progress_bar={"leave": False, "desc": notebook.stem},
            cwd=str(notebook.parent),
            execution_timeout=timeout,
            kernel_manager_class=ThisPythonKernelManager,
            engine_name=ENGINE,
        )
        run.ok = True
    except Exception as err:  # noqa: BLE001 — any failure of one notebook must not stop the others
        run.error = plain(f"{type(err).__name__}: {err}").strip()[-2000:] or traceback.format_exc(limit=2)
    run.seconds = time.perf_counter() - start
    run.outputs = sorted(
        str(p.relative_to(out))
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in (".csv", ".md", ".png", ".json", ".pt")
    )
    return run


def reproduce(
    out: str | Path = "results",
    *,
    scale: str = "embedded",
    only=None,
    overrides: dict | None = None,
    notebooks: str | Path | None = None,
    timeout: float | None = None,
    progress: bool = True,
) -> list[NotebookRun]:
    """Run the selected notebooks in order and write `<out>/README.md`; returns one record per notebook."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub, even from a notebook
    out = Path(out).resolve()
    folder = notebooks_dir(notebooks)
    check_overrides(folder, overrides or {})
    books = select(folder, only)
    plans = [(b, resolve_parameters(b, out, scale, overrides)) for b in books]  # every error before any run
    out.mkdir(parents=True, exist_ok=True)
    _check_records_are_ours(out)
    locks = [_notebook_lock(out, notebook) for notebook, _ in plans]
    try:
        for lock in locks:
            lock.acquire()
        return _run_all(out, plans, scale, timeout, progress)
    finally:
        for lock in locks:
            lock.release()


def _run_all(out: Path, plans: list[tuple[Path, dict]], scale: str, timeout, progress: bool) -> list[NotebookRun]:
    """Run the planned notebooks in order, recording each in the index as it finishes."""
    runs = []
    bar = tqdm(plans, desc="notebooks", unit="notebook", disable=not progress)
    for notebook, params in bar:
        bar.set_postfix_str(notebook.stem)
        run = run_notebook(notebook, out, params, timeout)
        run.scale, run.finished = scale, time.strftime("%Y-%m-%d %H:%M %Z")
        runs.append(run)
        record(out, run)
        if not run.ok:
            tqdm.write(f"FAILED {notebook.stem}: {run.error.splitlines()[-1] if run.error else ''}")
    return runs


def _notebook_lock(out: Path, notebook: Path) -> FileLock:
    """The lock on one notebook's output folder: two runs of the same notebook into one `out` would overwrite
    each other's outputs."""
    return FileLock(
        out / f".{notebook.stem}.lock",
        f"{out / notebook.stem} is being written by another msbiqa reproduce ({{owner}}); wait for it to finish "
        "or choose another --out",
    )


RUNS_FILE = "runs.json"
INDEX_FILE = "README.md"
INDEX_TITLE = "# msbiqa reproduction results"


def record(out: Path, run: NotebookRun) -> None:
    """Add `run` to runs.json and README.md of `out`, read and rewritten under a lock, so runs of other notebooks
    into the same folder (concurrent ones too) stay listed: the index accumulates the latest run of each."""
    with FileLock(out / ".runs.lock", wait=True):
        index = load_runs(out)
        index[run.name] = run
        save_runs(out, index)
        write_index(out, [index[name] for name in sorted(index)])


def load_runs(out: Path) -> dict[str, NotebookRun]:
    """The latest run of every notebook recorded in `out` (empty for a new folder)."""
    path = out / RUNS_FILE
    if not path.is_file():
        return {}
    try:
        return {r["name"]: NotebookRun(**r) for r in json.loads(path.read_text())}
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"{path} is not a run record written by msbiqa reproduce ({err}); delete it") from None


def save_runs(out: Path, index: dict[str, NotebookRun]) -> None:
    """Record the runs (written whole: a kill never leaves half a record)."""
    write_atomic(out / RUNS_FILE, json.dumps([asdict(index[name]) for name in sorted(index)], indent=1, default=str))


def _check_records_are_ours(out: Path) -> None:
    """Before any work: runs.json and README.md in `out` must be msbiqa reproduce's (not links, not a user's README,
    e.g. with --out at a source checkout)."""
    index = out / INDEX_FILE
    for path in (out / RUNS_FILE, index):
        refuse_link(path)
    load_runs(out)
    if index.is_file() and not index.read_text(errors="replace").startswith(INDEX_TITLE):
        raise ValueError(
            f"{index} was not written by msbiqa reproduce; msbiqa leaves it untouched: choose another --out"
        )


def software_versions() -> dict:
    """Versions of Python, msbiqa (with its git commit) and the main dependencies."""
    versions = {"python": platform.python_version(), "msbiqa": msbiqa.__version__}
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo_root()), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        versions["msbiqa"] += f" (git {commit})" if commit else ""
    except (OSError, subprocess.SubprocessError):
        pass
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def hardware() -> str:
    """The machine in one line: CPU threads, and the GPU when there is one."""
    import torch

    text = f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPU threads"
    text += f" (torch uses {torch.get_num_threads()})"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name(0)}"
    return text


def write_index(out: Path, runs: list[NotebookRun]) -> Path:
    """`<out>/README.md`: scale, data, metric, seeds and software, a status table with when each notebook last
    ran, then every notebook's tables (inlined) and figures (linked)."""
    failed = [r.name for r in runs if not r.ok]
    scales = sorted({r.scale for r in runs})
    lines = [
        INDEX_TITLE,
        "",
        f"Written by `msbiqa reproduce` on {time.strftime('%Y-%m-%d %H:%M %Z')}: the latest run of each of "
        f"{len(runs)} notebooks, {sum(r.seconds for r in runs) / 60:.1f} min in all, "
        + (f"**{len(failed)} failed: {', '.join(failed)}**." if failed else "all succeeded."),
        "",
        f"* scale: **{', '.join(scales)}**"
        + (
            " (the notebooks' CPU-sized defaults: embedded data, small n, image subsets)"
            if scales == ["embedded"]
            else ""
        ),
        f"* machine: {hardware()}",
        "* software: " + ", ".join(f"{k} {v}" for k, v in software_versions().items()),
    ]
    facts: dict[str, set] = {}
    for r in runs:
        info = _run_info(out, r)
        for key in ("data", "metric", "denoisers", "seed"):
            value = info.get(key, r.parameters.get(key))
            if value is not None:
                facts.setdefault(key, set()).add(json.dumps(value, default=str).strip('"'))
    lines += [f"* {key}: " + "; ".join(sorted(values)) for key, values in facts.items()]
    lines += ["", "| notebook | status | minutes | outputs | scale | finished |", "|---|---|---|---|---|---|"]
    for r in runs:
        status = "ok" if r.ok else "**FAILED**"
        lines.append(
            f"| [{r.name}]({r.name}/{r.name}.ipynb) | {status} | {r.seconds / 60:.1f} | "
            f"{sum(p.endswith(('.csv', '.png')) for p in r.outputs)} files | {r.scale} | {r.finished} |"
        )
    for r in runs:
        lines += ["", f"## {r.name}", ""]
        if not r.ok:
            lines += ["```", r.error, "```", ""]
        info = _run_info(out, r)
        if info:
            lines += ["Run facts: " + ", ".join(f"{k} = {v}" for k, v in info.items()), ""]
        lines += ["Parameters: `" + json.dumps(r.parameters, default=str) + "`", ""]
        for p in r.outputs:
            if p.endswith(".md"):
                text = (out / p).read_text().strip()
                short = text.count("\n|") <= INLINE_ROWS + 1
                lines += [f"**{Path(p).stem}** ([csv]({p[:-3]}.csv), [md]({p}))", ""] + ([text, ""] if short else [])
        lines += [f"![{Path(p).stem}]({p})" for p in r.outputs if p.endswith(".png")]
    return write_atomic(out / INDEX_FILE, "\n".join(lines) + "\n")


def _run_info(out: Path, run: NotebookRun) -> dict:
    path = out / run.name / "run.json"
    return json.loads(path.read_text()) if path.is_file() else {}
