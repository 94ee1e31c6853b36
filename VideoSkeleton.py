"""Skeletons and square crops of one person's video, extracted once and cached next to it.

    python VideoSkeleton.py VIDEO [--force] [--frame-mod N] [--crop-size PX]

`data/x.mp4` is cached in `data/x/`: `crops/000000.jpg ...` (crop_size x crop_size, BGR),
`masks/000000.png ...` (MediaPipe's person segmentation of each crop, 0-255), `skeletons.npz`
(landmarks in crop coordinates, source frame index, crop box, background segment and
registration transform per crop, where its frame's mask starts in `frame_masks.bin`),
`frame_masks.bin` (the person masks of the full frames, at most `MASK_WIDTH` wide, zlib blobs
end to end, for building plates) and `meta.json` (settings, format version, crop
geometry, the picture area inside a letterbox). Background plates (plates.py) are kept per
training split in `plates_NNNNNN/` (NNNNNN: the number of leading frames they are built from,
so held-out frames never leak into them): those of all the frames are built while the video is
read, a held-out split's on first use.
A cache is reused only when its format version, settings and video size match; it is built in a
temporary folder and renamed into place, so an interrupted run never leaves a cache that a later
run would trust.

Crop geometry: the crop side is `CROP_SCALE` times the person's median body height (nose to
ankles along the bones, so it does not shrink in a squat), so the person has the same size in
every crop. On a static camera it is constant; when the camera zooms (or the person walks
towards it) it follows the 90th percentile of the body height over +-2 s, a statistic that
pose changes barely move (foreshortening only shortens bones) but a zoom does. The crop is
centred on the torso (shifted down by `CENTRE_SHIFT` body heights so the feet fit), never on
the bounding box, so it does not jump when an arm goes up. Outside the frame the border is
replicated: the image is never distorted.
"""
import argparse
import json
import os
import queue
import shutil
import sys
import threading
import time
import zlib
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from tqdm import tqdm

import plates
from plates import cut_square
from common import UserError, atomic_write_json, lower_thread_priority, open_video, run_cli, video_fps
from Skeleton import (L_ANKLE, L_HIP, L_KNEE, L_SHOULDER, NOSE, R_ANKLE, R_HIP, R_KNEE,
                      R_SHOULDER, Skeleton, reset_video_tracking)

FORMAT_VERSION = 5  # 3: person masks, background registration and plates; 4: frame masks in one file; 5: zlib
DEFAULT_FRAME_MOD = 1
DEFAULT_CROP_SIZE = 256
CROP_SCALE = 1.7      # crop side / median body height
CENTRE_SHIFT = 0.14   # crop centre below the torso centre, in body heights
ZOOM_WINDOW_SECONDS = 2.0  # the crop side follows zooms over +-this much time
JPEG_QUALITY = 95
MASK_WIDTH = 480      # full-frame person masks are kept at most this wide
DETECTION_BODY_PX = 140  # MediaPipe sees frames shrunk so that the body is still this tall (see detection_scale)
DETECTION_PROBES = 3     # frames detection_scale measures the body in
DETECTION_MIN_SHRINK = 0.75  # a smaller shrink saves less time than the resizing costs
ACTIVE_AREA_SAMPLES = 9   # frames the letterbox detection and detection_scale look at (a seek can cost 40 ms)
REGISTRATION_BACKLOG = 8  # frames that may wait for the registration thread
CROP_BACKLOG = 8          # frames that may wait to be cut and written


def body_height(xy):
    """Nose to ankles along the bones, in the units of `xy` (33 x 2, aspect-correct)."""
    shoulders = (xy[L_SHOULDER] + xy[R_SHOULDER]) / 2
    hips = (xy[L_HIP] + xy[R_HIP]) / 2
    legs = (np.linalg.norm(xy[L_HIP] - xy[L_KNEE]) + np.linalg.norm(xy[L_KNEE] - xy[L_ANKLE])
            + np.linalg.norm(xy[R_HIP] - xy[R_KNEE]) + np.linalg.norm(xy[R_KNEE] - xy[R_ANKLE])) / 2
    return float(np.linalg.norm(xy[NOSE] - shoulders) + np.linalg.norm(shoulders - hips) + legs)


