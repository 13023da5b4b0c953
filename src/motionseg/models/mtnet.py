"""MTNet: a supervised two-stream video object segmentation network (RGB frame + optical flow rendered as colour).

A re-implementation, written from the description of the architecture in the paper (Zhuge, Gu, Zhang, Qi, Lu,
"Learning Motion and Temporal Cues for Unsupervised Video Object Segmentation", IEEE TNNLS 2024) and from the module
structure, parameter names and hyper-parameters of the authors' repository (hy0523/MTNet, snapshot e62604b,
``core/networks/MTNet.py``, ``core/networks/decoder/fpn.py``, ``core/utils/args.py``). That repository has no licence:
no code of it is reused here, only facts (which modules exist, how they are wired, their parameter names and shapes).

Structure (one forward over a clip of T frames of B videos, features at strides 4, 8, 16, 32):

1. one encoder, shared by both streams (upstream applies its single ``backbone`` to the frames and to the flow
   images), gives 4 feature maps per stream (here in one pass over both: the same for ConvNeXt's LayerNorms, and
   for the BatchNorm encoders the statistics seen in training are those they keep for inference);
2. ``fusion1``..``fusion4`` (upstream "BFM"): per scale, both streams are projected to ``width`` channels, weighted
   by two global gates, then mixed by a co-attention (channel attention on both streams + spatial attention from their
   channel mean/max) into one map;
3. ``transformer3`` / ``transformer4`` (upstream "MTT", the temporal module): at strides 16 and 32, ``mtt_layers``
   pre-norm transformer layers over the tokens of ALL frames of the clip: a local attention inside each of
   ``zone`` x ``zone`` spatial windows across the T frames, then a global attention whose keys/values are the
   tokens of all frames pooled 2x2 by a strided convolution;
4. ``decoder`` (upstream "CTD", cascaded decoders): four stages from the coarsest scale to the finest, each
   ``ctd_layers`` layers of depth-wise 7x7 convolution + channel attention (+ the previous stage's output, upsampled
   and added, then another depth-wise 7x7 convolution) and a token MLP;
5. ``fpn``: a top-down feature pyramid over the four decoder outputs, and ``cls2``..``cls5``: one logit map per scale.

Every output is upsampled (bilinear, corners aligned as upstream) to the input size; training supervises all four
(deep supervision: BCE-with-logits on the finest + 0.5 x the sum over the three coarser, upstream
``core/manager/trainer.py``), inference reads the finest.

Parameter names: with ``encoder="convnext_tiny"`` and ``width=96`` (upstream's only configuration) every module
outside the encoder has upstream's name and shape (``fusion1.r_down.0.conv.weight``, ``transformer3.0.
local_attention.query_embedding.weight``, ``decoder.stage2.layers.0.attention.late_stage.0.weight``,
``fpn.latlayer1.0.weight``, ``cls2.3.weight``, ...). The encoder is torchvision's ConvNeXt-T (``backbone.features.*``)
plus upstream's four output LayerNorms (``backbone.norm0``..``norm3``); upstream uses the ConvNeXt authors' module
(``backbone.downsample_layers.*``, ``backbone.stages.*``): :func:`upstream_to_ours` / :func:`ours_to_upstream` map
between the two namings (the layer scale ``gamma`` [C] is torchvision's ``layer_scale`` [C, 1, 1]); nothing else
differs, so a released checkpoint loads with :meth:`MTNet.load_released` (``tests/test_mtnet.py::
test_mtnet_keys_match_upstream`` checks keys, shapes and outputs against the upstream module).

Differences from upstream (none changes a weight's name or shape):

- upstream's temporal module hard-codes its token grid (32 x 32 and 16 x 16, i.e. 512 x 512 inputs) and a square
  pooled grid; here the grid is the input's: any H, W that are multiples of 32 x ``zone`` (64) work, non-square too;
- inputs are RGB in [0, 1] and the ImageNet normalisation (which upstream's data loader applies to frames and flow
  images alike) happens inside :meth:`MTNet.forward`;
- the clip length T is read from the input's shape (upstream derives it from the configured batch size);
- torchvision's ConvNeXt initialises the layer scale to 1e-6 (upstream: 1.0, then overwritten by the ImageNet
  weights it downloads); the stochastic depth rate is upstream's 0.4;
- attention uses :func:`torch.nn.functional.scaled_dot_product_attention` (the same scaled dot product).

Encoders: ``convnext_tiny`` (the paper's; random init or a local checkpoint: torchvision's ``convnext_tiny`` state
dict or the ConvNeXt authors' ``convnext_tiny_1k_224_ema.pth``), ``resnet18`` (torchvision, local weights optional)
and ``tiny`` (four strided conv blocks of ``width`` x (1, 2, 4, 8) channels: trains on a CPU in minutes).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from motionseg.io.checkpoints import load_state_dict_file, load_torch_file
from motionseg.io.errors import InputError

ENCODERS = ("convnext_tiny", "resnet18", "tiny")
# upstream core/utils/args.py: proj_dim 96, head 4, mtt_layers 4, ctd_layers 4, zone_size 2, dropout 0
UPSTREAM_WIDTH = 96
UPSTREAM_HEADS = 4
UPSTREAM_MTT_LAYERS = 4
UPSTREAM_CTD_LAYERS = 4
UPSTREAM_ZONE = 2
# upstream core/networks/encoder/convnext/convnext.py: convnext_tiny(drop_path_rate=0.4)
CONVNEXT_DROP_PATH = 0.4
# strides of the four feature maps
STRIDES = (4, 8, 16, 32)

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    """Conv (no bias) + BatchNorm + ReLU, children named ``conv``, ``bn``, ``relu`` (upstream ``ConvBNReLU``)."""
    return nn.Sequential(OrderedDict([
        ("conv", nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)),
        ("bn", nn.BatchNorm2d(cout)),
        ("relu", nn.ReLU(inplace=True)),
    ]))


def _conv_bn_relu_biased(cin: int, cout: int, kernel: int) -> nn.Sequential:
    """Conv (with bias) + BatchNorm + ReLU as an indexed Sequential (children 0, 1, 2)."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=kernel // 2), nn.BatchNorm2d(cout), nn.ReLU())


