"""The target's background with the person removed ("plates"), and what it shows behind a crop.

Most target videos come from a tripod or a steady hand, so the background is there to be taken,
not generated (Liquid Warping GAN inpaints it once; vid2vid and Dance Dance Generation split
foreground from background). A plate is built per *segment*, a stretch of the video whose
background registration.py maps onto one reference frame:

- Plate: per pixel, the median of up to `PLATE_SAMPLES` frames of the segment, warped to the
  reference, over the pixels that are not person (nor letterbox). A pan makes the plate wider
  than a frame. Pixels never seen without the person are filled by inpainting and marked
  `unseen`.
- A frame's plate crop: the plate warped into that frame's crop box, so a generator knows what
  is behind the person it paints.

Everything here works in the video's full-frame pixels; `transform` maps a frame's pixels to its
segment reference's.
"""
import json
import os
import shutil
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from cli import UserError
from devices import lower_thread_priority
from files import atomic_write_json
from geometry import compose, crop_transform, cut_square, warp_crop
from registration import PERSON_DILATION, is_letterboxed

PLATE_SAMPLES = 40         # frames per segment that the plate's median is taken over
SCREEN_SAMPLES = 15        # frames the letterbox's median ("screen") is taken over
MIN_SEGMENT_FRAMES = 10    # segments shorter than this on average: the camera moves too much for plates

# One segment's plate: the background (BGR), where it was never seen without the person (bool),
# and the reference-frame position of its pixel (0, 0) (a pan makes a plate start left of the frame).
Plate = namedtuple("Plate", "image unseen origin")


def masked_median(samples, valid):
    """Per-pixel median of uint8 `samples` (N x H x W x 3) over the samples where `valid`
    (N x H x W) is True (the lower middle of an even count); (median image, number of valid
    samples per pixel).

    Invalid samples become 255 and sort last: the k-th smallest (k < the valid count) is then the
    k-th smallest valid value, since where it falls among the 255s the valid one is 255 too. This
    stays in uint8, twice as fast as sorting a wider type with a sentinel above 255."""
    values = np.where(valid[..., None], samples, np.uint8(255))
    values.sort(axis=0)
    count = valid.sum(axis=0)
    middle = np.maximum(count - 1, 0) // 2
    median = np.take_along_axis(values, middle[None, :, :, None].repeat(3, axis=3), axis=0)[0]
    return median, count


def fill_unseen(plate, unseen):
    """Inpaint the pixels never seen without the person (at quarter size: the holes are as
    large as a person, and the fill is a guess either way)."""
    if not unseen.any():
        return plate
    h, w = unseen.shape
    small = (max(1, w // 4), max(1, h // 4))
    hole = cv2.dilate(cv2.resize(unseen.astype(np.uint8) * 255, small, interpolation=cv2.INTER_AREA), np.ones((3, 3)))
    filled = cv2.inpaint(cv2.resize(plate, small, interpolation=cv2.INTER_AREA), (hole > 0).astype(np.uint8), 5,
                         cv2.INPAINT_TELEA)
    out = plate.copy()
    out[unseen] = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)[unseen]
    return out


def build_plate(frames, persons, transforms, active):
    """One segment's Plate from (frame, person mask, transform to the reference) samples. It
    covers everything the samples saw (a pan widens it past the reference frame); only the active
    area (inside a letterbox) is taken."""
    h, w = frames[0].shape[:2]
    x0, y0, x1, y1 = active
    corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], np.float64)
    seen_corners = np.vstack([corners @ np.asarray(t).T for t in transforms])
    low = np.maximum(np.floor(seen_corners.min(axis=0)), [-w, -h])
    high = np.minimum(np.ceil(seen_corners.max(axis=0)), [2 * w, 2 * h])
    size = (int(high[0] - low[0]), int(high[1] - low[1]))
    inside = np.zeros((h, w), np.uint8)
    inside[y0:y1, x0:x1] = 1
    grow = max(3, int(PERSON_DILATION * w) * 2 + 1)
    warped = np.empty((len(frames), size[1], size[0], 3), np.uint8)
    valid = np.empty((len(frames), size[1], size[0]), np.uint8)
    for k, (frame, person, transform) in enumerate(zip(frames, persons, transforms)):
        to_plate = np.array(transform, np.float64)
        to_plate[:, 2] -= low
        person = cv2.resize(person, (w, h), interpolation=cv2.INTER_NEAREST)
        seen = inside * (cv2.dilate(person, np.ones((grow, grow), np.uint8)) == 0)
        cv2.warpAffine(frame, to_plate, size, dst=warped[k], flags=cv2.INTER_LINEAR)
        cv2.warpAffine(seen, to_plate, size, dst=valid[k], flags=cv2.INTER_NEAREST)
    plate, count = masked_median(warped, valid > 0)
    unseen = count == 0
    return Plate(fill_unseen(plate, unseen), unseen, (float(low[0]), float(low[1])))


