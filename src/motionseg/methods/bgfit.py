"""``bgfit``: robust background-motion fit and motion residual (the skeleton's first GT-free method).

Per frame t:

1. motion evidence p_t from the flows of frame t to both neighbours (``directions: both``; ``forward``: t -> t+1
   only, the last frame t -> t-1) at ``work_height``: residual against a RANSAC homography and a robust polynomial
   background flow, adaptive threshold, forward-backward occlusion check, clean-up
   (:mod:`motionseg.methods.evidence`, config section ``evidence``);
2. temporal smoothing: ``p_t <- (1-a) p_t + a * warp(s_{t-1})`` (a = ``temporal_smoothing``, warped with the backward
   flow t -> t-1), where the state s_{t-1} is the previous frame's refined mask (``refine.feedback``) or its p;
3. appearance refinement on the RGB frame (:mod:`motionseg.methods.refine`, section ``refine``; skipped when the
   flow source has no frames), giving the mask at the frame size.

Output: 2 segments (0 = background, 1 = foreground) with probabilities ``[1-p, p]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from tqdm import tqdm

from motionseg.flow.geometry import working_size
from motionseg.methods.evidence import frame_evidence
from motionseg.methods.flowsource import FlowSource
from motionseg.methods.refine import temporal_refine
from motionseg.registry import spec
from motionseg.settings import BgfitSettings, EvidenceSettings, RefineSettings

FG_RULE = (
    "segment 1 = motion residual against RANSAC homography / robust polynomial background flow above an adaptive "
    "threshold (occlusions removed), temporally smoothed, refined by GrabCut on the frame"
)


def bgfit_sequence(src: FlowSource, cfg: dict, seed: int) -> tuple[np.ndarray, dict]:
    """Run bgfit on a whole sequence.

    src: per-frame flow access (T frames, flow [h, w, 2]); cfg: the ``bgfit`` section with the ``evidence`` and
    ``refine`` sections nested under those names (:func:`motionseg.methods.method_config`). Returns (probs float32
    [T, 2, H, W] with segment 0 = background, 1 = foreground, at the frame size when src has frames, else at the
    working size; info dict with ``n_fit_failures``).
    """
    T = src.n_frames
    if T < 2:
        raise ValueError(f"bgfit needs at least 2 frames, got {T}")
    shared = spec("bgfit").settings.shared  # the sections nested in cfg (evidence, refine)
    own = BgfitSettings.from_dict({k: v for k, v in cfg.items() if k not in shared}, "bgfit")
    ev_cfg = EvidenceSettings.from_dict(cfg["evidence"], "evidence")
    ref_cfg = RefineSettings.from_dict(cfg["refine"], "refine")
    size = working_size(*src.pair(0, 1).shape[:2], own.work_height, enlarge=False)
    a = own.temporal_smoothing
    probs: list[np.ndarray] = []
    failures = 0
    prev = None
    for t in tqdm(range(T), desc="bgfit", unit="frame", leave=False):
        p, fails = frame_evidence(src, t, ev_cfg, seed + t, causal=False, directions=own.directions, size=size)
        failures += fails
        out, prev = temporal_refine(p, prev, src, t, a, ref_cfg, seed + t)
        probs.append(np.stack([1.0 - out, out]))
    return np.stack(probs).astype(np.float32), {"n_fit_failures": failures}


def run_method(method: str, inputs: Mapping[str, str | Path], out_mask_dir: str | Path, cfg: dict, seed: int) -> None:
    """Registry run function of ``bgfit`` (:func:`motionseg.registry.run_method`): frames and flow of
    ``inputs`` -> mask directory, the refined foreground as 2-segment probabilities at the frame size."""
    from motionseg.methods import gtfree_meta, open_inputs, write_result

    ing, src = open_inputs(inputs["frames"], inputs["flow"])
    probs, info = bgfit_sequence(src, cfg, seed)
    write_result(out_mask_dir, ing, probs, np.array([False, True]), gtfree_meta(method, seed, FG_RULE, cfg, **info))
