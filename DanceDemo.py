"""The main job: the target performs the source's moves, shown side by side.

    python DanceDemo.py [--source VIDEO|CAMERA] [--target VIDEO] [--gen GEN_TYPE] [--out FILE] [--no-window] [--live]

    from DanceDemo import DanceDemo
    DanceDemo("data/demo_source.mp4", 4).draw()   # as the course's code calls it

The source is a video file or a camera number (live: see frame_sources.LiveFrames; `--live` plays
a file as a camera would deliver it). Each source frame goes through the pipeline of
transfer.py (detect, retarget onto the target's body, place in the target's scene, generate);
this script shows and writes source-with-skeleton | the target in its own scene.
GEN_TYPE: 1 nearest, 2 vanilla-ske, 3 vanilla-image, 4 gan (generators.py).
"""
import argparse
import os
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from tqdm import tqdm

from cli import HelpFormatter, UserError, run_cli
from coverage import Coverage, CoverageLog
from files import write_image
from frame_sources import camera_frames, camera_index, open_camera, open_frames
from generators import GEN_TYPES, GeneratorSwitch, check_gen_type, described
from panels import PANEL, compose
from retarget import make_scene
from transfer import start_tracking, transfer
from video_io import VideoWriter, open_video
from VideoSkeleton import VideoSkeleton

DEFAULT_SOURCE = "data/demo_source.mp4"
DEFAULT_TARGET = "data/demo_target.mp4"
class RunStats:
    """What a run did: frames shown and dropped, wall time from the first frame's capture (what
    comes before it, loading and a file's survey, is startup), and for each shown frame its
    camera-to-screen latency (capture to composed panel)."""

    def __init__(self):
        self.start = time.perf_counter()
        self.end = None
        self.shown = self.missing = self.dropped = 0
        self.latencies = []
        self.recent = deque(maxlen=30)  # ready times of the last panels: the fps on screen

    def panel_ready(self, captured_at, has_person):
        now = time.perf_counter()
        if self.shown == 0:
            self.start = captured_at
        self.shown += 1
        self.missing += not has_person
        self.latencies.append(now - captured_at)
        self.recent.append(now)

    def fps(self):
        return self.shown / max((self.end or time.perf_counter()) - self.start, 1e-9)

    def recent_fps(self):
        if len(self.recent) < 2:
            return 0.0
        return (len(self.recent) - 1) / max(self.recent[-1] - self.recent[0], 1e-9)

    def latency_ms(self, percentile):
        return 1000 * float(np.percentile(self.latencies, percentile)) if self.latencies else float("nan")

    def summary(self):
        total = self.shown + self.dropped
        return (f"{self.shown} frames shown, {self.dropped} dropped ({self.dropped / max(total, 1):.1%}), "
                f"{self.fps():.1f} fps, latency p50 {self.latency_ms(50):.0f} ms, p95 {self.latency_ms(95):.0f} ms")


def display_available():
    return (bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
            or os.name == "nt" or sys.platform == "darwin")


WINDOW = "DanceDemo (q quits, 1-4 switch the generator, space pauses)"


