"""GEN_TYPE 1: return the target frame whose skeleton is closest to the query skeleton.

    python GenNearest.py TARGET_VIDEO [--held-out F] [--out FILE]   # self-check on held-out frames

Poses are compared by exemplars.PoseIndex (translation and scale removed, plus which way the
person faces), by a vectorised search over all cached frames; the chosen crop is read from the
cache. In temporal mode (the demo's default) the search prefers the frame that follows its last
pick while it still fits, so the output plays stretches of the real video instead of jumping
between look-alike frames. Given the plate crop behind the pose, it puts the retrieved person
(cut with the crop's segmentation) over it.
"""
import argparse

import numpy as np

from cli import HelpFormatter, UserError, run_cli
from exemplars import index_of
from files import write_image
from generator_api import Generator, Layers
from geometry import resize
from VideoSkeleton import VideoSkeleton


class GenNearest(Generator):
    """Nearest-neighbour retrieval over the target's cached frames (optionally a subset)."""

    name = "nearest"

    def __init__(self, video_ske, temporal=False, indices=None, output_size=None):
        self.video_ske = video_ske
        self.indices = np.arange(video_ske.ske_count()) if indices is None else np.asarray(indices)
        if len(self.indices) == 0:
            raise UserError("the nearest-neighbour generator needs at least one target frame")
        self.search = index_of(video_ske, self.indices, temporal)
        self.output_size = output_size

    def reset(self, frames_per_second=None):
        """Forget the previous pick (call between two sequences in temporal mode)."""
        self.search.reset(frames_per_second)

    def nearest_index(self, ske):
        """Position (in self.indices) of the chosen frame for `ske`."""
        return self.search.pick(ske.landmarks)[0]

    def picture(self, position):
        """(crop, person mask) of cached frame `position` at the output size, read from the cache
        when picked (about a millisecond): holding every crop would take 0.5 MB per frame."""
        i = int(self.indices[position])
        image, mask = self.video_ske.read_image(i), self.video_ske.read_mask(i)
        if self.output_size:
            image, mask = resize(image, self.output_size), resize(mask, self.output_size, mask=True)
        return image, mask

    def layers(self, ske, background=None):
        """The closest cached crop, its person mask, and `background` at the crop's size: with a
        background, only the retrieved person (cut with its own mask) goes over it. At a smaller
        output size, the crop as cached is its sharper version."""
        position = self.nearest_index(ske)
        image, mask = self.picture(position)
        if background is not None:
            background = resize(background, image.shape[0])
        sharper = (lambda size: self.native(position, size)) if self.output_size else None
        return Layers(image, mask, background, sharper)

    def native(self, position, size):
        """Layers of cached frame `position` at `size` px, at most the cached crop's size (None
        when that is no larger than the output size)."""
        i = int(self.indices[position])
        image, mask = self.video_ske.read_image(i), self.video_ske.read_mask(i)
        size = min(size, image.shape[0])
        if size <= self.output_size:
            return None
        return Layers(resize(image, size), resize(mask, size, mask=True), None)


def main():
    parser = argparse.ArgumentParser(
        description="Self-check of the nearest-neighbour generator: query the held-out target "
                    "frames against the others and write real | retrieved side by side.",
        formatter_class=HelpFormatter)
    parser.add_argument("target", help="the target video (its cache is built if missing)")
    parser.add_argument("--held-out", type=float, default=0.2,
                        help="fraction of frames, at the end, used as queries")
    parser.add_argument("--out", default="out/nearest_selfcheck.png", help="where to write the sheet")
    parser.add_argument("--temporal", action="store_true", help="use the temporal mode")
    args = parser.parse_args()
    vs = VideoSkeleton(args.target)
    train, held = vs.split(args.held_out)
    if len(held) == 0:
        raise UserError("--held-out leaves no frame to query; use a fraction above 0")
    gen = GenNearest(vs, temporal=args.temporal, indices=train)
    errors, rows = [], []
    for k, i in enumerate(held):
        image = gen.generate(vs.ske[i])
        real = vs.read_image(i)
        errors.append(np.abs(image.astype(np.float32) - real).mean())
        if k % max(1, len(held) // 6) == 0 and len(rows) < 6:
            rows.append(np.hstack([real, image]))
    write_image(args.out, np.vstack(rows))
    print(f"{len(held)} held-out frames queried against {len(train)}: mean absolute pixel error "
          f"{np.mean(errors):.1f} / 255; real | retrieved written to {args.out}")
    return 0


if __name__ == "__main__":
    run_cli(main)
