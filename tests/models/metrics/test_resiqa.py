"""ResIQA, the second learned base metric: in range at every size from its minimum, gradients to the input, saved
and loaded exactly, untrusted files refused before building, training seeded bit-identical and learning, and the
shipped file loading offline by name."""

import hashlib
import re

import pytest
import torch
from support import PHOTOS, PhotoSet, photo

from msbiqa.models.metrics import MissingWeightsError, load_metric
from msbiqa.models.metrics.base import WeightsMismatchError
from msbiqa.models.metrics.learned import checkpoint, save_checkpoint
from msbiqa.models.metrics.resiqa import SPEC, ResIQA, ResIQANet, load_resiqa
from msbiqa.models.metrics.training import MetricTrainConfig, train_base_metric


@pytest.fixture(scope="module")
def untrained():
    torch.manual_seed(0)
    net = ResIQANet()
    for block in net.modules():  # nonzero residual gains, as after training: the residual paths count
        if hasattr(block, "gain"):
            torch.nn.init.normal_(block.gain, std=0.5)
    return ResIQA(net, {"note": "untrained"}).eval().requires_grad_(False)


def test_scores_lie_in_range_at_every_size_from_the_minimum(untrained):
    assert untrained.min_side == 32 and ResIQANet(widths=(8, 16)).min_side == 8
    assert untrained.name == "resiqa" and untrained.higher_is_better and untrained.score_range == (0.0, 100.0)
    with torch.inference_mode():
        for h, w in ((32, 32), (33, 47), (96, 96), (120, 200)):
            s = untrained(torch.rand(3, 3, h, w, generator=torch.Generator().manual_seed(h)))
            assert s.shape == (3,) and torch.isfinite(s).all() and (s > 0).all() and (s < 100).all()
        x = torch.cat([photo(n, 96) for n in PHOTOS])
        single = torch.cat([untrained(x[i : i + 1]) for i in range(len(x))])
        torch.testing.assert_close(single, untrained(x), rtol=1e-4, atol=1e-3)  # batching changes no score
    with pytest.raises(ValueError, match="resiqa needs images of at least 32x32 pixels"):
        untrained(torch.rand(1, 3, 31, 64))


def test_gradients_flow_to_the_input_only_and_scores_keep_fp32_under_bf16(untrained):
    x = photo("astronaut", 64).repeat(2, 1, 1, 1).requires_grad_(True)
    untrained(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in untrained.parameters())
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        fast = untrained(torch.rand(4, 3, 48, 48, generator=torch.Generator().manual_seed(1)))
    assert fast.dtype == torch.float32 and (fast != fast.bfloat16().float()).any()


def test_weights_file_round_trip_is_exact(untrained, tmp_path):
    save_checkpoint(untrained.net, untrained.config, tmp_path / "r.pt")
    loaded = load_metric("resiqa", weights=tmp_path / "r.pt", device="cpu")
    assert isinstance(loaded, ResIQA) and loaded.config == {"note": "untrained"}
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    x = torch.rand(4, 3, 64, 80, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        assert torch.equal(loaded(x), untrained(x))


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"format": None},
            "is not a ResIQA weights file (no format tag 'msbiqa-resiqa'); make one with `msbiqa "
            "train-metric --arch resiqa`",
        ),
        (
            {"format": "msbiqa-tinyiqa"},
            "(format tag 'msbiqa-tinyiqa', not 'msbiqa-resiqa'); make one with `msbiqa "
            "train-metric --arch resiqa`; or load it as metric 'tinyiqa'",
        ),
        ({"arch": None}, "has no 'arch': make one with `msbiqa train-metric --arch resiqa`"),
        ({"arch": {"widths": [16] * 7}}, "widths=[16, 16, 16, 16, 16, 16, ...] is not a list of 1..6 whole numbers"),
        ({"arch": {"widths": [16], "hidden": 10**9}}, "hidden=1000000000 is not a whole number in 1..1024"),
        ({"arch": {"stem": 3}}, "unknown architecture setting 'stem'"),
    ],
)
def test_malformed_files_are_refused_before_building(untrained, tmp_path, monkeypatch, changes, message):
    blob = {**checkpoint(untrained.net, {}), **changes}
    path = tmp_path / "w.pt"
    torch.save({k: v for k, v in blob.items() if v is not None}, path)
    monkeypatch.setattr("msbiqa.models.metrics.resiqa.ResIQANet", None)
    with pytest.raises(WeightsMismatchError, match=f"^{re.escape(str(path))}.*{re.escape(message)}"):
        load_resiqa(path)


def test_mismatched_shapes_and_missing_files_name_the_fix(untrained, tmp_path):
    blob = checkpoint(untrained.net, {})
    blob["arch"]["widths"] = [16, 32, 48, 96]  # the tensors are for 64 channels at the deepest stage
    torch.save(blob, tmp_path / "shapes.pt")
    with pytest.raises(WeightsMismatchError, match=r"shapes\.pt does not fit ResIQA: .*size mismatch.*--arch resiqa"):
        load_resiqa(tmp_path / "shapes.pt")
    with pytest.raises(MissingWeightsError, match=r"ResIQA weights file not found: .*nowhere\.pt \(check the path\)"):
        load_metric("resiqa", weights=tmp_path / "nowhere.pt")
    save_checkpoint(untrained.net, {}, tmp_path / "res.pt")
    with pytest.raises(WeightsMismatchError, match="not a TinyIQA weights file .*load it as metric 'resiqa'"):
        load_metric("tinyiqa", weights=tmp_path / "res.pt")


def test_training_is_seeded_bit_identical_and_learns(tmp_path):
    train, val = PhotoSet(PHOTOS[:3]), PhotoSet(PHOTOS[3:])
    config = MetricTrainConfig(arch="resiqa", epochs=20, lr=3e-3, batch_size=4, seed=3, threads=1)
    kwargs = dict(progress=False, dataset="blur-ladder")
    metric, record = train_base_metric(train, val, config, out_path=tmp_path / "a.pt", **kwargs)
    train_base_metric(train, val, config, out_path=tmp_path / "b.pt", **kwargs)
    digest = [hashlib.sha256((tmp_path / f).read_bytes()).hexdigest() for f in ("a.pt", "b.pt")]
    assert digest[0] == digest[1]
    assert isinstance(metric, ResIQA) and record["arch"] == "resiqa" and record["widths"] == [16, 32, 48, 64]
    mse = [h["train_mse"] for h in record["history"]]
    assert mse[-1] < 0.75 * mse[0] and record["val"]["srocc"] > 0.5 and 1 <= record["best_epoch"] <= 20
    loaded = load_metric("resiqa", weights=tmp_path / "a.pt", device="cpu")
    assert loaded.config["arch"] == "resiqa" and "runtime_s" not in loaded.config
    x = torch.stack([val[i][0] for i in range(len(val))])
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), metric(x))


@pytest.fixture(scope="module")
def shipped():
    return load_metric("resiqa", device="cpu")


def test_shipped_weights_load_offline_by_name_and_record_their_training(shipped):
    assert SPEC.shipped_path().stat().st_size < 2**20
    assert isinstance(shipped, ResIQA) and shipped.name == "resiqa" and shipped.min_side == 32
    cfg = shipped.config
    assert cfg["arch"] == "resiqa" and cfg["dataset"] == "embedded" and cfg["best_epoch"] <= cfg["epochs"]
    assert cfg["val"]["srocc"] > 0.5 and cfg["test"]["srocc"] > 0.5
