"""Training: tiny seeded runs on crops of the bundled photo with a stand-in metric — losses fall, the metric
stays frozen, weights files carry their config, an interrupted run resumes to identical weights, and the CLI."""

import pytest
import torch
from support import ItemSet, tiny_train_config

from msbiqa.models.denoiser_training import TrainConfig, train_denoiser
from msbiqa.models.denoisers import ABLATION, KINDS, build_denoiser, load_denoiser, weights_filename
from msbiqa.models.losses import DenoiserObjective, LossWeights

pytestmark = pytest.mark.usefixtures("one_thread")


def test_config_defaults_per_kind():
    dms, iqa = TrainConfig(kind="dms"), TrainConfig(kind="dms-iqa")
    assert (dms.arch, dms.hparams, dms.weights) == (
        "dncnn",
        {"depth": 10, "channels": 24},
        {"mse": 1.0, "rank": 0.0, "target": 0.0, "consistency": 0.0},
    )
    assert iqa.arch == "unet" and iqa.weights["rank"] > 0 and iqa.weights["target"] > 0
    # the ablation: each other kind differs from DMS or DMS-IQA in one factor only
    full, mse = TrainConfig(kind="dncnn-full"), TrainConfig(kind="unet-mse")
    assert (full.arch, full.hparams, full.weights) == (dms.arch, dms.hparams, iqa.weights)
    assert (mse.arch, mse.hparams, mse.weights) == (iqa.arch, iqa.hparams, dms.weights)
    assert set(ABLATION.values()) == set(KINDS)
    with pytest.raises(ValueError, match="unknown denoiser kind"):
        TrainConfig(kind="bm3d")
    assert weights_filename("dms-iqa", 0.12) == "dms-iqa-sigma0.12.pt"


@pytest.mark.parametrize(
    "kind, sizes, message",
    [
        ("dms", {"depth": 200000}, "--depth 200000: a dncnn denoiser takes 3..64"),
        ("dms-iqa", {"width": 0}, "--width 0: a unet denoiser takes 1..128"),
    ],
)
def test_sizes_are_those_a_weights_file_may_hold(kind, sizes, message):
    """Training refuses what loading would refuse (msbiqa.models.denoisers.LIMITS), before building anything."""
    with pytest.raises(ValueError, match=f"^{message}$"):
        TrainConfig(kind=kind, **sizes)


@pytest.mark.parametrize(
    "kind,settings",
    [
        ("dms", {"epochs": 6}),
        ("dms-iqa", {"epochs": 12, "depth": 2, "width": 32}),
    ],
)
def test_training_lowers_loss_and_writes_config(tmp_path, photos, kind, settings, tiny_metric):
    metric = tiny_metric
    before = {k: v.clone() for k, v in metric.state_dict().items()}
    cfg, out = tiny_train_config(kind, crops_per_image=4, **settings), tmp_path / "d.pt"
    result = train_denoiser(cfg, out=out, metric=metric, dataset=photos, progress=False)
    assert all(torch.equal(before[k], v) for k, v in metric.state_dict().items())
    frozen = not any(p.requires_grad for p in metric.parameters()) and not metric.training
    assert frozen == (kind == "dms-iqa")  # DMS never touches the metric; DMS-IQA freezes it
    objective = DenoiserObjective(LossWeights(**cfg.weights), metric, margin=cfg.margin)
    clean = torch.stack([p[0] for p in photos])
    noisy = (clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(9))).clamp(0, 1)
    mos = torch.tensor([p[1] for p in photos])
    with torch.no_grad():  # on a fixed noisy batch: the fresh denoiser (the identity) vs the trained one
        start = objective(build_denoiser(cfg.arch, **cfg.hparams).denoise(noisy), clean, mos)[0]
        end = objective(result.model.denoise(noisy), clean, mos)[0]
    assert end < 0.95 * start
    assert len(result.history) == cfg.epochs
    assert set(result.history[0]) >= ({"mse"} if kind == "dms" else {"mse", "rank", "target"})
    loaded = load_denoiser(out, sigma=0.1)
    assert loaded.config["seed"] == 0 and loaded.config["epochs"] == cfg.epochs
    assert loaded.config["history"] == result.history
    assert loaded.config["base_metric"] == ("tiny" if kind == "dms-iqa" else None)
    assert not (tmp_path / "d.pt.ckpt").exists()


def test_same_seed_same_weights_other_seed_other_weights(photos):
    a, b, c = (
        train_denoiser(tiny_train_config("dms", seed=s, epochs=1), dataset=photos, progress=False).model
        for s in (0, 0, 1)
    )
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.state_dict()["net.0.weight"], c.state_dict()["net.0.weight"])


