import cv2
import numpy as np
import pytest

from Skeleton import REDUCED_JOINTS, Skeleton, normalize_reduced


def random_skeleton(seed=0):
    rng = np.random.default_rng(seed)
    lm = np.zeros((33, 4), np.float32)
    lm[:, :2] = rng.uniform(0.2, 0.8, (33, 2))
    lm[:, 3] = 1
    # a plausible upright torso, so normalisation is well defined
    lm[11, :2], lm[12, :2], lm[23, :2], lm[24, :2] = (0.6, 0.3), (0.4, 0.3), (0.58, 0.55), (0.42, 0.55)
    return Skeleton(lm)


def test_reduced_has_the_spec_joints_in_order():
    ske = random_skeleton()
    red = ske.reduced()
    assert red.shape == (26,)
    np.testing.assert_allclose(red.reshape(13, 2), ske.landmarks[REDUCED_JOINTS, :2])
    assert REDUCED_JOINTS == [0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]


def test_array_round_trip():
    ske = random_skeleton(1)
    back = Skeleton.from_array(ske.to_array())
    np.testing.assert_array_equal(back.landmarks, ske.landmarks)
    back.landmarks[0, 0] = 5  # a copy, not a view
    assert ske.landmarks[0, 0] != 5


def test_distance_ignores_translation_and_scale_but_not_pose():
    ske = random_skeleton(2)
    moved = ske.transformed(1.3, (0.05, -0.1))
    assert ske.distance(moved) < 1e-5
    other = random_skeleton(3)
    assert ske.distance(other) > 0.1
    np.testing.assert_allclose(normalize_reduced(moved.reduced()[None])[0], ske.normalized_reduced(), atol=1e-5)


def test_bounding_box():
    ske = random_skeleton(4)
    x0, y0, x1, y1 = ske.bounding_box()
    assert x0 == pytest.approx(ske.landmarks[:, 0].min()) and y1 == pytest.approx(ske.landmarks[:, 1].max())


def test_drawing_looks_the_same_at_every_size():
    ske = random_skeleton(5)
    small = ske.drawn(64).astype(np.float32)
    for size in (128, 256):
        big = cv2.resize(ske.drawn(size), (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)
        # same layout: strongly correlated, and about as much ink
        corr = np.corrcoef(small.ravel(), big.ravel())[0, 1]
        assert corr > 0.7, (size, corr)
        assert 0.5 < big.sum() / small.sum() < 2.0
    # left and right arms are drawn in different colours
    drawing = ske.drawn(256)
    colours = {tuple(drawing[int(y * 256), int(x * 256)]) for x, y in
               [(ske.landmarks[j, 0] * 0.5 + ske.landmarks[k, 0] * 0.5,
                 ske.landmarks[j, 1] * 0.5 + ske.landmarks[k, 1] * 0.5) for j, k in [(11, 13), (12, 14)]]}
    assert len(colours) == 2


def test_detects_a_real_person_in_a_still_image(karate_clip):
    cap = cv2.VideoCapture(karate_clip)
    ok, frame = cap.read()
    assert ok
    ske = Skeleton()
    assert ske.from_image(frame)
    x0, y0, x1, y1 = ske.bounding_box()
    assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1.05
    assert y1 - y0 > 0.3  # a standing man fills a good part of the frame height


def test_finds_no_person_in_an_empty_image():
    assert not Skeleton().from_image(np.full((256, 256, 3), 128, np.uint8))


def test_skeleton_cli_draws_a_photo_and_rejects_bad_input(karate_clip, tmp_path):
    from conftest import assert_one_line_error, run_script

    cap = cv2.VideoCapture(karate_clip)
    ok, frame = cap.read()
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), frame)
    proc = run_script("Skeleton.py", str(photo), "--out", str(tmp_path / "drawn.png"))
    assert proc.returncode == 0, proc.stderr
    assert cv2.imread(str(tmp_path / "drawn.png")).shape == frame.shape
    (tmp_path / "bad.png").write_text("not an image")
    assert "cannot read" in assert_one_line_error(run_script("Skeleton.py", str(tmp_path / "bad.png")))
