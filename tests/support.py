"""Stand-in networks, datasets and real-photo helpers shared by the tests (on sys.path via pytest's pythonpath)."""

import importlib.util
from pathlib import Path

import numpy as np
import skimage.data
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch import nn

ROOT = Path(__file__).resolve().parents[1]  # the source checkout
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle")  # scikit-image photos
LARGE_PHOTOS = ("astronaut", "coffee", "rocket")  # at least 400 px: no upscaling at 384


class TinyMetric(torch.nn.Module):
    """Stand-in NR-IQA metric: a small seeded random CNN whose score lies in (0, 100)."""

    higher_is_better = True
    score_range = (0.0, 100.0)
    name = "tiny"

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.fc = torch.nn.Linear(4, 1)

    def forward(self, x):
        return 100 * torch.sigmoid(self.fc(torch.tanh(self.conv(x)).mean(dim=(2, 3)))).reshape(-1)


class Linear(nn.Module):
    """score = <w, x>: the best l2 move is eps * w / ||w||_2 (gain eps ||w||_2), l_inf gain eps ||w||_1."""

    def __init__(self, shape=(3, 12, 12), seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("w", torch.randn(shape, generator=g) / shape[1])

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1)


class TinyConv(nn.Module):
    """A small nonlinear NR-IQA stand-in: conv-ReLU-conv, spatial mean."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 3, padding=1))

    def forward(self, x):
        return self.net(x).flatten(1).mean(1) * 10


class Blur(nn.Module):
    """A fixed 3x3 box filter standing in for a denoiser."""

    def forward(self, x):
        return nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class TinySet:
    """Four constant-grey images whose MOS is their brightness."""

    names = ["a", "b", "c", "d"]
    mos = np.array([20.0, 40.0, 60.0, 80.0])

    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.full((3, 8, 8), self.mos[i] / 100), self.mos[i], self.names[i]


class ItemSet:
    """(image, mos, name) items with the dataset interface `certify_dataset` uses (names, mos, [i])."""

    def __init__(self, items):
        self.items, self.names, self.mos = items, [it[2] for it in items], [it[1] for it in items]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def photo(name: str, size: int) -> torch.Tensor:
    """A real photo from scikit-image as 1x3xSxS in [0, 1] (antialiased resize of the centre square)."""
    array = getattr(skimage.data, name)()
    array = array[0] if isinstance(array, tuple) else array  # stereo_motorcycle: (left, right, disparity)
    im = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float() / 255
    side = min(im.shape[-2:])
    im = TF.center_crop(im, [side, side])[None]
    return F.interpolate(im, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)


def blurred(x: torch.Tensor, sigma: float) -> torch.Tensor:
    return TF.gaussian_blur(x, 2 * int(3 * sigma) + 1, sigma)


def noised(x: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (x + std * torch.randn(x.shape, generator=g)).clamp(0, 1)


class PhotoSet:
    """A small labelled set for training base metrics: crops of real photos at 4 blur levels, MOS falling with
    the blur."""

    title = "blur-ladder"

    def __init__(self, names, size=40):
        self.items, mos = [], []
        for name in names:
            x = photo(name, size)
            for level, sigma in enumerate((0.0, 0.8, 1.6, 2.4)):
                self.items.append(x[0] if sigma == 0 else blurred(x, sigma)[0])
                mos.append(90.0 - 25 * level)
        self.mos = np.asarray(mos)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i], float(self.mos[i]), str(i)


def tiny_train_config(kind, **kw):
    """A TrainConfig for seconds-long denoiser training on 32 px crops (a small network of `kind`), without
    validation unless asked for (val_split=...)."""
    from msbiqa.models.denoiser_training import TrainConfig

    size = {"depth": 3, "width": 8} if kind == "dms" else {"depth": 1, "width": 8}  # dncnn: width = channels
    settings = dict(kind=kind, sigma=0.1, epochs=3, batch_size=4, crop=16, crops_per_image=2, lr=3e-3, **size)
    settings["val_split"] = None
    return TrainConfig(**{**settings, **kw})


def place_random_pyiqa_weights(torch_home, name: str = "cnniqa", pretrained: str = "koniq10k"):
    """A randomly initialised pyiqa network saved where pyiqa looks for its pretrained weights under `torch_home`
    (as `pyiqa.create_metric` would have downloaded them); returns the file."""
    import importlib
    from pathlib import Path

    import pyiqa

    arch = importlib.import_module(f"pyiqa.archs.{name}_arch")
    target = Path(torch_home) / "hub" / "pyiqa" / Path(arch.default_model_urls[pretrained]).name
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.save({"params": pyiqa.create_metric(name, pretrained=None, device="cpu").net.state_dict()}, target)
    return target


def load_script(name: str):
    """scripts/<name>.py imported as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
