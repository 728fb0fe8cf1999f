"""Denoisers: shapes and range, DnCNN's architecture, save/load round trip, mismatch errors, named loading,
and that every shipped denoiser actually denoises a real photo at its sigma."""

import re

import pytest
import torch

from msbiqa.data import load_dataset
from msbiqa.models.denoisers import (
    KINDS,
    DnCNN,
    UNet,
    build_denoiser,
    load_denoiser,
    load_weights,
    save_denoiser,
    shipped_weights,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("model", [DnCNN(depth=5, channels=8), UNet(depth=3, width=4), UNet(depth=1, width=8)])
def test_shape_and_range_any_size(model):
    x = torch.rand(2, 3, 37, 45)
    with torch.no_grad():
        raw, y = model.denoise(x), model(x)
    assert raw.shape == y.shape == x.shape
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    assert torch.equal(y, raw.clamp(0, 1))


def test_dncnn_default_is_17_layers_64_channels():
    model = DnCNN()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 17 and convs[1].out_channels == 64
    assert sum(p.numel() for p in model.parameters()) == 558_403


def test_fresh_denoisers_are_the_identity():
    x = torch.rand(2, 3, 20, 28)
    with torch.no_grad():
        assert torch.equal(DnCNN(depth=4, channels=8)(x), x) and torch.equal(UNet(depth=2, width=4)(x), x)


def test_unet_is_cheaper_than_dncnn_per_pixel():
    from torch.utils.flop_counter import FlopCounterMode

    def flops(model):
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.rand(1, 3, 64, 64))
        return counter.get_total_flops()

    assert flops(UNet()) < flops(DnCNN()) / 3


@pytest.mark.parametrize("half,atol", [(False, 0.0), (True, 1e-2)])
def test_save_load_round_trip(tmp_path, half, atol):
    torch.manual_seed(0)
    model = DnCNN(depth=4, channels=8)
    model.train()(torch.rand(4, 3, 16, 16))  # move BN running stats away from their init
    model.eval()
    config = {"sigma": 0.12, "weights": {"mse": 1.0}, "seed": 3, "epochs": 2}
    path = save_denoiser(model, tmp_path / "d.pt", config, half=half)
    loaded = load_weights(build_denoiser("dncnn", depth=4, channels=8), path).eval()
    x = torch.rand(1, 3, 16, 16)
    assert torch.allclose(loaded(x), model(x), atol=atol)
    assert loaded.config == config
    via_path = load_denoiser(path, sigma=0.12)
    assert not via_path.training and not any(p.requires_grad for p in via_path.parameters())
    assert torch.allclose(via_path(x), model(x), atol=atol)


def test_architecture_mismatch_is_a_clear_error(tmp_path):
    path = save_denoiser(UNet(depth=2, width=8), tmp_path / "u.pt", {"sigma": 0.1})
    with pytest.raises(ValueError, match=r"unet denoiser with \{'depth': 2, 'width': 8"):
        load_weights(UNet(depth=2, width=16), path)
    with pytest.raises(ValueError, match="holds a unet"):
        load_weights(DnCNN(), path)
    blob = torch.load(path, weights_only=True)
    blob["state_dict"]["head.weight"] = torch.zeros(3, 4, 1, 1)
    torch.save(blob, path)
    with pytest.raises(ValueError, match="mismatched tensors.*head.weight"):
        load_weights(UNet(depth=2, width=8), path)


