"""The training loop of the learnt generators (GenVanillaNN, GenGAN) and its command line.

`train_main` is a training script's whole CLI: build the target's cache, start or resume a run
(checkpoints.py), load the data (target_data.py), `fit`, save. `fit` runs epochs or a wall-clock
budget around the generator's `train_step(batch)`, with a progress bar of the losses, an atomic
checkpoint every epoch, sample grids and a loss log (training_log.py), and Ctrl-C or SIGTERM that
finishes the current step, saves and exits. Under torchrun it trains data-parallel.
"""
import contextlib
import math
import os
import signal
import sys
import time

import numpy as np
import torch
from tqdm import tqdm

from checkpoints import check_resumable, model_path, open_run, run_folder
from cli import UserError
from devices import device_name, select_device
from files import atomic_write_bytes
from network_generator import EXEMPLAR_MODES
from target_data import TargetData, default_memory_budget
from training_log import write_config, write_loss_log, write_samples
from VideoSkeleton import VideoSkeleton

VALIDATE_EVERY = 2  # epochs between two validations (PoseValidation)
# the share of training frames a refining model validates on by default (README: "Longer is not better")
REFINE_VALIDATION = 0.1
MIN_VALIDATION_FRAMES = 8  # fewer say nothing about which epoch is best: all frames train then
# the exemplars a training frame draws from (TargetData); more than 1 also makes the model hold its
# exemplar first in use (README: "Held, not followed")
EXEMPLAR_CANDIDATES = 3


def add_training_arguments(parser, default_size, default_epochs):
    """The options every training script shares (`default_size`: the script's size, or a text
    saying how it is chosen)."""
    parser.add_argument("target", help="the target's video; its cache is built first if missing")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, default=None,
                        help=f"train until this many epochs are done in all (default: {default_epochs})")
    budget.add_argument("--minutes", type=float, default=None,
                        help="train for this many minutes of wall time, then stop cleanly and save")
    parser.add_argument("--size", type=int, default=None,
                        help=f"output image size in pixels (default: {default_size}; a resumed model keeps its own)")
    parser.add_argument("--held-out", type=float, default=0.0,
                        help="keep the last F fraction of the frames (time order) out of training, for "
                             "evaluation (0: train on everything)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per step (per process under torchrun)")
    parser.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate")
    parser.add_argument("--resume", action="store_true", help="continue from the saved checkpoint")
    parser.add_argument("--fresh", action="store_true", help="start over, replacing an existing checkpoint")
    parser.add_argument("--out", default=None, help="checkpoint path (default: models/TARGET_GENERATOR.pt)")
    parser.add_argument("--sample-every", type=int, default=2, help="write a sample grid every N epochs")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--no-plates", action="store_true",
                        help="paint the whole crop, background included, instead of the person over the target's "
                             "background plate (the default when the video has one)")
    parser.add_argument("--memory-budget", type=float, default=None,
                        help="GB of training data held in memory; a larger target streams its frames from the "
                             f"cache (default: an eighth of this machine's memory, {default_memory_budget() / 2 ** 30:.1f} GB; "
                             "0 always streams)")
    parser.add_argument("--validation", type=float, default=None,
                        help="keep the last F fraction of the training frames out of training and save the epoch "
                             "whose poses MediaPipe reads best on them (PCK@0.05), not the last; 0 saves the last "
                             f"(default: {REFINE_VALIDATION} for a model that refines exemplars, else 0)")
    parser.add_argument("--lambda-mask", type=float, default=10.0,
                        help="weight of the person-mask loss against MediaPipe's segmentation")
    return parser


def add_exemplar_arguments(parser, default):
    """The options of the exemplar input (network_generator.py), shared by GenGAN and GenVanillaNN."""
    parser.add_argument("--exemplar", choices=EXEMPLAR_MODES + ("none",), default=default,
                        help="what the network does with the target's closest training frame warped into the pose: "
                             "refine it (a flow, its own pixels and a choice between them), only see it (input), "
                             "or not see it (none)")
    parser.add_argument("--exemplar-window", type=float, default=2.0,
                        help="seconds: a training frame's exemplar is at least this far from it in time")
    parser.add_argument("--exemplar-candidates", type=int, default=EXEMPLAR_CANDIDATES,
                        help="a training frame's exemplar is drawn each batch among up to this many frames that fit "
                             "its pose as well as an exemplar held in use; with more than 1 the model also holds its "
                             "exemplar in use while it fits, rather than following the target video (steadier); "
                             "1: always the closest, and follow (models before this option)")
    parser.add_argument("--max-flow", type=float, default=4.0,
                        help="largest correction of the warped exemplar, in pixels at the output size")


