"""GEN_TYPE 2 and 3: networks that map a pose straight to the target's image, trained with L1.

    python GenVanillaNN.py TARGET_VIDEO --variant {ske,image} [--epochs N | --minutes M] [--size PX]
                           [--held-out F] [--resume]

- `ske` (GEN_TYPE 2): the 26-value reduced skeleton, normalised as in the nearest search, through
  fully connected layers to 4x4 features and an upsampling decoder (networks.SkeletonDecoder).
  Default 64 px.
- `image` (GEN_TYPE 3): the skeleton drawn on black (Skeleton.draw) through a U-Net with skip
  connections (networks.UnetGenerator). Default 128 px.
Both train with Adam on the L1 loss by default (`--loss mse` for the comparison in the README).
With background plates (the default when the target video has them) both paint the person and a
soft mask, composited over the plate crop behind the pose; `image` also sees that plate crop, and
with `--exemplar` the target's closest training frame warped into the pose, as GenGAN does
(network_generator.py), then trained by default on the offset-tolerant losses (`--loss nn`).
"""
import argparse

import torch
import torch.nn.functional as F

from cli import HelpFormatter, UserError, run_cli
from losses import choice_cost, coarse_l1, mask_loss, nearest_l1
from network_generator import NetworkGenerator, input_channels, output_channels, start_from_the_exemplar
from networks import SkeletonDecoder, UnetGenerator
from training import add_exemplar_arguments, add_training_arguments, exemplar_config, train_main

VARIANTS = ("ske", "image")
DEFAULT_SIZES = {"ske": 64, "image": 128}
DEFAULT_EPOCHS = 30


class GenVanillaNN(NetworkGenerator):
    def __init__(self, video_ske, load_from_file=True, variant="image", config=None, path=None, device=None,
                 world_size=1):
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        self.variant = variant
        self.name = f"vanilla-{variant}"
        super().__init__(video_ske, load_from_file, config, path, device, world_size)

    def build(self, cfg):
        if cfg["variant"] != self.variant:
            raise ValueError(f"config is for variant {cfg['variant']}, not {self.variant}")
        if self.variant == "ske":
            self.net = SkeletonDecoder(out_ch=output_channels(cfg), size=cfg["size"], ngf=cfg["ngf"])
        else:
            self.net = UnetGenerator(in_ch=input_channels(cfg), out_ch=output_channels(cfg),
                                     num_downs=cfg["size"].bit_length() - 3, ngf=cfg["ngf"], max_ch=cfg["max_ch"])
            if cfg.get("exemplar") == "refine":
                start_from_the_exemplar(self.net.up[-2])
        self.net.to(self.device, memory_format=self.memory_format)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg["lr"], betas=(0.5, 0.999))

    def networks(self):
        return {"net": self.net, "opt": self.opt}

    def network_input(self, batch):
        return batch["vector"] if self.variant == "ske" else self.image_input(batch)

    def forward(self, batch):
        self.net.eval()
        return self.net(self.network_input(batch))

    def inference_network(self):
        return self.net

    def optimise(self, batch):
        self.net.train()
        if self.variant == "ske":  # the vector is shift/scale invariant: jitter it a little instead
            batch = dict(batch, vector=batch["vector"] + 0.01 * torch.randn_like(batch["vector"]))
        out = self.net(self.network_input(batch))
        decoded = self.decode(out, batch)
        image = self.composited(out, batch, decoded)
        l1 = F.l1_loss(image, batch["image"])
        kind = self.config.get("loss")
        loss = (F.mse_loss(image, batch["image"]) if kind == "mse" else
                nearest_l1(image, batch["image"]) + coarse_l1(image, batch["image"]) if kind == "nn" else l1)
        masked = mask_loss(decoded.alpha, batch)
        # the image loss is on [-1, 1] without the GAN's weight of 100: scale the mask loss alike
        loss = loss + self.config.get("lambda_mask", 0.0) / 100 * masked
        if decoded.choice is not None:  # the exemplar's own pixels are the default (see GenGAN.py)
            loss = loss + self.config.get("lambda_choice", 0.0) / 100 * choice_cost(decoded.choice, batch)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"l1": l1.item(), **({"mask": masked.item()} if self.uses_plates else {})}


def main():
    parser = argparse.ArgumentParser(
        description="Train a direct pose-to-image network (GEN_TYPE 2: --variant ske, 3: --variant image); "
                    "saves models/TARGET_vanilla-VARIANT.pt.", formatter_class=HelpFormatter)
    add_training_arguments(parser, " or ".join(f"{s} for {v}" for v, s in DEFAULT_SIZES.items()), DEFAULT_EPOCHS)
    parser.add_argument("--variant", choices=VARIANTS, required=True,
                        help="ske: from the 26-value skeleton; image: from the drawn skeleton")
    parser.add_argument("--ngf", type=int, default=32, help="network width")
    parser.add_argument("--max-ch", type=int, default=128, help="U-Net's widest layer, image variant")
    add_exemplar_arguments(parser, "none")
    parser.add_argument("--lambda-choice", type=float, default=20.0,
                        help="with --exemplar refine: weight of the cost of painting where the warped exemplar has "
                             "pixels (on the GAN's scale of 100 for the image loss)")
    parser.add_argument("--loss", choices=("l1", "mse", "nn"), default=None,
                        help="reconstruction loss: l1, mse (see the README for the comparison) or nn (the "
                             "nearest-neighbour L1 with L1 at a quarter of the resolution; default: nn when refining "
                             "an exemplar, else l1)")
    args = parser.parse_args()
    if args.variant == "ske" and args.exemplar != "none":
        raise UserError("--exemplar needs --variant image (the skeleton vector has no picture to line up with)")
    config = {"variant": args.variant, "ngf": args.ngf, "max_ch": args.max_ch, **exemplar_config(args),
              "loss": args.loss or ("nn" if args.exemplar == "refine" else "l1"),
              "lambda_choice": args.lambda_choice if args.exemplar == "refine" else 0.0}
    return train_main(lambda *a, **kw: GenVanillaNN(*a, variant=args.variant, **kw), f"vanilla-{args.variant}",
                      DEFAULT_SIZES[args.variant], DEFAULT_EPOCHS, args, config)


if __name__ == "__main__":
    run_cli(main)
