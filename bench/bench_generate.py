"""Time `generate(ske)` per generator on the shipped target (ms per frame, device named), with
torch's default threads and with the one thread DanceDemo gives it; and, for the generators that
give the person at the crop's native size (`Layers.sharper`, what the scene pastes), what that
costs on top, at the cached crop's size.

    python bench/bench_generate.py [--target VIDEO] [--frames N]

Targets on 2 CPU cores: vanilla variants < 10 ms, GAN at 128 px < 15 ms.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from cli import UserError  # noqa: E402
from devices import device_name, select_device  # noqa: E402
from generators import GEN_TYPES, load_generator  # noqa: E402
from VideoSkeleton import VideoSkeleton  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="data/demo_target.mp4", help="the target video (default %(default)s)")
    parser.add_argument("--frames", type=int, default=200, help="poses generated per timing (default %(default)s)")
    args = parser.parse_args()
    vs = VideoSkeleton(args.target, verbose=False)
    skes = [vs.ske[i % vs.ske_count()] for i in range(args.frames)]
    print(f"machine: {device_name(select_device())}")
    default_threads = torch.get_num_threads()
    for gen_type, name in GEN_TYPES.items():
        try:
            gen = load_generator(gen_type, vs, temporal=False)
        except UserError as err:
            print(f"{name:<14} skipped: {err}")
            continue
        timings = []
        for threads in (default_threads, 1):
            torch.set_num_threads(threads)
            for s in skes[:5]:
                gen.generate(s)
            start = time.perf_counter()
            for s in skes:
                image = gen.generate(s)
            ms = (time.perf_counter() - start) * 1000 / len(skes)
            timings.append(f"{ms:7.2f} ms/frame ({threads} thread{'s' if threads > 1 else ''})")
        print(f"{name:<14} {image.shape[0]:>4} px  " + "   ".join(timings))
        if gen.layers(skes[0]).sharper is not None:
            total = 0.0
            for s in skes:
                layers = gen.layers(s)
                start = time.perf_counter()
                layers.sharper(vs.crop_size)
                total += time.perf_counter() - start
            print(f"{'':<14} {vs.crop_size:>4} px  the person at native size: {total * 1000 / len(skes):7.2f} ms/frame "
                  "more (1 thread)")
        torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
