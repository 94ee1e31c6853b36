import re
import types

import cv2
import numpy as np
import pytest

from conftest import SyntheticPoses, assert_one_line_error, run_script, standing_skeleton
from retarget import BONE_TREE, Retargeter, bone_lengths
from GenNearest import GenNearest
from Skeleton import Skeleton


class FakeVideo(SyntheticPoses):
    """Poses with distinct arm angles; frame i's image is filled with the value i, so a test can
    tell which frame was returned."""

    def read_image(self, i, at_least=None):
        return np.full((32, 32, 3), i, np.uint8)


def test_nearest_finds_an_exact_match_and_ignores_translation_and_scale():
    video = FakeVideo()
    gen = GenNearest(video)
    for i in (0, 7, 39):
        assert gen.generate(video.ske[i])[0, 0, 0] == i
        moved = video.ske[i].transformed(1.3, (0.1, -0.05))
        assert gen.generate(moved)[0, 0, 0] == i


def test_temporal_mode_jumps_less_on_noisy_queries():
    video = FakeVideo(80)
    rng = np.random.default_rng(0)
    queries = []
    for i in range(10, 50):
        ske = Skeleton(video.ske[i].landmarks.copy())
        ske.landmarks[:, :2] += rng.normal(0, 0.01, (33, 2))
        queries.append(ske)
    jumps = {}
    for temporal in (False, True):
        gen = GenNearest(video, temporal=temporal)
        picks = [gen.nearest_index(q) for q in queries]
        jumps[temporal] = int(np.sum(np.diff(picks) != 1))
    assert jumps[True] < jumps[False]


def test_nearest_query_is_vectorised_over_a_subset():
    video = FakeVideo()
    gen = GenNearest(video, indices=np.arange(0, 40, 2))
    assert gen.generate(video.ske[9])[0, 0, 0] in (8, 10)


def target_video():
    return types.SimpleNamespace(landmarks=np.stack([standing_skeleton(a).landmarks for a in np.linspace(0.1, 2.5, 30)]))


def source_skeleton(scale, arm_factor=1.0, frame=(400, 600)):
    """A standing pose in a frame, `scale` times as big, with arms `arm_factor` times as long."""
    ske = standing_skeleton(arm_angle=1.0)
    for sh, el, wr in ((11, 13, 15), (12, 14, 16)):
        upper = ske.landmarks[el, :2] - ske.landmarks[sh, :2]
        lower = ske.landmarks[wr, :2] - ske.landmarks[el, :2]
        ske.landmarks[el, :2] = ske.landmarks[sh, :2] + upper * arm_factor
        ske.landmarks[wr, :2] = ske.landmarks[el, :2] + lower * arm_factor
    h, w = frame
    px = ske.landmarks[:, :2] * 300 * scale + (50, 20)  # pixels in the source frame
    ske.landmarks[:, :2] = px / np.array([w, h])
    return ske


def test_retargeting_puts_a_bigger_source_on_the_target_body():
    target = target_video()
    expected = np.percentile(np.array([bone_lengths(lm[:, :2]) for lm in target.landmarks]), 90, axis=0)
    for scale, arm_factor in ((2.0, 1.0), (0.5, 1.0), (1.0, 1.5)):
        retarget = Retargeter(target)
        out = retarget(source_skeleton(scale, arm_factor), (400, 600))
        np.testing.assert_allclose(bone_lengths(out.landmarks[:, :2]), expected, rtol=1e-4)
        np.testing.assert_allclose(out.torso_centre(), retarget.target_centre, atol=1e-5)
    # the direction of every bone is the source's
    src = source_skeleton(2.0)
    out = Retargeter(target)(src, (400, 600))
    src_px = src.landmarks[:, :2] * (600, 400)
    for parent, child in BONE_TREE[6:]:  # the limbs (their parents are real joints)
        a = out.landmarks[child, :2] - out.landmarks[parent, :2]
        b = src_px[child] - src_px[parent]
        cos = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
        assert cos > 0.9999


def test_retargeting_keeps_foreshortening_relative_to_the_source():
    target = target_video()
    retarget = Retargeter(target)
    for _ in range(10):  # full-length references
        retarget(source_skeleton(1.0), (400, 600))
    short = source_skeleton(1.0, arm_factor=0.5)
    out = retarget(short, (400, 600))
    full = bone_lengths(Retargeter(target)(source_skeleton(1.0), (400, 600)).landmarks[:, :2])
    np.testing.assert_allclose(bone_lengths(out.landmarks[:, :2])[6:8], full[6:8] * 0.5, rtol=0.02)


