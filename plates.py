"""The target's background with the person removed ("plates"), and putting a person back on it.

Most target videos come from a tripod or a steady hand, so the background is there to be taken,
not generated (Liquid Warping GAN inpaints it once; vid2vid and Dance Dance Generation split
foreground from background). A plate is built per *segment*, a stretch of the video whose
background can be registered to one reference frame:

- Registration: corners of the background (person and letterbox masked out) of a keyframe,
  tracked into each frame by optical flow and fitted with a zoom and a shift by RANSAC; a new
  keyframe is taken when the camera has moved on, chained to the segment's first frame. It absorbs camera shake, pans and zooms. A frame that cannot be
  tracked starts a new segment (a shot change). A background too plain to have corners (a
  studio wall) is taken as still.
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
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from common import lower_thread_priority

REGISTRATION_WIDTH = 480   # registration runs at this width (corners are plenty, and it is cheap)
FLOW_WINDOW = (21, 21)     # optical flow window (px): a smaller one loses a still background in blocky video
FLOW_LEVELS = 3            # pyramid levels: ~80 px of motion from the keyframe; beyond, the previous frame is tracked
MIN_FEATURES = 20          # fewer background corners than this: the background is too plain to track
MIN_INLIERS = 12           # a registration with fewer RANSAC inliers has failed
MIN_INLIER_RATIO = 0.5
RANSAC_THRESHOLD = 1.5     # px at registration size: a corner this close to where a motion puts it follows it
ACTIVE_INSET = 0.02        # inside a letterbox, registration keeps this share of the width off the edge
STILL_MARGIN = 0.5         # grey levels: a motion must explain the background this much better than none...
STILL_SHIFT = 2.0          # ...unless it moves the frame's corners by this much (px at registration size)
MOTION_SUPPORT = 2         # ...and this many times as many corners follow it as stayed put...
MOTION_SPREAD = 0.05       # ...spread across their main direction by this share of the width (std)
KEYFRAME_FADE = 0.5        # fewer of a keyframe's corners than this share still tracked: next keyframe
PERSON_DILATION = 0.03     # the person mask grows by this fraction of the frame width (soft edges, shadow)
PLATE_SAMPLES = 40         # frames per segment that the plate's median is taken over
SCREEN_SAMPLES = 15        # frames the letterbox's median ("screen") is taken over
MIN_SEGMENT_FRAMES = 10    # segments shorter than this on average: the camera moves too much for plates
DARK_LEVEL = 40            # letterbox detection: a row or column mostly darker than this is a border


class Registrar:
    """Segments and transforms for a video's frames, fed in time order."""

    def __init__(self, frame_shape):
        h, w = frame_shape[:2]
        self.scale = min(1.0, REGISTRATION_WIDTH / w)
        self.size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
        self.segment = -1
        self.keyframe = None  # (grey image, background corners, background mask, transform to the reference)
        self.previous = None  # (grey image, background mask, transform) of the previous frame
        self.active = np.full((self.size[1], self.size[0]), 255, np.uint8)

    def set_active_area(self, box):
        """Only (x0, y0, x1, y1), in full-frame pixels, is the picture: a letterbox's titles
        stay still while the camera moves, and must not vote."""
        x0, y0, x1, y1 = (np.asarray(box, np.float64) * self.scale).round().astype(int)
        self.active[:] = 0
        if (x0, y0, x1, y1) != (0, 0) + self.size:
            # the picture's own edge against the bars is a still corner too: keep clear of it
            inset = max(2, round(ACTIVE_INSET * self.size[0]))
            self.active[y0 + inset:y1 - inset, x0 + inset:x1 - inset] = 255
        else:
            self.active[:] = 255

    def background(self, person):
        mask = self.active.copy()
        if person is not None:
            grow = max(3, int(PERSON_DILATION * self.size[0]) * 2 + 1)
            person = cv2.resize(person, self.size, interpolation=cv2.INTER_NEAREST)
            mask[cv2.dilate(person, np.ones((grow, grow), np.uint8)) > 0] = 0
        return mask

    def corners(self, grey, mask):
        return cv2.goodFeaturesToTrack(grey, maxCorners=400, qualityLevel=0.003, minDistance=5, mask=mask)

    def track(self, key, current, current_mask):
        """(zoom + shift (2x3, registration pixels) from `current` to keyframe `key` (grey,
        corners, mask), inliers),
        (None, 0) when the background cannot be followed, or ("still", 0) when the keyframe has
        too few corners to follow anything."""
        grey, corners, key_mask = key[0], key[1], key[2]
        if corners is None or len(corners) < MIN_FEATURES:
            return "still", 0
        moved, status, _ = cv2.calcOpticalFlowPyrLK(grey, current, corners, None, winSize=FLOW_WINDOW,
                                                    maxLevel=FLOW_LEVELS)
        ok = status.ravel() == 1
        src, dst = moved.reshape(-1, 2)[ok], corners.reshape(-1, 2)[ok]
        inside = (src[:, 0] >= 0) & (src[:, 1] >= 0) & (src[:, 0] < self.size[0]) & (src[:, 1] < self.size[1])
        src, dst = src[inside], dst[inside]
        keep = current_mask[src[:, 1].astype(int), src[:, 0].astype(int)] > 0
        src, dst = src[keep], dst[keep]
        if len(src) < MIN_INLIERS:
            return None, 0
        matrix, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_THRESHOLD)
        if matrix is None:
            return None, 0
        inliers = inliers.ravel().astype(bool)
        if inliers.sum() < MIN_INLIERS or inliers.mean() < MIN_INLIER_RATIO:
            return None, 0
        step = zoom_and_shift(src[inliers], dst[inliers])
        # Corners along a single edge (a floor line), on a moving shadow, or on a smooth wall in
        # compression noise can fake a motion. A large motion that many more corners follow than
        # stayed put, spread over the picture rather than along one line, is taken as it is (on a
        # plain wall a pan barely changes the picture, so a picture test would call it still);
        # any other must explain the background clearly better than a still camera does.
        stayed = int((np.abs(src - dst).max(axis=1) < RANSAC_THRESHOLD).sum())
        across = np.sqrt(max(np.linalg.eigvalsh(np.cov(src[inliers].T))[0], 0.0))  # the inliers' narrow extent
        frame_corners = np.array([[0, 0, 1], [self.size[0], 0, 1], [0, self.size[1], 1], [self.size[0], self.size[1], 1]])
        large = np.abs(frame_corners @ step.T - frame_corners[:, :2]).max() >= STILL_SHIFT
        if not (large and inliers.sum() >= MOTION_SUPPORT * max(stayed, 1) and across >= MOTION_SPREAD * self.size[0]):
            both = cv2.bitwise_and(key_mask, current_mask)
            still_error = cv2.mean(cv2.absdiff(current, grey), mask=both)[0]
            moved = cv2.warpAffine(current, step, self.size, flags=cv2.INTER_LINEAR)
            moved_error = cv2.mean(cv2.absdiff(moved, grey), mask=both)[0]
            if still_error <= moved_error + STILL_MARGIN:
                return "still", int(inliers.sum())
        return step, int(inliers.sum())

    def add(self, frame, person):
        """(segment id, 2x3 transform from this frame's full-size pixels to its reference's) of
        the next frame, given at any size (a smaller copy saves the shrinking); `person` is a
        uint8 mask (any size, non-zero = person) or None.

        Background corners of a keyframe, whose transform to the reference is known, are
        tracked into each frame (KLT optical flow). A still camera thus stays exactly still, with
        no error adding up frame after frame; when the camera has moved on and the keyframe's
        corners fade, the frame (tracked from the previous one) becomes the next keyframe."""
        if frame.shape[1::-1] != self.size:
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        mask = self.background(person)
        transform = None
        if self.keyframe is not None:
            step, inliers = self.track(self.keyframe, grey, mask)
            if isinstance(step, str):
                transform = self.keyframe[3]
            elif step is not None:
                transform = compose(self.keyframe[3], step)
            if step is None or (not isinstance(step, str) and inliers < KEYFRAME_FADE * len(self.keyframe[1])):
                if step is None:  # lost from the keyframe: try the previous frame, a smaller step
                    previous_grey, previous_mask, previous_transform = self.previous
                    step, _ = self.track((previous_grey, self.corners(previous_grey, previous_mask), previous_mask),
                                         grey, mask)
                    transform = (None if step is None else previous_transform if isinstance(step, str)
                                 else compose(previous_transform, step))
                if transform is not None:
                    self.keyframe = (grey, self.corners(grey, mask), mask, transform)
        if transform is None:  # the first frame, or a shot change
            self.segment += 1
            transform = np.eye(2, 3)
            self.keyframe = (grey, self.corners(grey, mask), mask, transform)
        self.previous = (grey, mask, transform)
        return self.segment, to_full_resolution(transform, self.scale)


