"""Where the output is a guess: how well the target's own video covers each pose of the source.

A person-specific model can only be as good as the poses its target video shows. A source pose is
*covered* when its distance to the closest pose the target ever showed (the facing-aware distance
of exemplars.PoseIndex, on the retargeted pose) is no larger than the target's own unseen frames
are from the rest of its video: the threshold is a high percentile (`THRESHOLD_PERCENTILE`) of the
distances of each stretch of the target's frames to the frames outside it (the video cut into
`CALIBRATION_FOLDS` stretches, each held out in turn, a margin of `CALIBRATION_GAP_SECONDS`
around it left out too, so a frame is never matched with its own neighbours). So "covered" means
"as close as the target's unseen frames are to the frames it was trained on", measured on the
target itself, never a constant.

`Coverage` scores poses; `CoverageLog` keeps a run's scores, says in one line what share of the
source was not covered and when, and draws the picture (`draw`): the coverage distance over time
against the threshold, and the worst source frames beside the closest target frame, so a user sees
which moves to film the target doing. `thin_ranges` says which body parts' ranges the target video
leaves out (the knee never above the hip, ...).
"""
import heapq
from collections import namedtuple

import cv2
import numpy as np

from exemplars import index_of
from geometry import resize
from Skeleton import L_ANKLE, L_HIP, L_KNEE, L_SHOULDER, L_WRIST, NOSE, R_ANKLE, R_HIP, R_KNEE, R_SHOULDER, R_WRIST

THRESHOLD_PERCENTILE = 95
CALIBRATION_FOLDS = 5
CALIBRATION_GAP_SECONDS = 1.0
CALIBRATION_QUERIES = 600  # target frames (spread over the video) whose distances set the threshold
MIN_RANGE_SECONDS = 0.2   # an uncovered stretch shorter than this is not worth a time range...
MERGE_GAP_SECONDS = 0.5   # ...and two stretches closer than this are one
WORST_SHOWN = 3           # source frames the picture shows beside their closest target frame...
WORST_APART_SECONDS = 1.0  # ...at least this far apart in time (not four views of one moment)
WORST_KEPT = 64           # candidates kept (with a small picture) to choose them from

# One scored source frame: its number and time (s), the distance to the closest target frame,
# whether it is covered, that target frame (cached index), and for the worst few the source frame.
Scored = namedtuple("Scored", "index seconds distance covered closest picture")


class Coverage:
    """The coverage of poses by a target (a VideoSkeleton; see the module docstring)."""

    def __init__(self, target_vs):
        self.target = target_vs
        self.search = index_of(target_vs)
        self.threshold = self.calibrate(target_vs)

    def calibrate(self, target_vs):
        """The distance under which a pose counts as covered: THRESHOLD_PERCENTILE of the target's
        frames' distances to the frames outside their own stretch of the video."""
        count = len(self.search)
        if count < 2 * CALIBRATION_FOLDS:
            return float("inf")  # too few frames to tell: everything counts as covered
        gap = target_vs.cached_frames_in(CALIBRATION_GAP_SECONDS)
        frames = self.search.frame_numbers
        queries = set(np.linspace(0, count - 1, min(count, CALIBRATION_QUERIES)).round().astype(int).tolist())
        distances = []
        for fold in np.array_split(np.arange(count), CALIBRATION_FOLDS):
            lo, hi = frames[fold[0]] - gap, frames[fold[-1]] + gap
            outside = (frames < lo) | (frames > hi)
            for k in fold:
                if k in queries and outside.any():
                    distances.append(self.search.distances(target_vs.landmarks[k])[outside].min())
        if not distances:  # a video so short that every stretch's margin covers the rest of it
            return float("inf")
        return float(np.percentile(distances, THRESHOLD_PERCENTILE))

    def score(self, landmarks):
        """(distance to the closest target frame, whether covered, that frame's cached index)."""
        d = self.search.distances(landmarks)
        best = int(np.argmin(d))
        return float(d[best]), bool(d[best] <= self.threshold), best


