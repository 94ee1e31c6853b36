"""Score every generator on held-out frames of the target, and on the true transfer.

    python Evaluate.py TARGET_VIDEO [--gen all|1,2,3,4] [--held-out F] [--out DIR]
                       [--transfer SOURCE_VIDEO TRUTH_VIDEO] [--max-frames N]

Held-out: the last F of the target's cached frames (the split training used); each generator
makes every held-out frame from its cached skeleton and is compared with the real crop at the
generator's output size. A model trained on any of those frames is refused.
Transfer: the whole DanceDemo pipeline (detection, cropping, retargeting, generation) on
SOURCE_VIDEO, compared frame by frame with TRUTH_VIDEO, the target really performing the
source's moves (data/demo_transfer_truth.mp4 is rendered for exactly this).
Metrics are defined in ../shared/SPEC.md ("Quality metrics"); the `real` rows are MediaPipe's own
floor: the real crops scored as if they had been generated.
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
from DanceDemo import GEN_NAMES, load_generator, transfer
from Skeleton import REDUCED_JOINTS, Skeleton
from VideoSkeleton import VideoSkeleton, held_out_split

DETECTION_SIZE = 256  # MediaPipe cannot read people in 64 px images: upscale before detecting
PCK_THRESHOLD = 0.05
REFERENCE_SIZE = 128  # the size of the plain `real` row, and the size nearest is scored at
METRICS = ("psnr", "ssim", "pose_error", "detection_rate", "pck", "ms_per_frame", "flicker")


# --- metrics -------------------------------------------------------------------------------------
def psnr(a, b):
    """PSNR in dB of two uint8 images (peak 255)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


def ssim(a, b):
    """SSIM of two uint8 BGR images: Gaussian window 11, sigma 1.5, on each RGB channel in [0, 1],
    averaged over channels (the definition of scikit-image's structural_similarity with
    gaussian_weights=True, data_range=1; its 5-pixel border is left out)."""
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
    return float(s[5:-5, 5:-5].mean())


def pose_of(image):
    """The reduced joints (13 x 2, relative to the image) MediaPipe reads in `image`, or None."""
    if image.shape[0] < DETECTION_SIZE:
        image = cv2.resize(image, (DETECTION_SIZE, DETECTION_SIZE), interpolation=cv2.INTER_CUBIC)
    ske = Skeleton()
    if not ske.from_image(image, video=False):
        return None
    return ske.landmarks[REDUCED_JOINTS, :2]


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


def flicker(generated, real):
    """Mean absolute frame-to-frame change of `generated` over that of `real` (same frames)."""
    if len(generated) < 2:
        return None
    change = lambda seq: np.mean([np.abs(seq[i + 1].astype(np.float32) - seq[i]).mean()  # noqa: E731
                                  for i in range(len(seq) - 1)])
    real_change = change(real)
    return float(change(generated) / real_change) if real_change > 0 else None


def resize(image, size):
    if image.shape[0] == size:
        return image
    interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_CUBIC
    return cv2.resize(image, (size, size), interpolation=interp)


def score(generated, real, skeletons, ms_per_frame):
    size = generated[0].shape[0]
    real = [resize(r, size) for r in real]
    error, rate, pck = pose_scores(generated, skeletons)
    return {"psnr": float(np.mean([psnr(g, r) for g, r in zip(generated, real)])),
            "ssim": float(np.mean([ssim(g, r) for g, r in zip(generated, real)])),
            "pose_error": error, "detection_rate": rate, "pck": pck, "ms_per_frame": ms_per_frame,
            "flicker": flicker(generated, real),
            "size": size}


def real_floor(real, skeletons, size):
    """MediaPipe's own noise floor: the real crops at `size`, scored like a generator."""
    images = [resize(r, size) for r in real]
    error, rate, pck = pose_scores(images, skeletons)
    return {"psnr": None, "ssim": None, "pose_error": error, "detection_rate": rate, "pck": pck,
            "ms_per_frame": None, "flicker": 1.0, "size": size}


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


def timed_generate(gen, skeletons):
    if hasattr(gen, "reset"):
        gen.reset()
    gen.generate(skeletons[0])  # warm-up, outside the timing
    if hasattr(gen, "reset"):
        gen.reset()
    start = time.perf_counter()
    out = [gen.generate(s) for s in skeletons]
    return out, (time.perf_counter() - start) * 1000 / len(skeletons)


def evaluate_held_out(video_ske, gen_types, held_out, explicit, max_frames):
    train, held = held_out_split(video_ske.ske_count(), held_out)
    if len(held) == 0:
        raise UserError("--held-out leaves no frame to evaluate; use a fraction above 0")
    if max_frames:
        held = held[:max_frames]
    skeletons = [video_ske.ske[i] for i in held]
    real = [video_ske.read_image(i) for i in held]
    results, notes, outputs = {}, {}, {}
    for gen_type in gen_types:
        name = GEN_NAMES[gen_type]
        gen, why = make_generator(gen_type, video_ske, train, held, explicit)
        if gen is None:
            notes[name] = why
            print(f"skipping {name}: {why}", file=sys.stderr)
            continue
        generated, ms = timed_generate(gen, skeletons)
        results[name] = score(generated, real, skeletons, ms)
        outputs[name] = generated
    sizes = sorted({r["size"] for r in results.values()} | {REFERENCE_SIZE})
    floors = {("real" if s == REFERENCE_SIZE else f"real@{s}"): real_floor(real, skeletons, s) for s in sizes}
    return {**floors, **results}, notes, outputs, real, len(train)


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


