"""Segmentation networks: output shapes, K, local backbone weights, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from motionseg.io.errors import InputError
from motionseg.models import build_model


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("hw", [(32, 48), (37, 50)])
@pytest.mark.parametrize("k", [2, 4])
def test_unet_shapes_any_size(hw: tuple[int, int], k: int) -> None:
    model = build_model("unet", k, width=4, depth=3)
    out = model(torch.rand(2, 3, *hw))
    assert out.shape == (2, k, *hw)
    out.softmax(1).sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_unet_same_seed_same_weights_and_output() -> None:
    x = torch.rand(1, 3, 16, 24)
    torch.manual_seed(5)
    a = build_model("unet", 3, width=4, depth=2)
    torch.manual_seed(5)
    b = build_model("unet", 3, width=4, depth=2)
    assert torch.equal(a(x), b(x))


def test_resnet_shape_and_local_backbone_weights(tmp_path: Path) -> None:
    import torchvision

    torch.manual_seed(0)
    ref = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(ref.state_dict(), path)
    model = build_model("resnet18", 4, width=16, backbone_weights=str(path))
    assert torch.equal(model.stem[0].weight, ref.conv1.weight)
    assert torch.equal(model.layers[3][1].conv2.weight, ref.layer4[1].conv2.weight)
    out = model(torch.rand(1, 3, 64, 96))
    assert out.shape == (1, 4, 64, 96)


def test_backbone_weights_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        build_model("resnet18", 2, width=8, backbone_weights=str(tmp_path / "missing.pth"))
    bad = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(InputError, match="bad.pth"):
        build_model("resnet18", 2, width=8, backbone_weights=str(bad))
    with pytest.raises(ValueError, match="only used by the ResNet"):
        build_model("unet", 2, width=8, backbone_weights=str(bad))


def test_unknown_model_and_bad_k() -> None:
    with pytest.raises(ValueError, match="unknown model"):
        build_model("vit", 2, width=8)
    with pytest.raises(ValueError, match="at least 2"):
        build_model("unet", 1, width=8)