def test_a_surveyed_source_has_its_proportions_from_the_first_frame():
    """Learnt from its past alone, a source's first frame is its own reference: arms seen at half
    their length (foreshortened) come out at the target's full length. Primed with a survey of the
    file, the first frame already has the source's full-length arms to be compared with."""
    target = target_video()
    short = source_skeleton(1.0, arm_factor=0.5)
    full = bone_lengths(Retargeter(target)(source_skeleton(1.0), (400, 600)).landmarks[:, :2])
    alone = bone_lengths(Retargeter(target)(short, (400, 600)).landmarks[:, :2])
    np.testing.assert_allclose(alone[6:8], full[6:8], rtol=0.02)
    primed = Retargeter(target)
    primed.prime([(source_skeleton(1.0), (400, 600))] * 10)
    np.testing.assert_allclose(bone_lengths(primed(short, (400, 600)).landmarks[:, :2])[6:8], full[6:8] * 0.5,
                               rtol=0.02)
    primed.reset()
    np.testing.assert_allclose(bone_lengths(primed(short, (400, 600)).landmarks[:, :2])[6:8], full[6:8], rtol=0.02)


def test_a_file_is_surveyed_over_its_whole_length(tmp_path):
    """The survey reads frames spread from the first to the last, with a capture of its own: the
    transfer's frames still start at the first."""
    from conftest import write_clip
    from frame_sources import VideoFrames

    path = write_clip(tmp_path / "ramp.mp4", [np.full((64, 64, 3), 10 * i, np.uint8) for i in range(25)])
    frames = VideoFrames(path)
    levels = [int(np.median(f)) for f in frames.spread(5)]
    assert np.all(np.abs(np.array(levels) - 10 * np.array([0, 6, 12, 18, 24])) <= 4), levels  # a frame is 10
    assert int(np.median(next(iter(frames)).frame)) <= 2
    frames.close()


def test_a_file_source_is_surveyed_and_a_live_one_is_not(karate_clip, taichi_clip, monkeypatch):
    """The transfer primes the retargeting with frames spread over a file; a camera (or a file
    played as one) has nothing to survey and is learnt as it plays."""
    import transfer
    from frame_sources import open_frames
    from VideoSkeleton import VideoSkeleton

    surveyed = []
    monkeypatch.setattr(Retargeter, "prime", lambda self, survey: surveyed.append(len(survey)))
    target = VideoSkeleton(taichi_clip, verbose=False)
    for live in (False, True):
        steps = list(transfer.transfer(open_frames(karate_clip, live=live), target, GenNearest(target), limit=3))
        assert len(steps) >= 1
    assert surveyed[0] >= 30 and surveyed[1] == 0, surveyed  # the clip: 40 frames, a person in nearly all


def test_a_survey_made_once_serves_every_run_and_a_failed_one_closes_the_source(karate_clip, taichi_clip, monkeypatch):
    """Evaluate runs every generator over one source: the survey handed in is used as it is (the
    file is not read again for it). A survey that fails still closes the source it was reading."""
    import transfer
    from frame_sources import open_frames
    from VideoSkeleton import VideoSkeleton

    target = VideoSkeleton(taichi_clip, verbose=False)
    once = transfer.survey_file(karate_clip)
    assert len(once) >= 30
    primed = []
    monkeypatch.setattr(Retargeter, "prime", lambda self, survey: primed.append(survey))
    frames = open_frames(karate_clip)
    monkeypatch.setattr(frames, "spread", lambda count: pytest.fail("surveyed again"))
    assert len(list(transfer.transfer(frames, target, GenNearest(target), limit=2, surveyed=once))) == 2
    assert primed == [once]

    frames = open_frames(karate_clip)
    closed = []
    real_close = frames.close
    monkeypatch.setattr(frames, "close", lambda: closed.append(True) or real_close())

    def broken(count):
        raise OSError("the disk went away")

    monkeypatch.setattr(frames, "spread", broken)
    with pytest.raises(OSError):
        next(transfer.transfer(frames, target, GenNearest(target)))
    assert closed == [True]


def frames_in(path):
    cap = cv2.VideoCapture(path)
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    cap.release()
    return n, w