def test_resume_gives_same_weights_as_uninterrupted(tmp_path, photos, tiny_metric):
    cfg, metric = tiny_train_config("dms-iqa"), tiny_metric
    full = train_denoiser(cfg, dataset=photos, metric=metric, progress=False)
    ckpt = tmp_path / "run.ckpt"
    part = train_denoiser(
        cfg, out=tmp_path / "run.pt", checkpoint=ckpt, dataset=photos, metric=metric, stop_after=1, progress=False
    )
    assert len(part.history) == 1 and ckpt.exists() and not (tmp_path / "run.pt").exists()
    resumed = train_denoiser(
        cfg, out=tmp_path / "run.pt", checkpoint=ckpt, dataset=photos, metric=metric, progress=False
    )
    assert resumed.history == full.history
    for k, v in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[k], v), k
    assert (tmp_path / "run.pt").exists() and not ckpt.exists()


def test_resume_refuses_a_checkpoint_of_another_config(tmp_path, photos):
    ckpt = tmp_path / "run.ckpt"
    train_denoiser(tiny_train_config("dms"), checkpoint=ckpt, dataset=photos, stop_after=1, progress=False)
    with pytest.raises(ValueError, match="different configuration"):
        train_denoiser(tiny_train_config("dms", lr=1e-2), checkpoint=ckpt, dataset=photos, progress=False)


def test_a_second_run_into_the_same_files_is_refused_while_the_first_holds_them(tmp_path, photos):
    from msbiqa.files import FileLock

    out = tmp_path / "run.pt"
    with FileLock(tmp_path / "run.pt.ckpt.lock").acquire():  # as a running train_denoiser holds it
        with pytest.raises(ValueError, match=r"run\.pt\.ckpt is being trained by another run \(pid \d+"):
            train_denoiser(tiny_train_config("dms", epochs=1), out=out, dataset=photos, progress=False)
    assert not out.exists()
    train_denoiser(tiny_train_config("dms", epochs=1), out=out, dataset=photos, progress=False)
    assert out.exists() and not (tmp_path / "run.pt.ckpt.lock").exists()  # released when the run ends


def test_a_checkpoint_written_before_a_setting_existed_resumes_only_at_its_default():
    from msbiqa.models.denoiser_training import TrainConfig, same_run

    defaults = TrainConfig().to_dict()
    current = tiny_train_config("dms").to_dict()
    older = {k: v for k, v in current.items() if k != "w_consistency"}  # written before w_consistency existed
    older["data"] = {k: v for k, v in current["data"].items() if k != "meta_info"}
    assert same_run(current, current, defaults) and same_run(older, current, defaults)
    assert not same_run(older, tiny_train_config("dms", w_consistency=1.0).to_dict(), defaults)
    assert not same_run({**current, "removed": 1}, current, defaults)
    assert not same_run({**current, "lr": 0.5}, current, defaults)


def test_crop_larger_than_images(photos):
    with pytest.raises(ValueError, match="crop=64 is larger"):
        train_denoiser(tiny_train_config("dms", crop=64), dataset=photos, progress=False)


def test_cli_trains_on_the_embedded_split(tmp_path, capsys):
    from msbiqa.cli import main

    out = tmp_path / "dms.pt"
    args = [
        "train-denoiser",
        "--kind",
        "dms",
        "--sigma",
        "0.2",
        "--epochs",
        "2",
        "--depth",
        "3",
        "--width",
        "8",
        "--crop",
        "24",
        "--crops-per-image",
        "1",
        "--val-images",
        "8",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    assert main(args + ["--stop-after", "1"]) == 0
    assert "stopped after epoch 1/2" in capsys.readouterr().out
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "kept epoch" in printed and "validation SROCC" in printed
    model = load_denoiser(out, sigma=0.2)
    assert model.hparams() == {"depth": 3, "channels": 8, "in_channels": 3}
    assert model.config["data"]["dataset"] == "embedded" and len(model.config["history"]) == 2
    assert model.config["val_images_used"] == 8 and model.config["val_metric"] == "tinyiqa"
    assert model.config["base_metric"] is None  # validated through the metric, trained without it
    assert model.config["chosen_epoch"] in (1, 2) and "val_spread" in model.config["history"][0]


def test_cli_options_of_the_grid():
    from msbiqa.cli import build_parser
    from msbiqa.cli.options import from_args

    args = build_parser().parse_args(
        ["train-denoiser", "--kind", "dms-iqa", "--w-rank", "76", "--w-consistency", "256", "--rank-against", "clean"]
        + ["--rank-min-gap", "5", "--val-split", "none", "--select", "last"]
    )
    cfg = from_args(TrainConfig, args)
    assert cfg.weights == {"mse": 1.0, "rank": 76.0, "target": 256.0, "consistency": 256.0}
    assert (cfg.rank_against, cfg.rank_min_gap, cfg.val_split, cfg.select) == ("clean", 5.0, None, "last")
    assert (cfg.val_draws, cfg.val_seed) == (4, 20261206)


def test_init_starts_from_a_weights_file(tmp_path, photos):
    first = tmp_path / "first.pt"
    train_denoiser(tiny_train_config("dms", epochs=1), out=first, dataset=photos, progress=False)
    again = train_denoiser(
        tiny_train_config("dms", epochs=1, lr=0.0, init=str(first)), dataset=photos, progress=False
    ).model
    start = load_denoiser(first)
    assert torch.equal(again.state_dict()["net.0.weight"], start.state_dict()["net.0.weight"])
    assert again.config["init"] == str(first)


def _validated(kind, **kw):
    return tiny_train_config(kind, val_split="val", val_draws=3, **kw)


def test_resume_with_validation_gives_the_same_run(tmp_path, photos, tiny_metric):
    """Validation, the kept best state and the gradient shares survive an interruption unchanged."""
    cfg, val = _validated("dms-iqa", epochs=3), ItemSet(photos[::2])
    full = train_denoiser(cfg, out=tmp_path / "full.pt", dataset=photos, val_dataset=val, metric=tiny_metric)
    out, ckpt = tmp_path / "run.pt", tmp_path / "run.ckpt"
    for stop in (1, 2, None):
        resumed = train_denoiser(
            cfg, out=out, checkpoint=ckpt, dataset=photos, val_dataset=val, metric=tiny_metric, stop_after=stop
        )
    assert resumed.history == full.history and resumed.chosen_epoch == full.chosen_epoch
    assert {"val_srocc", "val_within_sd", "val_spread", "val_psnr", "loss"} <= set(full.history[-1])
    for k, v in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[k], v), k
    a, b = load_denoiser(tmp_path / "full.pt"), load_denoiser(out)
    assert a.config["gradient_shares"] == b.config["gradient_shares"]
    assert set(a.config["gradient_shares"]) == {"first", "last"}
    assert set(a.config["gradient_shares"]["first"]) == {"mse", "rank", "target"}
    assert a.config["history"] == full.history and a.config["chosen_epoch"] == full.chosen_epoch


