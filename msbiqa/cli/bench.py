"""`msbiqa bench`: certification speed, batched sampler vs a per-sample loop, its scaling in n and pixels, the
allocator's share (glibc default vs tuned malloc), and what torch.compile buys (eager vs compiled)."""

from __future__ import annotations

from msbiqa.cli.options import add_options, given


def register(sub) -> None:
    from msbiqa.experiments.bench import BenchPlan

    p = sub.add_parser(
        "bench",
        help="measure certification speed (batched vs per-sample loop) and its scaling",
        description="The first --size and --n are the base point (every model x denoiser, naive loop and "
        "batched, interleaved); the first model is swept over the other sizes and n. "
        "On CPU it also compares glibc's default malloc with msbiqa's tuned thresholds (--part allocator), each "
        "in fresh processes, at --allocator-size. "
        "--part compile times eager against torch.compile and other fusions on the shipped networks "
        "(certification with each --compile-paths defence, the dms-iqa training step), interleaved, and compares "
        "their scores and certificates. "
        "Writes bench.csv, scaling.csv, allocator.csv, compile.csv, bench.json and bench.md under --out. "
        "Defaults depend on --device (and --quick): the cpu plan is shown, the cuda plan in parentheses.",
    )
    add_options(p, BenchPlan, use_defaults=False)
    p.add_argument("--out", default="results/bench", help="output folder (default results/bench)")
    p.add_argument("--quick", action="store_true", help="CI-sized run: tiny images and n, small CNN, one repeat")
    p.set_defaults(func=run)


def run(args) -> int:
    import dataclasses

    from msbiqa.experiments.bench import BenchPlan, default_plan, report, run_benchmark, write_results

    plan = dataclasses.replace(default_plan(args.device or "cpu", args.quick), **given(BenchPlan, args)).check()
    result = run_benchmark(plan, on_update=lambda partial: write_results(partial, args.out))
    paths = write_results(result, args.out)
    print(report(result), end="")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
