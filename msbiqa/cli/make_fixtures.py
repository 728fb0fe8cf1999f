"""`msbiqa make-fixtures OUT`: small KonIQ-10k, SPAQ and CLIVE copies in their official layouts, from real photos."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "make-fixtures",
        help="write small copies of the KonIQ-10k, SPAQ and CLIVE layouts (synthetic labels) to try --scale full",
    )
    p.add_argument("out", help="folder to write koniq10k/, spaq/ and clive/ into")
    p.add_argument("--count", type=int, default=20, help="images per dataset (default 20)")
    p.set_defaults(func=run)


def run(args) -> int:
    from msbiqa.data.fixtures import write_layouts

    roots = write_layouts(args.out, args.count)
    print("wrote " + ", ".join(f"{name}={root}" for name, root in roots.items()))
    print("try: msbiqa reproduce --scale full --data " + " ".join(f"{n}={r}" for n, r in roots.items()))
    return 0
