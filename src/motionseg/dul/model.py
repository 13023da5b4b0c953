"""The DUL network (Araslanov et al., NeurIPS 2021; visinf/dense-ulearn-vos, snapshot 88e5e35): a ResNet-18 trained
from scratch whose ``res4`` features lie at 1/8 of the input resolution, plus the projection head ``emb_q``.

Facts of the upstream code reproduced here (our own implementation):

- ``models/resnet18.py`` L29-40: torchvision's ResNet-18 with the stride of every ``Conv2d`` in ``layer3`` and
  ``layer4`` set to 1 (the 3x3 convolutions and the 1x1 ``downsample`` convolutions; no dilation), so ``layer2``,
  ``layer3`` and ``layer4`` all run at 1/8 (conv1 /2, maxpool /4, layer2 /8); L23-27 and L60-66: ``fc`` and
  ``avgpool`` are removed (``maxpool`` is kept), ``fdim`` = 512; L43-54: the forward returns ``(layer4, layer3)``.
- ``models/net.py`` L12-18, L29: ``emb_q`` = ``MLP(fdim, FEATURE_DIM)`` = 1x1 conv (fdim -> fdim, bias) + BN +
  ReLU + 1x1 conv (fdim -> FEATURE_DIM, bias), children named ``conv1``, ``bn1``, ``relu``, ``conv2``;
  ``core/config.py`` L89: ``MODEL.FEATURE_DIM`` = 128. ``models/net.py`` L41-55: forward returns
  ``(key, res3, res4)``, each L2-normalised over channels when ``norm`` (the default).
- ``models/__init__.py`` L11-22 / ``models/framework.py`` L13-20: the trained module is ``Framework`` holding the
  ``Net`` as ``fast_net``, so snapshot keys read ``fast_net.backbone.<resnet>`` and ``fast_net.emb_q.<mlp>``.
- ``utils/checkpoints.py`` L53-58, L67-70 and ``infer_vos.py`` L89-94, L314: a snapshot is ``torch.save``'d
  ``{"model": state_dict, "opt": ..., "score": ..., "epoch": ...}``; a ``module.`` prefix (DataParallel) is removed
  before loading. The released ``*_res4.pth`` files are such snapshots.
- ``datasets/dataloader_base.py`` L16-17: inputs are RGB in [0, 1] normalised with the ImageNet mean/std.

:class:`DULModel` keeps exactly these parameter names and shapes for the full configuration (``width=64``,
``blocks=2``, ``feature_dim=128``), so :func:`load_snapshot` loads a released snapshot with ``strict=True``.
``width``/``blocks`` shrink the network for the CPU (stage widths ``width * (1, 2, 4, 8)``, ``blocks`` BasicBlocks
per stage) under the same naming scheme.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import resnet18
from torchvision.models.resnet import BasicBlock

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FEATURE_KEYS = ("res3", "res4", "key")
STRIDE = 8  # res3 and res4 lie at 1/8 of the input resolution


@dataclass(frozen=True)
class DULArch:
    """Size of a DUL network: ``width`` = channels of ``conv1`` and ``layer1`` (64 in DUL), ``blocks`` = BasicBlocks
    per stage (2 in ResNet-18), ``feature_dim`` = channels of the projection ``key`` (128 in DUL)."""

    width: int = 64
    blocks: int = 2
    feature_dim: int = 128

    @property
    def res4_dim(self) -> int:
        """Channels of ``res4`` (512 for the full configuration)."""
        return 8 * self.width

    @property
    def res3_dim(self) -> int:
        """Channels of ``res3`` (256 for the full configuration)."""
        return 4 * self.width


FULL_ARCH = DULArch()


class MLP(nn.Sequential):
    """The projection head ``emb_q``: 1x1 conv (n_in -> n_in) + BN + ReLU + 1x1 conv (n_in -> n_out)."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.add_module("conv1", nn.Conv2d(n_in, n_in, 1, 1))
        self.add_module("bn1", nn.BatchNorm2d(n_in))
        self.add_module("relu", nn.ReLU(True))
        self.add_module("conv2", nn.Conv2d(n_in, n_out, 1, 1))


