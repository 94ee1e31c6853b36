"""Background plates: registration, the plate itself, the cache's masks and plates, and the
fallbacks when a video has none."""
import os

import cv2
import numpy as np
import pytest

import geometry
import plates
import registration
from conftest import REPO, cut_clip, shared_video, write_clip


def textured_background(width=900, height=400, seed=0):
    """A scene with structure at every scale, like a room: blobs, edges and fine grain."""
    rng = np.random.default_rng(seed)
    coarse = cv2.resize(rng.uniform(40, 220, (height // 20, width // 20, 3)).astype(np.float32), (width, height),
                        interpolation=cv2.INTER_CUBIC)
    fine = rng.normal(0, 12, (height, width, 3)).astype(np.float32)
    return np.clip(coarse + cv2.GaussianBlur(fine, (3, 3), 0), 0, 255).astype(np.uint8)


def panning_frames(count=30, step=6, width=320, height=240):
    """A camera panning right over a textured scene with a grey 'person' walking along; returns
    frames, person masks and the true pan of each frame."""
    scene = textured_background()
    frames, masks, pans = [], [], []
    for k in range(count):
        pan = k * step
        frame = scene[60:60 + height, pan:pan + width].copy()
        mask = np.zeros((height, width), np.uint8)
        x = 120 + 2 * k
        mask[60:220, x:x + 50] = 255
        frame[mask > 0] = 128
        frames.append(frame)
        masks.append(mask)
        pans.append(pan)
    return frames, masks, pans, scene


def test_registration_follows_a_pan_and_the_plate_removes_the_person():
    frames, masks, pans, scene = panning_frames()
    registrar = registration.Registrar(frames[0].shape)
    results = [registrar.add(f, m) for f, m in zip(frames, masks)]
    assert {segment for segment, _ in results} == {0}
    for (_, transform), pan in zip(results, pans):
        assert transform[0, 0] == pytest.approx(1.0, abs=0.01)
        assert transform[0, 2] == pytest.approx(pan, abs=1.0)  # this frame's x + pan = the first frame's x
        assert abs(transform[1, 2]) < 1.0
    plate, unseen, origin = plates.build_plate(frames, masks, [t for _, t in results], (0, 0, 320, 240))
    ox, oy = round(origin[0]), round(origin[1])
    assert abs(ox) <= 2 and abs(oy) <= 2 and plate.shape[1] >= 320 + pans[-1] - 4  # the pan widens the plate
    truth = scene[60 + oy:60 + oy + plate.shape[0], ox:ox + plate.shape[1]]
    plate, unseen = plate[:truth.shape[0], :truth.shape[1]], unseen[:truth.shape[0], :truth.shape[1]]
    seen = ~unseen
    error = np.abs(plate.astype(int) - truth)[seen].mean()
    assert error < 6, error  # the grey person is gone: the plate is the scene
    assert not unseen[2:-2, 2:100].any()  # the person walked on: what they hid was seen later


def test_a_cut_starts_a_new_segment_and_a_plain_wall_stays_still():
    frames, masks, _, _ = panning_frames(count=6)
    other = textured_background(seed=5)[:240, :320]
    registrar = registration.Registrar(frames[0].shape)
    segments = [registrar.add(f, m)[0] for f, m in zip(frames + [other, other], masks + [None, None])]
    assert segments == [0] * 6 + [1, 1]
    wall = np.full((240, 320, 3), 180, np.uint8)
    registrar = registration.Registrar(wall.shape)
    assert [registrar.add(wall, None)[0] for _ in range(3)] == [0, 0, 0]


def frames_and_person_masks(clip):
    """Every frame of `clip` and MediaPipe's person mask of it (uint8, 1 = person), as the cache keeps it."""
    from Skeleton import Skeleton, reset_video_tracking
    from cache_builder import mask_shape, small_mask
    cap = cv2.VideoCapture(clip)
    frames, masks = [], []
    reset_video_tracking()
    ske = Skeleton()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        found, mask = ske.from_image_with_mask(frame, video=True)
        assert found
        frames.append(frame)
        masks.append((small_mask(mask, mask_shape(frame.shape)) > 127).astype(np.uint8))
    reset_video_tracking()
    return frames, masks


def test_a_still_camera_on_blocky_video_stays_one_shot(tmp_path):
    """The shipped target re-encoded as MPEG-4 part 2 (blocky), the person masked by MediaPipe:
    a tripod shot. Optical flow with too small a window lost the background here and cut it
    into 17 'shots'."""
    clip = cut_clip(os.path.join(REPO, "data", "demo_target.mp4"), tmp_path / "blocky.mp4", 140, 120)
    frames, masks = frames_and_person_masks(clip)
    registrar = registration.Registrar(frames[0].shape)
    results = [registrar.add(f, m) for f, m in zip(frames, masks)]
    assert {segment for segment, _ in results} == {0}
    assert all(np.allclose(transform, np.eye(2, 3)) for _, transform in results)


def test_a_pan_over_a_plain_wall_is_followed(tmp_path):
    """Real footage panning and zooming past a plain wall (taichi2.mp4 from 440): each 5-frame
    step of the registration agrees with the motion measured directly between the two frames.
    The picture test alone took this pan for a still camera after 20 px (a plain wall barely
    changes) and the plate of the rest of the shot was off by 50 px."""
    clip = cut_clip(shared_video("taichi2.mp4"), tmp_path / "pan.mp4", 440, 200, scale=0.5)
    frames, masks = frames_and_person_masks(clip)
    registrar = registration.Registrar(frames[0].shape)
    registrar.set_active_area(registration.active_area(frames[::10]))
    results = [registrar.add(f, m) for f, m in zip(frames, masks)]
    assert {segment for segment, _ in results} == {0}
    grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    x0, y0, x1, y1 = registration.active_area(frames[::10])
    h, w = grey[0].shape
    box = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64)
    errors = []
    for i in range(0, len(frames) - 5, 5):
        j = i + 5
        background = np.zeros((h, w), np.uint8)
        background[y0 + 8:y1 - 8, x0 + 8:x1 - 8] = 255
        background[cv2.dilate(masks[i], np.ones((31, 31), np.uint8)) > 0] = 0
        corners = cv2.goodFeaturesToTrack(grey[i], 400, 0.003, 5, mask=background)
        there, status, _ = cv2.calcOpticalFlowPyrLK(grey[i], grey[j], corners, None, winSize=(21, 21), maxLevel=3)
        back, status_back, _ = cv2.calcOpticalFlowPyrLK(grey[j], grey[i], there, None, winSize=(21, 21), maxLevel=3)
        good = ((status.ravel() == 1) & (status_back.ravel() == 1)
                & (np.linalg.norm((back - corners).reshape(-1, 2), axis=1) < 0.5))
        measured, _ = cv2.estimateAffinePartial2D(there.reshape(-1, 2)[good], corners.reshape(-1, 2)[good],
                                                  method=cv2.RANSAC, ransacReprojThreshold=1.0)
        registered = np.linalg.inv(np.vstack([results[i][1], [0, 0, 1]])) @ np.vstack([results[j][1], [0, 0, 1]])
        errors.append(np.abs(box @ registered[:2].T - box @ measured.T).max())
    assert max(errors) < 6, np.round(errors, 1)  # px at 480x360 (3.3 here); the picture test alone: 25


def test_shrink_matches_an_area_resize():
    """The fast shrink (linear to a whole multiple, then area) against OpenCV's area resize."""
    image = textured_background(900, 400)[:, :700][:400, :400]
    for side in (400, 300, 257):
        patch = cv2.resize(image, (side, side), interpolation=cv2.INTER_LINEAR)
        for size in (64, 128, 256):
            if side <= size:
                continue
            fast = geometry.resize(patch, size).astype(np.float64)
            area = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA).astype(np.float64)
            assert fast.shape == area.shape == (size, size, 3)
            psnr = 10 * np.log10(255 ** 2 / max(np.mean((fast - area) ** 2), 1e-9))
            assert psnr > 52, (side, size, psnr)  # a plain linear resize: 37-50 dB here


