"""Skeletons and square crops of one person's video, extracted once and cached next to it.

    python VideoSkeleton.py VIDEO [--force] [--frame-mod N] [--crop-size PX]

`data/x.mp4` is cached in `data/x/`: `crops/000000.jpg ...` (crop_size x crop_size, BGR; by
default the crop's own side in the video, within 128-512 px),
`masks/000000.png ...` (MediaPipe's person segmentation of each crop, 0-255), `skeletons.npz`
(landmarks in crop coordinates, source frame index, crop box, background segment and
registration transform per crop, where its frame's mask starts in `frame_masks.bin`),
`frame_masks.bin` (the person masks of the full frames, at most 480 px wide, zlib blobs end to
end, for building plates) and `meta.json` (settings, format version, crop geometry, the picture
area inside a letterbox). Background plates (plates.py) are kept per training split in
`plates_NNNNNN/` (NNNNNN: the number of leading frames they are built from, so held-out frames
never leak into them): those of all the frames are built while the video is read, a held-out
split's on first use.

This module reads a cache; cache_builder.py builds one (crop geometry: geometry.py). A cache is
reused only when its format version, settings and video size match; otherwise, or when it is
damaged, it is rebuilt with a message.
"""
import argparse
import json
import os
import sys
import time

import cv2
import numpy as np

import plates
from cache_builder import FORMAT_VERSION, NATIVE_CROP_SIZES, build_cache, build_split_plates, plates_folder
from cli import HelpFormatter, UserError, run_cli
from coverage import thin_ranges
from geometry import crop_box, cut_square, frame_to_crop
from Skeleton import Skeleton, torso_centre

DEFAULT_FRAME_MOD = 1


def cache_dir_for(filename):
    return os.path.splitext(filename)[0]


class VideoSkeleton:
    """The cached skeletons and crops of one video; see the module docstring."""

    def __init__(self, filename, force_compute=False, frame_mod=DEFAULT_FRAME_MOD, crop_size=None, verbose=True):
        if frame_mod < 1:
            raise UserError(f"--frame-mod must be at least 1, got {frame_mod}")
        if crop_size is not None and not 32 <= crop_size <= 1024:
            raise UserError(f"--crop-size must be between 32 and 1024, got {crop_size}")
        if not os.path.isfile(filename):
            raise UserError(f"no such video file: {filename}")
        self.filename = filename
        self.cache_dir = cache_dir_for(filename)
        self.settings = {"format_version": FORMAT_VERSION, "frame_mod": int(frame_mod),
                         "crop_size": None if crop_size is None else int(crop_size),
                         "video_bytes": os.path.getsize(filename)}
        self.verbose = verbose
        self.reused = False
        if not force_compute and self._load():
            self.reused = True
        else:
            build_cache(filename, self.settings, self.cache_dir, verbose)
            if not self._load():
                raise UserError(f"the cache just written to {self.cache_dir} cannot be read back")

    def ske_count(self):
        return len(self.ske)

    def _read(self, kind, i, flags):
        path = os.path.join(self.cache_dir, kind, f"{i:06d}.{'jpg' if kind == 'crops' else 'png'}")
        image = cv2.imread(path, flags)
        if image is None:
            raise UserError(f"{kind[:-1]} {path} is missing or corrupt; rebuild with: "
                            f"python VideoSkeleton.py {self.filename} --force")
        return image

    def read_image(self, i, at_least=None):
        """Crop `i` (uint8 BGR, crop_size x crop_size); with `at_least`, decoded at the smallest
        of 1/2, 1/4, 1/8 of that size that is still at least `at_least` px (JPEG decodes a reduced
        size directly, several times faster: what a network at 128 px needs from a 512 px crop)."""
        for factor, flag in ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
                             (2, cv2.IMREAD_REDUCED_COLOR_2)):
            if at_least is not None and self.crop_size >= factor * at_least:
                return self._read("crops", i, flag)
        return self._read("crops", i, cv2.IMREAD_COLOR)

    def read_mask(self, i):
        """The person mask of crop `i` (float32 crop_size x crop_size, 0..1)."""
        return self._read("masks", i, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255

    def frame_index(self, i):
        return int(self.frame_indices[i])

    def cached_fps(self):
        """The rate of the cached frames, in frames per second of the video."""
        return self.fps / self.settings["frame_mod"]

    def cached_frames_in(self, seconds):
        """How many cached frames span `seconds` of the video (every `frame_mod`-th frame is cached)."""
        return round(seconds * self.cached_fps())

    def split(self, held_out_fraction):
        """(training frames, held-out frames), cached frame indices: the last `held_out_fraction`
        of the frames, in time order, are held out, so evaluation frames are never neighbours of
        training frames."""
        if not 0 <= held_out_fraction < 1:
            raise UserError(f"--held-out must be in [0, 1), got {held_out_fraction}")
        count = self.ske_count()
        held = int(round(count * held_out_fraction))
        return np.arange(count - held), np.arange(count - held, count)

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
        box = crop_box(torso_centre(xy_px), self.person_height)
        crop = cut_square(frame, box, self.crop_size)
        return crop, Skeleton(frame_to_crop(frame_ske.landmarks, frame.shape, box))

    def plates(self, train_count=None):
        """The background plates built from the first `train_count` cached frames (default all),
        or None when this video has none (a camera that never holds still), with a warning.
        Built on first use and cached; see plates.py."""
        train_count = self.ske_count() if train_count is None else int(train_count)
        if train_count not in self._plates:
            self._plates[train_count] = self._load_or_build_plates(train_count)
        return self._plates[train_count]

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
            loaded = build_split_plates(self, train_count, folder)
        return loaded.for_frames(self.segments, self.transforms, train_count)

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
        self.crop_size = meta["crop_size_px"]
        self.fps = meta["fps"]
        self.person_height = meta["person_height_px"]
        self._plates = {}
        return True


def main():
    parser = argparse.ArgumentParser(
        description="Extract and cache skeletons and square person crops of a video "
                    "(data/x.mp4 -> data/x/).", formatter_class=HelpFormatter)
    parser.add_argument("video", help="the video file of one person")
    parser.add_argument("--force", action="store_true", help="rebuild the cache even if it is valid")
    parser.add_argument("--frame-mod", type=int, default=DEFAULT_FRAME_MOD, help="use every N-th frame")
    parser.add_argument("--crop-size", type=int, default=None,
                        help="side of the stored square crops in pixels (default: the crop's own side in the "
                             f"video, so crops keep its sharpness, within {NATIVE_CROP_SIZES[0]}-{NATIVE_CROP_SIZES[1]})")
    args = parser.parse_args()
    start = time.time()
    vs = VideoSkeleton(args.video, force_compute=args.force, frame_mod=args.frame_mod,
                       crop_size=args.crop_size)
    if vs.reused:
        m = vs.meta
        print(f"{args.video}: {m['frames_read']} frames read, {m['count']} skeletons found, "
              f"{m['frames_skipped']} frames skipped (no person), {time.time() - start:.2f} s (cache reused)")
    missing = thin_ranges(vs.landmarks)
    if missing:
        print("as a target, this video never shows: " + "; ".join(missing) + " (a source doing that is guessed)")
    return 0


if __name__ == "__main__":
    run_cli(main)