def _stage(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """A ResNet stage of torchvision BasicBlocks named ``0``, ``1``, ... with a ``downsample`` (1x1 conv + BN) on
    block 0 where the stride or the width changes, as ``torchvision.models.resnet.ResNet._make_layer`` builds it."""
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))
    layers = [BasicBlock(inplanes, planes, stride, downsample)]
    layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class ResNetTrunk(nn.Module):
    """ResNet-18 trunk without ``avgpool``/``fc``; ``layer3``/``layer4`` at stride 1 (res3, res4 at 1/8).

    The full configuration takes its modules from ``torchvision.models.resnet18(weights=None)`` (then sets the strides
    as upstream does); a reduced one builds the same structure with torchvision BasicBlocks and torchvision's
    initialisation (Kaiming-normal fan-out convolutions, BN weight 1 / bias 0).
    """

    def __init__(self, width: int = 64, blocks: int = 2) -> None:
        super().__init__()
        if width == 64 and blocks == 2:
            tv = resnet18(weights=None)
            self.conv1, self.bn1, self.relu, self.maxpool = tv.conv1, tv.bn1, tv.relu, tv.maxpool
            self.layer1, self.layer2, self.layer3, self.layer4 = tv.layer1, tv.layer2, tv.layer3, tv.layer4
            for layer in (self.layer3, self.layer4):
                for m in layer.modules():
                    if isinstance(m, nn.Conv2d):
                        m.stride = (1, 1)
        else:
            w = int(width)
            self.conv1 = nn.Conv2d(3, w, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(w)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = _stage(w, w, blocks, 1)
            self.layer2 = _stage(w, 2 * w, blocks, 2)
            self.layer3 = _stage(2 * w, 4 * w, blocks, 1)
            self.layer4 = _stage(4 * w, 8 * w, blocks, 1)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
        self.fdim = 8 * int(width)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x float [B, 3, H, W] (normalised) -> (res4 [B, 8w, ceil(H/8), ceil(W/8)], res3 [B, 4w, same])."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        x3 = self.layer3(x)
        return self.layer4(x3), x3


class DULNet(nn.Module):
    """Upstream ``Net``: ``backbone`` (the trunk) and ``emb_q`` (the projection head)."""

    def __init__(self, arch: DULArch = FULL_ARCH) -> None:
        super().__init__()
        self.backbone = ResNetTrunk(arch.width, arch.blocks)
        self.emb_q = MLP(self.backbone.fdim, arch.feature_dim)

    def forward(self, x: torch.Tensor, norm: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x float [B, 3, H, W] -> (key [B, feature_dim, h, w], res3 [B, 4w, h, w], res4 [B, 8w, h, w]) with
        h = ceil(H/8), w = ceil(W/8); L2-normalised over channels when ``norm``."""
        res4, res3 = self.backbone(x)
        key = self.emb_q(res4)
        if norm:
            key, res3, res4 = (F.normalize(v, p=2, dim=1) for v in (key, res3, res4))
        return key, res3, res4


class DULModel(nn.Module):
    """Upstream ``Framework`` as far as its parameters go: the network lives in ``fast_net`` (snapshot key prefix
    ``fast_net.``). The losses are in :mod:`motionseg.dul.loss`."""

    def __init__(self, arch: DULArch = FULL_ARCH) -> None:
        super().__init__()
        self.arch = arch
        self.fast_net = DULNet(arch)

    def forward(self, x: torch.Tensor, norm: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x float [B, 3, H, W] normalised images -> (key, res3, res4), see :meth:`DULNet.forward`."""
        return self.fast_net(x, norm)

    def features(self, x: torch.Tensor, key: str = "res4") -> torch.Tensor:
        """One L2-normalised feature map [B, C, ceil(H/8), ceil(W/8)]: ``res4`` (DUL's evaluation layer,
        ``launch/infer_vos.sh`` KEY=res4), ``res3`` or ``key``."""
        if key not in FEATURE_KEYS:
            raise ValueError(f"feature key must be one of {FEATURE_KEYS}, got {key!r}")
        k, r3, r4 = self.fast_net(x, True)
        return {"key": k, "res3": r3, "res4": r4}[key]


def build_model(arch: DULArch | None = None) -> DULModel:
    """A randomly initialised DUL model (torch's global RNG draws the weights: seed it first)."""
    return DULModel(arch or FULL_ARCH)


def normalise_frames(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 RGB frames [T, H, W, 3] -> float32 [T, 3, H, W], ImageNet-normalised as upstream's loaders do."""
    x = torch.as_tensor(np.asarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def arch_from_state_dict(state: dict[str, torch.Tensor]) -> DULArch:
    """The :class:`DULArch` whose parameter shapes a (prefix-free) DUL state dict holds."""
    try:
        width = int(state["fast_net.backbone.conv1.weight"].shape[0])
        feature_dim = int(state["fast_net.emb_q.conv2.weight"].shape[0])
    except KeyError as exc:
        raise ValueError(f"not a DUL state dict (missing {exc.args[0]})") from None
    blocks = len({k.split(".")[3] for k in state if k.startswith("fast_net.backbone.layer1.")})
    return DULArch(width=width, blocks=blocks, feature_dim=feature_dim)


def _strip_module(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {k.replace("module.", ""): v for k, v in state.items()}


def load_snapshot(path: str | Path, map_location: str | torch.device = "cpu") -> DULModel:
    """Load a DUL snapshot: a released ``*_res4.pth`` or a checkpoint written by
    :func:`motionseg.dul.train.run_train_dul` (both ``{"model": state_dict, ...}``; a bare state dict is accepted
    too). The architecture is read from the parameter shapes and the weights are loaded with ``strict=True``.
    Returns the model in eval mode on ``map_location``; InputError naming the file when it is missing, unreadable or
    not a DUL snapshot."""
    from motionseg.io.checkpoints import load_torch_file
    from motionseg.io.errors import InputError

    data = load_torch_file(path, "DUL snapshot", weights_only=True)
    state = data["model"] if isinstance(data, dict) and "model" in data else data
    if not isinstance(state, dict):
        raise InputError(path, "not a DUL snapshot (expected {'model': state_dict} or a state dict)")
    state = _strip_module(state)
    try:
        model = DULModel(arch_from_state_dict(state))
        model.load_state_dict(state, strict=True)
    except (ValueError, RuntimeError) as exc:
        raise InputError(path, f"not a DUL snapshot: {str(exc).splitlines()[0]}") from None
    return model.to(map_location).eval()


def snapshot_dict(model: DULModel, **extra: Any) -> dict[str, Any]:
    """The upstream snapshot layout ``{"model": state_dict, ...}`` (tensors on the CPU), plus ``arch`` and
    ``extra`` entries (``epoch``, ``score``, provenance)."""
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {"model": state, "arch": asdict(model.arch), **extra}


__all__ = ["FEATURE_KEYS", "FULL_ARCH", "IMAGENET_MEAN", "IMAGENET_STD", "STRIDE", "DULArch", "DULModel", "DULNet",
           "MLP", "ResNetTrunk", "arch_from_state_dict", "build_model", "load_snapshot", "normalise_frames",
           "snapshot_dict"]
