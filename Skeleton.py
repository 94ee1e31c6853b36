"""One person's pose: MediaPipe Pose's 33 landmarks, detection, the reduced 13-joint form, drawing.

x and y are relative to the image the skeleton lives in (0..1, for a crop: the crop), z is
MediaPipe's relative depth, and the 4th value its visibility.

    python Skeleton.py IMAGE [--out FILE]    # detect and draw the skeleton of one image
"""
import argparse
import contextlib
import os
import sys

import cv2
import numpy as np

from cli import UserError, run_cli
from geometry import resize

NUM_LANDMARKS = 33
# MediaPipe indices of the SPEC's reduced skeleton: nose, shoulders, elbows, wrists, hips,
# knees, ankles (left before right).
REDUCED_JOINTS = [0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
NOSE, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 0, 11, 12, 13, 14, 15, 16
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 23, 24, 25, 26, 27, 28
FACE_POINTS = [2, 5, 7, 8, 9, 10]  # eyes, ears, mouth corners
TORSO = (L_SHOULDER, R_SHOULDER, L_HIP, R_HIP)
REDUCED_TORSO = (1, 2, 7, 8)  # the same joints' positions in the reduced skeleton

# (from, to, BGR colour). Left limbs are warm, right limbs cold, so that a network (or a person)
# can tell a left arm from a right arm in a drawing; every bone has its own colour.
BONES = [
    (L_SHOULDER, R_SHOULDER, (0, 200, 200)),
    (L_HIP, R_HIP, (200, 200, 0)),
    (L_SHOULDER, L_HIP, (0, 140, 255)),
    (R_SHOULDER, R_HIP, (255, 140, 0)),
    (L_SHOULDER, L_ELBOW, (0, 0, 255)),
    (L_ELBOW, L_WRIST, (80, 80, 255)),
    (R_SHOULDER, R_ELBOW, (255, 0, 0)),
    (R_ELBOW, R_WRIST, (255, 120, 120)),
    (L_HIP, L_KNEE, (0, 255, 255)),
    (L_KNEE, L_ANKLE, (120, 255, 255)),
    (R_HIP, R_KNEE, (255, 0, 255)),
    (R_KNEE, R_ANKLE, (255, 120, 255)),
    (L_WRIST, 19, (60, 60, 200)),  # hands: wrist to index finger
    (R_WRIST, 20, (200, 60, 60)),
    (L_ANKLE, 31, (0, 200, 120)),  # feet: ankle to toes
    (R_ANKLE, 32, (200, 0, 120)),
]
NECK_COLOUR = (255, 255, 255)
FACE_COLOUR = (0, 255, 0)

# MediaPipe still-image mode misses people who fill the whole image (on real tai-chi crops at
# 128 px it finds 34%) and people in small images: crops are scored at this size, inside a
# neutral border, which finds nearly every person the full frame shows.
CROP_DETECTION_SIZE = 256
CROP_DETECTION_BORDER = 128
BORDER_GREY = 128

_detectors = {}
_warmed_up = set()


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2: MediaPipe's C++ side prints a few lines of harmless warnings
    (absl logs before its logging is initialised) when a detector starts, which env vars don't stop."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _detector(video, segmentation=False, smooth=True):
    """One shared MediaPipe Pose per mode, created on first use (building one costs ~0.1 s).

    model_complexity=1 and the segmentation model ship inside the mediapipe wheel; complexity 2
    would download a model at run time. Segmentation costs time, so it has its own detectors.
    `smooth` is MediaPipe's own temporal filter of the landmarks in video mode (its default).
    """
    key = (video, segmentation, smooth)
    if key not in _detectors:
        import mediapipe as mp

        with _quiet_stderr():
            _detectors[key] = mp.solutions.pose.Pose(
                static_image_mode=not video, model_complexity=1, enable_segmentation=segmentation,
                smooth_landmarks=smooth,
                min_detection_confidence=0.5, min_tracking_confidence=0.5)
    return _detectors[key]


def _process(image_bgr, video, segmentation=False, smooth=True):
    """MediaPipe's result for one BGR image (a detector's calls are silenced until it first finds
    a person: it prints harmless warnings then)."""
    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    detector = _detector(video, segmentation, smooth)
    if id(detector) in _warmed_up:
        return detector.process(rgb)
    with _quiet_stderr():
        result = detector.process(rgb)
    if result.pose_landmarks is not None:  # the first landmarks warn once more (projection)
        _warmed_up.add(id(detector))
    return result


def reset_video_tracking():
    """Forget the video-mode trackers' state before starting another video."""
    for key in [k for k in _detectors if k[0]]:
        det = _detectors.pop(key)
        _warmed_up.discard(id(det))
        det.close()


class Skeleton:
    def __init__(self, landmarks=None):
        self.landmarks = (np.zeros((NUM_LANDMARKS, 4), np.float32) if landmarks is None
                          else np.asarray(landmarks, np.float32).reshape(NUM_LANDMARKS, 4).copy())

    def __repr__(self):
        return f"Skeleton(reduced={np.round(self.reduced(), 3).tolist()})"

    def from_image(self, image_bgr, video=False, smooth=True):
        """Detect the person in `image_bgr`; True and landmarks filled if one was found.

        `video=True` uses MediaPipe's tracking mode for consecutive frames of one video (faster
        and steadier, with its landmark filter unless `smooth=False`); call
        `reset_video_tracking()` between videos.
        """
        return self.from_image_with_mask(image_bgr, video, segmentation=False, smooth=smooth)[0]

    def from_image_with_mask(self, image_bgr, video=False, segmentation=True, smooth=True):
        """`from_image`, and MediaPipe's person mask (float32 H x W in 0..1, None when nobody was
        found or without `segmentation`); the segmentation model ships inside the wheel."""
        result = _process(image_bgr, video, segmentation, smooth)
        if result.pose_landmarks is None:
            return False, None
        self.landmarks = np.array([[p.x, p.y, p.z, p.visibility]
                                   for p in result.pose_landmarks.landmark], np.float32)
        mask = result.segmentation_mask if segmentation else None
        return True, mask

    def reduced(self):
        """The SPEC's 26-value vector: (x, y) of the 13 reduced joints."""
        return self.landmarks[REDUCED_JOINTS, :2].reshape(-1).copy()

    def transformed(self, scale, offset):
        """A copy with x,y mapped to x*scale + offset (scale scalar or (sx, sy))."""
        out = self.landmarks.copy()
        out[:, :2] = out[:, :2] * np.asarray(scale, np.float32) + np.asarray(offset, np.float32)
        return Skeleton(out)

    # --- geometry ----------------------------------------------------------------------------
    def torso_centre(self):
        return torso_centre(self.landmarks[:, :2])

    # --- drawing -----------------------------------------------------------------------------
    def draw(self, image):
        """Draw the skeleton onto `image` (in place, also returned).

        Line width and joint size scale with the image, so a drawing looks the same at 64, 128
        and 256 px: it is what the image-conditioned generators see.
        """
        h, w = image.shape[:2]
        size = min(h, w)
        thickness = max(1, int(round(size / 64)))
        xy = self.landmarks[:, :2] * np.array([w, h], np.float32)
        pts = np.round(xy * 16).astype(np.int64)  # 4 bits of sub-pixel precision

        def line(a, b, colour):
            cv2.line(image, tuple(map(int, a)), tuple(map(int, b)), colour, thickness, cv2.LINE_AA, 4)

        for a, b, colour in BONES:
            line(pts[a], pts[b], colour)
        neck = np.round((xy[L_SHOULDER] + xy[R_SHOULDER]) / 2 * 16).astype(np.int64)
        line(neck, pts[NOSE], NECK_COLOUR)
        radius = max(1, thickness) * 16
        for j in FACE_POINTS + [NOSE]:
            cv2.circle(image, tuple(map(int, pts[j])), radius // 2 + 8, FACE_COLOUR, -1, cv2.LINE_AA, 4)
        for j in REDUCED_JOINTS[1:]:
            cv2.circle(image, tuple(map(int, pts[j])), radius, (255, 255, 255), -1, cv2.LINE_AA, 4)
        return image

    def drawn(self, size):
        """The skeleton drawn alone on a black `size` x `size` image."""
        return self.draw(np.zeros((size, size, 3), np.uint8))


def detect_in_crop(crop_bgr, segmentation=False):
    """(Skeleton in crop coordinates or None, person mask or None) of a square crop.

    The crop is resized to CROP_DETECTION_SIZE and padded with a CROP_DETECTION_BORDER grey
    border before still-image detection, and the landmarks are mapped back to the crop. With
    `segmentation`, the mask is MediaPipe's person probability (float32, crop-sized, 0..1),
    None when nobody was found.
    """
    h, w = crop_bgr.shape[:2]
    size, border = CROP_DETECTION_SIZE, CROP_DETECTION_BORDER
    image = resize(crop_bgr, size)
    padded = cv2.copyMakeBorder(image, border, border, border, border, cv2.BORDER_CONSTANT,
                                value=(BORDER_GREY,) * 3)
    result = _process(padded, video=False, segmentation=segmentation)
    if result.pose_landmarks is None:
        return None, None
    full = size + 2 * border
    landmarks = np.array([[p.x, p.y, p.z, p.visibility] for p in result.pose_landmarks.landmark], np.float32)
    landmarks[:, :2] = (landmarks[:, :2] * full - border) / size
    landmarks[:, 2] *= full / size  # z is on x's scale
    mask = None
    if segmentation and result.segmentation_mask is not None:
        mask = result.segmentation_mask[border:border + size, border:border + size]
        mask = resize(np.ascontiguousarray(mask, np.float32), w, h, mask=True)
    return Skeleton(landmarks), mask


def torso_centre(xy, torso=TORSO):
    """The torso's centre, the midpoint of the shoulders' midpoint and the hips' midpoint, of
    (..., joints, 2) arrays (`torso`: where the shoulders and hips are among the joints). It is
    what crops are centred on and poses are compared around: unlike a bounding box it does not
    move when an arm goes up."""
    left_shoulder, right_shoulder, left_hip, right_hip = (xy[..., j, :] for j in torso)
    return ((left_shoulder + right_shoulder) / 2 + (left_hip + right_hip) / 2) / 2


def feet_level(xy):
    """The lower ankle's y of (..., 33, 2) landmarks: where the person stands."""
    return np.maximum(xy[..., L_ANKLE, 1], xy[..., R_ANKLE, 1])


def body_height(xy):
    """Nose to ankles along the bones, in the units of `xy` (33 x 2, aspect-correct): a size that a
    squat or a bend does not shrink."""
    shoulders = (xy[L_SHOULDER] + xy[R_SHOULDER]) / 2
    hips = (xy[L_HIP] + xy[R_HIP]) / 2
    legs = (np.linalg.norm(xy[L_HIP] - xy[L_KNEE]) + np.linalg.norm(xy[L_KNEE] - xy[L_ANKLE])
            + np.linalg.norm(xy[R_HIP] - xy[R_KNEE]) + np.linalg.norm(xy[R_KNEE] - xy[R_ANKLE])) / 2
    return float(np.linalg.norm(xy[NOSE] - shoulders) + np.linalg.norm(shoulders - hips) + legs)


def normalize_reduced(reduced):
    """Reduced skeletons (N, 26) with translation and scale removed: torso centre at 0, torso
    length (shoulders' midpoint to hips') 1. This is the form in which poses are compared, so
    that a shifted or slightly bigger pose still matches."""
    joints = np.asarray(reduced, np.float32).reshape(len(reduced), 13, 2)
    shoulders = joints[:, 1:3].mean(axis=1)
    hips = joints[:, 7:9].mean(axis=1)
    centre = torso_centre(joints, REDUCED_TORSO)
    scale = np.maximum(np.linalg.norm(shoulders - hips, axis=1), 1e-3)
    return ((joints - centre[:, None]) / scale[:, None, None]).reshape(len(reduced), 26)


def main():
    parser = argparse.ArgumentParser(description="Detect and draw the skeleton of one image.")
    parser.add_argument("image", help="an image file with one person")
    parser.add_argument("--out", default=None, help="where to write the drawing (default: IMAGE_skeleton.png)")
    args = parser.parse_args()
    image = cv2.imread(args.image)
    if image is None:
        raise UserError(f"cannot read image {args.image}")
    ske = Skeleton()
    if not ske.from_image(image):
        raise UserError(f"no person found in {args.image}")
    out = args.out or args.image.rsplit(".", 1)[0] + "_skeleton.png"
    cv2.imwrite(out, ske.draw(image.copy()))
    print(f"skeleton drawn to {out}; reduced: {np.round(ske.reduced(), 3).tolist()}")
    return 0


if __name__ == "__main__":
    run_cli(main)