@pytest.mark.parametrize("values, chosen", [([0.3, 0.5, 0.501, 0.4], 2), ([0.3, 0.500, 0.501, 0.5025], 3)])
def test_the_chosen_epochs_weights_are_saved(tmp_path, photos, monkeypatch, values, chosen):
    """Whatever epoch the rule picks (here from given SROCCs), the saved weights are those of that epoch, even
    when it was not the best when it ended (second case: epoch 3 becomes the earliest within the tie only at 4)."""
    import msbiqa.models.denoiser_training as training

    curve = iter(values)
    monkeypatch.setattr(training, "_validate", lambda *args: {"val_srocc": next(curve)})
    cfg = _validated("dms", epochs=len(values))
    result = train_denoiser(cfg, out=tmp_path / "d.pt", dataset=photos, val_dataset=ItemSet(photos), progress=False)
    assert result.chosen_epoch == chosen and [h["val_srocc"] for h in result.history] == values
    monkeypatch.setattr(training, "_validate", lambda *args: {"val_srocc": 0.0})
    at = train_denoiser(cfg, dataset=photos, val_dataset=ItemSet(photos), stop_after=chosen, progress=False).model
    for k, v in at.state_dict().items():
        assert torch.equal(result.model.state_dict()[k], v), k
    assert load_denoiser(tmp_path / "d.pt").config["chosen_epoch"] == chosen
    last = train_denoiser(tiny_train_config("dms", epochs=len(values)), dataset=photos, progress=False).model
    assert not torch.equal(last.state_dict()["net.0.weight"], result.model.state_dict()["net.0.weight"])


def test_select_last_and_no_validation_keep_the_last_epoch(photos):
    kept = train_denoiser(_validated("dms", select="last"), dataset=photos, val_dataset=ItemSet(photos), progress=False)
    plain = train_denoiser(tiny_train_config("dms"), dataset=photos, progress=False)
    assert kept.chosen_epoch == plain.chosen_epoch == 3 and "val_srocc" in kept.history[0]
    assert all(torch.equal(v, plain.model.state_dict()[k]) for k, v in kept.model.state_dict().items())
    assert TrainConfig(val_split="none").val_split is None


def test_second_draw_only_with_consistency(photos):
    """The consistency loss adds a second noise draw per crop; without it the random stream is unchanged."""
    from msbiqa.models.denoiser_training import _batches

    images, mos = [p[0] for p in photos], torch.tensor([p[1] for p in photos])
    plain = tiny_train_config("dms-iqa")
    twice = tiny_train_config("dms-iqa", w_consistency=1.0)
    first = next(_batches(images, mos, plain, torch.Generator().manual_seed(0)))
    both = next(_batches(images, mos, twice, torch.Generator().manual_seed(0)))
    assert first[3] is None and torch.equal(first[0], both[0]) and torch.equal(first[1], both[1])
    assert both[3].shape == both[0].shape and not torch.equal(both[3], both[0])


def test_training_with_the_grids_options(photos, tiny_metric):
    """Consistency, ranking against clean scores and a minimum gap train, and the shares name every term."""
    cfg = tiny_train_config("dms-iqa", epochs=1, w_consistency=4.0, rank_against="clean", rank_min_gap=0.01)
    result = train_denoiser(cfg, dataset=photos, metric=tiny_metric, progress=False)
    assert set(result.history[0]) == {"epoch", "mse", "rank", "target", "consistency", "loss"}
    shares = result.model.config["gradient_shares"]
    assert set(shares["first"]) == set(shares["last"]) == {"mse", "rank", "target", "consistency"}
    assert all(v > 0 for v in shares["first"].values())