def test_masked_median_and_composite():
    samples = np.array([[[[10] * 3]], [[[200] * 3]], [[[30] * 3]], [[[20] * 3]]], np.uint8)
    valid = np.array([[[True]], [[False]], [[True]], [[True]]])
    median, count = plates.masked_median(samples, valid)
    assert median[0, 0, 0] == 20 and count[0, 0] == 3
    person = np.full((4, 4, 3), 200, np.uint8)
    background = np.zeros((4, 4, 3), np.uint8)
    alpha = np.zeros((4, 4), np.float32)
    alpha[:2] = 1
    out = geometry.composite(person, alpha, background)
    assert (out[:2] == 200).all() and (out[2:] == 0).all()


def test_the_cache_has_masks_and_plates_that_match_the_real_background(karate_clip):
    from VideoSkeleton import VideoSkeleton

    vs = VideoSkeleton(karate_clip, verbose=False)
    train, held = vs.split(0.25)
    made = vs.plates(len(train))
    assert made is not None and vs.plates(len(train)) is made  # built once
    for i in (0, held[-1]):
        crop, mask = vs.read_image(i), vs.read_mask(i) > 0.5
        x, y = (vs.ske[i].torso_centre() * vs.crop_size).astype(int)
        assert mask[y, x] and 0.05 < mask.mean() < 0.6
        background = made.crop(i, vs.crop_boxes[i], vs.crop_size)
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((15, 15))) > 0
        error = np.abs(background.astype(int) - crop)[~grown].mean()
        assert error < 12, (i, error)  # the plate shows what is behind the person, held-out frames too
    again = VideoSkeleton(karate_clip, verbose=False).plates(len(train))  # read back from the cache
    np.testing.assert_array_equal(again.crop(3, vs.crop_boxes[3], 64), made.crop(3, vs.crop_boxes[3], 64))


