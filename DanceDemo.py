"""The main job: the target performs the source's moves, shown side by side.

    python DanceDemo.py [--source VIDEO] [--target VIDEO] [--gen GEN_TYPE] [--out FILE] [--no-window]

For each source frame: detect the skeleton, retarget it onto the target's body (Everybody
Dance Now's pose normalisation adapted to our crops: the source's bone directions and relative
foreshortening, the target's own bone lengths, placed where the target's torso sits in its
crops), place it in the target's scene (`Scene`: the global normalisation, from where the source
stands in its frame), generate the target there over the background plate, and write
source-with-skeleton | the target in its own scene.
GEN_TYPE: 1 nearest, 2 vanilla-ske, 3 vanilla-image, 4 gan (see GEN_NAMES).
"""
import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from tqdm import tqdm

from common import UserError, VideoWriter, model_path, open_video, run_cli, video_fps
from plates import composite, plate_crop
from Skeleton import (L_ANKLE, L_ELBOW, L_HIP, L_KNEE, L_SHOULDER, L_WRIST, NOSE, R_ANKLE, R_ELBOW,
                      R_HIP, R_KNEE, R_SHOULDER, R_WRIST, Skeleton, reset_video_tracking)
from VideoSkeleton import VideoSkeleton, body_height

GEN_NAMES = {1: "nearest", 2: "vanilla-ske", 3: "vanilla-image", 4: "gan"}
DEFAULT_SOURCE = "data/demo_source.mp4"
DEFAULT_TARGET = "data/demo_target.mp4"
PANEL = 512  # output height of each half of the side-by-side video
CROP_RENDER_SIZE = 256  # the plate crop handed to a generator (it resizes it to its own size)
TORSO = [L_SHOULDER, R_SHOULDER, L_HIP, R_HIP]

# The retargeting tree. HIP_MID and SHOULDER_MID are virtual joints (midpoints); each bone is
# (parent, child) and is rebuilt in this order, parents first.
HIP_MID, SHOULDER_MID = 33, 34
BONE_TREE = [(HIP_MID, L_HIP), (HIP_MID, R_HIP), (HIP_MID, SHOULDER_MID),
             (SHOULDER_MID, L_SHOULDER), (SHOULDER_MID, R_SHOULDER), (SHOULDER_MID, NOSE),
             (L_SHOULDER, L_ELBOW), (L_ELBOW, L_WRIST), (R_SHOULDER, R_ELBOW), (R_ELBOW, R_WRIST),
             (L_HIP, L_KNEE), (L_KNEE, L_ANKLE), (R_HIP, R_KNEE), (R_KNEE, R_ANKLE)]
# Landmarks outside the reduced skeleton follow a joint, scaled like the bone that ends there.
FOLLOWERS = {NOSE: range(1, 11), L_WRIST: (17, 19, 21), R_WRIST: (18, 20, 22),
             L_ANKLE: (29, 31), R_ANKLE: (30, 32)}
REFERENCE_PERCENTILE = 90  # 2-D bones only look shorter (foreshortening): a high percentile is their length
MAX_STRETCH = 1.15         # a source bone may appear at most this much longer than its reference


def with_midpoints(xy):
    return np.vstack([xy, (xy[L_HIP] + xy[R_HIP]) / 2, (xy[L_SHOULDER] + xy[R_SHOULDER]) / 2])


def bone_lengths(xy):
    full = with_midpoints(xy)
    return np.array([np.linalg.norm(full[c] - full[p]) for p, c in BONE_TREE])