class Spread:
    """An even spread of the items fed one by one, without knowing how many will come: every
    `stride`-th item is kept, and the stride doubles (dropping every other kept item) whenever
    more than 2 x `count` are held, so memory stays bounded on a video of any length."""

    def __init__(self, count):
        self.count = count
        self.kept, self.stride, self.seen = [], 1, 0

    def add(self, item):
        if self.seen % self.stride == 0:
            self.kept.append(item)
            if len(self.kept) > 2 * self.count:
                self.kept, self.stride = self.kept[::2], self.stride * 2
        self.seen += 1

    def items(self):
        """At most `count` of the kept items, evenly spread."""
        picks = np.linspace(0, len(self.kept) - 1, min(self.count, len(self.kept))).round().astype(int)
        return [self.kept[i] for i in picks]


class PlateBuilder:
    """Builds the plates of a video's frames fed in time order (frame, person mask, segment,
    transform), each segment's in a background thread as soon as the next segment starts, so
    that VideoSkeleton builds plates while MediaPipe is still reading the video. At most one
    segment's samples wait for a build at a time."""

    def __init__(self, active, letterboxed):
        self.active = active
        self.built = {}
        self.segment, self.samples = None, None
        self.screen = Spread(SCREEN_SAMPLES if letterboxed else 1)
        self.pool = ThreadPoolExecutor(max_workers=1, initializer=lower_thread_priority)
        self.job = None

    def add(self, frame, person, segment, transform):
        if segment != self.segment:
            self._submit()
            self.segment, self.samples = segment, Spread(PLATE_SAMPLES)
        self.samples.add((frame, person, transform))
        self.screen.add(frame)

    def flush(self):
        """Start building the last segment's plate now: no more frames will come."""
        self._submit()

    def _submit(self):
        if self.samples is None:
            return
        self._collect()
        frames, persons, transforms = zip(*self.samples.items())
        self.job = (self.segment, self.pool.submit(build_plate, frames, persons, transforms, self.active))
        self.samples = None

    def _collect(self):
        if self.job is not None:
            segment, job = self.job
            self.built[segment] = job.result()
            self.job = None

    def finish(self):
        """The Plates of everything fed (None when nothing was)."""
        self._submit()
        self._collect()
        self.pool.shutdown()
        if not self.built:
            return None
        screen = np.median(np.stack(self.screen.items()), axis=0).astype(np.uint8)
        return Plates(self.built, screen, self.active)


def holds_still(segments):
    """Whether frames with these segment ids are worth plates: the camera holds still for at
    least MIN_SEGMENT_FRAMES frames per segment on average."""
    lengths = np.bincount(segments) if len(segments) else np.array([], np.int64)
    lengths = lengths[lengths > 0]
    return len(lengths) > 0 and lengths.mean() >= MIN_SEGMENT_FRAMES


def plate_crop(plate, transform, box, size):
    """What the plate shows behind crop `box` of a frame whose pixels map to the plate's by
    `transform`: a `size` x `size` BGR image. A crop much larger than `size` is warped at its
    own resolution first and then shrunk by area, as the crops themselves are."""
    work = int(min(np.ceil(box[2]), 4 * size)) if box[2] > 1.5 * size else size
    return warp_crop(plate, compose(transform, crop_transform(box, work)), size, work)