def exemplar_config(args):
    """The config entries of the exemplar options."""
    return {"exemplar": None if args.exemplar == "none" else args.exemplar, "exemplar_window": args.exemplar_window,
            "exemplar_candidates": args.exemplar_candidates, "max_flow": args.max_flow}


def check_arguments(args):
    if args.epochs is not None and args.epochs < 1:
        raise UserError("--epochs must be at least 1")
    if args.minutes is not None and args.minutes <= 0:
        raise UserError("--minutes must be positive")
    if args.memory_budget is not None and args.memory_budget < 0:
        raise UserError("--memory-budget must be 0 or more (GB)")
    if getattr(args, "exemplar_candidates", 1) < 1:
        raise UserError(f"--exemplar-candidates must be at least 1, got {args.exemplar_candidates}")
    if args.validation is not None and not 0 <= args.validation < 1:
        raise UserError(f"--validation must be a fraction from 0 to below 1, got {args.validation}")


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


def best_path(path):
    """Where `fit(validate=...)` keeps the best-scoring checkpoint while it trains."""
    return f"{os.path.splitext(path)[0]}_best.pt"


def last_path(path):
    """Where `fit(validate=...)` leaves the last checkpoint once the best has taken `path`."""
    return f"{os.path.splitext(path)[0]}_last.pt"


class PoseValidation:
    """Scores a generator on validation frames (training frames kept out of training): MediaPipe
    on its outputs, PCK@0.05 and pose error against the frames' skeletons, as Evaluate scores
    held-out frames. The exemplar search is over the other training frames meanwhile, so a
    validation frame is never its own exemplar.

    Why: the refining GAN's pose is at its best after 5-10 of 20 minutes on real footage and then
    slips (it paints more of the person itself, from the training frames it has learnt); the
    validation frames say when, without touching the held-out ones."""

    def __init__(self, video_ske, frames, plates):
        self.frames = np.asarray(frames)
        self.skeletons = [video_ske.ske[i] for i in self.frames]
        self.backgrounds = ([plates.crop(i, video_ske.crop_boxes[i], video_ske.crop_size) for i in self.frames]
                            if plates is not None else [None] * len(self.frames))
        self.frames_per_second = video_ske.cached_fps()

    def __call__(self, gen):
        """(PCK, pose error) of `gen` on the validation frames: higher PCK is better, then lower error."""
        from metrics import pose_scores

        with gen.exemplars_without(self.frames):
            gen.reset(self.frames_per_second)
            images = [gen.generate(s, b) for s, b in zip(self.skeletons, self.backgrounds)]
        error, _, pck = pose_scores(images, self.skeletons)
        return pck, (math.inf if error is None else error)


def validation_split(train, fraction):
    """(frames to train on, validation frames): the last `fraction` of `train` (time order)."""
    count = int(round(len(train) * fraction))
    return (train[:len(train) - count], train[len(train) - count:]) if count else (train, train[:0])


def snapshot_path(path, minutes):
    """Where `fit(keep_at=...)` keeps the checkpoint of the first epoch past `minutes`."""
    return f"{os.path.splitext(path)[0]}_{minutes:g}min.pt"


