"""Semi-supervised label propagation through a video: from the first frame's labels (DUL/videowalk's protocol)
or, GT-free, from a method's most confident frames.

- :func:`propagate_labels` (feature affinity, kNN over a space-time context) with features from
  :func:`dul_features` (learned) or :func:`lab_features` (weight-free colour + position);
- :func:`propagate_by_flow` (weight-free, chains optical flow);
- :func:`propagate_from_confident` (GT-free fusion with per-frame masks);
- :mod:`motionseg.propagate.semisup` (rule ``propagate``) and :mod:`motionseg.propagate.gtfree` (rule
  ``gtfree_propagation``), the workflow steps.

Imports are lazy, so that the workflow's planning (which checks the label sources) does not pull in torch.
"""

from motionseg.lazy import lazy_attributes

_LAZY = {
    "CONTEXT": "motionseg.propagate.labelprop",
    "RADIUS": "motionseg.propagate.labelprop",
    "TEMPERATURE": "motionseg.propagate.labelprop",
    "TOPK": "motionseg.propagate.labelprop",
    "propagate_labels": "motionseg.propagate.labelprop",
    "propagate_soft": "motionseg.propagate.labelprop",
    "dul_features": "motionseg.propagate.features",
    "lab_features": "motionseg.propagate.features",
    "propagate_by_flow": "motionseg.propagate.flow",
    "warp_labels": "motionseg.propagate.flow",
    "propagate_from_confident": "motionseg.propagate.fusion",
}

__all__ = sorted(_LAZY)
__getattr__ = lazy_attributes(__name__, _LAZY)
