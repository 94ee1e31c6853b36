"""Reading and writing videos: opening one with a clear error, decoding in a background thread,
and an mp4 writer that never reports a video it could not write whole."""
import os
import queue
import threading

import cv2

from cli import UserError
from files import make_folder, remove_stale_temps, temp_path_for


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


def frame_count(path):
    """The number of frames a video file says it has (0 when it cannot be opened)."""
    cap = cv2.VideoCapture(path)
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()


def read_frames(cap, frame_mod=1, limit=None, prepare=None):
    """Yield (index, frame) of every frame_mod-th frame, decoding in a background thread (and
    there, with `prepare`, yield (index, prepare(frame)) instead); at the end (frames read, None).

    OpenCV releases the GIL while decoding, so decoding overlaps with detection or encoding.
    """
    frames = queue.Queue(maxsize=16)

    def produce():
        index = 0
        while limit is None or index < limit:
            if not cap.grab():
                break
            if index % frame_mod == 0:
                ok, frame = cap.retrieve()
                if not ok:
                    break
                frames.put((index, frame if prepare is None else prepare(frame)))
            index += 1
        frames.put((index, None))

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    while True:
        index, frame = frames.get()
        if frame is None:
            thread.join()
            yield index, None  # end marker: index is the number of frames read
            return
        yield index, frame


class VideoWriter:
    """An mp4 written to a temporary file beside `path` and renamed into place by `close()` only
    once it reads back with every frame written: a full disk leaves a file OpenCV cannot open
    (no index at its end) and OpenCV's writer reports nothing, so the check is the only way to
    know. A failed video is a UserError naming it; a video already at `path` is kept.

    OpenCV's wheel only encodes MPEG-4 part 2 ('mp4v') into .mp4: H.264 is not built in.
    """

    def __init__(self, path, fps, size):
        make_folder(os.path.dirname(os.path.abspath(path)))
        remove_stale_temps(path)
        self.path, self.frames = path, 0
        self.tmp = temp_path_for(path)
        self.writer = cv2.VideoWriter(self.tmp, cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            self.discard()
            raise UserError(f"cannot write video {path}")

    def write(self, frame):
        self.writer.write(frame)
        self.frames += 1

    def close(self):
        """Finish the video and put it in place; UserError (and no file) when it is incomplete."""
        if self.writer is None:
            return
        self.writer.release()
        self.writer = None
        readable = frame_count(self.tmp)
        if readable != self.frames:
            self.discard()
            raise UserError(f"could not write the video {self.path} completely ({readable} of {self.frames} "
                            "frames read back; is the disk full?)")
        try:
            os.replace(self.tmp, self.path)
        except OSError as err:
            self.discard()
            raise UserError(f"cannot write video {self.path}: {err.strerror}") from None

    def discard(self):
        """Drop what was written (after an error elsewhere)."""
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        if os.path.exists(self.tmp):
            os.remove(self.tmp)