def test_a_spread_stays_even_and_bounded():
    spread = plates.Spread(5)
    for i in range(1000):
        spread.add(i)
        assert len(spread.kept) <= 10
    picks = spread.items()
    assert len(picks) == 5 and picks[0] == 0 and picks[-1] > 800
    assert np.ptp(np.diff(picks)) <= spread.stride  # evenly spaced
    short = plates.Spread(5)
    for i in range(3):
        short.add(i)
    assert short.items() == [0, 1, 2]


def test_the_cache_build_makes_the_plates_of_all_frames_as_a_split_would(karate_clip, monkeypatch):
    """The plates built while the video is read are those the held-out path builds from a second
    decoding of the same frames, and using them decodes nothing."""
    import shutil

    import cache_builder
    from VideoSkeleton import VideoSkeleton

    vs = VideoSkeleton(karate_clip, verbose=False)
    folder = os.path.join(vs.cache_dir, cache_builder.plates_folder(vs.ske_count()))
    assert os.path.isdir(folder)
    with monkeypatch.context() as patched:
        patched.setattr(cache_builder, "read_frames", None)  # any decoding would fail
        built_while_reading = vs.plates()
    shutil.rmtree(folder)
    vs._plates = {}
    built_again = vs.plates()
    assert built_while_reading.built.keys() == built_again.built.keys()
    for segment, plate in built_again.built.items():
        np.testing.assert_array_equal(plate.image, built_while_reading.built[segment].image)
        assert plate.origin == built_while_reading.built[segment].origin