class DanceDemo:
    """The demo as the course's code calls it: `DanceDemo(source, gen_type, target=...).draw()`.

    `source` is a video file or a camera number (live); `gen_type` a GEN_TYPE (1 nearest,
    2 vanilla-ske, 3 vanilla-image, 4 gan); `target` the target's video (its cache is built on
    first use). `draw()` runs the whole job: the source's moves performed by the target in its
    own scene, written side by side to `out` (default under out/), shown in a window when there
    is a display (`q` quits, `1`-`4` switch the generator, space pauses a file), and returns the
    video's path. `live=True` plays a file as if it were a camera (see LiveFrames); a camera is
    always live. After a run, `stats` (RunStats) says what it did.

    The course's attribute names hold: `target` is the target's VideoSkeleton and `generator`
    the generator in use.
    """

    def __init__(self, source=DEFAULT_SOURCE, gen_type=4, target=DEFAULT_TARGET, out=None, show=None,
                 live=False, progress=True):
        self.source = source
        self.camera = camera_index(source)
        # a bad source fails before the target's cache is built; an opened camera is kept for draw()
        self.opened_camera = open_camera(self.camera) if self.camera is not None else None
        if self.camera is None:
            open_video(source).release()
        self.live = live or self.camera is not None
        self.target = VideoSkeleton(target)
        self.generators = GeneratorSwitch(self.target, gen_type)
        self.scene = make_scene(self.target, height=PANEL)  # rendered at the size it is shown
        self.coverage = Coverage(self.target)
        self.coverage_log = None
        stem = lambda p: os.path.splitext(os.path.basename(str(p)))[0]  # noqa: E731
        source_name = f"camera{self.camera}" if self.camera is not None else stem(source)
        self.out = out or os.path.join("out", f"{source_name}_to_{stem(target)}_{GEN_TYPES[gen_type]}.mp4")
        self.show = display_available() if show is None else show
        self.progress = progress
        self.running = False
        self.paused = False
        self.stats = None

    @property
    def generator(self):
        return self.generators.current

    @property
    def gen_type(self):
        return self.generators.gen_type

    def handle_key(self, key):
        """React to one key code of the window: q quits, 1-4 switch the generator (once it is
        loaded; one without a trained model says so and the current one stays), space pauses a
        file."""
        if key < 0:
            return
        char = chr(key & 0xFF)
        if char == "q":
            self.running = False
        elif char == " " and not self.live:
            self.paused = not self.paused
        elif char.isdigit() and int(char) in GEN_TYPES:
            self.generators.request(int(char))

    def label(self):
        """The right panel's caption: the generator, and in live use the fps and latency."""
        if not self.live or self.stats is None or not self.stats.latencies:
            return self.generators.name
        return (f"{self.generators.name}  {self.stats.recent_fps():.0f} fps  "
                f"{1000 * self.stats.latencies[-1]:.0f} ms")

    def _frames(self):
        if self.opened_camera is not None:  # opened by __init__; a second draw() opens it again
            cap, self.opened_camera = self.opened_camera, None
            return camera_frames(cap)
        return open_frames(self.source, live=self.live)

    def draw(self):
        """Run the demo (see the class docstring); returns the path of the video written.

        Composing and encoding run in a worker thread, one frame behind generation: on the main
        thread they would add their ~3 ms to MediaPipe's ~13 ms per frame (measured with the GAN
        on 2 cores: 50 -> 55-59 fps). The window is drawn and read by this thread, as GUI
        toolkits require."""
        start_tracking()
        frames = self._frames()
        right_width = (PANEL if self.scene is None
                       else round(self.scene.canvas.shape[1] * PANEL / self.scene.canvas.shape[0]))
        self.stats, self.running, writer = RunStats(), True, None

        self.coverage_log = CoverageLog(self.coverage, frames.fps)

        def compose_and_write(step):
            nonlocal writer
            scored = self.coverage_log.add(step.index, step.target_ske, step.frame, step.ske)
            panel = compose(step.frame, step.ske, step.crop if self.scene is None else step.scene_image,
                            self.label(), right_width, uncovered=scored is not None and not scored.covered)
            if writer is None:
                writer = VideoWriter(self.out, frames.fps, (panel.shape[1], panel.shape[0]))
            writer.write(panel)
            self.stats.panel_ready(step.captured, step.crop is not None)
            return panel

        steps = transfer(frames, self.target, self.generators, scene=self.scene, fresh_tracking=False)
        bar = tqdm(total=frames.total or None, desc="dance", unit="frame", disable=not self.progress)
        try:
            with ThreadPoolExecutor(max_workers=1) as output:
                previous = None
                for step in steps:
                    job = output.submit(compose_and_write, step)
                    bar.update(step.index + 1 - bar.n)  # live, the frames dropped count as passed
                    if previous is not None:
                        self._show(previous.result())  # one frame in flight at most; its errors surface here
                        previous = None
                    if self.live and not frames.waiting():
                        self._show(job.result())  # ahead of the camera: show it now, not one frame later
                    else:
                        previous = job
                    if not self.running:
                        break
                if previous is not None:
                    self._show(previous.result())
        finally:
            bar.close()
            steps.close()  # stops the capture
            frames.close()
            self.stats.end = time.perf_counter()
            self.stats.dropped = frames.dropped
            if writer is not None:
                writer.close()
            if self.show:
                cv2.destroyAllWindows()
        if frames.stalled:
            print(f"warning: {'camera ' + str(self.camera) if self.camera is not None else self.source} "
                  f"stopped delivering frames; the run ended there (the video keeps what was shown)",
                  file=sys.stderr)
        if writer is None:
            raise UserError(f"{self.source} delivered no frames")
        if not self.live:
            write_image(self.coverage_picture(), self.coverage_log.draw())
        return self.out

    def coverage_picture(self):
        """Where a file run's coverage picture goes: beside its video, `<video>_coverage.png`."""
        return os.path.splitext(self.out)[0] + "_coverage.png"

    def _show(self, panel):
        if not self.show:
            return
        cv2.imshow(WINDOW, panel)
        self.handle_key(cv2.waitKey(1))
        while self.paused and self.running:
            self.handle_key(cv2.waitKey(50))