class Retargeter:
    """Maps a source skeleton (in source frame pixels) onto the target's body and crop.

    Target bone lengths are measured once over its whole cache; the source's are learnt online,
    frame after frame, so a live video needs no second pass.
    """

    def __init__(self, target_vs):
        lengths = np.array([bone_lengths(lm[:, :2]) for lm in target_vs.landmarks])
        self.target_lengths = np.percentile(lengths, REFERENCE_PERCENTILE, axis=0)
        centres = np.array([Skeleton(lm).torso_centre() for lm in target_vs.landmarks])
        self.target_centre = np.median(centres, axis=0)
        self.source_history = []

    def reset(self):
        self.source_history = []

    def __call__(self, source_ske, frame_shape):
        """A Skeleton in the target's crop coordinates, moving like `source_ske`.

        `source_ske` holds MediaPipe landmarks relative to a source frame of `frame_shape`.
        """
        h, w = frame_shape[:2]
        src = with_midpoints(source_ske.landmarks[:, :2] * np.array([w, h], np.float32))
        src_lengths = bone_lengths(src[:33])
        self.source_history.append(src_lengths)
        src_reference = np.percentile(np.array(self.source_history), REFERENCE_PERCENTILE, axis=0)
        ratio = np.minimum(src_lengths / np.maximum(src_reference, 1e-6), MAX_STRETCH)
        out = np.zeros_like(src)
        scale_at = {HIP_MID: self.target_lengths[2] / max(src_reference[2], 1e-6)}
        for k, (parent, child) in enumerate(BONE_TREE):
            direction = src[child] - src[parent]
            norm = np.linalg.norm(direction)
            direction = direction / norm if norm > 1e-6 else np.zeros(2)
            out[child] = out[parent] + direction * self.target_lengths[k] * ratio[k]
            scale_at[child] = self.target_lengths[k] / max(src_reference[k], 1e-6)
        for joint, followers in FOLLOWERS.items():
            for f in followers:
                out[f] = out[joint] + (src[f] - src[joint]) * scale_at[joint]
        landmarks = source_ske.landmarks.copy()
        landmarks[:, :2] = out[:33]
        ske = Skeleton(landmarks)
        return ske.transformed(1.0, self.target_centre - ske.torso_centre())


