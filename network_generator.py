"""What every learnt generator (GenVanillaNN, GenGAN) shares at inference: building its networks
from a checkpoint's config, loading and saving their state (checkpoints.py), what the network's
output channels mean (`decode`), and `layers` / `generate` through a frozen TorchScript copy of
the inference network.

A network paints, by its config:
- without plates: the whole crop (3 channels);
- with plates (`config["plates"]`): the person and a soft mask (4 channels), put over the plate
  crop behind the pose;
- with exemplars (`config["exemplar"]`, plates needed): it also sees the target's own pixels of
  the closest training frame, warped into the pose (pose_warp.py), and either only looks at them
  ("input": 4 channels out, as with plates) or refines them ("refine", 7 channels out): a
  small correction flow that resamples the warped exemplar (in use, shortened where the target
  covers the pose: INFERENCE_FLOW_SCALE), its own synthesised pixels for what
  the exemplar lacks, a per-pixel choice between the two, and the mask. The output is then made
  of the exemplar's real pixels wherever they fit, so it is sharp by construction; and the same
  flow and choice, upsampled, apply to the exemplar warped at the crop's native resolution, which
  is what the scene pastes (`Layers.sharper`).
"""
import copy
from collections import namedtuple
from contextlib import contextmanager

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from checkpoints import load_checkpoint, load_weights, model_path, save_checkpoint
from cli import UserError
from coverage import Coverage
from devices import cpu_inference_dtype, select_device
from exemplars import LEG_JOINTS, LEG_PART_MASK, index_of
from generator_api import Generator, Layers
from geometry import resize
from Skeleton import normalize_reduced
from pose_warp import BODY_PARTS, LEG_PARTS, exemplar_parts, remap_person, shown_box, source_positions, warp_maps

EXEMPLAR_MODES = ("input", "refine")
# In use, where the target's training frames cover the pose (coverage.py's threshold), the
# refining network's flow is applied at this fraction of what it predicts; where they do not, all
# of it. Trained with losses that forgive a pixel or two of offset (nearest-neighbour L1, coarse
# L1, GAN), the flow it learns is right in direction but too long where the exemplar already
# fits: at full length it scrambled the face and hands it was meant to align (MediaPipe then read
# a profile as a front view, mirrored). Measured on held-out frames at 128 px, the learnt flow
# scaled by 1 / 0.75 / 0.5 / 0.25 / 0: taichi2 (a 20-min checkpoint) pose error 0.0358 / 0.0322 /
# 0.0295 / 0.0285 / 0.0274, PSNR 24.95 / 25.10 / 25.22 / 25.27 / 25.02; the shipped target
# (first 120 held-out frames) PSNR 32.88 / 33.35 / 33.51 / 33.17 / 32.32. Where the pose is not
# covered the exemplar is poor and the flow does real work: halving it there too put the karate
# -> taichi2 transfer's mean pose error up in three of four checkpoints (0.0420 -> 0.0626 in one,
# the output read mirrored in 37 frames instead of 11); with the whole flow there, 0.0411.
# Training applies the whole flow (its losses need it); the validation that keeps the best epoch
# scores it as used. A model trained with GenGAN's cost on the flow's length (--lambda-flow) learns
# a shorter flow, and still gains from the rule (taichi2, one 20-min run: pose error 0.0331 with
# the whole flow, 0.0302 so).
INFERENCE_FLOW_SCALE = 0.5
# In use, the legs are warped from an exemplar of their own where the body's exemplar does not fit
# them: the training frame whose hips, knees and ankles fit the pose best (a search over those
# joints that keeps the body's frame wherever it fits nearly as well, else follows the target
# video while it fits and holds its pick when it does not), the rest of the person from the
# body's exemplar. A frame that fits the arms and torso often does not fit the legs too. The
# network was trained on one exemplar per frame and takes the two-frame warp as it is. Measured
# with a 20-min taichi2 checkpoint (seed 1, 2026-12-08; held-out frames at 128 px, then the
# karate1 transfer's pose error / PCK), one exemplar -> this: PSNR 25.36 -> 25.34, person 18.41 ->
# 18.38, pose error 0.0278 -> 0.0286, PCK 0.861 -> 0.862, flicker 0.92 -> 0.96; transfer 0.0527 /
# 0.733 -> 0.0325 / 0.828. Always the legs' own pick: 0.0275 / 0.867 held out and 0.0314 / 0.838,
# but two warps on every frame (live on taichi2: 24% of the frames dropped against 0.3%); keeping
# the body's frame where it fits costs nothing measurable (bench_generate: 13.58 against 13.53 ms).
LEGS_OWN_EXEMPLAR = True

