"""Segmentation networks: a small UNet (CPU) and a ResNet-backbone variant (GPU)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from motionseg.io.checkpoints import load_state_dict_file
from motionseg.io.errors import InputError

MODEL_NAMES = ("unet", "resnet18", "resnet34", "resnet50")

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _norm_groups(ch: int) -> int:
    """Number of GroupNorm groups for ``ch`` channels (8 channels per group, at least 1)."""
    return max(1, ch // 8)


class _ConvBlock(nn.Sequential):
    """Two 3x3 conv + GroupNorm + ReLU layers."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.GroupNorm(_norm_groups(cout), cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.GroupNorm(_norm_groups(cout), cout),
            nn.ReLU(inplace=True),
        )


class _Normalize(nn.Module):
    """Subtract the ImageNet mean and divide by its std (input RGB in [0, 1])."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class UNet(nn.Module):
    """Small UNet: ``depth`` down/up levels with ``width * 2**level`` channels; K output logits at input size.

    Input float [B, 3, H, W] RGB in [0, 1] (H, W any size; padded internally to a multiple of 2**depth).
    Output float [B, K, H, W] logits.
    """

    def __init__(self, k: int, width: int = 16, depth: int = 4) -> None:
        super().__init__()
        self.depth = depth
        chans = [width * 2**i for i in range(depth + 1)]
        self.norm = _Normalize()
        self.inc = _ConvBlock(3, chans[0])
        self.down = nn.ModuleList(_ConvBlock(chans[i], chans[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(chans[i + 1], chans[i], 2, stride=2) for i in reversed(range(depth))
        )
        self.dec = nn.ModuleList(_ConvBlock(2 * chans[i], chans[i]) for i in reversed(range(depth)))
        self.head = nn.Conv2d(chans[0], k, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        mult = 2**self.depth
        ph, pw = (-h) % mult, (-w) % mult
        x = F.pad(self.norm(x), (0, pw, 0, ph), mode="replicate")
        skips = [self.inc(x)]
        for block in self.down:
            skips.append(block(F.max_pool2d(skips[-1], 2)))
        y = skips.pop()
        for up, dec in zip(self.up, self.dec, strict=True):
            y = up(y)
            y = dec(torch.cat([y, skips.pop()], dim=1))
        return self.head(y)[..., :h, :w]


class ResNetSeg(nn.Module):
    """torchvision ResNet backbone (strides 4..32) with an FPN-style decoder; K output logits at input size.

    Input float [B, 3, H, W] RGB in [0, 1]; output float [B, K, H, W] logits. ``weights``: optional path of a
    torchvision-format state dict for the backbone (e.g. ImageNet or DINO weights saved locally); nothing is
    downloaded.
    """

    def __init__(self, k: int, arch: str = "resnet50", width: int = 128, weights: str | Path | None = None) -> None:
        super().__init__()
        import torchvision

        backbone = getattr(torchvision.models, arch)(weights=None)
        if weights is not None:
            _load_backbone_weights(backbone, Path(weights))
        self.norm = _Normalize()
        self.stem = nn.Sequential(backbone.conv1, backbone.bn1, backbone.relu, backbone.maxpool)
        self.layers = nn.ModuleList([backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4])
        in_ch = [m[-1].conv2.out_channels if arch in ("resnet18", "resnet34") else m[-1].conv3.out_channels
                 for m in self.layers]
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1) for c in in_ch)
        self.smooth = _ConvBlock(width, width)
        self.head = nn.Conv2d(width, k, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        y = self.stem(self.norm(x))
        feats = []
        for layer in self.layers:
            y = layer(y)
            feats.append(y)
        top = self.lateral[-1](feats[-1])
        for lat, f in zip(reversed(self.lateral[:-1]), reversed(feats[:-1]), strict=True):
            top = F.interpolate(top, size=f.shape[-2:], mode="bilinear", align_corners=False) + lat(f)
        out = self.head(self.smooth(top))
        return F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)


def _load_backbone_weights(backbone: nn.Module, path: Path) -> None:
    """Load a local backbone state dict (classifier ``fc.*`` keys may be missing); raise InputError when unusable."""
    state = load_state_dict_file(path, "backbone weights")
    try:
        missing, unexpected = backbone.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise InputError(path, f"backbone weights do not fit the architecture ({exc})") from None
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise InputError(path, f"backbone weights do not match: missing {missing[:5]}, unexpected {unexpected[:5]}")


def build_model(name: str, k: int, width: int, depth: int = 4, backbone_weights: str | None = None) -> nn.Module:
    """Build the network ``name`` (one of :data:`MODEL_NAMES`) with ``k`` output segments.

    ``width``: base channels (UNet) or decoder channels (ResNet); ``depth``: UNet levels; ``backbone_weights``: local
    ResNet backbone state dict (ignored by name only for the UNet: giving it there is an error).
    """
    if k < 2:
        raise ValueError(f"need at least 2 segments, got K={k}")
    if name == "unet":
        if backbone_weights:
            raise ValueError("backbone_weights is only used by the ResNet models, not by 'unet'")
        return UNet(k, width=width, depth=depth)
    if name in MODEL_NAMES:
        return ResNetSeg(k, arch=name, width=width, weights=backbone_weights)
    raise ValueError(f"unknown model '{name}' (use one of {', '.join(MODEL_NAMES)})")
