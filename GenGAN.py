"""GEN_TYPE 4: a conditional GAN that makes the target in a pose, from the drawn skeleton and the
target's own pixels warped into the pose.

    python GenGAN.py TARGET_VIDEO [--epochs N | --minutes M] [--size PX] [--held-out F] [--resume]
    torchrun --nproc_per_node N GenGAN.py TARGET_VIDEO ...     # data-parallel (NCCL on GPUs, gloo on CPUs)

pix2pix's recipe with pix2pixHD's ingredients that need no downloaded weights, around an exemplar:
- generator: a U-Net (networks.UnetGenerator), upsampling by nearest + convolution (no
  checkerboard); its exponential moving average (EMA) is what `generate` uses. It sees the
  skeleton drawing, the plate crop behind the pose (with background plates, the default when the
  target video has them: it paints only the person and a soft mask, pulled towards MediaPipe's
  segmentation by --lambda-mask), and the exemplar: the closest training frame of the target,
  warped into the pose part by part (pose_warp.py). With `--exemplar refine` (the default) it outputs
  a small flow that resamples the exemplar, its own pixels for what the exemplar lacks and a
  per-pixel choice between the two (network_generator.py), so the person is made of real pixels
  wherever they fit; `--exemplar input` only shows it the exemplar; `--exemplar none` is the
  generator from the drawing alone.
- discriminator: PatchGANs at two scales conditioned on the drawing, LSGAN loss;
- generator loss: adversarial + discriminator feature matching (lambda 10) + the image losses of
  losses.py: with an exemplar to refine, the nearest-neighbour L1 (a sharp pixel slightly off
  is not punished) and L1 at a quarter of the resolution (colours and layout), and a cost for
  painting where the exemplar has pixels (--lambda-choice: its pixels are the default, so the
  person stays sharp and where the warp put the limbs) and for moving the exemplar's pixels
  (--lambda-flow: a flow longer than needed blurs a face); otherwise L1 to the real frame (lambda
  100). Adam lr 2e-4, beta1 0.5; D is updated on a detached fake, then G.
Training pairs look like use: a frame's exemplar is one of its closest training frames more than
--exemplar-window seconds away from it (drawn each batch among --exemplar-candidates that fit as
well as an exemplar held in use), never a held-out frame; such a model holds its exemplar in use
while it fits.
On CUDA the forward passes run in bfloat16 autocast (mixed precision).
"""
import argparse
import copy

import torch
import torch.nn.functional as F

from cli import HelpFormatter, UserError, run_cli
from losses import choice_cost, coarse_l1, flow_cost, mask_loss, nearest_l1
from network_generator import NetworkGenerator, input_channels, output_channels, start_from_the_exemplar
from networks import MultiscaleDiscriminator, UnetGenerator
from training import add_exemplar_arguments, add_training_arguments, exemplar_config, train_main

DEFAULT_SIZE = 128
DEFAULT_EPOCHS = 60


class GenGAN(NetworkGenerator):
    name = "gan"

    def build(self, cfg):
        num_downs = cfg["size"].bit_length() - 3  # down to 4x4
        self.G = UnetGenerator(in_ch=input_channels(cfg), out_ch=output_channels(cfg), num_downs=num_downs,
                               ngf=cfg["ngf"], max_ch=cfg["max_ch"])
        if cfg.get("exemplar") == "refine":
            start_from_the_exemplar(self.G.up[-2])
        self.G.to(self.device, memory_format=self.memory_format)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.D = MultiscaleDiscriminator(in_ch=6, ndf=cfg["ndf"], num_scales=cfg["d_scales"]).to(
            self.device, memory_format=self.memory_format)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg["lr"], betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg["lr"], betas=(0.5, 0.999))
        self.G_train, self.D_train = self.G, self.D
        if getattr(self, "world_size", 1) > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.G_train = DDP(self.G, device_ids=ids)
            self.D_train = DDP(self.D, device_ids=ids)
        self.autocast = self.device.type == "cuda"

    def networks(self):
        return {"generator": self.G, "generator_ema": self.G_ema, "discriminator": self.D,
                "opt_g": self.opt_g, "opt_d": self.opt_d}

    def network_input(self, batch):
        return self.image_input(batch)

    def forward(self, batch):
        self.G_ema.eval()
        return self.G_ema(self.network_input(batch)).float()

    def inference_network(self):
        return self.G_ema

    def image_loss(self, fake, real):
        """The weighted image losses of the config (see the module docstring)."""
        cfg = self.config
        loss = cfg["lambda_l1"] * F.l1_loss(fake, real)
        if cfg.get("lambda_nn"):
            loss = loss + cfg["lambda_nn"] * nearest_l1(fake, real, cfg["nn_window"])
        if cfg.get("lambda_coarse"):
            loss = loss + cfg["lambda_coarse"] * coarse_l1(fake, real)
        return loss

    def optimise(self, batch):
        cfg = self.config
        x, real = batch["drawing"], batch["image"]
        self.G.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            out = self.G_train(self.network_input(batch))
        decoded = self.decode(out.float(), batch)
        fake = self.composited(out, batch, decoded)
        losses = {}
        use_gan = cfg["lambda_gan"] > 0
        if use_gan:
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
                pred_real = self.D_train(torch.cat([x, real], 1))
                pred_fake = self.D_train(torch.cat([x, fake.detach()], 1))
                loss_d = 0.5 * sum(F.mse_loss(r[-1].float(), torch.ones_like(r[-1].float()))
                                   + F.mse_loss(f[-1].float(), torch.zeros_like(f[-1].float()))
                                   for r, f in zip(pred_real, pred_fake)) / len(pred_real)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            losses["d"] = loss_d.item()
        loss_mask = mask_loss(decoded.alpha, batch)
        loss_g = self.image_loss(fake, real) + cfg.get("lambda_mask", 0.0) * loss_mask
        if decoded.choice is not None and cfg.get("lambda_choice"):
            # the exemplar's own pixels are the default wherever it has some: painting instead must pay
            loss_g = loss_g + cfg["lambda_choice"] * choice_cost(decoded.choice, batch)
        if decoded.flow is not None and cfg.get("lambda_flow"):
            loss_g = loss_g + cfg["lambda_flow"] * flow_cost(decoded.flow, batch)
        if use_gan:
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
                pred_fake = self.D_train(torch.cat([x, fake], 1))
                loss_adv = sum(F.mse_loss(f[-1].float(), torch.ones_like(f[-1].float()))
                               for f in pred_fake) / len(pred_fake)
                loss_fm = sum(F.l1_loss(ff.float(), fr.detach().float())
                              for f, r in zip(pred_fake, pred_real) for ff, fr in zip(f[:-1], r[:-1]))
                loss_fm = loss_fm / (len(pred_fake) * (len(pred_fake[0]) - 1))
            loss_g = loss_g + cfg["lambda_gan"] * loss_adv + cfg["lambda_fm"] * loss_fm
            losses.update(gan=loss_adv.item(), fm=loss_fm.item())
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.update_ema()
        losses["l1"] = F.l1_loss(fake.detach(), real).item()
        if self.uses_plates:
            losses["mask"] = loss_mask.item()
        if decoded.choice is not None:
            losses["choice"] = decoded.choice.mean().item()  # the share of the person made of exemplar pixels
        return losses

    @torch.no_grad()
    def update_ema(self):
        # warm-up: early on the average follows the weights closely
        decay = min(self.config["ema_decay"], (1 + self.steps_done) / (10 + self.steps_done))
        for e, p in zip(self.G_ema.parameters(), self.G.parameters()):
            e.lerp_(p.detach(), 1 - decay)
        for e, b in zip(self.G_ema.buffers(), self.G.buffers()):
            e.copy_(b)


