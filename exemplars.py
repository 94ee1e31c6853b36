"""Which of the target's frames shows a pose: the facing-aware pose search shared by the nearest
generator, the exemplar-warped GAN and the coverage report.

Poses are compared as in Skeleton.normalize_reduced (translation and scale removed; mean joint
distance in torso lengths), plus a facing term: the left/right order of the shoulders and of the
hips (a person seen from the front has their left shoulder on the image's right; turned
sideways the order shrinks and flips), MediaPipe's depth difference between the shoulders, and
the visibility of the face points. Two poses whose joints fall in the same places but that face
different ways are then far apart, so a front-facing query never gets a side or back view.

Temporal mode (the demo's): the search remembers its last pick and, among the candidates nearly as
close as the best, takes the frame that follows the last pick in the target video, so the output
plays stretches of the real video instead of jumping between look-alike frames. With `hold` (the
exemplar search: a warp bends the exemplar into the pose anyway), when the following frame no
longer fits but the last pick still does, it keeps the last pick: every change of exemplar shows
as a jump of texture and folds, which the warp does not need (on taichi2's held-out frames 9
changes instead of 18, flicker 1.20 -> 1.15; on the shipped target 1.20 -> 1.04). Twice the
slack held longer but cost the shipped target 0.7 dB of held-out PSNR. With `hold_first` (the
search of a network trained on exemplars like held ones, TargetData's candidates), the last
pick is kept while it fits even when the following frame fits too: following the target
video changes the exemplar nearly every frame, and its folds and timing with it, which was most
of the output's flicker on taichi2 (68% of its frame-to-frame change, at 1.12x the real video's
change on those frames; while an exemplar was held the output changed as much as the real video
did). A network trained on the closest exemplar only lost pose on held exemplars (taichi2 held
out: pose error 0.0331 -> 0.0418), one trained on candidates much less (0.0285 -> 0.0306), for
flicker 1.03 -> 0.92 and a transfer from karate1 0.0663 / 0.665 -> 0.0486 / 0.741 (pose error / PCK).

Exemplar searches (`for_warp`) also count the parts the query shows that MediaPipe barely sees in
a candidate (pose_warp.seen_parts): the warp drops such a part, and the network must then paint
it. On taichi2's held-out frames a third of the picks lacked a part the query showed (side views
hide a limb), and those frames had up to twice the warp's pose error of the others; with the
term, the warped exemplar alone: pose error 0.0397 -> 0.0332, PCK 0.805 -> 0.845.

A `steady` search (the exemplar search) picks for a steadied track of the queries
(pose_filter.PoseFilter at the sequence's frame rate, given to `reset`): MediaPipe's trembling
knees in wide stances otherwise send it to another exemplar and back. The warped exemplar alone
on taichi2's held-out frames: pose error 0.0333 -> 0.0292, PCK 0.845 -> 0.854; the shipped
target's held-out PSNR is unchanged (33.03 -> 33.00 dB).
A search over some `joints` only (with the missing-part term over some `parts`) picks the
exemplar of part of the body: the legs come from the training frame whose hips, knees and ankles
fit best (network_generator.LEGS_OWN_EXEMPLAR).
"""
import numpy as np

from pose_filter import PoseFilter
from pose_warp import LEG_PARTS, PART_NAMES, seen_parts
from Skeleton import FACE_POINTS, L_HIP, L_SHOULDER, NOSE, R_HIP, R_SHOULDER, REDUCED_JOINTS, normalize_reduced