def person_heights(heights, window):
    """Per frame: the video's median body height, scaled by how the rolling 90th percentile
    (+-`window` frames) compares with the whole video's. Constant on a static camera, it
    follows zooms; it is robust to poses because foreshortening only ever shortens bones."""
    heights = np.asarray(heights, np.float64)
    overall = np.percentile(heights, 90)
    rolling = np.array([np.percentile(heights[max(0, i - window): i + window + 1], 90)
                        for i in range(len(heights))])
    return np.median(heights) * rolling / overall


def crop_box(xy_px, person_height):
    """(x0, y0, side) of the square crop for one frame's landmarks in pixels."""
    side = CROP_SCALE * person_height
    shoulders = (xy_px[L_SHOULDER] + xy_px[R_SHOULDER]) / 2
    hips = (xy_px[L_HIP] + xy_px[R_HIP]) / 2
    cx, cy = (shoulders + hips) / 2
    cy += CENTRE_SHIFT * person_height
    return np.array([cx - side / 2, cy - side / 2, side], np.float32)


def frame_to_crop(landmarks, frame_shape, box):
    """MediaPipe landmarks relative to the frame -> relative to the crop `box`."""
    h, w = frame_shape[:2]
    out = landmarks.copy()
    out[:, 0] = (landmarks[:, 0] * w - box[0]) / box[2]
    out[:, 1] = (landmarks[:, 1] * h - box[1]) / box[2]
    return out


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


def read_frames(cap, frame_mod=1, limit=None, prepare=None):
    """Yield (index, frame) of every frame_mod-th frame, decoding in a background thread (and
    there, with `prepare`, yield (index, prepare(frame)) instead).

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


def mask_shape(frame_shape):
    """(height, width) of the person masks kept for frames of `frame_shape`."""
    h, w = frame_shape[:2]
    return (h, w) if w <= MASK_WIDTH else (max(1, round(h * MASK_WIDTH / w)), MASK_WIDTH)


def small_mask(mask, shape):
    """MediaPipe's float person mask -> a uint8 mask (0-255) of `shape` (see mask_shape)."""
    if mask.shape[:2] != tuple(shape):
        mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return cv2.convertScaleAbs(mask, alpha=255)  # rounds and saturates; the mask is never negative


def held_out_split(count, held_out_fraction):
    """(train indices, held-out indices): the last `held_out_fraction` of the frames, in time
    order, are held out, so evaluation frames are never neighbours of training frames."""
    if not 0 <= held_out_fraction < 1:
        raise UserError(f"--held-out must be in [0, 1), got {held_out_fraction}")
    held = int(round(count * held_out_fraction))
    return np.arange(count - held), np.arange(count - held, count)


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
        """Close the file for writing and open it for reading."""
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


def plates_folder(train_count):
    return f"plates_{train_count:06d}"


def cache_dir_for(filename):
    return os.path.splitext(filename)[0]


