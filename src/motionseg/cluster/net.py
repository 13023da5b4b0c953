"""ClusterNet building blocks: flow auto-encoder, border-prototype saliency, Sinkhorn prototype clustering and the
reconstruction + boundary-guided contrastive (BGC) loss (../shared/reference/methods.md, section 4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FlowAE(nn.Module):
    """Convolutional auto-encoder on a colour-wheel flow image.

    Encoder: conv3x3(3->c0), ReLU, maxpool, conv3x3(c0->c1), ReLU, maxpool, conv3x3(c1->c2), ReLU, conv1x1(c2->n_z):
    per-pixel embeddings at 1/4 resolution. Decoder: conv3x3(n_z->c1), ReLU, bilinear x2, conv3x3(c1->c0), ReLU,
    bilinear x2, conv3x3(c0->3), tanh.
    """

    def __init__(self, channels: list[int], n_z: int) -> None:
        super().__init__()
        c0, c1, c2 = channels
        self.enc = nn.Sequential(
            nn.Conv2d(3, c0, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c0, c1, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c2, n_z, 1),
        )
        self.dec1 = nn.Sequential(nn.Conv2d(n_z, c1, 3, padding=1), nn.ReLU(inplace=True))
        self.dec2 = nn.Sequential(nn.Conv2d(c1, c0, 3, padding=1), nn.ReLU(inplace=True))
        self.dec3 = nn.Conv2d(c0, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x float [B, 3, h, w] in [-1, 1] (h, w divisible by 4) -> (embeddings [B, n_z, h/4, w/4],
        recon [B, 3, h, w])."""
        z = self.enc(x)
        y = F.interpolate(self.dec1(z), scale_factor=2, mode="bilinear", align_corners=False)
        y = F.interpolate(self.dec2(y), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return z, torch.tanh(self.dec3(y))


def border_saliency(z: torch.Tensor, band: int) -> torch.Tensor:
    """Border-prototype saliency of embeddings z [B, C, h, w]: float [B, h, w] in [0, 1].

    The background prototype is the mean embedding of a ``band``-pixel border; saliency = 1 - minmax(cos(z, proto)).
    """
    zn = F.normalize(z, dim=1)
    mask = torch.zeros(z.shape[-2:], dtype=torch.bool, device=z.device)
    mask[:band], mask[-band:], mask[:, :band], mask[:, -band:] = True, True, True, True
    proto = F.normalize(zn[:, :, mask].mean(dim=2), dim=1)  # [B, C]
    sim = torch.einsum("bchw,bc->bhw", zn, proto)
    lo = sim.flatten(1).min(dim=1).values[:, None, None]
    hi = sim.flatten(1).max(dim=1).values[:, None, None]
    return 1.0 - (sim - lo) / (hi - lo).clamp_min(1e-6)


def sinkhorn(scores: torch.Tensor, eps: float, n_iters: int) -> torch.Tensor:
    """Sinkhorn-Knopp on similarity scores [N, K]: soft assignment Q [N, K] with rows summing to 1 and columns summing
    to N / K after the final column step is followed by the row step (SwAV-style equipartition)."""
    q = torch.exp((scores - scores.max()) / eps).double()
    n, k = q.shape
    q = q / q.sum()
    for _ in range(n_iters):
        q = q / q.sum(dim=0, keepdim=True) / k  # each prototype gets 1/K of the mass
        q = q / q.sum(dim=1, keepdim=True) / n  # each sample gets 1/N of the mass
    return (q * n).float()


def cluster_embeddings(
    z: torch.Tensor, n_clusters: int, rounds: int, eps: float, sk_iters: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Prototype clustering of embeddings z [N, C].

    Prototypes start random (l2-normalised, drawn from ``generator``); ``rounds`` x [cosine similarity -> Sinkhorn ->
    hard argmax -> prototype = normalised mean of its members]. Returns (labels long [N], prototypes [K, C]).
    """
    zn = F.normalize(z, dim=1)
    protos = F.normalize(torch.randn(n_clusters, z.shape[1], generator=generator).to(z), dim=1)
    labels = torch.zeros(z.shape[0], dtype=torch.long, device=z.device)
    for _ in range(rounds):
        q = sinkhorn(zn @ protos.T, eps, sk_iters)
        labels = q.argmax(dim=1)
        onehot = F.one_hot(labels, n_clusters).to(zn)
        counts = onehot.sum(dim=0)
        means = onehot.T @ zn
        protos = torch.where(counts[:, None] > 0, F.normalize(means, dim=1), protos)
    return labels, protos


def bgc_loss(z: torch.Tensor, saliency: torch.Tensor, threshold: float, temperature: float) -> torch.Tensor:
    """Boundary-guided contrastive loss of embeddings z [B, C, h, w] with saliency [B, h, w] in [0, 1].

    Pixels with saliency >= ``threshold`` are pseudo-foreground; each pixel is pulled to the mean of its own group
    against the other group's mean (InfoNCE over the two prototypes, temperature ``temperature``).
    """
    zn = F.normalize(z, dim=1).flatten(2)  # [B, C, N]
    fg = (saliency.detach() >= threshold).flatten(1).to(zn)  # [B, N]
    losses = []
    for b in range(z.shape[0]):
        nf, nb = fg[b].sum(), (1 - fg[b]).sum()
        if nf < 1 or nb < 1:
            continue
        pf = F.normalize((zn[b] * fg[b]).sum(1) / nf, dim=0)
        pb = F.normalize((zn[b] * (1 - fg[b])).sum(1) / nb, dim=0)
        logits = torch.stack([pb @ zn[b], pf @ zn[b]], dim=1) / temperature  # [N, 2]
        losses.append(F.cross_entropy(logits, fg[b].long()))
    if not losses:
        return z.sum() * 0.0
    return torch.stack(losses).mean()


def total_loss(model: FlowAE, x: torch.Tensor, cfg: dict) -> torch.Tensor:
    """Reconstruction MSE + bgc_weight x BGC loss on a batch of flow images x [B, 3, h, w]."""
    z, rec = model(x)
    sal = border_saliency(z, int(cfg["border_px"]))
    return F.mse_loss(rec, x) + float(cfg["bgc_weight"]) * bgc_loss(
        z, sal, float(cfg["saliency_threshold"]), float(cfg["temperature"])
    )
