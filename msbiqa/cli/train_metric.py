"""`msbiqa train-metric`: train a base metric of this project (TinyIQA, the default, or ResIQA with `--arch
resiqa`) and write its weights file.

The defaults reproduce the shipped msbiqa/weights/tinyiqa.pt bit for bit (same torch build, CPU).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from msbiqa.cli.options import add_options, from_args
from msbiqa.data.source import DataSource
from msbiqa.files import write_atomic


def register(sub) -> None:
    from msbiqa.models.metrics.training import MetricTrainConfig

    p = sub.add_parser("train-metric", help="train a base metric (TinyIQA or ResIQA) on a dataset's train split")
    add_options(p, DataSource, skip=("split",))  # trains on train, selects on val, reports test
    p.add_argument("--out", default=None, help="weights file to write (default: ./ARCH.pt, e.g. ./tinyiqa.pt)")
    p.add_argument("--report", default=None, help="also write a JSON report: record, runtime, sha256, baselines")
    p.add_argument(
        "--baselines", nargs="*", default=["pyiqa:piqe", "brisque"], help="metrics scored on test for the report"
    )
    add_options(p, MetricTrainConfig)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    from msbiqa.models.metrics.training import MetricTrainConfig, train_base_metric

    out = args.out or f"{args.arch}.pt"
    splits = {s: from_args(DataSource, args, split=s).load() for s in ("train", "val", "test")}
    _, record = train_base_metric(
        splits["train"],
        splits["val"],
        from_args(MetricTrainConfig, args),
        test_ds=splits["test"],
        dataset=args.dataset,
        recipe=dataset_recipe(splits["train"]),
        out_path=out,
        progress=not args.quiet,
    )
    digest = hashlib.sha256(Path(out).read_bytes()).hexdigest()
    print(f"wrote {out} (sha256 {digest}) in {record['runtime_s']} s; best epoch {record['best_epoch']}")
    for split in ("val", "test"):
        print(f"  {split}: " + ", ".join(f"{k} {v:.4f}" for k, v in record[split].items()))
    if args.report:
        report = {k: v for k, v in record.items() if k != "history"}
        report.update(sha256=digest, baselines=score_baselines(args.baselines, splits["test"]))
        write_atomic(args.report, json.dumps(report, indent=2) + "\n")
        for name, corr in report["baselines"].items():
            print(f"  test {name}: " + ", ".join(f"{k} {v}" for k, v in corr.items()))
    return 0


def dataset_recipe(ds) -> dict | None:
    """How the embedded set was built (recipe version, image size); None for datasets users bring."""
    from msbiqa.data import EmbeddedIQA
    from msbiqa.data.embedded import RECIPE_VERSION

    return {"recipe_version": RECIPE_VERSION, "size": ds.size} if isinstance(ds, EmbeddedIQA) else None


def score_baselines(names: list[str], test_ds) -> dict:
    """Correlations with MOS on the test split of each metric in `names` (sign-corrected SROCC/KROCC).

    A metric that cannot be loaded here (an optional package absent) is reported with its error instead.
    """
    import torch

    from msbiqa.models.metrics import MissingWeightsError, load_metric
    from msbiqa.models.metrics.training import stack_split
    from msbiqa.statistics.correlations import correlations

    images, mos = stack_split(test_ds)
    results = {}
    for name in names:
        try:
            metric = load_metric(name, device="cpu")
        except MissingWeightsError as err:
            results[name] = {"error": str(err)}
            continue
        with torch.inference_mode():
            scores = torch.cat([metric(images[i : i + 64]) for i in range(0, len(images), 64)]).double().numpy()
        sign = 1.0 if metric.higher_is_better else -1.0
        results[name] = {k: round(float(v), 4) for k, v in correlations(sign * scores, mos.numpy()).items()}
    return results
