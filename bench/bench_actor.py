"""SyntheticActor: render speed, and how well MediaPipe (through VideoSkeleton) reads the renders.

    python bench/bench_actor.py [--frames N] [VIDEO ...]

1. Renders N 512x512 frames of each actor and prints seconds per frame (target <= 0.5 s).
2. For each rendered VIDEO with its ground-truth .npz (default: the three shipped videos),
   prints the detection rate (target >= 98%) and the mean 2-D distance between the detected 13
   reduced joints and the rendered truth, as a fraction of the image height (target < 2%).
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import SyntheticActor  # noqa: E402
from Skeleton import REDUCED_JOINTS  # noqa: E402
from VideoSkeleton import VideoSkeleton  # noqa: E402

# COCO indices (anny's keypoints) of the 13 reduced MediaPipe joints, in the same order.
COCO_OF_REDUCED = [0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]


def detection_error(video):
    truth = np.load(os.path.splitext(video)[0] + ".npz")
    joints2d, height = truth["joints2d"], float(truth["image_size"][1])
    vs = VideoSkeleton(video, verbose=False)
    errors = []
    for lm, box, index in zip(vs.landmarks, vs.crop_boxes, vs.frame_indices):
        detected = lm[REDUCED_JOINTS, :2] * box[2] + box[:2]  # crop -> frame pixels
        true = joints2d[index][COCO_OF_REDUCED]
        errors.append(np.linalg.norm(detected - true, axis=1) / height)
    errors = np.array(errors)
    frames = vs.meta["frames_considered"]
    return vs.ske_count() / frames, errors.mean(), np.percentile(errors.mean(axis=1), 95), errors.mean(axis=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("videos", nargs="*", default=[p for p, _, _ in SyntheticActor.DEMO_DATA],
                        help="rendered videos (with their truth .npz) whose MediaPipe reading is scored (default the shipped three)")
    parser.add_argument("--frames", type=int, default=20, help="frames rendered per actor for the timing")
    args = parser.parse_args()
    poses = SyntheticActor.routine_poses("target")[:: max(1, 1390 // args.frames)][: args.frames]
    for actor in SyntheticActor.ACTORS:
        renderer = SyntheticActor.Renderer(actor)
        renderer.render(poses[0])
        start = time.perf_counter()
        for pose in poses:
            renderer.render(pose)
        print(f"render {actor}: {(time.perf_counter() - start) / len(poses):.3f} s per 512x512 frame "
              f"(target <= 0.5 s; {os.cpu_count()} cores)")
    for video in args.videos:
        rate, mean, p95, per_joint = detection_error(video)
        print(f"{video}: person found in {100 * rate:.1f}% of frames (target >= 98%); 2-D joint error "
              f"{100 * mean:.2f}% of image height (target < 2%), 95th percentile of frames {100 * p95:.2f}%")
        print("   per joint (% height): " + " ".join(f"{100 * e:.1f}" for e in per_joint))


if __name__ == "__main__":
    main()
