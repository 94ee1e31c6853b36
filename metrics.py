"""The quality metrics of ../shared/SPEC.md ("Quality metrics"): PSNR and SSIM over the crop and
over the person alone, pose error, detection rate and PCK@0.05 of MediaPipe on the output, and
flicker. Evaluate.py scores generators with them; the benchmarks reuse them.

MediaPipe reads every scored image upscaled and inside a grey border (Skeleton.detect_in_crop):
it misses people who fill the image, which is what every crop is.
"""
import cv2
import numpy as np

from geometry import resize
from Skeleton import REDUCED_JOINTS, detect_in_crop

PCK_THRESHOLD = 0.05
PERSON_THRESHOLD = 0.5  # segmentation probability above which a pixel is person


def psnr(a, b, mask=None):
    """PSNR in dB of two uint8 images (peak 255), over the pixels where `mask` is True if given."""
    diff = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    if mask is not None:
        if not mask.any():
            return None
        diff = diff[mask]
    mse = np.mean(diff)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def ssim_map(a, b):
    """Per-pixel SSIM of two uint8 BGR images: Gaussian window 11, sigma 1.5, on each RGB channel
    in [0, 1], averaged over channels (scikit-image's structural_similarity with
    gaussian_weights=True, data_range=1)."""
    x, y = a.astype(np.float64) / 255, b.astype(np.float64) / 255
    blur = lambda im: cv2.GaussianBlur(im, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    n = 11 * 11
    cov_norm = n / (n - 1)  # scikit-image's sample-covariance correction
    mx, my = blur(x), blur(y)
    vx = cov_norm * (blur(x * x) - mx * mx)
    vy = cov_norm * (blur(y * y) - my * my)
    vxy = cov_norm * (blur(x * y) - mx * my)
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.mean(axis=2)


def ssim(a, b):
    """Mean SSIM (scikit-image leaves out a 5-pixel border; so do we)."""
    return float(ssim_map(a, b)[5:-5, 5:-5].mean())


def ssim_person(generated, real, mask):
    """SSIM over the person: the SSIM map averaged over `mask` (the real crop's person pixels).

    The generated image's background is first replaced by the real one, so that the windows at
    the person's outline compare the person alone: the background has its own number (full-crop
    SSIM), and an identical person scores 1.0 whatever is behind them."""
    if not mask.any():
        return None
    person_only = np.where(mask[:, :, None], generated, real)
    return float(ssim_map(person_only, real)[mask].mean())


def pose_of(image):
    """The reduced joints (13 x 2, relative to the image) MediaPipe reads in `image`, or None.

    Detection goes through `detect_in_crop` (upscaled, inside a grey border): MediaPipe misses
    people who fill the image, which is what every crop is."""
    ske, _ = detect_in_crop(image)
    return None if ske is None else ske.landmarks[REDUCED_JOINTS, :2]


def person_masks(real):
    """Per real crop, the boolean person mask from MediaPipe's segmentation (all False when
    nobody is found: such a frame has no person-region score)."""
    masks = []
    for image in real:
        _, prob = detect_in_crop(image, segmentation=True)
        masks.append(np.zeros(image.shape[:2], bool) if prob is None else prob > PERSON_THRESHOLD)
    return masks


def pose_errors(images, skeletons):
    """Per image, (the distance of each reduced joint MediaPipe reads in it to the skeleton's, as
    a fraction of the image size), or None where nobody is found."""
    errors = []
    for image, ske in zip(images, skeletons):
        joints = pose_of(image)
        errors.append(None if joints is None else np.linalg.norm(joints - ske.landmarks[REDUCED_JOINTS, :2], axis=1))
    return errors


def pose_scores(images, skeletons, errors=None):
    """(mean pose error as a fraction of the image size over detected frames, detection rate,
    PCK@0.05 with undetected frames counting as misses); `errors`: pose_errors' reading, if made."""
    errors = pose_errors(images, skeletons) if errors is None else errors
    found = [dist for dist in errors if dist is not None]
    n = len(errors)
    hits = sum(int((dist < PCK_THRESHOLD).sum()) for dist in found)
    return (float(np.mean([dist.mean() for dist in found])) if found else None, len(found) / n if n else None,
            hits / (13 * n) if n else None)


def flicker(generated, reference):
    """Mean absolute frame-to-frame change of `generated` over that of `reference` (the real or
    true frames, or without a truth the source's crops; same frames, resized to match)."""
    if len(generated) < 2:
        return None
    height, width = generated[0].shape[:2]
    reference = [resize(r, width, height) for r in reference]
    change = lambda seq: np.mean([np.abs(seq[i + 1].astype(np.float32) - seq[i]).mean()  # noqa: E731
                                  for i in range(len(seq) - 1)])
    reference_change = change(reference)
    return float(change(generated) / reference_change) if reference_change > 0 else None


def resize_mask(mask, size):
    """A boolean mask at `size` (nearest: it stays boolean)."""
    if mask.shape[0] == size:
        return mask
    return cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST).astype(bool)


def mean_of(values):
    """Mean of the values that apply (a frame with no person has no person-region score);
    inf when every frame is a perfect match."""
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def score(generated, skeletons, ms_per_frame, real=None, masks=None, flicker_reference=None):
    """All the metrics of one generator's outputs. Without `real` (a transfer with no truth)
    only pose, detection, PCK and flicker against `flicker_reference` apply."""
    size = generated[0].shape[0]
    error, rate, pck = pose_scores(generated, skeletons)
    result = {"psnr": None, "ssim": None, "psnr_person": None, "ssim_person": None, "pose_error": error,
              "detection_rate": rate, "pck": pck, "ms_per_frame": ms_per_frame,
              "flicker": flicker(generated, flicker_reference if real is None else real), "size": size}
    if real is not None:
        real = [resize(r, size) for r in real]
        result["psnr"] = mean_of(psnr(g, r) for g, r in zip(generated, real))
        result["ssim"] = mean_of(ssim(g, r) for g, r in zip(generated, real))
        if masks is not None:
            masks = [resize_mask(m, size) for m in masks]
            result["psnr_person"] = mean_of(psnr(g, r, m) for g, r, m in zip(generated, real, masks))
            result["ssim_person"] = mean_of(ssim_person(g, r, m) for g, r, m in zip(generated, real, masks))
    return result


def real_floor(real, skeletons, size):
    """MediaPipe's own noise floor: the real crops at `size`, scored like a generator."""
    images = [resize(r, size) for r in real]
    error, rate, pck = pose_scores(images, skeletons)
    return {"psnr": None, "ssim": None, "psnr_person": None, "ssim_person": None, "pose_error": error,
            "detection_rate": rate, "pck": pck, "ms_per_frame": None, "flicker": 1.0, "size": size}
