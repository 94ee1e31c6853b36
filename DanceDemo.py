"""The main job: the target performs the source's moves, shown side by side.

    python DanceDemo.py [--source VIDEO|CAMERA] [--target VIDEO] [--gen GEN_TYPE] [--out FILE] [--no-window] [--live]

    from DanceDemo import DanceDemo
    DanceDemo("data/demo_source.mp4", 4).draw()   # as the course's code calls it

The source is a video file or a camera number (live: see LiveFrames; `--live` plays a file as a
camera would deliver it).

For each source frame: detect the skeleton, retarget it onto the target's body (Everybody
Dance Now's pose normalisation adapted to our crops: the source's bone directions and relative
foreshortening, the target's own bone lengths, placed where the target's torso sits in its
crops), place it in the target's scene (`Scene`: the global normalisation, from where the source
stands in its frame), generate the target there over the background plate, and write
source-with-skeleton | the target in its own scene.
GEN_TYPE: 1 nearest, 2 vanilla-ske, 3 vanilla-image, 4 gan (see GEN_NAMES).
"""
import argparse
import os
import sys
import threading
import time
from collections import deque, namedtuple
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from tqdm import tqdm

from common import UserError, VideoWriter, model_path, open_video, run_cli, video_fps
from plates import composite, plate_crop
from Skeleton import (L_ANKLE, L_ELBOW, L_HIP, L_KNEE, L_SHOULDER, L_WRIST, NOSE, R_ANKLE, R_ELBOW,
                      R_HIP, R_KNEE, R_SHOULDER, R_WRIST, Skeleton, reset_video_tracking)
from VideoSkeleton import VideoSkeleton, body_height

GEN_NAMES = {1: "nearest", 2: "vanilla-ske", 3: "vanilla-image", 4: "gan"}
DEFAULT_SOURCE = "data/demo_source.mp4"
DEFAULT_TARGET = "data/demo_target.mp4"
PANEL = 512  # output height of each half of the side-by-side video
CROP_RENDER_SIZE = 256  # the plate crop handed to a generator (it resizes it to its own size)
TORSO = [L_SHOULDER, R_SHOULDER, L_HIP, R_HIP]

# The retargeting tree. HIP_MID and SHOULDER_MID are virtual joints (midpoints); each bone is
# (parent, child) and is rebuilt in this order, parents first.
HIP_MID, SHOULDER_MID = 33, 34
BONE_TREE = [(HIP_MID, L_HIP), (HIP_MID, R_HIP), (HIP_MID, SHOULDER_MID),
             (SHOULDER_MID, L_SHOULDER), (SHOULDER_MID, R_SHOULDER), (SHOULDER_MID, NOSE),
             (L_SHOULDER, L_ELBOW), (L_ELBOW, L_WRIST), (R_SHOULDER, R_ELBOW), (R_ELBOW, R_WRIST),
             (L_HIP, L_KNEE), (L_KNEE, L_ANKLE), (R_HIP, R_KNEE), (R_KNEE, R_ANKLE)]
# Landmarks outside the reduced skeleton follow a joint, scaled like the bone that ends there.
FOLLOWERS = {NOSE: range(1, 11), L_WRIST: (17, 19, 21), R_WRIST: (18, 20, 22),
             L_ANKLE: (29, 31), R_ANKLE: (30, 32)}
REFERENCE_PERCENTILE = 90  # 2-D bones only look shorter (foreshortening): a high percentile is their length
SOURCE_HISTORY = 1500      # frames of the source (a minute) its own ranges are learnt from: a live run stays cheap
MAX_STRETCH = 1.15         # a source bone may appear at most this much longer than its reference


def with_midpoints(xy):
    return np.vstack([xy, (xy[L_HIP] + xy[R_HIP]) / 2, (xy[L_SHOULDER] + xy[R_SHOULDER]) / 2])


def bone_lengths(xy):
    full = with_midpoints(xy)
    return np.array([np.linalg.norm(full[c] - full[p]) for p, c in BONE_TREE])