class Scene:
    """The target's own scene: the plate of its main shot, at full resolution, and where in it the
    target stands, so that the generated person can be put back where they belong.

    Everybody Dance Now's global normalisation, in the plate: the source's feet between the
    nearest and farthest they have been (its own range, learnt online) put the target's feet
    between the target's nearest and farthest, at the size the target has there (a person lower
    in the picture is nearer and larger); a sideways step of the source, measured in its body
    heights, moves the target as many of its own body heights across its scene."""

    def __init__(self, target_vs, plates):
        self.plates = plates
        segment = plates.main_segment()
        members = np.flatnonzero(plates.frame_segment == segment)
        self.plate = plates.built[segment][0]
        feet, centres, heights, sides = [], [], [], []
        for i in members:
            to_plate, _ = plates.frame_to_plate(i)
            x0, y0, side = target_vs.crop_boxes[i]
            xy = target_vs.landmarks[i, :, :2] * side + (x0, y0)
            xy = xy @ to_plate[:, :2].T + to_plate[:, 2]
            feet.append(max(xy[L_ANKLE, 1], xy[R_ANKLE, 1]))
            centres.append(xy[TORSO, 0].mean())
            heights.append(body_height(xy))
            sides.append(side * to_plate[0, 0])
        feet, sides = np.array(feet), np.array(sides)
        self.feet_range = np.percentile(feet, [5, 95])
        self.centre_range = np.percentile(centres, [5, 95])
        self.centre = float(np.median(centres))
        # the crop side (VideoSkeleton's pose-proof measure of the person's size) against foot
        # level: perspective makes nearer, lower people larger
        if self.feet_range[1] - self.feet_range[0] > 0.05 * np.median(sides):
            self.side_slope, self.side_at_zero = np.polyfit(feet, sides, 1)
        else:
            self.side_slope, self.side_at_zero = 0.0, float(np.median(sides))
        self.crop_side_per_height = float(np.median(sides) / np.median(heights))
        self.source_history = []

    def reset(self):
        self.source_history = []

    def place(self, source_ske, frame_shape, target_ske):
        """The crop box (x0, y0, side) in plate pixels where `target_ske` (crop coordinates)
        stands, following where the source stands in its own frame."""
        h, w = frame_shape[:2]
        xy = source_ske.landmarks[:, :2] * np.array([w, h], np.float32)
        self.source_history.append((max(xy[L_ANKLE, 1], xy[R_ANKLE, 1]), xy[TORSO, 0].mean(), body_height(xy)))
        history = np.array(self.source_history)
        source_feet = np.percentile(history[:, 0], [5, 95])
        source_height = float(np.median(history[:, 2]))
        depth = 0.5
        if source_feet[1] - source_feet[0] > 0.05 * source_height:
            depth = float(np.clip((history[-1, 0] - source_feet[0]) / (source_feet[1] - source_feet[0]), 0, 1))
        feet_y = self.feet_range[0] + depth * (self.feet_range[1] - self.feet_range[0])
        side = self.side_slope * feet_y + self.side_at_zero
        height = side / self.crop_side_per_height
        sideways = (history[-1, 1] - np.median(history[:, 1])) / max(source_height, 1e-6)
        centre_x = self.centre + sideways * height
        margin = 0.5 * height
        centre_x = float(np.clip(centre_x, min(self.centre_range[0], margin),
                                 max(self.centre_range[1], self.plate.shape[1] - margin)))
        crop_centre_x = target_ske.torso_centre()[0]
        crop_feet = max(target_ske.landmarks[L_ANKLE, 1], target_ske.landmarks[R_ANKLE, 1])
        return np.array([centre_x - crop_centre_x * side, feet_y - crop_feet * side, side], np.float32)

    def background(self, box, size):
        return plate_crop(self.plate, np.eye(2, 3), box, size)

    def in_reference_frame(self, scene_image, frame_shape):
        """`scene_image` cut as the main shot's first frame shows it (what a frame-aligned truth
        video of a still camera shows)."""
        origin = self.plates.built[self.plates.main_segment()][2]
        shift = np.array([[1, 0, -origin[0]], [0, 1, -origin[1]]], np.float64)
        return cv2.warpAffine(scene_image, shift, (frame_shape[1], frame_shape[0]), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)

    def paste(self, person, alpha, box):
        """The plate with `person` (a crop, with its soft mask `alpha`, or opaque without one)
        pasted at `box`, resized to the box (the plate keeps its own sharpness around them)."""
        scene = self.plate.copy()
        x0, y0, side = int(round(box[0])), int(round(box[1])), max(1, int(round(box[2])))
        person = cv2.resize(person, (side, side), interpolation=cv2.INTER_CUBIC)
        alpha = np.ones((side, side), np.float32) if alpha is None else cv2.resize(alpha, (side, side))
        h, w = scene.shape[:2]
        ax0, ay0, ax1, ay1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
        if ax0 >= ax1 or ay0 >= ay1:
            return scene
        region = (slice(ay0 - y0, ay1 - y0), slice(ax0 - x0, ax1 - x0))
        scene[ay0:ay1, ax0:ax1] = composite(person[region], alpha[region], scene[ay0:ay1, ax0:ax1])
        return scene

    def render(self, generator, source_ske, frame_shape, target_ske):
        """(generated crop over its plate crop, the whole scene with the target in it)."""
        box = self.place(source_ske, frame_shape, target_ske)
        person, alpha, background = generator.layers(target_ske, self.background(box, CROP_RENDER_SIZE))
        crop = person if alpha is None else composite(person, alpha, background)
        return crop, self.paste(person, alpha, box)


TRAIN_COMMANDS = {"vanilla-ske": "python GenVanillaNN.py {target} --variant ske",
                  "vanilla-image": "python GenVanillaNN.py {target} --variant image",
                  "gan": "python GenGAN.py {target}"}


def load_generator(gen_type, target_vs, temporal=True):
    """The generator of GEN_TYPE `gen_type` for the target, or UserError saying how to get it."""
    if gen_type not in GEN_NAMES:
        raise UserError(f"unknown generator {gen_type}; choose from "
                        + ", ".join(f"{k} ({v})" for k, v in GEN_NAMES.items()))
    name = GEN_NAMES[gen_type]
    if name == "nearest":
        from GenNearest import GenNearest

        return GenNearest(target_vs, temporal=temporal)
    path = model_path(target_vs.filename, name)
    if not os.path.exists(path):
        raise UserError(f"no trained {name} model for {target_vs.filename} ({path}); train it with: "
                        + TRAIN_COMMANDS[name].format(target=target_vs.filename))
    if name == "gan":
        from GenGAN import GenGAN

        return GenGAN(target_vs, load_from_file=True)
    from GenVanillaNN import GenVanillaNN

    return GenVanillaNN(target_vs, load_from_file=True, variant=name.split("-")[1])


