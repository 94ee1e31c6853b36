"""Background registration: which frames of a video share one background ("segment", a shot) and
how each frame's pixels map onto its segment's first frame, so that a plate (plates.py) can be
built from many frames of a moving camera.

Corners of the background (person and letterbox masked out) of a keyframe are tracked into each
frame by optical flow and fitted with a zoom and a shift by RANSAC; a new keyframe is taken when
the camera has moved on, chained to the segment's first frame. It absorbs camera shake, pans and
zooms. A frame that cannot be tracked starts a new segment (a shot change). A background too plain
to have corners (a studio wall) is taken as still. A letterbox (dark bars, maybe with titles)
stays still while the camera moves: `active_area` finds the picture inside it.
"""
import cv2
import numpy as np

from geometry import compose

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
        if is_letterboxed((x0, y0, x1, y1), self.size[::-1]):
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


def is_letterboxed(active, frame_shape):
    """Whether the picture area `active` (x0, y0, x1, y1) is less than the whole frame."""
    return tuple(int(v) for v in active) != (0, 0, int(frame_shape[1]), int(frame_shape[0]))
