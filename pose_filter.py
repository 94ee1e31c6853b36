"""A skeleton track steadied over time: the One Euro filter (Casiez, Roussel and Vogel, CHI 2012)
on every landmark's position, frame by frame.

MediaPipe's landmarks tremble by a pixel or two from frame to frame even in its tracking mode, and
a generator that bends the target's own pixels into each pose (the exemplar warp) shows every
tremble as the whole limb's texture shaking. The filter is a low-pass whose cut-off rises with the
landmark's speed: still or slow poses are steadied hard, fast moves pass with little lag. On
taichi2's held-out frames, for the warped exemplar alone: flicker 1.23 -> 1.15, and the pose error
against the *unfiltered* skeletons fell too (0.0333 -> 0.0275): the trembling knees of the wide
stances sent the exemplar search and the leg transforms astray. A still landmark is filtered at
2 Hz; one moving at a crop side per second (a quick arm) at 12 Hz, a lag of about 0.4 frame.
A gain of 1 steadied no better on tai chi (flicker 1.13) and lagged 1.6 frames on such an arm.

Rates are per frame of the sequence (the generator does not know the video's frame rate); the
defaults were chosen at about 30 frames per second.
"""
import math

import numpy as np

from Skeleton import Skeleton

MIN_CUTOFF = 2.0 / 30  # cycles per frame (2 Hz at 30 fps): how hard a still landmark is steadied
SPEED_GAIN = 10.0      # Hz the cut-off rises by per crop side per second of the landmark's speed
SPEED_CUTOFF = 1.0 / 30  # cycles per frame: the low-pass on the speed estimate itself
FRAMES_PER_SECOND = 30.0  # only to express SPEED_GAIN in crop sides per second


def _smoothing(cutoff):
    """The exponential-average weight of the new sample for a low-pass at `cutoff` cycles per frame."""
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau)


class PoseFilter:
    """Feed it a sequence's skeletons in order (`__call__`); `reset` between two sequences. Only
    the landmarks' (x, y) are filtered; depth and visibility pass as they are."""

    def __init__(self, min_cutoff=MIN_CUTOFF, speed_gain=SPEED_GAIN):
        self.min_cutoff, self.speed_gain = min_cutoff, speed_gain
        self.position = None
        self.speed = None

    def reset(self):
        self.position, self.speed = None, None

    def __call__(self, ske):
        """The steadied Skeleton of `ske` (a new one; `ske` is left as it is)."""
        xy = ske.landmarks[:, :2].astype(np.float64)
        if self.position is None:
            self.position, self.speed = xy, np.zeros_like(xy)
        else:
            a = _smoothing(SPEED_CUTOFF)
            self.speed = a * (xy - self.position) + (1 - a) * self.speed
            speed = np.abs(self.speed).max(axis=1, keepdims=True) * FRAMES_PER_SECOND
            a = _smoothing(self.min_cutoff + self.speed_gain * speed / FRAMES_PER_SECOND)
            self.position = a * xy + (1 - a) * self.position
        steadied = Skeleton(ske.landmarks)
        steadied.landmarks[:, :2] = self.position
        return steadied
