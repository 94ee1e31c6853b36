"""Where and how the target stands: Everybody Dance Now's normalisations.

- `Retargeter` (pose normalisation, adapted to our crops): a source skeleton becomes one in the
  target's crop coordinates that keeps the source's bone directions and relative foreshortening
  but has the target's own bone lengths, placed where the target's torso sits in its crops.
- `Scene` (global normalisation): where in the target's own scene (the plate of its main shot)
  the target stands, following where the source stands in its own frame, and pasting the
  generated person there.
"""
from collections import deque

import cv2
import numpy as np

from geometry import composite, resize
from plates import plate_crop
from Skeleton import (L_ANKLE, L_ELBOW, L_HIP, L_KNEE, L_SHOULDER, L_WRIST, NOSE, R_ANKLE, R_ELBOW, R_HIP,
                      R_KNEE, R_SHOULDER, R_WRIST, Skeleton, body_height, feet_level, torso_centre)


# The retargeting tree. HIP_MID and SHOULDER_MID are virtual joints (midpoints); each bone is
# (parent, child) and is rebuilt in this order, parents first.
HIP_MID, SHOULDER_MID = 33, 34
BONE_TREE = [(HIP_MID, L_HIP), (HIP_MID, R_HIP), (HIP_MID, SHOULDER_MID),
             (SHOULDER_MID, L_SHOULDER), (SHOULDER_MID, R_SHOULDER), (SHOULDER_MID, NOSE),
             (L_SHOULDER, L_ELBOW), (L_ELBOW, L_WRIST), (R_SHOULDER, R_ELBOW), (R_ELBOW, R_WRIST),
             (L_HIP, L_KNEE), (L_KNEE, L_ANKLE), (R_HIP, R_KNEE), (R_KNEE, R_ANKLE)]
# Landmarks outside the reduced skeleton follow a joint, scaled like the bone that ends there.
FOLLOWERS = {NOSE: range(1, 11), L_WRIST: (17, 19, 21), R_WRIST: (18, 20, 22),
             L_ANKLE: (29, 31), R_ANKLE: (30, 32)}
REFERENCE_PERCENTILE = 90  # 2-D bones only look shorter (foreshortening): a high percentile is their length
SOURCE_HISTORY = 1500      # frames of the source (a minute) its own ranges are learnt from: a live run stays cheap
MAX_STRETCH = 1.15         # a source bone may appear at most this much longer than its reference


def with_midpoints(xy):
    return np.vstack([xy, (xy[L_HIP] + xy[R_HIP]) / 2, (xy[L_SHOULDER] + xy[R_SHOULDER]) / 2])


def source_pixels(ske, frame_shape):
    """The (x, y) of `ske`'s landmarks in pixels of its frame (they are relative to it)."""
    h, w = frame_shape[:2]
    return ske.landmarks[:, :2] * np.array([w, h], np.float32)


def bone_lengths(xy):
    full = with_midpoints(xy)
    return np.array([np.linalg.norm(full[c] - full[p]) for p, c in BONE_TREE])


