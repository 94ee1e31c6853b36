"""Building a video's cache (VideoSkeleton.py reads it): detection, background registration,
plates and crop cutting, written to a temporary folder and renamed into place whole.

Pass 1 (`detect_all`) runs MediaPipe with its person segmentation on every frame_mod-th frame;
the masks, the registration (registration.py) and the plates (plates.py) run in a worker thread a
few frames behind (OpenCV and numpy release the GIL), on the picture area found in a few frames
first. MediaPipe and the registration see the frames shrunk (`detection_scale`); the plates see
them whole. Pass 2 (`cut_crops`) decodes again and cuts the crops and their masks, in two worker
threads while the last plate is still being built: the crop side needs the whole video's body
heights, and a second decode is cheaper than holding every frame.

The crop side follows zooms: it is the video's median body height scaled by how the rolling 90th
percentile over +-`ZOOM_WINDOW_SECONDS` compares with the whole video's, a statistic that pose
changes barely move (foreshortening only shortens bones) but a zoom does.
"""
import os
import shutil
import sys
import threading
import time
import zlib
from collections import deque, namedtuple
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from tqdm import tqdm

import plates
import registration
from cli import UserError
from devices import lower_thread_priority
from files import atomic_write_json
from geometry import CROP_SCALE, crop_box, cut_square, frame_to_crop
from Skeleton import Skeleton, body_height, reset_video_tracking, torso_centre
from video_io import open_video, read_frames, video_fps

FORMAT_VERSION = 6  # 3: masks, registration, plates; 4: frame masks in one file; 5: zlib; 6: native crop size
NATIVE_CROP_SIZES = (128, 512)  # the default crop size is the crop's own side in the frame, within these
NATIVE_CROP_STEP = 16
ZOOM_WINDOW_SECONDS = 2.0  # the crop side follows zooms over +-this much time
JPEG_QUALITY = 95
MASK_WIDTH = 480      # full-frame person masks are kept at most this wide
DETECTION_BODY_PX = 140  # MediaPipe sees frames shrunk so that the body is still this tall (see detection_scale)
DETECTION_PROBES = 3     # frames detection_scale measures the body in
DETECTION_MIN_SHRINK = 0.75  # a smaller shrink saves less time than the resizing costs
ACTIVE_AREA_SAMPLES = 9   # frames the letterbox detection and detection_scale look at (a seek can cost 40 ms)
REGISTRATION_BACKLOG = 8  # frames that may wait for the registration thread
CROP_BACKLOG = 8          # frames that may wait to be cut and written

# One frame where pass 1 found a person: its number in the video, MediaPipe's landmarks (relative
# to the frame), its background segment and the 2x3 transform to the segment's reference frame.
Detection = namedtuple("Detection", "index landmarks segment transform")
# What pass 1 returns: the Detections, frames read, the frames' shape, the picture area inside a
# letterbox, the plates of all the frames (plates.Plates or None) and the scale MediaPipe saw.
DetectionPass = namedtuple("DetectionPass", "found frames_read frame_shape active plates detection_scale")


def person_heights(heights, window):
    """Per frame: the video's median body height, scaled by how the rolling 90th percentile
    (+-`window` frames) compares with the whole video's (see the module docstring)."""
    heights = np.asarray(heights, np.float64)
    overall = np.percentile(heights, 90)
    rolling = np.array([np.percentile(heights[max(0, i - window): i + window + 1], 90)
                        for i in range(len(heights))])
    return np.median(heights) * rolling / overall