def evaluate_transfer(video_ske, gen_types, source, truth, max_frames):
    cap = open_video(source)
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    limit = min(frames, max_frames) if max_frames else frames
    truth_items = truth_crops(video_ske, truth, limit)
    results, notes, outputs, truth_real = {}, {}, {}, None
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
        generated, real, skeletons = [], [], []
        for k, (_, _, target_ske, image) in enumerate(transfer(source, video_ske, gen, limit)):
            if image is None or k >= len(truth_items) or truth_items[k][0] is None:
                continue
            generated.append(image)
            real.append(truth_items[k][0])
            skeletons.append(target_ske)
        if not generated:
            notes[name] = "no frame of the source had a detected person"
            continue
        results[name] = score(generated, real, skeletons, None)
        outputs[name] = generated
        truth_real = real
    floors = {}
    valid = [(c, s) for c, s in truth_items if c is not None]
    if valid:
        crops, skes = zip(*valid)
        for s in sorted({r["size"] for r in results.values()} | {REFERENCE_SIZE}):
            floors["real" if s == REFERENCE_SIZE else f"real@{s}"] = real_floor(list(crops), list(skes), s)
    return {**floors, **results}, notes, outputs, truth_real


# --- reporting -----------------------------------------------------------------------------------
def fmt(value, digits):
    return "-" if value is None else f"{value:.{digits}f}"


COLUMNS = [("size", "size", None), ("PSNR", "psnr", 2), ("SSIM", "ssim", 3), ("pose err", "pose_error", 4),
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


def contact_sheet(real, outputs, rows=6, cell=128):
    """One row per frame (a spread over the set): real | each generator, labelled on top."""
    picks = np.linspace(0, len(real) - 1, min(rows, len(real))).astype(int)
    names = ["real"] + list(outputs)
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


def main():
    parser = argparse.ArgumentParser(description="Score the generators on held-out target frames "
                                                 "(and optionally on the true transfer).")
    parser.add_argument("target", help="the target's video (its cache is built if missing)")
    parser.add_argument("--gen", default="all", help="'all' or a comma list of GEN_TYPE ids, e.g. 1,4 (default all)")
    parser.add_argument("--held-out", type=float, default=0.2,
                        help="fraction of the target's frames, at the end, to score on (default 0.2, as the "
                             "shipped models were trained)")
    parser.add_argument("--out", default=None, help="output folder (default out/eval_TARGET)")
    parser.add_argument("--transfer", nargs=2, metavar=("SOURCE_VIDEO", "TRUTH_VIDEO"),
                        help="also score the full pipeline on SOURCE against the frame-aligned TRUTH")
    parser.add_argument("--max-frames", type=int, default=None, help="score at most N frames per set (quick runs)")
    args = parser.parse_args()
    gen_types, explicit = parse_gens(args.gen)
    if args.transfer:
        for path in args.transfer:
            open_video(path).release()
    video_ske = VideoSkeleton(args.target)
    stem = os.path.splitext(os.path.basename(args.target))[0]
    out = args.out or os.path.join("out", f"eval_{stem}")
    os.makedirs(out, exist_ok=True)
    device = device_name(select_device())

    start = time.time()
    held_results, held_notes, held_outputs, held_real, train_count = evaluate_held_out(
        video_ske, gen_types, args.held_out, explicit, args.max_frames)
    report = [f"# Evaluation of {args.target}", "",
              f"{datetime.date.today()}, {device}. Held-out: the last {args.held_out:.0%} of the cached frames "
              f"({len(held_real)} scored; {train_count} frames before them for training).", "",
              "## Held-out frames", "", markdown_table(held_results, held_notes), "",
              "![contact sheet](contact_sheet.png)", ""]
    print("held-out frames:\n" + table(held_results, held_notes))
    sheet = contact_sheet(held_real, held_outputs)
    results = {"held_out": held_results,
               "meta": {"target": args.target, "split": {"held_out": args.held_out, "train_frames": int(train_count)},
                        "frames_scored": {"held_out": len(held_real)}, "device": device,
                        "date": datetime.datetime.now().isoformat(timespec="seconds"), "notes": held_notes}}
    if args.transfer:
        source, truth = args.transfer
        tr_results, tr_notes, tr_outputs, tr_real = evaluate_transfer(video_ske, gen_types, source, truth,
                                                                       args.max_frames)
        results["transfer"] = tr_results
        results["meta"]["transfer"] = {"source": source, "truth": truth, "notes": tr_notes}
        results["meta"]["frames_scored"]["transfer"] = len(tr_real) if tr_real else 0
        print(f"\ntransfer {source} -> truth {truth}:\n" + table(tr_results, tr_notes))
        report += [f"## Transfer: {source} against {truth}", "", markdown_table(tr_results, tr_notes), "",
                   "![transfer contact sheet](contact_sheet_transfer.png)", ""]
        if tr_real:
            ok, png = cv2.imencode(".png", contact_sheet(tr_real, tr_outputs))
            atomic_write_bytes(os.path.join(out, "contact_sheet_transfer.png"), png.tobytes())
    report += ["Pose error: mean distance of MediaPipe's 13 reduced joints on the output to the input "
               "skeleton, as a fraction of the crop; `real` rows are MediaPipe's floor on the real crops.", ""]
    atomic_write_json(os.path.join(out, "results.json"), results)
    atomic_write_bytes(os.path.join(out, "report.md"), "\n".join(report).encode())
    ok, png = cv2.imencode(".png", sheet)
    atomic_write_bytes(os.path.join(out, "contact_sheet.png"), png.tobytes())
    print(f"\n{time.time() - start:.0f} s; wrote {out}/results.json, report.md, contact_sheet.png")
    return 0


if __name__ == "__main__":
    run_cli(main)
