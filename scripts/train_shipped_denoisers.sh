#!/usr/bin/env bash
# Reproduce the shipped denoiser weights in msbiqa/weights/ (CPU, 1 thread per run, torch 2.14.1).
#   DMS:     DnCNN-17, MSE only, one stage.
#   DMS-IQA: U-Net, stage 1 MSE only on 64 px crops, stage 2 from stage 1 with MSE + rank + target on whole
#            96 px images (the base metric sees what it scores at certification time).
# Usage: bash scripts/train_shipped_denoisers.sh [dms|dms-iqa] [SIGMA ...]   (default: dms-iqa 0.06 0.12 0.25)
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-dms-iqa}; shift || true
if (($#)); then sigmas=("$@"); else sigmas=(0.06 0.12 0.25); fi
export HF_HUB_OFFLINE=1
run="msbiqa train-denoiser --threads 1 --device cpu --seed 0 --batch-size 16 --crops-per-image 1 --amp"
for s in "${sigmas[@]}"; do
  if [[ $kind == dms ]]; then
    $run --kind dms --sigma "$s" --epochs 8 --crop 40 --lr 5e-4 --margin 0.05 --out "msbiqa/weights/dms-sigma$s.pt"
  else
    $run --kind dms-iqa --sigma "$s" --w-rank 0 --w-target 0 --epochs 6 --crop 64 --lr 1e-3 \
      --out "results/denoisers/unet-mse-sigma$s.pt"
    $run --kind dms-iqa --sigma "$s" --w-rank 4 --w-target 256 --epochs 8 --crop 0 --lr 5e-4 \
      --init "results/denoisers/unet-mse-sigma$s.pt" --out "msbiqa/weights/dms-iqa-sigma$s.pt"
  fi
done