def main(default_gen):
    parser = argparse.ArgumentParser(
        description="Make the target perform the source's moves (side-by-side video), from a video or live from a "
                    "camera.", formatter_class=HelpFormatter,
        epilog="Coverage: a person-specific model can only be as good as the poses its target video shows. A source "
               "pose is covered when it is as close to a pose of the target's video as the target's own unseen frames "
               "are to the rest of its video (calibrated on the target). A file run ends with a line saying what share "
               "of the source's poses is not covered, and when, and writes OUT_coverage.png beside the video: the "
               "distance over time against that threshold, and the worst source poses beside the closest the target "
               "shows (film the target doing those moves). In the window, an orange dot marks a pose that is not "
               "covered: there the picture is a guess.")
    parser.add_argument("--source", default=DEFAULT_SOURCE,
                        help="the performer: a video file, or a camera number such as 0 (live)")
    parser.add_argument("--target", default=DEFAULT_TARGET, help="the target's video")
    parser.add_argument("--gen", type=int, default=default_gen,
                        help=f"generator: {described()} (the default is GEN_TYPE in DanceDemo.py); keys 1-4 "
                             "switch it while the window is open")
    parser.add_argument("--out", default=None,
                        help="the video to write (default: out/SOURCE_to_TARGET_GEN.mp4); live, what was shown")
    parser.add_argument("--no-window", action="store_true", help="do not show a window, only write the video")
    parser.add_argument("--live", action="store_true",
                        help="play a video file as if it were a camera: frames come at its frame rate and "
                             "those the pipeline misses are dropped; prints drops and latency at the end")
    args = parser.parse_args()
    check_gen_type(args.gen)
    demo = DanceDemo(args.source, args.gen, target=args.target, out=args.out,
                     show=False if args.no_window else None, live=args.live)
    out = demo.draw()
    stats = demo.stats
    if demo.live:
        print(f"{stats.summary()}, generator {demo.generators.name} -> {out}")
    else:
        print(f"{stats.shown} frames ({stats.missing} without a person) in {stats.end - stats.start:.1f} s, "
              f"{stats.fps():.1f} fps, generator {demo.generators.name} -> {out}")
        print(f"{demo.coverage_log.summary()} ({demo.coverage_picture()})")
    if stats.shown and stats.missing == stats.shown:
        print(f"warning: no person was found in any frame of {args.source}; the video shows placeholders")
    return 0


if __name__ == "__main__":
    GEN_TYPE = 4  # the GAN: best held-out PSNR, SSIM and pose, best transfer pose (README, Results)
    run_cli(lambda: main(GEN_TYPE))
