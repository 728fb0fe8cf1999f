"""The embedded set: real photos from installed packages, KADID-10k's distortions, FR pseudo-MOS labels.

Built once, deterministically, into a cache folder: images/*.png, labels.csv, sha256sums.txt (the sha256
of every image) and embedded.json (recipe, counts, and the sha256 of labels.csv and sha256sums.txt).
This is a small KADIS-style stand-in for a real IQA dataset, not KonIQ or any human-rated set.

Splits, by photo and by distortion family. Each reference photo belongs to one split (photos.PHOTOS),
and the families of HELD_OUT_FAMILIES are applied to test photos only, so no model trained on the set
sees them:
    train, val   photos of that split: pristine crops and the in-distribution families
    train-pristine, val-pristine, test-pristine   only the pristine crops of that split (a generic denoiser's data)
    test         test photos: pristine crops and the in-distribution families (new photos)
    test-ood     test photos: pristine crops and the held-out families (new photos, new distortions)
    all          every image
labels.csv holds the split of each image in `split` (the pristine crops of test photos are listed under
test); "test-ood" also returns those pristine crops, the references of its images, so both test sets are
self-contained. Columns `family` ("none" for pristine) and `ood` (held-out family) say the same per image.

Integrity: opening a cached set checks its recipe and size, the sha256 of labels.csv and sha256sums.txt,
that the image folder holds exactly the listed files, and the sha256 of every image (one pass over the
files); a set that fails is rebuilt, with a warning that names what failed. A rebuild (or --force) replaces
the folder whole, so it refuses, naming them, files in it that the set did not write.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import tempfile
import time
import warnings
import zlib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm.auto import tqdm

from msbiqa.data.base import IQADataset
from msbiqa.data.distortions import CHROMA_ONLY, DISTORTIONS, FAMILIES, LEVELS, distort
from msbiqa.data.photos import CROPS, PHOTOS, Photo, crop_and_resize, is_gray
from msbiqa.data.pseudo_mos import ANCHORS, FR_METRICS, FRScorer, pseudo_mos

RECIPE_VERSION = 2  # bump when the code that makes images or labels changes; parameters are checked anyway
DEFAULT_SIZE = 96
MIN_SIZE = 48  # pyiqa's VIF fails on 32 px images; 48 is the smallest size tested
MOS_RANGE = (0.0, 100.0)
LABELS_FILE, SUMS, MANIFEST = "labels.csv", "sha256sums.txt", "embedded.json"
HELD_OUT_FAMILIES = ("spatial", "sharpness_contrast")
SPLITS = ("train", "val", "test", "test-ood", "all")
LABEL = "pseudo-MOS = 100 * mean_m clip((s_m - worst_m) / (best_m - worst_m), 0, 1)"


def default_root(size: int = DEFAULT_SIZE) -> Path:
    """Cache folder of the set: $MSBIQA_CACHE (default ~/.cache/msbiqa) / embedded-v{RECIPE_VERSION}-{size}."""
    base = Path(os.environ.get("MSBIQA_CACHE") or Path.home() / ".cache" / "msbiqa")
    return base / f"embedded-v{RECIPE_VERSION}-{size}"


def recipe() -> dict:
    """Everything that decides the set's content, as stored in embedded.json and compared on opening."""
    spec = {
        "photos": {p.name: {"source": p.source, "split": p.split} for p in PHOTOS},
        "crops_side_cx_cy": CROPS,
        "distortions": {name: params for types in FAMILIES.values() for name, (_, params) in types.items()},
        "families": {family: list(types) for family, types in FAMILIES.items()},
        "held_out_families": HELD_OUT_FAMILIES,
        "chroma_only_skipped_on_gray": sorted(CHROMA_ONLY),
        "label": LABEL,
        "anchors_best_worst": ANCHORS,
    }
    return json.loads(json.dumps(spec))  # as read back from embedded.json: tuples become lists


