"""Write tests/pinned/certificates.json: the bundled photo certified under MS, DMS and DMS-IQA with the shipped
weights at a fixed seed. Run it only when a change is meant to move certificates, and say so in the commit:
`python tests/pinned/make_certificates.py`."""

import json
from pathlib import Path

import torch

from msbiqa import DefendedMetric, load_denoiser, load_image, load_metric
from msbiqa.data.images import sample_photo_path

SETTING = {"sigma": 0.12, "eps": 0.05, "n": 200, "alpha": 0.001, "seed": 0}
DENOISERS = {"ms": None, "dms": "dms", "dms-iqa": "dms-iqa"}


def certificates() -> dict:
    """Each defence's certificate of the bundled photo at SETTING, on the CPU in fp32."""
    torch.manual_seed(0)
    metric = load_metric(device="cpu")
    image = load_image(sample_photo_path())
    out = {}
    for name, denoiser in DENOISERS.items():
        den = load_denoiser(denoiser, sigma=SETTING["sigma"], device="cpu") if denoiser else None
        cert = DefendedMetric(metric, SETTING["sigma"], den).certify(
            image, SETTING["eps"], n=SETTING["n"], alpha=SETTING["alpha"], seed=SETTING["seed"], device="cpu"
        )
        out[name] = {k: getattr(cert, k) for k in ("median", "lower", "upper", "delta", "k_lo", "k_hi")}
    return out


if __name__ == "__main__":
    path = Path(__file__).with_name("certificates.json")
    path.write_text(json.dumps({"setting": SETTING, "certificates": certificates()}, indent=1) + "\n")
    print(path.read_text())
