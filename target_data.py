"""The training data of a learnt generator: the target's crops, skeleton drawings and normalised
skeleton vectors at the training size (with plates, also the plate behind each crop and the
crop's person mask), in memory or streamed from the cache, batched and augmented."""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from exemplars import index_of
from geometry import resize
from Skeleton import normalize_reduced
from pose_warp import warp_person


def default_memory_budget():
    """An eighth of the machine's memory, in bytes (2 GB where it cannot be read): the training
    data of a long video streams from the cache beyond it."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = 16 * 2 ** 30
    return total // 8


class TargetData:
    """The target's crops, skeleton drawings and normalised skeleton vectors at one size (with
    `plates`, also the plate behind each crop and the crop's person mask; with an
    `exemplar_window`, also each frame's exemplar warped into its pose), as uint8 tensors.

    A frame's exemplar is the closest frame among these training frames (exemplars.PoseIndex)
    that is more than `exemplar_window` video frames away from it: in use, the exemplar of a new
    pose is never the same picture, so in training it must not be a near copy either. With
    `exemplar_candidates` K > 1, up to K such frames are kept, those that fit as well as an
    exemplar the search holds in use (its temporal slack), and each training batch draws one of
    them: in use the exemplar is held or followed while it fits, so it is often not the closest,
    and a network trained only on the closest does worse on the others. Batches without
    augmentation (the log's samples) take the closest.

    They live on the training device when they fit in `memory_budget` bytes (1,500 frames at
    128 px with plates take 250 MB); beyond it (a long video) only the skeleton vectors do, and
    each batch is read from the cache, the next one in a thread while the current one trains
    (`batches`), so memory stays flat at any length."""

    def __init__(self, video_ske, indices, size, device, plates=None, memory_budget=None, exemplar_window=None,
                 exemplar_candidates=1):
        self.indices = np.asarray(indices)
        self.video_ske, self.size, self.device, self.plates = video_ske, size, device, plates
        self.exemplar_of, self.candidates = None, exemplar_candidates
        if exemplar_window is not None:
            picks = index_of(video_ske, self.indices, for_warp=True).nearest_apart(exemplar_window, exemplar_candidates)
            # the frames of each training frame's exemplars, closest first (fewer where fewer fit)
            self.exemplar_of = {int(i): self.indices[row[row >= 0]].tolist() for i, row in zip(self.indices, picks)}
            self.exemplar_count = torch.tensor([len(self.exemplar_of[int(i)]) for i in self.indices], device=device)
        pictures = 3 if plates is not None else 2  # image, drawing (and background): 3 channels each
        # + the 1-channel mask, + each exemplar candidate and its mask
        self.bytes_per_frame = size * size * (3 * pictures + (plates is not None)
                                              + 4 * self.candidates * (self.exemplar_of is not None))
        budget = default_memory_budget() if memory_budget is None else memory_budget
        self.streamed = len(self.indices) * self.bytes_per_frame > budget
        vectors = np.stack([video_ske.ske[i].reduced() for i in self.indices])
        self.vectors = torch.from_numpy(normalize_reduced(vectors)).to(device)
        self.arrays = None
        if not self.streamed:  # filled in place: a list of frames stacked afterwards would need twice the memory
            for k, i in enumerate(tqdm(self.indices, desc="loading frames", unit="frame", leave=False)):
                frame = self.read(i)
                if self.arrays is None:
                    self.arrays = {key: torch.empty((len(self.indices),) + value.shape, dtype=torch.uint8)
                                   for key, value in frame.items()}
                for key, value in frame.items():
                    self.arrays[key][k] = torch.from_numpy(np.ascontiguousarray(value))
            self.arrays = {key: value.to(device) for key, value in self.arrays.items()}

    def read(self, i):
        """Cached frame `i` as uint8 channels-first arrays at the training size (RGB)."""
        size = self.size
        frame = {"image": resize(self.video_ske.read_image(i), size)[:, :, ::-1].transpose(2, 0, 1),
                 "drawing": self.video_ske.ske[i].drawn(size)[:, :, ::-1].transpose(2, 0, 1)}
        if self.plates is not None:
            frame["background"] = self.plates.crop(i, self.video_ske.crop_boxes[i], size)[:, :, ::-1].transpose(2, 0, 1)
            frame["mask"] = (resize(self.video_ske.read_mask(i), size, mask=True) * 255 + 0.5).astype(np.uint8)[None]
        if self.exemplar_of is not None:  # K x C x H x W: the candidates, closest first (black where fewer)
            frame["exemplar"] = np.zeros((self.candidates, 3, size, size), np.uint8)
            frame["exemplar_mask"] = np.zeros((self.candidates, 1, size, size), np.uint8)
            for k, e in enumerate(self.exemplar_of[int(i)]):
                warped = warp_person(self.video_ske.read_image(e, at_least=size), self.video_ske.read_mask(e),
                                     self.video_ske.landmarks[e], self.video_ske.landmarks[i], size)
                frame["exemplar"][k] = warped.image[:, :, ::-1].transpose(2, 0, 1)
                frame["exemplar_mask"][k, 0] = (warped.alpha * 255 + 0.5).astype(np.uint8)
        return frame

    def __len__(self):
        return len(self.indices)

    def pictures(self, positions):
        """uint8 tensors (image, drawing, and background, mask with plates) of the frames at
        `positions`, from memory or, streamed, from the cache."""
        if not self.streamed:
            pos = torch.as_tensor(positions, device=self.arrays["image"].device)
            return {key: array[pos] for key, array in self.arrays.items()}
        frames = [self.read(self.indices[p]) for p in positions]
        return {key: torch.from_numpy(np.ascontiguousarray(np.stack([f[key] for f in frames]))).to(self.device)
                for key in frames[0]}

    def batches(self, chunks, augment=False):
        """`batch` of each list of positions in `chunks`, in order; streamed, the next chunk is read
        in a thread while the current one trains (decoding JPEG and PNG releases the GIL)."""
        if not self.streamed:
            for chunk in chunks:
                yield self.batch(chunk, augment)
            return
        with ThreadPoolExecutor(max_workers=1) as reader:
            upcoming = reader.submit(self.pictures, chunks[0]) if len(chunks) else None
            for k, chunk in enumerate(chunks):
                pictures = upcoming.result()
                if k + 1 < len(chunks):
                    upcoming = reader.submit(self.pictures, chunks[k + 1])
                yield self.batch(chunk, augment, pictures)

    def batch(self, positions, augment=False, pictures=None, shift=0.04, scale=0.05):
        """A training batch: drawing, vector and image (and background, mask, exemplar,
        exemplar_mask) as float tensors (images in [-1, 1], masks in [0, 1]); `pictures`: their
        uint8 tensors, already read.

        Augmentation applies one random shift and scale to a sample's pictures alike, so pose,
        picture and background stay consistent; the normalised vector is invariant to both.
        """
        raw = self.pictures(positions) if pictures is None else pictures
        if self.exemplar_of is not None:  # one exemplar per sample: drawn among its candidates, or the closest
            rows = torch.arange(len(positions), device=raw["exemplar"].device)
            k = torch.zeros(len(positions), dtype=torch.long, device=rows.device)
            if augment and self.candidates > 1:
                count = self.exemplar_count[torch.as_tensor(positions, device=self.exemplar_count.device)].to(rows.device)
                k = (torch.rand(len(positions), device=rows.device) * count).long()
            raw = dict(raw, exemplar=raw["exemplar"][rows, k], exemplar_mask=raw["exemplar_mask"][rows, k])
        pictures = {key: value.float() / 255 if key.endswith("mask") else value.float() / 127.5 - 1
                    for key, value in raw.items()}
        if augment:
            n = len(positions)
            device = pictures["image"].device
            s = 1 + (torch.rand(n, device=device) * 2 - 1) * scale
            t = (torch.rand(n, 2, device=device) * 2 - 1) * shift * 2
            theta = torch.zeros(n, 2, 3, device=device)
            theta[:, 0, 0] = theta[:, 1, 1] = 1 / s
            theta[:, :, 2] = t
            grid = F.affine_grid(theta, list(pictures["image"].shape), align_corners=False)
            for key, picture in pictures.items():
                if key in ("drawing", "exemplar"):  # black outside, like the drawing itself
                    pictures[key] = F.grid_sample(picture + 1, grid, padding_mode="zeros", align_corners=False) - 1
                elif key == "exemplar_mask":  # nothing outside
                    pictures[key] = F.grid_sample(picture, grid, padding_mode="zeros", align_corners=False)
                else:
                    pictures[key] = F.grid_sample(picture, grid, padding_mode="border", align_corners=False)
        return dict(pictures, vector=self.vectors[torch.as_tensor(positions, device=self.vectors.device)])
