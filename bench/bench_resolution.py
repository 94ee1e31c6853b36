"""What the generators' output size costs in the scene: a perfect generator at S px, pasted into
the full-resolution frame, against the real frame.

    python bench/bench_resolution.py [--target VIDEO] [--frames N] [--sizes 64,128,256]

For held-out frames of the target: the real person (cut with their segmentation) is shrunk to
S x S, as a generator of that size would paint it at best, scaled back to the crop's size in the
frame, and composited over the real background, exactly as the demo pastes a generated person.
PSNR/SSIM over the crop's box in the full frame (and over the person alone) is then the ceiling
that resolution alone allows. Training cost per size is `bench_train.py`'s.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from video_io import open_video  # noqa: E402
from metrics import psnr, ssim, ssim_person  # noqa: E402
from geometry import composite, cut_square  # noqa: E402
from VideoSkeleton import VideoSkeleton  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", default="data/demo_target.mp4", help="the target video (default %(default)s)")
    parser.add_argument("--frames", type=int, default=60, help="held-out frames used (default 60)")
    parser.add_argument("--sizes", default="64,128,256", help="output sizes compared (default 64,128,256)")
    args = parser.parse_args()
    vs = VideoSkeleton(args.target, verbose=False)
    _, held = vs.split(0.2)
    held = held[np.linspace(0, len(held) - 1, min(args.frames, len(held))).astype(int)]
    wanted = {vs.frame_index(i): i for i in held}
    cap = open_video(args.target)
    frames, index = {}, 0
    while len(frames) < len(wanted):
        ok, frame = cap.read()
        if not ok:
            break
        if index in wanted:
            frames[wanted[index]] = frame
        index += 1
    cap.release()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{args.target}: {len(frames)} held-out frames, crop side {np.median(vs.crop_boxes[held, 2]):.0f} px "
          f"in {vs.meta['frame_width']}x{vs.meta['frame_height']} frames")
    for size in sizes:
        scores = []
        for i, frame in frames.items():
            side = int(np.ceil(vs.crop_boxes[i, 2]))
            real = cut_square(frame, vs.crop_boxes[i], side)  # the crop's box at the frame's resolution
            mask = cv2.resize(vs.read_mask(i), (side, side), interpolation=cv2.INTER_LINEAR)
            painted = cv2.resize(cv2.resize(real, (size, size), interpolation=cv2.INTER_AREA), (side, side),
                                 interpolation=cv2.INTER_CUBIC)
            pasted = composite(painted, mask, real)
            person = mask > 0.5
            scores.append((psnr(pasted, real), ssim(pasted, real), psnr(pasted, real, person),
                           ssim_person(pasted, real, person)))
        p, s, pp, sp = np.mean(scores, axis=0)
        print(f"perfect generator at {size:>3} px pasted into the frame: PSNR {p:6.2f} dB  SSIM {s:.4f}  "
              f"person PSNR {pp:6.2f} dB  person SSIM {sp:.4f}")


if __name__ == "__main__":
    main()