class VideoSkeleton:
    """The cached skeletons and crops of one video; see the module docstring."""

    def __init__(self, filename, force_compute=False, frame_mod=DEFAULT_FRAME_MOD,
                 crop_size=DEFAULT_CROP_SIZE, verbose=True):
        if frame_mod < 1:
            raise UserError(f"--frame-mod must be at least 1, got {frame_mod}")
        if not 32 <= crop_size <= 1024:
            raise UserError(f"--crop-size must be between 32 and 1024, got {crop_size}")
        if not os.path.isfile(filename):
            raise UserError(f"no such video file: {filename}")
        self.filename = filename
        self.cache_dir = cache_dir_for(filename)
        self.settings = {"format_version": FORMAT_VERSION, "frame_mod": int(frame_mod),
                         "crop_size": int(crop_size), "video_bytes": os.path.getsize(filename)}
        self.verbose = verbose
        self.reused = False
        if not force_compute and self._load():
            self.reused = True
        else:
            self._build()
            if not self._load():
                raise UserError(f"the cache just written to {self.cache_dir} cannot be read back")

    # --- public API --------------------------------------------------------------------------
    def ske_count(self):
        return len(self.ske)

    def read_image(self, i):
        path = os.path.join(self.cache_dir, "crops", f"{i:06d}.jpg")
        image = cv2.imread(path)
        if image is None:
            raise UserError(f"crop {path} is missing or corrupt; rebuild with: "
                            f"python VideoSkeleton.py {self.filename} --force")
        return image

    def read_all_images(self):
        return np.stack([self.read_image(i) for i in range(self.ske_count())])

    def read_mask(self, i):
        """The person mask of crop `i` (float32 crop_size x crop_size, 0..1)."""
        path = os.path.join(self.cache_dir, "masks", f"{i:06d}.png")
        mask = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise UserError(f"mask {path} is missing or corrupt; rebuild with: "
                            f"python VideoSkeleton.py {self.filename} --force")
        return mask.astype(np.float32) / 255

    def frame_index(self, i):
        return int(self.frame_indices[i])

    def crop_and_ske(self, frame, video=True):
        """Detect the person in a new full `frame` and crop it as this video's frames were (with
        the video's median body height: a single frame has no zoom history).

        Returns (crop BGR crop_size x crop_size, Skeleton in crop coordinates), or (None, None)
        when no person is found.
        """
        ske = Skeleton()
        if not ske.from_image(frame, video=video):
            return None, None
        return self.crop_detected(frame, ske)

    def crop_detected(self, frame, frame_ske):
        """Crop `frame` around an already detected skeleton (landmarks relative to the frame)."""
        h, w = frame.shape[:2]
        xy_px = frame_ske.landmarks[:, :2] * np.array([w, h], np.float32)
        box = crop_box(xy_px, self.person_height)
        crop = cut_square(frame, box, self.crop_size)
        return crop, Skeleton(frame_to_crop(frame_ske.landmarks, frame.shape, box))

    # --- background plates ---------------------------------------------------------------
    def plates(self, train_count=None):
        """The background plates built from the first `train_count` cached frames (default all),
        or None when this video has none (a camera that never holds still), with a warning.
        Built on first use and cached; see plates.py."""
        train_count = self.ske_count() if train_count is None else int(train_count)
        key = (train_count,)
        if key not in self._plates:
            self._plates[key] = self._load_or_build_plates(train_count)
        return self._plates[key]

    def _load_or_build_plates(self, train_count):
        segments = self.segments[:train_count]
        if not plates.holds_still(segments):
            print(f"warning: {self.filename}: the camera never holds still long enough for a background plate "
                  f"({len(np.unique(segments))} shots in {train_count} frames); the generators paint the whole "
                  "crop instead", file=sys.stderr)
            return None
        folder = os.path.join(self.cache_dir, plates_folder(train_count))
        loaded = plates.Plates.load(folder)
        if loaded is None:
            loaded = self._build_plates(train_count, folder)
        return loaded.for_frames(self.segments, self.transforms, train_count)

    def _build_plates(self, train_count, folder):
        """Decode the training frames again and build their plates (the cache build made the
        plates of all frames while detecting; a held-out split needs its own)."""
        frame_masks = FrameMasks(os.path.join(self.cache_dir, "frame_masks.bin"), self.meta["mask_shape"],
                                 offsets=self.mask_offsets)
        position = {int(self.frame_indices[i]): i for i in range(train_count)}
        active = tuple(self.meta["active_area"])
        builder = plates.PlateBuilder(active, letterboxed=active != (0, 0, self.meta["frame_width"],
                                                                     self.meta["frame_height"]))
        cap = open_video(self.filename)
        try:
            for index, frame in read_frames(cap, 1, int(self.frame_indices[train_count - 1]) + 1):
                if frame is None:
                    break
                i = position.get(index)
                if i is not None:
                    builder.add(frame, frame_masks.read(i), int(self.segments[i]), self.transforms[i])
        finally:
            frame_masks.close()
            cap.release()
        result = builder.finish()
        if result is None:
            raise UserError(f"{self.filename} has fewer frames than its cache; rebuild it with: "
                            f"python VideoSkeleton.py {self.filename} --force")
        result.save(folder)
        self._warn_unseen(result)
        return result

    def _warn_unseen(self, result):
        unseen = result.unseen_share()
        if unseen > 0.02 and self.verbose:
            print(f"warning: {unseen:.0%} of {self.filename}'s background was never seen without the person "
                  "(they never left that spot); it is filled in by inpainting", file=sys.stderr)

    # --- cache -------------------------------------------------------------------------------
    def _load(self):
        meta_path = os.path.join(self.cache_dir, "meta.json")
        if not os.path.exists(meta_path):
            return False
        try:
            with open(meta_path) as f:
                meta = json.load(f)
            if any(meta.get(k) != v for k, v in self.settings.items()):
                if self.verbose:
                    print(f"cache {self.cache_dir} was made with other settings or an older "
                          "format: rebuilding", file=sys.stderr)
                return False
            with np.load(os.path.join(self.cache_dir, "skeletons.npz"), allow_pickle=False) as npz:
                landmarks = npz["landmarks"].astype(np.float32)
                frame_indices = npz["frame_index"].astype(np.int64)
                boxes = npz["crop_box"].astype(np.float32)
                segments = npz["segment"].astype(np.int64)
                transforms = npz["transform"].astype(np.float64)
                mask_offsets = npz["mask_offset"].astype(np.int64)
            count = meta["count"]
            if len(meta["mask_shape"]) != 2:
                raise ValueError("meta.json has no mask shape")
            if (landmarks.shape != (count, 33, 4) or frame_indices.shape != (count,)
                    or boxes.shape != (count, 3) or segments.shape != (count,) or transforms.shape != (count, 2, 3)
                    or mask_offsets.shape != (count + 1,)):
                raise ValueError("array shapes do not match the count in meta.json")
            for kind, ext in (("crops", "jpg"), ("masks", "png")):
                for i in range(count):
                    if os.path.getsize(os.path.join(self.cache_dir, kind, f"{i:06d}.{ext}")) == 0:
                        raise ValueError(f"{kind} {i} is empty")
            if os.path.getsize(os.path.join(self.cache_dir, "frame_masks.bin")) != mask_offsets[-1]:
                raise ValueError("frame_masks.bin does not have the size skeletons.npz says")
        except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError, EOFError) as err:
            print(f"warning: cache {self.cache_dir} is corrupt ({err}); rebuilding", file=sys.stderr)
            return False
        self.meta = meta
        self.ske = [Skeleton(lm) for lm in landmarks]
        self.landmarks = landmarks
        self.frame_indices = frame_indices
        self.crop_boxes = boxes
        self.segments = segments
        self.transforms = transforms
        self.mask_offsets = mask_offsets
        self.crop_size = meta["crop_size"]
        self.person_height = meta["person_height_px"]
        self._plates = {}
        return True

    def _detect_all(self, cap, total, masks):
        """Pass 1: landmarks (relative to the frame), person mask (appended to `masks`, a
        FrameMasks), background registration (segment, transform) of every frame_mod-th frame
        with a person, and the plates of all of them. Only MediaPipe runs in this thread: the masks, the
        registration and the plates run in a worker thread a few frames behind (OpenCV and
        numpy release the GIL), on the picture area found in a few frames first. MediaPipe and the
        registration see the frames shrunk (detection_scale); the plates see them whole."""
        frame_mod = self.settings["frame_mod"]
        found, frames_read, frame_shape = [], 0, None
        spread = []
        for k in range(ACTIVE_AREA_SAMPLES):
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(k * max(total, 1) / ACTIVE_AREA_SAMPLES))
            ok, frame = cap.read()
            if ok:
                spread.append(frame)
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        active = plates.active_area(spread)
        registrar = plates.Registrar(spread[0].shape)
        registrar.set_active_area(active)
        builder = plates.PlateBuilder(active, letterboxed=active != (0, 0) + spread[0].shape[1::-1])
        scale = detection_scale(spread, spread[0].shape[1])
        person_shape = mask_shape(spread[0].shape)

        def register(frame, shrunk, mask):
            person = small_mask(mask, person_shape)
            segment, transform = registrar.add(shrunk, (person > 127).astype(np.uint8))
            builder.add(frame, person, segment, transform)
            masks.append(person)
            return segment, transform

        reset_video_tracking()
        ske = Skeleton()
        bar = tqdm(total=total or None, desc="detecting", unit="frame", disable=not self.verbose,
                   leave=False)
        pending = deque()  # (index, landmarks, registration job) of the frames still being registered

        def collect():
            index, landmarks, job = pending.popleft()
            found.append((index, landmarks, *job.result()))

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
        return found, frames_read, frame_shape, active, builder, scale

    def _build(self):
        start = time.time()
        cap = open_video(self.filename)
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        parent = os.path.dirname(os.path.abspath(self.cache_dir))
        if not os.access(parent, os.W_OK):
            raise UserError(f"cannot write the cache next to the video: {parent} is read-only; "
                            "copy the video to a writable folder")
        tmp_dir = os.path.join(parent, f".{os.path.basename(self.cache_dir)}.building-{os.getpid()}")
        os.makedirs(tmp_dir)
        frame_masks = FrameMasks(os.path.join(tmp_dir, "frame_masks.bin"))
        # The build runs its own threads (decoding, registration and plates, cutting); OpenCV's
        # pool inside each of them would only fight them for the cores.
        opencv_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            found, frames_read, shape, active, builder, scale = self._detect_all(cap, total, frame_masks)
            frame_masks.finish_writing()
            considered = len(range(0, frames_read, self.settings["frame_mod"]))
            if not found:
                raise UserError(f"no person found in any of the {frames_read} frames of {self.filename}")
            h, w = shape[:2]
            px = np.array([w, h], np.float32)
            heights = [body_height(lm[:, :2] * px) for _, lm, _, _ in found]
            person_height = float(np.median(heights))
            window = max(1, round(ZOOM_WINDOW_SECONDS * video_fps(cap) / self.settings["frame_mod"]))
            frame_heights = dict(zip((item[0] for item in found), person_heights(heights, window)))
            crop_size = self.settings["crop_size"]
            for kind in ("crops", "masks"):
                os.makedirs(os.path.join(tmp_dir, kind))
            # Pass 2: decode again and cut the crops and masks (cheaper than holding every frame
            # in memory), in two worker threads while the plates are still being built.
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            by_index = {index: rest for index, *rest in found}
            jpeg = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]

            def cut_and_write(k, frame, lm, height):
                name = f"{k:06d}"
                box = crop_box(lm[:, :2] * px, height)
                mask = frame_masks.read(k)
                crop_mask = cut_square(mask, box * (mask.shape[1] / w), crop_size)  # the mask is smaller
                if not (cv2.imwrite(os.path.join(tmp_dir, "crops", name + ".jpg"), cut_square(frame, box, crop_size), jpeg)
                        and cv2.imwrite(os.path.join(tmp_dir, "masks", name + ".png"), crop_mask)):
                    raise UserError(f"could not write the crops of {self.filename} to {tmp_dir}")
                return box, frame_to_crop(lm, shape, box)

            cut, jobs = [], deque()
            # at the plate thread's priority, so the last plate builds alongside
            with ThreadPoolExecutor(max_workers=2, initializer=lower_thread_priority) as cutting:
                for index, frame in tqdm(read_frames(cap, self.settings["frame_mod"], found[-1][0] + 1),
                                         total=len(found), desc="cropping", unit="crop",
                                         disable=not self.verbose, leave=False):
                    if frame is None:
                        break
                    if index in by_index:
                        if len(jobs) >= CROP_BACKLOG:  # memory stays flat
                            cut.append(jobs.popleft().result())
                        jobs.append(cutting.submit(cut_and_write, len(cut) + len(jobs), frame, by_index[index][0],
                                                   frame_heights[index]))
                cut.extend(job.result() for job in jobs)
            all_plates = builder.finish()
            cap.release()
            if len(cut) != len(found):
                raise UserError(f"{self.filename} could not be read a second time ({len(cut)} of {len(found)} frames)")
            boxes = [box for box, _ in cut]
            segments = [segment for _, _, segment, _ in found]
            np.savez(os.path.join(tmp_dir, "skeletons.npz"), landmarks=np.array([lm for _, lm in cut], np.float32),
                     frame_index=np.array([item[0] for item in found], np.int64), crop_box=np.array(boxes, np.float32),
                     segment=np.array(segments, np.int64),
                     transform=np.array([item[3] for item in found], np.float64),
                     mask_offset=np.array(frame_masks.offsets, np.int64))
            frame_masks.close()
            meta = dict(self.settings, count=len(boxes), frames_read=frames_read,
                        frames_considered=considered, frames_skipped=considered - len(boxes),
                        frame_width=w, frame_height=h, mask_shape=list(frame_masks.shape),
                        detection_scale=scale,
                        person_height_px=person_height,
                        median_crop_side_px=CROP_SCALE * person_height, video=os.path.basename(self.filename),
                        active_area=list(active), segments=int(segments[-1]) + 1)
            if all_plates is not None and plates.holds_still(segments):  # else never used: see plates()
                all_plates.save(os.path.join(tmp_dir, plates_folder(len(boxes))))
                self._warn_unseen(all_plates)
            atomic_write_json(os.path.join(tmp_dir, "meta.json"), meta)
            self._swap_in(tmp_dir)
        finally:
            cv2.setNumThreads(opencv_threads)
            frame_masks.close()
            cap.release()
            if os.path.exists(tmp_dir):
                shutil.rmtree(tmp_dir, ignore_errors=True)
        if self.verbose:
            print(f"{self.filename}: {frames_read} frames read, {len(boxes)} skeletons found, "
                  f"{considered - len(boxes)} frames skipped (no person), {segments[-1] + 1} background "
                  f"segment(s), {time.time() - start:.1f} s -> {self.cache_dir}/")

    def _swap_in(self, tmp_dir):
        """Replace the cache folder by the finished temporary one with renames only."""
        old = None
        if os.path.exists(self.cache_dir):
            old = f"{tmp_dir}.old"
            os.rename(self.cache_dir, old)
        os.rename(tmp_dir, self.cache_dir)
        if old:
            shutil.rmtree(old, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(
        description="Extract and cache skeletons and square person crops of a video "
                    "(data/x.mp4 -> data/x/).")
    parser.add_argument("video", help="the video file of one person")
    parser.add_argument("--force", action="store_true", help="rebuild the cache even if it is valid")
    parser.add_argument("--frame-mod", type=int, default=DEFAULT_FRAME_MOD,
                        help=f"use every N-th frame (default {DEFAULT_FRAME_MOD})")
    parser.add_argument("--crop-size", type=int, default=DEFAULT_CROP_SIZE,
                        help=f"side of the stored square crops in pixels (default {DEFAULT_CROP_SIZE})")
    args = parser.parse_args()
    start = time.time()
    vs = VideoSkeleton(args.video, force_compute=args.force, frame_mod=args.frame_mod,
                       crop_size=args.crop_size)
    if vs.reused:
        m = vs.meta
        print(f"{args.video}: {m['frames_read']} frames read, {m['count']} skeletons found, "
              f"{m['frames_skipped']} frames skipped (no person), {time.time() - start:.2f} s (cache reused)")
    return 0


if __name__ == "__main__":
    run_cli(main)