class Retargeter:
    """Maps a source skeleton (in source frame pixels) onto the target's body and crop.

    Target bone lengths are measured once over its whole cache; the source's are learnt online,
    frame after frame, so a live video needs no second pass.
    """

    def __init__(self, target_vs):
        lengths = np.array([bone_lengths(lm[:, :2]) for lm in target_vs.landmarks])
        self.target_lengths = np.percentile(lengths, REFERENCE_PERCENTILE, axis=0)
        centres = np.array([Skeleton(lm).torso_centre() for lm in target_vs.landmarks])
        self.target_centre = np.median(centres, axis=0)
        self.source_history = deque(maxlen=SOURCE_HISTORY)

    def reset(self):
        self.source_history.clear()

    def __call__(self, source_ske, frame_shape):
        """A Skeleton in the target's crop coordinates, moving like `source_ske`.

        `source_ske` holds MediaPipe landmarks relative to a source frame of `frame_shape`.
        """
        h, w = frame_shape[:2]
        src = with_midpoints(source_ske.landmarks[:, :2] * np.array([w, h], np.float32))
        src_lengths = bone_lengths(src[:33])
        self.source_history.append(src_lengths)
        src_reference = np.percentile(np.array(self.source_history), REFERENCE_PERCENTILE, axis=0)
        ratio = np.minimum(src_lengths / np.maximum(src_reference, 1e-6), MAX_STRETCH)
        out = np.zeros_like(src)
        scale_at = {HIP_MID: self.target_lengths[2] / max(src_reference[2], 1e-6)}
        for k, (parent, child) in enumerate(BONE_TREE):
            direction = src[child] - src[parent]
            norm = np.linalg.norm(direction)
            direction = direction / norm if norm > 1e-6 else np.zeros(2)
            out[child] = out[parent] + direction * self.target_lengths[k] * ratio[k]
            scale_at[child] = self.target_lengths[k] / max(src_reference[k], 1e-6)
        for joint, followers in FOLLOWERS.items():
            for f in followers:
                out[f] = out[joint] + (src[f] - src[joint]) * scale_at[joint]
        landmarks = source_ske.landmarks.copy()
        landmarks[:, :2] = out[:33]
        ske = Skeleton(landmarks)
        return ske.transformed(1.0, self.target_centre - ske.torso_centre())