def detection_scale(frames, frame_width):
    """The scale at which MediaPipe should see a video's frames, from a few `frames` of it.

    MediaPipe places landmarks to about half a pixel of the image it is given, whatever its size
    (measured on two real videos, median shift from the landmarks found in the full frames: 0.29%
    of the body height with the body 147 px tall, 0.43% at 123 px, 0.56% at 98 px), well under
    its own frame-to-frame jitter. Beyond that a large frame only costs time (converting it, and
    upsampling the segmentation to it: MediaPipe with segmentation runs 17% faster on 960x720
    frames shrunk to 480x360). Frames are never shrunk below MASK_WIDTH, the width the person
    masks are kept at, nor when the person is not found in the probes (maybe small), nor by less
    than DETECTION_MIN_SHRINK."""
    heights = []
    for frame in frames[:: max(1, len(frames) // DETECTION_PROBES)][:DETECTION_PROBES]:
        ske = Skeleton()
        if ske.from_image(frame):
            heights.append(body_height(ske.landmarks[:, :2] * np.array(frame.shape[1::-1], np.float32)))
    if not heights:
        return 1.0
    scale = max(MASK_WIDTH / frame_width, DETECTION_BODY_PX / float(np.median(heights)))
    return scale if scale <= DETECTION_MIN_SHRINK else 1.0


def scaled(frame, scale):
    if scale == 1.0:
        return frame
    h, w = frame.shape[:2]
    return cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)


def mask_shape(frame_shape):
    """(height, width) of the person masks kept for frames of `frame_shape`."""
    h, w = frame_shape[:2]
    return (h, w) if w <= MASK_WIDTH else (max(1, round(h * MASK_WIDTH / w)), MASK_WIDTH)


def small_mask(mask, shape):
    """MediaPipe's float person mask -> a uint8 mask (0-255) of `shape` (see mask_shape)."""
    if mask.shape[:2] != tuple(shape):
        mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return cv2.convertScaleAbs(mask, alpha=255)  # rounds and saturates; the mask is never negative


def native_crop_size(person_height):
    """The default side of the stored crops: the crop's own side in the frame (so a crop keeps the
    video's sharpness), rounded to NATIVE_CROP_STEP and kept within NATIVE_CROP_SIZES."""
    side = round(CROP_SCALE * person_height / NATIVE_CROP_STEP) * NATIVE_CROP_STEP
    return int(np.clip(side, *NATIVE_CROP_SIZES))


def plates_folder(train_count):
    return f"plates_{train_count:06d}"


class FrameMasks:
    """The person masks of the full frames (uint8 arrays of one `shape`, at most MASK_WIDTH
    wide), each zlib-compressed, end to end in one file, written while detection runs, so that a
    long video's masks never sit in memory. `offsets[i]` is where mask i starts; the last offset
    is the file's size. zlib at level 1 packs a mask as small as PNG does, 4x faster."""

    def __init__(self, path, shape=None, offsets=None):
        self.path = path
        self.shape = None if shape is None else tuple(shape)  # when writing: the first mask's
        self.offsets = [0] if offsets is None else [int(o) for o in offsets]
        self.file = open(path, "wb" if offsets is None else "rb")
        self.lock = threading.Lock()

    def append(self, mask):
        self.shape = self.shape or mask.shape
        data = zlib.compress(np.ascontiguousarray(mask, np.uint8).tobytes(), 1)
        self.file.write(data)
        self.offsets.append(self.offsets[-1] + len(data))

    def finish_writing(self):
        """Close the file for writing (a full disk shows here at the latest) and open it for reading."""
        self.file.close()
        self.file = open(self.path, "rb")

    def read(self, i):
        """Mask i, uint8 (0-255)."""
        with self.lock:
            self.file.seek(self.offsets[i])
            data = self.file.read(self.offsets[i + 1] - self.offsets[i])
        try:
            return np.frombuffer(zlib.decompress(data), np.uint8).reshape(self.shape)
        except (zlib.error, ValueError):
            raise UserError(f"{self.path} is damaged (mask {i}); rebuild the cache with --force") from None

    def close(self):
        self.file.close()


def spread_frames(cap, total):
    """A few frames spread over the video (seeking costs a decode from a keyframe)."""
    spread = []
    for k in range(ACTIVE_AREA_SAMPLES):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(k * max(total, 1) / ACTIVE_AREA_SAMPLES))
        ok, frame = cap.read()
        if ok:
            spread.append(frame)
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    return spread


def detect_all(cap, total, frame_mod, masks, verbose):
    """Pass 1 (see the module docstring): a DetectionPass; each frame's person mask is appended to
    `masks` (a FrameMasks)."""
    spread = spread_frames(cap, total)
    active = registration.active_area(spread)
    registrar = registration.Registrar(spread[0].shape)
    registrar.set_active_area(active)
    builder = plates.PlateBuilder(active, letterboxed=registration.is_letterboxed(active, spread[0].shape))
    scale = detection_scale(spread, spread[0].shape[1])
    person_shape = mask_shape(spread[0].shape)

    def register(frame, shrunk, mask):
        person = small_mask(mask, person_shape)
        segment, transform = registrar.add(shrunk, (person > 127).astype(np.uint8))
        builder.add(frame, person, segment, transform)
        masks.append(person)
        return segment, transform

    reset_video_tracking()
    ske, found, frames_read, frame_shape = Skeleton(), [], 0, None
    bar = tqdm(total=total or None, desc="detecting", unit="frame", disable=not verbose, leave=False)
    pending = deque()  # (index, landmarks, registration job) of the frames still being registered

    def collect():
        index, landmarks, job = pending.popleft()
        found.append(Detection(index, landmarks, *job.result()))

    with ThreadPoolExecutor(max_workers=1, initializer=lower_thread_priority) as registering:
        for index, frames in read_frames(cap, frame_mod, prepare=lambda frame: (frame, scaled(frame, scale))):
            if frames is None:
                frames_read = index
                break
            frame, shrunk = frames
            frame_shape = frame.shape
            ok, mask = ske.from_image_with_mask(shrunk, video=frame_mod <= 2)
            if ok:
                if len(pending) >= REGISTRATION_BACKLOG:  # memory stays flat
                    collect()
                pending.append((index, ske.landmarks.copy(), registering.submit(register, frame, shrunk, mask)))
            bar.update(index + 1 - bar.n)
        while pending:
            collect()
    builder.flush()  # the last shot's plate builds while the crops are cut
    bar.close()
    reset_video_tracking()
    return DetectionPass(found, frames_read, frame_shape, active, builder, scale)


