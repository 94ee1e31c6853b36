"""Preprocessing throughput: VideoSkeleton (detect and segment, crop, register the background,
cache) and then its background plates, vs MediaPipe alone (pose only).

    python bench/bench_preprocess.py [VIDEO] [--frames N]

Both run on the same frames (the first N, default all) (decoding included in both), VideoSkeleton on a
temporary copy so no cache is left behind. Target: cache + plates >= 0.75 x MediaPipe alone.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402

from common import device_name, select_device  # noqa: E402
from Skeleton import Skeleton, reset_video_tracking  # noqa: E402
from VideoSkeleton import VideoSkeleton  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("video", nargs="?", default="data/demo_target.mp4")
    parser.add_argument("--frames", type=int, default=0,
                        help="frames to process (default 0: the whole video; a short clip weighs the fixed "
                             "costs, model start and one plate build, more than a user's video does)")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    try:
        clip = os.path.join(tmp, "clip.mp4")
        cap = cv2.VideoCapture(args.video)
        fps = cap.get(cv2.CAP_PROP_FPS) or 25
        writer, copied = None, 0
        while args.frames <= 0 or copied < args.frames:
            ok, frame = cap.read()
            if not ok:
                break
            if writer is None:
                writer = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*"mp4v"), fps, frame.shape[1::-1])
                width, height, first = frame.shape[1], frame.shape[0], frame
            writer.write(frame)
            copied += 1
        writer.release()
        Skeleton().from_image(first)  # load the model outside the timings

        reset_video_tracking()
        start = time.perf_counter()
        cap = cv2.VideoCapture(clip)
        n = found = 0
        ske = Skeleton()
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            n += 1
            found += ske.from_image(frame, video=True)
        mediapipe_fps = n / (time.perf_counter() - start)

        start = time.perf_counter()
        vs = VideoSkeleton(clip, force_compute=True, verbose=False)
        cache_seconds = time.perf_counter() - start
        vs.plates()
        plate_seconds = time.perf_counter() - start - cache_seconds
    finally:
        shutil.rmtree(tmp)
    print(f"machine: {device_name(select_device())}; video: {args.video}, {n} frames "
          f"{width}x{height}")
    print(f"MediaPipe alone:  {mediapipe_fps:6.1f} frames/s ({found} persons found)")
    cache_fps, total_fps = n / cache_seconds, n / (cache_seconds + plate_seconds)
    print(f"VideoSkeleton:    {cache_fps:6.1f} frames/s ({vs.ske_count()} crops cached, "
          f"{vs.meta['segments']} shot(s)); ratio {cache_fps / mediapipe_fps:.2f}")
    print(f"  + plates:       {total_fps:6.1f} frames/s (plates {plate_seconds:.1f} s); ratio "
          f"{total_fps / mediapipe_fps:.2f} (target >= 0.75)")


if __name__ == "__main__":
    main()
