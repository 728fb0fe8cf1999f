"""`msbiqa build-data`: build (or find in the cache) the embedded set and print its summary."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "build-data", help="build the embedded IQA set (real photos, synthetic distortions, FR pseudo-MOS)"
    )
    p.add_argument("--root", default=None, help="folder for the set (default: $MSBIQA_CACHE or ~/.cache/msbiqa)")
    p.add_argument("--size", type=int, default=96, help="side of the square images in pixels (default 96, min 48)")
    p.add_argument("--force", action="store_true", help="rebuild even if a current set is already there")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    import pandas as pd

    from msbiqa.data.embedded import LABELS_FILE, MANIFEST, build_embedded, summary

    root = build_embedded(args.root, args.size, force=args.force)
    manifest = json.loads((root / MANIFEST).read_text())
    table = pd.read_csv(root / LABELS_FILE)
    print(f"embedded set v{manifest['recipe_version']}, {manifest['size']}px, {len(table)} images in {root}")
    print(f"built in {manifest['build_seconds']} s; label: {manifest['label']}")
    print(summary(table))
    return 0
