"""Shared fixtures: small clips made by the tests or cut at run time from ../shared/data."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

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


@pytest.fixture
def blank_clip(tmp_path):
    """A valid video with no person in it."""
    rng = np.random.default_rng(0)
    frames = [np.full((120, 160, 3), 90, np.uint8) + rng.integers(0, 20, (120, 160, 3), dtype=np.uint8)
              for _ in range(8)]
    return write_clip(tmp_path / "empty_room.mp4", frames)


def run_script(*args, timeout=300):
    """Run one of the project's scripts as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def assert_one_line_error(proc):
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]
