"""Image -> K soft masks networks.

:func:`build_model` returns a module mapping an RGB batch float [B, 3, H, W] in [0, 1] to segment logits
[B, K, H, W] (softmax over K gives the masks). ``unet`` is a small UNet that trains on a CPU; ``resnet18`` /
``resnet34`` / ``resnet50`` use a torchvision ResNet backbone (weights from a local file when given) with a light
upsampling decoder, for GPU configurations.
"""

from motionseg.models.nets import MODEL_NAMES, ResNetSeg, UNet, build_model

__all__ = ["MODEL_NAMES", "ResNetSeg", "UNet", "build_model"]