# The exemplar of a pose: its cached frame, where the warped person's pixels come from in it
# (warp.warp_maps at the network's size), and its warped person and alpha at that size.
# `covered`: whether the training frames cover the pose (the flow is shortened there); `legs`: the
# (cached frame, maps) the legs are warped from when they have an exemplar of their own, else None
# (`maps` then holds the rest of the person).
Exemplar = namedtuple("Exemplar", "frame maps image alpha covered legs", defaults=(True, None))
# A batch of network outputs, read: person (N x 3 x S x S, -1..1), its soft mask (N x 1, 0..1, or
# None), and for "refine" the flow (N x 2, pixels at S), the choice of the exemplar (N x 1, 0..1)
# and the synthesised pixels (N x 3).
Decoded = namedtuple("Decoded", "person alpha flow choice synth")


def bgr_to_tensor(image):
    """uint8 BGR HxWx3 -> float tensor 3xHxW in [-1, 1] (RGB order)."""
    rgb = image[:, :, ::-1].astype(np.float32) / 127.5 - 1.0
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))


def tensor_to_bgr(tensor):
    """float tensor 3xHxW in [-1, 1] (RGB) -> uint8 BGR HxWx3."""
    arr = tensor.detach().float().clamp(-1, 1).cpu().numpy().transpose(1, 2, 0)
    return np.ascontiguousarray(((arr + 1.0) * 127.5 + 0.5).astype(np.uint8)[:, :, ::-1])


def unit(channel):
    """A tanh output channel (-1..1) as a weight in 0..1."""
    return (channel.clamp(-1, 1) + 1) / 2


def drawing_tensor(ske, size):
    """The skeleton drawn on black, as the networks see it: float 3 x size x size in [-1, 1]."""
    return bgr_to_tensor(ske.drawn(size))


def vector_tensor(ske):
    return torch.from_numpy(normalize_reduced(ske.reduced()[None])[0])


def input_channels(config, picture_channels=3):
    """Channels of an image network's input: the drawing, and the plate crop and the warped
    exemplar with its mask when the config has them."""
    return picture_channels * (1 + bool(config.get("plates"))) + 4 * bool(config.get("exemplar"))


def output_channels(config):
    if config.get("exemplar") == "refine":
        return 7
    return 4 if config.get("plates") else 3


def resample(image, flow):
    """`image` (N x C x S x S) sampled at each pixel plus `flow` (N x 2 x S x S, pixels)."""
    size = image.shape[-1]
    ys, xs = torch.meshgrid(torch.arange(size, device=image.device), torch.arange(size, device=image.device),
                            indexing="ij")
    base = torch.stack([xs, ys], dim=-1).to(flow.dtype)[None]
    grid = (2 * (base + flow.permute(0, 2, 3, 1)) + 1) / size - 1
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


@torch.no_grad()
def start_from_the_exemplar(head):
    """Initialise the refining head (the U-Net's last convolution) so that training starts from
    the warped exemplar as it is: no flow, the choice leaning to the exemplar's pixels."""
    head.weight[0:2] *= 0.1
    head.bias[0:2] = 0.0
    head.bias[5] = 1.0  # tanh(1) -> a choice of 0.88


