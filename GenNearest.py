"""GEN_TYPE 1: return the target frame whose skeleton is closest to the query skeleton.

    python GenNearest.py TARGET_VIDEO [--held-out F] [--out FILE]   # self-check on held-out frames

Skeletons are compared with translation and scale removed (`Skeleton.normalize_reduced`), by a
vectorised search over all cached frames; the chosen crop is read from the cache. In temporal mode (the demo's
default) the generator remembers its last pick and, among the candidates nearly as close as
the best, takes the frame that follows the last pick in the target video: the output then plays
stretches of the real video instead of jumping between look-alike frames. Given the plate crop
behind the pose, it puts the retrieved person (cut with the crop's segmentation) over it.
"""
import argparse

import numpy as np

from cli import HelpFormatter, UserError, run_cli
from files import write_image
from generator_api import Generator, Layers
from geometry import resize
from Skeleton import normalize_reduced
from VideoSkeleton import VideoSkeleton

# A candidate within this much of the best distance (relative + absolute, in torso lengths per
# joint) counts as "nearly as close" for the temporal mode.
TEMPORAL_RELATIVE_SLACK = 0.15
TEMPORAL_ABSOLUTE_SLACK = 0.03


class GenNearest(Generator):
    """Nearest-neighbour retrieval over the target's cached frames (optionally a subset)."""

    name = "nearest"

    def __init__(self, video_ske, temporal=False, indices=None, output_size=None):
        self.video_ske = video_ske
        self.indices = np.arange(video_ske.ske_count()) if indices is None else np.asarray(indices)
        if len(self.indices) == 0:
            raise UserError("the nearest-neighbour generator needs at least one target frame")
        reduced = np.stack([video_ske.ske[i].reduced() for i in self.indices])
        self.poses = normalize_reduced(reduced).reshape(len(self.indices), 13, 2).astype(np.float32)
        self.output_size = output_size
        self.frame_numbers = np.array([video_ske.frame_index(i) for i in self.indices])
        self.frame_mod = video_ske.settings["frame_mod"]
        self.temporal = temporal
        self.last_pick = None

    def reset(self):
        """Forget the previous pick (call between two sequences in temporal mode)."""
        self.last_pick = None

    def distances(self, ske):
        """Mean joint distance (torso lengths) from `ske` to every cached frame."""
        query = normalize_reduced(ske.reduced()[None]).reshape(13, 2).astype(np.float32)
        difference = self.poses - query
        return np.sqrt(np.einsum("njc,njc->nj", difference, difference)).mean(axis=1)

    def nearest_index(self, ske):
        """Position (in self.indices) of the chosen frame for `ske`."""
        d = self.distances(ske)
        best = int(np.argmin(d))
        following = self.last_pick + 1 if self.last_pick is not None else None
        if (self.temporal and following is not None and following < len(d)
                and self.frame_numbers[following] == self.frame_numbers[self.last_pick] + self.frame_mod
                and d[following] <= d[best] * (1 + TEMPORAL_RELATIVE_SLACK) + TEMPORAL_ABSOLUTE_SLACK):
            best = following  # keep playing the target video while it still fits the pose
        self.last_pick = best
        return best

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
        background, only the retrieved person (cut with its own mask) goes over it."""
        image, mask = self.picture(self.nearest_index(ske))
        if background is not None:
            background = resize(background, image.shape[0])
        return Layers(image, mask, background)


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
