"""Shared fixtures: small clips made by the tests or cut at run time from ../shared/data."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from VideoSkeleton import VideoSkeleton

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(REPO, "..", "shared", "data")


def write_clip(path, frames, fps=25):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    return str(path)


def cut_clip(src, dst, start, count, scale=1.0):
    """Copy `count` frames of a shared video from `start` into a new clip (optionally scaled)."""
    cap = cv2.VideoCapture(src)
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        if scale != 1.0:
            frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        frames.append(frame)
    cap.release()
    return write_clip(dst, frames, fps=25)


def shared_video(name):
    path = os.path.join(SHARED_DATA, name)
    if not os.path.isfile(path):
        pytest.skip(f"{path} not available")
    return path


@pytest.fixture(scope="session")
def karate_clip(tmp_path_factory):
    """40 frames of a real person (karate1.mp4), in a writable folder of its own."""
    folder = tmp_path_factory.mktemp("karate")
    return cut_clip(shared_video("karate1.mp4"), folder / "karate.mp4", 20, 40)


@pytest.fixture(scope="session")
def taichi_clip(tmp_path_factory):
    """60 frames of a real person (taichi2.mp4) at half resolution."""
    folder = tmp_path_factory.mktemp("taichi")
    return cut_clip(shared_video("taichi2.mp4"), folder / "taichi.mp4", 100, 60, scale=0.5)


@pytest.fixture(scope="session")
def taichi_side_clip(tmp_path_factory):
    """24 frames of taichi2.mp4 (from 360, half resolution) in which MediaPipe's still-image mode
    misses the person once a crop fits them tightly."""
    folder = tmp_path_factory.mktemp("taichi_side")
    return cut_clip(shared_video("taichi2.mp4"), folder / "taichi_side.mp4", 360, 24, scale=0.5)


@pytest.fixture
def blank_clip(tmp_path):
    """A valid video with no person in it."""
    rng = np.random.default_rng(0)
    frames = [np.full((120, 160, 3), 90, np.uint8) + rng.integers(0, 20, (120, 160, 3), dtype=np.uint8)
              for _ in range(8)]
    return write_clip(tmp_path / "empty_room.mp4", frames)


def run_script(script, *args, timeout=300, cwd=None):
    """Run one of the project's scripts as a user would; returns the CompletedProcess.

    With `cwd` (e.g. a test's tmp_path) the script runs there, so its models/ and out/ folders
    are the test's own."""
    return subprocess.run([sys.executable, os.path.join(REPO, script), *args], cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def assert_one_line_error(proc):
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def standing_skeleton(arm_angle=0.3, leg_spread=0.05):
    """A simple upright skeleton in crop coordinates; `arm_angle` opens both arms (radians)."""
    from Skeleton import Skeleton

    lm = np.zeros((33, 4), np.float32)
    lm[:, 3] = 1
    xy = {0: (0.5, 0.2), 11: (0.56, 0.3), 12: (0.44, 0.3), 23: (0.54, 0.55), 24: (0.46, 0.55),
          25: (0.54 + leg_spread, 0.72), 26: (0.46 - leg_spread, 0.72), 27: (0.55 + leg_spread, 0.9),
          28: (0.45 - leg_spread, 0.9)}
    for j, p in xy.items():
        lm[j, :2] = p
    for side, sh, el, wr in ((1, 11, 13, 15), (-1, 12, 14, 16)):
        d = np.array([side * np.sin(arm_angle), np.cos(arm_angle)])
        lm[el, :2] = lm[sh, :2] + 0.13 * d
        lm[wr, :2] = lm[el, :2] + 0.12 * d
    for j in range(1, 11):
        lm[j, :2] = lm[0, :2] + (0.01 * (j - 5), -0.01)
    for j, parent in ((17, 15), (19, 15), (21, 15), (18, 16), (20, 16), (22, 16),
                      (29, 27), (31, 27), (30, 28), (32, 28)):
        lm[j, :2] = lm[parent, :2] + (0, 0.02)
    return Skeleton(lm)


class SyntheticPoses:
    """Stands in for a VideoSkeleton: poses with distinct arm angles; each frame's image is its
    skeleton drawn on grey, so a network has something learnable to reproduce."""

    fps = 25.0

    def __init__(self, count=40, size=64):
        self.size = size
        self.ske = [standing_skeleton(arm_angle=0.1 + 2.5 * i / count) for i in range(count)]
        self.landmarks = np.stack([s.landmarks for s in self.ske])
        self.settings = {"frame_mod": 1}
        self.filename = "synthetic_poses.mp4"
        self.crop_size = size

    def ske_count(self):
        return len(self.ske)

    cached_frames_in = VideoSkeleton.cached_frames_in  # what they need: fps, settings
    cached_fps = VideoSkeleton.cached_fps

    def read_image(self, i, at_least=None):
        return self.ske[i].draw(np.full((self.size, self.size, 3), 120, np.uint8))

    def read_mask(self, i):
        """The person is whatever is not the grey background."""
        return (self.read_image(i) != 120).any(axis=2).astype(np.float32)

    def frame_index(self, i):
        return i