class Retargeter:
    """Maps a source skeleton (in source frame pixels) onto the target's body and crop.

    Target bone lengths are measured once over its whole cache; the source's are learnt from
    the frames it has seen (a live video needs no second pass) and, for a file, from a survey of
    frames spread over it (`prime`), so its first frames already have a reference.
    """

    def __init__(self, target_vs):
        lengths = np.array([bone_lengths(lm[:, :2]) for lm in target_vs.landmarks])
        self.target_lengths = np.percentile(lengths, REFERENCE_PERCENTILE, axis=0)
        self.target_centre = np.median(torso_centre(target_vs.landmarks[:, :, :2]), axis=0)
        self.source_history = deque(maxlen=SOURCE_HISTORY)

    def reset(self):
        self.source_history.clear()

    def prime(self, survey):
        """Learn the source's bone lengths from `survey` ((Skeleton, frame shape) pairs spread over
        a source file) before its first frame. Learnt from its past alone, a first frame is its own
        reference: every bone, however foreshortened, comes out at the target's full length
        (measured on the demo: the person 4.7% too big in its first second, 1.8% once surveyed)."""
        for ske, frame_shape in survey:
            self.source_history.append(bone_lengths(source_pixels(ske, frame_shape)))

    def __call__(self, source_ske, frame_shape):
        """A Skeleton in the target's crop coordinates, moving like `source_ske`.

        `source_ske` holds MediaPipe landmarks relative to a source frame of `frame_shape`.
        """
        src = with_midpoints(source_pixels(source_ske, frame_shape))
        src_lengths = bone_lengths(src[:33])
        self.source_history.append(src_lengths)
        src_reference = np.percentile(np.array(self.source_history), REFERENCE_PERCENTILE, axis=0)
        ratio = np.minimum(src_lengths / np.maximum(src_reference, 1e-6), MAX_STRETCH)
        out = np.zeros_like(src)
        scale_at = {HIP_MID: self.target_lengths[2] / max(src_reference[2], 1e-6)}
        for k, (parent, child) in enumerate(BONE_TREE):
            direction = src[child] - src[parent]
            norm = np.linalg.norm(direction)
            direction = direction / norm if norm > 1e-6 else np.zeros(2)
            out[child] = out[parent] + direction * self.target_lengths[k] * ratio[k]
            scale_at[child] = self.target_lengths[k] / max(src_reference[k], 1e-6)
        for joint, followers in FOLLOWERS.items():
            for f in followers:
                out[f] = out[joint] + (src[f] - src[joint]) * scale_at[joint]
        landmarks = source_ske.landmarks.copy()
        landmarks[:, :2] = out[:33]
        ske = Skeleton(landmarks)
        return ske.transformed(1.0, self.target_centre - ske.torso_centre())


