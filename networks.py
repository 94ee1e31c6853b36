"""The networks of every learnt generator, built from small composable blocks (after pix2pix).

- `SkeletonDecoder`: 26-value reduced skeleton -> image (GEN_TYPE 2).
- `UnetGenerator`: skeleton drawing -> image (GEN_TYPE 3 and the GAN's generator, GEN_TYPE 4).
- `NLayerDiscriminator` / `MultiscaleDiscriminator`: conditional PatchGAN critics (GAN only).

Upsampling is nearest-neighbour + 3x3 convolution, never a transposed convolution, which gives
checkerboard artefacts. Every network ends in tanh: images are in [-1, 1].
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_block(in_ch, out_ch, stride=1, norm=True, act="relu"):
    layers = [nn.Conv2d(in_ch, out_ch, 4 if stride == 2 else 3, stride, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(nn.LeakyReLU(0.2, inplace=True) if act == "leaky" else nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class UpBlock(nn.Module):
    """x2 nearest upsampling, then a 3x3 convolution, normalisation and ReLU."""

    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv = conv_block(in_ch, out_ch)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class UnetSkipConnectionBlock(nn.Module):
    """One level of the U-Net: down, the inner levels, up, and the skip connection around them."""

    def __init__(self, outer_ch, inner_ch, submodule=None, dropout=0.0):
        super().__init__()
        self.down = conv_block(outer_ch, inner_ch, stride=2, act="leaky")
        self.submodule = submodule
        up_in = inner_ch if submodule is None else inner_ch * 2
        self.up = UpBlock(up_in, outer_ch)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()

    def forward(self, x):
        y = self.down(x)
        if self.submodule is not None:
            y = self.submodule(y)
        return torch.cat([x, self.dropout(self.up(y))], dim=1)


def unet_channels(num_downs, ngf, max_ch):
    return [min(ngf * 2 ** i, max_ch) for i in range(num_downs + 1)]


class UnetGenerator(nn.Module):
    """Drawn skeleton (3 x S x S) -> image (3 x S x S), S divisible by 2**num_downs.

    As in pix2pix the outermost level goes from the input straight to stride 2, so no heavy
    convolution runs at full resolution; a light one (ngf/2 channels) refines the last upsampling.
    """

    def __init__(self, in_ch=3, out_ch=3, num_downs=5, ngf=32, max_ch=128):
        super().__init__()
        ch = unet_channels(num_downs - 1, ngf, max_ch)
        block = None
        for level in range(num_downs - 1, 0, -1):
            block = UnetSkipConnectionBlock(ch[level - 1], ch[level], block)
        self.down = conv_block(in_ch, ch[0], stride=2, norm=False, act="leaky")
        self.body = block
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv_block(ch[0] * 2, ngf // 2),
                                nn.Conv2d(ngf // 2, out_ch, 3, 1, 1), nn.Tanh())

    def forward(self, x):
        return self.up(self.body(self.down(x)))


class SkeletonDecoder(nn.Module):
    """Reduced skeleton vector (26) -> image: a linear layer to 4x4 features, then upsampling."""

    def __init__(self, in_dim=26, out_ch=3, size=64, ngf=32, max_ch=256):
        super().__init__()
        ups = size.bit_length() - 3  # 4 -> size
        if 4 * 2 ** ups != size:
            raise ValueError(f"size must be a power of two >= 8, got {size}")
        ch = [min(ngf * 2 ** i, max_ch) for i in range(ups, -1, -1)]
        self.fc = nn.Sequential(nn.Linear(in_dim, 256), nn.ReLU(inplace=True), nn.Linear(256, ch[0] * 16),
                                nn.ReLU(inplace=True))
        self.first_ch = ch[0]
        self.ups = nn.Sequential(*[UpBlock(ch[i], ch[i + 1]) for i in range(ups)])
        self.head = nn.Sequential(nn.Conv2d(ch[-1], out_ch, 3, 1, 1), nn.Tanh())

    def forward(self, x):
        return self.head(self.ups(self.fc(x).view(-1, self.first_ch, 4, 4)))


class NLayerDiscriminator(nn.Module):
    """PatchGAN: judges overlapping patches of (condition, image); returns every layer's
    features so the generator can be trained to match them (pix2pixHD's feature matching)."""

    def __init__(self, in_ch=6, ndf=32, n_layers=3):
        super().__init__()
        layers = [nn.Sequential(nn.Conv2d(in_ch, ndf, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True))]
        ch = ndf
        for i in range(1, n_layers):
            nxt = min(ch * 2, 256)
            layers.append(nn.Sequential(nn.Conv2d(ch, nxt, 4, 2 if i < n_layers - 1 else 1, 1),
                                        nn.InstanceNorm2d(nxt), nn.LeakyReLU(0.2, inplace=True)))
            ch = nxt
        layers.append(nn.Conv2d(ch, 1, 4, 1, 1))
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        features = []
        for layer in self.layers:
            x = layer(x)
            features.append(x)
        return features


class MultiscaleDiscriminator(nn.Module):
    """The same PatchGAN at full and half resolution (pix2pixHD): the coarse one sees the whole
    body's layout, the fine one the texture."""

    def __init__(self, in_ch=6, ndf=32, n_layers=3, num_scales=2):
        super().__init__()
        self.scales = nn.ModuleList([NLayerDiscriminator(in_ch, ndf, n_layers) for _ in range(num_scales)])

    def forward(self, x):
        outputs = []
        for i, d in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
            outputs.append(d(x))
        return outputs

