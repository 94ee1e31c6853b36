import os
import pathlib
import re

import cv2
import numpy as np
import pytest

import Skeleton as skeleton_module
from conftest import assert_one_line_error, cut_clip, run_script, shared_video, write_clip
from cache_builder import detection_scale
from geometry import CROP_SCALE, crop_box, cut_square
from Skeleton import Skeleton, body_height, reset_video_tracking, torso_centre
from VideoSkeleton import VideoSkeleton


@pytest.fixture(scope="module")
def taichi_cache(taichi_clip):
    return VideoSkeleton(taichi_clip, force_compute=True, verbose=False)


def test_real_person_is_found_in_almost_every_frame(taichi_cache):
    m = taichi_cache.meta
    assert m["frames_read"] == 60
    assert m["count"] >= 0.95 * 60
    assert m["count"] + m["frames_skipped"] == 60


def test_crops_are_square_and_the_person_is_centred_on_the_torso(taichi_cache):
    vs = taichi_cache
    for i in range(0, vs.ske_count(), 10):
        crop = vs.read_image(i)
        assert crop.shape == (vs.crop_size, vs.crop_size, 3) and crop.dtype == np.uint8
        centre = vs.ske[i].torso_centre()
        assert abs(centre[0] - 0.5) < 0.02
        (x0, y0), (x1, y1) = vs.ske[i].landmarks[:, :2].min(axis=0), vs.ske[i].landmarks[:, :2].max(axis=0)
        assert x0 > -0.05 and x1 < 1.05 and y0 > -0.05 and y1 < 1.05  # the whole person is inside
    sides = vs.crop_boxes[:, 2]
    assert np.ptp(sides) / sides.mean() < 0.05  # a static camera: (nearly) the same side everywhere
    assert np.all(np.diff(vs.frame_indices) > 0)
    # stored at the crop's own size in the video (rounded to 16 px): as sharp as the video
    assert abs(vs.crop_size - np.median(sides)) <= 8 and vs.crop_size % 16 == 0


def test_a_given_crop_size_is_kept(taichi_clip, tmp_path):
    video = tmp_path / "sized.mp4"
    video.write_bytes(open(taichi_clip, "rb").read())
    vs = VideoSkeleton(str(video), crop_size=200, verbose=False)
    assert vs.crop_size == 200 and vs.read_image(0).shape == (200, 200, 3) and vs.read_mask(0).shape == (200, 200)
    assert vs.read_image(0, at_least=64).shape == (100, 100, 3)  # decoded at half size: still at least 64


def test_crop_and_ske_reproduces_the_cache(taichi_cache, taichi_clip):
    vs = taichi_cache
    cap = cv2.VideoCapture(taichi_clip)
    cap.set(cv2.CAP_PROP_POS_FRAMES, vs.frame_index(0))
    ok, frame = cap.read()
    crop, ske = vs.crop_and_ske(frame, video=False)
    assert crop.shape == (vs.crop_size, vs.crop_size, 3)
    assert np.abs(ske.reduced() - vs.ske[0].reduced()).mean() < 0.02