class Plates:
    """The plates of one video's segments, and which plate (and transform) each cached frame uses.

    A frame whose segment has no training frame (a shot that only the held-out part shows) uses
    the plate and transform of the nearest training frame: evaluation never sees a plate made
    from the frames it scores."""

    def __init__(self, built, screen, active):
        self.built = built  # segment -> Plate
        # A letterbox (and its titles) stays where it is on the screen while the camera moves: a
        # crop that reaches into it shows it, so plate crops take it from `screen` (the median
        # frame) outside the `active` picture area (x0, y0, x1, y1).
        self.screen = screen
        self.active = tuple(int(v) for v in active)
        self.active_mask = np.zeros(screen.shape[:2], np.uint8)
        x0, y0, x1, y1 = self.active
        self.active_mask[y0:y1, x0:x1] = 255
        self.letterboxed = is_letterboxed(self.active, screen.shape)
        self.frame_segment = self.frame_transform = None

    def save(self, folder):
        """Write the plates as PNGs and swap the folder into place whole; UserError when a file
        cannot be written (the folder is then not there)."""
        tmp = f"{folder}.building-{os.getpid()}"
        try:
            os.makedirs(tmp, exist_ok=True)
            pictures = {"screen.png": self.screen}
            for segment, plate in self.built.items():
                pictures[f"plate_{segment:04d}.png"] = plate.image
                pictures[f"unseen_{segment:04d}.png"] = plate.unseen.astype(np.uint8) * 255
            for name, picture in pictures.items():
                if not cv2.imwrite(os.path.join(tmp, name), picture):
                    raise UserError(f"cannot write the background plate {os.path.join(folder, name)} (is the disk full?)")
            atomic_write_json(os.path.join(tmp, "segments.json"),
                              {"origins": {str(k): list(plate.origin) for k, plate in self.built.items()},
                               "active": list(self.active)})
            if os.path.exists(folder):
                shutil.rmtree(folder)
            os.rename(tmp, folder)
        except OSError as err:
            raise UserError(f"cannot write the background plates to {folder}: {err.strerror}") from None
        finally:
            if os.path.exists(tmp):
                shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def load(cls, folder):
        """The plates saved in `folder`, or None when there are none (or they are damaged)."""
        try:
            with open(os.path.join(folder, "segments.json")) as f:
                saved = json.load(f)
            screen = cv2.imread(os.path.join(folder, "screen.png"))
            if screen is None:
                return None
            built = {}
            for key, origin in saved["origins"].items():
                segment = int(key)
                plate = cv2.imread(os.path.join(folder, f"plate_{segment:04d}.png"))
                unseen = cv2.imread(os.path.join(folder, f"unseen_{segment:04d}.png"), cv2.IMREAD_GRAYSCALE)
                if plate is None or unseen is None or len(origin) != 2:
                    return None
                built[segment] = Plate(plate, unseen > 0, (float(origin[0]), float(origin[1])))
        except (OSError, ValueError, TypeError, KeyError):
            return None
        return cls(built, screen, saved["active"]) if built else None

    def unseen_share(self):
        return float(np.mean([plate.unseen.mean() for plate in self.built.values()]))

    def for_frames(self, segments, transforms, train_count):
        """Assign a plate and transform to every cached frame (see the class docstring)."""
        self.frame_segment = np.array(segments, np.int64)
        self.frame_transform = np.array(transforms, np.float64)
        train = np.arange(train_count)
        for i in range(len(segments)):
            if int(segments[i]) not in self.built:
                nearest = train[np.argmin(np.abs(train - i))]
                self.frame_segment[i] = segments[nearest]
                self.frame_transform[i] = transforms[nearest]
        return self

    def frame_to_plate(self, i):
        """2x3 transform from cached frame `i`'s pixels to its plate's pixels, and the plate image."""
        plate = self.built[int(self.frame_segment[i])]
        transform = self.frame_transform[i].copy()
        transform[:, 2] -= plate.origin
        return transform, plate.image

    def crop(self, i, box, size):
        """The plate behind crop `box` of cached frame `i`, at `size` px (with the letterbox where
        the crop reaches into it, as the real crop does)."""
        transform, plate = self.frame_to_plate(i)
        background = plate_crop(plate, transform, box, size)
        if not self.letterboxed:
            return background
        inside = cut_square(self.active_mask, box, size, mask=True) > 127
        return np.where(inside[:, :, None], background, cut_square(self.screen, box, size))

    def main_segment(self):
        """The segment with the most frames: the scene the demo plays in."""
        counts = np.bincount(self.frame_segment)
        return int(np.argmax(counts))

    def main_plate(self):
        """The Plate of the main segment."""
        return self.built[self.main_segment()]
