"""Where the source's frames come from: a video file read as fast as the pipeline takes its frames
(`VideoFrames`), or a camera, or a file played as one (`LiveFrames`: the newest frame is taken
and the ones the pipeline misses are dropped, never reordered)."""
import threading
import time
from collections import namedtuple

import cv2
import numpy as np

from cli import UserError
from video_io import open_video, video_fps

Captured = namedtuple("Captured", "frame time index")  # a source frame, when it was captured, its number


class VideoFrames:
    """Every frame of a video file, in order, as fast as the pipeline takes them."""

    live = False

    def __init__(self, path):
        self.path = path
        self.cap = open_video(path)
        self.fps = video_fps(self.cap)
        self.total = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.captured = self.dropped = 0
        self.stalled = False

    def __iter__(self):
        while True:
            ok, frame = self.cap.read()
            if not ok:
                return
            self.captured += 1
            yield Captured(frame, time.perf_counter(), self.captured - 1)

    def spread(self, count):
        """Up to `count` frames spread evenly over the whole file, read by a capture of their own
        (the frames this one yields are untouched); a frame that cannot be sought is skipped."""
        cap = open_video(self.path)
        try:
            for index in np.unique(np.linspace(0, max(self.total - 1, 0), count).round().astype(int)):
                cap.set(cv2.CAP_PROP_POS_FRAMES, int(index))
                ok, frame = cap.read()
                if ok:
                    yield frame
        finally:
            cap.release()

    def waiting(self):
        """Whether the next frame is already there (in a file, always)."""
        return True

    def close(self):
        self.cap.release()


class LiveFrames:
    """A camera, or a video file played as one (`paced`: frames are released at the file's frame
    rate). A thread captures every frame as it comes and keeps only the newest; the pipeline takes
    the newest when it is ready for one, and the frames it never took are dropped, as a live
    camera drops them. Frames come out in capture order, never reordered. The run ends when the
    source ends or delivers nothing for `stall_seconds`."""

    live = True
    stall_seconds = 3.0

    def __init__(self, cap, fps, paced):
        self.cap, self.fps, self.paced = cap, fps, paced
        self.total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if paced else 0
        self.captured = self.dropped = 0
        self.stalled = False
        self.newest, self.ended, self.stopping = None, False, False
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._capture, daemon=True)  # starts with the first frame asked for

    def _capture(self):
        start = time.perf_counter()
        while not self.stopping:
            ok, frame = self.cap.read()
            if not ok:
                break
            if self.paced:  # a file: release frame n at its time, as a camera would deliver it
                delay = start + self.captured / self.fps - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            with self.changed:
                if self.newest is not None:
                    self.dropped += 1
                self.newest = Captured(frame, time.perf_counter(), self.captured)
                self.captured += 1
                self.changed.notify()
        with self.changed:
            self.ended = True
            self.changed.notify()

    def __iter__(self):
        if not self.thread.is_alive() and not self.ended:
            self.thread.start()
        while True:
            with self.changed:
                if not self.changed.wait_for(lambda: self.newest is not None or self.ended, self.stall_seconds):
                    self.stalled = True
                    return
                if self.newest is None:
                    return
                item, self.newest = self.newest, None
            yield item

    def waiting(self):
        """Whether a newer frame has already arrived (the pipeline is behind the camera)."""
        return self.newest is not None

    def close(self):
        with self.changed:
            self.stopping = True
            if self.newest is not None:  # captured, never shown
                self.dropped += 1
                self.newest = None
        if self.thread.is_alive():
            self.thread.join(timeout=self.stall_seconds)
        self.cap.release()


def camera_index(source):
    """The camera number when `source` names a camera (an integer, or a string of digits), else None."""
    if isinstance(source, int):
        return source
    return int(source) if isinstance(source, str) and source.isdigit() else None


def open_camera(index):
    """cv2.VideoCapture of camera `index`, or UserError when there is none delivering frames."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    level = logging.getLogLevel() if logging else None
    if logging:  # OpenCV warns on stderr about a missing camera; our one-line error says it
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        cap = cv2.VideoCapture(index)
        ok = cap.isOpened() and cap.read()[0]
    finally:
        if logging:
            logging.setLogLevel(level)
    if not ok:
        cap.release()
        raise UserError(f"no camera {index}: it cannot be opened or delivers no frames")
    return cap


def camera_frames(cap):
    return LiveFrames(cap, video_fps(cap, default=30.0), paced=False)


def open_frames(source, live=False):
    """The frames of `source`: a camera number (live), or a video file (every frame; with
    `live`, played as if it were a camera)."""
    index = camera_index(source)
    if index is not None:
        return camera_frames(open_camera(index))
    if live:
        cap = open_video(source)
        return LiveFrames(cap, video_fps(cap), paced=True)
    return VideoFrames(source)