ORDER_WEIGHT = 0.15   # torso lengths of distance per unit of shoulder/hip order difference (in torso lengths)
DEPTH_WEIGHT = 0.3    # per unit of difference in MediaPipe's shoulder depth difference
FACE_WEIGHT = 0.2     # per unit of difference in the face points' mean visibility
# A candidate within this much of the best distance (relative + absolute, in torso lengths per
# joint) counts as "nearly as close" for the temporal mode.
TEMPORAL_RELATIVE_SLACK = 0.15
TEMPORAL_ABSOLUTE_SLACK = 0.03
MISSING_PART_WEIGHT = 0.05  # per part the query shows and the candidate's MediaPipe barely sees (for_warp)
LEG_JOINTS = (7, 8, 9, 10, 11, 12)  # of the 13 reduced joints: the hips, knees and ankles
LEG_PART_MASK = np.array([name in LEG_PARTS for name in PART_NAMES])
EXEMPLAR_WINDOW_SECONDS = 2.0  # a training frame's exemplar comes from at least this far away in time


def fits_as_well(best_distance):
    """The largest distance of a candidate "nearly as close" as the best one: what the temporal
    mode keeps or follows in use, and what a training frame's exemplar candidates may be."""
    return best_distance * (1 + TEMPORAL_RELATIVE_SLACK) + TEMPORAL_ABSOLUTE_SLACK


def facing(landmarks):
    """(N, 4) facing features of (N, 33, 4) landmarks: shoulder and hip left/right order in torso
    lengths, the shoulders' depth difference, the face points' visibility."""
    lm = np.asarray(landmarks, np.float32)
    torso = np.linalg.norm((lm[:, L_SHOULDER, :2] + lm[:, R_SHOULDER, :2]) / 2
                           - (lm[:, L_HIP, :2] + lm[:, R_HIP, :2]) / 2, axis=1)
    torso = np.maximum(torso, 1e-3)
    return np.stack([(lm[:, L_SHOULDER, 0] - lm[:, R_SHOULDER, 0]) / torso,
                     (lm[:, L_HIP, 0] - lm[:, R_HIP, 0]) / torso,
                     lm[:, L_SHOULDER, 2] - lm[:, R_SHOULDER, 2],
                     lm[:, [NOSE] + FACE_POINTS, 3].mean(axis=1)], axis=1)


FACING_WEIGHTS = np.array([ORDER_WEIGHT / 2, ORDER_WEIGHT / 2, DEPTH_WEIGHT, FACE_WEIGHT], np.float32)