class Scene:
    """The target's own scene: the plate of its main shot, at full resolution, and where in it the
    target stands, so that the generated person can be put back where they belong.

    Everybody Dance Now's global normalisation, in the plate: the source's feet between the
    nearest and farthest they have been (its own range, learnt online) put the target's feet
    between the target's nearest and farthest, at the size the target has there (a person lower
    in the picture is nearer and larger); a sideways step of the source, measured in its body
    heights, moves the target as many of its own body heights across its scene."""

    def __init__(self, target_vs, plates):
        self.plates = plates
        segment = plates.main_segment()
        members = np.flatnonzero(plates.frame_segment == segment)
        self.plate = plates.built[segment][0]
        feet, centres, heights, sides = [], [], [], []
        for i in members:
            to_plate, _ = plates.frame_to_plate(i)
            x0, y0, side = target_vs.crop_boxes[i]
            xy = target_vs.landmarks[i, :, :2] * side + (x0, y0)
            xy = xy @ to_plate[:, :2].T + to_plate[:, 2]
            feet.append(max(xy[L_ANKLE, 1], xy[R_ANKLE, 1]))
            centres.append(xy[TORSO, 0].mean())
            heights.append(body_height(xy))
            sides.append(side * to_plate[0, 0])
        feet, sides = np.array(feet), np.array(sides)
        self.feet_range = np.percentile(feet, [5, 95])
        self.centre_range = np.percentile(centres, [5, 95])
        self.centre = float(np.median(centres))
        # the crop side (VideoSkeleton's pose-proof measure of the person's size) against foot
        # level: perspective makes nearer, lower people larger
        if self.feet_range[1] - self.feet_range[0] > 0.05 * np.median(sides):
            self.side_slope, self.side_at_zero = np.polyfit(feet, sides, 1)
        else:
            self.side_slope, self.side_at_zero = 0.0, float(np.median(sides))
        self.crop_side_per_height = float(np.median(sides) / np.median(heights))
        self.source_history = deque(maxlen=SOURCE_HISTORY)

    def reset(self):
        self.source_history.clear()

    def place(self, source_ske, frame_shape, target_ske):
        """The crop box (x0, y0, side) in plate pixels where `target_ske` (crop coordinates)
        stands, following where the source stands in its own frame."""
        h, w = frame_shape[:2]
        xy = source_ske.landmarks[:, :2] * np.array([w, h], np.float32)
        self.source_history.append((max(xy[L_ANKLE, 1], xy[R_ANKLE, 1]), xy[TORSO, 0].mean(), body_height(xy)))
        history = np.array(self.source_history)
        source_feet = np.percentile(history[:, 0], [5, 95])
        source_height = float(np.median(history[:, 2]))
        depth = 0.5
        if source_feet[1] - source_feet[0] > 0.05 * source_height:
            depth = float(np.clip((history[-1, 0] - source_feet[0]) / (source_feet[1] - source_feet[0]), 0, 1))
        feet_y = self.feet_range[0] + depth * (self.feet_range[1] - self.feet_range[0])
        side = self.side_slope * feet_y + self.side_at_zero
        height = side / self.crop_side_per_height
        sideways = (history[-1, 1] - np.median(history[:, 1])) / max(source_height, 1e-6)
        centre_x = self.centre + sideways * height
        margin = 0.5 * height
        centre_x = float(np.clip(centre_x, min(self.centre_range[0], margin),
                                 max(self.centre_range[1], self.plate.shape[1] - margin)))
        crop_centre_x = target_ske.torso_centre()[0]
        crop_feet = max(target_ske.landmarks[L_ANKLE, 1], target_ske.landmarks[R_ANKLE, 1])
        return np.array([centre_x - crop_centre_x * side, feet_y - crop_feet * side, side], np.float32)

    def background(self, box, size):
        return plate_crop(self.plate, np.eye(2, 3), box, size)

    def in_reference_frame(self, scene_image, frame_shape):
        """`scene_image` cut as the main shot's first frame shows it (what a frame-aligned truth
        video of a still camera shows)."""
        origin = self.plates.built[self.plates.main_segment()][2]
        shift = np.array([[1, 0, -origin[0]], [0, 1, -origin[1]]], np.float64)
        return cv2.warpAffine(scene_image, shift, (frame_shape[1], frame_shape[0]), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)

    def paste(self, person, alpha, box):
        """The plate with `person` (a crop, with its soft mask `alpha`, or opaque without one)
        pasted at `box`, resized to the box (the plate keeps its own sharpness around them)."""
        scene = self.plate.copy()
        x0, y0, side = int(round(box[0])), int(round(box[1])), max(1, int(round(box[2])))
        person = cv2.resize(person, (side, side), interpolation=cv2.INTER_CUBIC)
        alpha = np.ones((side, side), np.float32) if alpha is None else cv2.resize(alpha, (side, side))
        h, w = scene.shape[:2]
        ax0, ay0, ax1, ay1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
        if ax0 >= ax1 or ay0 >= ay1:
            return scene
        region = (slice(ay0 - y0, ay1 - y0), slice(ax0 - x0, ax1 - x0))
        scene[ay0:ay1, ax0:ax1] = composite(person[region], alpha[region], scene[ay0:ay1, ax0:ax1])
        return scene

    def render(self, generator, source_ske, frame_shape, target_ske):
        """(generated crop over its plate crop, the whole scene with the target in it)."""
        box = self.place(source_ske, frame_shape, target_ske)
        person, alpha, background = generator.layers(target_ske, self.background(box, CROP_RENDER_SIZE))
        crop = person if alpha is None else composite(person, alpha, background)
        return crop, self.paste(person, alpha, box)


TRAIN_COMMANDS = {"vanilla-ske": "python GenVanillaNN.py {target} --variant ske",
                  "vanilla-image": "python GenVanillaNN.py {target} --variant image",
                  "gan": "python GenGAN.py {target}"}