class NetworkGenerator(Generator):
    """Base of the learnt generators: checkpoint I/O and `layers(ske)`.

    Subclasses set `name` and implement `build(config)`
    (networks, moved with `.to(self.device, memory_format=self.memory_format)`, and optimizers),
    `networks()` (name -> module or optimizer, for checkpoints),
    `network_input(batch)` (the network's one input tensor from a batch), `forward(batch)`
    (inference on a batch: the raw network output), `optimise(batch)` (one training step; returns
    the losses) and `inference_network()`.
    """

    def __init__(self, video_ske, load_from_file=True, config=None, path=None, device=None, world_size=1):
        self.video_ske = video_ske
        self.device = device or select_device()
        self.path = path or model_path(video_ske.filename, self.name)
        self.epochs_done, self.steps_done, self.loss_log, self.held_out_indices = 0, 0, [], []
        self.frozen, self.frozen_dtype = None, None  # what generate() runs (see there), made at first use
        checkpoint = load_checkpoint(self.path, self.name) if load_from_file else None
        self.config = checkpoint["config"] if checkpoint else config
        if self.config is None:
            raise ValueError("a new generator needs a config")
        self.size = self.background_size = self.config["size"]
        # checkpoints from before plates have no "plates" key: they paint the whole crop, as
        # trained; those from before exemplars have no "exemplar" key: they paint from the drawing
        self.uses_plates = bool(self.config.get("plates"))
        self.exemplar_mode = self.config.get("exemplar") or None
        self.scene_background = None
        self.exemplar_search = None  # over the training frames, made at first use
        self.covering_search, self.covered_distance = None, None  # the same frames' plain pose search, and coverage's threshold
        self.frames_per_second = None  # the rate of the sequence being generated (reset)
        self.legs_search = None  # the legs' own exemplar search (LEGS_OWN_EXEMPLAR), made with exemplar_search
        # the exemplars in use, read once while held: {cached frame: (crop reduced, mask, parts)} and
        # {cached frame: crop at full size}
        self.exemplar_pictures, self.native_exemplar = {}, {}
        self.world_size = world_size
        # oneDNN's CPU convolutions run ~30% faster on channels-last tensors (bench_train.py);
        # build() puts its networks in this layout, train_step() its batches
        self.memory_format = torch.channels_last if self.device.type == "cpu" else torch.contiguous_format
        self.build(self.config)
        if checkpoint:
            self.load(checkpoint)

    def load(self, checkpoint):
        for key, obj in self.networks().items():
            if key not in checkpoint["state"]:
                raise UserError(f"checkpoint {self.path} has no {key}; it does not fit this architecture")
            if isinstance(obj, torch.optim.Optimizer):
                obj.load_state_dict(checkpoint["state"][key])
            else:
                load_weights(obj, checkpoint["state"][key], self.path)
        self.epochs_done = checkpoint["epochs"]
        self.steps_done = checkpoint["steps"]
        self.loss_log = checkpoint["loss_log"]
        self.held_out_indices = checkpoint["held_out_indices"]

    def save(self, path):
        state = {key: obj.state_dict() for key, obj in self.networks().items()}
        save_checkpoint(path, {"generator": self.name, "config": self.config, "epochs": self.epochs_done, "steps": self.steps_done,
                               "frame_count": self.video_ske.ske_count(), "loss_log": self.loss_log,
                               "held_out_indices": list(map(int, self.held_out_indices)), "state": state})

    def reset(self, frames_per_second=None):
        self.frames_per_second = frames_per_second
        for search in (self.exemplar_search, self.legs_search):
            if search is not None:
                search.reset(frames_per_second)

    # --- inputs ---------------------------------------------------------------------------------
    def image_input(self, batch):
        """The drawing, the plate crop behind it and the warped exemplar with its mask, as the
        config has them, channel-stacked."""
        parts = [batch["drawing"]]
        if self.uses_plates:
            parts.append(batch["background"])
        if self.exemplar_mode:
            parts += [batch["exemplar"], batch["exemplar_mask"] * 2 - 1]
        return torch.cat(parts, 1) if len(parts) > 1 else parts[0]

    def training_frames(self):
        """The cached frames this model may copy pixels from: those it was trained on."""
        return np.setdiff1d(np.arange(self.video_ske.ske_count()), np.asarray(self.held_out_indices, np.int64))

    @contextmanager
    def exemplars_without(self, frames):
        """Within it, exemplars come from the training frames but `frames` (validation frames are
        never their own exemplar); the search is rebuilt on the way in and out."""
        held = self.held_out_indices
        self.held_out_indices, self.exemplar_search = np.union1d(np.asarray(held, np.int64), frames), None
        try:
            yield
        finally:
            self.held_out_indices, self.exemplar_search = held, None

    def exemplar_for(self, ske):
        """The Exemplar of pose `ske`: the closest training frame (facing-aware, temporal, held
        while it fits, picked for the steadied track of the poses: exemplars.py), and the legs'
        own (LEGS_OWN_EXEMPLAR)."""
        if self.exemplar_search is None:
            self.exemplar_frames = self.training_frames()
            # a network trained on exemplars like held ones (TargetData's candidates) holds its exemplar first
            held_first = self.config.get("exemplar_candidates", 1) > 1
            self.exemplar_search = index_of(self.video_ske, self.exemplar_frames, temporal=True, hold=True, for_warp=True,
                                            steady=True, hold_first=held_first)
            self.exemplar_search.reset(self.frames_per_second)
            # the legs keep the body's exemplar where it fits them, else follow the target video
            # while it fits them, and are held when it does not
            self.legs_search = index_of(self.video_ske, self.exemplar_frames, temporal=True, hold=True, for_warp=True,
                                        steady=True, joints=LEG_JOINTS, parts=LEG_PART_MASK) if LEGS_OWN_EXEMPLAR else None
            if self.legs_search is not None:
                self.legs_search.reset(self.frames_per_second)
            self.covering_search = index_of(self.video_ske, self.exemplar_frames)
            if self.covered_distance is None:
                self.covered_distance = Coverage(self.video_ske).threshold
        body = self.exemplar_search.pick(ske.landmarks)[0]
        i = int(self.exemplar_frames[body])
        j = i if self.legs_search is None else int(self.exemplar_frames[self.legs_search.pick(ske.landmarks, prefer=body)[0]])
        cuts = {(i, None)} if j == i else {(i, BODY_PARTS), (j, LEG_PARTS)}
        self.exemplar_pictures = {cut: self.exemplar_pictures.get(cut) or self.cut_exemplar(*cut) for cut in cuts}
        covered = float(self.covering_search.distances(ske.landmarks).min()) <= self.covered_distance
        if j == i:
            picture, mask, parts = self.exemplar_pictures[(i, None)]
            maps = warp_maps(mask, self.video_ske.landmarks[i], ske.landmarks, self.size, parts=parts)
            return Exemplar(i, maps, remap_person(picture, maps[0], maps[1], maps[3], self.size), maps[2], covered)
        (picture, mask, parts), (legs_picture, legs_mask, legs_parts) = (self.exemplar_pictures[(i, BODY_PARTS)],
                                                                         self.exemplar_pictures[(j, LEG_PARTS)])
        maps = warp_maps(mask, self.video_ske.landmarks[i], ske.landmarks, self.size, parts=parts)
        legs = warp_maps(legs_mask, self.video_ske.landmarks[j], ske.landmarks, self.size, parts=legs_parts)
        body_over, legs_over = maps[3][..., None], legs[3][..., None]
        both = body_over + legs_over
        image = (remap_person(picture, maps[0], maps[1], maps[3], self.size) * body_over
                 + remap_person(legs_picture, legs[0], legs[1], legs[3], self.size) * legs_over)
        image = np.divide(image, both, out=np.zeros_like(image), where=both > 1e-6)
        return Exemplar(i, maps, image.round().astype(np.uint8), np.clip(maps[2] + legs[2], 0, 1), covered, (j, legs))

    def cut_exemplar(self, i, names=None):
        """(crop at the network's size at least, person mask, its parts `names` cut; default all)
        of cached frame `i`."""
        mask = self.video_ske.read_mask(i)
        return (self.video_ske.read_image(i, at_least=self.size), mask,
                exemplar_parts(mask, self.video_ske.landmarks[i], self.size, names))

    def sample_of(self, ske, background=None, exemplar=None):
        """A batch of one for pose `ske` (and the plate crop behind it, the warped exemplar), as
        TargetData makes them."""
        sample = {"drawing": drawing_tensor(ske, self.size)[None], "vector": vector_tensor(ske)[None]}
        if self.uses_plates:
            sample["background"] = bgr_to_tensor(background)[None]
        if exemplar is not None:
            sample["exemplar"] = bgr_to_tensor(exemplar.image)[None]
            sample["exemplar_mask"] = torch.from_numpy(exemplar.alpha)[None, None]
        return {k: v.to(self.device) for k, v in sample.items()}

    def background_for(self, background):
        """`background` at the output size; without one, the plate behind the target's first frame
        of its main scene (a generator trained with plates always paints over one)."""
        if not self.uses_plates:
            return None
        if background is None:
            if self.scene_background is None:
                plates = self.video_ske.plates()
                if plates is None:
                    raise UserError(f"{self.path} was trained with background plates, but {self.video_ske.filename} "
                                    "has none now; retrain it with --fresh")
                first = int(np.flatnonzero(plates.frame_segment == plates.main_segment())[0])
                self.scene_background = plates.crop(first, self.video_ske.crop_boxes[first], self.size)
            background = self.scene_background
        return resize(background, self.size)

    # --- outputs --------------------------------------------------------------------------------
    def decode(self, out, batch, flow_scale=1.0):
        """A batch of raw network outputs, read (see Decoded), with the flow at `flow_scale` of
        what the network predicts (INFERENCE_FLOW_SCALE in use, all of it in training)."""
        if not self.uses_plates:
            return Decoded(out[:, :3], None, None, None, None)
        if self.exemplar_mode != "refine":
            return Decoded(out[:, :3], unit(out[:, 3:4]), None, None, None)
        flow = out[:, 0:2] * (self.config["max_flow"] * flow_scale)
        synth, choice = out[:, 2:5], unit(out[:, 5:6])
        person = choice * resample(batch["exemplar"], flow) + (1 - choice) * synth
        return Decoded(person, unit(out[:, 6:7]), flow, choice, synth)

    def composited(self, out, batch, decoded=None):
        """A batch of network outputs (or their `decoded` reading) as images: with plates,
        person * alpha + background."""
        decoded = self.decode(out, batch) if decoded is None else decoded
        if decoded.alpha is None:
            return decoded.person
        return decoded.person * decoded.alpha + batch["background"] * (1 - decoded.alpha)

    @torch.no_grad()
    def layers(self, ske, background=None):
        """Layers for pose `ske`: a generator trained with plates paints the person and a soft mask
        over the plate crop `background`; one trained without paints the whole crop. One that
        refines exemplars can also give the person at the crop's native size (Layers.sharper).

        On the CPU it runs a frozen TorchScript copy of the inference network, channels-last like
        the network: freezing folds each batch norm into its convolution, and oneDNN's convolutions
        are faster on channels-last tensors; together they make a GAN frame 13.6 -> 8.8 ms on one
        CPU thread (the demo's budget). The copy is in bfloat16 where the CPU multiplies it in
        hardware (devices.cpu_inference_dtype: 2.6x faster again)."""
        background = self.background_for(background)
        exemplar = self.exemplar_for(ske) if self.exemplar_mode else None
        batch = self.sample_of(ske, background, exemplar)
        x = self.network_input(batch)
        if x.dim() == 4:
            x = x.contiguous(memory_format=self.memory_format)
        if self.frozen is None:
            network = self.inference_network().eval()
            # the gain is a CPU one; on CUDA or MPS the network runs as it is
            self.frozen_dtype = cpu_inference_dtype() if x.device.type == "cpu" else x.dtype
            if x.device.type == "cpu":
                network = copy.deepcopy(network).to(self.frozen_dtype)
                self.frozen = torch.jit.freeze(torch.jit.trace(network, x.to(self.frozen_dtype)))
            else:
                self.frozen = network
        flow_scale = INFERENCE_FLOW_SCALE if exemplar is not None and exemplar.covered else 1.0
        decoded = self.decode(self.frozen(x.to(self.frozen_dtype)).float(), batch, flow_scale)
        person = tensor_to_bgr(decoded.person[0])
        if decoded.alpha is None:
            return Layers(person, None, None)
        alpha = decoded.alpha[0, 0].cpu().numpy()
        if decoded.flow is None:
            return Layers(person, alpha, background)
        flow, choice = [m[0].cpu().numpy().transpose(1, 2, 0) for m in (decoded.flow, decoded.choice)]
        synth = decoded.synth[0]
        return Layers(person, alpha, background,
                      lambda size: self.native_layers(size, ske, exemplar, alpha, person, flow, choice, synth))

    def native_layers(self, size, ske, exemplar, alpha, person, flow, choice, synth):
        """The refined person at `size` px (at most the cached crop's): the exemplar's own pixels
        fetched through the warp and the upsampled flow in one resampling, chosen by the upsampled
        choice; the synthesised pixels are upscaled only where the network paints its own. Where
        no exemplar part shows (the outline, a shadow, a seam) it is the network's `person` at its
        own size, upscaled: the synthesised channels alone are untrained wherever the network
        chose the exemplar, and showed there as a yellow or green fringe around the person. The
        exemplar is fetched only inside the box where its parts show: the person covers a third
        to a half of the crop. `person` is uint8 BGR; `flow` and `choice` are HxWxC arrays and
        `synth` the synthesised pixels as the network gave them (tensor 3xHxW, RGB, -1..1)."""
        sources = [(exemplar.frame, exemplar.maps)] + ([exemplar.legs] if exemplar.legs is not None else [])
        self.native_exemplar = {frame: self.native_exemplar[frame] if frame in self.native_exemplar
                                else self.video_ske.read_image(frame) for frame, _ in sources}  # a held exemplar is read once
        size = min([size] + [image.shape[0] for image in self.native_exemplar.values()])
        if size <= self.size:
            return None
        own = resize(person.astype(np.float32), size)
        over = np.maximum.reduce([maps[3] for _, maps in sources])
        box = shown_box(over, size, self.config["max_flow"] * over.shape[0] / self.size + 2)
        if box is not None:
            x0, y0, x1, y1 = box
            flow = resize(np.ascontiguousarray(flow), size, mask=True)[y0:y1, x0:x1] * (size / self.size)
            fetched, shows = [], []
            for frame, (from_x, from_y, _, part_over, _) in sources:
                source_x, source_y, shown = source_positions(from_x, from_y, part_over, size, flow, box)
                image = self.native_exemplar[frame]
                side = image.shape[0]
                fetched.append(cv2.remap(image, source_x * side - 0.5, source_y * side - 0.5, cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_REPLICATE).astype(np.float32))
                shows.append(shown)
            moved, shown = fetched[0], shows[0]
            if len(sources) == 2:  # the body's and the legs' pixels, each as much as it shows
                shown = shows[0] + shows[1]
                moved = np.divide(fetched[0] * shows[0][..., None] + fetched[1] * shows[1][..., None], shown[..., None],
                                  out=np.zeros_like(moved), where=shown[..., None] > 1e-6)
                shown = np.clip(shown, 0, 1)
            painted = resize(tensor_to_bgr(synth).astype(np.float32), size)[y0:y1, x0:x1]
            chosen = resize(np.ascontiguousarray(choice[:, :, 0]), size, mask=True)[y0:y1, x0:x1]
            refined = cv2.blendLinear(moved, np.ascontiguousarray(painted), chosen, 1 - chosen)
            own[y0:y1, x0:x1] = cv2.blendLinear(refined, np.ascontiguousarray(own[y0:y1, x0:x1]), shown, 1 - shown)
        return Layers(cv2.convertScaleAbs(own), resize(alpha, size, mask=True), None)  # rounded, saturated

    def train_step(self, batch):
        """One optimisation step on `batch`; returns {loss name: value}."""
        self.frozen = None  # generate() must not run the weights from before this step
        return self.optimise({k: v.contiguous(memory_format=self.memory_format) if v.dim() == 4 else v
                              for k, v in batch.items()})

    def render(self, batch):
        return self.composited(self.forward(batch), batch)

    def set_lr_factor(self, factor):
        for obj in self.networks().values():
            if isinstance(obj, torch.optim.Optimizer):
                for group in obj.param_groups:
                    group["lr"] = self.config["lr"] * factor
