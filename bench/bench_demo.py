"""Demo speed and smoothness: end-to-end DanceDemo fps vs MediaPipe alone, nearest query time,
and jerkiness with and without GenNearest's temporal mode.

    python bench/bench_demo.py [--source VIDEO] [--target VIDEO] [--gen 1,4]

Targets: demo >= 0.8 x MediaPipe-alone fps and >= 25 fps with nearest (>= 0.7 x with the GAN);
GenNearest query (the pose search) < 0.5 ms on 1,500 cached frames.
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
from DanceDemo import DanceDemo  # noqa: E402
from generators import GEN_TYPES  # noqa: E402
from transfer import transfer  # noqa: E402
from GenNearest import GenNearest  # noqa: E402
from Skeleton import Skeleton, reset_video_tracking  # noqa: E402
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


def demo_fps(demo, with_scene):
    """DanceDemo's own loop without a window: detect, retarget, generate, composite into the
    target's scene (when `with_scene`), compose, write."""
    scene, demo.scene = demo.scene, demo.scene if with_scene else None
    try:
        demo.draw()
    finally:
        demo.scene = scene
        os.remove(demo.out)
    return demo.stats.fps()


def nearest_query_ms(target_vs, count=1500, queries=2000):
    gen = GenNearest(target_vs)
    reps = -(-count // len(gen.poses))
    gen.poses = np.concatenate([gen.poses] * reps)[:count]
    gen.indices = np.concatenate([gen.indices] * reps)[:count]
    gen.frame_numbers = np.arange(count)
    skes = [target_vs.ske[i % target_vs.ske_count()] for i in range(queries)]
    start = time.perf_counter()
    for s in skes:
        gen.nearest_index(s)
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
                picks.append(gen.frame_numbers[gen.last_pick])
                images.append(step.crop.astype(np.float32))
        change = np.mean([np.abs(b - a).mean() for a, b in zip(images, images[1:])])
        jumps = np.mean(np.diff(picks) != target_vs.settings["frame_mod"])
        rows["temporal" if temporal else "plain"] = (change, jumps)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", default="data/demo_source.mp4")
    parser.add_argument("--target", default="data/demo_target.mp4")
    parser.add_argument("--gen", default="1,4", help="generators to time end to end (default 1,4)")
    args = parser.parse_args()
    target_vs = VideoSkeleton(args.target, verbose=False)
    Skeleton().from_image(target_vs.read_image(0))  # load MediaPipe outside the timings
    print(f"machine: {device_name(select_device())}; source {args.source}, target {args.target}")
    mp_fps = mediapipe_alone_fps(args.source)
    print(f"MediaPipe alone:            {mp_fps:6.1f} fps")
    out = os.path.join(tempfile.mkdtemp(), "bench.mp4")
    for gen_type in [int(g) for g in args.gen.split(",")]:
        try:
            demo = DanceDemo(args.source, gen_type, target=args.target, out=out, show=False, progress=False)
        except UserError as err:  # a missing model is reported, not fatal
            print(f"demo {GEN_TYPES[gen_type]:<14}: skipped ({err})")
            continue
        for label, with_scene in (("crop", False), ("scene", True)) if demo.scene else (("crop", False),):
            fps = demo_fps(demo, with_scene)
            print(f"demo with {GEN_TYPES[gen_type]:<14} ({label:<5}): {fps:6.1f} fps = {fps / mp_fps:.2f} x "
                  "MediaPipe alone")
    ms, count = nearest_query_ms(target_vs)
    print(f"GenNearest query: {ms:.3f} ms per query on {count} cached frames (target < 0.5 ms)")
    for mode, (change, jumps) in jerkiness(args.source, target_vs).items():
        print(f"nearest {mode:<8}: mean frame-to-frame change {change:5.2f} / 255, pick jumps in "
              f"{100 * jumps:4.1f}% of frames")


if __name__ == "__main__":
    main()
