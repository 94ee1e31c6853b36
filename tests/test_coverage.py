"""Coverage: which source poses the target's video never shows, with a threshold calibrated on the
target itself; the demo's line and picture, and Evaluate's covered vs uncovered scores."""
import json
import re

import cv2
import numpy as np

from conftest import SyntheticPoses, run_script, standing_skeleton
from coverage import Coverage, CoverageLog, thin_ranges
from Skeleton import Skeleton


class Poses(SyntheticPoses):
    """SyntheticPoses with what coverage needs of a VideoSkeleton: a frame rate (a slow one, so
    that the calibration's one-second gap leaves most of these 60 frames to compare with)."""

    fps = 5.0


def test_a_source_made_of_the_target_s_own_frames_is_fully_covered(taichi_clip, tmp_path):
    """The target's own video as the source, through the whole demo (retargeting included)."""
    from DanceDemo import DanceDemo

    demo = DanceDemo(taichi_clip, 1, target=taichi_clip, out=str(tmp_path / "self.mp4"), show=False, progress=False)
    demo.draw()
    assert len(demo.coverage_log.scored) >= 55 and demo.coverage_log.uncovered_share() == 0
    assert "every pose" in demo.coverage_log.summary()


def test_arms_raised_above_the_head_are_not_covered_by_a_target_that_never_raised_them(taichi_clip):
    from VideoSkeleton import VideoSkeleton

    target = VideoSkeleton(taichi_clip, verbose=False)
    assert "the left hand never goes above the head" in thin_ranges(target.landmarks)
    coverage = Coverage(target)
    ske = Skeleton(target.landmarks[10].copy())
    _, covered, _ = coverage.score(ske.landmarks)
    assert covered
    for shoulder, elbow, wrist, side in ((11, 13, 15, 1), (12, 14, 16, -1)):  # both arms up, crossed over the head
        ske.landmarks[elbow, :2] = ske.landmarks[shoulder, :2] + (0.04 * side, -0.13)
        ske.landmarks[wrist, :2] = ske.landmarks[elbow, :2] + (-0.1 * side, -0.09)
    distance, covered, _ = coverage.score(ske.landmarks)
    assert not covered and distance > coverage.threshold


def test_the_threshold_comes_from_the_target_s_data():
    """A target that only ever holds one pose covers only that pose tightly; one that moves its
    arms through many positions tolerates more."""
    still = Poses(60)
    still.ske = [standing_skeleton(arm_angle=0.5) for _ in range(60)]
    rng = np.random.default_rng(0)
    for ske in still.ske:
        ske.landmarks[:, :2] += rng.normal(0, 0.002, (33, 2))
    still.landmarks = np.stack([s.landmarks for s in still.ske])
    moving = Poses(60)  # arms from 0.1 to 2.6 radians
    tight, loose = Coverage(still).threshold, Coverage(moving).threshold
    assert 0 < tight < loose / 3
    query = standing_skeleton(arm_angle=0.9).landmarks
    assert not Coverage(still).score(query)[1] and Coverage(moving).score(query)[1]


def test_the_log_says_when_the_source_was_not_covered_and_draws_it():
    coverage = Coverage(Poses(60))
    log = CoverageLog(coverage, fps=10.0)
    frame = np.full((120, 160, 3), 90, np.uint8)
    for k in range(50):  # frames 20-29 (2.0-3.0 s) do a pose the target never showed
        ske = standing_skeleton(arm_angle=0.5) if not 20 <= k < 30 else standing_skeleton(arm_angle=0.5, leg_spread=0.3)
        log.add(k, ske, frame, ske)
    assert log.uncovered_share() == 0.2
    assert log.uncovered_ranges() == [(2.0, 2.9)]
    assert "20%" in log.summary() and "2.0-3.0 s" in log.summary()
    picture = log.draw()
    assert picture.shape[1] == 900 and picture.shape[0] > 300
    assert (np.abs(picture.astype(int) - 255).sum(axis=2) > 0).mean() > 0.05  # something is drawn


def test_the_demo_prints_the_coverage_line_and_writes_the_picture(karate_clip, taichi_clip, tmp_path):
    out = tmp_path / "dance.mp4"
    proc = run_script("DanceDemo.py", "--source", karate_clip, "--target", taichi_clip, "--gen", "1",
                      "--out", str(out), "--no-window")
    assert proc.returncode == 0, proc.stderr
    line = [line for line in proc.stdout.splitlines() if line.startswith("coverage:")]
    assert len(line) == 1 and str(tmp_path / "dance_coverage.png") in line[0]
    share = re.search(r"(\d+)% of the source's poses", line[0])
    assert share is None or 0 <= int(share.group(1)) <= 100
    picture = cv2.imread(str(tmp_path / "dance_coverage.png"))
    assert picture is not None and picture.shape[1] == 900


def test_evaluate_reports_covered_and_uncovered_frames(taichi_clip, karate_clip, tmp_path):
    out = tmp_path / "eval"
    proc = run_script("Evaluate.py", taichi_clip, "--gen", "1", "--max-frames", "5", "--out", str(out),
                      "--transfer", karate_clip, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    coverage = json.loads((out / "results.json").read_text())["coverage"]
    assert coverage["frames"] > 0 and 0 <= coverage["uncovered_share"] <= 1 and coverage["threshold"] > 0
    parts = coverage["by_generator"]["nearest"]
    assert parts["covered"]["frames"] + parts["uncovered"]["frames"] == 5
    assert "Coverage" in (out / "report.md").read_text()


def test_a_target_too_short_to_calibrate_on_covers_every_pose():
    """24 frames at 25 fps: every stretch's one-second margin takes in the whole rest of the video,
    so no frame has others to be compared with; the threshold is then "everything covered"
    rather than an error (the exemplar-refining GAN asks it of any target)."""
    coverage = Coverage(SyntheticPoses(24))
    assert coverage.threshold == float("inf")
    assert coverage.score(standing_skeleton(arm_angle=2.0).landmarks)[1]
