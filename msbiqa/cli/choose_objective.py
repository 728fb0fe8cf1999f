"""`msbiqa choose-objective --reference DMS.pt G0.pt G1.pt ... --proxy CSV`: the fair test's objective grid table
and the rule's choice (docs/fair_test_rules.md, section 3), from the weights files and their validation-proxy rows
(`msbiqa validate-denoisers`)."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("choose-objective", help="the objective grid's table and the rule's choice (fair-test rules)")
    p.add_argument("points", nargs="+", help="grid points' weights files, labelled by the name before '-sigma'")
    p.add_argument("--reference", required=True, help="the reference's weights file (DMS: DnCNN, MSE)")
    p.add_argument("--proxy", required=True, help="CSV written by `msbiqa validate-denoisers` for all these files")
    p.add_argument("--out", default="results/fair_test", help="folder of grid.csv, grid.md, grid.png, choice.json")
    p.set_defaults(func=run)


def label(path: str) -> str:
    """G3-sigma0.12.pt -> G3."""
    return Path(path).name.split("-sigma")[0]


def run(args) -> int:
    import pandas as pd

    from msbiqa.experiments.objective_grid import save_grid, trained_arm

    proxy_file = Path(args.proxy)
    if not proxy_file.is_file():
        raise FileNotFoundError(
            f"validation-proxy CSV not found: {proxy_file}; write it with `msbiqa validate-denoisers`"
        )
    proxy = pd.read_csv(proxy_file)
    labels = [label(p) for p in args.points]
    if len(set(labels)) < len(labels):
        raise ValueError(f"grid points need distinct names before '-sigma', got {labels}")
    arms = [trained_arm(f"DMS ({label(args.reference)}, reference)", args.reference, proxy)]
    arms += [trained_arm(name, path, proxy) for name, path in zip(labels, args.points)]
    first = proxy.iloc[0]
    about = (
        f"validation proxy {proxy_file.name}: {int(first['images'])} images of split {first['split']}, "
        f"{int(first['draws'])} noise draws per image (seed {first['noise_seed']})"
    )
    choice = save_grid(arms, args.out, about)
    print(f"chosen: {choice['chosen']} ({choice['why']}); table in {Path(args.out) / 'grid.md'}")
    return 0
