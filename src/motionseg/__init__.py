"""motionseg: unsupervised motion-based video object segmentation.

Subpackages are named after what they do: ``io`` (datasets, ingest, atomic writes), ``synth`` (synthetic data),
``flow`` (optical flow backends and storage), ``tracks`` (point trajectories), ``models``/``losses``/``train``
(segmentation network learnt from motion), ``cluster`` (per-sequence motion clustering), ``methods`` (GT-free
baselines), ``metrics`` (J/F evaluation and protocols) and ``report`` (aggregate tables and plots).
"""

__version__ = "0.1.0"