class CoverageLog:
    """The coverage of a run's source frames, as they come."""

    def __init__(self, coverage, fps):
        self.coverage, self.fps = coverage, fps
        self.scored = []
        self.worst = []  # a min-heap of (distance, position in scored, small picture): the worst few

    def add(self, index, target_ske, picture=None, source_ske=None):
        """Score the retargeted pose of source frame `index` (None: nobody was found); keeps a
        small copy of `picture` (the source frame, with `source_ske` drawn) while it is among the
        worst. Returns the Scored."""
        if target_ske is None:
            return None
        distance, covered, closest = self.coverage.score(target_ske.landmarks)
        item = Scored(index, index / self.fps, distance, covered, closest, None)
        if picture is not None and (len(self.worst) < WORST_KEPT or distance > self.worst[0][0]):
            drawn = picture if source_ske is None else source_ske.draw(picture.copy())
            small = resize(drawn, max(1, round(picture.shape[1] * 96 / picture.shape[0])), 96)
            heapq.heappush(self.worst, (distance, len(self.scored), small))
            if len(self.worst) > WORST_KEPT:
                heapq.heappop(self.worst)
        self.scored.append(item)
        return item

    def uncovered_share(self):
        return float(np.mean([not s.covered for s in self.scored])) if self.scored else 0.0

    def uncovered_ranges(self):
        """[(start s, end s)] of the stretches of uncovered source frames, merged across short gaps
        and without the ones too short to matter."""
        ranges = []
        for s in self.scored:
            if s.covered:
                continue
            if ranges and s.seconds - ranges[-1][1] <= MERGE_GAP_SECONDS:
                ranges[-1][1] = s.seconds
            else:
                ranges.append([s.seconds, s.seconds])
        return [(a, b) for a, b in ranges if b - a + 1 / self.fps >= MIN_RANGE_SECONDS]

    def summary(self):
        """One line: what share of the source's poses the target never showed, and when."""
        if not self.scored:
            return "coverage: no source frame had a person"
        share, ranges = self.uncovered_share(), self.uncovered_ranges()
        if share == 0:
            return f"coverage: the target's video shows every pose of the source ({len(self.scored)} frames)"
        when = ", ".join(f"{a:.1f}-{b + 1 / self.fps:.1f} s" for a, b in ranges[:6]) + (", ..." if len(ranges) > 6 else "")
        return (f"coverage: {share:.0%} of the source's poses are not in the target's video "
                f"({'at ' + when if ranges else 'single frames'}); there the output is a guess: film the target "
                "doing those moves to make it real")

    def draw(self):
        """The picture: coverage distance over time against the threshold (uncovered stretches
        shaded), and the worst source frames beside the closest target frame (BGR image)."""
        width, plot_height, pad = 900, 280, 50
        plot = np.full((plot_height, width, 3), 255, np.uint8)
        cv2.putText(plot, "how far each source pose is from the closest pose of the target video", (pad, 20),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        if self.scored:
            seconds = np.array([s.seconds for s in self.scored])
            distances = np.array([s.distance for s in self.scored])
            threshold = self.coverage.threshold
            top = max(float(distances.max()), threshold if np.isfinite(threshold) else 0) * 1.1 + 1e-6
            end = max(float(seconds[-1]), 1e-3)
            x = lambda t: int(pad + (width - 2 * pad) * t / end)  # noqa: E731
            y = lambda d: int(plot_height - pad - (plot_height - 2 * pad - 20) * min(d, top) / top)  # noqa: E731
            for a, b in self.uncovered_ranges():
                cv2.rectangle(plot, (x(a), y(top)), (max(x(b), x(a) + 1), y(0)), (200, 210, 255), -1)
            cv2.line(plot, (pad, y(0)), (width - pad, y(0)), (0, 0, 0), 1)
            cv2.line(plot, (pad, y(0)), (pad, y(top)), (0, 0, 0), 1)
            # one line per stretch of frames with a person (none is drawn across a gap)
            breaks = np.flatnonzero(np.diff(seconds) > 2.5 / self.fps) + 1
            for part_t, part_d in zip(np.split(seconds, breaks), np.split(distances, breaks)):
                points = np.array([(x(t), y(d)) for t, d in zip(part_t, part_d)], np.int32)
                cv2.polylines(plot, [points], False, (160, 60, 0), 1, cv2.LINE_AA)
            if np.isfinite(threshold):
                cv2.line(plot, (pad, y(threshold)), (width - pad, y(threshold)), (0, 0, 220), 1, cv2.LINE_AA)
                cv2.putText(plot, "covered below this line (the target's own unseen frames)", (pad + 6, y(threshold) - 5),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 220), 1, cv2.LINE_AA)
            for value in (0, top / 2):
                cv2.putText(plot, f"{value:.2f}", (4, y(value) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
            cv2.putText(plot, "distance", (4, y(top) - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
            step = next(s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1e9) if end / s <= 8)
            for t in np.arange(0, end + 1e-6, step):  # ticks at round seconds, labelled as they are
                cv2.putText(plot, f"{t:g} s", (x(t) - 10, y(0) + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
            cv2.putText(plot, f"{self.uncovered_share():.0%} of the source's poses are not covered (shaded): the output "
                        "is a guess there", (pad, 42), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 160), 1, cv2.LINE_AA)
        return np.vstack([plot, self._worst_strip(width)])

    def _worst_strip(self, width):
        """The worst scored source frames, each beside its closest target frame."""
        worst = []
        for _, k, small in sorted(self.worst, key=lambda w: -w[0]):
            item = self.scored[k]
            if len(worst) < WORST_SHOWN and all(abs(item.seconds - w.seconds) >= WORST_APART_SECONDS for w in worst):
                worst.append(item._replace(picture=small))
        strip = np.full((140, width, 3), 255, np.uint8)
        cv2.putText(strip, "the farthest source poses | the closest the target shows", (8, 16),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        x = 8
        for s in worst:
            target = resize(self.coverage.target.read_image(int(s.closest), at_least=96), 96)
            pair = np.hstack([s.picture, target])
            if x + pair.shape[1] > width:
                break
            strip[28:124, x:x + pair.shape[1]] = pair
            cv2.putText(strip, f"{s.seconds:.1f} s" + ("" if s.covered else " (not covered)"), (x, 136),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0) if s.covered else (0, 0, 160), 1)
            x += pair.shape[1] + 12
        return strip


def thin_ranges(landmarks):
    """Sentences on what the target video never shows, from its landmarks (N, 33, 4) in crop
    coordinates (y grows downwards): a knee never above its hip, a wrist never above the head or
    never below the hips, never seen from the side."""
    xy = np.asarray(landmarks, np.float32)[:, :, :2]
    notes = []
    for side, knee, hip, wrist, shoulder in (("left", L_KNEE, L_HIP, L_WRIST, L_SHOULDER),
                                              ("right", R_KNEE, R_HIP, R_WRIST, R_SHOULDER)):
        if (xy[:, knee, 1] > xy[:, hip, 1]).all():
            notes.append(f"the {side} knee never rises above the hip")
        if (xy[:, wrist, 1] > xy[:, NOSE, 1]).all():
            notes.append(f"the {side} hand never goes above the head")
        if (xy[:, wrist, 1] < xy[:, shoulder, 1]).all():
            notes.append(f"the {side} hand never goes below the shoulder")
    feet_apart = np.abs(xy[:, L_ANKLE, 0] - xy[:, R_ANKLE, 0]) / np.maximum(
        np.abs(xy[:, L_HIP, 0] - xy[:, R_HIP, 0]), 1e-3)
    if (feet_apart < 2.5).all():
        notes.append("the feet are never far apart (no wide stance)")
    order = (xy[:, L_SHOULDER, 0] - xy[:, R_SHOULDER, 0]) / np.maximum(
        np.linalg.norm((xy[:, L_SHOULDER] + xy[:, R_SHOULDER]) / 2 - (xy[:, L_HIP] + xy[:, R_HIP]) / 2, axis=1), 1e-3)
    if (order > 0.3).all():
        notes.append("the target is never seen from the side or from behind")
    return notes
