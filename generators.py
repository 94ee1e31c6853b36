"""The GEN_TYPEs: their ids and names, how each is built from a target (`load_generator`, used
by the demo, Evaluate and the benchmarks) and trained, and `GeneratorSwitch`, the generator in use
while a demo runs (keys 1-4 switch it).

| GEN_TYPE | name | class |
| 1 | nearest | GenNearest.GenNearest: the closest cached frame |
| 2 | vanilla-ske | GenVanillaNN.GenVanillaNN(variant="ske") |
| 3 | vanilla-image | GenVanillaNN.GenVanillaNN(variant="image") |
| 4 | gan | GenGAN.GenGAN |
Every class implements generator_api.Generator.
"""
import os
import sys
import threading

from checkpoints import model_path
from cli import UserError
from generator_api import Generator

GEN_TYPES = {1: "nearest", 2: "vanilla-ske", 3: "vanilla-image", 4: "gan"}
TRAIN_COMMANDS = {"vanilla-ske": "python GenVanillaNN.py {target} --variant ske",
                  "vanilla-image": "python GenVanillaNN.py {target} --variant image",
                  "gan": "python GenGAN.py {target}"}


def described():
    """'1 (nearest), 2 (vanilla-ske), ...': the choices, for messages and --help."""
    return ", ".join(f"{k} ({v})" for k, v in GEN_TYPES.items())


def check_gen_type(gen_type):
    """`gen_type` if it is a GEN_TYPE id, else a UserError listing the choices."""
    if gen_type not in GEN_TYPES:
        raise UserError(f"unknown generator {gen_type!r}; choose from {described()}")
    return gen_type


class TrainedOnHeldOut(UserError):
    """A model asked to be scored on frames it was trained on."""


def load_generator(gen_type, target_vs, temporal=True, frames=None, output_size=None, held_out=None):
    """The generator of GEN_TYPE `gen_type` for the target (a VideoSkeleton), or UserError saying
    how to get it. For nearest: `temporal` mode, searching only the cached `frames` (default all),
    returning crops at `output_size` (default the cache's). For a learnt model: TrainedOnHeldOut
    when it was trained on any of the cached frames `held_out`."""
    name = GEN_TYPES[check_gen_type(gen_type)]
    if name == "nearest":
        from GenNearest import GenNearest

        return GenNearest(target_vs, temporal=temporal, indices=frames, output_size=output_size)
    path = model_path(target_vs.filename, name)
    if not os.path.exists(path):
        raise UserError(f"no trained {name} model for {target_vs.filename} ({path}); train it with: "
                        + TRAIN_COMMANDS[name].format(target=target_vs.filename))
    if name == "gan":
        from GenGAN import GenGAN

        generator = GenGAN(target_vs, load_from_file=True)
    else:
        from GenVanillaNN import GenVanillaNN

        generator = GenVanillaNN(target_vs, load_from_file=True, variant=name.split("-")[1])
    leaked = set() if held_out is None else set(map(int, held_out)) - set(map(int, generator.held_out_indices))
    if leaked:
        raise TrainedOnHeldOut(f"{path} was trained on {len(leaked)} of the {len(held_out)} frames to evaluate "
                               f"(it held out {len(generator.held_out_indices)}); retrain it with the same --held-out")
    return generator


class GeneratorSwitch(Generator):
    """The generator in use, switchable while a demo runs: models load on first use and stay
    loaded, so switching back is instant. Everything else is the current generator's."""

    def __init__(self, target_vs, gen_type):
        self.target_vs = target_vs
        self.loaded = {}
        self.loading = None
        self.use(gen_type)

    def _load(self, gen_type):
        if gen_type not in self.loaded:
            generator = load_generator(gen_type, self.target_vs)
            generator.generate(self.target_vs.ske[0])  # the first call compiles: not during a live run
            generator.reset()
            self.loaded[gen_type] = generator

    def use(self, gen_type):
        """Switch to GEN_TYPE `gen_type` now (UserError, and no switch, when it has no model)."""
        self._load(gen_type)
        self.gen_type = gen_type

    def request(self, gen_type):
        """Switch to `gen_type` as soon as it is loaded. Loading (a second or two) runs in a
        thread, so a live run does not freeze meanwhile: the current generator goes on until
        then. One that cannot be loaded says why, on stderr."""
        if gen_type in self.loaded:
            self.gen_type = gen_type
            return
        if self.loading is not None and self.loading.is_alive():
            print("still loading the previous generator", file=sys.stderr)
            return

        def load():
            try:
                self.use(gen_type)
                print(f"generator: {self.name}", file=sys.stderr)
            except UserError as err:
                print(f"cannot switch: {err}", file=sys.stderr)

        self.loading = threading.Thread(target=load, daemon=True)
        self.loading.start()

    def wait(self):
        """Until a requested generator is loaded (or has failed to)."""
        if self.loading is not None:
            self.loading.join()

    @property
    def current(self):
        return self.loaded[self.gen_type]

    @property
    def name(self):
        return GEN_TYPES[self.gen_type]

    @property
    def background_size(self):
        return self.current.background_size

    def reset(self, frames_per_second=None):
        for generator in self.loaded.values():
            generator.reset(frames_per_second)

    def layers(self, ske, background=None):
        return self.current.layers(ske, background)

    def generate(self, ske, background=None):
        return self.current.generate(ske, background)
