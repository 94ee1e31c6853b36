import cv2
import numpy as np
import pytest

from metrics import flicker, pose_scores, psnr, score, ssim, ssim_person
from Skeleton import Skeleton, detect_in_crop


def smooth_image(seed=0, size=64):
    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 255, (size // 8, size // 8, 3)).astype(np.float32)
    return cv2.resize(base, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 255).astype(np.uint8)


def test_psnr_of_a_known_error():
    image = np.full((32, 32, 3), 100, np.uint8)
    assert psnr(image, image + 10) == pytest.approx(10 * np.log10(255 ** 2 / 100), abs=1e-9)  # 28.13 dB
    assert psnr(image, image) == float("inf")


def test_ssim_of_identical_images_is_one():
    image = smooth_image()
    assert ssim(image, image) == pytest.approx(1.0, abs=1e-12)


def test_ssim_matches_scikit_image_on_a_known_distortion():
    image = smooth_image(1)
    noise = np.random.default_rng(2).normal(0, 20, image.shape)
    distorted = (image + noise).clip(0, 255).astype(np.uint8)
    # skimage.metrics.structural_similarity(image[..., ::-1] / 255, distorted[..., ::-1] / 255,
    #   gaussian_weights=True, sigma=1.5, data_range=1, channel_axis=2), scikit-image 0.26.0, computed once:
    reference = 0.6964327923124106
    assert ssim(image, distorted) == pytest.approx(reference, abs=1e-6)
    assert ssim(image, distorted) < 0.9


def test_flicker_is_one_for_reality_and_grows_with_jitter():
    real = [np.full((8, 8, 3), 100 + 5 * i, np.uint8) for i in range(6)]
    assert flicker(real, real) == pytest.approx(1.0)
    jittery = [np.full((8, 8, 3), 100 + 5 * i + (10 if i % 2 else 0), np.uint8) for i in range(6)]
    assert flicker(jittery, real) > 2


def test_pose_error_of_a_shifted_skeleton(karate_clip):

    from VideoSkeleton import VideoSkeleton

    vs = VideoSkeleton(karate_clip, verbose=False)
    crops = [vs.read_image(i) for i in range(0, 30, 6)]
    truth = [Skeleton(vs.ske[i].landmarks) for i in range(0, 30, 6)]
    floor, rate, pck = pose_scores(crops, truth)
    assert rate == 1.0 and floor < 0.02 and pck > 0.8
    shifted = [s.transformed(1.0, (0.06, 0.08)) for s in truth]  # 0.1 of the crop away
    error, rate, pck = pose_scores(crops, shifted)
    assert error == pytest.approx(0.1, abs=0.02)
    assert pck < 0.1
    blank = [np.zeros((64, 64, 3), np.uint8)] * 2
    error, rate, pck = pose_scores(blank, truth[:2])
    assert error is None and rate == 0 and pck == 0


def test_person_region_metrics_see_the_person_not_the_background():
    """Identical person, different background: the person scores perfectly, the full crop does not."""
    from conftest import standing_skeleton

    ske = standing_skeleton()
    person = np.zeros((64, 64), np.uint8)
    for a, b in ((0, 27), (11, 15), (12, 16), (23, 28)):
        p, q = (ske.landmarks[[a, b], :2] * 64).astype(int)
        cv2.line(person, tuple(p), tuple(q), 255, 6)
    mask = person > 0
    figure = smooth_image(3)
    real = np.where(mask[:, :, None], figure, smooth_image(4))
    generated = np.where(mask[:, :, None], figure, smooth_image(5))
    assert psnr(generated, real, mask) == float("inf")
    assert ssim_person(generated, real, mask) == pytest.approx(1.0, abs=1e-12)
    assert psnr(generated, real) < 25 and ssim(generated, real) < 0.9
    noisy_figure = (figure + np.random.default_rng(6).normal(0, 20, figure.shape)).clip(0, 255).astype(np.uint8)
    noisy = np.where(mask[:, :, None], noisy_figure, real)
    assert psnr(noisy, real, mask) < 25 and ssim_person(noisy, real, mask) < 0.9
    assert psnr(noisy, real) > psnr(noisy, real, mask) + 3  # the error is all in the person
    result = score([generated] * 2, [ske] * 2, 1.0, real=[real] * 2, masks=[mask] * 2)
    assert result["psnr_person"] == float("inf") and result["ssim_person"] == pytest.approx(1.0)
    assert result["ssim"] < 0.9 and result["size"] == 64
    no_person = np.zeros_like(mask)
    assert psnr(generated, real, no_person) is None and ssim_person(generated, real, no_person) is None


def tight_crop(image, ske, margin=0.05, size=128):
    """The square around the person's landmarks, `margin` of its side on each side: a person who
    fills the image."""
    n = image.shape[0]
    (x0, y0), (x1, y1) = ske.landmarks[:, :2].min(axis=0), ske.landmarks[:, :2].max(axis=0)
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    left, top = int(max(0, ((x0 + x1) / 2 - side / 2) * n)), int(max(0, ((y0 + y1) / 2 - side / 2) * n))
    crop = image[top:top + int(side * n), left:left + int(side * n)]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def test_padded_detection_reads_a_real_person_who_fills_the_image(taichi_side_clip):
    """MediaPipe in still-image mode misses people who fill the whole image; the padded path
    finds them, with landmarks in the crop's own coordinates and a person mask."""
    from VideoSkeleton import VideoSkeleton

    vs = VideoSkeleton(taichi_side_clip, verbose=False)
    frames = range(0, vs.ske_count(), 3)
    missed_plain = 0
    for i in frames:
        tight = tight_crop(vs.read_image(i), vs.ske[i])
        missed_plain += not Skeleton().from_image(cv2.resize(tight, (256, 256), interpolation=cv2.INTER_CUBIC))
        assert detect_in_crop(tight)[0] is not None, f"frame {i}"
        ske, mask = detect_in_crop(cv2.resize(vs.read_image(i), (128, 128), interpolation=cv2.INTER_AREA),
                                   segmentation=True)
        error = np.linalg.norm(ske.reduced().reshape(13, 2) - vs.ske[i].reduced().reshape(13, 2), axis=1).mean()
        assert error < 0.05
        assert mask.shape == (128, 128) and 0.1 < (mask > 0.5).mean() < 0.8
        x, y = (vs.ske[i].torso_centre() * 128).astype(int)
        assert mask[y, x] > 0.5  # the torso is person
    assert missed_plain >= 2, "the unpadded detector was expected to miss some tight crops"
