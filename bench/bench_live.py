"""Live demo: does the pipeline keep up with a camera? For each generator, DanceDemo plays a
video as if it were a camera (`--live`: frames arrive at the video's frame rate, the newest is
taken, missed ones are dropped) and reports frames shown and dropped, fps, and camera-to-screen
latency p50/p95; beside it, MediaPipe alone on the same video, and landmark jitter with and
without MediaPipe's own smoothing.

    python bench/bench_live.py [--source VIDEO ...] [--target VIDEO] [--gen 1,2,3,4]

Targets (GAN, 2 cores): at most 5% of frames dropped and p95 latency at most 80 ms on the
shipped source (25 fps, 512x512) and on a real 30 fps 960x720 video.
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from cli import UserError  # noqa: E402
from devices import device_name, select_device  # noqa: E402
from video_io import video_fps  # noqa: E402
from DanceDemo import DanceDemo  # noqa: E402
from generators import GEN_TYPES  # noqa: E402
from Skeleton import REDUCED_JOINTS, Skeleton, reset_video_tracking  # noqa: E402
from Skeleton import body_height  # noqa: E402


def mediapipe_alone(source, smooth=True):
    """(fps, landmarks in pixels per frame or None) of MediaPipe's video mode on every frame."""
    reset_video_tracking()
    cap = cv2.VideoCapture(source)
    found, ske = [], Skeleton()
    start = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        ok = ske.from_image(frame, video=True, smooth=smooth)
        found.append(ske.landmarks[:, :2] * frame.shape[1::-1] if ok else None)
    fps = len(found) / (time.perf_counter() - start)
    cap.release()
    reset_video_tracking()
    return fps, found


def jitter(found):
    """Mean size of the reduced joints' frame-to-frame acceleration (|x[t+1] - 2 x[t] + x[t-1]|),
    in thousandths of the median body height: motion is smooth, detection noise is not."""
    heights = [body_height(xy) for xy in found if xy is not None]
    steps = [np.linalg.norm(c[REDUCED_JOINTS] - 2 * b[REDUCED_JOINTS] + a[REDUCED_JOINTS], axis=1).mean()
             for a, b, c in zip(found, found[1:], found[2:]) if a is not None and b is not None and c is not None]
    return 1000 * float(np.mean(steps)) / float(np.median(heights))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", nargs="+", default=["data/demo_source.mp4"],
                        help="videos played as cameras (default data/demo_source.mp4; add a real one)")
    parser.add_argument("--target", default="data/demo_target.mp4")
    parser.add_argument("--gen", default="1,2,3,4", help="generators (default 1,2,3,4)")
    args = parser.parse_args()
    print(f"machine: {device_name(select_device())}; target {args.target}")
    out = os.path.join(tempfile.mkdtemp(), "live.mp4")
    demos = {}
    for gen_type in [int(g) for g in args.gen.split(",")]:
        try:
            demos[gen_type] = DanceDemo(args.source[0], gen_type, target=args.target, out=out, show=False,
                                        live=True, progress=False)
        except UserError as err:  # a missing model is reported, not fatal
            print(f"{GEN_TYPES[gen_type]}: skipped ({err})")
    for source in args.source:
        cap = cv2.VideoCapture(source)
        fps, size = video_fps(cap), (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        cap.release()
        mp_fps, smoothed = mediapipe_alone(source)
        _, raw = mediapipe_alone(source, smooth=False)
        print(f"\n{source}: played as a {fps:.2f} fps {size[0]}x{size[1]} camera")
        print(f"  MediaPipe alone: {mp_fps:.1f} fps; landmark jitter {jitter(smoothed):.2f} with MediaPipe's "
              f"smoothing (the demo's), {jitter(raw):.2f} without (thousandths of body height per frame^2)")
        for gen_type, demo in demos.items():
            demo.source = source
            demo.draw()
            os.remove(out)
            stats = demo.stats
            total = stats.shown + stats.dropped
            print(f"  {GEN_TYPES[gen_type]:<14} {stats.shown:4d} shown, {stats.dropped:3d} dropped "
                  f"({stats.dropped / max(total, 1):5.1%}), {stats.fps():5.1f} fps, latency p50 "
                  f"{stats.latency_ms(50):4.0f} ms, p95 {stats.latency_ms(95):4.0f} ms")


if __name__ == "__main__":
    main()
