"""CPU cost of glibc's default malloc thresholds vs msbiqa's tuned ones (`msbiqa.allocator`), as a ratio.

mallopt is process-wide and cannot be fully undone, so each setting runs in a fresh Python process
(MSBIQA_MALLOC=default or tuned), alternating default/tuned/default/tuned, repeated; each process samples the
shipped DMS-IQA pair (U-Net + TinyIQA, what a user certifies with) at every image size and batch size and
reports wall time, user and system CPU time per sample (`resource.getrusage`, all threads) and a digest of
the scores, so the table also shows that both settings give the same scores. Run as a module it is that
child process: `python -m msbiqa.experiments.bench_allocator '<json spec>'` prints its rows as JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time

SETTINGS = ("default", "tuned")
SEED = 0  # the noise of every child: both settings must score the same noisy copies


def _cpu_seconds() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def measure(spec: dict) -> list[dict]:
    """In this process: time `defended.sample` at each (size, n) x batch size of `spec`, after one warm-up batch."""
    import torch

    from msbiqa.allocator import tune_allocator
    from msbiqa.data.images import sample_photo
    from msbiqa.models.denoisers import DEFAULT_SIGMA, load_denoiser
    from msbiqa.models.metrics import load_metric
    from msbiqa.smoothing.defended import DefendedMetric
    from msbiqa.smoothing.sampler import auto_batch_size

    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    defended = DefendedMetric(load_metric(device="cpu"), DEFAULT_SIGMA, load_denoiser("dms-iqa", sigma=DEFAULT_SIGMA))
    rows = []
    for (height, width), n in zip(spec["sizes"], spec["ns"]):
        image = sample_photo(height, width)
        for batch in spec["batch_sizes"]:
            batch = batch or auto_batch_size(defended.score_noisy, image, n)
            defended.sample(image, min(n, batch), seed=SEED, batch_size=batch)  # warm-up: first-call costs
            user, system, start = *_cpu_seconds(), time.perf_counter()
            scores = defended.sample(image, n, seed=SEED, batch_size=batch)
            wall = time.perf_counter() - start
            user_end, system_end = _cpu_seconds()
            rows.append(
                {
                    "allocator": tune_allocator(),
                    "height": height,
                    "width": width,
                    "n": n,
                    "batch": batch,
                    "threads": torch.get_num_threads(),
                    "wall_ms": 1e3 * wall / n,
                    "user_ms": 1e3 * (user_end - user) / n,
                    "sys_ms": 1e3 * (system_end - system) / n,
                    "scores_sha256": hashlib.sha256(scores.numpy().tobytes()).hexdigest(),
                }
            )
    return rows


def run_child(setting: str, spec: dict) -> list[dict]:
    """`measure(spec)` in a fresh Python process with MSBIQA_MALLOC=setting (glibc's own malloc variables
    removed, so the two settings are exactly default and tuned)."""
    from msbiqa.allocator import ENV, GLIBC_VARIABLES

    env = {k: v for k, v in os.environ.items() if k not in GLIBC_VARIABLES and k != "GLIBC_TUNABLES"}
    env[ENV] = setting
    done = subprocess.run(
        [sys.executable, "-m", "msbiqa.experiments.bench_allocator", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"allocator benchmark child ({ENV}={setting}) failed:\n{done.stderr[-3000:]}")
    return [{**row, "setting": setting} for row in json.loads(done.stdout.splitlines()[-1])]


def run_allocator_bench(
    sizes: list[tuple[int, int]],
    ns: list[int],
    batch_sizes: list[int | None],
    repeats: int,
    threads: int | None = None,
) -> list[dict]:
    """Raw rows of `repeats` rounds, each a default child then a tuned child (interleaved: machine load that
    drifts hits both settings alike)."""
    if len(sizes) != len(ns):
        raise ValueError(f"the allocator benchmark needs one n per size, got sizes {sizes} and n {ns}")
    spec = {"sizes": [list(s) for s in sizes], "ns": list(ns), "batch_sizes": list(batch_sizes), "threads": threads}
    rows = []
    for repeat in range(repeats):
        for setting in SETTINGS:
            rows += [{**row, "repeat": repeat} for row in run_child(setting, spec)]
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """One row per size x batch: medians over the repeats of wall, user and system ms per sample for each
    setting, the ratio default/tuned of wall time, and whether every run of both settings gave the same scores."""
    keys = sorted({(r["height"], r["width"], r["batch"], r["n"]) for r in rows})
    table = []
    for height, width, batch, n in keys:
        runs = [r for r in rows if (r["height"], r["width"], r["batch"], r["n"]) == (height, width, batch, n)]
        out = {"height": height, "width": width, "n": n, "batch": batch, "repeats": len(runs) // len(SETTINGS)}
        for setting in SETTINGS:
            mine = [r for r in runs if r["setting"] == setting]
            out[f"{setting}_allocator"] = mine[0]["allocator"] if mine else "missing"
            for key in ("wall_ms", "user_ms", "sys_ms"):
                out[f"{setting}_{key}"] = statistics.median(r[key] for r in mine) if mine else float("nan")
        out["ratio"] = out["default_wall_ms"] / out["tuned_wall_ms"]
        out["same_scores"] = len({r["scores_sha256"] for r in runs}) == 1
        table.append(out)
    return table


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
