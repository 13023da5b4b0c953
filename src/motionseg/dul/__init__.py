"""DUL: Dense Unsupervised Learning for video segmentation (Araslanov et al., NeurIPS 2021) as library code: the
network (:mod:`motionseg.dul.model`), its self-supervised objective (:mod:`motionseg.dul.loss`) and a resumable
training run (:mod:`motionseg.dul.train`). Label propagation with its features is :mod:`motionseg.propagate`."""

from motionseg.dul.model import DULArch, DULModel, build_model, load_snapshot, normalise_frames

__all__ = ["DULArch", "DULModel", "build_model", "load_snapshot", "normalise_frames"]
