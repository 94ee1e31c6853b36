"""DanceDemo as the course calls it, and live: a camera (or a file played as one) that drops the
frames the pipeline misses, generators switched by key, a camera that stops."""
import re
import threading
import time

import cv2
import numpy as np
import pytest

import DanceDemo as dance_demo
import frame_sources
import generators
from cli import UserError
from conftest import assert_one_line_error, run_script
from generator_api import Generator, Layers
from transfer import transfer


class Flat(Generator):
    """A stand-in generator: an opaque person of one flat level over the background it is given,
    optionally slow; counts its calls."""

    name = "flat"

    def __init__(self, level, seconds=0.0):
        self.level, self.seconds, self.calls = level, seconds, 0

    def layers(self, ske, background=None):
        self.calls += 1
        time.sleep(self.seconds)
        size = 64 if background is None else background.shape[0]
        person = np.full((size, size, 3), self.level, np.uint8)
        return Layers(person, np.ones((size, size), np.float32), background)


def frames_in(path):
    cap = cv2.VideoCapture(path)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    return count


def test_the_course_call_style_writes_the_video_and_returns_its_path(karate_clip, taichi_clip, tmp_path,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default output folder, out/, lands here
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    from DanceDemo import DanceDemo

    demo = DanceDemo(karate_clip, 1, target=taichi_clip)
    assert demo.target.ske_count() > 0 and hasattr(demo.generator, "generate")  # the course's names
    path = demo.draw()
    assert path == "out/karate_to_taichi_nearest.mp4"
    assert frames_in(str(tmp_path / path)) == 40 and demo.stats.shown == 40


def test_live_drops_the_frames_a_slow_pipeline_misses_and_never_reorders(karate_clip, taichi_clip):
    from VideoSkeleton import VideoSkeleton

    frames = frame_sources.open_frames(karate_clip, live=True)
    slow = Flat(100, seconds=0.15)  # ~6 fps against a 25 fps clip
    indices = [step.index for step in transfer(frames, VideoSkeleton(taichi_clip, verbose=False), slow)]
    assert frames.captured == 40 and frames.dropped > 10
    assert len(indices) + frames.dropped == 40  # every frame is either shown or dropped
    assert (np.diff(indices) > 0).all()  # in capture order
    assert len(indices) == slow.calls


def test_a_live_run_reports_what_it_showed_and_records_it(karate_clip, taichi_clip, tmp_path):
    out = str(tmp_path / "live.mp4")
    demo = dance_demo.DanceDemo(karate_clip, 1, target=taichi_clip, out=out, show=False, live=True,
                                progress=False)
    demo.generators.loaded[1] = Flat(100, seconds=0.1)
    assert demo.scene is not None  # the target in its own scene, as users see it
    demo.draw()
    stats = demo.stats
    assert stats.dropped > 0 and stats.shown + stats.dropped == 40
    assert frames_in(out) == stats.shown
    assert 0 < stats.latency_ms(50) <= stats.latency_ms(95) < 2000
    shown, dropped, fps, p50, p95 = map(float, re.findall(
        r"(\d+) frames shown, (\d+) dropped .*?, ([\d.]+) fps, latency p50 (\d+) ms, p95 (\d+) ms", stats.summary())[0])
    assert (shown, dropped) == (stats.shown, stats.dropped)
    assert fps == pytest.approx(stats.fps(), abs=0.06) and 1 < fps < 25
    assert p50 == round(stats.latency_ms(50)) and p95 == round(stats.latency_ms(95))


def test_keys_switch_generators_loading_each_once(karate_clip, taichi_clip, tmp_path, monkeypatch, capsys):
    loads = []

    def fake_load(gen_type, target_vs):
        if gen_type == 3:
            raise UserError("no trained vanilla-image model for this target")
        loads.append(gen_type)
        return Flat(50 * gen_type)

    monkeypatch.setattr(generators, "load_generator", fake_load)
    demo = dance_demo.DanceDemo(karate_clip, 1, target=taichi_clip, out=str(tmp_path / "keys.mp4"),
                                show=False, progress=False)
    assert demo.gen_type == 1 and loads == [1]
    demo.handle_key(ord("4"))  # loads in a thread; the current generator goes on meanwhile
    demo.generators.wait()
    assert demo.gen_type == 4 and loads == [1, 4]
    demo.handle_key(ord("1"))
    assert demo.gen_type == 1  # loaded before: at once
    demo.handle_key(ord("4"))
    assert demo.gen_type == 4 and loads == [1, 4]  # kept once loaded
    demo.handle_key(ord("3"))  # no model: says so, the current generator stays
    demo.generators.wait()
    assert demo.gen_type == 4 and "vanilla-image" in capsys.readouterr().err
    demo.handle_key(ord("9"))
    demo.handle_key(-1)  # no key pressed
    assert demo.gen_type == 4

    # mid-run: the first generator presses 2 on its 10th frame; later frames use the second
    demo.handle_key(ord("1"))
    first, second = demo.generators.loaded[1], Flat(200)
    demo.generators.loaded[2] = second
    calls_before = first.calls

    def layers_and_press(ske, background=None):
        if first.calls - calls_before == 10:
            demo.handle_key(ord("2"))
        return Flat.layers(first, ske, background)

    first.layers = layers_and_press
    demo.draw()
    assert first.calls - calls_before in (10, 11) and second.calls >= 28
    demo.handle_key(ord("q"))
    assert not demo.running


class StallingCamera:
    """A camera that delivers a few frames and then hangs, as an unplugged webcam can."""

    def __init__(self, frames):
        self.frames, self.released = list(frames), threading.Event()

    def read(self):
        if self.frames:
            time.sleep(0.04)
            return True, self.frames.pop(0)
        self.released.wait(30)
        return False, None

    def get(self, prop):
        return 25.0 if prop == cv2.CAP_PROP_FPS else 0

    def isOpened(self):
        return True

    def release(self):
        self.released.set()


def test_a_camera_that_stops_ends_the_run_and_keeps_the_recording(karate_clip, taichi_clip, tmp_path,
                                                                   monkeypatch, capsys):
    cap = cv2.VideoCapture(karate_clip)
    shots = [cap.read()[1] for _ in range(12)]
    cap.release()
    monkeypatch.setattr(dance_demo, "open_camera", lambda index: StallingCamera(shots))
    monkeypatch.setattr(frame_sources.LiveFrames, "stall_seconds", 0.5)
    out = str(tmp_path / "camera.mp4")
    demo = dance_demo.DanceDemo(0, 1, target=taichi_clip, out=out, show=False, progress=False)
    assert demo.live
    started = time.perf_counter()
    assert demo.draw() == out
    assert time.perf_counter() - started < 10
    assert "stopped delivering frames" in capsys.readouterr().err
    assert 0 < demo.stats.shown <= 12 and frames_in(out) == demo.stats.shown


def test_a_missing_camera_is_a_one_line_error():
    line = assert_one_line_error(run_script("DanceDemo.py", "--source", "7", "--no-window"))
    assert "camera 7" in line


@pytest.mark.parametrize("source", [0, "3"])
def test_camera_numbers_are_recognised(source):
    assert frame_sources.camera_index(source) == int(source)
    assert frame_sources.camera_index("data/demo_source.mp4") is None
