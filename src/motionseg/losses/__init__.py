"""Self-supervised losses for learning segmentation from motion.

- :func:`flow_reconstruction_loss` (Guess What Moves): per soft mask, fit a parametric flow model by differentiable
  weighted least squares and penalise the squared error between the input flow and the reconstruction.
- :func:`trajectory_lowrank_loss` (LRTL): the mask-weighted trajectory matrix of each segment should be low rank; the
  loss is the sum of its singular values beyond rank ``r`` (a truncated nuclear norm).
- :func:`temporal_smoothing_loss` (LRTL): mask values sampled at the two ends of point tracks should agree.
- :func:`pseudo_label_loss` (``gwm-boot`` / ``lrtl-boot`` only): segment 0 should match the foreground of another
  GT-free motion method (bootstrapping; not part of GWM or LRTL).
"""

from motionseg.losses.flow_reconstruction import (
    flow_basis,
    flow_reconstruction_loss,
    reconstruct_flow,
)
from motionseg.losses.pseudo_label import pseudo_label_loss
from motionseg.losses.trajectory import (
    sample_masks_at_points,
    temporal_smoothing_loss,
    trajectory_gram,
    trajectory_lowrank_loss,
    truncated_nuclear_norm,
)

__all__ = [
    "flow_basis",
    "flow_reconstruction_loss",
    "pseudo_label_loss",
    "reconstruct_flow",
    "sample_masks_at_points",
    "temporal_smoothing_loss",
    "trajectory_gram",
    "trajectory_lowrank_loss",
    "truncated_nuclear_norm",
]
