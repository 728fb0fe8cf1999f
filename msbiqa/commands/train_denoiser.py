"""`msbiqa train-denoiser --kind dms|dms-iqa --sigma 0.12`: train a denoiser for (denoised) median smoothing."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("train-denoiser", help="train a DMS (DnCNN) or DMS-IQA (U-Net) denoiser")
    p.add_argument("--kind", choices=["dms", "dms-iqa"], default="dms",
                   help="dms: DnCNN, MSE; dms-iqa: U-Net, MSE + rank + target (default dms)")
    p.add_argument("--sigma", type=float, default=0.12, help="training noise std on [0,1] images (default 0.12)")
    p.add_argument("--metric", default=None, help="base metric for the rank/target losses (default: the project's)")
    p.add_argument("--metric-weights", default=None, help="weights file of the base metric (default: shipped)")
    p.add_argument("--dataset", default="embedded", help="training dataset (default embedded)")
    p.add_argument("--split", default="train", help="dataset split (default train)")
    p.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
    p.add_argument("--batch-size", type=int, default=16, help="crops per batch (default 16)")
    p.add_argument("--crop", type=int, default=48, help="crop side in pixels; 0 = whole images (default 48)")
    p.add_argument("--crops-per-image", type=int, default=4, help="random crops of each image per epoch (default 4)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (warm-up, then cosine decay) (default 1e-3)")
    p.add_argument("--w-mse", type=float, default=None, help="MSE weight (default 1)")
    p.add_argument("--w-rank", type=float, default=None, help="ranking-loss weight (default: 0 for dms, 1 for dms-iqa)")
    p.add_argument("--w-target", type=float, default=None, help="target-loss weight (default: 0 for dms, 16 for dms-iqa)")
    p.add_argument("--margin", type=float, default=0.01,
                   help="ranking hinge margin as a fraction of the metric's score range (default 0.01)")
    p.add_argument("--depth", type=int, default=None, help="DnCNN layers / U-Net downsamplings (default 17 / 3)")
    p.add_argument("--width", type=int, default=None, help="DnCNN channels / U-Net base channels (default 64 / 32)")
    p.add_argument("--init", default=None, help="weights file of the same architecture to start from")
    p.add_argument("--seed", type=int, default=0, help="seed of init, crops, noise and order (default 0)")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA, or CPUs with AMX)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads (default: torch's); 1 is fastest on a CPU shared with other jobs")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    p.add_argument("--out", default=None, help="weights file (default results/denoisers/KIND-sigmaSIGMA.pt)")
    p.add_argument("--checkpoint", default=None, help="resumable checkpoint (default OUT.ckpt, removed when done)")
    p.add_argument("--stop-after", type=int, default=None, help="stop after this many epochs in total (resume later)")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    import torch

    from msbiqa.train import KINDS, TrainConfig, train_denoiser, weights_filename

    if args.threads:
        torch.set_num_threads(args.threads)

    arch, hparams, weights = KINDS[args.kind]
    size_key = "channels" if arch == "dncnn" else "width"
    hparams = {**hparams, **({"depth": args.depth} if args.depth else {})}
    if args.width:
        hparams[size_key] = args.width
    w = weights.to_dict()
    for key in w:
        if getattr(args, f"w_{key}") is not None:
            w[key] = getattr(args, f"w_{key}")
    cfg = TrainConfig(
        kind=args.kind, sigma=args.sigma, metric=args.metric, metric_weights=args.metric_weights,
        dataset=args.dataset, split=args.split,
        epochs=args.epochs, batch_size=args.batch_size, crop=args.crop, crops_per_image=args.crops_per_image,
        lr=args.lr, margin=args.margin, seed=args.seed, amp=args.amp, init=args.init, hparams=hparams, weights=w,
    )
    out = Path(args.out or Path("results/denoisers") / weights_filename(args.kind, args.sigma))
    result = train_denoiser(cfg, out=out, checkpoint=args.checkpoint, device=args.device, stop_after=args.stop_after)
    done = len(result.history)
    if done < cfg.epochs:
        print(f"stopped after epoch {done}/{cfg.epochs}; rerun without --stop-after to resume")
    else:
        print(f"wrote {out} ({result.seconds:.1f} s of training, final loss {result.history[-1]['loss']:.4g})")
    return 0