def test_the_crop_follows_a_zoom(tmp_path):
    """50 frames as filmed, a zoom to 1.5x over 50 frames, 50 frames zoomed in: the person keeps
    her size in the crops."""
    from conftest import shared_video

    cap = cv2.VideoCapture(shared_video("taichi2.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
    frames = []
    for i in range(150):
        ok, frame = cap.read()
        frame = cv2.resize(frame, (480, 360), interpolation=cv2.INTER_AREA)
        zoom = 1.0 + 0.5 * min(1.0, max(0.0, (i - 50) / 50))
        big = cv2.resize(frame, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_LINEAR)
        y0, x0 = (big.shape[0] - 360) // 2, (big.shape[1] - 480) // 2
        frames.append(big[y0:y0 + 360, x0:x0 + 480])
    vs = VideoSkeleton(write_clip(tmp_path / "zoom.mp4", frames), verbose=False)
    sides = vs.crop_boxes[:, 2]
    assert sides[-10:].mean() / sides[:10].mean() == pytest.approx(1.5, abs=0.1)
    heights = [body_height(lm[:, :2]) for lm in vs.landmarks]  # in crop units
    assert np.mean(heights[-10:]) / np.mean(heights[:10]) == pytest.approx(1.0, abs=0.1)
    # the background registration sees the same zoom: one shot, zoomed frames map 1/1.5 down
    assert vs.meta["segments"] == 1
    assert vs.transforms[-1][0, 0] / vs.transforms[0][0, 0] == pytest.approx(1 / 1.5, abs=0.03)


def test_crop_box_does_not_move_when_an_arm_goes_up():
    xy = np.zeros((33, 2), np.float32)
    xy[[11, 12, 23, 24]] = [(110, 100), (90, 100), (108, 160), (92, 160)]
    xy[[13, 15]] = [(130, 130), (135, 160)]
    raised = xy.copy()
    raised[[13, 15]] = [(125, 70), (130, 30)]
    np.testing.assert_array_equal(crop_box(torso_centre(xy), 200), crop_box(torso_centre(raised), 200))
    assert crop_box(torso_centre(xy), 200)[2] == pytest.approx(CROP_SCALE * 200)


def test_cut_square_pads_at_the_borders_without_distortion():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[:, :, 0] = np.arange(200)[None, :] % 256
    frame[:, :, 1] = np.arange(100)[:, None]
    inside = cut_square(frame, (50, 20, 40), 40)
    np.testing.assert_array_equal(inside, frame[20:60, 50:90])
    corner = cut_square(frame, (-30, -30, 60), 60)  # top-left, half outside
    assert corner.shape == (60, 60, 3)
    np.testing.assert_array_equal(corner[30:, 30:], frame[:30, :30])
    np.testing.assert_array_equal(corner[:30, 30:], np.repeat(frame[:1, :30], 30, axis=0))
    bigger = cut_square(frame, (150, 60, 120), 64)  # bottom-right, larger than the frame height
    assert bigger.shape == (64, 64, 3)


def test_cache_is_reused_and_rebuilt_on_other_settings(karate_clip, capsys):
    first = VideoSkeleton(karate_clip, force_compute=True, verbose=False)
    again = VideoSkeleton(karate_clip, verbose=False)
    assert again.reused and again.ske_count() == first.ske_count()
    np.testing.assert_array_equal(again.landmarks, first.landmarks)
    np.testing.assert_array_equal(again.read_image(3), first.read_image(3))
    other = VideoSkeleton(karate_clip, frame_mod=2, verbose=True)
    assert not other.reused
    assert other.ske_count() <= 20
    assert "other settings" in capsys.readouterr().err
    assert VideoSkeleton(karate_clip, frame_mod=2, verbose=False).reused


def test_a_cache_of_an_older_format_is_rebuilt_with_a_message(karate_clip, capsys):
    import json

    vs = VideoSkeleton(karate_clip, verbose=False)
    meta_path = os.path.join(vs.cache_dir, "meta.json")
    meta = json.load(open(meta_path))
    meta["format_version"] = 2  # before masks and plates
    json.dump(meta, open(meta_path, "w"))
    rebuilt = VideoSkeleton(karate_clip, verbose=True)
    assert not rebuilt.reused and "older format" in capsys.readouterr().err
    assert rebuilt.read_mask(0).shape == (rebuilt.crop_size, rebuilt.crop_size)


def test_corrupt_cache_is_detected_and_rebuilt(karate_clip, capsys):
    vs = VideoSkeleton(karate_clip, verbose=False)
    with open(os.path.join(vs.cache_dir, "skeletons.npz"), "wb") as f:
        f.write(b"not an npz")
    rebuilt = VideoSkeleton(karate_clip, verbose=False)
    assert not rebuilt.reused and rebuilt.ske_count() == vs.ske_count()
    assert "corrupt" in capsys.readouterr().err


def test_interrupted_build_leaves_no_cache(karate_clip, tmp_path, monkeypatch):
    video = tmp_path / "interrupted.mp4"
    video.write_bytes(open(karate_clip, "rb").read())
    calls = {"n": 0}
    real = skeleton_module.Skeleton.from_image_with_mask

    def flaky(self, image, video=False, segmentation=True, smooth=True):
        calls["n"] += 1
        if calls["n"] > 8:  # mid-detection (the first calls measure the body: detection_scale)
            raise KeyboardInterrupt
        return real(self, image, video, segmentation, smooth)

    monkeypatch.setattr(skeleton_module.Skeleton, "from_image_with_mask", flaky)
    with pytest.raises(KeyboardInterrupt):
        VideoSkeleton(str(video), verbose=False)
    assert os.listdir(tmp_path) == ["interrupted.mp4"]


def test_cli_prints_the_summary_and_reuses_the_cache(karate_clip, tmp_path):
    video = tmp_path / "cli.mp4"
    video.write_bytes(open(karate_clip, "rb").read())
    first = run_script("VideoSkeleton.py", str(video))
    assert first.returncode == 0, first.stderr
    read, found, skipped = map(int, re.search(r"(\d+) frames read, (\d+) skeletons found, (\d+) frames skipped",
                                              first.stdout).groups())
    meta = VideoSkeleton(str(video), verbose=False).meta
    assert (read, found, skipped) == (40, meta["count"], meta["frames_skipped"]) and found + skipped == 40
    second = run_script("VideoSkeleton.py", str(video))
    assert second.returncode == 0 and "cache reused" in second.stdout


def _bad_videos(folder, blank_clip):
    folder.mkdir()
    missing = folder / "missing.mp4"
    noise = folder / "noise.mp4"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    text = folder / "notes.mp4"
    text.write_text("this is not a video\n")
    empty = folder / "zero_frames.mp4"
    cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 64)).release()
    return {"missing": missing, "noise": noise, "text": text, "zero frames": empty,
            "no person": pathlib.Path(blank_clip)}


