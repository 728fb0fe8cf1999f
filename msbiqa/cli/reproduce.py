"""`msbiqa reproduce`: execute the numbered notebooks with papermill and index their tables and figures."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

MAX_DIGITS = 15  # --set integers: a notebook's count or seed never needs more; 5000 digits would only cost memory


def register(sub) -> None:
    from msbiqa.cli.options import add_options
    from msbiqa.devices import Compute
    from msbiqa.models.metrics import MetricChoice

    p = sub.add_parser("reproduce", help="run the notebooks (papermill) and write tables, figures and an index")
    p.add_argument(
        "--scale",
        default="embedded",
        help="a scale of notebooks/scales.yaml: embedded, a CPU-sized run on the bundled data (default); "
        "full, GPU-sized, needs --data",
    )
    p.add_argument("--out", default="results", help="output folder (default: results)")
    p.add_argument("--only", nargs="+", metavar="NN", help="run only these notebooks (numbers or names)")
    p.add_argument(
        "--data",
        nargs="+",
        metavar="NAME[=ROOT]",
        help="datasets: embedded, koniq10k=ROOT, spaq=ROOT, clive=ROOT (required with --scale full)",
    )
    add_options(p, MetricChoice, skip=("weights",), use_defaults=False)  # every notebook's
    add_options(p, Compute, skip=("threads",), use_defaults=False)  # the notebooks' kernels use it
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        help="where notebooks 03 and 04 certify: local (in the notebook, default) or ray (a Ray cluster)",
    )
    p.add_argument(
        "--address",
        help="Ray cluster for --engine ray: auto or HOST:PORT (default: a Ray instance of this machine per notebook)",
    )
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="[NN.]KEY=VALUE",
        help="override a notebook parameter, for all notebooks or notebook NN; VALUE is JSON (true, null, 3, "
        "[0.1, 0.2], {...}; Python's True/None also work), a bare word is a string; checked against its default",
    )
    p.add_argument("--notebooks", help="folder of the notebooks (default: notebooks/ in the source checkout)")
    p.add_argument("--timeout", type=float, help="seconds one cell may run (default: no limit)")
    p.set_defaults(func=run)


def parse_overrides(args) -> dict:
    """--data, --metric, --device, --engine, --address and --set as reproduce() overrides ({"*": {}, "NN": {}})."""
    overrides: dict[str, dict] = {"*": {}}
    if args.data:
        datasets = dict(_data_source(item) for item in args.data)
        first = next(iter(datasets.items()))  # notebooks that use one dataset (02, 05) take the first
        overrides["*"].update(datasets=datasets, data=first[0], data_root=first[1])
    elif args.scale == "full":
        raise ValueError("--scale full needs datasets: --data koniq10k=ROOT spaq=ROOT clive=ROOT (or --data embedded)")
    if args.metric is not None:
        overrides["*"].update(metric=args.metric, metrics=[args.metric])  # 03 compares a list of metrics
    for name in ("device", "engine", "address"):
        if getattr(args, name, None) is not None:
            overrides["*"][name] = getattr(args, name)
    for item in args.set:
        key, text = _split(item, "=", "--set", value_required=True)
        target, _, key = key.rpartition(".")
        overrides.setdefault(target or "*", {})[key] = parse_value(text, item)
    return overrides


def parse_value(text: str | None, item: str):
    """--set's VALUE: JSON (true, null, 3, [0.1, 0.2], {"k": 1}), else a Python literal (True, None, ['a']), else
    the text itself (a bare word is a string); then checked by `json_literal`. An empty value is refused."""
    if not text:
        raise ValueError(f"--set {item!r}: no value after '='; give one (null for None, '\"\"' for an empty string)")
    try:
        value = json.loads(text, parse_int=_json_int)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = text
    return json_literal(value, item)


def _json_int(text: str) -> int | float:
    """A JSON integer; one too long for a --set value becomes inf, which `json_literal` refuses (int() of 5000
    digits would raise and make the value a string instead)."""
    return int(text) if len(text.lstrip("-")) <= MAX_DIGITS else math.inf


def json_literal(value, item: str):
    """`value` if it is JSON-representable (number, string, bool, None, list, dict with string keys): only those
    reach a notebook as safely quoted source; anything else (tuples, sets, bytes, ...) is refused, and so are NaN,
    infinities and integers of more than MAX_DIGITS digits."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int) and abs(value) < 10**MAX_DIGITS or isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, int | float):
        raise ValueError(f"--set {item!r}: NaN, infinities and integers of more than {MAX_DIGITS} digits are refused")
    if isinstance(value, list):
        return [json_literal(v, item) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: json_literal(v, item) for k, v in value.items()}
    raise ValueError(
        f"--set {item!r}: {type(value).__name__} values are not accepted; use numbers, strings, true/false, None, "
        "[lists] or {dicts with string keys}"
    )


def _data_source(item: str) -> tuple[str, str | None]:
    """--data NAME[=ROOT]: a known dataset name and its folder as an absolute path (notebooks run in their own
    folder, so a relative path would point elsewhere there), checked to exist before any notebook runs."""
    from msbiqa.data import dataset_names

    name, root = _split(item, "=", "--data", value_required=False)
    if name.lower() not in dataset_names():
        raise ValueError(f"--data {item!r}: unknown dataset {name!r}; choose from {', '.join(dataset_names())}")
    if root is None:
        return name, None
    path = Path(root).expanduser().resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"--data {item!r}: {path} is not a folder; give the folder where {name} is unpacked")
    return name, str(path)


def _split(item: str, sep: str, option: str, value_required: bool) -> tuple[str, str | None]:
    key, found, value = item.partition(sep)
    if not key or (value_required and not found):
        raise ValueError(f"{option} {item!r}: expected KEY{sep}VALUE")
    return key, (value or None)


def run(args) -> int:
    from msbiqa.experiments.engines import make_engine
    from msbiqa.notebooks.reproduce import reproduce

    overrides = parse_overrides(args)
    if args.engine == "ray" or args.address:  # a missing Ray or a dead address fails now, not inside a notebook
        make_engine(args.engine or "local", args.address)
    runs = reproduce(
        args.out,
        scale=args.scale,
        only=args.only,
        overrides=overrides,
        notebooks=args.notebooks,
        timeout=args.timeout,
    )
    failed = [r for r in runs if not r.ok]
    for r in runs:
        print(f"{'ok    ' if r.ok else 'FAILED'} {r.name:32s} {r.seconds:7.1f} s")
    print(f"index: {args.out}/README.md")
    return 1 if failed else 0