class Scene:
    """The target's own scene: the plate of its main shot, at full resolution, and where in it the
    target stands, so that the generated person can be put back where they belong.

    Everybody Dance Now's global normalisation, in the plate: the source's feet between the
    nearest and farthest they have been (its own range, learnt as it plays and, for a file, from a
    survey of it: `prime`) put the target's feet between the target's nearest and farthest, at
    the size the target has there (a person lower in the picture is nearer and larger); a
    sideways step of the source, measured in its body heights, moves the target as many of its
    own body heights across its scene.

    `height`: the height in pixels the scene is rendered at (the demo's panel), never above the
    plate's; None: the plate's own. Boxes stay in plate pixels; only the picture is smaller, and
    it costs less: the person is made at the size it is shown at, not made large and shrunk."""

    def __init__(self, target_vs, plates, height=None):
        self.plates = plates
        members = np.flatnonzero(plates.frame_segment == plates.main_segment())
        self.plate = plates.main_plate().image
        self.scale = 1.0 if height is None else min(1.0, height / self.plate.shape[0])
        self.canvas = self.plate if self.scale == 1.0 else resize(
            self.plate, round(self.plate.shape[1] * self.scale), round(self.plate.shape[0] * self.scale))
        feet, centres, heights, sides = [], [], [], []
        for i in members:
            to_plate, _ = plates.frame_to_plate(i)
            x0, y0, side = target_vs.crop_boxes[i]
            xy = target_vs.landmarks[i, :, :2] * side + (x0, y0)
            xy = xy @ to_plate[:, :2].T + to_plate[:, 2]
            feet.append(feet_level(xy))
            centres.append(torso_centre(xy)[0])
            heights.append(body_height(xy))
            sides.append(side * to_plate[0, 0])
        feet, sides = np.array(feet), np.array(sides)
        self.feet_range = np.percentile(feet, [5, 95])
        self.centre_range = np.percentile(centres, [5, 95])
        self.centre = float(np.median(centres))
        # the crop side (VideoSkeleton's pose-proof measure of the person's size) against foot
        # level: perspective makes nearer, lower people larger
        if self.feet_range[1] - self.feet_range[0] > 0.05 * np.median(sides):
            self.side_slope, self.side_at_zero = np.polyfit(feet, sides, 1)
        else:
            self.side_slope, self.side_at_zero = 0.0, float(np.median(sides))
        self.crop_side_per_height = float(np.median(sides) / np.median(heights))
        self.source_history = deque(maxlen=SOURCE_HISTORY)

    def reset(self):
        self.source_history.clear()

    def prime(self, survey):
        """Learn where the source stands (its feet's range, its middle, its height) from `survey`
        ((Skeleton, frame shape) pairs spread over a source file) before its first frame; learnt
        from its past alone, a first frame is its own middle and range."""
        for ske, frame_shape in survey:
            self._observe(ske, frame_shape)

    def _observe(self, source_ske, frame_shape):
        xy = source_pixels(source_ske, frame_shape)
        self.source_history.append((feet_level(xy), torso_centre(xy)[0], body_height(xy)))

    def place(self, source_ske, frame_shape, target_ske):
        """The crop box (x0, y0, side) in plate pixels where `target_ske` (crop coordinates)
        stands, following where the source stands in its own frame."""
        self._observe(source_ske, frame_shape)
        history = np.array(self.source_history)
        source_feet = np.percentile(history[:, 0], [5, 95])
        source_height = float(np.median(history[:, 2]))
        depth = 0.5
        if source_feet[1] - source_feet[0] > 0.05 * source_height:
            depth = float(np.clip((history[-1, 0] - source_feet[0]) / (source_feet[1] - source_feet[0]), 0, 1))
        feet_y = self.feet_range[0] + depth * (self.feet_range[1] - self.feet_range[0])
        side = self.side_slope * feet_y + self.side_at_zero
        height = side / self.crop_side_per_height
        sideways = (history[-1, 1] - np.median(history[:, 1])) / max(source_height, 1e-6)
        centre_x = self.centre + sideways * height
        margin = 0.5 * height
        centre_x = float(np.clip(centre_x, min(self.centre_range[0], margin),
                                 max(self.centre_range[1], self.plate.shape[1] - margin)))
        crop_centre_x = target_ske.torso_centre()[0]
        crop_feet = feet_level(target_ske.landmarks[:, :2])
        return np.array([centre_x - crop_centre_x * side, feet_y - crop_feet * side, side], np.float32)

    def background(self, box, size):
        """The plate crop behind `box` (plate pixels), `size` px, cut from the rendered canvas."""
        return plate_crop(self.canvas, np.eye(2, 3), box * self.scale, size)

    def in_reference_frame(self, scene_image, frame_shape):
        """`scene_image` (rendered at the plate's own size) cut as the main shot's first frame
        shows it (what a frame-aligned truth video of a still camera shows)."""
        origin = self.plates.main_plate().origin
        shift = np.array([[1, 0, -origin[0]], [0, 1, -origin[1]]], np.float64)
        return cv2.warpAffine(scene_image, shift, (frame_shape[1], frame_shape[0]), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)

    def paste(self, person, alpha, box):
        """The canvas with `person` (a crop, with its soft mask `alpha`, or opaque without one)
        pasted at `box` (plate pixels), resized to the box as rendered (the plate keeps its own
        sharpness around them)."""
        scene = self.canvas.copy()
        x0, y0, side = self.shown_box(box)
        person = resize(person, side)
        alpha = np.ones((side, side), np.float32) if alpha is None else resize(alpha, side, mask=True)
        h, w = scene.shape[:2]
        ax0, ay0, ax1, ay1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
        if ax0 >= ax1 or ay0 >= ay1:
            return scene
        region = (slice(ay0 - y0, ay1 - y0), slice(ax0 - x0, ax1 - x0))
        scene[ay0:ay1, ax0:ax1] = composite(person[region], alpha[region], scene[ay0:ay1, ax0:ax1])
        return scene

    def shown_box(self, box):
        """(x0, y0, side) of plate box `box` on the canvas, in whole pixels."""
        x0, y0, side = np.asarray(box, np.float64) * self.scale
        return int(round(x0)), int(round(y0)), max(1, int(round(side)))

    def render(self, generator, source_ske, frame_shape, target_ske):
        """(generated crop over its plate crop, the whole scene with the target in it). Where the
        generator has the person sharper at the size they take in the scene (from the target's
        own pixels), that is what is pasted."""
        box = self.place(source_ske, frame_shape, target_ske)
        background = self.background(box, generator.background_size)
        person, alpha, background, sharper = generator.layers(target_ske, background)
        crop = person if alpha is None else composite(person, alpha, background)
        sharp = None if sharper is None else sharper(self.shown_box(box)[2])
        if sharp is not None:
            person, alpha = sharp.person, sharp.alpha
        return crop, self.paste(person, alpha, box)


def make_scene(target_vs, height=None):
    """The target's Scene (rendered `height` px high; None: at the plate's size), or None when
    its video has no background plate (the demo then shows the generated crop alone)."""
    plates = target_vs.plates()
    return None if plates is None else Scene(target_vs, plates, height)