def test_a_video_of_cuts_has_no_plate_and_still_trains(karate_clip, taichi_clip, tmp_path, capsys):
    """Shots of two videos cut every 3 frames: no background holds still; a warning says what is
    done instead, the GAN trains without plates, and the demo shows crops."""
    from conftest import run_script
    from retarget import make_scene
    from VideoSkeleton import VideoSkeleton

    def frames(path, size=(320, 240)):
        cap = cv2.VideoCapture(path)
        out = []
        while len(out) < 24:
            ok, frame = cap.read()
            if not ok:
                break
            out.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
        return out

    a, b = frames(karate_clip), frames(taichi_clip)
    cuts = [f for k in range(0, 24, 3) for f in a[k:k + 3] + b[k:k + 3]]
    video = write_clip(tmp_path / "cuts.mp4", cuts)
    vs = VideoSkeleton(video, verbose=False)
    assert vs.plates() is None and "never holds still" in capsys.readouterr().err
    assert make_scene(vs) is None
    proc = run_script("GenGAN.py", video, "--size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "4",
                      "--epochs", "1", cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "never holds still" in proc.stderr and "Traceback" not in proc.stderr
    import torch

    saved = torch.load(tmp_path / "models" / "cuts_gan.pt", weights_only=True)
    assert saved["config"]["plates"] is False


def test_generators_paint_a_person_and_a_mask_over_the_plate(taichi_clip, tmp_path):
    """With plates (the default) a learnt generator's output is its person composited with its own
    soft mask over the background it is given; without (--no-plates, or a checkpoint from
    before plates) it paints the whole crop, and the demo pastes that as it is."""
    from conftest import run_script, standing_skeleton
    from GenVanillaNN import GenVanillaNN
    from geometry import composite
    from retarget import Retargeter, make_scene
    from VideoSkeleton import VideoSkeleton

    common = ["--variant", "image", "--size", "32", "--ngf", "8", "--batch-size", "4", "--epochs", "1"]
    for extra, name in (([], "with.pt"), (["--no-plates"], "without.pt")):
        proc = run_script("GenVanillaNN.py", taichi_clip, *common, *extra, "--out", str(tmp_path / name),
                          cwd=str(tmp_path))
        assert proc.returncode == 0, proc.stderr
    vs = VideoSkeleton(taichi_clip, verbose=False)
    with_plates = GenVanillaNN(vs, variant="image", path=str(tmp_path / "with.pt"))
    without = GenVanillaNN(vs, variant="image", path=str(tmp_path / "without.pt"))
    assert with_plates.uses_plates and not without.uses_plates
    ske = vs.ske[10]
    red, blue = np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)  # any size: resized to 32
    red[:, :, 2], blue[:, :, 0] = 255, 255
    person, alpha, background, _ = with_plates.layers(ske, red)
    assert person.shape == (32, 32, 3) and alpha.shape == (32, 32) and 0 <= alpha.min() <= alpha.max() <= 1
    np.testing.assert_array_equal(with_plates.generate(ske, red), composite(person, alpha, background))
    person, alpha, background, _ = with_plates.layers(ske, blue)
    np.testing.assert_array_equal(with_plates.generate(ske, blue), composite(person, alpha, background))
    assert np.abs(with_plates.generate(ske, red).astype(int) - with_plates.generate(ske, blue)).mean() > 5
    assert with_plates.generate(ske).shape == (32, 32, 3)  # no background given: the scene's own
    plain = without.generate(ske)
    np.testing.assert_array_equal(without.generate(ske, red), plain)  # a whole crop ignores backgrounds
    scene = make_scene(vs)
    source = standing_skeleton()
    target = Retargeter(vs)(source, (256, 256))
    _, full = scene.render(without, source, (256, 256), target)
    x0, y0, side = scene.place(source, (256, 256), target).round().astype(int)
    changed = np.abs(full.astype(int) - scene.plate).sum(axis=2) > 0
    inner = changed[max(y0, 0) + 2:y0 + side - 2, max(x0, 0) + 2:x0 + side - 2]
    assert inner.mean() > 0.9  # pasted as an opaque square
