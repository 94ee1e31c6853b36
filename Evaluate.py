"""Score every generator on held-out frames of the target, and on transfers from a source.

    python Evaluate.py TARGET_VIDEO [--gen all|1,2,3,4] [--held-out F] [--out DIR]
                       [--transfer SOURCE_VIDEO [TRUTH_VIDEO]] [--max-frames N]

Held-out: the last F of the target's cached frames (the split training used); each generator
makes every held-out frame from its cached skeleton and is compared with the real crop at the
generator's output size, over the whole crop and over the person alone (MediaPipe's
segmentation of the real crop). A model trained on any of those frames is refused.
Transfer: the whole DanceDemo pipeline (detection, cropping, retargeting, generation) on
SOURCE_VIDEO. With TRUTH_VIDEO, the target really performing the source's moves frame by frame
(data/demo_transfer_truth.mp4 is rendered for exactly this), every metric; with none (any real
source), what can be scored without one: pose error, detection and PCK of the output against the
retargeted skeleton, and flicker relative to the source's own crops.
Metrics are defined in ../shared/SPEC.md ("Quality metrics"); the `real` rows are MediaPipe's own
floor: the real crops scored as if they had been generated. MediaPipe reads every scored image
upscaled and inside a grey border (Skeleton.detect_in_crop): it misses people who fill the image.
Writes DIR/results.json, DIR/report.md and DIR/contact_sheet.png (default DIR: out/eval_TARGET).
"""
import argparse
import datetime
import os
import sys
import time

import cv2
import numpy as np

from cli import HelpFormatter, UserError, run_cli
from devices import device_name, select_device
from files import atomic_write_bytes, atomic_write_json, make_folder, write_image
from generators import GEN_TYPES, TrainedOnHeldOut, check_gen_type, load_generator
from geometry import composite, crop_box, cut_square, frame_to_crop, resize
from coverage import Coverage, CoverageLog
from metrics import flicker, mean_of, person_masks, pose_scores, psnr, real_floor, score, ssim
from report import contact_sheet, fmt, markdown_table, table
from retarget import make_scene
from Skeleton import Skeleton, body_height, torso_centre
from transfer import survey_file, transfer
from video_io import open_video, video_fps
from VideoSkeleton import VideoSkeleton

REFERENCE_SIZE = 128  # the size of the plain `real` row, and the size nearest is scored at
SCENE_HEIGHT = 256    # full frames are scored at this height


def make_generator(gen_type, video_ske, train=None, held=None, explicit=False):
    """(generator, None) or (None, why it is skipped: no model, or one trained on the `held`
    frames, which is fatal when the user asked for that generator `explicit`ly)."""
    try:
        return load_generator(gen_type, video_ske, frames=train, output_size=REFERENCE_SIZE, held_out=held), None
    except TrainedOnHeldOut as err:
        if explicit:
            raise
        return None, str(err)
    except UserError as err:  # a missing model is noted in the table, not fatal
        return None, str(err)


def timed_generate(gen, skeletons, backgrounds, frames_per_second):
    """Every output, and the ms per frame of `generate` (the backgrounds are the plate crops
    behind the poses, or None; the poses are a sequence at `frames_per_second`)."""
    gen.reset(frames_per_second)
    gen.generate(skeletons[0], backgrounds[0])  # warm-up, outside the timing
    gen.reset(frames_per_second)
    start = time.perf_counter()
    out = [gen.generate(s, b) for s, b in zip(skeletons, backgrounds)]
    return out, (time.perf_counter() - start) * 1000 / len(skeletons)


def native_outputs(gen, skeletons, backgrounds, size, frames_per_second):
    """Every output at `size` px (the cached crops' native size), where `gen` can give its person
    that sharp (Layers.sharper), composited over the plate crop as `generate` does; None when it
    cannot."""
    gen.reset(frames_per_second)
    out = []
    for ske, background in zip(skeletons, backgrounds):
        layers = gen.layers(ske, background)
        sharp = None if layers.sharper is None else layers.sharper(size)
        if sharp is None or sharp.person.shape[0] != size:
            return None
        out.append(sharp.person if sharp.alpha is None or background is None
                   else composite(sharp.person, sharp.alpha, resize(background, size)))
    return out


