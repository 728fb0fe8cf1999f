"""The dataset type every reader returns, and the split helpers they share."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from msbiqa.data.images import check_min_side, load_image

SPLITS = ("train", "val", "test", "all")


class IQADataset(Dataset):
    """Images with opinion scores: `ds[i] -> (3xHxW float32 tensor in [0, 1], mos, name)`.

    `mos` (numpy float array), `names` and `files` follow dataset order; `mos_range` is the (lo, hi) of
    the label scale (not of the data). `resize`, if set, scales each image so that its shorter side has
    that many pixels (antialiased bicubic), as is usual for large photos such as SPAQ's.
    """

    def __init__(
        self,
        files: Sequence[str | Path],
        mos: Sequence[float],
        names: Sequence[str],
        *,
        mos_range: tuple[float, float],
        title: str,
        resize: int | None = None,
    ):
        self.files = [Path(f) for f in files]
        self.mos = np.asarray(mos, dtype=np.float64)
        self.names = [str(n) for n in names]
        if not (len(self.files) == len(self.mos) == len(self.names)):
            raise ValueError(f"{title}: {len(self.files)} files, {len(self.mos)} scores, {len(self.names)} names")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"{title}: image names are not unique")
        if not np.isfinite(self.mos).all():
            raise ValueError(f"{title}: the label file has missing or non-numeric MOS values")
        if resize is not None and (isinstance(resize, bool) or not isinstance(resize, int) or resize < 1):
            raise ValueError(f"resize must be a positive number of pixels (shorter side) or None, got {resize!r}")
        self.mos_range = (float(mos_range[0]), float(mos_range[1]))
        self.title = title
        self.resize = resize

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, float, str]:
        image = load_image(self.files[index])
        check_min_side(image, self.files[index])
        if self.resize is not None:
            image = resize_shorter_side(image, self.resize)
        return image, float(self.mos[index]), self.names[index]

    def __repr__(self) -> str:
        lo, hi = self.mos_range
        return f"{type(self).__name__}({self.title!r}, {len(self)} images, MOS scale {lo:g}..{hi:g})"


def resize_shorter_side(image: torch.Tensor, side: int) -> torch.Tensor:
    """3xHxW image scaled (antialiased bicubic, clamped to [0, 1]) so that min(H, W) == side."""
    h, w = image.shape[-2:]
    scale = side / min(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size == (h, w):
        return image
    out = torch.nn.functional.interpolate(image[None], size=size, mode="bicubic", antialias=True, align_corners=False)
    return out[0].clamp(0.0, 1.0)


def check_split(split: str) -> str:
    """`split` must be one of train, val, test, all."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    return split


def seeded_split(n: int, seed: int, fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)) -> np.ndarray:
    """Random train/val/test labels for n items (fixed by `seed`).

    The default 70/10/20 keeps the usual 80/20 protocol of datasets without an official split:
    train + val is the 80 % a model may see, test the held-out 20 %.
    """
    counts = np.floor(np.asarray(fractions) * n).astype(int)
    counts[0] += n - counts.sum()
    labels = np.repeat(np.array(["train", "val", "test"]), counts)
    return labels[np.random.default_rng(seed).permutation(n)]


def check_files_exist(title: str, files: Sequence[Path], folder: Path) -> None:
    """Raise FileNotFoundError naming the first listed image that is not on disk."""
    missing = [f for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{title}: {len(missing)} of {len(files)} images listed in the label file are missing "
            f"from {folder} (first: {missing[0].name}); check root / the image folder"
        )
