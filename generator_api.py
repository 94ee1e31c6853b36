"""The contract every generator implements (GEN_TYPE 1-4; generators.py builds them by GEN_TYPE).

A generator makes the target in a pose: `generate(ske, background=None)` is the SPEC's entry
point, a uint8 BGR image (H x W x 3) of the target in pose `ske` (a Skeleton in crop coordinates).
Underneath, `layers(ske, background)` says what the scene needs to put the person back into the
target's own scene: the person, their soft mask (None for a generator that paints the whole crop,
background included) and the background it painted over (the plate crop `background` it was
given, at its own size, or None). The demo, Evaluate and the benchmarks call nothing else.
"""
from abc import ABC, abstractmethod
from collections import namedtuple

from geometry import composite

# person: uint8 BGR S x S; alpha: float32 S x S in 0..1 or None (opaque); background: uint8 BGR
# S x S (the plate crop behind the person, at the person's size) or None; sharper: None, or a
# function of a size N that gives the same person and alpha at N px, sharper than `person`
# upscaled (from the target's own pixels; None where it has nothing sharper at that size).
Layers = namedtuple("Layers", "person alpha background sharper", defaults=(None,))


class Generator(ABC):
    """Base of every generator. `name` is its GEN_TYPE name (generators.GEN_TYPES)."""

    name = None
    # the side of the plate crop `layers` wants as its background (retarget.Scene cuts it at this
    # size): a network's own input size; 256 for a generator that only puts it behind its crop
    background_size = 256

    @abstractmethod
    def layers(self, ske, background=None):
        """Layers of the target in pose `ske`, over the plate crop `background` (BGR, any size)
        when given and when the generator paints over one."""

    def generate(self, ske, background=None):
        """The target in pose `ske`: its person over the background when it has one."""
        person, alpha, background, _ = self.layers(ske, background)
        if alpha is None or background is None:
            return person
        return composite(person, alpha, background)

    def reset(self, frames_per_second=None):
        """Forget what the previous frames left (temporal state) before another sequence, whose
        frames come at `frames_per_second` (None: not known)."""