def floors(real, skeletons, results):
    """The `real` rows: MediaPipe's floor at every size a generator was scored at."""
    sizes = sorted({r["size"] for r in results.values()} | {REFERENCE_SIZE})
    return {("real" if s == REFERENCE_SIZE else f"real@{s}"): real_floor(real, skeletons, s) for s in sizes}


def person_share(masks):
    return float(np.mean([m.mean() for m in masks])) if masks else None


def evaluate_held_out(video_ske, gen_types, held_out, explicit, max_frames):
    train, held = video_ske.split(held_out)
    if len(held) == 0:
        raise UserError("--held-out leaves no frame to evaluate; use a fraction above 0")
    if max_frames:
        held = held[:max_frames]
    skeletons = [video_ske.ske[i] for i in held]
    real = [video_ske.read_image(i) for i in held]
    masks = person_masks(real)
    # the plates of the training frames only; a held-out frame takes its place in them from the
    # cache's background registration (geometry only: no pixel of it is in the plate)
    plates = video_ske.plates(len(train))
    backgrounds = ([plates.crop(i, video_ske.crop_boxes[i], video_ske.crop_size) for i in held] if plates
                   else [None] * len(held))
    results, notes, outputs, native = {}, {}, {}, {}
    for gen_type in gen_types:
        name = GEN_TYPES[gen_type]
        gen, why = make_generator(gen_type, video_ske, train, held, explicit)
        if gen is None:
            notes[name] = why
            print(f"skipping {name}: {why}", file=sys.stderr)
            continue
        generated, ms = timed_generate(gen, skeletons, backgrounds, video_ske.cached_fps())
        results[name] = score(generated, skeletons, ms, real=real, masks=masks)
        outputs[name] = generated
        sharp = native_outputs(gen, skeletons, backgrounds, video_ske.crop_size, video_ske.cached_fps())
        if sharp is not None:
            native[name] = score(sharp, skeletons, None, real=real, masks=masks)
    native_rows = {f"real@{video_ske.crop_size}": real_floor(real, skeletons, video_ske.crop_size), **native} if native else {}
    scored = {"results": {**floors(real, skeletons, results), **results}, "notes": notes, "outputs": outputs,
              "real": real, "frames": len(held), "person_share": person_share(masks), "native": native_rows}
    return scored, len(train)


def truth_crops(video_ske, truth_path, count):
    """The target's crops of the truth video (same cropping as the cache), with their skeletons."""
    cap = open_video(truth_path)
    crops = []
    try:
        for _ in range(count):
            ok, frame = cap.read()
            if not ok:
                break
            crop, ske = video_ske.crop_and_ske(frame, video=False)
            crops.append((crop, ske))
    finally:
        cap.release()
    return crops


def source_crops(source_path, source_skeletons, crop_size=REFERENCE_SIZE):
    """The source performer's own crops (cut like a target's, with the source's median body
    height), by frame: the reference for flicker when no truth exists. Per frame, (crop, Skeleton
    in crop coordinates), or None where no person was detected."""
    detected = [s for s in source_skeletons if s is not None]
    cap = open_video(source_path)
    px = np.array([cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)], np.float32)
    height = float(np.median([body_height(s.landmarks[:, :2] * px) for s in detected])) if detected else 0
    crops = []
    try:
        for ske in source_skeletons:
            ok, frame = cap.read()
            if not ok or ske is None:
                crops.append(None)
                continue
            box = crop_box(torso_centre(ske.landmarks[:, :2] * px), height)
            crops.append((cut_square(frame, box, crop_size), Skeleton(frame_to_crop(ske.landmarks, frame.shape, box))))
    finally:
        cap.release()
    return crops


