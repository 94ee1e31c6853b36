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

from common import UserError, atomic_write_bytes, atomic_write_json, device_name, open_video, run_cli, select_device
from DanceDemo import GEN_NAMES, load_generator, make_scene, transfer
from plates import cut_square
from Skeleton import REDUCED_JOINTS, Skeleton, detect_in_crop
from VideoSkeleton import VideoSkeleton, body_height, crop_box, frame_to_crop, held_out_split

PCK_THRESHOLD = 0.05
PERSON_THRESHOLD = 0.5  # segmentation probability above which a pixel is person
REFERENCE_SIZE = 128  # the size of the plain `real` row, and the size nearest is scored at
SCENE_HEIGHT = 256    # full frames are scored at this height
METRICS = ("psnr", "ssim", "psnr_person", "ssim_person", "pose_error", "detection_rate", "pck", "ms_per_frame",
           "flicker")


# --- metrics -------------------------------------------------------------------------------------
def psnr(a, b, mask=None):
    """PSNR in dB of two uint8 images (peak 255), over the pixels where `mask` is True if given."""
    diff = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    if mask is not None:
        if not mask.any():
            return None
        diff = diff[mask]
    mse = np.mean(diff)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def ssim_map(a, b):
    """Per-pixel SSIM of two uint8 BGR images: Gaussian window 11, sigma 1.5, on each RGB channel
    in [0, 1], averaged over channels (scikit-image's structural_similarity with
    gaussian_weights=True, data_range=1)."""
    x, y = a.astype(np.float64) / 255, b.astype(np.float64) / 255
    blur = lambda im: cv2.GaussianBlur(im, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    n = 11 * 11
    cov_norm = n / (n - 1)  # scikit-image's sample-covariance correction
    mx, my = blur(x), blur(y)
    vx = cov_norm * (blur(x * x) - mx * mx)
    vy = cov_norm * (blur(y * y) - my * my)
    vxy = cov_norm * (blur(x * y) - mx * my)
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return s.mean(axis=2)


def ssim(a, b):
    """Mean SSIM (scikit-image leaves out a 5-pixel border; so do we)."""
    return float(ssim_map(a, b)[5:-5, 5:-5].mean())


def ssim_person(generated, real, mask):
    """SSIM over the person: the SSIM map averaged over `mask` (the real crop's person pixels).

    The generated image's background is first replaced by the real one, so that the windows at
    the person's outline compare the person alone: the background has its own number (full-crop
    SSIM), and an identical person scores 1.0 whatever is behind them."""
    if not mask.any():
        return None
    person_only = np.where(mask[:, :, None], generated, real)
    return float(ssim_map(person_only, real)[mask].mean())


def pose_of(image):
    """The reduced joints (13 x 2, relative to the image) MediaPipe reads in `image`, or None.

    Detection goes through `detect_in_crop` (upscaled, inside a grey border): MediaPipe misses
    people who fill the image, which is what every crop is."""
    ske, _ = detect_in_crop(image)
    return None if ske is None else ske.landmarks[REDUCED_JOINTS, :2]


def person_masks(real):
    """Per real crop, the boolean person mask from MediaPipe's segmentation (all False when
    nobody is found: such a frame has no person-region score)."""
    masks = []
    for image in real:
        _, prob = detect_in_crop(image, segmentation=True)
        masks.append(np.zeros(image.shape[:2], bool) if prob is None else prob > PERSON_THRESHOLD)
    return masks


def pose_scores(images, skeletons):
    """(mean pose error as a fraction of the image size over detected frames, detection rate,
    PCK@0.05 with undetected frames counting as misses)."""
    errors, hits, detected = [], 0, 0
    for image, ske in zip(images, skeletons):
        joints = pose_of(image)
        if joints is None:
            continue
        detected += 1
        dist = np.linalg.norm(joints - ske.landmarks[REDUCED_JOINTS, :2], axis=1)
        errors.append(dist.mean())
        hits += int((dist < PCK_THRESHOLD).sum())
    n = len(images)
    return (float(np.mean(errors)) if errors else None, detected / n if n else None,
            hits / (13 * n) if n else None)


def flicker(generated, reference):
    """Mean absolute frame-to-frame change of `generated` over that of `reference` (the real or
    true frames, or without a truth the source's crops; same frames, resized to match)."""
    if len(generated) < 2:
        return None
    size = generated[0].shape[0]
    reference = [resize(r, size) for r in reference]
    change = lambda seq: np.mean([np.abs(seq[i + 1].astype(np.float32) - seq[i]).mean()  # noqa: E731
                                  for i in range(len(seq) - 1)])
    reference_change = change(reference)
    return float(change(generated) / reference_change) if reference_change > 0 else None


def resize(image, size):
    if image.shape[0] == size:
        return image
    interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(image, (size, size), interpolation=interp)


def resize_mask(mask, size):
    if mask.shape[0] == size:
        return mask
    return cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST).astype(bool)