def fit(gen, data, path, epochs=None, minutes=None, sample_every=2, rank=0, world_size=1, seed=0,
        log=print, keep_at=(), clock=time.time, validate=None, flag=None):
    """Train `gen` on `data` (positions sharded over `world_size` processes); returns (epochs done
    in all, the signal that stopped it or None). Only rank 0 writes checkpoints, samples and logs;
    `keep_at`: minutes after which a copy of the checkpoint is kept (snapshot_path), so that one
    run shows how quality grows with training time. `clock` (seconds) measures `minutes`: wall
    time by default; the ablation benchmark gives the process's CPU time over the cores, so
    that runs sharing a busy machine still get the same compute. `validate` (a PoseValidation)
    scores the generator every VALIDATE_EVERY epochs and after the last; the best-scoring
    checkpoint then takes `path` (the last one is left at last_path), so `gen` in memory is the
    last state, the one on disk the best. `flag`: a StopFlag the caller holds past the loop (see
    train_main); by default fit holds its own while it trains."""
    cfg = gen.config
    device = gen.device
    done = gen.epochs_done
    target_epochs = epochs if epochs is not None else (math.inf if minutes else cfg["default_epochs"])
    deadline = clock() + minutes * 60 if minutes else math.inf
    shard = np.arange(rank, len(data), world_size)
    steps_per_epoch = max(1, (len(data) // world_size) // cfg["batch_size"])
    rng = np.random.default_rng(seed + 1000 * done + rank)
    sample_positions = np.linspace(0, len(data) - 1, 6).astype(int)
    folder = run_folder(path)
    writer = rank == 0
    interrupted = False
    start, wall_start, images_seen = clock(), time.time(), 0
    lr_factor = decayed_lr(done / target_epochs if not minutes else 0.0)
    best = None  # (score, epoch) of the checkpoint at best_path
    if writer:
        write_config(cfg, folder)
        log(f"training {gen.name} on {len(data)} frames at {cfg['size']} px, {device_name(device)}, "
            f"world size {world_size}; checkpoint {path}")
    with StopFlag() if flag is None else contextlib.nullcontext(flag) as flag:
        while done < target_epochs and clock() < deadline and not flag.stop:
            order = rng.permutation(shard)
            totals = {}
            chunks = [order[step * cfg["batch_size"]:(step + 1) * cfg["batch_size"]] for step in range(steps_per_epoch)]
            bar = tqdm(zip(range(steps_per_epoch), data.batches(chunks, augment=True)), total=steps_per_epoch,
                       desc=f"epoch {done + 1}", unit="step", leave=False, disable=not writer)
            for step, batch in bar:
                if minutes:
                    progress = (clock() - start) / (minutes * 60)
                else:
                    progress = (done + step / steps_per_epoch) / target_epochs
                gen.set_lr_factor(lr_factor)
                losses = gen.train_step(batch)
                gen.steps_done += 1
                images_seen += cfg["batch_size"] * world_size
                for k, v in losses.items():
                    totals[k] = totals.get(k, 0.0) + v
                bar.set_postfix({k: f"{v / (step + 1):.3f}" for k, v in totals.items()})
                stop, lr_factor, signum = synchronise(flag.stop or clock() >= deadline, decayed_lr(progress),
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
                gen.loss_log.append({"epoch": done, "seconds": round(time.time() - wall_start, 1),
                                     **{k: v / steps_per_epoch for k, v in totals.items()}})
            if writer:
                gen.save(path)
                for mark in keep_at:
                    if clock() - start >= mark * 60 and not os.path.exists(snapshot_path(path, mark)):
                        with open(path, "rb") as saved:
                            atomic_write_bytes(snapshot_path(path, mark), saved.read())
                if done % sample_every == 0 or flag.stop or clock() >= deadline or done >= target_epochs:
                    write_samples(gen, data, sample_positions, folder, done)
                    write_loss_log(gen.loss_log, folder)
                if gen.loss_log and not interrupted:
                    last = gen.loss_log[-1]
                    log(f"epoch {done}: " + ", ".join(f"{k} {v:.4f}" for k, v in last.items()
                                                      if k not in ("epoch", "seconds")))
                final = flag.stop or clock() >= deadline or done >= target_epochs
                if validate is not None and not interrupted and (done % VALIDATE_EVERY == 0 or final):
                    pck, error = validate(gen)
                    log(f"epoch {done}: validation PCK {pck:.3f}, pose error {error:.4f}")
                    if best is None or (-pck, error) < best[0]:
                        best = ((-pck, error), done)
                        with open(path, "rb") as saved:
                            atomic_write_bytes(best_path(path), saved.read())
    seconds = time.time() - wall_start
    stopped_by = flag.signal if flag.stop else None
    if writer and best is not None:
        os.replace(path, last_path(path))
        os.replace(best_path(path), path)
        log(f"kept epoch {best[1]} of {done} (validation PCK {-best[0][0]:.3f}, pose error {best[0][1]:.4f}); "
            f"the last epoch is at {last_path(path)}")
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
    rank, world_size, device = setup_distributed()
    torch.manual_seed(args.seed + rank)
    if rank == 0:
        video_ske = VideoSkeleton(args.target)  # builds the cache if missing, once
    barrier(world_size)
    if rank != 0:
        video_ske = VideoSkeleton(args.target, verbose=False)
    check_arguments(args)
    path = args.out or model_path(args.target, name)
    checkpoint = open_run(path, name, args.resume, args.fresh)
    if checkpoint:
        check_resumable(checkpoint, path, args.size, args.held_out, video_ske.ske_count(), args.target)
        config = dict(checkpoint["config"], batch_size=args.batch_size)
    else:
        config.update(size=args.size or default_size, held_out=args.held_out, batch_size=args.batch_size,
                      lr=args.lr, default_epochs=default_epochs, lambda_mask=args.lambda_mask)
    train, held = video_ske.split(config["held_out"])
    if not checkpoint:
        # plates come from the training frames only; rank 0 builds them, the others read them
        if rank == 0 and not args.no_plates:
            video_ske.plates(len(train))
        barrier(world_size)
        config["plates"] = not args.no_plates and video_ske.plates(len(train)) is not None
        if config.get("exemplar") and not config["plates"]:
            print(f"warning: {args.target} has no background plate; training without exemplars (they need the "
                  "person's mask over a plate)", file=sys.stderr)
            config["exemplar"] = None
        config["validation"] = ((REFINE_VALIDATION if config.get("exemplar") == "refine" else 0.0)
                                if args.validation is None else args.validation)
    if len(train) < config["batch_size"] * world_size:
        raise UserError(f"only {len(train)} training frames: fewer than one batch per process")
    if config["size"] < 16 or config["size"] & (config["size"] - 1):
        raise UserError(f"--size must be a power of two of at least 16, got {config['size']}")
    gen = make_generator(video_ske, load_from_file=checkpoint is not None, config=config, path=path,
                         device=device, world_size=world_size)
    gen.held_out_indices = held
    plates = video_ske.plates(len(train)) if gen.uses_plates else None
    budget = None if args.memory_budget is None else args.memory_budget * 2 ** 30
    window = video_ske.cached_frames_in(config["exemplar_window"]) if config.get("exemplar") else None
    fitted, validation = validation_split(train, config.get("validation", 0.0))
    if 0 < len(validation) < MIN_VALIDATION_FRAMES:
        if rank == 0:
            print(f"only {len(validation)} validation frames: training on all {len(train)} and saving the last epoch")
        fitted, validation = train, train[:0]
    if len(fitted) < config["batch_size"] * world_size:
        raise UserError(f"only {len(fitted)} frames to train on besides the {len(validation)} validation frames: "
                        "fewer than one batch per process; lower --validation")
    data = TargetData(video_ske, fitted, config["size"], device, plates=plates, memory_budget=budget,
                      exemplar_window=window, exemplar_candidates=config.get("exemplar_candidates", 1))
    validate = PoseValidation(video_ske, validation, plates) if len(validation) and rank == 0 else None
    if rank == 0 and data.streamed:
        print(f"{len(fitted)} training frames take {len(fitted) * data.bytes_per_frame / 2 ** 30:.1f} GB at "
              f"{config['size']} px, over the memory budget: streaming them from the cache")
    log = print if rank == 0 else (lambda *a: None)
    # The flag stays up until this process is done: under torchrun a rank that another rank's signal
    # stopped may get its own SIGTERM only after the loop, and the default handler would kill it
    # silently (seen in CI). A signal then is just one more request to stop, already under way.
    with StopFlag() as flag:
        done, stopped_by = fit(gen, data, path, epochs=args.epochs, minutes=args.minutes,
                               sample_every=args.sample_every, rank=rank, world_size=world_size, seed=args.seed,
                               log=log, validate=validate, flag=flag)
        print(f"rank {rank}/{world_size}: {gen.steps_done} steps done")
        if world_size > 1:
            import torch.distributed as dist

            barrier(world_size)  # a rank that tears gloo down while rank 0 still saves can abort (seen in CI)
            dist.destroy_process_group()
    if stopped_by is None:
        return 0
    if rank == 0:
        print(f"stopped by {signal.Signals(stopped_by).name} after {gen.steps_done} steps; saved {path}; "
              "continue with --resume", file=sys.stderr)
    return 128 + stopped_by  # the shell's convention: 130 for Ctrl-C, 143 for SIGTERM
