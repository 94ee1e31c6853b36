import numpy as np
import pytest

from Evaluate import flicker, pose_scores, psnr, ssim
from Skeleton import Skeleton


def smooth_image(seed=0, size=64):
    import cv2

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
