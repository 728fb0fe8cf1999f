"""`msbiqa train-denoiser --kind KIND --sigma 0.12`: train a denoiser for (denoised) median smoothing (kinds: dms,
dms-iqa and the ablation's dncnn-full, unet-mse)."""

from __future__ import annotations

from msbiqa.cli.options import add_options, from_args


def register(sub) -> None:
    from msbiqa.devices import Compute
    from msbiqa.models.denoiser_training import TrainConfig

    p = sub.add_parser("train-denoiser", help="train a DMS (DnCNN) or DMS-IQA (U-Net) denoiser")
    add_options(p, TrainConfig)
    add_options(p, Compute)
    p.add_argument("--out", default=None, help="weights file (default results/denoisers/KIND-sigmaSIGMA.pt)")
    p.add_argument("--checkpoint", default=None, help="resumable checkpoint (default OUT.ckpt, removed when done)")
    p.add_argument("--stop-after", type=int, default=None, help="stop after this many epochs in total (resume later)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from msbiqa.devices import Compute
    from msbiqa.models.denoiser_training import TrainConfig, train_denoiser
    from msbiqa.models.denoisers import weights_filename

    device = from_args(Compute, args).apply()
    cfg = from_args(TrainConfig, args)
    out = Path(args.out or Path("results/denoisers") / weights_filename(cfg.kind, cfg.sigma))
    result = train_denoiser(cfg, out=out, checkpoint=args.checkpoint, device=device, stop_after=args.stop_after)
    done = len(result.history)
    if done < cfg.epochs:
        print(f"stopped after epoch {done}/{cfg.epochs}; rerun without --stop-after to resume")
    else:
        kept = result.history[result.chosen_epoch - 1]
        validated = f", validation SROCC {kept['val_srocc']:.4f}" if "val_srocc" in kept else ""
        print(
            f"wrote {out} ({result.seconds:.1f} s of training, final loss {result.history[-1]['loss']:.4g}; "
            f"kept epoch {result.chosen_epoch}{validated})"
        )
    return 0
