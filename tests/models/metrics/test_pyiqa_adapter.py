"""pyiqa metrics offline: the fast path equals pyiqa's forward, weights files are checked, missing weights
name the file to place without touching the network."""

import os
import subprocess
import sys
import time

import pytest
import torch
from support import PHOTOS, blurred, photo

from msbiqa.models.metrics import MissingWeightsError, WeightsMismatchError, load_metric
from msbiqa.models.metrics.pyiqa_adapter import parse_score_range
from msbiqa.models.metrics.tinyiqa import TinyIQANet


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
    code = "from msbiqa.models.metrics import load_metric; load_metric('pyiqa:dbcnn', device='cpu')"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert time.perf_counter() - start < 120
    assert proc.returncode != 0 and "MissingWeightsError" in proc.stderr
    assert str(tmp_path / "hub" / "checkpoints" / "vgg16-397923af.pth") in proc.stderr
    assert proc.stdout == ""  # pyiqa's prints never reach stdout (the CLI's --json output)


class PlantsAFile:
    """An object whose unpickling writes a file: what a hostile weights file can do under a full unpickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_weights_files_never_run_code(cnniqa_weights, tmp_path):
    model, _ = cnniqa_weights
    marker = tmp_path / "pwned"
    hostile = tmp_path / "hostile.pth"
    torch.save({"params": model.net.state_dict(), "extra": PlantsAFile(marker)}, hostile)
    with pytest.raises(WeightsMismatchError, match=r"hostile\.pth holds more than tensors.*weights_only=True"):
        load_metric("pyiqa:cnniqa", weights=hostile, device="cpu")
    assert not marker.exists()


def test_files_in_pyiqas_cache_never_run_code(tmp_path, monkeypatch):
    import pyiqa.utils.download_util as download_util

    monkeypatch.setattr(download_util, "DEFAULT_CACHE_DIR", str(tmp_path / "hub" / "pyiqa"))
    cached = tmp_path / "hub" / "pyiqa" / "CNNIQA_koniq10k-e6f14c91.pth"
    cached.parent.mkdir(parents=True)
    marker = tmp_path / "pwned"
    torch.save({"params": PlantsAFile(marker)}, cached)
    with pytest.raises(WeightsMismatchError, match="CNNIQA_koniq10k-e6f14c91.pth holds more than tensors"):
        load_metric("pyiqa:cnniqa", device="cpu")
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated zip", b"\x80\x02 not a pickle"])
def test_corrupt_pyiqa_weights_name_the_file_in_one_line(tmp_path, content):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(content)
    with pytest.raises(WeightsMismatchError) as err:
        load_metric("pyiqa:cnniqa", weights=bad, device="cpu")
    message = str(err.value)
    assert str(bad) in message and "not a readable torch weights file" in message and "\n" not in message


def test_pyiqa_range_strings_only_label_the_scale():
    assert parse_score_range("~0, ~1") == (0.0, 1.0) and parse_score_range("0, 100") == (0.0, 100.0)
    assert parse_score_range("~0, ~") == (0.0, float("inf"))  # pyiqa:pi's: unbounded above, still builds
    assert parse_score_range(None) == (float("-inf"), float("inf"))
