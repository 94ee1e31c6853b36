"""How scores are shown: the console table, the Markdown table of report.md, and contact sheets
(real | each generator, for a spread of frames)."""
import cv2
import numpy as np

from geometry import resize


def fmt(value, digits):
    return "-" if value is None else f"{value:.{digits}f}"


COLUMNS = [("size", "size", None), ("PSNR", "psnr", 2), ("SSIM", "ssim", 3), ("PSNR pers", "psnr_person", 2),
           ("SSIM pers", "ssim_person", 3), ("pose err", "pose_error", 4),
           ("detect", "detection_rate", 3), ("PCK", "pck", 3), ("ms/frame", "ms_per_frame", 2),
           ("flicker", "flicker", 2)]


def cells(r):
    return [str(r[key]) if digits is None else fmt(r[key], digits) for _, key, digits in COLUMNS]


def table(results, notes):
    head = f"{'generator':<16}" + "".join(f"{title:>10}" for title, _, _ in COLUMNS)
    lines = [head, "-" * len(head)]
    lines += [f"{name:<16}" + "".join(f"{c:>10}" for c in cells(r)) for name, r in results.items()]
    lines += [f"{name:<16}  skipped: {why}" for name, why in notes.items()]
    return "\n".join(lines)


def markdown_table(results, notes):
    lines = ["| generator | " + " | ".join(title for title, _, _ in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(cells(r)) + " |" for name, r in results.items()]
    lines += [f"| {name} | skipped: {why} |" + " |" * (len(COLUMNS) - 1) for name, why in notes.items()]
    return "\n".join(lines)


def contact_sheet(real, outputs, rows=6, cell=128, first="real"):
    """One row per frame (a spread over the set): real | each generator, labelled on top.
    Every generator must have scored the same frames as `real`."""
    picks = np.linspace(0, len(real) - 1, min(rows, len(real))).astype(int)
    names = [first] + list(outputs)
    header = np.full((24, cell * len(names), 3), 255, np.uint8)
    for j, name in enumerate(names):
        cv2.putText(header, name, (j * cell + 4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    body = [np.hstack([resize(real[i], cell)] + [resize(outputs[n][i], cell) for n in outputs]) for i in picks]
    return np.vstack([header] + body)