def mean_of(values):
    """Mean of the values that apply (a frame with no person has no person-region score);
    inf when every frame is a perfect match."""
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def score(generated, skeletons, ms_per_frame, real=None, masks=None, flicker_reference=None):
    """All the metrics of one generator's outputs. Without `real` (a transfer with no truth)
    only pose, detection, PCK and flicker against `flicker_reference` apply."""
    size = generated[0].shape[0]
    error, rate, pck = pose_scores(generated, skeletons)
    result = {"psnr": None, "ssim": None, "psnr_person": None, "ssim_person": None, "pose_error": error,
              "detection_rate": rate, "pck": pck, "ms_per_frame": ms_per_frame,
              "flicker": flicker(generated, flicker_reference if real is None else real), "size": size}
    if real is not None:
        real = [resize(r, size) for r in real]
        result["psnr"] = mean_of(psnr(g, r) for g, r in zip(generated, real))
        result["ssim"] = mean_of(ssim(g, r) for g, r in zip(generated, real))
        if masks is not None:
            masks = [resize_mask(m, size) for m in masks]
            result["psnr_person"] = mean_of(psnr(g, r, m) for g, r, m in zip(generated, real, masks))
            result["ssim_person"] = mean_of(ssim_person(g, r, m) for g, r, m in zip(generated, real, masks))
    return result


def real_floor(real, skeletons, size):
    """MediaPipe's own noise floor: the real crops at `size`, scored like a generator."""
    images = [resize(r, size) for r in real]
    error, rate, pck = pose_scores(images, skeletons)
    return {"psnr": None, "ssim": None, "psnr_person": None, "ssim_person": None, "pose_error": error,
            "detection_rate": rate, "pck": pck, "ms_per_frame": None, "flicker": 1.0, "size": size}


# --- the two scored sets -------------------------------------------------------------------------
def make_generator(gen_type, video_ske, train, held, explicit):
    """(generator, None) or (None, why it is skipped). Refuses models trained on held-out frames."""
    if GEN_NAMES[gen_type] == "nearest":
        from GenNearest import GenNearest

        return GenNearest(video_ske, temporal=True, indices=train, output_size=REFERENCE_SIZE), None
    try:
        gen = load_generator(gen_type, video_ske)
    except UserError as err:  # a missing model is noted in the table, not fatal
        return None, str(err)
    leaked = set(map(int, held)) - set(map(int, gen.held_out_indices))
    if leaked:
        why = (f"{gen.path} was trained on {len(leaked)} of the {len(held)} frames to evaluate (it held out "
               f"{len(gen.held_out_indices)}); retrain it with the same --held-out")
        if explicit:
            raise UserError(why)
        return None, why
    return gen, None


def timed_generate(gen, skeletons, backgrounds):
    """Every output, and the ms per frame of `generate` (the backgrounds are the plate crops
    behind the poses, or None)."""
    if hasattr(gen, "reset"):
        gen.reset()
    gen.generate(skeletons[0], backgrounds[0])  # warm-up, outside the timing
    if hasattr(gen, "reset"):
        gen.reset()
    start = time.perf_counter()
    out = [gen.generate(s, b) for s, b in zip(skeletons, backgrounds)]
    return out, (time.perf_counter() - start) * 1000 / len(skeletons)


def floors(real, skeletons, results):
    """The `real` rows: MediaPipe's floor at every size a generator was scored at."""
    sizes = sorted({r["size"] for r in results.values()} | {REFERENCE_SIZE})
    return {("real" if s == REFERENCE_SIZE else f"real@{s}"): real_floor(real, skeletons, s) for s in sizes}


