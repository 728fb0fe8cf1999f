#!/usr/bin/env bash
# The project's main job (README): install into .venv, then certify the bundled photo with plain median
# smoothing (MS) and with the shipped DnCNN denoiser (DMS). Extra arguments go to both certify calls.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg
photo=msbiqa/assets/astronaut.png
.venv/bin/msbiqa certify "$photo" --sigma 0.12 --eps 0.05 --n 1000 --alpha 0.001 "$@"
.venv/bin/msbiqa certify "$photo" --sigma 0.12 --eps 0.05 --n 1000 --alpha 0.001 --denoiser dms "$@"