def cut_crops(cap, detected, frame_heights, frame_mod, crop_size, frame_masks, folder, verbose):
    """Pass 2: cut and write each found frame's crop and mask; per crop, (crop box, landmarks
    relative to the crop)."""
    h, w = detected.frame_shape[:2]
    px = np.array([w, h], np.float32)
    for kind in ("crops", "masks"):
        os.makedirs(os.path.join(folder, kind))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    by_index = {d.index: d for d in detected.found}
    jpeg = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]

    def cut_and_write(k, frame, landmarks, height):
        name = f"{k:06d}"
        xy = landmarks[:, :2] * px
        box = crop_box(torso_centre(xy), height)
        mask = frame_masks.read(k)
        crop_mask = cut_square(mask, box * (mask.shape[1] / w), crop_size, mask=True)  # the mask is smaller
        if not (cv2.imwrite(os.path.join(folder, "crops", name + ".jpg"), cut_square(frame, box, crop_size), jpeg)
                and cv2.imwrite(os.path.join(folder, "masks", name + ".png"), crop_mask)):
            raise UserError(f"cannot write the crops to {folder} (is the disk full?)")
        return box, frame_to_crop(landmarks, detected.frame_shape, box)

    cut, jobs = [], deque()
    # at the plate thread's priority, so the last plate builds alongside
    with ThreadPoolExecutor(max_workers=2, initializer=lower_thread_priority) as cutting:
        for index, frame in tqdm(read_frames(cap, frame_mod, detected.found[-1].index + 1),
                                 total=len(detected.found), desc="cropping", unit="crop",
                                 disable=not verbose, leave=False):
            if frame is None:
                break
            if index in by_index:
                if len(jobs) >= CROP_BACKLOG:  # memory stays flat
                    cut.append(jobs.popleft().result())
                jobs.append(cutting.submit(cut_and_write, len(cut) + len(jobs), frame, by_index[index].landmarks,
                                           frame_heights[index]))
        cut.extend(job.result() for job in jobs)
    return cut