def person_share(masks):
    return float(np.mean([m.mean() for m in masks])) if masks else None


def evaluate_held_out(video_ske, gen_types, held_out, explicit, max_frames):
    train, held = held_out_split(video_ske.ske_count(), held_out)
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
    results, notes, outputs = {}, {}, {}
    for gen_type in gen_types:
        name = GEN_NAMES[gen_type]
        gen, why = make_generator(gen_type, video_ske, train, held, explicit)
        if gen is None:
            notes[name] = why
            print(f"skipping {name}: {why}", file=sys.stderr)
            continue
        generated, ms = timed_generate(gen, skeletons, backgrounds)
        results[name] = score(generated, skeletons, ms, real=real, masks=masks)
        outputs[name] = generated
    scored = {"results": {**floors(real, skeletons, results), **results}, "notes": notes, "outputs": outputs,
              "real": real, "frames": len(held), "person_share": person_share(masks)}
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
            box = crop_box(ske.landmarks[:, :2] * px, height)
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
    if truth:
        truth_items = truth_crops(video_ske, truth, limit)
        truth_frames = read_frames_scaled(truth, limit, SCENE_HEIGHT)
        with_person = [k for k, (crop, _) in enumerate(truth_items) if crop is not None]
        mask_of = dict(zip(with_person, person_masks([truth_items[k][0] for k in with_person])))
    results, notes, outputs, own = {}, {}, {}, None
    frames_scored, scored_real = 0, None
    for gen_type in gen_types:
        name = GEN_NAMES[gen_type]
        if name == "nearest":
            from GenNearest import GenNearest

            gen = GenNearest(video_ske, temporal=True, output_size=REFERENCE_SIZE)
        else:
            try:
                gen = load_generator(gen_type, video_ske)
            except UserError as err:
                notes[name] = str(err)
                continue
        keep, generated, skeletons, seen, scenes, scene_keep = [], [], [], [], [], []
        for k, step in enumerate(transfer(source, video_ske, gen, limit, scene=scene)):
            ske, target_ske, image, scene_image = step.ske, step.target_ske, step.crop, step.scene_image
            seen.append(ske)
            if truth and scene_image is not None and k < len(truth_frames):
                full = scene.in_reference_frame(scene_image, (video_ske.meta["frame_height"],
                                                              video_ske.meta["frame_width"]))
                scenes.append(cv2.resize(full, truth_frames[k].shape[1::-1], interpolation=cv2.INTER_AREA))
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
    if truth:
        valid = [(c, s) for c, s in truth_items if c is not None]
    else:
        valid = [c for c in own or [] if c is not None]
    floor_rows = floors(*map(list, zip(*valid)), results) if valid else {}
    scored = {"results": {**floor_rows, **results}, "notes": notes, "outputs": outputs, "real": scored_real,
              "frames": frames_scored, "person_share": person_share(list(mask_of.values())) if truth else None,
              "scene": scene_results}
    return scored


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
            frames.append(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA))
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


# --- reporting -----------------------------------------------------------------------------------
def fmt(value, digits):
    return "-" if value is None else f"{value:.{digits}f}"


COLUMNS = [("size", "size", None), ("PSNR", "psnr", 2), ("SSIM", "ssim", 3), ("PSNR pers", "psnr_person", 2),
           ("SSIM pers", "ssim_person", 3), ("pose err", "pose_error", 4),
           ("detect", "detection_rate", 3), ("PCK", "pck", 3), ("ms/frame", "ms_per_frame", 2),
           ("flicker", "flicker", 2)]


def cells(r):
    return [str(r[key]) if digits is None else fmt(r[key], digits) for _, key, digits in COLUMNS]


def table(results, notes):
    head = f"{'generator':<16}" + "".join(f"{title:>10}" for title, _, _ in COLUMNS)
    lines = [head, "-" * len(head)]
    lines += [f"{name:<16}" + "".join(f"{c:>10}" for c in cells(r)) for name, r in results.items()]
    lines += [f"{name:<16}  skipped: {why}" for name, why in notes.items()]
    return "\n".join(lines)