def evaluate_transfer(video_ske, gen_types, source, truth, max_frames):
    """The whole demo pipeline on `source`. With a frame-aligned `truth` video of the target, every
    metric; without one, pose, detection and PCK against the retargeted skeleton, and flicker
    relative to the source's own crops."""
    cap = open_video(source)
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    limit = min(frames, max_frames) if max_frames else frames
    truth_items, mask_of, truth_frames, scene_results = [], {}, [], {}
    scene = make_scene(video_ske)
    surveyed = survey_file(source)  # the same source for every generator: surveyed once
    if truth:
        truth_items = truth_crops(video_ske, truth, limit)
        truth_frames = read_frames_scaled(truth, limit, SCENE_HEIGHT)
        with_person = [k for k, (crop, _) in enumerate(truth_items) if crop is not None]
        mask_of = dict(zip(with_person, person_masks([truth_items[k][0] for k in with_person])))
    results, notes, outputs, own = {}, {}, {}, None
    frames_scored, scored_real = 0, None
    log, split = None, {}
    for gen_type in gen_types:
        name = GEN_TYPES[gen_type]
        gen, why = make_generator(gen_type, video_ske)
        if gen is None:
            notes[name] = why
            continue
        keep, generated, skeletons, seen, scenes, scene_keep = [], [], [], [], [], []
        first = log is None
        if first:  # the retargeted poses are the same for every generator: scored once
            log = CoverageLog(Coverage(video_ske), video_fps_of(source))
        for k, step in enumerate(transfer(source, video_ske, gen, limit, scene=scene, surveyed=surveyed)):
            ske, target_ske, image, scene_image = step.ske, step.target_ske, step.crop, step.scene_image
            seen.append(ske)
            if first:
                log.add(k, target_ske)
            if truth and scene_image is not None and k < len(truth_frames):
                full = scene.in_reference_frame(scene_image, (video_ske.meta["frame_height"],
                                                              video_ske.meta["frame_width"]))
                scenes.append(resize(full, *truth_frames[k].shape[1::-1]))
                scene_keep.append(k)
            if image is None or (truth and (k >= len(truth_items) or truth_items[k][0] is None)):
                continue
            keep.append(k)
            generated.append(image)
            skeletons.append(target_ske)
        if scenes:
            scene_results[name] = score_frames(scenes, [truth_frames[k] for k in scene_keep])
        if own is None and not truth:
            own = source_crops(source, seen)  # every generator sees the same detections
        if not generated:
            notes[name] = "no frame of the source had a detected person"
            continue
        if truth:
            real = [truth_items[k][0] for k in keep]
            results[name] = score(generated, skeletons, None, real=real, masks=[mask_of[k] for k in keep])
        else:
            real = [own[k][0] for k in keep]
            results[name] = score(generated, skeletons, None, flicker_reference=real)
        outputs[name] = generated
        frames_scored, scored_real = len(generated), real
        covered = {item.index: item.covered for item in log.scored}
        split[name] = {label: subset_scores([generated[j] for j, k in enumerate(keep) if covered.get(k) == want],
                                            [skeletons[j] for j, k in enumerate(keep) if covered.get(k) == want],
                                            [real[j] for j, k in enumerate(keep) if covered.get(k) == want] if truth else None)
                       for label, want in (("covered", True), ("uncovered", False))}
    if truth:
        valid = [(c, s) for c, s in truth_items if c is not None]
    else:
        valid = [c for c in own or [] if c is not None]
    floor_rows = floors(*map(list, zip(*valid)), results) if valid else {}
    scored = {"results": {**floor_rows, **results}, "notes": notes, "outputs": outputs, "real": scored_real,
              "frames": frames_scored, "person_share": person_share(list(mask_of.values())) if truth else None,
              "scene": scene_results, "coverage": None if log is None else {
                  "threshold": log.coverage.threshold, "uncovered_share": log.uncovered_share(),
                  "uncovered_seconds": [[round(a, 2), round(b + 1 / log.fps, 2)] for a, b in log.uncovered_ranges()],
                  "frames": len(log.scored), "summary": log.summary(), "by_generator": split}}
    return scored


def subset_scores(generated, skeletons, real):
    """Frames, pose error, detection and PCK (and PSNR against `real` when given) of a subset."""
    if not generated:
        return {"frames": 0, "pose_error": None, "detection_rate": None, "pck": None, "psnr": None}
    error, rate, pck = pose_scores(generated, skeletons)
    size = generated[0].shape[0]
    return {"frames": len(generated), "pose_error": error, "detection_rate": rate, "pck": pck,
            "psnr": None if real is None else mean_of(psnr(g, resize(r, size)) for g, r in zip(generated, real))}


