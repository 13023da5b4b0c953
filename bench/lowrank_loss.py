"""Cost of LRTL's trajectory loss: the D x D Gram eigenproblem used in training against the SVD of the D x N matrix.

    .venv/bin/python bench/lowrank_loss.py                 # CPU (and CUDA where torch sees one), 2 threads
    .venv/bin/python bench/lowrank_loss.py --batch 8 --tracks 4000 --devices cuda

Both paths compute the same loss (sum of the singular values beyond ``--rank`` of each segment's mask-weighted
trajectory matrix, :func:`motionseg.losses.trajectory_lowrank_loss`) and its gradient, on random low-rank-plus-noise
trajectories of ``--tracks`` tracks over 2*``--context``+1 frames and softmax masks of ``--segments`` segments for
``--batch`` samples: the reference does one ``torch.linalg.svdvals`` on [B, K, D, N] in the input dtype; the
training path does one Gram matrix per sample and one eigenproblem for the batch, as the training loop does. Prints
ms per forward+backward, the ratio to the reference measured in the same run, and the relative difference of the
loss values and gradients.
"""

from __future__ import annotations

import argparse
import time

import torch

from motionseg.losses import trajectory_gram, truncated_nuclear_norm


def reference(logits: torch.Tensor, traj: torch.Tensor, rank: int) -> torch.Tensor:
    """SVD of the full [B, K, D, N] matrices; the loss as trajectory_lowrank_loss defines it."""
    p = traj.unsqueeze(1) * logits.softmax(1).clamp(1e-6, 1 - 1e-6).unsqueeze(2)
    return torch.linalg.svdvals(p)[..., rank:].sum(-1).mean() / traj.shape[-1] ** 0.5


def training_path(logits: torch.Tensor, traj: torch.Tensor, rank: int) -> torch.Tensor:
    """One Gram matrix per sample (the loop samples tracks per frame), one eigenproblem call for the batch."""
    masks = logits.softmax(1)
    grams = [trajectory_gram(masks[i:i + 1], traj[i:i + 1]) for i in range(len(traj))]
    return truncated_nuclear_norm(torch.cat(grams), rank).mean().to(logits.dtype)


def timed(fn, logits: torch.Tensor, traj: torch.Tensor, rank: int, reps: int) -> tuple[float, float, torch.Tensor]:
    """(ms per forward+backward, loss, gradient) after one untimed call."""
    def once() -> tuple[float, torch.Tensor]:
        x = logits.clone().requires_grad_()
        loss = fn(x, traj, rank)
        loss.backward()
        return loss.item(), x.grad

    once()
    if logits.is_cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        value, grad = once()
    if logits.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / reps * 1e3, value, grad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=8, help="samples per batch (train.batch_size)")
    ap.add_argument("--segments", type=int, default=4, help="K")
    ap.add_argument("--tracks", type=int, nargs="+", default=[1000, 4000], help="N (train.n_tracks)")
    ap.add_argument("--context", type=int, default=20,
                    help="train.context (config.yaml: 20): D = 2 * (2 * context + 1)")
    ap.add_argument("--rank", type=int, default=5, help="train.rank (config.yaml: 5)")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    d = 2 * (2 * args.context + 1)
    print(f"B {args.batch}, K {args.segments}, D {d}, rank {args.rank}, float32 input; torch {torch.__version__}, "
          f"{args.threads} CPU threads")
    for dev in args.devices:
        if dev == "cuda" and not torch.cuda.is_available():
            print("cuda: not visible to torch, skipped")
            continue
        for n in args.tracks:
            g = torch.Generator().manual_seed(n)
            low = torch.randn(args.batch, d, 3, generator=g) @ torch.randn(args.batch, 3, n, generator=g)
            traj = (100 * low + torch.randn(args.batch, d, n, generator=g)).to(dev)
            logits = torch.randn(args.batch, args.segments, n, generator=g).to(dev)
            ms_ref, v_ref, g_ref = timed(reference, logits, traj, args.rank, args.reps)
            ms_new, v_new, g_new = timed(training_path, logits, traj, args.rank, args.reps)
            dg = ((g_new - g_ref).norm() / g_ref.norm()).item()
            print(f"{dev:4s} N {n:5d}: svdvals [B,K,D,N] {ms_ref:8.2f} ms   gram+eigvalsh {ms_new:8.2f} ms   "
                  f"speed-up x{ms_ref / ms_new:5.2f}   loss rel diff {abs(v_new - v_ref) / abs(v_ref):.1e}   "
                  f"grad rel diff {dg:.1e}")


if __name__ == "__main__":
    main()
