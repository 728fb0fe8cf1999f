#!/usr/bin/env bash
# Reproduce the shipped denoiser weights in msbiqa/weights/ (CPU, 1 thread per run, torch 2.14.1).
# Every kind follows one two-stage recipe, so the ablation's four cells differ in one factor at a time:
#   stage 1: MSE only on 48 px crops, shared by the two kinds of one architecture
#            (results/denoisers/ARCH-stage1-sigmaS.pt, not shipped);
#   stage 2: from stage 1, the kind's loss on whole 96 px images (the base metric sees what it scores at
#            certification time): MSE for dms / unet-mse, MSE + 4 rank + 256 target for dncnn-full / dms-iqa.
# Kinds: dms (DnCNN, MSE), dncnn-full (DnCNN, full loss), unet-mse (U-Net, MSE), dms-iqa (U-Net, full loss).
# Usage: bash scripts/train_shipped_denoisers.sh KIND [SIGMA ...]   (default sigmas: 0.06 0.12 0.25)
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: train_shipped_denoisers.sh dms|dncnn-full|unet-mse|dms-iqa [SIGMA ...]}; shift
if (($#)); then sigmas=("$@"); else sigmas=(0.06 0.12 0.25); fi
case $kind in
  dms | dncnn-full) arch=dncnn stage1_kind=dms ;;
  unet-mse | dms-iqa) arch=unet stage1_kind=unet-mse ;;
  *) echo "unknown kind $kind; choose dms, dncnn-full, unet-mse or dms-iqa" >&2; exit 2 ;;
esac
export HF_HUB_OFFLINE=1
run="msbiqa train-denoiser --threads 1 --device cpu --seed 0 --batch-size 16 --crops-per-image 1 --amp"
for s in "${sigmas[@]}"; do
  stage1="results/denoisers/$arch-stage1-sigma$s.pt"
  if [[ ! -f $stage1 ]]; then
    $run --kind "$stage1_kind" --sigma "$s" --epochs 4 --crop 48 --lr 1e-3 --out "$stage1"
  fi
  $run --kind "$kind" --sigma "$s" --epochs 4 --crop 0 --lr 5e-4 --init "$stage1" --out "msbiqa/weights/$kind-sigma$s.pt"
done
