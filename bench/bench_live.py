"""Live demo: does the pipeline keep up with a camera? For each generator, DanceDemo plays a
video as if it were a camera (`python DanceDemo.py --live --no-window`, in its own process, as a
user runs it: frames arrive at the video's frame rate, the newest is taken, missed ones are
dropped) and its own report is read: frames shown and dropped, fps, and camera-to-screen latency
p50/p95; beside it, MediaPipe alone on the same video, and landmark jitter with and without
MediaPipe's own smoothing.

    python bench/bench_live.py [--source VIDEO ...] [--target VIDEO] [--gen 1,2,3,4] [--stages N]

`--stages N` also times each stage of a frame, one after the other on one thread, over the
first N frames of each source: where a frame's CPU time goes (two cores at 30 fps give 67 ms of
CPU per frame in all, and MediaPipe's stage runs beside the rest).

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

from cli import UserError  # noqa: E402
from devices import device_name, select_device  # noqa: E402
from generators import GEN_TYPES, load_generator  # noqa: E402
from panels import PANEL, compose  # noqa: E402
from retarget import Retargeter, make_scene  # noqa: E402
from Skeleton import REDUCED_JOINTS, Skeleton, body_height, reset_video_tracking  # noqa: E402
from video_io import VideoWriter, video_fps  # noqa: E402
from VideoSkeleton import VideoSkeleton  # noqa: E402

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


def stage_times(source, target_vs, gen_type, frames):
    """{stage: mean ms per frame} of the demo's work on the first `frames` frames of `source`,
    stage by stage on one thread (Scene.render's steps taken one by one), or the reason it could
    not run."""
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        generator = load_generator(gen_type, target_vs)
    except UserError as err:  # a missing model says so, as the demo would
        return str(err)
    scene = make_scene(target_vs, height=PANEL)
    if scene is None:
        return "the target has no background plate"
    generator.generate(target_vs.ske[0])  # the first call compiles
    cap = cv2.VideoCapture(source)
    generator.reset(video_fps(cap))
    retarget, times, ske = Retargeter(target_vs), {}, Skeleton()
    writer, out = None, os.path.join(tempfile.mkdtemp(), "stages.mp4")
    reset_video_tracking()
    right_width = round(scene.canvas.shape[1] * PANEL / scene.canvas.shape[0])

    def timed(name, work, *args):
        start = time.perf_counter()
        result = work(*args)
        times.setdefault(name, []).append(1000 * (time.perf_counter() - start))
        return result

    shown = 0
    while shown < frames:
        ok, frame = timed("read", cap.read)
        if not ok:
            break
        if not timed("MediaPipe", ske.from_image, frame, True):
            continue
        target_ske = timed("retarget", retarget, ske, frame.shape)
        box = timed("place and plate crop", lambda: scene.place(ske, frame.shape, target_ske))
        background = timed("place and plate crop", scene.background, box, generator.background_size)
        person, alpha, _, sharper = timed("generator (search, warp, network)", generator.layers, target_ske, background)
        if sharper is not None:
            sharp = timed("person at its size in the scene", sharper, scene.shown_box(box)[2])
            if sharp is not None:
                person, alpha = sharp.person, sharp.alpha
        scene_image = timed("paste", scene.paste, person, alpha, box)
        panel = timed("compose", compose, frame, ske, scene_image, generator.name, right_width)
        if writer is None:
            writer = VideoWriter(out, video_fps(cap), (panel.shape[1], panel.shape[0]))
        timed("encode", writer.write, panel)
        shown += 1
    cap.release()
    if writer is not None:
        writer.close()
    reset_video_tracking()
    means = {name: float(np.mean(v[1:] if len(v) > 1 else v)) for name, v in times.items()}
    # the two calls of one stage in a frame add up
    means["place and plate crop"] *= 2
    return means


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", nargs="+", default=["data/demo_source.mp4"],
                        help="videos played as cameras (default data/demo_source.mp4; add a real one)")
    parser.add_argument("--target", default="data/demo_target.mp4", help="the target video (default %(default)s)")
    parser.add_argument("--gen", default="1,2,3,4", help="generators (default 1,2,3,4)")
    parser.add_argument("--stages", type=int, default=0,
                        help="also time each stage of a frame over the first N frames, one thread (default: 0, not)")
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
        if args.stages:
            target_vs = VideoSkeleton(args.target, verbose=False)
            for gen_type in [int(g) for g in args.gen.split(",")]:
                stages = stage_times(source, target_vs, gen_type, args.stages)
                if isinstance(stages, str):
                    print(f"  stages of {GEN_TYPES[gen_type]}: skipped: {stages}")
                    continue
                print(f"  stages of {GEN_TYPES[gen_type]} (ms per frame, one thread, {args.stages} frames): "
                      f"total {sum(stages.values()):.1f}: "
                      + ", ".join(f"{name} {ms:.1f}" for name, ms in stages.items()))


if __name__ == "__main__":
    main()