def coverage_table(coverage):
    """Markdown: per generator, the scores of the covered and the uncovered frames side by side."""
    lines = ["| generator | covered frames | pose error | PCK | PSNR | uncovered frames | pose error | PCK | PSNR |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, parts in coverage["by_generator"].items():
        cells = [f"{parts[p]['frames']} | {fmt(parts[p]['pose_error'], 4)} | {fmt(parts[p]['pck'], 3)} | "
                 f"{fmt(parts[p]['psnr'], 2)}" for p in ("covered", "uncovered")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def video_fps_of(path):
    cap = open_video(path)
    try:
        return video_fps(cap)
    finally:
        cap.release()


def read_frames_scaled(path, count, height):
    """The first `count` frames of a video, `height` px high."""
    cap = open_video(path)
    frames = []
    try:
        while len(frames) < count:
            ok, frame = cap.read()
            if not ok:
                break
            width = max(1, round(frame.shape[1] * height / frame.shape[0]))
            frames.append(resize(frame, width, height))
    finally:
        cap.release()
    return frames


def score_frames(generated, truth):
    """Full-frame PSNR, SSIM and flicker of the demo's scene against the truth video (what users
    see); the pose columns are the crops' business."""
    return {"psnr": mean_of(psnr(g, t) for g, t in zip(generated, truth)),
            "ssim": mean_of(ssim(g, t) for g, t in zip(generated, truth)),
            "psnr_person": None, "ssim_person": None, "pose_error": None, "detection_rate": None, "pck": None,
            "ms_per_frame": None, "flicker": flicker(generated, truth), "size": generated[0].shape[0]}


def parse_gens(text):
    if text == "all":
        return list(GEN_TYPES), False
    try:
        gens = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"--gen takes 'all' or a comma list of ids 1-4, not {text!r}") from None
    if not gens:
        raise UserError(f"--gen takes 'all' or a comma list of ids 1-4, not {text!r}")
    return [check_gen_type(g) for g in gens], True


def describe(scored):
    share = scored["person_share"]
    return f"{scored['frames']} frames scored" + ("" if share is None else f"; {share:.0%} of the pixels are person")


def main():
    parser = argparse.ArgumentParser(description="Score the generators on held-out target frames "
                                                 "(and optionally on a transfer from a source video).",
                                     formatter_class=HelpFormatter)
    parser.add_argument("target", help="the target's video (its cache is built if missing)")
    parser.add_argument("--gen", default="all", help="'all' or a comma list of GEN_TYPE ids, e.g. 1,4")
    parser.add_argument("--held-out", type=float, default=0.2,
                        help="fraction of the target's frames, at the end, to score on (as the shipped models "
                             "were trained)")
    parser.add_argument("--out", default=None, help="output folder (default: out/eval_TARGET)")
    parser.add_argument("--transfer", nargs="+", metavar="VIDEO",
                        help="SOURCE [TRUTH]: also score the whole demo pipeline driven by SOURCE; against the "
                             "frame-aligned TRUTH video of the target when given, else without a truth (pose, "
                             "detection, PCK against the retargeted skeleton, flicker against the source)")
    parser.add_argument("--max-frames", type=int, default=None, help="score at most N frames per set (quick runs)")
    args = parser.parse_args()
    gen_types, explicit = parse_gens(args.gen)
    if args.transfer:
        if len(args.transfer) > 2:
            raise UserError("--transfer takes SOURCE and at most one TRUTH video")
        for path in args.transfer:
            open_video(path).release()
    video_ske = VideoSkeleton(args.target)
    stem = os.path.splitext(os.path.basename(args.target))[0]
    out = args.out or os.path.join("out", f"eval_{stem}")
    make_folder(out)
    device = device_name(select_device())

    start = time.time()
    held, train_count = evaluate_held_out(video_ske, gen_types, args.held_out, explicit, args.max_frames)
    report = [f"# Evaluation of {args.target}", "",
              f"{datetime.date.today()}, {device}. Held-out: the last {args.held_out:.0%} of the cached frames "
              f"({describe(held)}; {train_count} frames before them for training).", "",
              "## Held-out frames", "", markdown_table(held["results"], held["notes"]), "",
              "![contact sheet](contact_sheet.png)", ""]
    print(f"held-out frames ({describe(held)}):\n" + table(held["results"], held["notes"]))
    if held["native"]:
        print(f"\nthe same held-out frames at the crops' native size ({video_ske.crop_size} px), for the generators "
              "that can make it:\n" + table(held["native"], {}))
        report += [f"### The same frames at the crops' native size ({video_ske.crop_size} px)", "",
                   "For the generators that can give the person that sharp (the target's own pixels).", "",
                   markdown_table(held["native"], {}), ""]
    sheet = contact_sheet(held["real"], held["outputs"])
    results = {"held_out": held["results"], **({"held_out_native": held["native"]} if held["native"] else {}),
               "meta": {"target": args.target, "split": {"held_out": args.held_out, "train_frames": int(train_count)},
                        "frames_scored": {"held_out": held["frames"]}, "person_share": {"held_out": held["person_share"]},
                        "device": device, "date": datetime.datetime.now().isoformat(timespec="seconds"),
                        "notes": held["notes"]}}
    if args.transfer:
        source, truth = (args.transfer + [None])[:2]
        moved = evaluate_transfer(video_ske, gen_types, source, truth, args.max_frames)
        results["transfer"] = moved["results"]
        if moved["scene"]:
            results["transfer_scene"] = moved["scene"]
        results["meta"]["transfer"] = {"source": source, "truth": truth, "notes": moved["notes"]}
        results["meta"]["frames_scored"]["transfer"] = moved["frames"]
        results["meta"]["person_share"]["transfer"] = moved["person_share"]
        title = f"transfer {source} -> " + (f"truth {truth}" if truth else "no truth")
        print(f"\n{title} ({describe(moved)}):\n" + table(moved["results"], moved["notes"]))
        report += [f"## Transfer: {source} " + (f"against {truth}" if truth else "(no truth)"), "",
                   describe(moved) + ("" if truth else "; without a truth the `real` row is the source's own crops "
                                      "against their own skeletons, and flicker is relative to them") + ".", "",
                   markdown_table(moved["results"], moved["notes"]), "",
                   "![transfer contact sheet](contact_sheet_transfer.png)", ""]
        if moved["scene"]:
            print(f"\n{title}, full frames (the target in its scene, {SCENE_HEIGHT} px high):\n"
                  + table(moved["scene"], {}))
            report += [f"### The same transfer on full frames (the target in its scene, {SCENE_HEIGHT} px high)", "",
                       markdown_table(moved["scene"], {}), ""]
        if moved["coverage"]:
            results["coverage"] = moved["coverage"]
            print(f"\n{moved['coverage']['summary']}; threshold {moved['coverage']['threshold']:.3f} "
                  "(covered vs uncovered source frames, per generator):\n" + coverage_table(moved["coverage"]))
            report += ["### Coverage: covered vs uncovered source frames", "",
                       moved["coverage"]["summary"] + f" (threshold {moved['coverage']['threshold']:.3f}, calibrated "
                       "on the target's own frames; see coverage.py).", "", coverage_table(moved["coverage"]), ""]
        if moved["real"]:
            write_image(os.path.join(out, "contact_sheet_transfer.png"),
                        contact_sheet(moved["real"], moved["outputs"], first="truth" if truth else "source"))
    report += ["Pose error: mean distance of MediaPipe's 13 reduced joints on the output to the input "
               "skeleton, as a fraction of the crop; `real` rows are MediaPipe's floor on the real crops. "
               "MediaPipe reads every image upscaled to 256 px inside a 128 px grey border (it misses people "
               "who fill the image). PSNR/SSIM pers: restricted to the person pixels of the real crop's "
               "segmentation.", ""]
    atomic_write_json(os.path.join(out, "results.json"), results)
    atomic_write_bytes(os.path.join(out, "report.md"), "\n".join(report).encode())
    write_image(os.path.join(out, "contact_sheet.png"), sheet)
    print(f"\n{time.time() - start:.0f} s; wrote {out}/results.json, report.md, contact_sheet.png")
    return 0


if __name__ == "__main__":
    run_cli(main)