def test_bad_inputs_give_one_line_errors_and_no_cache(tmp_path, blank_clip):
    for name, path in _bad_videos(tmp_path / "bad", blank_clip).items():
        proc = run_script("VideoSkeleton.py", str(path))
        line = assert_one_line_error(proc)
        assert str(path.name) in line or name == "no person", line
        cache = os.path.splitext(str(path))[0]
        assert not os.path.exists(cache), name
    assert not [p for p in os.listdir(tmp_path / "bad") if p.startswith(".")]
    assert "no person" in assert_one_line_error(run_script("VideoSkeleton.py", str(blank_clip)))


def test_bad_settings_are_refused(karate_clip):
    assert "frame-mod" in assert_one_line_error(run_script("VideoSkeleton.py", karate_clip, "--frame-mod", "0"))


def test_large_frames_are_detected_shrunk_and_give_the_same_landmarks(tmp_path):
    """A 960x720 real video: MediaPipe sees it at half size (the body stays over 140 px tall), and
    the landmarks match those found in the full frames to a fraction of a percent of the body."""
    clip = cut_clip(shared_video("taichi2.mp4"), tmp_path / "large.mp4", 300, 30)
    vs = VideoSkeleton(clip, verbose=False)
    assert vs.meta["detection_scale"] == pytest.approx(0.5)
    assert vs.meta["mask_shape"] == [360, 480] and vs.read_mask(0).shape == (512, 512)  # the crop's own 546 px, at most 512
    cap = cv2.VideoCapture(clip)
    reset_video_tracking()
    ske, shifts = Skeleton(), []
    for i in range(vs.ske_count()):
        ok, frame = cap.read()
        assert ok and ske.from_image(frame, video=True)
        x0, y0, side = vs.crop_boxes[i]
        cached = vs.ske[i].landmarks[:, :2] * side + [x0, y0]  # crop -> frame pixels
        full = ske.landmarks[:, :2] * [960, 720]
        height = body_height(full)
        shifts.append(np.median(np.linalg.norm(cached - full, axis=1)) / height)
    reset_video_tracking()
    assert np.median(shifts) < 0.006, np.median(shifts)


def test_the_body_not_the_frame_sets_how_much_detection_shrinks():
    """A 960x720 frame shrinks to the masks' 480 px; the same frame inside a 1920x1080 one shrinks
    only until the body is 140 px tall; at a quarter size it is not shrunk at all; nor is a frame
    with nobody in the probes."""
    cap = cv2.VideoCapture(shared_video("taichi2.mp4"))
    frames = [cap.read()[1] for _ in range(3)]
    assert detection_scale(frames, 960) == pytest.approx(0.5)

    def inside_large_frame(frame, size):
        canvas = np.full((1080, 1920, 3), 90, np.uint8)
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        canvas[100:100 + size[1], 400:400 + size[0]] = small
        return canvas

    large = [inside_large_frame(f, (960, 720)) for f in frames]
    heights = [body_height(s.landmarks[:, :2] * [1920, 1080]) for s in [Skeleton() for _ in large]
               if s.from_image(large[0])]
    assert detection_scale(large, 1920) == pytest.approx(140 / heights[0], rel=0.15)
    assert 480 / 1920 < detection_scale(large, 1920) < 0.75
    assert detection_scale([inside_large_frame(f, (240, 180)) for f in frames], 1920) == 1.0
    assert detection_scale([np.full((720, 960, 3), 90, np.uint8)] * 3, 960) == 1.0
