"""What every learnt generator (GenVanillaNN, GenGAN) shares at inference: building its networks
from a checkpoint's config, loading and saving their state (checkpoints.py), and `layers` /
`generate` through a frozen TorchScript copy of the inference network.
"""
import numpy as np
import torch

from checkpoints import load_checkpoint, load_weights, model_path, save_checkpoint
from cli import UserError
from devices import select_device
from generator_api import Generator, Layers
from geometry import resize
from Skeleton import normalize_reduced


def bgr_to_tensor(image):
    """uint8 BGR HxWx3 -> float tensor 3xHxW in [-1, 1] (RGB order)."""
    rgb = image[:, :, ::-1].astype(np.float32) / 127.5 - 1.0
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))


def tensor_to_bgr(tensor):
    """float tensor 3xHxW in [-1, 1] (RGB) -> uint8 BGR HxWx3."""
    arr = tensor.detach().float().clamp(-1, 1).cpu().numpy().transpose(1, 2, 0)
    return np.ascontiguousarray(((arr + 1.0) * 127.5 + 0.5).astype(np.uint8)[:, :, ::-1])


def alpha_of(out):
    """The soft person mask (N x 1 x H x W in 0..1) of a batch of network outputs whose 4th
    channel is the mask in tanh's -1..1."""
    return (out[:, 3:4].clamp(-1, 1) + 1) / 2


def drawing_tensor(ske, size):
    """The skeleton drawn on black, as the networks see it: float 3 x size x size in [-1, 1]."""
    return bgr_to_tensor(ske.drawn(size))


def vector_tensor(ske):
    return torch.from_numpy(normalize_reduced(ske.reduced()[None])[0])


class NetworkGenerator(Generator):
    """Base of the learnt generators: checkpoint I/O and `layers(ske)`.

    Subclasses set `name` and implement `build(config)`
    (networks, moved with `.to(self.device, memory_format=self.memory_format)`, and optimizers),
    `networks()` (name -> module or optimizer, for checkpoints),
    `network_input(batch)` (the network's one input tensor from a batch), `forward(batch)`
    (inference on a batch: the raw network output), `optimise(batch)` (one training step; returns
    the losses) and `inference_network()`. With `config["plates"]` the networks output a person
    and a soft mask (4 channels) that `composited` puts over the plate crop.
    """

    def __init__(self, video_ske, load_from_file=True, config=None, path=None, device=None, world_size=1):
        self.video_ske = video_ske
        self.device = device or select_device()
        self.path = path or model_path(video_ske.filename, self.name)
        self.epochs_done, self.steps_done, self.loss_log, self.held_out_indices = 0, 0, [], []
        self.frozen = None  # what generate() runs (see there), made at first use
        checkpoint = load_checkpoint(self.path, self.name) if load_from_file else None
        self.config = checkpoint["config"] if checkpoint else config
        if self.config is None:
            raise ValueError("a new generator needs a config")
        self.size = self.config["size"]
        # checkpoints from before plates have no "plates" key: they paint the whole crop, as trained
        self.uses_plates = bool(self.config.get("plates"))
        self.scene_background = None
        self.world_size = world_size
        # oneDNN's CPU convolutions run ~30% faster on channels-last tensors (bench_train.py);
        # build() puts its networks in this layout, train_step() its batches
        self.memory_format = torch.channels_last if self.device.type == "cpu" else torch.contiguous_format
        self.build(self.config)
        if checkpoint:
            self.load(checkpoint)

    def load(self, checkpoint):
        for key, obj in self.networks().items():
            if key not in checkpoint["state"]:
                raise UserError(f"checkpoint {self.path} has no {key}; it does not fit this architecture")
            if isinstance(obj, torch.optim.Optimizer):
                obj.load_state_dict(checkpoint["state"][key])
            else:
                load_weights(obj, checkpoint["state"][key], self.path)
        self.epochs_done = checkpoint["epochs"]
        self.steps_done = checkpoint["steps"]
        self.loss_log = checkpoint["loss_log"]
        self.held_out_indices = checkpoint["held_out_indices"]

    def save(self, path):
        state = {key: obj.state_dict() for key, obj in self.networks().items()}
        save_checkpoint(path, {"generator": self.name, "config": self.config, "epochs": self.epochs_done, "steps": self.steps_done,
                               "frame_count": self.video_ske.ske_count(), "loss_log": self.loss_log,
                               "held_out_indices": list(map(int, self.held_out_indices)), "state": state})

    def sample_of(self, ske, background=None):
        """A batch of one for pose `ske` (and the plate crop behind it), as TargetData makes them."""
        sample = {"drawing": drawing_tensor(ske, self.size)[None], "vector": vector_tensor(ske)[None]}
        if self.uses_plates:
            sample["background"] = bgr_to_tensor(background)[None]
        return {k: v.to(self.device) for k, v in sample.items()}

    def background_for(self, background):
        """`background` at the output size; without one, the plate behind the target's first frame
        of its main scene (a generator trained with plates always paints over one)."""
        if not self.uses_plates:
            return None
        if background is None:
            if self.scene_background is None:
                plates = self.video_ske.plates()
                if plates is None:
                    raise UserError(f"{self.path} was trained with background plates, but {self.video_ske.filename} "
                                    "has none now; retrain it with --fresh")
                first = int(np.flatnonzero(plates.frame_segment == plates.main_segment())[0])
                self.scene_background = plates.crop(first, self.video_ske.crop_boxes[first], self.size)
            background = self.scene_background
        return resize(background, self.size)

    @torch.no_grad()
    def layers(self, ske, background=None):
        """Layers for pose `ske`: a generator trained with plates paints the person and a soft mask
        over the plate crop `background`; one trained without paints the whole crop.

        On the CPU it runs a frozen TorchScript copy of the inference network, channels-last like
        the network: freezing folds each batch norm into its convolution, and oneDNN's convolutions
        are faster on channels-last tensors; together they make a GAN frame 13.6 -> 8.8 ms on one
        CPU thread (the demo's budget)."""
        background = self.background_for(background)
        x = self.network_input(self.sample_of(ske, background))
        if x.dim() == 4:
            x = x.contiguous(memory_format=self.memory_format)
        if self.frozen is None:
            network = self.inference_network().eval()
            # the gain is a CPU one; on CUDA or MPS the network runs as it is
            self.frozen = torch.jit.freeze(torch.jit.trace(network, x)) if x.device.type == "cpu" else network
        out = self.frozen(x).float()
        if not self.uses_plates:
            return Layers(tensor_to_bgr(out[0]), None, None)
        return Layers(tensor_to_bgr(out[0, :3]), alpha_of(out)[0, 0].cpu().numpy(), background)

    def composited(self, out, batch):
        """A batch of network outputs as images: with plates, person * alpha + background."""
        if not self.uses_plates:
            return out
        alpha = alpha_of(out)
        return out[:, :3] * alpha + batch["background"] * (1 - alpha)

    def train_step(self, batch):
        """One optimisation step on `batch`; returns {loss name: value}."""
        self.frozen = None  # generate() must not run the weights from before this step
        return self.optimise({k: v.contiguous(memory_format=self.memory_format) if v.dim() == 4 else v
                              for k, v in batch.items()})

    def render(self, batch):
        return self.composited(self.forward(batch), batch)

    def set_lr_factor(self, factor):
        for obj in self.networks().values():
            if isinstance(obj, torch.optim.Optimizer):
                for group in obj.param_groups:
                    group["lr"] = self.config["lr"] * factor