def load_generator(gen_type, target_vs, temporal=True):
    """The generator of GEN_TYPE `gen_type` for the target, or UserError saying how to get it."""
    if gen_type not in GEN_NAMES:
        raise UserError(f"unknown generator {gen_type}; choose from "
                        + ", ".join(f"{k} ({v})" for k, v in GEN_NAMES.items()))
    name = GEN_NAMES[gen_type]
    if name == "nearest":
        from GenNearest import GenNearest

        return GenNearest(target_vs, temporal=temporal)
    path = model_path(target_vs.filename, name)
    if not os.path.exists(path):
        raise UserError(f"no trained {name} model for {target_vs.filename} ({path}); train it with: "
                        + TRAIN_COMMANDS[name].format(target=target_vs.filename))
    if name == "gan":
        from GenGAN import GenGAN

        return GenGAN(target_vs, load_from_file=True)
    from GenVanillaNN import GenVanillaNN

    return GenVanillaNN(target_vs, load_from_file=True, variant=name.split("-")[1])


def placeholder(width, height, text="no person detected"):
    panel = np.full((height, width, 3), 60, np.uint8)
    cv2.line(panel, (0, 0), (width - 1, height - 1), (0, 0, 200), 3)
    cv2.line(panel, (0, height - 1), (width - 1, 0), (0, 0, 200), 3)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.8, 2)
    cv2.rectangle(panel, ((width - tw) // 2 - 8, height // 2 - th - 8), ((width + tw) // 2 + 8, height // 2 + 8),
                  (0, 0, 0), -1)
    cv2.putText(panel, text, ((width - tw) // 2, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return panel


def make_scene(target_vs):
    """The target's Scene, or None when its video has no background plate (the demo then shows
    the generated crop alone)."""
    plates = target_vs.plates()
    return None if plates is None else Scene(target_vs, plates)


Captured = namedtuple("Captured", "frame time index")  # a source frame, when it was captured, its number


class VideoFrames:
    """Every frame of a video file, in order, as fast as the pipeline takes them."""

    live = False

    def __init__(self, path):
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


Step = namedtuple("Step", "frame ske target_ske crop scene_image captured index generator")


def start_tracking():
    """Fresh MediaPipe video tracking, its model already loaded and run once (on a blank frame,
    which leaves nothing to track), so a live run's first frame is not a second late."""
    reset_video_tracking()
    Skeleton().from_image(np.zeros((64, 64, 3), np.uint8), video=True)


def transfer(source, target_vs, generator, limit=None, scene=None, fresh_tracking=True):
    """Yield a Step (source frame, frame-relative Skeleton or None, retargeted Skeleton or None,
    generated crop or None, the target's scene with them in it or None, capture time, frame
    number, generator name) for every frame the pipeline takes from `source` (a video path, or
    VideoFrames / LiveFrames): the whole pipeline, without display. Without a `scene` only crops
    are made. `generator` may be switched between frames (see `GeneratorSwitch`).
    `fresh_tracking=False`: the caller has just called `start_tracking()`.

    When the next frame is already there (a file, or a camera the pipeline lags behind),
    generation runs in a worker thread one frame behind detection: torch and MediaPipe both
    release the GIL, so the generator's work overlaps with the next frame's detection. Torch is
    held to one thread meanwhile, so that it and MediaPipe each keep a core instead of fighting
    over both (measured: 0.68 -> 0.72 of MediaPipe-alone fps with the GAN on 2 cores). When the
    pipeline is ahead of a camera, a frame's step comes out as soon as it is generated: waiting
    for the next frame would add a whole frame interval of latency."""
    frames = open_frames(source) if isinstance(source, str) else source
    retarget = Retargeter(target_vs)
    if fresh_tracking:
        start_tracking()
    if hasattr(generator, "reset"):
        generator.reset()
    if scene is not None:
        scene.reset()
    pending = None
    torch = sys.modules.get("torch")  # only the learnt generators load it
    torch_threads = torch.get_num_threads() if torch else None
    if torch:
        torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=1) as worker:
            for count, captured in enumerate(frames):
                if limit is not None and count >= limit:
                    break
                frame = captured.frame
                ske = Skeleton()
                name = getattr(generator, "name", None)
                if ske.from_image(frame, video=True):
                    target_ske = retarget(ske, frame.shape)
                    if scene is None:
                        job = worker.submit(lambda t: (generator.generate(t), None), target_ske)
                    else:
                        job = worker.submit(scene.render, generator, ske, frame.shape, target_ske)
                    current = (captured, ske, target_ske, job, name)
                else:
                    current = (captured, None, None, None, name)
                if pending is not None:
                    yield finished(pending)
                    pending = None
                if frames.waiting():
                    pending = current
                else:
                    yield finished(current)
            if pending is not None:
                yield finished(pending)
    finally:
        frames.close()
        reset_video_tracking()
        if torch:
            torch.set_num_threads(torch_threads)


def finished(item):
    captured, ske, target_ske, job, name = item
    crop, scene_image = (None, None) if job is None else job.result()
    return Step(captured.frame, ske, target_ske, crop, scene_image, captured.time, captured.index, name)


def compose(frame, ske, generated, label, right_width=PANEL):
    """Source frame with its skeleton | the target (its scene, or the generated crop; a
    placeholder when no person was found), PANEL px high; the right panel is `right_width` wide."""
    h, w = frame.shape[:2]
    left = frame.copy()
    if ske is not None:
        ske.draw(left)
    left = cv2.resize(left, (max(1, round(w * PANEL / h)), PANEL), interpolation=cv2.INTER_AREA)
    if generated is None:
        right = placeholder(right_width, PANEL)
    else:
        interp = cv2.INTER_AREA if generated.shape[0] > PANEL else cv2.INTER_CUBIC
        right = cv2.resize(generated, (right_width, PANEL), interpolation=interp)
    cv2.putText(right, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
    return np.hstack([left, right])


class GeneratorSwitch:
    """The generator in use, switchable while the demo runs: models load on first use and stay
    loaded, so switching back is instant. Everything else is the current generator's."""

    def __init__(self, target_vs, gen_type):
        self.target_vs = target_vs
        self.loaded = {}
        self.loading = None
        self.use(gen_type)

    def _load(self, gen_type):
        if gen_type not in self.loaded:
            generator = load_generator(gen_type, self.target_vs)
            generator.generate(self.target_vs.ske[0])  # the first call compiles: not during a live run
            if hasattr(generator, "reset"):
                generator.reset()
            self.loaded[gen_type] = generator

    def use(self, gen_type):
        """Switch to GEN_TYPE `gen_type` now (UserError, and no switch, when it has no model)."""
        self._load(gen_type)
        self.gen_type = gen_type

    def request(self, gen_type):
        """Switch to `gen_type` as soon as it is loaded. Loading (a second or two) runs in a
        thread, so a live run does not freeze meanwhile: the current generator goes on until
        then. One that cannot be loaded says why, on stderr."""
        if gen_type in self.loaded:
            self.gen_type = gen_type
            return
        if self.loading is not None and self.loading.is_alive():
            print("still loading the previous generator", file=sys.stderr)
            return

        def load():
            try:
                self.use(gen_type)
                print(f"generator: {self.name}", file=sys.stderr)
            except UserError as err:
                print(f"cannot switch: {err}", file=sys.stderr)

        self.loading = threading.Thread(target=load, daemon=True)
        self.loading.start()

    def wait(self):
        """Until a requested generator is loaded (or has failed to)."""
        if self.loading is not None:
            self.loading.join()

    @property
    def current(self):
        return self.loaded[self.gen_type]

    @property
    def name(self):
        return GEN_NAMES[self.gen_type]

    def reset(self):
        for generator in self.loaded.values():
            if hasattr(generator, "reset"):
                generator.reset()

    def generate(self, ske, *args, **kwargs):
        return self.current.generate(ske, *args, **kwargs)

    def layers(self, ske, background):
        return self.current.layers(ske, background)


class RunStats:
    """What a run did: frames shown and dropped, wall time, and for each shown frame its
    camera-to-screen latency (capture to composed panel)."""

    def __init__(self):
        self.start = time.perf_counter()
        self.end = None
        self.shown = self.missing = self.dropped = 0
        self.latencies = []
        self.recent = deque(maxlen=30)  # ready times of the last panels: the fps on screen

    def panel_ready(self, captured_at, has_person):
        now = time.perf_counter()
        self.shown += 1
        self.missing += not has_person
        self.latencies.append(now - captured_at)
        self.recent.append(now)

    def fps(self):
        return self.shown / max((self.end or time.perf_counter()) - self.start, 1e-9)

    def recent_fps(self):
        if len(self.recent) < 2:
            return 0.0
        return (len(self.recent) - 1) / max(self.recent[-1] - self.recent[0], 1e-9)

    def latency_ms(self, percentile):
        return 1000 * float(np.percentile(self.latencies, percentile)) if self.latencies else float("nan")

    def summary(self):
        total = self.shown + self.dropped
        return (f"{self.shown} frames shown, {self.dropped} dropped ({self.dropped / max(total, 1):.1%}), "
                f"{self.fps():.1f} fps, latency p50 {self.latency_ms(50):.0f} ms, p95 {self.latency_ms(95):.0f} ms")


def display_available():
    return (bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
            or os.name == "nt" or sys.platform == "darwin")


WINDOW = "DanceDemo (q quits, 1-4 switch the generator, space pauses)"


class DanceDemo:
    """The demo as the course's code calls it: `DanceDemo(source, gen_type, target=...).draw()`.

    `source` is a video file or a camera number (live); `gen_type` a GEN_TYPE (1 nearest,
    2 vanilla-ske, 3 vanilla-image, 4 gan); `target` the target's video (its cache is built on
    first use). `draw()` runs the whole job: the source's moves performed by the target in its
    own scene, written side by side to `out` (default under out/), shown in a window when there
    is a display (`q` quits, `1`-`4` switch the generator, space pauses a file), and returns the
    video's path. `live=True` plays a file as if it were a camera (see LiveFrames); a camera is
    always live. After a run, `stats` (RunStats) says what it did.

    The course's attribute names hold: `target` is the target's VideoSkeleton and `generator`
    the generator in use.
    """

    def __init__(self, source=DEFAULT_SOURCE, gen_type=4, target=DEFAULT_TARGET, out=None, show=None,
                 live=False, progress=True):
        self.source = source
        self.camera = camera_index(source)
        # a bad source fails before the target's cache is built; an opened camera is kept for draw()
        self.opened_camera = open_camera(self.camera) if self.camera is not None else None
        if self.camera is None:
            open_video(source).release()
        self.live = live or self.camera is not None
        self.target = VideoSkeleton(target)
        self.generators = GeneratorSwitch(self.target, gen_type)
        self.scene = make_scene(self.target)
        stem = lambda p: os.path.splitext(os.path.basename(str(p)))[0]  # noqa: E731
        source_name = f"camera{self.camera}" if self.camera is not None else stem(source)
        self.out = out or os.path.join("out", f"{source_name}_to_{stem(target)}_{GEN_NAMES[gen_type]}.mp4")
        self.show = display_available() if show is None else show
        self.progress = progress
        self.running = False
        self.paused = False
        self.stats = None

    @property
    def generator(self):
        return self.generators.current

    @property
    def gen_type(self):
        return self.generators.gen_type

    def handle_key(self, key):
        """React to one key code of the window: q quits, 1-4 switch the generator (once it is
        loaded; one without a trained model says so and the current one stays), space pauses a
        file."""
        if key < 0:
            return
        char = chr(key & 0xFF)
        if char == "q":
            self.running = False
        elif char == " " and not self.live:
            self.paused = not self.paused
        elif char.isdigit() and int(char) in GEN_NAMES:
            self.generators.request(int(char))

    def label(self):
        """The right panel's caption: the generator, and in live use the fps and latency."""
        if not self.live or self.stats is None or not self.stats.latencies:
            return self.generators.name
        return (f"{self.generators.name}  {self.stats.recent_fps():.0f} fps  "
                f"{1000 * self.stats.latencies[-1]:.0f} ms")

    def _frames(self):
        if self.opened_camera is not None:  # opened by __init__; a second draw() opens it again
            cap, self.opened_camera = self.opened_camera, None
            return camera_frames(cap)
        return open_frames(self.source, live=self.live)

    def draw(self):
        """Run the demo (see the class docstring); returns the path of the video written.

        Composing and encoding run in a worker thread, one frame behind generation: on the main
        thread they would add their ~3 ms to MediaPipe's ~13 ms per frame (measured with the GAN
        on 2 cores: 50 -> 55-59 fps). The window is drawn and read by this thread, as GUI
        toolkits require."""
        start_tracking()
        frames = self._frames()
        right_width = (PANEL if self.scene is None
                       else round(self.scene.plate.shape[1] * PANEL / self.scene.plate.shape[0]))
        self.stats, self.running, writer = RunStats(), True, None

        def compose_and_write(step):
            nonlocal writer
            panel = compose(step.frame, step.ske, step.crop if self.scene is None else step.scene_image,
                            self.label(), right_width)
            if writer is None:
                writer = VideoWriter(self.out, frames.fps, (panel.shape[1], panel.shape[0]))
            writer.write(panel)
            self.stats.panel_ready(step.captured, step.crop is not None)
            return panel

        steps = transfer(frames, self.target, self.generators, scene=self.scene, fresh_tracking=False)
        bar = tqdm(total=frames.total or None, desc="dance", unit="frame", disable=not self.progress)
        try:
            with ThreadPoolExecutor(max_workers=1) as output:
                previous = None
                for step in steps:
                    job = output.submit(compose_and_write, step)
                    bar.update(step.index + 1 - bar.n)  # live, the frames dropped count as passed
                    if previous is not None:
                        self._show(previous.result())  # one frame in flight at most; its errors surface here
                        previous = None
                    if self.live and not frames.waiting():
                        self._show(job.result())  # ahead of the camera: show it now, not one frame later
                    else:
                        previous = job
                    if not self.running:
                        break
                if previous is not None:
                    self._show(previous.result())
        finally:
            bar.close()
            steps.close()  # stops the capture
            frames.close()
            self.stats.end = time.perf_counter()
            self.stats.dropped = frames.dropped
            if writer is not None:
                writer.close()
            if self.show:
                cv2.destroyAllWindows()
        if frames.stalled:
            print(f"warning: {'camera ' + str(self.camera) if self.camera is not None else self.source} "
                  f"stopped delivering frames; the run ended there (the video keeps what was shown)",
                  file=sys.stderr)
        if writer is None:
            raise UserError(f"{self.source} delivered no frames")
        return self.out

    def _show(self, panel):
        if not self.show:
            return
        cv2.imshow(WINDOW, panel)
        self.handle_key(cv2.waitKey(1))
        while self.paused and self.running:
            self.handle_key(cv2.waitKey(50))


def main(default_gen):
    parser = argparse.ArgumentParser(description="Make the target perform the source's moves "
                                                 "(side-by-side video), from a video or live from a camera.")
    parser.add_argument("--source", default=DEFAULT_SOURCE,
                        help=f"the performer: a video file, or a camera number such as 0 (live) "
                             f"(default {DEFAULT_SOURCE})")
    parser.add_argument("--target", default=DEFAULT_TARGET, help=f"the target's video (default {DEFAULT_TARGET})")
    parser.add_argument("--gen", type=int, default=default_gen,
                        help="generator: " + ", ".join(f"{k} {v}" for k, v in GEN_NAMES.items())
                             + f" (default {default_gen}, GEN_TYPE in DanceDemo.py); keys 1-4 switch it "
                               "while the window is open")
    parser.add_argument("--out", default=None,
                        help="the video to write (default out/SOURCE_to_TARGET_GEN.mp4); live, what was shown")
    parser.add_argument("--no-window", action="store_true", help="do not show a window, only write the video")
    parser.add_argument("--live", action="store_true",
                        help="play a video file as if it were a camera: frames come at its frame rate and "
                             "those the pipeline misses are dropped; prints drops and latency at the end")
    args = parser.parse_args()
    if args.gen not in GEN_NAMES:
        raise UserError(f"unknown --gen {args.gen}; choose from "
                        + ", ".join(f"{k} ({v})" for k, v in GEN_NAMES.items()))
    demo = DanceDemo(args.source, args.gen, target=args.target, out=args.out,
                     show=False if args.no_window else None, live=args.live)
    out = demo.draw()
    stats = demo.stats
    if demo.live:
        print(f"{stats.summary()}, generator {demo.generators.name} -> {out}")
    else:
        print(f"{stats.shown} frames ({stats.missing} without a person) in {stats.end - stats.start:.1f} s, "
              f"{stats.fps():.1f} fps, generator {demo.generators.name} -> {out}")
    if stats.shown and stats.missing == stats.shown:
        print(f"warning: no person was found in any frame of {args.source}; the video shows placeholders")
    return 0


if __name__ == "__main__":
    GEN_TYPE = 4  # the GAN: best held-out PSNR, SSIM and pose, best transfer pose (README, Results)
    run_cli(lambda: main(GEN_TYPE))