def _upsample(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Bilinear resize with aligned corners (upstream's choice everywhere in the decoder and the heads)."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)


# ------------------------------------------------------------------------------------------------------------ encoders


class _ConvNeXtTiny(nn.Module):
    """torchvision ConvNeXt-T (``features``) + one channels-first LayerNorm per output (``norm0``..``norm3``).

    Input float [N, 3, H, W] (normalised); output 4 maps [N, C_i, H / s_i, W / s_i], C = (96, 192, 384, 768).
    """

    channels = (96, 192, 384, 768)

    def __init__(self) -> None:
        super().__init__()
        import torchvision
        from torchvision.models.convnext import LayerNorm2d

        net = torchvision.models.convnext_tiny(weights=None, stochastic_depth_prob=CONVNEXT_DROP_PATH)
        self.features = net.features
        for i, c in enumerate(self.channels):
            self.add_module(f"norm{i}", LayerNorm2d(c, eps=1e-6))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i in range(4):
            x = self.features[2 * i + 1](self.features[2 * i](x))
            outs.append(getattr(self, f"norm{i}")(x))
        return outs


class _ResNet18(nn.Module):
    """torchvision ResNet-18 without its classifier (children named as torchvision's, so its weights load as they
    are). Output 4 maps of (64, 128, 256, 512) channels at strides 4..32."""

    channels = (64, 128, 256, 512)

    def __init__(self) -> None:
        super().__init__()
        import torchvision

        net = torchvision.models.resnet18(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            outs.append(x)
        return outs


class _TinyEncoder(nn.Module):
    """A small conv encoder for CPU runs: a stride-4 stem, then three stride-2 stages; (w, 2w, 4w, 8w) channels."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.channels = (width, 2 * width, 4 * width, 8 * width)
        c = self.channels
        self.stem = nn.Sequential(_conv_bn_relu(3, c[0] // 2, 3, 2), _conv_bn_relu(c[0] // 2, c[0], 3, 2),
                                  _conv_bn_relu(c[0], c[0]))
        self.stages = nn.ModuleList(
            nn.Sequential(_conv_bn_relu(c[i - 1], c[i], 3, 2), _conv_bn_relu(c[i], c[i])) for i in range(1, 4)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = [self.stem(x)]
        for stage in self.stages:
            outs.append(stage(outs[-1]))
        return outs


def build_encoder(name: str, width: int) -> nn.Module:
    """The encoder ``name`` (:data:`ENCODERS`) with random weights; ``.channels`` gives its 4 output widths."""
    if name == "convnext_tiny":
        return _ConvNeXtTiny()
    if name == "resnet18":
        return _ResNet18()
    if name == "tiny":
        return _TinyEncoder(width)
    raise ValueError(f"unknown MTNet encoder '{name}' (use one of {', '.join(ENCODERS)})")


# ------------------------------------------------------------------------------------------ upstream <-> ours names

# upstream (ConvNeXt authors' module) -> torchvision ConvNeXt, inside ``backbone.``
_BLOCK_PARTS = {"dwconv": "block.0", "norm": "block.2", "pwconv1": "block.3", "pwconv2": "block.5"}


def _convnext_key_to_tv(key: str) -> str | None:
    """Map one ConvNeXt-authors key (without ``backbone.``) to torchvision's naming; None when it has no counterpart
    (their classifier ``head.*`` and final ``norm.*``). Keys ``norm0``..``norm3`` stay as they are."""
    m = re.fullmatch(r"downsample_layers\.(\d)\.(\d)\.(weight|bias)", key)
    if m:
        return f"features.{2 * int(m.group(1))}.{m.group(2)}.{m.group(3)}"
    m = re.fullmatch(r"stages\.(\d)\.(\d+)\.(gamma|(dwconv|norm|pwconv1|pwconv2)\.(weight|bias))", key)
    if m:
        prefix = f"features.{2 * int(m.group(1)) + 1}.{m.group(2)}"
        if m.group(3) == "gamma":
            return f"{prefix}.layer_scale"
        return f"{prefix}.{_BLOCK_PARTS[m.group(4)]}.{m.group(5)}"
    if re.fullmatch(r"norm[0-3]\.(weight|bias)", key):
        return key
    return None


def _tv_key_to_convnext(key: str) -> str | None:
    """Inverse of :func:`_convnext_key_to_tv` (torchvision's ``classifier.*`` has no counterpart: None)."""
    m = re.fullmatch(r"features\.(\d)\.(\d+)\.(.+)", key)
    if m:
        idx, sub, rest = int(m.group(1)), m.group(2), m.group(3)
        if idx % 2 == 0:
            return f"downsample_layers.{idx // 2}.{sub}.{rest}"
        if rest == "layer_scale":
            return f"stages.{idx // 2}.{sub}.gamma"
        inverse = {v: k for k, v in _BLOCK_PARTS.items()}
        part, _, param = rest.rpartition(".")
        if part in inverse:
            return f"stages.{idx // 2}.{sub}.{inverse[part]}.{param}"
        return None
    if re.fullmatch(r"norm[0-3]\.(weight|bias)", key):
        return key
    return None


def _is_layer_scale(key: str) -> bool:
    return key.endswith(".gamma") or key.endswith(".layer_scale")


def upstream_to_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an upstream MTNet state dict (convnext-tiny) to this module's names.

    A ``module.`` prefix (upstream's multi-GPU checkpoints) is dropped; ``backbone.*`` keys are mapped to
    torchvision's ConvNeXt (``gamma`` [C] -> ``layer_scale`` [C, 1, 1]); every other key is kept. Raises KeyError
    for a backbone key with no counterpart.
    """
    out: dict[str, torch.Tensor] = {}
    for key, val in state.items():
        key = key.removeprefix("module.")
        if key.startswith("backbone."):
            new = _convnext_key_to_tv(key.removeprefix("backbone."))
            if new is None:
                raise KeyError(f"upstream backbone key {key!r} has no counterpart here")
            if _is_layer_scale(new):
                val = val.reshape(-1, 1, 1)
            key = f"backbone.{new}"
        out[key] = val
    return out


def ours_to_upstream(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`upstream_to_ours` (``layer_scale`` [C, 1, 1] -> ``gamma`` [C])."""
    out: dict[str, torch.Tensor] = {}
    for key, val in state.items():
        if key.startswith("backbone."):
            new = _tv_key_to_convnext(key.removeprefix("backbone."))
            if new is None:
                raise KeyError(f"backbone key {key!r} has no upstream counterpart")
            if _is_layer_scale(new):
                val = val.reshape(-1)
            key = f"backbone.{new}"
        out[key] = val
    return out


def load_backbone_weights(encoder: nn.Module, name: str, path: str | Path) -> None:
    """Load a local backbone checkpoint into ``encoder`` (built by :func:`build_encoder`).

    convnext_tiny: torchvision's ``convnext_tiny`` state dict (``features.*``; ``classifier.*`` ignored) or the
    ConvNeXt authors' (``downsample_layers.*``, ``stages.*``; ``head.*``/``norm.*`` ignored); the four output norms
    keep their initial values when the file has none (as upstream, which loads ImageNet weights non-strictly).
    resnet18: torchvision's state dict (``fc.*`` ignored). ``tiny`` takes no weights. InputError naming the file when
    it does not fit.
    """
    path = Path(path)
    if name == "tiny":
        raise InputError(path, "the 'tiny' MTNet encoder has no pretrained weights (set backbone_weights: null)")
    state = load_state_dict_file(path, "backbone weights")
    state = {k.removeprefix("module.").removeprefix("backbone."): v for k, v in state.items()}
    ignored = ("fc.",) if name == "resnet18" else ("classifier.", "head.", "norm.")
    if name == "convnext_tiny" and any(k.startswith("stages.") for k in state):
        mapped = {}
        for k, v in state.items():
            new = _convnext_key_to_tv(k)
            if new is not None:
                mapped[new] = v.reshape(-1, 1, 1) if _is_layer_scale(new) else v
            elif not k.startswith(ignored):
                mapped[k] = v  # reported as unexpected below
        state = mapped
    state = {k: v for k, v in state.items() if not k.startswith(ignored)}
    try:
        missing, unexpected = encoder.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        raise InputError(path, f"backbone weights do not fit the {name} encoder ({exc})") from None
    missing = [k for k in missing if not re.fullmatch(r"norm[0-3]\.(weight|bias)", k)]
    if missing or unexpected:
        raise InputError(path, f"backbone weights do not match the {name} encoder: missing {missing[:5]}, "
                               f"unexpected {unexpected[:5]}")


# -------------------------------------------------------------------------------------------------- fusion (BFM)


class _CoChannel(nn.Module):
    """Channel attention of the two gated streams: a shared 2-layer 1x1 MLP on their concatenated average and max
    pools; returns logits [N, C, 1, 1] (the sum of both paths)."""

    def __init__(self, c: int, ratio: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(2 * c, c // ratio, 1, bias=False)
        self.fc2 = nn.Conv2d(c // ratio, c, 1, bias=False)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        both = torch.cat([a, b], dim=1)
        mlp = lambda z: self.fc2(F.relu(self.fc1(z)))  # noqa: E731
        return mlp(F.adaptive_avg_pool2d(both, 1)) + mlp(F.adaptive_max_pool2d(both, 1))


class _CoSpatial(nn.Module):
    """Spatial attention: a 7x7 conv on the channel mean and max of both streams; returns logits [N, 1, H, W]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(4, 1, 7, padding=3, bias=False)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        stats = [a.mean(1, keepdim=True), a.amax(1, keepdim=True), b.mean(1, keepdim=True), b.amax(1, keepdim=True)]
        return self.conv1(torch.cat(stats, dim=1))


class _CoAttention(nn.Module):
    def __init__(self, c: int, ratio: int) -> None:
        super().__init__()
        self.channel = _CoChannel(c, ratio)
        self.spatial = _CoSpatial()


class _Fusion(nn.Module):
    """Motion-appearance fusion of one scale (upstream BFM): RGB map [N, C_in, h, w] + flow map -> [N, width, h, w].

    Both are projected to ``width`` channels (3x3 conv-BN-ReLU), scaled by two global gates (a conv on their
    concatenation, sigmoid, spatial mean), then a = sigmoid(channel + spatial co-attention) weights them:
    out = r (1 + a) + f (2 - a).
    """

    def __init__(self, c_in: int, width: int) -> None:
        super().__init__()
        self.r_down = nn.Sequential(_conv_bn_relu(c_in, width))
        self.f_down = nn.Sequential(_conv_bn_relu(c_in, width))
        self.gate_conv = nn.Sequential(_conv_bn_relu(2 * width, width), nn.Conv2d(width, 2, 3, padding=1))
        self.attn_fusion = _CoAttention(width, ratio=4)

    def forward(self, rgb: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        r, f = self.r_down(rgb), self.f_down(flow)
        gates = torch.sigmoid(self.gate_conv(torch.cat([r, f], dim=1))).mean(dim=(2, 3), keepdim=True)
        r, f = gates[:, :1] * r, gates[:, 1:2] * f
        a = torch.sigmoid(self.attn_fusion.channel(r, f) + self.attn_fusion.spatial(r, f))
        return r * (1 + a) + f * (2 - a)


# ------------------------------------------------------------------------------------------- temporal module (MTT)


class _FeedForward(nn.Module):
    """Token MLP C -> 4C -> C with ReLU; ``conv`` holds (Linear, ReLU, Dropout, Linear, Dropout) as upstream."""

    def __init__(self, c: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Linear(c, 4 * c), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                  nn.Linear(4 * c, c), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class _Projections(nn.Module):
    """Query/key/value/output linear maps of a multi-head attention over tokens [..., C]."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.query_embedding = nn.Linear(c, c)
        self.value_embedding = nn.Linear(c, c)
        self.key_embedding = nn.Linear(c, c)
        self.output_linear = nn.Linear(c, c)


class _WindowAttention(_Projections):
    """Local temporal attention: the h x w grid is cut into zone x zone windows; each window's tokens of all T frames
    attend to each other (``heads`` heads). Tokens [B*T, h*w, C] -> [B*T, h*w, C]."""

    def __init__(self, c: int, heads: int, zone: int) -> None:
        super().__init__(c)
        self.heads, self.zone = heads, zone

    def forward(self, x: torch.Tensor, t: int, h: int, w: int) -> torch.Tensor:
        z = self.zone
        pattern = "(b t) (zy hy zx wx) (g d) -> (b zy zx) g (t hy wx) d"
        dims = {"t": t, "zy": z, "zx": z, "hy": h // z, "wx": w // z, "g": self.heads}
        q, k, v = (rearrange(proj(x), pattern, **dims)
                   for proj in (self.query_embedding, self.key_embedding, self.value_embedding))
        out = F.scaled_dot_product_attention(q, k, v)
        back = "(b zy zx) g (t hy wx) d -> (b t) (zy hy zx wx) (g d)"
        return self.output_linear(rearrange(out, back, **dims))


class _SummaryAttention(_Projections):
    """Global temporal attention: every token of the clip attends to all tokens of all T frames after a 2x2 strided
    conv (``sr``) and a LayerNorm summarised them. Tokens [B*T, h*w, C] -> [B*T, h*w, C]."""

    def __init__(self, c: int, heads: int) -> None:
        super().__init__(c)
        self.heads = heads
        self.sr = nn.Conv2d(c, c, kernel_size=2, stride=2)
        self.norm = nn.LayerNorm(c)

    def forward(self, x: torch.Tensor, t: int, h: int, w: int) -> torch.Tensor:
        q = rearrange(self.query_embedding(x), "(b t) n (g d) -> b g (t n) d", t=t, g=self.heads)
        pooled = self.sr(rearrange(x, "bt (h w) c -> bt c h w", h=h, w=w))
        summary = self.norm(rearrange(pooled, "bt c h w -> bt (h w) c"))
        k, v = (rearrange(proj(summary), "(b t) m (g d) -> b g (t m) d", t=t, g=self.heads)
                for proj in (self.key_embedding, self.value_embedding))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.output_linear(rearrange(out, "b g (t n) d -> (b t) n (g d)", t=t))


class _TemporalLayer(nn.Module):
    """One pre-norm layer of the temporal module: local attention, MLP, global attention, MLP (each residual)."""

    def __init__(self, c: int, heads: int, zone: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.local_attention = _WindowAttention(c, heads, zone)
        self.global_attention = _SummaryAttention(c, heads)
        self.ffn1 = _FeedForward(c, dropout)
        self.ffn2 = _FeedForward(c, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.norm3, self.norm4 = nn.LayerNorm(c), nn.LayerNorm(c)

    def forward(self, x: torch.Tensor, t: int, h: int, w: int) -> torch.Tensor:
        x = x + self.local_attention(self.norm1(x), t, h, w)
        x = x + self.ffn1(self.norm2(x))
        x = x + self.global_attention(self.norm3(x), t, h, w)
        return x + self.ffn2(self.norm4(x))


def _run_temporal(layers: nn.ModuleList, feat: torch.Tensor, t: int) -> torch.Tensor:
    """Apply temporal layers to a map [B*T, C, h, w] of clips of ``t`` frames; returns the same shape."""
    h, w = feat.shape[-2:]
    x = rearrange(feat, "n c h w -> n (h w) c")
    for layer in layers:
        x = layer(x, t, h, w)
    return rearrange(x, "n (h w) c -> n c h w", h=h, w=w)


# ---------------------------------------------------------------------------------------- cascaded decoder (CTD)


class _ChannelGate(nn.Module):
    """Channel attention: sigmoid of a shared 1x1 MLP (C -> C/16 -> C) on the average plus on the max pool."""

    def __init__(self, c: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, c // reduction)
        self.fc1 = nn.Conv2d(c, hidden, 1, bias=False)
        self.fc2 = nn.Conv2d(hidden, c, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mlp = lambda z: self.fc2(F.relu(self.fc1(z)))  # noqa: E731
        return torch.sigmoid(mlp(F.adaptive_avg_pool2d(x, 1)) + mlp(F.adaptive_max_pool2d(x, 1)))


def _depthwise_bn_relu(c: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c, c, 7, padding=3, groups=c), nn.BatchNorm2d(c), nn.ReLU())


class _DecoderMixer(nn.Module):
    """Spatial part of a decoder layer: depth-wise 7x7 conv-BN-ReLU gated by channel attention; with a coarser
    stage's output, that output (upsampled) is added and mixed by a second depth-wise conv-BN-ReLU."""

    def __init__(self, c: int, cross_scale: bool) -> None:
        super().__init__()
        self.early_stage = _depthwise_bn_relu(c)
        self.early_ca = _ChannelGate(c)
        if cross_scale:
            self.late_stage = _depthwise_bn_relu(c)

    def forward(self, x: torch.Tensor, coarser: torch.Tensor | None) -> torch.Tensor:
        y = self.early_stage(x)
        y = y * self.early_ca(y)
        if coarser is not None:
            y = self.late_stage(y + _upsample(coarser, y.shape[-2:]))
        return y


class _DecoderLayer(nn.Module):
    """x + mixer(x, coarser), then a residual pre-norm token MLP. [N, C, h, w] -> [N, C, h, w]."""

    def __init__(self, c: int, cross_scale: bool) -> None:
        super().__init__()
        self.attention = _DecoderMixer(c, cross_scale)
        self.ffn = _FeedForward(c)
        self.norm2 = nn.LayerNorm(c)

    def forward(self, x: torch.Tensor, coarser: torch.Tensor | None) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = x + self.attention(x, coarser)
        tokens = rearrange(x, "n c h w -> n (h w) c")
        tokens = tokens + self.ffn(self.norm2(tokens))
        return rearrange(tokens, "n (h w) c -> n c h w", h=h, w=w)


class _DecoderStage(nn.Module):
    def __init__(self, c: int, n_layers: int, cross_scale: bool) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_DecoderLayer(c, cross_scale) for _ in range(n_layers))

    def forward(self, x: torch.Tensor, coarser: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, coarser)  # every layer sees the same coarser-stage output, as upstream
        return x


class _CascadedDecoder(nn.Module):
    """Four decoder stages from the coarsest scale (``stage1``, stride 32) to the finest (``stage4``, stride 4); each
    later stage also reads the previous stage's output."""

    def __init__(self, c: int, n_layers: int) -> None:
        super().__init__()
        self.stage1 = _DecoderStage(c, n_layers, cross_scale=False)
        self.stage2 = _DecoderStage(c, n_layers, cross_scale=True)
        self.stage3 = _DecoderStage(c, n_layers, cross_scale=True)
        self.stage4 = _DecoderStage(c, n_layers, cross_scale=True)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """feats: maps at strides (4, 8, 16, 32); returns the decoded maps in the same order."""
        d32 = self.stage1(feats[3])
        d16 = self.stage2(feats[2], d32)
        d8 = self.stage3(feats[1], d16)
        d4 = self.stage4(feats[0], d8)
        return [d4, d8, d16, d32]


class _FPN(nn.Module):
    """Top-down pyramid over 4 maps of ``c`` channels (strides 4..32): 1x1 top, 1x1 laterals, 3x3 smoothing."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.toplayer = nn.Conv2d(c, c, 1)
        self.smooth1, self.smooth2, self.smooth3 = (_conv_bn_relu_biased(c, c, 3) for _ in range(3))
        self.latlayer1, self.latlayer2, self.latlayer3 = (_conv_bn_relu_biased(c, c, 1) for _ in range(3))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """feats: strides (4, 8, 16, 32) -> pyramid maps at the same strides."""
        c4, c8, c16, c32 = feats
        p32 = self.toplayer(c32)
        p16 = _upsample(p32, c16.shape[-2:]) + self.latlayer1(c16)
        p8 = _upsample(p16, c8.shape[-2:]) + self.latlayer2(c8)
        p4 = _upsample(p8, c4.shape[-2:]) + self.latlayer3(c4)
        return [self.smooth3(p4), self.smooth2(p8), self.smooth1(p16), p32]


def _head(c: int) -> nn.Sequential:
    """3x3 conv-BN-ReLU then a 1x1 conv to one logit."""
    return nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, 1, 1))


# ---------------------------------------------------------------------------------------------------------- MTNet


class MTNet(nn.Module):
    """Two-stream (RGB + flow-as-RGB) video object segmentation network with a temporal module and cascaded decoders.

    encoder: one of :data:`ENCODERS` (shared by both streams); width: channels of the fused features, the temporal
    module and the decoders (upstream 96; a multiple of ``heads``, at least 16 for the 1/16 channel attention);
    n_frames: the training clip length (any T works in :meth:`forward`); backbone_weights: local encoder checkpoint
    (:func:`load_backbone_weights`) or None for random weights; heads, mtt_layers, ctd_layers, zone: upstream's 4, 4,
    4, 2. Inputs must be multiples of 32 x zone pixels in both directions (:attr:`size_multiple`).
    """

    def __init__(self, encoder: str, width: int, n_frames: int, backbone_weights: str | Path | None = None,
                 heads: int = UPSTREAM_HEADS, mtt_layers: int = UPSTREAM_MTT_LAYERS,
                 ctd_layers: int = UPSTREAM_CTD_LAYERS, zone: int = UPSTREAM_ZONE) -> None:
        super().__init__()
        if width < 16 or width % heads:
            raise ValueError(f"MTNet width must be >= 16 and a multiple of heads={heads}, got {width}")
        if n_frames < 1:
            raise ValueError(f"MTNet n_frames must be >= 1, got {n_frames}")
        self.encoder_name, self.width, self.n_frames, self.zone = encoder, width, n_frames, zone
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.backbone = build_encoder(encoder, width)
        if backbone_weights:
            load_backbone_weights(self.backbone, encoder, backbone_weights)
        for i, c in enumerate(self.backbone.channels, start=1):
            self.add_module(f"fusion{i}", _Fusion(c, width))
        self.transformer3 = nn.ModuleList(_TemporalLayer(width, heads, zone) for _ in range(mtt_layers))
        self.transformer4 = nn.ModuleList(_TemporalLayer(width, heads, zone) for _ in range(mtt_layers))
        self.decoder = _CascadedDecoder(width, ctd_layers)
        self.fpn = _FPN(width)
        self.cls2, self.cls3, self.cls4, self.cls5 = (_head(width) for _ in range(4))

    @property
    def size_multiple(self) -> int:
        """Input heights and widths must be multiples of this (stride 32 x the temporal windows per side)."""
        return STRIDES[-1] * self.zone

    def forward(self, rgb: torch.Tensor, flow_rgb: torch.Tensor) -> list[torch.Tensor]:
        """Segment clips.

        rgb, flow_rgb: float [B, T, 3, H, W] in [0, 1] (frames and their flow rendered as colour), H and W multiples
        of :attr:`size_multiple`. Returns 4 logit maps [B*T, 1, H, W] (frame b*T + t), finest (stride 4) first,
        then strides 8, 16, 32, each upsampled to H x W.
        """
        if rgb.shape != flow_rgb.shape or rgb.ndim != 5 or rgb.shape[2] != 3:
            raise ValueError(f"rgb and flow_rgb must both be [B, T, 3, H, W], got {tuple(rgb.shape)} and "
                             f"{tuple(flow_rgb.shape)}")
        t, (h, w) = rgb.shape[1], rgb.shape[-2:]
        m = self.size_multiple
        if h % m or w % m:
            raise ValueError(f"MTNet input size {h}x{w} is not a multiple of {m} in both directions")
        # one encoder pass over both streams: the same batch statistics for BatchNorm encoders in training as in
        # their running statistics at inference (ConvNeXt's LayerNorms give upstream's two separate passes exactly)
        both = torch.cat([rgb.flatten(0, 1), flow_rgb.flatten(0, 1)])
        feats = self.backbone((both - self.mean) / self.std)
        n = rgb.shape[0] * t
        feats_rgb, feats_flow = [f[:n] for f in feats], [f[n:] for f in feats]
        fused = [getattr(self, f"fusion{i + 1}")(a, b) for i, (a, b) in enumerate(zip(feats_rgb, feats_flow,
                                                                                         strict=True))]
        fused[2] = _run_temporal(self.transformer3, fused[2], t)
        fused[3] = _run_temporal(self.transformer4, fused[3], t)
        pyramid = self.fpn(self.decoder(fused))
        heads = (self.cls2, self.cls3, self.cls4, self.cls5)
        return [_upsample(head(p), (h, w)) for head, p in zip(heads, pyramid, strict=True)]

    def load_released(self, path: str | Path) -> None:
        """Load an upstream MTNet checkpoint (``{"it", "network"}`` as the authors' ``MTNetEngine`` saves it, or a bare
        state dict; ``module.`` prefixes dropped) through :func:`upstream_to_ours`, strictly. Only the paper's
        configuration fits (``encoder="convnext_tiny"``, ``width=96``, upstream layer counts): InputError otherwise."""
        path = Path(path)
        obj = load_torch_file(path, "MTNet checkpoint", weights_only=False)
        state = obj.get("network", obj) if isinstance(obj, dict) else obj
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise InputError(path, "not an MTNet checkpoint (a state dict, or a dict with 'network', expected)")
        try:
            self.load_state_dict(upstream_to_ours(state))
        except (KeyError, RuntimeError) as exc:
            raise InputError(path, f"does not fit MTNet({self.encoder_name}, width={self.width}) "
                                   f"({str(exc).splitlines()[0]})") from None
