"""Training throughput (images/s) of each learnt generator on the shipped target, on this device.

    python bench/bench_train.py [--target VIDEO] [--steps N] [--batch-size B]

Times N training steps (after 3 warm-up steps) of vanilla-ske (64 px), vanilla-image (128 px) and
the GAN (128 px, and 256 px) with the shipped configurations (the person over the background
plate), the GAN both refining its warped exemplar (the default) and from the drawing alone
(`--exemplar none`, the GAN of earlier releases).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from devices import device_name, select_device  # noqa: E402
from GenGAN import GenGAN  # noqa: E402
from GenVanillaNN import GenVanillaNN  # noqa: E402
from target_data import TargetData  # noqa: E402
from training import EXEMPLAR_CANDIDATES  # noqa: E402
from VideoSkeleton import VideoSkeleton  # noqa: E402

BASE = {"ngf": 32, "max_ch": 128, "lr": 2e-4, "held_out": 0.0, "default_epochs": 1, "plates": True, "lambda_mask": 10.0}
GAN = dict(BASE, ndf=32, d_scales=2, lambda_l1=100.0, lambda_gan=1.0, lambda_fm=10.0, ema_decay=0.999)
REFINE = dict(GAN, exemplar="refine", exemplar_window=2.0, max_flow=4.0, nn_window=3, lambda_l1=0.0, lambda_nn=100.0,
              lambda_coarse=100.0, lambda_choice=20.0, exemplar_candidates=EXEMPLAR_CANDIDATES)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="data/demo_target.mp4", help="the target video (default %(default)s)")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per generator (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per step (default %(default)s)")
    parser.add_argument("--sizes", default="128,256", help="GAN sizes to time (default 128,256)")
    args = parser.parse_args()
    device = select_device()
    vs = VideoSkeleton(args.target, verbose=False)
    print(f"device: {device_name(device)}; batch {args.batch_size}")
    runs = [("vanilla-ske", 64, lambda c: GenVanillaNN(vs, False, "ske", c, "/tmp/unused.pt", device), BASE),
            ("vanilla-image", 128, lambda c: GenVanillaNN(vs, False, "image", c, "/tmp/unused.pt", device), BASE)]
    for recipe, cfg in (("gan (exemplar)", REFINE), ("gan (drawing)", GAN)):
        runs += [(recipe, int(s), lambda c: GenGAN(vs, False, c, "/tmp/unused.pt", device), cfg)
                 for s in args.sizes.split(",")]
    frames = np.linspace(0, vs.ske_count() - 1, min(200, vs.ske_count())).astype(int)  # exemplars 2 s away exist
    plates = vs.plates()
    for name, size, make, cfg in runs:
        cfg = dict(cfg, size=size, batch_size=args.batch_size, variant=name.split("-")[-1])
        gen = make(cfg)
        window = vs.cached_frames_in(cfg["exemplar_window"]) if cfg.get("exemplar") else None
        data = TargetData(vs, frames, size, device, plates=plates, exemplar_window=window,
                          exemplar_candidates=cfg.get("exemplar_candidates", 1))
        batches = [data.batch(np.random.default_rng(i).choice(len(data), args.batch_size), augment=True)
                   for i in range(4)]
        for i in range(3):
            gen.train_step(batches[i % 4])
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(args.steps):
            gen.train_step(batches[i % 4])
        if device.type == "cuda":
            torch.cuda.synchronize()
        rate = args.steps * args.batch_size / (time.perf_counter() - start)
        print(f"{name:<16} {size:>4} px: {rate:7.1f} images/s")


if __name__ == "__main__":
    main()