def variants(reference: np.ndarray, key: str, *, held_out: bool) -> Iterator[tuple[str, str, int, np.ndarray]]:
    """(family, distortion, level, uint8 image) for the pristine crop and every distortion level.

    `held_out` adds the HELD_OUT_FAMILIES (test photos only); chroma-only types are skipped on grayscale
    photos, where they change nothing. The random draws of each type are seeded from `key` (photo/crop)
    and the type, not the level or the build order: the levels of one image share their draws.
    """
    yield "none", "pristine", 0, reference
    gray = is_gray(reference)
    for family, types in FAMILIES.items():
        if family in HELD_OUT_FAMILIES and not held_out:
            continue
        for name in types:
            if gray and name in CHROMA_ONLY:
                continue
            seed = zlib.crc32(f"{key}/{name}".encode())
            for level in LEVELS:
                yield family, name, level, distort(reference, name, level, np.random.default_rng(seed))


def image_split(photo: Photo, family: str) -> str:
    """The split of one image: its photo's, or test-ood for a held-out family on a test photo."""
    return "test-ood" if photo.split == "test" and family in HELD_OUT_FAMILIES else photo.split


def render_crop(photo: Photo, c: int, size: int, scorer: FRScorer) -> list[dict]:
    """Rows (with the uint8 image under "image") for every variant of crop `c` of one photo."""
    reference = crop_and_resize(photo.load(), CROPS[c], size)
    batch = list(variants(reference, f"{photo.name}/{c}", held_out=photo.split == "test"))
    scores = scorer(np.stack([image for *_, image in batch]), reference)
    labels = pseudo_mos(scores)
    rows = []
    for k, (family, distortion, level, image) in enumerate(batch):
        rows.append(
            {
                "name": f"{photo.name}_c{c}_{distortion}_{level}",
                "ref": photo.name,
                "crop": c,
                "family": family,
                "distortion": distortion,
                "level": level,
                "param": DISTORTIONS[distortion][1][level - 1] if level else np.nan,
                "split": image_split(photo, family),
                "ood": family in HELD_OUT_FAMILIES,
                "mos": round(float(labels[k]), 4),
                **{m: round(float(scores[m][k]), 6) for m in FR_METRICS},
                "image": image,
            }
        )
    return rows


_scorer: FRScorer | None = None  # set during a build; forked workers inherit it


def _one_thread() -> None:
    torch.set_num_threads(1)


def _render_to(folder: Path, photo: Photo, c: int, size: int) -> list[dict]:
    """Render crop `c` of `photo` with the build's scorer, write its PNGs to folder/images, return its rows."""
    rows = render_crop(photo, c, size, _scorer)
    for row in rows:
        Image.fromarray(row.pop("image")).save(folder / "images" / f"{row['name']}.png")
    return rows