class PoseIndex:
    """The facing-aware pose search over some of a target's frames (see the module docstring).

    `landmarks`: (N, 33, 4) in crop coordinates; `frame_numbers`: each one's frame in the video
    (temporal mode follows the video), `frame_step`: the video frames between two cached ones;
    `for_warp`: the search picks exemplars to warp (the missing-part term); `steady`: it picks for
    the steadied track of the queries; `joints` (of the 13 reduced ones) and `parts` (a bool per
    pose_warp part): what is compared, when the search picks the exemplar of part of the body
    (default all; poses are still normalised by the whole torso)."""

    def __init__(self, landmarks, frame_numbers, frame_step=1, temporal=False, hold=False, for_warp=False,
                 steady=False, hold_first=False, joints=None, parts=None):
        landmarks = np.asarray(landmarks, np.float32)
        if len(landmarks) == 0:
            raise ValueError("a pose search needs at least one frame")
        self.poses = normalize_reduced(landmarks[:, REDUCED_JOINTS, :2].reshape(len(landmarks), 26)).reshape(-1, 13, 2)
        self.facing = facing(landmarks)
        self.frame_numbers = np.asarray(frame_numbers)
        self.frame_step = frame_step
        self.temporal = temporal
        self.hold = hold or hold_first
        self.hold_first = hold_first
        self.seen = seen_parts(landmarks) if for_warp else None
        self.steadier = PoseFilter() if steady else None
        self.last_pick = None
        self.joints = slice(None) if joints is None else list(joints)
        self.parts = np.ones(len(PART_NAMES), bool) if parts is None else np.asarray(parts, bool)

    def __len__(self):
        return len(self.poses)

    def reset(self, frames_per_second=None):
        """Forget the previous pick and poses (call between two sequences in temporal or steady
        mode); the next sequence's frames come at `frames_per_second` (None: not known)."""
        self.last_pick = None
        if self.steadier is not None:
            self.steadier.reset(frames_per_second)

    def distances(self, landmarks):
        """Distance (torso lengths per joint, with the facing term) from the pose `landmarks`
        (33 x 4) to every indexed frame."""
        landmarks = np.asarray(landmarks, np.float32)[None]
        query = normalize_reduced(landmarks[:, REDUCED_JOINTS, :2].reshape(1, 26)).reshape(13, 2)
        difference = (self.poses - query)[:, self.joints]
        joints = np.sqrt(np.einsum("njc,njc->nj", difference, difference)).mean(axis=1)
        d = joints + np.abs(self.facing - facing(landmarks)) @ FACING_WEIGHTS
        return d if self.seen is None else d + self.missing_parts(seen_parts(landmarks[0]))

    def missing_parts(self, shown):
        """The cost of the parts in `shown` (parts bool) that each indexed frame barely sees
        (for_warp searches only)."""
        return MISSING_PART_WEIGHT * (shown & ~self.seen & self.parts).sum(axis=1)

    def pick(self, landmarks, prefer=None):
        """(position among the indexed frames, distance) of the frame chosen for `landmarks`;
        `prefer`: a position taken whenever it fits nearly as well as the best (the body's
        exemplar, for the legs' search: one frame where one fits)."""
        if self.steadier is not None:
            landmarks = self.steadier(landmarks)
        d = self.distances(landmarks)
        best = int(np.argmin(d))
        if prefer is not None and d[prefer] <= fits_as_well(d[best]):
            best = prefer
        elif self.temporal and self.last_pick is not None:
            fits = fits_as_well(d[best])
            following = self.last_pick + 1
            if self.hold_first and d[self.last_pick] <= fits:
                best = self.last_pick
            elif (following < len(d) and self.frame_numbers[following] == self.frame_numbers[self.last_pick] + self.frame_step
                    and d[following] <= fits):
                best = following  # keep playing the target video while it still fits the pose
            elif self.hold and d[self.last_pick] <= fits:
                best = self.last_pick
        self.last_pick = best
        return best, float(d[best])

    def nearest_apart(self, window, candidates=1):
        """For every indexed frame, the positions of the closest other indexed frames more than
        `window` video frames away from it: a training frame's exemplar, as unlike itself in time
        as a new pose is in use (a neighbour would be the same picture, nearly). An array N x
        `candidates`, closest first; beyond the closest, only frames that fit as the temporal
        mode's held or followed pick would in use (within its slack of the closest), and where
        fewer fit, -1."""
        picks = np.full((len(self), candidates), -1, np.int64)
        for k in range(len(self)):
            d = np.sqrt(((self.poses - self.poses[k]) ** 2).sum(axis=2)).mean(axis=1)
            d += np.abs(self.facing - self.facing[k]) @ FACING_WEIGHTS
            if self.seen is not None:
                d += self.missing_parts(self.seen[k])
            d[np.abs(self.frame_numbers - self.frame_numbers[k]) <= window] = np.inf
            if not np.isfinite(d).any():
                picks[k, 0] = k
                continue
            order = np.argsort(d, kind="stable")[:candidates]
            fits = fits_as_well(d[order[0]])
            order = order[d[order] <= fits]
            picks[k, :len(order)] = order
        return picks


def index_of(video_ske, indices=None, temporal=False, hold=False, for_warp=False, steady=False, hold_first=False,
             joints=None, parts=None):
    """The PoseIndex of a VideoSkeleton's cached frames `indices` (default all)."""
    indices = np.arange(video_ske.ske_count()) if indices is None else np.asarray(indices)
    return PoseIndex(video_ske.landmarks[indices], [video_ske.frame_index(i) for i in indices],
                     video_ske.settings["frame_mod"], temporal, hold, for_warp, steady, hold_first, joints, parts)