def zoom_and_shift(src, dst):
    """Least-squares zoom and shift taking points `src` to `dst`. A hand-held or panning camera
    does not roll, and leaving rotation out keeps chained steps from drifting into one."""
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    scale = float(((src - src_mean) * (dst - dst_mean)).sum() / max(((src - src_mean) ** 2).sum(), 1e-9))
    shift = dst_mean - scale * src_mean
    return np.array([[scale, 0, shift[0]], [0, scale, shift[1]]])


def compose(outer, inner):
    """The 2x3 affine transform `outer` after `inner`."""
    return (np.vstack([outer, [0, 0, 1]]) @ np.vstack([inner, [0, 0, 1]]))[:2]


def invert(transform):
    return cv2.invertAffineTransform(np.asarray(transform, np.float64))


def to_full_resolution(transform, scale):
    """A transform between registration-sized images -> the same between full frames."""
    out = np.array(transform, np.float64)
    out[:, 2] /= scale
    return out


def active_area(frames):
    """(x0, y0, x1, y1) of the picture inside a letterbox (dark bars, maybe with titles), from
    a few frames: rows and columns that are mostly dark in their median are the border."""
    median = np.median(np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]), axis=0)
    dark = median < DARK_LEVEL
    rows = np.flatnonzero(dark.mean(axis=1) < 0.5)
    cols = np.flatnonzero(dark.mean(axis=0) < 0.5)
    h, w = median.shape
    if len(rows) == 0 or len(cols) == 0:
        return (0, 0, w, h)
    x0, y0, x1, y1 = int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
    if (x0, y0, x1, y1) == (0, 0, w, h):
        return (0, 0, w, h)
    return (x0 + 2, y0 + 2, x1 - 2, y1 - 2)  # the picture's edge rows are often darkened


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
    """One segment's plate from (frame, person mask, transform to the reference) samples.

    The plate covers everything the samples saw (a pan widens it past the reference frame):
    returns (plate BGR, unseen mask bool, origin), where `origin` is the reference-frame position
    of the plate's pixel (0, 0). Only the active area (inside a letterbox) is taken."""
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
    return fill_unseen(plate, unseen), unseen, (float(low[0]), float(low[1]))


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


