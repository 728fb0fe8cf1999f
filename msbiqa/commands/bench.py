"""`msbiqa bench`: certification speed, batched sampler vs a per-sample loop, and its scaling in n and pixels."""

from __future__ import annotations


def register(sub) -> None:
    from msbiqa.bench import DENOISERS, MODELS

    p = sub.add_parser(
        "bench", help="measure certification speed (batched vs per-sample loop) and its scaling",
        description="The first --size and --n are the base point (every model x denoiser, naive loop and "
                    "batched, interleaved); the first model is swept over the other sizes and n. "
                    "Writes bench.csv, scaling.csv, bench.json and bench.md under --out.",
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--size", nargs="+", default=None,
                   help="image sizes, S or HxW (default cpu: 96 64 128; cuda: 384x512 192x256 288x384)")
    p.add_argument("--n", nargs="+", type=int, default=None,
                   help="noise samples per image (default cpu: 100 50 200; cuda: 1000 250 500)")
    p.add_argument("--models", nargs="+", default=None, choices=sorted(MODELS),
                   help="default cpu: small-cnn resnet18; cuda: inception-resnet-v2 resnet18 small-cnn")
    p.add_argument("--denoisers", nargs="+", default=None, choices=sorted(DENOISERS), help="default: all three")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per point, median reported (default 3)")
    p.add_argument("--naive-n", type=int, default=None,
                   help="samples the naive loop runs (default cpu: the same n; cuda: 100); ratios compare time per "
                        "sample")
    p.add_argument("--batch-size", nargs="+", default=None, metavar="B",
                   help="batch sizes of the batched path, each measured at the base point ('auto': the sampler's "
                        "choice)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--compile", default=None, metavar="MODE",
                   help="torch.compile the networks of the batched path with this mode (default, reduce-overhead)")
    p.add_argument("--out", default="results/bench", help="output folder (default results/bench)")
    p.add_argument("--quick", action="store_true", help="CI-sized run: tiny images and n, small CNN, one repeat")
    p.set_defaults(func=run)


def run(args) -> int:
    import dataclasses

    from msbiqa.bench import default_plan, parse_size, report, run_benchmark, write_results

    given = {
        "sizes": args.size and [parse_size(s) for s in args.size], "ns": args.n, "models": args.models,
        "denoisers": args.denoisers, "repeats": args.repeats, "naive_n": args.naive_n, "threads": args.threads,
        "batch_sizes": args.batch_size and [_batch_size(b) for b in args.batch_size], "compile_mode": args.compile,
    }
    chosen = {k: v for k, v in given.items() if v is not None}
    plan = dataclasses.replace(default_plan(args.device, args.quick), **chosen)
    plan.check()
    result = run_benchmark(plan, on_update=lambda partial: write_results(partial, args.out))
    paths = write_results(result, args.out)
    print(report(result), end="")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _batch_size(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"--batch-size takes positive integers or 'auto', got {text!r}") from None