def build_cache(filename, settings, cache_dir, verbose):
    """Build the cache of `filename` with `settings` (format version, frame_mod, crop_size (None:
    native_crop_size), video size) into `cache_dir`, through a temporary folder renamed into
    place (see the module)."""
    start = time.time()
    cap = open_video(filename)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    parent = os.path.dirname(os.path.abspath(cache_dir))
    if not os.access(parent, os.W_OK):
        raise UserError(f"cannot write the cache next to the video: {parent} is read-only; "
                        "copy the video to a writable folder")
    tmp_dir = os.path.join(parent, f".{os.path.basename(cache_dir)}.building-{os.getpid()}")
    frame_masks = None
    # The build runs its own threads (decoding, registration and plates, cutting); OpenCV's
    # pool inside each of them would only fight them for the cores.
    opencv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        os.makedirs(tmp_dir)
        frame_masks = FrameMasks(os.path.join(tmp_dir, "frame_masks.bin"))
        frame_mod = settings["frame_mod"]
        detected = detect_all(cap, total, frame_mod, frame_masks, verbose)
        frame_masks.finish_writing()
        considered = len(range(0, detected.frames_read, frame_mod))
        if not detected.found:
            raise UserError(f"no person found in any of the {detected.frames_read} frames of {filename}")
        h, w = detected.frame_shape[:2]
        px = np.array([w, h], np.float32)
        heights = [body_height(d.landmarks[:, :2] * px) for d in detected.found]
        person_height = float(np.median(heights))
        fps = video_fps(cap)
        window = max(1, round(ZOOM_WINDOW_SECONDS * fps / frame_mod))
        frame_heights = dict(zip((d.index for d in detected.found), person_heights(heights, window)))
        crop_size = settings["crop_size"] or native_crop_size(person_height)
        cut = cut_crops(cap, detected, frame_heights, frame_mod, crop_size, frame_masks, tmp_dir, verbose)
        all_plates = detected.plates.finish()
        cap.release()
        if len(cut) != len(detected.found):
            raise UserError(f"{filename} could not be read a second time ({len(cut)} of {len(detected.found)} frames)")
        segments = [d.segment for d in detected.found]
        np.savez(os.path.join(tmp_dir, "skeletons.npz"), landmarks=np.array([lm for _, lm in cut], np.float32),
                 frame_index=np.array([d.index for d in detected.found], np.int64),
                 crop_box=np.array([box for box, _ in cut], np.float32), segment=np.array(segments, np.int64),
                 transform=np.array([d.transform for d in detected.found], np.float64),
                 mask_offset=np.array(frame_masks.offsets, np.int64))
        frame_masks.close()
        meta = dict(settings, crop_size_px=crop_size, fps=fps, count=len(cut), frames_read=detected.frames_read,
                    frames_considered=considered,
                    frames_skipped=considered - len(cut), frame_width=w, frame_height=h,
                    mask_shape=list(frame_masks.shape), detection_scale=detected.detection_scale,
                    person_height_px=person_height, median_crop_side_px=CROP_SCALE * person_height,
                    video=os.path.basename(filename), active_area=list(detected.active), segments=int(segments[-1]) + 1)
        if all_plates is not None and plates.holds_still(segments):  # else never used: see VideoSkeleton.plates()
            all_plates.save(os.path.join(tmp_dir, plates_folder(len(cut))))
            if verbose:
                warn_unseen(all_plates, filename)
        atomic_write_json(os.path.join(tmp_dir, "meta.json"), meta)
        swap_in(tmp_dir, cache_dir)
    except OSError as err:
        raise UserError(f"cannot write the cache of {filename} to {parent}: {err.strerror or err}") from None
    finally:
        cv2.setNumThreads(opencv_threads)
        if frame_masks is not None:
            frame_masks.close()
        cap.release()
        if os.path.exists(tmp_dir):
            shutil.rmtree(tmp_dir, ignore_errors=True)
    if verbose:
        print(f"{filename}: {detected.frames_read} frames read, {len(cut)} skeletons found, "
              f"{considered - len(cut)} frames skipped (no person), {segments[-1] + 1} background "
              f"segment(s), {time.time() - start:.1f} s -> {cache_dir}/")


def swap_in(tmp_dir, cache_dir):
    """Replace the cache folder by the finished temporary one with renames only."""
    old = None
    if os.path.exists(cache_dir):
        old = f"{tmp_dir}.old"
        os.rename(cache_dir, old)
    os.rename(tmp_dir, cache_dir)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def warn_unseen(built, filename):
    unseen = built.unseen_share()
    if unseen > 0.02:
        print(f"warning: {unseen:.0%} of {filename}'s background was never seen without the person "
              "(they never left that spot); it is filled in by inpainting", file=sys.stderr)


def build_split_plates(video_ske, train_count, folder):
    """Decode the first `train_count` cached frames of `video_ske` again and build their plates
    into `folder` (the cache build made the plates of all frames while detecting; a held-out
    split needs its own, so that evaluation never scores a frame whose pixels are in its plate)."""
    meta = video_ske.meta
    frame_masks = FrameMasks(os.path.join(video_ske.cache_dir, "frame_masks.bin"), meta["mask_shape"],
                             offsets=video_ske.mask_offsets)
    position = {int(video_ske.frame_indices[i]): i for i in range(train_count)}
    active = tuple(meta["active_area"])
    builder = plates.PlateBuilder(active, letterboxed=registration.is_letterboxed(
        active, (meta["frame_height"], meta["frame_width"])))
    cap = open_video(video_ske.filename)
    try:
        for index, frame in read_frames(cap, 1, int(video_ske.frame_indices[train_count - 1]) + 1):
            if frame is None:
                break
            i = position.get(index)
            if i is not None:
                builder.add(frame, frame_masks.read(i), int(video_ske.segments[i]), video_ske.transforms[i])
    finally:
        frame_masks.close()
        cap.release()
    result = builder.finish()
    if result is None:
        raise UserError(f"{video_ske.filename} has fewer frames than its cache; rebuild it with: "
                        f"python VideoSkeleton.py {video_ske.filename} --force")
    result.save(folder)
    if video_ske.verbose:
        warn_unseen(result, video_ske.filename)
    return result
