"""The demo's side-by-side picture: the source frame with its skeleton | the target in its scene
(or the generated crop, or a placeholder when no person was found), each PANEL px high. The demo
writes and shows it; the benchmarks time it."""
import cv2
import numpy as np

from geometry import resize

PANEL = 512  # output height of each half of the side-by-side video


def placeholder(width, height, text="no person detected"):
    panel = np.full((height, width, 3), 60, np.uint8)
    cv2.line(panel, (0, 0), (width - 1, height - 1), (0, 0, 200), 3)
    cv2.line(panel, (0, height - 1), (width - 1, 0), (0, 0, 200), 3)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.8, 2)
    cv2.rectangle(panel, ((width - tw) // 2 - 8, height // 2 - th - 8), ((width + tw) // 2 + 8, height // 2 + 8),
                  (0, 0, 0), -1)
    cv2.putText(panel, text, ((width - tw) // 2, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return panel


def compose(frame, ske, generated, label, right_width=PANEL, uncovered=False):
    """Source frame with its skeleton | the target (its scene, or the generated crop; a
    placeholder when no person was found), PANEL px high; the right panel is `right_width` wide.
    `uncovered`: the pose is not in the target's video (coverage.py): a small mark says the
    picture is a guess there."""
    h, w = frame.shape[:2]
    left = resize(frame, max(1, round(w * PANEL / h)), PANEL)
    left = left.copy() if left is frame else left  # the skeleton must not mark the caller's frame
    if ske is not None:
        ske.draw(left)  # drawn at the panel's size: its lines scale with the image
    if generated is None:
        right = placeholder(right_width, PANEL)
    else:
        right = resize(generated, right_width, PANEL)
        right = right.copy() if right is generated else right  # the label must not mark the caller's image
    cv2.putText(right, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
    if uncovered:
        cv2.circle(right, (14, PANEL - 14), 6, (0, 140, 255), -1, cv2.LINE_AA)
        cv2.putText(right, "pose not in the target's video", (26, PANEL - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (0, 140, 255), 1, cv2.LINE_AA)
    return np.hstack([left, right])
