"""Preprocessing throughput: VideoSkeleton (detect and segment, crop, register the background,
build the plates, cache), vs MediaPipe alone (pose only, on the full frames).

    python bench/bench_preprocess.py [VIDEO] [--frames N] [--repeats N]

Both run on the same frames (the first N, default all) (decoding included in both), VideoSkeleton on a
temporary copy so no cache is left behind. Target: VideoSkeleton >= 0.75 x MediaPipe alone.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cv2  # noqa: E402

from devices import device_name, select_device  # noqa: E402
from Skeleton import Skeleton, reset_video_tracking  # noqa: E402
from VideoSkeleton import VideoSkeleton  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("video", nargs="?", default="data/demo_target.mp4", help="the video to preprocess (default %(default)s)")
    parser.add_argument("--frames", type=int, default=0,
                        help="frames to process (default 0: the whole video; a short clip weighs the fixed "
                             "costs, model start and one plate build, more than a user's video does)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, the best kept (default 3)")
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

        # This machine's speed drifts by 10% from minute to minute: the two are measured in
        # turns, and each keeps its best run.
        mediapipe_fps = cache_fps = 0.0
        for _ in range(args.repeats):
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
            mediapipe_fps = max(mediapipe_fps, n / (time.perf_counter() - start))

            start = time.perf_counter()
            vs = VideoSkeleton(clip, force_compute=True, verbose=False)
            vs.plates()  # built while the video is read: this only loads them
            cache_fps = max(cache_fps, n / (time.perf_counter() - start))
    finally:
        shutil.rmtree(tmp)
    print(f"machine: {device_name(select_device())}; video: {args.video}, {n} frames "
          f"{width}x{height}")
    print(f"MediaPipe alone:  {mediapipe_fps:6.1f} frames/s ({found} persons found)")
    print(f"VideoSkeleton:    {cache_fps:6.1f} frames/s ({vs.ske_count()} crops cached, {vs.meta['segments']} "
          f"shot(s), plates included, MediaPipe at {vs.meta['detection_scale']:.2f}x)")
    print(f"ratio {cache_fps / mediapipe_fps:.2f} (target >= 0.75), best of {args.repeats} runs each")


if __name__ == "__main__":
    main()
