import cv2
import numpy as np

from Skeleton import Skeleton, normalize_reduced


def random_skeleton(seed=0):
    rng = np.random.default_rng(seed)
    lm = np.zeros((33, 4), np.float32)
    lm[:, :2] = rng.uniform(0.2, 0.8, (33, 2))
    lm[:, 3] = 1
    # a plausible upright torso, so normalisation is well defined
    lm[11, :2], lm[12, :2], lm[23, :2], lm[24, :2] = (0.6, 0.3), (0.4, 0.3), (0.58, 0.55), (0.42, 0.55)
    return Skeleton(lm)


def test_reduced_has_the_spec_joints_in_order():
    """The SPEC's 13 joints, named by MediaPipe's own landmark enumeration."""
    import mediapipe as mp

    landmark = mp.solutions.pose.PoseLandmark
    names = ["NOSE"] + [f"{side}_{part}" for part in ("SHOULDER", "ELBOW", "WRIST") for side in ("LEFT", "RIGHT")]
    names += [f"{side}_{part}" for part in ("HIP", "KNEE", "ANKLE") for side in ("LEFT", "RIGHT")]
    ske = random_skeleton()
    red = ske.reduced().reshape(13, 2)
    for k, name in enumerate(names):
        np.testing.assert_array_equal(red[k], ske.landmarks[landmark[name].value, :2])


def test_normalised_poses_ignore_translation_and_scale_but_not_pose():
    ske = random_skeleton(2)
    moved = ske.transformed(1.3, (0.05, -0.1))
    a, b, c = normalize_reduced(np.stack([ske.reduced(), moved.reduced(), random_skeleton(3).reduced()]))
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert np.linalg.norm((a - c).reshape(13, 2), axis=1).mean() > 0.1
    np.testing.assert_allclose(a.reshape(13, 2)[[1, 2, 7, 8]].mean(axis=0), 0, atol=1e-6)  # torso centre at 0


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
    (x0, y0), (x1, y1) = ske.landmarks[:, :2].min(axis=0), ske.landmarks[:, :2].max(axis=0)
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