def shrink(image, size):
    """A square image resized to `size` x `size`. OpenCV's INTER_AREA is slow at a fractional
    factor (1.3 ms for 700 -> 256 px) and fast at a whole one, so a picture more than twice as
    large is first brought to a whole multiple of `size` by linear interpolation and then averaged
    down: 4x faster, within 49 dB of the direct resize."""
    side = image.shape[0]
    if side <= size:
        return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR)
    factor = side // size
    if factor >= 2 and side != factor * size:
        image = cv2.resize(image, (factor * size, factor * size), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def _span(start, length, limit):
    """(lo, hi, before, after): the pixels [lo, hi) of a row or column of `limit` that cover
    [start, start + length) once `before` and `after` replicated pixels are added (one edge
    pixel when the span lies wholly outside)."""
    lo = min(max(start, 0), limit - 1)
    hi = max(min(start + length, limit), lo + 1)
    before = min(max(0, lo - start), length - (hi - lo))
    return lo, hi, before, length - before - (hi - lo)


def cut_square(frame, box, out_size):
    """The square `box` of `frame`, replicated at the borders, resized to out_size."""
    iside = int(np.ceil(box[2]))
    x0, x1, left, right = _span(int(np.floor(box[0])), iside, frame.shape[1])
    y0, y1, top, bottom = _span(int(np.floor(box[1])), iside, frame.shape[0])
    patch = frame[y0:y1, x0:x1]
    if left or right or top or bottom:
        patch = cv2.copyMakeBorder(patch, top, bottom, left, right, cv2.BORDER_REPLICATE)
    return shrink(patch, out_size)


def crop_transform(box, size):
    """2x3 transform from a `size` px crop's pixels to the frame pixels of crop `box` (x0, y0,
    side), rounded as cut_square rounds it."""
    x0, y0, side = np.floor(box[0]), np.floor(box[1]), np.ceil(box[2])
    s = side / size
    return np.array([[s, 0, x0 + 0.5 * s - 0.5], [0, s, y0 + 0.5 * s - 0.5]])


def plate_crop(plate, transform, box, size):
    """What the plate shows behind crop `box` of a frame whose pixels map to the plate's by
    `transform`: a `size` x `size` BGR image. A crop much larger than `size` is warped at its
    own resolution first and then shrunk by area, as the crops themselves are."""
    work = int(min(np.ceil(box[2]), 4 * size)) if box[2] > 1.5 * size else size
    crop_to_plate = compose(transform, crop_transform(box, work))
    out = cv2.warpAffine(plate, crop_to_plate, (work, work), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)
    return out if work == size else shrink(out, size)


def composite(person, alpha, background):
    """person * alpha + background * (1 - alpha), rounded; alpha is H x W in [0, 1]."""
    a = np.ascontiguousarray(alpha, np.float32)
    return cv2.blendLinear(np.ascontiguousarray(person), np.ascontiguousarray(background), a, 1 - a)


class Plates:
    """The plates of one video's segments, and which plate (and transform) each cached frame uses.

    A frame whose segment has no training frame (a shot that only the held-out part shows) uses
    the plate and transform of the nearest training frame: evaluation never sees a plate made
    from the frames it scores."""

    def __init__(self, built, screen, active):
        self.built = built  # segment -> (plate BGR, unseen bool mask, origin in reference pixels)
        # A letterbox (and its titles) stays where it is on the screen while the camera moves: a
        # crop that reaches into it shows it, so plate crops take it from `screen` (the median
        # frame) outside the `active` picture area (x0, y0, x1, y1).
        self.screen = screen
        self.active = tuple(int(v) for v in active)
        h, w = screen.shape[:2]
        self.active_mask = np.zeros((h, w), np.uint8)
        x0, y0, x1, y1 = self.active
        self.active_mask[y0:y1, x0:x1] = 255
        self.letterboxed = self.active != (0, 0, w, h)
        self.frame_segment = self.frame_transform = None

    def save(self, folder):
        """Write the plates as PNGs and swap the folder into place whole."""
        tmp = f"{folder}.building-{os.getpid()}"
        os.makedirs(tmp, exist_ok=True)
        for segment, (plate, unseen, _) in self.built.items():
            cv2.imwrite(os.path.join(tmp, f"plate_{segment:04d}.png"), plate)
            cv2.imwrite(os.path.join(tmp, f"unseen_{segment:04d}.png"), unseen.astype(np.uint8) * 255)
        cv2.imwrite(os.path.join(tmp, "screen.png"), self.screen)
        with open(os.path.join(tmp, "segments.json"), "w") as f:
            json.dump({"origins": {str(k): list(origin) for k, (_, _, origin) in self.built.items()},
                       "active": list(self.active)}, f)
        if os.path.exists(folder):
            shutil.rmtree(folder)
        os.rename(tmp, folder)

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
                built[segment] = (plate, unseen > 0, (float(origin[0]), float(origin[1])))
        except (OSError, ValueError, TypeError, KeyError):
            return None
        return cls(built, screen, saved["active"]) if built else None

    def unseen_share(self):
        return float(np.mean([unseen.mean() for _, unseen, _ in self.built.values()]))

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
        """2x3 transform from cached frame `i`'s pixels to its plate's pixels, and the plate."""
        plate, _, origin = self.built[int(self.frame_segment[i])]
        transform = self.frame_transform[i].copy()
        transform[:, 2] -= origin
        return transform, plate

    def crop(self, i, box, size):
        """The plate behind crop `box` of cached frame `i`, at `size` px (with the letterbox where
        the crop reaches into it, as the real crop does)."""
        transform, plate = self.frame_to_plate(i)
        background = plate_crop(plate, transform, box, size)
        if not self.letterboxed:
            return background
        inside = cut_square(self.active_mask, box, size) > 127
        return np.where(inside[:, :, None], background, cut_square(self.screen, box, size))

    def main_segment(self):
        """The segment with the most frames: the scene the demo plays in."""
        counts = np.bincount(self.frame_segment)
        return int(np.argmax(counts))
