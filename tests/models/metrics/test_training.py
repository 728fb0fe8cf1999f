"""TinyIQA training is seeded, bit-identical and learns; the CLI's defaults are the training recipe's."""

import hashlib

import torch
from support import PHOTOS, PhotoSet

from msbiqa.models.metrics import load_metric
from msbiqa.models.metrics.training import MetricTrainConfig, train_base_metric


def test_training_is_seeded_bit_identical_and_learns(tmp_path):
    train, val = PhotoSet(PHOTOS[:3]), PhotoSet(PHOTOS[3:])
    config = MetricTrainConfig(epochs=8, lr=3e-3, batch_size=8, seed=3, threads=1)
    kwargs = dict(progress=False, dataset="blur-ladder")
    metric, record = train_base_metric(train, val, config, out_path=tmp_path / "a.pt", **kwargs)
    train_base_metric(train, val, config, out_path=tmp_path / "b.pt", **kwargs)
    digest = [hashlib.sha256((tmp_path / f).read_bytes()).hexdigest() for f in ("a.pt", "b.pt")]
    assert digest[0] == digest[1]
    assert record["val"]["srocc"] > 0.5 and 1 <= record["best_epoch"] <= 8 and "runtime_s" in record
    loaded = load_metric("tinyiqa", weights=tmp_path / "a.pt", device="cpu")
    assert loaded.config["dataset"] == "blur-ladder" and "runtime_s" not in loaded.config
    x = torch.stack([val[i][0] for i in range(len(val))])
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), metric(x))


def test_train_metric_command_defaults_match_the_training_function():
    from msbiqa.cli import build_parser

    args = build_parser().parse_args(["train-metric"])
    defaults = MetricTrainConfig()
    names = ("arch", "epochs", "lr", "batch_size", "weight_decay", "widths", "hidden", "crop", "plcc_weight", "seed")
    for name in (*names, "threads"):
        assert getattr(args, name) == getattr(defaults, name), name
    assert args.dataset == "embedded" and args.func.__module__ == "msbiqa.cli.train_metric"


def test_noise_trained_metric_sees_noise_and_is_chosen_by_the_smoothed_val_srocc(tmp_path):
    import pytest

    from msbiqa.models.metrics.training import selection_srocc
    from msbiqa.models.validation import ProxySet

    train, val = PhotoSet(PHOTOS[:3]), PhotoSet(PHOTOS[3:])
    kwargs = dict(progress=False, dataset="blur-ladder")
    clean = MetricTrainConfig(epochs=3, lr=3e-3, batch_size=8, seed=3, threads=1)
    noisy = MetricTrainConfig(epochs=3, lr=3e-3, batch_size=8, seed=3, threads=1, noise_sigma=0.12)
    _, plain = train_base_metric(train, val, clean, **kwargs)
    metric, record = train_base_metric(train, val, noisy, out_path=tmp_path / "n.pt", **kwargs)
    assert record["noise_sigma"] == 0.12 and "noise_sigma" not in plain  # the shipped recipe's record is unchanged
    assert [h["train_mse"] for h in record["history"]] != [h["train_mse"] for h in plain["history"]]
    chosen = record["history"][record["best_epoch"] - 1]["val_srocc"]
    x_val, y_val = torch.stack([val[i][0] for i in range(len(val))]), torch.tensor(val.mos, dtype=torch.float32)
    again = selection_srocc(metric.net, x_val, y_val, ProxySet.from_dataset(val), 0.12)
    assert round(again, 4) == chosen and again != selection_srocc(metric.net, x_val, y_val, None, 0.0)
    with pytest.raises(ValueError, match="noise_sigma must be >= 0"):
        train_base_metric(train, val, MetricTrainConfig(epochs=1, noise_sigma=-0.1), **kwargs)


def test_a_run_without_any_defined_val_srocc_says_it_diverged(monkeypatch):
    import pytest

    from msbiqa.models.metrics import training

    monkeypatch.setattr(training, "selection_srocc", lambda *args: float("nan"))
    with pytest.raises(ValueError, match=r"the training diverged\); lower --lr \(was 0.003\)"):
        train_base_metric(PhotoSet(PHOTOS[:2]), PhotoSet(PHOTOS[2:3]), MetricTrainConfig(epochs=1), progress=False)
