"""A skeleton track steadied over time: the One Euro filter (Casiez, Roussel and Vogel, CHI 2012)
on every landmark's position, frame by frame, at the sequence's own frame rate.

MediaPipe's landmarks tremble by a pixel or two from frame to frame even in its tracking mode. The
filter is a low-pass whose cut-off rises with the landmark's speed: a still landmark is steadied
hard, a moving one passes with little lag. Its rates are in hertz and crop sides per second, so it
needs the frames' rate (`reset(frames_per_second)`); without one it assumes 30.

Only the exemplar search uses it (exemplars.PoseIndex(steady=True)): *which* frame is bent into
the pose follows the steadied track, *where* the pixels go follows the pose as given. Steadying
the pose the warp bends into as well made taichi2's warped exemplar steadier still (flicker 1.23
-> 1.15) but lags the true pose: it cost the shipped target 0.5-2 dB of held-out PSNR whatever
the gain (10-100 Hz per crop side per second), where steadying the search alone costs it nothing.
"""
import math

import numpy as np

MIN_CUTOFF_HZ = 2.0    # the cut-off of a still landmark
SPEED_GAIN_HZ = 10.0   # added to the cut-off per crop side per second of the landmark's speed
SPEED_CUTOFF_HZ = 1.0  # the low-pass on the speed estimate itself
DEFAULT_FPS = 30.0


def _smoothing(cutoff_hz, frames_per_second):
    """The exponential-average weight of the new sample for a low-pass at `cutoff_hz`."""
    tau = frames_per_second / (2 * math.pi * cutoff_hz)  # in frames
    return 1.0 / (1.0 + tau)


class PoseFilter:
    """Feed it one sequence's landmarks (33 x 4) in order; `reset` before the next. Only (x, y) are
    filtered; depth and visibility pass as they are."""

    def __init__(self, min_cutoff_hz=MIN_CUTOFF_HZ, speed_gain_hz=SPEED_GAIN_HZ):
        self.min_cutoff_hz, self.speed_gain_hz = min_cutoff_hz, speed_gain_hz
        self.frames_per_second = DEFAULT_FPS
        self.position, self.speed = None, None

    def reset(self, frames_per_second=None):
        """Start a new sequence, whose frames come at `frames_per_second` (None: 30)."""
        self.frames_per_second = float(frames_per_second or DEFAULT_FPS)
        self.position, self.speed = None, None

    def __call__(self, landmarks):
        """The steadied copy of `landmarks`."""
        landmarks = np.array(landmarks, np.float32)
        xy = landmarks[:, :2].astype(np.float64)
        fps = self.frames_per_second
        if self.position is None:
            self.position, self.speed = xy, np.zeros_like(xy)
        else:
            a = _smoothing(SPEED_CUTOFF_HZ, fps)
            self.speed = a * (xy - self.position) * fps + (1 - a) * self.speed
            speed = np.abs(self.speed).max(axis=1, keepdims=True)  # crop sides per second
            self.position = self.position + _smoothing(self.min_cutoff_hz + self.speed_gain_hz * speed, fps) * (xy - self.position)
        landmarks[:, :2] = self.position
        return landmarks
