"""What each part of the GAN recipe gives: train variants for the same compute budget on the
same split, score them on the held-out frames (and on a transfer from a real source, which has no
truth: pose error and PCK against the retargeted skeleton), and keep snapshots to show how
quality grows with training time.

    python bench/bench_gan_ablation.py [--target VIDEO] [--minutes M] [--keep-at 5,10] [--variants ...]
                                       [--transfer SOURCE] [--out FILE] [--models DIR]

The budget is compute, not wall time: M minutes of the process's CPU time divided by the
threads torch uses (M minutes on 2 cores = 2 M CPU-minutes), so variants that share a busy
machine with other work still get the same compute.

Variants (each a change to the shipped recipe, `refine`):
  drawing             the generator from the drawing and the plate alone (`--exemplar none`: the
                      GAN of earlier releases)
  l1-only             the same U-Net from the drawing, on L1 alone (no discriminator)
  warp                the warped exemplar alone, composited over the plate: no network
  input               the exemplar as four more input channels, trained as `drawing`
  refine              flow + own pixels + choice, nearest-neighbour L1 + coarse L1 + the costs of
                      painting over the exemplar and of the flow's length + GAN, exemplars drawn
                      among 3 candidates and held first in use, the best epoch by validation (the
                      default)
  refine-free-choice  `refine` without the cost of painting over the exemplar
  refine-no-gan       `refine` without the discriminator or the flow cost (GenVanillaNN
                      --exemplar refine)
  refine-free-flow    `refine` without the cost of the correction flow's length (--lambda-flow 0:
                      the recipe before 2026-12-07)
  refine-closest      `refine` trained on each frame's closest exemplar alone (--exemplar-candidates 1:
                      the recipe before candidates; such a model follows the target video in use
                      rather than holding its exemplar first)
  refine-last         `refine` trained on all the training frames, keeping the last epoch
                      (--validation 0: the shipped recipe keeps the epoch whose poses are best on
                      the last tenth of the training frames, kept out of training)
`--score NAME=CHECKPOINT` also scores a GAN trained elsewhere, the same way.
Checkpoints go to a temporary folder; nothing in models/ is touched. Every variant trains in this
one process, one after the other, so they share the machine alike.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from devices import device_name, select_device  # noqa: E402
from exemplars import index_of  # noqa: E402
from generator_api import Generator, Layers  # noqa: E402
from GenGAN import GenGAN  # noqa: E402
from GenNearest import GenNearest  # noqa: E402
from geometry import composite, resize  # noqa: E402
from metrics import person_masks, pose_errors, pose_scores, score  # noqa: E402
from report import fmt  # noqa: E402
from retarget import make_scene  # noqa: E402
from target_data import TargetData  # noqa: E402
from training import PoseValidation, fit, snapshot_path, validation_split  # noqa: E402
from transfer import survey_file, transfer  # noqa: E402
from VideoSkeleton import VideoSkeleton  # noqa: E402
from pose_warp import warp_person  # noqa: E402

RECIPE = {"ngf": 32, "max_ch": 128, "ndf": 32, "d_scales": 2, "lambda_gan": 1.0, "lambda_fm": 10.0,
          "ema_decay": 0.999, "lr": 2e-4, "batch_size": 8, "size": 128, "held_out": 0.2, "default_epochs": 1,
          "lambda_mask": 10.0, "plates": True, "exemplar": "refine", "exemplar_window": 2.0, "max_flow": 4.0,
          "nn_window": 3, "validation": 0.1, "lambda_l1": 0.0, "lambda_nn": 100.0, "lambda_coarse": 100.0, "lambda_choice": 20.0,
          "exemplar_candidates": 3, "lambda_flow": 1.0}
DRAWING = {"exemplar": None, "lambda_l1": 100.0, "lambda_nn": 0.0, "lambda_coarse": 0.0, "validation": 0.0,
           "lambda_flow": 0.0}
CHANGES = {"drawing": dict(DRAWING, lambda_choice=0.0), "l1-only": dict(DRAWING, lambda_gan=0.0, lambda_fm=0.0, lambda_choice=0.0),
           "input": dict(DRAWING, exemplar="input", lambda_choice=0.0), "refine": {},
           "refine-free-choice": {"lambda_choice": 0.0},
           "refine-last": {"validation": 0.0}, "refine-closest": {"exemplar_candidates": 1},
           "refine-no-gan": {"lambda_gan": 0.0, "lambda_fm": 0.0, "lambda_flow": 0.0},
           "refine-free-flow": {"lambda_flow": 0.0}}


class WarpAlone(Generator):
    """The exemplar of the pose, warped into it, over the plate: what the warp gives alone (the
    exemplar picked as the GAN picks it)."""

    name = "warp"

    def __init__(self, video_ske, frames, size):
        self.video_ske, self.frames, self.size = video_ske, np.asarray(frames), size
        self.search = index_of(video_ske, self.frames, temporal=True, hold=True, for_warp=True, steady=True)

    def reset(self, frames_per_second=None):
        self.search.reset(frames_per_second)

    def layers(self, ske, background=None):
        i = int(self.frames[self.search.pick(ske.landmarks)[0]])
        image, mask = self.video_ske.read_image(i), self.video_ske.read_mask(i)

        def at(size):
            warped = warp_person(image, mask, self.video_ske.landmarks[i], ske.landmarks, size)
            return Layers(warped.image, warped.alpha, None)

        small = at(self.size)
        return Layers(small.person, small.alpha, None if background is None else resize(background, self.size),
                      lambda size: at(min(size, image.shape[0])))


def held_out_scores(gen, vs, held, real, masks, backgrounds):
    """(scores at the generator's size, scores at the crops' native size or None)."""
    gen.reset(vs.cached_fps())
    small, native = [], []
    start = time.perf_counter()
    for i, background in zip(held, backgrounds):
        layers = gen.layers(vs.ske[i], background)
        small.append(layers.person if layers.alpha is None else composite(layers.person, layers.alpha, layers.background))
    ms = (time.perf_counter() - start) * 1000 / len(held)
    gen.reset(vs.cached_fps())
    for i, background in zip(held, backgrounds):
        layers = gen.layers(vs.ske[i], background)
        sharp = None if layers.sharper is None else layers.sharper(vs.crop_size)
        if sharp is None:
            native = None
            break
        native.append(composite(sharp.person, sharp.alpha, resize(background, sharp.person.shape[0])))
    skeletons = [vs.ske[i] for i in held]
    return (score(small, skeletons, ms, real=real, masks=masks),
            None if native is None else score(native, skeletons, None, real=real, masks=masks))


def transfer_scores(gen, vs, source, scene, surveyed):
    """Pose error (mean and median), detection, PCK of the whole pipeline on `source` against the
    retargeted skeletons. The median beside the mean: a few frames read mirrored (poses the target
    never made) swing the mean by 0.01-0.02 between two runs of one recipe."""
    generated, skeletons = [], []
    for step in transfer(source, vs, gen, scene=scene, surveyed=surveyed):
        if step.crop is not None:
            generated.append(step.crop)
            skeletons.append(step.target_ske)
    errors = pose_errors(generated, skeletons)
    error, rate, pck = pose_scores(generated, skeletons, errors)
    found = [dist.mean() for dist in errors if dist is not None]
    return {"pose_error": error, "pose_error_median": float(np.median(found)) if found else None,
            "detection_rate": rate, "pck": pck}


def line(name, result, native, moved):
    text = (f"{name:<22} PSNR {fmt(result['psnr'], 2)}  SSIM {fmt(result['ssim'], 3)}  person PSNR "
            f"{fmt(result['psnr_person'], 2)}  SSIM {fmt(result['ssim_person'], 3)}  pose {fmt(result['pose_error'], 4)}  "
            f"detect {fmt(result['detection_rate'], 3)}  PCK {fmt(result['pck'], 3)}  flicker {fmt(result['flicker'], 2)}  "
            f"{fmt(result['ms_per_frame'], 1)} ms")
    if native:
        text += (f"  | native {native['size']} px: PSNR {fmt(native['psnr'], 2)} SSIM {fmt(native['ssim'], 3)} "
                 f"person {fmt(native['psnr_person'], 2)} / {fmt(native['ssim_person'], 3)}")
    if moved:
        text += (f"  | transfer pose {fmt(moved['pose_error'], 4)} (median {fmt(moved['pose_error_median'], 4)}) "
                 f"PCK {fmt(moved['pck'], 3)}")
    return text


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", default="data/demo_target.mp4", help="the target video (default the shipped one)")
    parser.add_argument("--minutes", type=float, default=20.0, help="training budget per variant (default 20)")
    parser.add_argument("--keep-at", default="5,10", help="minutes at which snapshots are scored too (default 5,10)")
    parser.add_argument("--variants", default="drawing,l1-only,warp,input,refine",
                        help="comma-separated, from: " + ", ".join(["warp"] + list(CHANGES)) + " (default %(default)s)")
    parser.add_argument("--transfer", default=None, help="a source video to score each variant's transfer on")
    parser.add_argument("--out", default=None, help="also write the scores as JSON here")
    parser.add_argument("--models", default=None, help="keep each variant's final checkpoint (VARIANT.pt) and snapshots (VARIANT@Mmin.pt) here")
    parser.add_argument("--seed", type=int, default=0,
                        help="torch seed of every variant's training: another seed shows how far two runs of one recipe differ")
    parser.add_argument("--score", nargs="*", default=[], metavar="NAME=CHECKPOINT",
                        help="also score these GAN checkpoints (trained on the same split)")
    args = parser.parse_args()
    device = select_device()
    vs = VideoSkeleton(args.target, verbose=False)
    train, held = vs.split(RECIPE["held_out"])
    plates = vs.plates(len(train))
    real = [vs.read_image(i) for i in held]
    masks = person_masks(real)
    backgrounds = [plates.crop(i, vs.crop_boxes[i], vs.crop_size) for i in held]
    scene = make_scene(vs) if args.transfer else None
    surveyed = survey_file(args.transfer) if args.transfer else None  # one survey for every variant
    keep_at = [float(m) for m in args.keep_at.split(",") if m]
    window = vs.cached_frames_in(RECIPE["exemplar_window"])
    print(f"{device_name(device)}; {args.minutes} min of {torch.get_num_threads()} threads' CPU time per variant; {len(train)} training frames, {len(held)} "
          f"held-out frames scored at 128 px and at {vs.crop_size} px", flush=True)
    rows = {}

    def report(name, gen):
        result, native = held_out_scores(gen, vs, held, real, masks, backgrounds)
        moved = transfer_scores(gen, vs, args.transfer, scene, surveyed) if args.transfer else None
        rows[name] = {"held_out": result, "native": native, "transfer": moved}
        print(line(name, result, native, moved), flush=True)
        if args.out:  # after every row: a run cut short keeps what it scored
            with open(args.out, "w") as f:
                json.dump(rows, f, indent=1)

    report("nearest", GenNearest(vs, temporal=True, indices=train, output_size=RECIPE["size"]))
    for item in args.score:
        name, path = item.split("=", 1)
        report(name, GenGAN(vs, path=path, device=device))
    data = {}
    for name in args.variants.split(","):
        if name == "warp":
            report("warp", WarpAlone(vs, train, RECIPE["size"]))
            continue
        config = dict(RECIPE, **CHANGES[name])
        fitted, validation = validation_split(train, config["validation"])
        key = (bool(config["exemplar"]), len(fitted), config["exemplar_candidates"] if config["exemplar"] else 1)
        if key not in data:  # the frames (and exemplars) are loaded once for all the variants that use them
            data[key] = TargetData(vs, fitted, RECIPE["size"], device, plates=plates,
                                   exemplar_window=window if key[0] else None, exemplar_candidates=key[2])
        torch.manual_seed(args.seed)
        path = os.path.join(tempfile.mkdtemp(), "gan.pt")
        gen = GenGAN(vs, load_from_file=False, config=config, path=path, device=device)
        gen.held_out_indices = held
        fit(gen, data[key], path, minutes=args.minutes, sample_every=10 ** 6, keep_at=keep_at,
            log=lambda text: print(f"{name}: {text}", flush=True) if "validation" in text or "kept" in text else None,
            clock=lambda: time.process_time() / torch.get_num_threads(),
            validate=PoseValidation(vs, validation, plates) if len(validation) else None)
        if args.models:
            os.makedirs(args.models, exist_ok=True)
            shutil.copyfile(path, os.path.join(args.models, f"{name}.pt"))
            for mark in keep_at:
                if os.path.exists(snapshot_path(path, mark)):
                    shutil.copyfile(snapshot_path(path, mark), os.path.join(args.models, f"{name}@{mark:g}min.pt"))
        for mark in keep_at:
            if os.path.exists(snapshot_path(path, mark)):
                report(f"{name} @{mark:g} min", GenGAN(vs, path=snapshot_path(path, mark), device=device))
        if len(validation):  # the checkpoint kept is the best epoch's, not gen's last state
            gen = GenGAN(vs, path=path, device=device)
        report(f"{name} @{args.minutes:g} min ({gen.epochs_done} ep)", gen)


if __name__ == "__main__":
    main()