def default_workers() -> int:
    """Build processes: the usable CPUs, at most 8 (1 where processes cannot be forked)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(8, cpus)


def _render_all(folder: Path, size: int, progress: bool, workers: int) -> list[dict]:
    """Write every image of the set to folder/images and return the label rows, in recipe order.

    Each crop is one task, so the output is the same for any number of workers. Workers are forked from
    this process after it has built the scorer (no re-import of pyiqa, nor of the caller's script) and
    use one torch thread each, as torch's DataLoader workers do.
    """
    global _scorer
    tasks = [(folder, photo, c, size) for photo in PHOTOS for c in range(len(CROPS))]
    bar = tqdm(total=len(tasks), desc=f"building embedded set ({size}px)", unit="crop", disable=not progress)
    rows = []
    _one_thread()
    _scorer = FRScorer()
    try:
        with bar:
            if workers == 1:
                for task in tasks:
                    rows += _render_to(*task)
                    bar.update()
            else:
                context = multiprocessing.get_context("fork")
                with ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread) as pool:
                    for part in pool.map(_render_to, *zip(*tasks)):
                        rows += part
                        bar.update()
    finally:
        _scorer = None
    return rows


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_sums(folder: Path, names: list[str]) -> None:
    lines = [f"{_sha256(folder / 'images' / f'{n}.png')}  images/{n}.png\n" for n in names]
    (folder / SUMS).write_text("".join(lines))


def _listed_images(root: Path) -> dict[str, str]:
    """{image file name: sha256} as listed in `root`'s sha256sums.txt."""
    return dict(line.split("  images/")[::-1] for line in (root / SUMS).read_text().splitlines())


def _written_by_the_set(path: Path, root: Path, listed: set[str] | None) -> bool:
    """Whether `path`, in `root` or its images/, is a file the set wrote (see _refuse_foreign_files)."""
    if path.is_symlink():
        return False
    if path.parent == root:
        return path.name in (LABELS_FILE, SUMS, MANIFEST, "images")
    return path.is_file() and (path.name in listed if listed is not None else path.suffix == ".png")


def _refuse_foreign_files(root: Path) -> None:
    """A (re)build replaces `root` whole, so it must hold nothing the set did not write: its four entries, and in
    images/ the files sha256sums.txt lists (PNGs when that list is unreadable). Anything else is named and kept."""
    if not root.is_dir():
        return
    entries = sorted(root.iterdir())
    if entries and not (root / MANIFEST).exists():
        raise ValueError(f"{root} is not empty and holds no embedded set ({MANIFEST}); choose a new folder")
    try:
        listed = set(_listed_images(root))
    except (OSError, ValueError):
        listed = None
    images = root / "images"
    if images.is_dir() and not images.is_symlink():
        entries += sorted(images.iterdir())
    foreign = [path for path in entries if not _written_by_the_set(path, root, listed)]
    if foreign:
        raise ValueError(
            f"{root} holds {foreign[0]}"
            + (f" and {len(foreign) - 1} more files" if len(foreign) > 1 else "")
            + ", which the embedded set did not write; a rebuild replaces the folder whole: move them out or "
            "choose another --root"
        )


def check(root: Path, size: int) -> str | None:
    """None when `root` holds a complete, unchanged set of this recipe and size; otherwise what is wrong."""
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return f"no readable {MANIFEST}"
    if manifest.get("recipe_version") != RECIPE_VERSION or manifest.get("size") != size:
        return "it was built with another recipe version or image size"
    if {key: manifest.get(key) for key in recipe()} != recipe():
        return "it was built from another recipe (photos, splits, crops, distortions or label)"
    hashes = manifest.get("sha256", {})
    for file in (LABELS_FILE, SUMS):
        try:
            if _sha256(root / file) != hashes.get(file):
                return f"{file} differs from the one it was built with"
        except OSError:
            return f"{file} is missing"
    expected = _listed_images(root)
    try:
        on_disk = set(os.listdir(root / "images"))
    except OSError:
        return "the images folder is missing"
    if on_disk != set(expected):
        return f"the images folder holds {len(on_disk)} files where {len(expected)} were built"
    for name, digest in expected.items():
        if _sha256(root / "images" / name) != digest:
            return f"image {name} differs from the one it was built with"
    return None


def is_current(root: Path, size: int) -> bool:
    """Whether `root` holds a complete, unchanged set built with this recipe and size (see check)."""
    return check(root, size) is None


def build_embedded(
    root: str | Path | None = None,
    size: int = DEFAULT_SIZE,
    *,
    force: bool = False,
    progress: bool = True,
    workers: int | None = None,
) -> Path:
    """Build the set into `root` (default: default_root(size)) unless it is already there and passes its
    check (see check); return root. `workers` build processes (default: default_workers()) give the same
    set as one.

    The set is written to a temporary sibling folder and renamed into place, so an interrupted or
    concurrent build never leaves a half-written set behind.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIZE:
        raise ValueError(f"size must be an integer >= {MIN_SIZE} pixels, got {size!r}")
    workers = default_workers() if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive number of processes, got {workers!r}")
    root = Path(root) if root is not None else default_root(size)
    problem = None if force else check(root, size)
    if not force and problem is None:
        return root
    _refuse_foreign_files(root)
    if problem and (root / MANIFEST).exists():
        warnings.warn(f"rebuilding the embedded set in {root}: {problem}", stacklevel=2)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))  # a new folder: no link followed
    (tmp / "images").mkdir()
    start = time.perf_counter()
    threads = torch.get_num_threads()
    try:
        rows = _render_all(tmp, size, progress, workers)
        pd.DataFrame(rows).to_csv(tmp / LABELS_FILE, index=False)
        _write_sums(tmp, [row["name"] for row in rows])
        manifest = {
            "recipe_version": RECIPE_VERSION,
            "size": size,
            "n_images": len(rows),
            "counts": {s: sum(row["split"] == s for row in rows) for s in SPLITS[:-1]},
            "build_seconds": round(time.perf_counter() - start, 1),
            "workers": workers,
            **recipe(),
            "sha256": {file: _sha256(tmp / file) for file in (LABELS_FILE, SUMS)},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        torch.set_num_threads(threads)  # the build runs on one thread per process
    _replace(tmp, root, size, force)
    return root


def _replace(tmp: Path, root: Path, size: int, force: bool) -> None:
    """Move the freshly built `tmp` to `root`, discarding a stale set there.

    If a concurrent build already put a current set in place, that one is kept (readers may be using it).
    """
    if root.exists() and not force and is_current(root, size):
        shutil.rmtree(tmp, ignore_errors=True)
        return
    if root.exists():
        stale = tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent)
        os.replace(root, stale)  # over the new empty folder
        shutil.rmtree(stale, ignore_errors=True)
    try:
        os.replace(tmp, root)
    except OSError:  # a concurrent build put its copy in place between the two renames
        shutil.rmtree(tmp, ignore_errors=True)
        if not is_current(root, size):
            raise


PRISTINE = "-pristine"  # SPLIT-pristine: that split's pristine crops only (what an off-the-shelf denoiser sees)


def check_split(split: str) -> str:
    """`split` must be one of SPLITS, or train, val or test with PRISTINE appended."""
    base = split.removesuffix(PRISTINE)
    if base not in SPLITS or (base != split and base in ("test-ood", "all")):
        choices = ", ".join([*SPLITS, *(f"{s}{PRISTINE}" for s in ("train", "val", "test"))])
        raise ValueError(f"split must be one of {choices}; got {split!r}")
    return split


def select(table: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of labels.csv that make up `split` (see the module docstring), in file order."""
    if check_split(split) == "all":
        return table
    base = split.removesuffix(PRISTINE)
    keep = table["split"] == base
    if split == "test-ood":
        keep |= (table["split"] == "test") & (table["distortion"] == "pristine")
    if base != split:
        keep &= table["family"] == "none"
    return table[keep]


class EmbeddedIQA(IQADataset):
    """The embedded set as a dataset; builds it on first use (see build_embedded).

    `split` is train, val, test, test-ood, all or SPLIT-pristine (see the module docstring). `table` holds every
    column of labels.csv for the chosen split (ref, crop, family, distortion, level, param, split, ood, mos and
    the raw FR scores), in dataset order.
    """

    def __init__(
        self, split: str = "all", *, root: str | Path | None = None, size: int = DEFAULT_SIZE, progress: bool = True
    ):
        check_split(split)
        self.root = build_embedded(root, size, progress=progress)
        self.table = select(pd.read_csv(self.root / LABELS_FILE), split).reset_index(drop=True)
        self.size = size
        super().__init__(
            [self.root / "images" / f"{n}.png" for n in self.table["name"]],
            self.table["mos"].to_numpy(),
            self.table["name"].tolist(),
            mos_range=MOS_RANGE,
            title=f"embedded {size}px, split {split}",
        )


def summary(table: pd.DataFrame) -> str:
    """Counts and MOS statistics per split, one line each."""
    lines = []
    for split in SPLITS[:-1]:
        part = select(table, split)
        if part.empty:
            continue
        refs = ", ".join(sorted(part["ref"].unique()))
        families = ", ".join(f for f in FAMILIES if f in set(part["family"]))
        mos = part["mos"]
        lines.append(
            f"{split:8s}: {len(part):5d} images from {part['ref'].nunique()} photos ({refs}); families {families}; "
            f"pseudo-MOS mean {mos.mean():.1f}, range {mos.min():.1f}..{mos.max():.1f}"
        )
    return "\n".join(lines)