def placeholder(width, height, text="no person detected"):
    panel = np.full((height, width, 3), 60, np.uint8)
    cv2.line(panel, (0, 0), (width - 1, height - 1), (0, 0, 200), 3)
    cv2.line(panel, (0, height - 1), (width - 1, 0), (0, 0, 200), 3)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.8, 2)
    cv2.rectangle(panel, ((width - tw) // 2 - 8, height // 2 - th - 8), ((width + tw) // 2 + 8, height // 2 + 8),
                  (0, 0, 0), -1)
    cv2.putText(panel, text, ((width - tw) // 2, height // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
    return panel


def make_scene(target_vs):
    """The target's Scene, or None when its video has no background plate (the demo then shows
    the generated crop alone)."""
    plates = target_vs.plates()
    return None if plates is None else Scene(target_vs, plates)


def transfer(source_path, target_vs, generator, limit=None, scene=None):
    """Yield (source frame, frame-relative Skeleton or None, retargeted Skeleton or None,
    generated crop or None, the target's scene with them in it or None) for every source frame:
    the whole pipeline, without display. Without a `scene` only crops are made.

    Generation runs in a worker thread, one frame behind detection: torch and MediaPipe both
    release the GIL, so the generator's work overlaps with the next frame's detection. Torch is
    held to one thread meanwhile, so that it and MediaPipe each keep a core instead of fighting
    over both (measured: 0.68 -> 0.72 of MediaPipe-alone fps with the GAN on 2 cores)."""
    cap = open_video(source_path)
    retarget = Retargeter(target_vs)
    reset_video_tracking()
    if hasattr(generator, "reset"):
        generator.reset()
    if scene is not None:
        scene.reset()
    count, pending = 0, None
    torch = sys.modules.get("torch")  # only the learnt generators load it
    torch_threads = torch.get_num_threads() if torch else None
    if torch:
        torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=1) as worker:
            while limit is None or count < limit:
                ok, frame = cap.read()
                if not ok:
                    break
                count += 1
                ske = Skeleton()
                if ske.from_image(frame, video=True):
                    target_ske = retarget(ske, frame.shape)
                    if scene is None:
                        job = worker.submit(lambda t: (generator.generate(t), None), target_ske)
                    else:
                        job = worker.submit(scene.render, generator, ske, frame.shape, target_ske)
                    current = (frame, ske, target_ske, job)
                else:
                    current = (frame, None, None, None)
                if pending is not None:
                    yield finished(pending)
                pending = current
            if pending is not None:
                yield finished(pending)
    finally:
        cap.release()
        reset_video_tracking()
        if torch:
            torch.set_num_threads(torch_threads)


def finished(item):
    frame, ske, target_ske, job = item
    crop, scene_image = (None, None) if job is None else job.result()
    return frame, ske, target_ske, crop, scene_image


def compose(frame, ske, generated, label, right_width=PANEL):
    """Source frame with its skeleton | the target (its scene, or the generated crop; a
    placeholder when no person was found), PANEL px high; the right panel is `right_width` wide."""
    h, w = frame.shape[:2]
    left = frame.copy()
    if ske is not None:
        ske.draw(left)
    left = cv2.resize(left, (max(1, round(w * PANEL / h)), PANEL), interpolation=cv2.INTER_AREA)
    if generated is None:
        right = placeholder(right_width, PANEL)
    else:
        interp = cv2.INTER_AREA if generated.shape[0] > PANEL else cv2.INTER_CUBIC
        right = cv2.resize(generated, (right_width, PANEL), interpolation=interp)
    cv2.putText(right, label, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
    return np.hstack([left, right])


def make_video(source_path, target_vs, generator, out, fps, label, show=False, progress=True, total=None,
               scene=None):
    """Run `transfer` and write its side-by-side video to `out` (also shown in a window if
    `show`, until q); returns (frames written, frames without a person). With a `scene` the
    right panel is the target's scene, else the generated crop.

    Composing and encoding run in a second worker thread, one frame behind: on the main thread
    they would add their ~3 ms to MediaPipe's ~13 ms per frame (measured with the GAN on 2 cores:
    50 -> 55-59 fps)."""
    writer, frames, missing = None, 0, 0
    right_width = PANEL if scene is None else round(scene.plate.shape[1] * PANEL / scene.plate.shape[0])

    def compose_and_write(frame, ske, generated):
        nonlocal writer
        panel = compose(frame, ske, generated, label, right_width)
        if writer is None:
            writer = VideoWriter(out, fps, (panel.shape[1], panel.shape[0]))
        writer.write(panel)
        return panel

    try:
        with ThreadPoolExecutor(max_workers=1) as output:
            previous = None
            for frame, ske, _, crop, scene_image in tqdm(transfer(source_path, target_vs, generator, scene=scene),
                                                         total=total or None, desc="dance", unit="frame",
                                                         disable=not progress):
                job = output.submit(compose_and_write, frame, ske, crop if scene is None else scene_image)
                frames += 1
                missing += crop is None
                if previous is not None:
                    panel = previous.result()  # one frame in flight at most; its errors surface here
                    if show and not show_frame(panel):
                        previous = None
                        break
                previous = job
            if previous is not None:
                panel = previous.result()
                if show:
                    show_frame(panel)
    finally:
        if writer is not None:
            writer.close()
        if show:
            cv2.destroyAllWindows()
    return frames, missing


def display_available():
    return (bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
            or os.name == "nt" or sys.platform == "darwin")


def show_frame(panel):
    """Show one frame; False when the user quits (q). Space pauses until pressed again."""
    cv2.imshow("DanceDemo (q quits, space pauses)", panel)
    key = cv2.waitKey(1) & 0xFF
    if key == ord(" "):
        key = 0
        while key not in (ord(" "), ord("q")):
            key = cv2.waitKey(50) & 0xFF
    return key != ord("q")


def main(default_gen):
    parser = argparse.ArgumentParser(description="Make the target perform the source's moves "
                                                 "(side-by-side video).")
    parser.add_argument("--source", default=DEFAULT_SOURCE, help=f"the performer's video (default {DEFAULT_SOURCE})")
    parser.add_argument("--target", default=DEFAULT_TARGET, help=f"the target's video (default {DEFAULT_TARGET})")
    parser.add_argument("--gen", type=int, default=default_gen,
                        help="generator: " + ", ".join(f"{k} {v}" for k, v in GEN_NAMES.items())
                             + f" (default {default_gen}, GEN_TYPE in DanceDemo.py)")
    parser.add_argument("--out", default=None, help="output video (default out/SOURCE_to_TARGET_GEN.mp4)")
    parser.add_argument("--no-window", action="store_true", help="do not show a window, only write the video")
    args = parser.parse_args()
    if args.gen not in GEN_NAMES:
        raise UserError(f"unknown --gen {args.gen}; choose from "
                        + ", ".join(f"{k} ({v})" for k, v in GEN_NAMES.items()))
    open_video(args.source).release()
    target_vs = VideoSkeleton(args.target)
    generator = load_generator(args.gen, target_vs)
    name = GEN_NAMES[args.gen]
    stem = lambda p: os.path.splitext(os.path.basename(p))[0]  # noqa: E731
    out = args.out or os.path.join("out", f"{stem(args.source)}_to_{stem(args.target)}_{name}.mp4")
    cap = open_video(args.source)
    fps, total = video_fps(cap), int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    show = not args.no_window and display_available()
    scene = make_scene(target_vs)
    start = time.time()
    frames, missing = make_video(args.source, target_vs, generator, out, fps, name, show=show, total=total,
                                 scene=scene)
    seconds = time.time() - start
    print(f"{frames} frames ({missing} without a person) in {seconds:.1f} s, "
          f"{frames / max(seconds, 1e-9):.1f} fps, generator {name} -> {out}")
    if frames and missing == frames:
        print(f"warning: no person was found in any frame of {args.source}; the video shows placeholders")
    return 0


if __name__ == "__main__":
    GEN_TYPE = 4  # the GAN: best held-out PSNR, SSIM and pose, best transfer pose (README, Results)
    run_cli(lambda: main(GEN_TYPE))
