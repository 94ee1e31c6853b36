"""Helpers shared by every script: user-facing errors, atomic writes, video I/O, devices.

Kept in one module so that the scripts agree on how they fail, how they save, and which
device they train on.
"""
import json
import os
import sys
import tempfile
import threading

import cv2
import numpy as np


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit code 2, no traceback."""


def run_cli(main):
    """Run `main()` so that bad input gives one line on stderr and a non-zero exit.

    Ctrl-C exits with 130 after whatever the script saved in its own handlers.
    """
    try:
        sys.exit(main())
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def lower_thread_priority():
    """Make the calling thread give way to the process's other threads (Linux, where each
    thread has its own nice value; elsewhere nothing changes). Background work, such as
    registering frames and building plates while MediaPipe reads a video, then fills the cores
    MediaPipe leaves idle instead of slowing MediaPipe down."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except OSError:
            pass


def atomic_write_bytes(path, data):
    """Write `data` to `path` through a temp file in the same folder and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide shipped files from other users
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_json(path, obj):
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def atomic_torch_save(obj, path):
    """torch.save through a temp file, so an interrupted save never leaves half a checkpoint."""
    import io

    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def model_path(target, gen_name):
    """Where the checkpoint of generator `gen_name` trained on video `target` lives."""
    stem = os.path.splitext(os.path.basename(target))[0]
    return os.path.join("models", f"{stem}_{gen_name}.pt")


def open_video(path):
    """Open a video for reading, or raise UserError saying why it cannot be read."""
    if not os.path.isfile(path):
        raise UserError(f"no such video file: {path}")
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise UserError(f"cannot read {path}: not a video OpenCV can decode")
    ok, frame = cap.read()
    if not ok or frame is None:
        cap.release()
        raise UserError(f"cannot read {path}: the video has no frames")
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return cap


def video_fps(cap, default=25.0):
    fps = cap.get(cv2.CAP_PROP_FPS)
    return fps if fps and 1 <= fps <= 240 else default


class VideoWriter:
    """mp4 writer that creates its folder and fails loudly instead of writing nothing.

    OpenCV's wheel only encodes MPEG-4 part 2 ('mp4v') into .mp4: H.264 is not built in.
    """

    def __init__(self, path, fps, size):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self.writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            raise UserError(f"cannot write video {path}")

    def write(self, frame):
        self.writer.write(frame)

    def close(self):
        self.writer.release()


def select_device():
    """CUDA, else Apple MPS, else CPU."""
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_name(device):
    import platform

    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def bgr_to_tensor(image):
    """uint8 BGR HxWx3 -> float tensor 3xHxW in [-1, 1] (RGB order)."""
    import torch

    rgb = image[:, :, ::-1].astype(np.float32) / 127.5 - 1.0
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))


def tensor_to_bgr(tensor):
    """float tensor 3xHxW in [-1, 1] (RGB) -> uint8 BGR HxWx3."""
    arr = tensor.detach().float().clamp(-1, 1).cpu().numpy().transpose(1, 2, 0)
    return np.ascontiguousarray(((arr + 1.0) * 127.5 + 0.5).astype(np.uint8)[:, :, ::-1])
