"""Live demo: does the pipeline keep up with a camera? For each generator, DanceDemo plays a
video as if it were a camera (`python DanceDemo.py --live --no-window`, in its own process, as a
user runs it: frames arrive at the video's frame rate, the newest is taken, missed ones are
dropped) and its own report is read: frames shown and dropped, fps, and camera-to-screen latency
p50/p95; beside it, MediaPipe alone on the same video, and landmark jitter with and without
MediaPipe's own smoothing.

    python bench/bench_live.py [--source VIDEO ...] [--target VIDEO] [--gen 1,2,3,4]

Targets (GAN, 2 cores): at most 5% of frames dropped and p95 latency at most 80 ms on the
shipped source (25 fps, 512x512) and on a real 30 fps 960x720 video.
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
from generators import GEN_TYPES  # noqa: E402
from Skeleton import REDUCED_JOINTS, Skeleton, body_height, reset_video_tracking  # noqa: E402
from video_io import video_fps  # noqa: E402

LIVE_REPORT = re.compile(r"(\d+) frames shown, (\d+) dropped \(([\d.]+)%\), ([\d.]+) fps, latency p50 (\d+) ms, "
                         r"p95 (\d+) ms")


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


def live_run(source, target, gen_type):
    """(shown, dropped, dropped %, fps, p50 ms, p95 ms) of `DanceDemo.py --live` on `source`, or the
    reason it did not run."""
    out = os.path.join(tempfile.mkdtemp(), "live.mp4")
    proc = subprocess.run([sys.executable, os.path.join(REPO, "DanceDemo.py"), "--live", "--no-window", "--source",
                           source, "--target", target, "--gen", str(gen_type), "--out", out], cwd=REPO,
                          capture_output=True, text=True)
    found = LIVE_REPORT.search(proc.stdout)
    if proc.returncode != 0 or not found:
        return (proc.stderr.strip().splitlines() or ["no report"])[-1]
    return tuple(float(v) for v in found.groups())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", nargs="+", default=["data/demo_source.mp4"],
                        help="videos played as cameras (default data/demo_source.mp4; add a real one)")
    parser.add_argument("--target", default="data/demo_target.mp4", help="the target video (default %(default)s)")
    parser.add_argument("--gen", default="1,2,3,4", help="generators (default 1,2,3,4)")
    args = parser.parse_args()
    print(f"machine: {device_name(select_device())}; target {args.target}")
    for source in args.source:
        cap = cv2.VideoCapture(source)
        fps, size = video_fps(cap), (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        cap.release()
        mp_fps, smoothed = mediapipe_alone(source)
        _, raw = mediapipe_alone(source, smooth=False)
        print(f"\n{source}: played as a {fps:.2f} fps {size[0]}x{size[1]} camera")
        print(f"  MediaPipe alone: {mp_fps:.1f} fps; landmark jitter {jitter(smoothed):.2f} with MediaPipe's "
              f"smoothing (the demo's), {jitter(raw):.2f} without (thousandths of body height per frame^2)")
        for gen_type in [int(g) for g in args.gen.split(",")]:
            result = live_run(source, args.target, gen_type)
            if isinstance(result, str):
                print(f"  {GEN_TYPES[gen_type]:<14} skipped: {result}")
                continue
            shown, dropped, share, run_fps, p50, p95 = result
            print(f"  {GEN_TYPES[gen_type]:<14} {shown:4.0f} shown, {dropped:3.0f} dropped ({share:4.1f}%), "
                  f"{run_fps:5.1f} fps, latency p50 {p50:4.0f} ms, p95 {p95:4.0f} ms")


if __name__ == "__main__":
    main()
