"""Cost curves of a long target video: preprocessing, cache, nearest queries and GAN training at
1,000, 5,000 and 20,000 frames, with peak memory.

    python bench/bench_scale.py [--video data/demo_target.mp4] [--sizes 1000,5000,20000] [--train-minutes 1]

For each size it makes a video of that many frames by looping VIDEO, then, each in its own
process so that peak memory (RSS) is that job's alone:
- preprocessing (`VideoSkeleton.py`): frames/s, peak RSS, cache size on disk;
- nearest query (the pose search over every cached frame), plain and temporal, ms per query;
- GAN training at 128 px for `--train-minutes` (`GenGAN.py`, memory budget at its default, so a
  large target streams): images/s, peak RSS.
At the smallest size the training also runs with `--memory-budget 0` (streamed) beside the
in-memory run: their throughputs should be within 15%. Targets: the nearest query well under a
frame's time at 20,000 frames; training peak RSS under 4 GB at 20,000 frames.
Takes about 15 minutes on 2 cores at the default sizes; run it on a quiet machine.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import cv2  # noqa: E402

from devices import device_name, select_device  # noqa: E402

# Runs a script in this process and reports its peak resident memory on stderr when it exits.
MEASURED = ("import atexit, resource, runpy, sys\n"
            "atexit.register(lambda: print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
            "file=sys.stderr))\n"
            "sys.argv = sys.argv[1:]\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')\n")


def run_measured(*args):
    """(stdout, peak RSS in MB, seconds) of `python SCRIPT ARGS` in a process of its own."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", MEASURED, *args], cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    peak = re.search(r"PEAK_RSS_KB (\d+)", proc.stderr)
    rss_mb = int(peak.group(1)) / 1024 if peak else float("nan")
    if sys.platform == "darwin":  # macOS reports bytes
        rss_mb /= 1024
    return proc.stdout, rss_mb, seconds


def looped_video(source, frames, path):
    cap = cv2.VideoCapture(source)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25
    writer = None
    written = 0
    while written < frames:
        ok, frame = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        if writer is None:
            writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, frame.shape[1::-1])
        writer.write(frame)
        written += 1
    writer.release()
    cap.release()


def folder_mb(folder):
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(folder) for f in files) / 2 ** 20


def nearest_ms(video_path, queries=500):
    from GenNearest import GenNearest
    from VideoSkeleton import VideoSkeleton

    vs = VideoSkeleton(video_path, verbose=False)
    skeletons = [vs.ske[i % vs.ske_count()] for i in range(queries)]
    out = {}
    for temporal in (False, True):
        gen = GenNearest(vs, temporal=temporal)
        start = time.perf_counter()
        for ske in skeletons:
            gen.nearest_index(ske)
        out["temporal" if temporal else "plain"] = (time.perf_counter() - start) * 1000 / queries
    return out


def train(video_path, out, minutes, *extra):
    stdout, rss, _ = run_measured("GenGAN.py", video_path, "--size", "128", "--minutes", str(minutes), "--out", out,
                                  "--fresh", "--sample-every", "1000000", *extra)
    rate = re.search(r"([\d.]+) images/s", stdout)
    return float(rate.group(1)) if rate else float("nan"), rss, "streaming" in stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--video", default="data/demo_target.mp4", help="the video looped to each size")
    parser.add_argument("--sizes", default="1000,5000,20000", help="frame counts (default 1000,5000,20000)")
    parser.add_argument("--train-minutes", type=float, default=1.0, help="GAN training time per size (default 1)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = tempfile.mkdtemp(prefix="bench_scale_")
    print(f"machine: {device_name(select_device())}, {os.cpu_count()} cores; video {args.video} looped")
    try:
        for k, size in enumerate(sizes):
            video = os.path.join(work, f"target{size}.mp4")
            looped_video(args.video, size, video)
            stdout, rss, seconds = run_measured("VideoSkeleton.py", video)
            cache = os.path.splitext(video)[0]
            print(f"\n{size} frames")
            print(f"  preprocessing: {size / seconds:6.1f} frames/s ({seconds:.0f} s, process start included), "
                  f"peak RSS {rss:6.0f} MB, cache {folder_mb(cache):6.0f} MB on disk")
            ms = nearest_ms(video)
            print(f"  nearest query: plain {ms['plain']:.2f} ms, temporal {ms['temporal']:.2f} ms "
                  f"(a frame at 25 fps: 40 ms)")
            checkpoint = os.path.join(work, f"gan{size}.pt")
            rate, rss, streamed = train(video, checkpoint, args.train_minutes)
            print(f"  GAN training 128 px: {rate:6.1f} images/s, peak RSS {rss:6.0f} MB "
                  f"({'streamed from the cache' if streamed else 'held in memory'})")
            if k == 0:
                rate_streamed, rss_streamed, _ = train(video, checkpoint, args.train_minutes, "--memory-budget", "0")
                print(f"  same, streamed (--memory-budget 0): {rate_streamed:6.1f} images/s "
                      f"({rate_streamed / rate:.2f} x in memory), peak RSS {rss_streamed:6.0f} MB")
            shutil.rmtree(cache, ignore_errors=True)
            os.remove(video)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
