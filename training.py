"""What GenVanillaNN and GenGAN share: data, checkpoints, the training loop and its CLI.

A learnt generator is a `NetworkGenerator` (its docstring lists what a subclass provides); `fit`
runs the training loop around its `train_step(batch)`: epochs or a
wall-clock budget, a progress bar with the losses, sample grids and a loss log, an atomic
checkpoint every epoch, and Ctrl-C or SIGTERM that finishes the current step, saves and exits.

Checkpoints (`models/<target>_<generator>.pt`) are a plain dict loaded with weights_only=True:
format version, generator name, config (everything needed to rebuild the networks), frame count
and held-out indices of the target cache, epochs and steps done, the loss log, and the states
of the networks and optimizers. Weights are stored in float16 and optimizer moments in bfloat16
(float16 would flush Adam's tiny second moments to zero), which keeps a shipped model small.
"""
import math
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from common import (UserError, atomic_torch_save, atomic_write_bytes, bgr_to_tensor, device_name, model_path,
                    select_device, tensor_to_bgr)
from plates import composite
from Skeleton import normalize_reduced

CHECKPOINT_FORMAT = 1


# --- data ----------------------------------------------------------------------------------------
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
    `plates`, also the plate behind each crop and the crop's person mask), as uint8 tensors.

    They live on the training device when they fit in `memory_budget` bytes (1,500 frames at
    128 px with plates take 250 MB); beyond it (a long video) only the skeleton vectors do, and
    each batch is read from the cache, the next one in a thread while the current one trains
    (`batches`), so memory stays flat at any length."""

    def __init__(self, video_ske, indices, size, device, plates=None, memory_budget=None):
        self.indices = np.asarray(indices)
        self.video_ske, self.size, self.device, self.plates = video_ske, size, device, plates
        pictures = 3 if plates is not None else 2  # image, drawing (and background): 3 channels each
        self.bytes_per_frame = size * size * (3 * pictures + (plates is not None))  # + the 1-channel mask
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
        shrink = lambda im: cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA)  # noqa: E731
        frame = {"image": shrink(self.video_ske.read_image(i))[:, :, ::-1].transpose(2, 0, 1),
                 "drawing": self.video_ske.ske[i].drawn(size)[:, :, ::-1].transpose(2, 0, 1)}
        if self.plates is not None:
            frame["background"] = self.plates.crop(i, self.video_ske.crop_boxes[i], size)[:, :, ::-1].transpose(2, 0, 1)
            frame["mask"] = (shrink(self.video_ske.read_mask(i)) * 255 + 0.5).astype(np.uint8)[None]
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
        """A training batch: drawing, vector and image (and background, mask) as float tensors
        (images in [-1, 1], masks in [0, 1]); `pictures`: their uint8 tensors, already read.

        Augmentation applies one random shift and scale to a sample's pictures alike, so pose,
        picture and background stay consistent; the normalised vector is invariant to both.
        """
        raw = self.pictures(positions) if pictures is None else pictures
        pictures = {key: value.float() / 255 if key == "mask" else value.float() / 127.5 - 1
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
                if key == "drawing":  # black outside, like the drawing itself
                    pictures[key] = F.grid_sample(picture + 1, grid, padding_mode="zeros", align_corners=False) - 1
                else:
                    pictures[key] = F.grid_sample(picture, grid, padding_mode="border", align_corners=False)
        return dict(pictures, vector=self.vectors[torch.as_tensor(positions, device=self.vectors.device)])


# --- checkpoints ---------------------------------------------------------------------------------
def _compact(obj):
    """float32 tensors -> float16 (weights) / bfloat16 (optimizer moments), recursively."""
    if isinstance(obj, torch.Tensor):
        return obj.to(torch.float16) if obj.is_floating_point() else obj
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k in ("exp_avg", "exp_avg_sq") and isinstance(v, torch.Tensor):
                out[k] = v.to(torch.bfloat16)
            else:
                out[k] = _compact(v)
        return out
    if isinstance(obj, list):
        return [_compact(v) for v in obj]
    return obj


def _expand(obj):
    if isinstance(obj, torch.Tensor):
        return obj.float() if obj.is_floating_point() else obj
    if isinstance(obj, dict):
        return {k: _expand(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_expand(v) for v in obj]
    return obj


def save_checkpoint(path, checkpoint):
    checkpoint = dict(checkpoint, state=_compact(checkpoint["state"]), format_version=CHECKPOINT_FORMAT)
    atomic_torch_save(checkpoint, path)


def load_checkpoint(path, generator_name):
    """The checkpoint at `path`, checked to be a readable `generator_name` checkpoint."""
    if not os.path.exists(path):
        raise UserError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        raise UserError(f"checkpoint {path} is corrupt or not a checkpoint ({type(err).__name__}); "
                        "retrain with --fresh") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format_version") != CHECKPOINT_FORMAT:
        raise UserError(f"checkpoint {path} is from an incompatible version; retrain with --fresh")
    if checkpoint.get("generator") != generator_name:
        raise UserError(f"checkpoint {path} holds a {checkpoint.get('generator')} model, not {generator_name}")
    checkpoint["state"] = _expand(checkpoint["state"])
    return checkpoint


def load_weights(module, state, path):
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError) as err:
        first = str(err).strip().splitlines()[0]
        raise UserError(f"checkpoint {path} does not fit this architecture ({first})") from None


# --- the loop ------------------------------------------------------------------------------------
def add_training_arguments(parser, default_size, default_epochs):
    parser.add_argument("target", help="the target's video; its cache is built first if missing")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, default=None,
                        help=f"train until this many epochs are done in all (default {default_epochs})")
    budget.add_argument("--minutes", type=float, default=None,
                        help="train for this many minutes of wall time, then stop cleanly and save")
    parser.add_argument("--size", type=int, default=None,
                        help=f"output image size in pixels (default {default_size}; a resumed model keeps its own)")
    parser.add_argument("--held-out", type=float, default=0.0,
                        help="keep the last F fraction of the frames (time order) out of training, for "
                             "evaluation (default 0: train on everything)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per step (default 8)")
    parser.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate (default 2e-4)")
    parser.add_argument("--resume", action="store_true", help="continue from the saved checkpoint")
    parser.add_argument("--fresh", action="store_true", help="start over, replacing an existing checkpoint")
    parser.add_argument("--out", default=None, help="checkpoint path (default models/TARGET_GENERATOR.pt)")
    parser.add_argument("--sample-every", type=int, default=2, help="write a sample grid every N epochs (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--no-plates", action="store_true",
                        help="paint the whole crop, background included, instead of the person over the target's "
                             "background plate (the default when the video has one)")
    parser.add_argument("--memory-budget", type=float, default=None,
                        help="GB of training data held in memory; a larger target streams its frames from the "
                             f"cache (default: an eighth of this machine's memory, {default_memory_budget() / 2 ** 30:.1f} GB; "
                             "0 always streams)")
    parser.add_argument("--lambda-mask", type=float, default=10.0,
                        help="weight of the person-mask loss against MediaPipe's segmentation (default 10)")
    return parser


def prepare_run(args, generator_name, default_path):
    """Checks the budget/resume flags; returns (checkpoint path, checkpoint to resume or None)."""
    if args.epochs is not None and args.epochs < 1:
        raise UserError("--epochs must be at least 1")
    if args.minutes is not None and args.minutes <= 0:
        raise UserError("--minutes must be positive")
    if args.memory_budget is not None and args.memory_budget < 0:
        raise UserError("--memory-budget must be 0 or more (GB)")
    if args.resume and args.fresh:
        raise UserError("--resume and --fresh contradict each other")
    path = args.out or default_path
    if args.resume:
        if not os.path.exists(path):
            raise UserError(f"--resume: there is no checkpoint at {path} yet; train without --resume first")
        return path, load_checkpoint(path, generator_name)
    if os.path.exists(path) and not args.fresh:
        raise UserError(f"{path} exists; continue it with --resume or replace it with --fresh")
    return path, None


class StopFlag:
    """Ctrl-C (SIGINT), or SIGTERM (how clusters and schedulers preempt a job), asks the loop to
    stop after the current step and save; a second one interrupts at once. `signal` is the first
    one received (None until then)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.stop = False
        self.signal = None
        self.received = 0  # signals this process got (under DDP `stop` may come from another rank)
        self.previous = {}

    def __enter__(self):
        def handler(signum, frame):
            self.received += 1
            if self.received > 1:
                raise KeyboardInterrupt
            self.stop, self.signal = True, self.signal or signum
            tqdm.write(f"{signal.Signals(signum).name}: stopping after this step and saving "
                       "(again to abort at once)")

        for signum in self.SIGNALS:
            try:
                self.previous[signum] = signal.signal(signum, handler)
            except ValueError:  # not the main thread
                pass
        return self

    def __exit__(self, *exc):
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)