def test_not_a_weights_file(tmp_path):
    torch.save({"a": torch.zeros(1)}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not an msbiqa denoiser"):
        load_denoiser(tmp_path / "x.pt")
    for content in (b"", b"garbage"):
        (tmp_path / "bad.pt").write_bytes(content)
        with pytest.raises(ValueError, match=r"bad\.pt is not a readable torch weights file"):
            load_denoiser(tmp_path / "bad.pt")


def saved_blob(tmp_path, **changes):
    """A small denoiser weights file, with `changes` to its content (None removes a key)."""
    path = save_denoiser(DnCNN(depth=3, channels=4), tmp_path / "w.pt", {"sigma": 0.12})
    blob = {**torch.load(path, weights_only=True), **changes}
    torch.save({k: v for k, v in blob.items() if v is not None}, path)
    return path


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"arch": None}, "has no 'arch': use a file written by `msbiqa train-denoiser`"),
        ({"config": [1, 2]}, "'config' is a list, not a dict: use a file written by `msbiqa train-denoiser`"),
        ({"hparams": [1, 2]}, "'hparams' is a list, not a dict"),
        ({"arch": "resnet"}, "unknown architecture 'resnet' (known: ['dncnn', 'unet'])"),
        ({"hparams": {"depth": 200000}}, "depth=200000 is not a whole number in 3..64"),
        ({"hparams": {"depth": "3"}}, "depth='3' is not a whole number in 3..64"),
        ({"hparams": {"depth": 3, "layers": 9}}, "unknown architecture setting 'layers'"),
        ({"state_dict": {"w": [1.0]}}, "'state_dict' is not a dict of named tensors"),
    ],
)
def test_malformed_weights_files_are_refused_before_building(tmp_path, monkeypatch, changes, message):
    """Safe to load (weights_only) but not a denoiser: one line naming the file and the fix, and no network is
    built from what it says (depth=200000 would be built until memory runs out)."""
    path = saved_blob(tmp_path, **changes)
    monkeypatch.setattr("msbiqa.models.denoisers.build_denoiser", None)
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))}.*{re.escape(message)}"):
        load_denoiser(path)


@pytest.mark.parametrize("text", ["hello weights\n", "these are not weights\n"])  # KeyError 101, IndexError in torch
def test_a_text_file_is_not_a_weights_file(tmp_path, text):
    (tmp_path / "notes.pt").write_text(text)
    with pytest.raises(ValueError, match=r"notes\.pt is not a readable torch weights file"):
        load_denoiser(tmp_path / "notes.pt")


def test_non_finite_weights_are_refused(tmp_path):
    model = build_denoiser("unet", depth=1, width=4)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    save_denoiser(model, tmp_path / "nan.pt", {"sigma": 0.12})
    with pytest.raises(ValueError, match="non-finite .*retrain"):
        load_denoiser(tmp_path / "nan.pt")


def test_missing_path_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_denoiser(tmp_path / "nope.pt")


def test_sigma_mismatch_of_a_file(tmp_path):
    path = save_denoiser(UNet(depth=1, width=4), tmp_path / "u.pt", {"sigma": 0.25})
    with pytest.raises(ValueError, match="trained at sigma=0.25"):
        load_denoiser(path, sigma=0.12)


def test_unshipped_sigma_lists_the_shipped_ones():
    shipped = sorted(shipped_weights()["dms-iqa"])
    with pytest.raises(ValueError, match="shipped sigmas: " + re.escape(str(shipped) if shipped else "none")):
        load_denoiser("dms-iqa", sigma=0.4321)


def test_unknown_architecture():
    with pytest.raises(ValueError, match="unknown denoiser architecture"):
        build_denoiser("resnet")


SHIPPED = [(name, sigma) for name, by_sigma in shipped_weights().items() for sigma in sorted(by_sigma)]


def test_shipped_set_is_complete():
    for name in ("dms", "dms-iqa"):
        assert sorted(shipped_weights()[name]) == [0.06, 0.12, 0.25]


@pytest.mark.parametrize("name,sigma", [s for s in SHIPPED if s[0] != "dncnn-full"])
def test_shipped_denoiser_denoises_a_real_photo(name, sigma):
    """Every shipped kind but the ablation's dncnn-full, whose metric terms pull it below the noisy image's PSNR
    (measured in `msbiqa claim`'s denoising table; a result of the ablation, not a defect of the file)."""
    model = load_denoiser(name, sigma=sigma)
    assert model.arch == KINDS[name].arch
    assert model.config["sigma"] == sigma and model.config["kind"] == name
    x = load_dataset("embedded", split="test")[0][0][None]  # a pristine photo no denoiser was trained on
    noisy = (x + sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    with torch.no_grad():
        err_noisy, err_denoised = (noisy - x).pow(2).mean(), (model(noisy) - x).pow(2).mean()
    assert err_denoised < 0.7 * err_noisy
