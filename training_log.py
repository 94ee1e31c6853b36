"""What a training run writes beside its checkpoint, in `models/TARGET_GENERATOR/`: the resolved
configuration (`config.json`, the checkpoint's config, readable), sample grids (drawing | real |
generated) and the loss log (`loss.csv`, `loss.png`). Every file is written atomically."""
import os

import cv2
import numpy as np
import torch

from files import atomic_write_bytes, atomic_write_json, write_image


def write_config(config, folder):
    """The run's resolved configuration, exactly as the checkpoint stores it."""
    atomic_write_json(os.path.join(folder, "config.json"), config)


def write_samples(gen, data, positions, folder, epoch):
    """A grid: one row per sample frame, drawing | real | generated."""
    batch = data.batch(positions)
    with torch.no_grad():
        fake = gen.render(batch)
    rows = []
    for i in range(len(positions)):
        cells = [batch["drawing"][i], batch["image"][i], fake[i]]
        rows.append(np.hstack([((c.float().clamp(-1, 1).cpu().numpy().transpose(1, 2, 0) + 1) * 127.5)
                               .astype(np.uint8)[:, :, ::-1] for c in cells]))
    write_image(os.path.join(folder, f"samples_epoch{epoch:04d}.png"), np.vstack(rows))


def write_loss_log(loss_log, folder):
    """loss.csv and a plot of every loss per epoch (loss.png, drawn with OpenCV)."""
    if not loss_log:
        return
    keys = [k for k in loss_log[0] if k not in ("epoch", "seconds")]
    lines = ["epoch,seconds," + ",".join(keys)]
    lines += [f"{r['epoch']},{r['seconds']}," + ",".join(f"{r.get(k, float('nan')):.5f}" for k in keys)
              for r in loss_log]
    atomic_write_bytes(os.path.join(folder, "loss.csv"), ("\n".join(lines) + "\n").encode())
    w, h, pad = 640, 360, 40
    plot = np.full((h, w, 3), 255, np.uint8)
    colours = [(200, 60, 0), (0, 140, 0), (0, 0, 200), (150, 0, 150), (0, 150, 150), (90, 90, 90)]
    epochs = [r["epoch"] for r in loss_log]
    for j, k in enumerate(keys):
        values = np.array([r.get(k, np.nan) for r in loss_log], np.float64)
        lo, hi = np.nanmin(values), np.nanmax(values)
        span = hi - lo if hi > lo else 1.0
        pts = [(pad + int((w - 2 * pad) * (e - epochs[0]) / max(1, epochs[-1] - epochs[0])),
                h - pad - int((h - 2 * pad) * (v - lo) / span)) for e, v in zip(epochs, values)]
        colour = colours[j % len(colours)]
        for a, b in zip(pts, pts[1:]):
            cv2.line(plot, a, b, colour, 2, cv2.LINE_AA)
        cv2.putText(plot, f"{k} ({lo:.3g}..{hi:.3g})", (pad, 20 + 16 * j), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    colour, 1, cv2.LINE_AA)
    cv2.putText(plot, f"epochs {epochs[0]}..{epochs[-1]} (each loss scaled to its range)", (pad, h - 12),
                cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    write_image(os.path.join(folder, "loss.png"), plot)
