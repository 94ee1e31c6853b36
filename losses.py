"""The image losses of the learnt generators, beside the adversarial one (GenGAN).

- `mask_loss`: the painted person's soft mask against MediaPipe's segmentation.
- `nearest_l1` (Deformable GANs' nearest-neighbour loss): each generated pixel against the best
  matching real pixel within a small window, so a sharp pixel one or two pixels off costs
  little. Plain L1 would rather have a blur there, the mean of where the edge might be.
- `coarse_l1`: L1 between the two images averaged over `factor` x `factor` blocks: it holds
  colours and the overall layout in place without asking for pixel-exact edges.
- `choice_cost`: what a refining network pays for painting its own pixels where the warped
  exemplar has some: the exemplar's sharp pixels are the default, so the person stays made of them.
- `flow_cost`: what it pays for moving the exemplar's pixels, where it has some: the warp already
  put them near their place, and a flow longer than needed resamples fine detail (a face in
  profile) into a blur that the other losses, tolerant of small offsets, do not see.
"""
import torch
import torch.nn.functional as F


def mask_loss(alpha, batch):
    """L1 of a soft person mask (N x 1 x H x W, 0..1) to MediaPipe's segmentation (0 without one)."""
    if "mask" not in batch or alpha is None:
        return batch["image"].new_zeros(())
    return F.l1_loss(alpha.float(), batch["mask"])


def nearest_l1(fake, real, window=3):
    """Mean over pixels of the smallest L1 (summed over channels, / 3) between a pixel of `fake`
    and the pixels of `real` within `window` x `window` around it."""
    pad = window // 2
    height, width = fake.shape[2:]
    padded = F.pad(real, (pad, pad, pad, pad), mode="replicate")
    best = None
    for dy in range(window):
        for dx in range(window):
            d = (fake - padded[:, :, dy:dy + height, dx:dx + width]).abs().sum(dim=1)
            best = d if best is None else torch.minimum(best, d)
    return best.mean() / fake.shape[1]


def coarse_l1(fake, real, factor=4):
    return F.l1_loss(F.avg_pool2d(fake, factor), F.avg_pool2d(real, factor))


def choice_cost(choice, batch):
    """Mean of the exemplar's alpha times (1 - choice): the share of its pixels painted over."""
    return (batch["exemplar_mask"] * (1 - choice)).mean()


def flow_cost(flow, batch):
    """Mean of the exemplar's alpha times the flow's length (pixels at the network's size)."""
    return (batch["exemplar_mask"] * flow.norm(dim=1, keepdim=True)).mean()
