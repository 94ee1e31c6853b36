"""Demo speed and smoothness: DanceDemo's fps, run as users run it, against MediaPipe alone; the
pose search's query time; jerkiness with and without the temporal mode.

    python bench/bench_demo.py [--source VIDEO] [--target VIDEO] [--gen 1,4] [--repeats N]

The demo runs as its own process (`python DanceDemo.py --no-window`, the whole file as fast as
it goes, the target in its scene, the coverage line and picture included) and its own printed
fps is read, which counts from its first frame (loading the models and the target is left out).
Targets: the demo >= 0.8 x MediaPipe-alone fps and >= 25 fps with nearest, >= 0.7 x with the GAN;
the pose search < 0.5 ms on 1,500 cached frames.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from devices import device_name, select_device  # noqa: E402
from exemplars import PoseIndex  # noqa: E402
from generators import GEN_TYPES  # noqa: E402
from GenNearest import GenNearest  # noqa: E402
from Skeleton import Skeleton, reset_video_tracking  # noqa: E402
from transfer import transfer  # noqa: E402
from VideoSkeleton import VideoSkeleton  # noqa: E402


def mediapipe_alone_fps(source):
    reset_video_tracking()
    cap = cv2.VideoCapture(source)
    n, ske = 0, Skeleton()
    start = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        ske.from_image(frame, video=True)
        n += 1
    return n / (time.perf_counter() - start)


def demo_fps(source, target, gen_type):
    """The fps DanceDemo prints for a whole file, run in its own process (None when it fails)."""
    out = os.path.join(tempfile.mkdtemp(), "bench.mp4")
    proc = subprocess.run([sys.executable, os.path.join(REPO, "DanceDemo.py"), "--source", source, "--target", target,
                           "--gen", str(gen_type), "--no-window", "--out", out], cwd=REPO, capture_output=True,
                          text=True)
    found = re.search(r"in [\d.]+ s, ([\d.]+) fps", proc.stdout)
    if proc.returncode != 0 or not found:
        print(f"  demo with {GEN_TYPES[gen_type]} failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return float(found.group(1))


def nearest_query_ms(target_vs, count=1500, queries=2000):
    reps = -(-count // target_vs.ske_count())
    index = PoseIndex(np.concatenate([target_vs.landmarks] * reps)[:count], np.arange(count))
    skes = [target_vs.landmarks[i % target_vs.ske_count()] for i in range(queries)]
    start = time.perf_counter()
    for s in skes:
        index.pick(s)
    return (time.perf_counter() - start) * 1000 / queries, count


def jerkiness(source, target_vs):
    """Per mode: mean absolute frame-to-frame change of the output (0-255) and the share of
    frames where the pick is not the next frame of the target video."""
    rows = {}
    for temporal in (False, True):
        gen = GenNearest(target_vs, temporal=temporal)
        picks, images = [], []
        for step in transfer(source, target_vs, gen):
            if step.crop is not None:
                picks.append(gen.search.frame_numbers[gen.search.last_pick])
                images.append(step.crop.astype(np.float32))
        change = np.mean([np.abs(b - a).mean() for a, b in zip(images, images[1:])])
        jumps = np.mean(np.diff(picks) != target_vs.settings["frame_mod"])
        rows["temporal" if temporal else "plain"] = (change, jumps)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="data/demo_source.mp4", help="the source video (default %(default)s)")
    parser.add_argument("--target", default="data/demo_target.mp4", help="the target video (default %(default)s)")
    parser.add_argument("--gen", default="1,4", help="generators to time end to end (default 1,4)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each, in turns; the best counts (default 2)")
    args = parser.parse_args()
    target_vs = VideoSkeleton(args.target, verbose=False)
    Skeleton().from_image(target_vs.read_image(0))  # load MediaPipe outside the timings
    print(f"machine: {device_name(select_device())}; source {args.source}, target {args.target}")
    best = {}
    for _ in range(args.repeats):  # in turns: this machine's speed drifts from minute to minute
        best["mediapipe"] = max(best.get("mediapipe", 0), mediapipe_alone_fps(args.source))
        for gen_type in [int(g) for g in args.gen.split(",")]:
            fps = demo_fps(args.source, args.target, gen_type)
            if fps is not None:
                best[gen_type] = max(best.get(gen_type, 0), fps)
    print(f"MediaPipe alone:            {best['mediapipe']:6.1f} fps")
    for gen_type in [int(g) for g in args.gen.split(",")]:
        if gen_type in best:
            print(f"demo with {GEN_TYPES[gen_type]:<14}: {best[gen_type]:6.1f} fps = "
                  f"{best[gen_type] / best['mediapipe']:.2f} x MediaPipe alone (best of {args.repeats})")
    ms, count = nearest_query_ms(target_vs)
    print(f"pose search: {ms:.3f} ms per query on {count} cached frames (target < 0.5 ms)")
    for mode, (change, jumps) in jerkiness(args.source, target_vs).items():
        print(f"nearest {mode:<8}: mean frame-to-frame change {change:5.2f} / 255, pick jumps in "
              f"{100 * jumps:4.1f}% of frames")


if __name__ == "__main__":
    main()