def markdown_table(results, notes):
    lines = ["| generator | " + " | ".join(title for title, _, _ in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(cells(r)) + " |" for name, r in results.items()]
    lines += [f"| {name} | skipped: {why} |" + " |" * (len(COLUMNS) - 1) for name, why in notes.items()]
    return "\n".join(lines)


def contact_sheet(real, outputs, rows=6, cell=128, first="real"):
    """One row per frame (a spread over the set): real | each generator, labelled on top.
    Every generator must have scored the same frames as `real`."""
    picks = np.linspace(0, len(real) - 1, min(rows, len(real))).astype(int)
    names = [first] + list(outputs)
    header = np.full((24, cell * len(names), 3), 255, np.uint8)
    for j, name in enumerate(names):
        cv2.putText(header, name, (j * cell + 4, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    body = [np.hstack([resize(real[i], cell)] + [resize(outputs[n][i], cell) for n in outputs]) for i in picks]
    return np.vstack([header] + body)


def parse_gens(text):
    if text == "all":
        return list(GEN_NAMES), False
    try:
        gens = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise UserError(f"--gen takes 'all' or a comma list of ids 1-4, not {text!r}") from None
    bad = [g for g in gens if g not in GEN_NAMES]
    if bad or not gens:
        raise UserError(f"unknown generator id {bad[0] if bad else text!r}; choose from "
                        + ", ".join(f"{k} ({v})" for k, v in GEN_NAMES.items()))
    return gens, True


def describe(scored):
    share = scored["person_share"]
    return f"{scored['frames']} frames scored" + ("" if share is None else f"; {share:.0%} of the pixels are person")


def main():
    parser = argparse.ArgumentParser(description="Score the generators on held-out target frames "
                                                 "(and optionally on a transfer from a source video).")
    parser.add_argument("target", help="the target's video (its cache is built if missing)")
    parser.add_argument("--gen", default="all", help="'all' or a comma list of GEN_TYPE ids, e.g. 1,4 (default all)")
    parser.add_argument("--held-out", type=float, default=0.2,
                        help="fraction of the target's frames, at the end, to score on (default 0.2, as the "
                             "shipped models were trained)")
    parser.add_argument("--out", default=None, help="output folder (default out/eval_TARGET)")
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
    os.makedirs(out, exist_ok=True)
    device = device_name(select_device())

    start = time.time()
    held, train_count = evaluate_held_out(video_ske, gen_types, args.held_out, explicit, args.max_frames)
    report = [f"# Evaluation of {args.target}", "",
              f"{datetime.date.today()}, {device}. Held-out: the last {args.held_out:.0%} of the cached frames "
              f"({describe(held)}; {train_count} frames before them for training).", "",
              "## Held-out frames", "", markdown_table(held["results"], held["notes"]), "",
              "![contact sheet](contact_sheet.png)", ""]
    print(f"held-out frames ({describe(held)}):\n" + table(held["results"], held["notes"]))
    sheet = contact_sheet(held["real"], held["outputs"])
    results = {"held_out": held["results"],
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
        if moved["real"]:
            ok, png = cv2.imencode(".png", contact_sheet(moved["real"], moved["outputs"],
                                                         first="truth" if truth else "source"))
            atomic_write_bytes(os.path.join(out, "contact_sheet_transfer.png"), png.tobytes())
    report += ["Pose error: mean distance of MediaPipe's 13 reduced joints on the output to the input "
               "skeleton, as a fraction of the crop; `real` rows are MediaPipe's floor on the real crops. "
               "MediaPipe reads every image upscaled to 256 px inside a 128 px grey border (it misses people "
               "who fill the image). PSNR/SSIM pers: restricted to the person pixels of the real crop's "
               "segmentation.", ""]
    atomic_write_json(os.path.join(out, "results.json"), results)
    atomic_write_bytes(os.path.join(out, "report.md"), "\n".join(report).encode())
    ok, png = cv2.imencode(".png", sheet)
    atomic_write_bytes(os.path.join(out, "contact_sheet.png"), png.tobytes())
    print(f"\n{time.time() - start:.0f} s; wrote {out}/results.json, report.md, contact_sheet.png")
    return 0


if __name__ == "__main__":
    run_cli(main)