def test_demo_end_to_end_on_a_tiny_clip(karate_clip, taichi_clip, tmp_path):
    out = str(tmp_path / "dance.mp4")
    proc = run_script("DanceDemo.py", "--source", karate_clip, "--target", taichi_clip, "--gen", "1",
                      "--out", out, "--no-window")
    assert proc.returncode == 0, proc.stderr
    frames, missing, seconds, fps, path = re.search(
        r"(\d+) frames \((\d+) without a person\) in ([\d.]+) s, ([\d.]+) fps, generator nearest -> (\S+)",
        proc.stdout).groups()
    assert (int(frames), path) == (40, out) and int(missing) <= 2
    # the seconds are printed to 0.1 s: a sub-second run's fps is only known to that
    assert 40 / (float(seconds) + 0.05) * 0.99 <= float(fps) <= 40 / max(float(seconds) - 0.05, 1e-3) * 1.01
    n, w = frames_in(out)
    assert n == 40 and w > 512


def test_demo_video_keeps_the_frames_in_order(karate_clip, taichi_clip, tmp_path):
    """Generation and composing run in worker threads: every frame must still be written once,
    in source order, with its own generated image."""
    from DanceDemo import DanceDemo
    from generator_api import Generator, Layers

    class Counter(Generator):  # the k-th generated person is an opaque square of level 12 + 6 k
        name = "counter"

        def __init__(self):
            self.calls = 0

        def layers(self, ske, background=None):
            self.calls += 1
            size = background.shape[0]
            return Layers(np.full((size, size, 3), 12 + 6 * (self.calls - 1), np.uint8), None, background)

    out = str(tmp_path / "order.mp4")
    demo = DanceDemo(karate_clip, 1, target=taichi_clip, out=out, show=False, progress=False)
    generator = demo.generators.loaded[1] = Counter()
    assert demo.scene is not None  # the target in its scene, as users see it
    assert demo.draw() == out
    assert (demo.stats.shown, demo.stats.missing, generator.calls) == (40, 0, 40)
    cap = cv2.VideoCapture(out)
    levels = []
    while True:
        ok, panel = cap.read()
        if not ok:
            break
        right = panel[:, -round(demo.scene.plate.shape[1] * 512 / demo.scene.plate.shape[0]):]
        levels.append(np.median(right[200:320, right.shape[1] // 2 - 40:right.shape[1] // 2 + 40]))  # the square
    assert len(levels) == 40
    np.testing.assert_allclose(levels, 12 + 6 * np.arange(40), atol=5)  # mp4v shifts levels by a few
    assert (np.diff(levels) > 3).all()


def test_demo_source_without_a_person_gives_a_placeholder_video(blank_clip, taichi_clip, tmp_path):
    out = str(tmp_path / "empty.mp4")
    proc = run_script("DanceDemo.py", "--source", blank_clip, "--target", taichi_clip, "--out", out,
                      "--gen", "1", "--no-window")
    assert proc.returncode == 0, proc.stderr
    assert "no person was found" in proc.stdout
    assert frames_in(out)[0] == 8


def test_demo_bad_input(taichi_clip, tmp_path):
    line = assert_one_line_error(run_script("DanceDemo.py", "--source", str(tmp_path / "nope.mp4"),
                                            "--target", taichi_clip, "--no-window"))
    assert "nope.mp4" in line
    notes = tmp_path / "notes.mp4"
    notes.write_text("hello")
    assert "notes.mp4" in assert_one_line_error(run_script("DanceDemo.py", "--source", taichi_clip, "--target", str(notes), "--no-window"))
    assert "unknown" in assert_one_line_error(run_script("DanceDemo.py", "--gen", "7", "--no-window"))
    line = assert_one_line_error(run_script("DanceDemo.py", "--source", taichi_clip, "--target", taichi_clip,
                                            "--gen", "2", "--no-window"))
    assert "GenVanillaNN.py" in line


def test_nearest_self_check_cli(taichi_clip, tmp_path):
    out = tmp_path / "check.png"
    proc = run_script("GenNearest.py", taichi_clip, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "12 held-out frames" in proc.stdout
    sheet = cv2.imread(str(out))
    from VideoSkeleton import VideoSkeleton

    assert sheet.shape[1] == 2 * VideoSkeleton(taichi_clip, verbose=False).crop_size  # real | retrieved


def test_the_demo_puts_the_target_in_its_scene_and_follows_the_source(karate_clip, taichi_clip):
    """Everybody Dance Now's global normalisation: a source who steps left makes the target step
    left in the target's scene, and the target's feet stay on the target's floor."""
    from conftest import standing_skeleton
    from retarget import make_scene
    from GenNearest import GenNearest
    from Skeleton import Skeleton
    from VideoSkeleton import VideoSkeleton

    target_vs = VideoSkeleton(taichi_clip, verbose=False)
    scene = make_scene(target_vs)
    x0, y0, x1, y1 = target_vs.meta["active_area"]  # the picture inside the video's letterbox
    assert scene is not None and abs(scene.plate.shape[0] - (y1 - y0)) <= 4 and abs(scene.plate.shape[1] - (x1 - x0)) <= 8
    retarget = Retargeter(target_vs)
    frame_shape = (360, 640)

    def source_at(dx):  # a standing person in a 640 x 360 frame, dx of the frame width to the side
        lm = standing_skeleton().landmarks.copy()
        lm[:, 0] = 0.5 + (lm[:, 0] - 0.5) * 360 / 640 * 0.8 + dx
        lm[:, 1] = 0.1 + lm[:, 1] * 0.8
        return Skeleton(lm)

    boxes = {}
    for dx in (0.0, -0.15, 0.15, 0.0, -0.15):
        source = source_at(dx)
        boxes[dx] = scene.place(source, frame_shape, retarget(source, frame_shape))
    assert boxes[-0.15][0] < boxes[0.0][0] - 20 < boxes[0.15][0] - 40  # left is left, right is right
    target = retarget(source_at(0.0), frame_shape)
    feet = boxes[0.0][1] + max(target.landmarks[27, 1], target.landmarks[28, 1]) * boxes[0.0][2]
    assert scene.feet_range[0] - 5 <= feet <= scene.feet_range[1] + 5
    crop, full = scene.render(GenNearest(target_vs, temporal=True), source_at(0.0), frame_shape, target)
    assert crop.shape == (target_vs.crop_size,) * 2 + (3,) and full.shape == scene.plate.shape
    changed = np.abs(full.astype(int) - scene.plate).sum(axis=2) > 30
    ys, xs = np.nonzero(changed)
    assert changed.mean() > 0.02  # the person is in the scene...
    x0, y0, side = boxes[0.0]
    assert x0 - 2 <= xs.min() and xs.max() <= x0 + side + 2  # ...inside their box, nowhere else
    assert y0 - 2 <= ys.min() and ys.max() <= y0 + side + 2
    # learnt from its past alone, a first frame is the middle of the source's range: the target
    # stands at its own middle; primed with a survey of the source, the first frame is known to
    # be on the source's right
    for primed in (False, True):
        scene.reset()
        if primed:
            scene.prime([(source_at(dx), frame_shape) for dx in np.linspace(-0.15, 0.15, 9)])
        boxes[primed] = scene.place(source_at(0.15), frame_shape, retarget(source_at(0.15), frame_shape))
    assert boxes[True][0] > boxes[False][0] + 20


def test_a_scene_rendered_at_the_panel_height_is_the_full_scene_shrunk(karate_clip, taichi_clip):
    """The demo renders the scene at the height it shows it: the person made at that size, over
    the plate shrunk once, is the full-size scene shrunk to the panel, within a few grey levels,
    and at the same place."""
    from conftest import standing_skeleton
    from geometry import resize
    from GenNearest import GenNearest
    from retarget import Retargeter, make_scene
    from VideoSkeleton import VideoSkeleton

    target_vs = VideoSkeleton(taichi_clip, verbose=False)
    full_scene = make_scene(target_vs)
    height = full_scene.plate.shape[0] // 2
    small_scene = make_scene(target_vs, height=height)
    assert small_scene.canvas.shape[0] == height and make_scene(target_vs, height=10_000).canvas is full_scene.plate
    frame_shape = (360, 640)
    source = standing_skeleton()
    target = Retargeter(target_vs)(source, frame_shape)
    generator = GenNearest(target_vs, temporal=False)
    _, full = full_scene.render(generator, source, frame_shape, target)
    _, small = small_scene.render(generator, source, frame_shape, target)
    assert small.shape == small_scene.canvas.shape
    shrunk = resize(full, small.shape[1], small.shape[0]).astype(int)
    assert np.abs(small.astype(int) - shrunk).mean() < 3
    moved = lambda image, plate: np.abs(image.astype(int) - plate).sum(axis=2) > 30  # noqa: E731
    mask_small, mask_full = moved(small, small_scene.canvas), moved(shrunk, small_scene.canvas)
    assert mask_small.mean() > 0.01 and (mask_small & mask_full).sum() > 0.8 * mask_full.sum()