def fit(gen, data, path, epochs=None, minutes=None, sample_every=2, rank=0, world_size=1, seed=0,
        log=print):
    """Train `gen` on `data` (positions sharded over `world_size` processes); returns (epochs done
    in all, the signal that stopped it or None). Only rank 0 writes checkpoints, samples and logs."""
    cfg = gen.config
    device = gen.device
    done = gen.epochs_done
    target_epochs = epochs if epochs is not None else (math.inf if minutes else cfg["default_epochs"])
    deadline = time.time() + minutes * 60 if minutes else math.inf
    shard = np.arange(rank, len(data), world_size)
    steps_per_epoch = max(1, (len(data) // world_size) // cfg["batch_size"])
    rng = np.random.default_rng(seed + 1000 * done + rank)
    sample_positions = np.linspace(0, len(data) - 1, 6).astype(int)
    folder = os.path.splitext(path)[0]
    writer = rank == 0
    interrupted = False
    start, images_seen = time.time(), 0
    lr_factor = decayed_lr(done / target_epochs if not minutes else 0.0)
    if writer:
        log(f"training {gen.name} on {len(data)} frames at {cfg['size']} px, {device_name(device)}, "
            f"world size {world_size}; checkpoint {path}")
    with StopFlag() as flag:
        while done < target_epochs and time.time() < deadline and not flag.stop:
            order = rng.permutation(shard)
            totals = {}
            chunks = [order[step * cfg["batch_size"]:(step + 1) * cfg["batch_size"]] for step in range(steps_per_epoch)]
            bar = tqdm(zip(range(steps_per_epoch), data.batches(chunks, augment=True)), total=steps_per_epoch,
                       desc=f"epoch {done + 1}", unit="step", leave=False, disable=not writer)
            for step, batch in bar:
                if minutes:
                    progress = (time.time() - start) / (minutes * 60)
                else:
                    progress = (done + step / steps_per_epoch) / target_epochs
                gen.set_lr_factor(lr_factor)
                losses = gen.train_step(batch)
                gen.steps_done += 1
                images_seen += cfg["batch_size"] * world_size
                for k, v in losses.items():
                    totals[k] = totals.get(k, 0.0) + v
                bar.set_postfix({k: f"{v / (step + 1):.3f}" for k, v in totals.items()})
                stop, lr_factor, signum = synchronise(flag.stop or time.time() >= deadline, decayed_lr(progress),
                                                      flag.signal, world_size)
                if stop:
                    flag.stop = flag.stop or signum is not None
                    flag.signal = signum
                    interrupted = step + 1 < steps_per_epoch
                    break
            bar.close()
            if not interrupted:
                done += 1
                gen.epochs_done = done
                gen.loss_log.append({"epoch": done, "seconds": round(time.time() - start, 1),
                                     **{k: v / steps_per_epoch for k, v in totals.items()}})
            if writer:
                gen.save(path)
                if done % sample_every == 0 or flag.stop or time.time() >= deadline or done >= target_epochs:
                    write_samples(gen, data, sample_positions, folder, done)
                    write_loss_log(gen.loss_log, folder)
                if gen.loss_log and not interrupted:
                    last = gen.loss_log[-1]
                    log(f"epoch {done}: " + ", ".join(f"{k} {v:.4f}" for k, v in last.items()
                                                      if k not in ("epoch", "seconds")))
    seconds = time.time() - start
    stopped_by = flag.signal if flag.stop else None
    if writer:
        log(f"{done} epochs done; {images_seen / max(seconds, 1e-9):.1f} images/s over {seconds / 60:.1f} min; "
            f"saved {path}" + (f" (stopped by {signal.Signals(stopped_by).name})" if stopped_by else ""))
    return done, stopped_by


def decayed_lr(progress):
    """pix2pix's schedule: full learning rate for the first half of a run, then linear to zero."""
    return float(np.clip(2 * (1 - progress), 0.02, 1.0))


def synchronise(local_stop, lr_factor, signum, world_size):
    """(stop, lr factor, signal) agreed by all processes: under DDP every rank must leave the loop
    at the same step and use the same learning rate, or the replicas drift apart; a signal that
    reached one rank (SIGTERM reaches them one after the other) stops them all."""
    if world_size == 1:
        return local_stop, lr_factor, signum
    import torch.distributed as dist

    values = torch.tensor([float(local_stop), lr_factor, float(signum or 0)])
    dist.all_reduce(values, op=dist.ReduceOp.MAX)
    return bool(values[0].item()), float(values[1].item()), int(values[2].item()) or None


def write_samples(gen, data, positions, folder, epoch):
    """A grid: one row per sample frame, drawing | real | generated."""
    os.makedirs(folder, exist_ok=True)
    batch = data.batch(positions)
    with torch.no_grad():
        fake = gen.render(batch)
    rows = []
    for i in range(len(positions)):
        cells = [batch["drawing"][i], batch["image"][i], fake[i]]
        rows.append(np.hstack([((c.float().clamp(-1, 1).cpu().numpy().transpose(1, 2, 0) + 1) * 127.5)
                               .astype(np.uint8)[:, :, ::-1] for c in cells]))
    ok, png = cv2.imencode(".png", np.vstack(rows))
    atomic_write_bytes(os.path.join(folder, f"samples_epoch{epoch:04d}.png"), png.tobytes())


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
    ok, png = cv2.imencode(".png", plot)
    atomic_write_bytes(os.path.join(folder, "loss.png"), png.tobytes())


class NetworkGenerator:
    """Base of the learnt generators: checkpoint I/O and `generate(ske)`.

    Subclasses set `name`, `default_size`, `default_epochs`, and implement `build(config)`
    (networks, moved with `.to(self.device, memory_format=self.memory_format)`, and optimizers),
    `networks()` (name -> module or optimizer, for checkpoints),
    `network_input(batch)` (the network's one input tensor from a batch), `forward(batch)`
    (inference on a batch: the raw network output), `optimise(batch)` (one training step; returns
    the losses) and `inference_network()`. With `config["plates"]` the networks output a person
    and a soft mask (4 channels) that `composited` puts over the plate crop.
    """

    name = None
    default_size = 128
    default_epochs = 20

    def __init__(self, video_ske, load_from_file=True, config=None, path=None, device=None, world_size=1):
        self.video_ske = video_ske
        self.device = device or select_device()
        self.path = path or model_path(video_ske.filename, self.name)
        self.epochs_done, self.steps_done, self.loss_log, self.held_out_indices = 0, 0, [], []
        self.frozen = None  # what generate() runs (see there), made at first use
        checkpoint = load_checkpoint(self.path, self.name) if load_from_file else None
        self.config = checkpoint["config"] if checkpoint else config
        if self.config is None:
            raise ValueError("a new generator needs a config")
        self.size = self.config["size"]
        # checkpoints from before plates have no "plates" key: they paint the whole crop, as trained
        self.uses_plates = bool(self.config.get("plates"))
        self.scene_background = None
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

    def sample_of(self, ske, background=None):
        """A batch of one for pose `ske` (and the plate crop behind it), as TargetData makes them."""
        sample = {"drawing": drawing_tensor(ske, self.size)[None], "vector": vector_tensor(ske)[None]}
        if self.uses_plates:
            sample["background"] = bgr_to_tensor(background)[None]
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
        if background.shape[0] != self.size:
            interp = cv2.INTER_AREA if background.shape[0] > self.size else cv2.INTER_LINEAR
            background = cv2.resize(background, (self.size, self.size), interpolation=interp)
        return background

    @torch.no_grad()
    def layers(self, ske, background=None):
        """(person BGR uint8, alpha float32 size x size or None, background used or None) for pose
        `ske`: a generator trained with plates paints the person and a soft mask over the plate
        crop `background` (size x size BGR); one trained without paints the whole crop.

        On the CPU it runs a frozen TorchScript copy of the inference network, channels-last like
        the network: freezing folds each batch norm into its convolution, and oneDNN's convolutions
        are faster on channels-last tensors; together they make a GAN frame 13.6 -> 8.8 ms on one
        CPU thread (the demo's budget)."""
        background = self.background_for(background)
        x = self.network_input(self.sample_of(ske, background))
        if x.dim() == 4:
            x = x.contiguous(memory_format=self.memory_format)
        if self.frozen is None:
            network = self.inference_network().eval()
            # the gain is a CPU one; on CUDA or MPS the network runs as it is
            self.frozen = torch.jit.freeze(torch.jit.trace(network, x)) if x.device.type == "cpu" else network
        out = self.frozen(x)[0].float()
        if not self.uses_plates:
            return tensor_to_bgr(out), None, None
        alpha = ((out[3].clamp(-1, 1) + 1) / 2).cpu().numpy()
        return tensor_to_bgr(out[:3]), alpha, background

    def generate(self, ske, background=None):
        """The target in pose `ske` (crop coordinates): uint8 BGR, size x size, over `background`
        (the plate crop behind the pose) when the model was trained with plates."""
        person, alpha, background = self.layers(ske, background)
        return person if alpha is None else composite(person, alpha, background)

    def composited(self, out, batch):
        """A batch of network outputs as images: with plates, person * alpha + background."""
        if not self.uses_plates:
            return out
        alpha = (out[:, 3:4] + 1) / 2
        return out[:, :3] * alpha + batch["background"] * (1 - alpha)

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


def mask_loss(out, batch):
    """L1 of the painted person's soft mask to MediaPipe's segmentation (0 without plates)."""
    if "mask" not in batch or out.shape[1] < 4:
        return out.new_zeros(())
    return F.l1_loss((out[:, 3:4].float() + 1) / 2, batch["mask"])


def drawing_tensor(ske, size):
    """The skeleton drawn on black, as the networks see it: float 3 x size x size in [-1, 1]."""
    return bgr_to_tensor(ske.drawn(size))


def vector_tensor(ske):
    return torch.from_numpy(normalize_reduced(ske.reduced()[None])[0])


def setup_distributed():
    """(rank, world size, device) under torchrun (NCCL on GPUs, gloo on CPUs), else (0, 1, auto)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 1, select_device()
    import torch.distributed as dist

    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl")
        return dist.get_rank(), world_size, torch.device("cuda", local_rank)
    dist.init_process_group("gloo")
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    return dist.get_rank(), world_size, torch.device("cpu")


def barrier(world_size):
    if world_size > 1:
        import torch.distributed as dist

        dist.barrier()


def train_main(make_generator, name, default_size, default_epochs, args, config):
    """The CLI of a learnt generator: build the cache, resume or start, train, save.

    `make_generator(video_ske, load_from_file=..., config=..., path=..., device=..., world_size=...)`
    builds the generator called `name`."""
    from VideoSkeleton import VideoSkeleton, held_out_split

    rank, world_size, device = setup_distributed()
    torch.manual_seed(args.seed + rank)
    if rank == 0:
        video_ske = VideoSkeleton(args.target)  # builds the cache if missing, once
    barrier(world_size)
    if rank != 0:
        video_ske = VideoSkeleton(args.target, verbose=False)
    path, checkpoint = prepare_run(args, name, model_path(args.target, name))
    if checkpoint:
        saved = checkpoint["config"]
        if args.size is not None and args.size != saved["size"]:
            raise UserError(f"{path} was trained at {saved['size']} px; --size {args.size} does not fit it")
        if checkpoint["frame_count"] != video_ske.ske_count():
            raise UserError(f"{path} was trained on a cache of {checkpoint['frame_count']} frames, but "
                            f"{args.target} now has {video_ske.ske_count()}; retrain with --fresh")
        if abs(args.held_out - saved["held_out"]) > 1e-9:
            raise UserError(f"{path} was trained with --held-out {saved['held_out']}; resume with the same value")
        config = dict(saved, batch_size=args.batch_size)
    else:
        config.update(size=args.size or default_size, held_out=args.held_out, batch_size=args.batch_size,
                      lr=args.lr, default_epochs=default_epochs, lambda_mask=args.lambda_mask)
    train, held = held_out_split(video_ske.ske_count(), config["held_out"])
    if not checkpoint:
        # plates come from the training frames only; rank 0 builds them, the others read them
        if rank == 0 and not args.no_plates:
            video_ske.plates(len(train))
        barrier(world_size)
        config["plates"] = not args.no_plates and video_ske.plates(len(train)) is not None
    if len(train) < config["batch_size"] * world_size:
        raise UserError(f"only {len(train)} training frames: fewer than one batch per process")
    if config["size"] < 16 or config["size"] & (config["size"] - 1):
        raise UserError(f"--size must be a power of two of at least 16, got {config['size']}")
    gen = make_generator(video_ske, load_from_file=checkpoint is not None, config=config, path=path,
                         device=device, world_size=world_size)
    gen.held_out_indices = held
    plates = video_ske.plates(len(train)) if gen.uses_plates else None
    budget = None if args.memory_budget is None else args.memory_budget * 2 ** 30
    data = TargetData(video_ske, train, config["size"], device, plates=plates, memory_budget=budget)
    if rank == 0 and data.streamed:
        print(f"{len(train)} training frames take {len(train) * data.bytes_per_frame / 2 ** 30:.1f} GB at "
              f"{config['size']} px, over the memory budget: streaming them from the cache")
    log = print if rank == 0 else (lambda *a: None)
    done, stopped_by = fit(gen, data, path, epochs=args.epochs, minutes=args.minutes,
                           sample_every=args.sample_every, rank=rank, world_size=world_size, seed=args.seed,
                           log=log)
    print(f"rank {rank}/{world_size}: {gen.steps_done} steps done")
    if world_size > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    if stopped_by is None:
        return 0
    if rank == 0:
        print(f"stopped by {signal.Signals(stopped_by).name} after {gen.steps_done} steps; saved {path}; "
              "continue with --resume", file=sys.stderr)
    return 128 + stopped_by  # the shell's convention: 130 for Ctrl-C, 143 for SIGTERM
