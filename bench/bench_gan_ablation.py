"""Which GAN ingredient moves which number: train variants for the same wall-clock budget on the
same split and score them on the held-out frames.

    python bench/bench_gan_ablation.py [--target VIDEO] [--minutes M] [--variants full,no-fm,...]

Variants (each a change to the shipped recipe):
  full           U-Net + 2-scale PatchGAN (LSGAN) + feature matching + L1, EMA weights
  no-ema         the `full` run, generating with the raw weights instead of their EMA
  no-fm          without discriminator feature matching
  one-scale-d    one PatchGAN scale instead of two
  l1-only        no discriminator at all: the U-Net on L1 (what GenVanillaNN --variant image trains)
Checkpoints go to a temporary folder; nothing in models/ is touched.
"""
import argparse
import copy
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from devices import device_name, select_device  # noqa: E402
from metrics import person_masks, score  # noqa: E402
from report import fmt  # noqa: E402
from GenGAN import GenGAN  # noqa: E402
from target_data import TargetData  # noqa: E402
from training import fit  # noqa: E402
from VideoSkeleton import VideoSkeleton  # noqa: E402

RECIPE = {"ngf": 32, "max_ch": 128, "ndf": 32, "d_scales": 2, "lambda_l1": 100.0, "lambda_gan": 1.0,
          "lambda_fm": 10.0, "ema_decay": 0.999, "lr": 2e-4, "batch_size": 8, "size": 128,
          "held_out": 0.2, "default_epochs": 1}
CHANGES = {"full": {}, "no-fm": {"lambda_fm": 0.0}, "one-scale-d": {"d_scales": 1},
           "l1-only": {"lambda_gan": 0.0, "lambda_fm": 0.0}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="data/demo_target.mp4")
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget per variant (default 5)")
    parser.add_argument("--variants", default="full,no-ema,no-fm,l1-only")
    parser.add_argument("--max-frames", type=int, default=100, help="held-out frames scored (default 100)")
    args = parser.parse_args()
    device = select_device()
    vs = VideoSkeleton(args.target, verbose=False)
    train, held = vs.split(RECIPE["held_out"])
    held = held[np.linspace(0, len(held) - 1, min(args.max_frames, len(held))).astype(int)]
    data = TargetData(vs, train, RECIPE["size"], device)
    skeletons = [vs.ske[i] for i in held]
    real = [vs.read_image(i) for i in held]
    masks = person_masks(real)
    wanted = args.variants.split(",")
    runs = {}
    print(f"{device_name(device)}; {args.minutes} min per variant; {len(train)} training frames, "
          f"{len(held)} held-out frames scored")
    for name in [v for v in wanted if v in CHANGES or v == "no-ema"]:
        base = "full" if name == "no-ema" else name
        if base not in runs:
            torch.manual_seed(0)
            path = os.path.join(tempfile.mkdtemp(), "gan.pt")
            gen = GenGAN(vs, load_from_file=False, config=dict(RECIPE, **CHANGES[base]), path=path, device=device)
            fit(gen, data, path, minutes=args.minutes, sample_every=10 ** 6, log=lambda *a: None)
            runs[base] = gen
        gen = runs[base]
        if name == "no-ema":
            gen = copy.copy(gen)
            gen.G_ema = gen.G
        start = time.perf_counter()
        generated = [gen.generate(s) for s in skeletons]
        ms = (time.perf_counter() - start) * 1000 / len(skeletons)
        r = score(generated, skeletons, ms, real=real, masks=masks)
        print(f"{name:<12} epochs {runs[base].epochs_done:>3}  PSNR {fmt(r['psnr'], 2)}  SSIM {fmt(r['ssim'], 4)}  "
              f"person PSNR {fmt(r['psnr_person'], 2)}  SSIM {fmt(r['ssim_person'], 4)}  "
              f"pose error {fmt(r['pose_error'], 4)}  detection {fmt(r['detection_rate'], 3)}  "
              f"PCK {fmt(r['pck'], 3)}", flush=True)


if __name__ == "__main__":
    main()