def main():
    parser = argparse.ArgumentParser(
        description="Train the conditional GAN (GEN_TYPE 4) on a target video; saves models/TARGET_gan.pt.",
        formatter_class=HelpFormatter)
    add_training_arguments(parser, DEFAULT_SIZE, DEFAULT_EPOCHS)
    add_exemplar_arguments(parser, "refine")
    parser.add_argument("--ngf", type=int, default=32, help="generator width")
    parser.add_argument("--max-ch", type=int, default=128, help="generator's widest layer")
    parser.add_argument("--ndf", type=int, default=32, help="discriminator width")
    parser.add_argument("--d-scales", type=int, default=2, help="discriminator scales")
    parser.add_argument("--lambda-l1", type=float, default=None,
                        help="weight of the L1 loss (default: 0 when refining an exemplar, else 100)")
    parser.add_argument("--lambda-nn", type=float, default=None,
                        help="weight of the nearest-neighbour L1 (default: 100 when refining an exemplar, else 0)")
    parser.add_argument("--nn-window", type=int, default=3, help="window of the nearest-neighbour L1, in pixels")
    parser.add_argument("--lambda-coarse", type=float, default=None,
                        help="weight of L1 at a quarter of the resolution (default: 100 when refining an exemplar, "
                             "else 0)")
    parser.add_argument("--lambda-choice", type=float, default=20.0,
                        help="weight of the cost of painting where the warped exemplar has pixels (refine): the "
                             "exemplar's own, sharp pixels are the default")
    parser.add_argument("--lambda-flow", type=float, default=1.0,
                        help="weight of the cost of the correction flow's length (pixels) where the warped exemplar has "
                             "pixels (refine): the warp already put them near their place")
    parser.add_argument("--lambda-gan", type=float, default=1.0,
                        help="weight of the adversarial loss; 0 trains the U-Net on the image losses alone")
    parser.add_argument("--lambda-fm", type=float, default=10.0, help="weight of feature matching")
    parser.add_argument("--ema-decay", type=float, default=0.999,
                        help="EMA of the generator's weights used for generation; 0 disables")
    args = parser.parse_args()
    refine = args.exemplar == "refine"
    config = {"ngf": args.ngf, "max_ch": args.max_ch, "ndf": args.ndf, "d_scales": args.d_scales,
              **exemplar_config(args), "nn_window": args.nn_window,
              "lambda_l1": (0.0 if refine else 100.0) if args.lambda_l1 is None else args.lambda_l1,
              "lambda_nn": (100.0 if refine else 0.0) if args.lambda_nn is None else args.lambda_nn,
              "lambda_coarse": (100.0 if refine else 0.0) if args.lambda_coarse is None else args.lambda_coarse,
              "lambda_choice": args.lambda_choice if refine else 0.0,
              "lambda_flow": args.lambda_flow if refine else 0.0,
              "lambda_gan": args.lambda_gan, "lambda_fm": args.lambda_fm, "ema_decay": args.ema_decay}
    if args.nn_window < 1 or args.nn_window % 2 == 0:
        raise UserError(f"--nn-window must be an odd number of pixels, got {args.nn_window}")
    return train_main(GenGAN, GenGAN.name, DEFAULT_SIZE, DEFAULT_EPOCHS, args, config)


if __name__ == "__main__":
    run_cli(main)
