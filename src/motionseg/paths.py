"""The one path scheme of the results tree (docs/architecture.md, "results/ tree").

Each function returns the path of one file or directory under ``results``; a key given as an argument is filled in,
a key left out stays a ``{wildcard}``. So the rules get their patterns from here (``paths.masks(R)`` ->
``"results/{dataset}/masks/{flow}/{tracks}/{method}/{sequence}"``) and the plan its concrete paths
(``paths.masks(R, dataset="synth", ..., sequence="synth_000")``) from the same template. Nothing parses a path back
into keys: score and frame rows carry their keys as columns (:mod:`motionseg.metrics`).
"""

from __future__ import annotations

# Key parts of the per-job paths: which wildcards a file is keyed by.
SEQ = "{dataset}/{sequence}"
FLOW_SEQ = "{dataset}/{flow}/{sequence}"
TRACKS_SEQ = "{dataset}/{tracks}/{sequence}"
COMBO = "{dataset}/{flow}/{tracks}/{method}"
COMBO_SEQ = "{dataset}/{flow}/{tracks}/{method}/{sequence}"
COMBO_FOLD = "{dataset}/{flow}/{tracks}/{method}/{fold}"
SOURCE_SEQ = "{dataset}/{source}/{sequence}"
TRAINSET = "{trainset}"

# Templates relative to the results root.
SYNTH = "data/{dataset}/{part}/{sequence}"
FRAMES = "{dataset}/frames/{sequence}.npz"
FLOW = "{dataset}/flow/{flow}/{sequence}"
TRACKS = "{dataset}/tracks/{tracks}/{sequence}.npz"
MODEL = "{dataset}/models/{flow}/{tracks}/{method}/model.pt"
MODEL_WORKDIR = "{dataset}/models/{flow}/{tracks}/{method}/work"
SUPERVISED_MODEL = "{dataset}/models/{flow}/{tracks}/{method}/{fold}/model.pt"
SUPERVISED_WORKDIR = "{dataset}/models/{flow}/{tracks}/{method}/{fold}/work"
MASKS = "{dataset}/masks/{flow}/{tracks}/{method}/{sequence}"
EXPORT = "{dataset}/export/{flow}/{tracks}/{method}/{sequence}"
SCORES = "{dataset}/scores/{flow}/{tracks}/{method}/{sequence}.csv"
FRAME_SCORES = "{dataset}/scores/{flow}/{tracks}/{method}/{sequence}.frames.csv"
INSTANCES = "{dataset}/instances/{flow}/{tracks}/{method}/{sequence}"
CRF_MASKS = "{dataset}/crf/masks/{flow}/{tracks}/{method}/{sequence}"
CRF_SCORES = "{dataset}/crf/scores/{flow}/{tracks}/{method}/{sequence}.csv"
CRF_FRAME_SCORES = "{dataset}/crf/scores/{flow}/{tracks}/{method}/{sequence}.frames.csv"
PROP_MASKS = "{dataset}/prop/masks/{flow}/{tracks}/{method}/{sequence}"
PROP_SCORES = "{dataset}/prop/scores/{flow}/{tracks}/{method}/{sequence}.csv"
PROP_FRAME_SCORES = "{dataset}/prop/scores/{flow}/{tracks}/{method}/{sequence}.frames.csv"
DUL_MODEL = "dul/{trainset}/model.pt"
DUL_WORKDIR = "dul/{trainset}/work"
SEMISUP_MASKS = "{dataset}/semisup/masks/{source}/{sequence}"
SEMISUP_SCORES = "{dataset}/semisup/scores/{source}/{sequence}.csv"
REPORTS = "reports"
OVERLAY = "reports/overlays/{dataset}/{flow}/{tracks}/{method}/{sequence}.{ext}"
TRACK_OVERLAY = "reports/tracks/{dataset}/{tracks}/{sequence}.gif"
FLOW_STRIP = "reports/flow/{dataset}/{flow}/{sequence}.png"
LOG = "logs/{rule}/{key}.log"
BENCHMARK = "benchmarks/{rule}/{key}.tsv"

# The DAVIS-layout folders a synthetic dataset is generated into (rule ``synth``).
SYNTH_PARTS = {"frames": "JPEGImages", "masks": "Annotations", "flow_fwd": "Flows_gap1", "flow_bwd": "Flows_gap-1"}


class _KeepMissing(dict):
    """Format mapping that leaves a key it lacks as the ``{key}`` wildcard."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, results: str, **keys: str) -> str:
    """``results/<template>`` with the given keys filled in and the others left as ``{wildcards}``."""
    return f"{results}/" + template.format_map(_KeepMissing(keys))


def synth(results: str, part: str, **keys: str) -> str:
    """A DAVIS-layout folder of a synthetic sequence; part: a key of :data:`SYNTH_PARTS` (``frames``, ``masks``,
    ``flow_fwd``, ``flow_bwd``)."""
    return fill(SYNTH, results, part=SYNTH_PARTS[part], **keys)


def frames(results: str, **keys: str) -> str:
    """Ingested frames of a sequence (npz; keys dataset, sequence)."""
    return fill(FRAMES, results, **keys)


def flow(results: str, **keys: str) -> str:
    """Flow directory of a sequence (keys dataset, flow, sequence)."""
    return fill(FLOW, results, **keys)


def tracks(results: str, **keys: str) -> str:
    """Track file of a sequence (keys dataset, tracks, sequence)."""
    return fill(TRACKS, results, **keys)


def model(results: str, **keys: str) -> str:
    """Trained network of a dataset (keys dataset, flow, tracks, method)."""
    return fill(MODEL, results, **keys)


def model_workdir(results: str, **keys: str) -> str:
    """Resumable work directory beside :func:`model` (same keys)."""
    return fill(MODEL_WORKDIR, results, **keys)


def supervised_model(results: str, **keys: str) -> str:
    """Network of a supervised method (keys dataset, flow, tracks, method, fold: ``split`` or ``fold<i>``)."""
    return fill(SUPERVISED_MODEL, results, **keys)


def supervised_workdir(results: str, **keys: str) -> str:
    """Resumable work directory beside :func:`supervised_model` (same keys)."""
    return fill(SUPERVISED_WORKDIR, results, **keys)


def masks(results: str, **keys: str) -> str:
    """Mask directory of a sequence (keys dataset, flow, tracks, method, sequence)."""
    return fill(MASKS, results, **keys)


def export(results: str, **keys: str) -> str:
    """Export directory of a mask directory (same keys as :func:`masks`)."""
    return fill(EXPORT, results, **keys)


def scores(results: str, **keys: str) -> str:
    """Per-sequence score CSV (same keys as :func:`masks`)."""
    return fill(SCORES, results, **keys)


def frame_scores(results: str, **keys: str) -> str:
    """Per-frame score CSV beside :func:`scores` (same keys)."""
    return fill(FRAME_SCORES, results, **keys)


def instances(results: str, **keys: str) -> str:
    """Instance-PNG directory of a sequence, the official DAVIS-2017 result layout (same keys as :func:`masks`)."""
    return fill(INSTANCES, results, **keys)


def crf_masks(results: str, **keys: str) -> str:
    """Mask directory of the dense-CRF version of a method's masks (same keys as :func:`masks`)."""
    return fill(CRF_MASKS, results, **keys)


def crf_scores(results: str, **keys: str) -> str:
    """Score CSV of :func:`crf_masks` (rows ``post=crf``; same keys)."""
    return fill(CRF_SCORES, results, **keys)


def crf_frame_scores(results: str, **keys: str) -> str:
    """Per-frame score CSV beside :func:`crf_scores` (same keys)."""
    return fill(CRF_FRAME_SCORES, results, **keys)


def prop_masks(results: str, **keys: str) -> str:
    """Mask directory of the GT-free propagation stage after a method (same keys as :func:`masks`)."""
    return fill(PROP_MASKS, results, **keys)


def prop_scores(results: str, **keys: str) -> str:
    """Score CSV of :func:`prop_masks` (rows ``post=prop``; same keys)."""
    return fill(PROP_SCORES, results, **keys)


def prop_frame_scores(results: str, **keys: str) -> str:
    """Per-frame score CSV beside :func:`prop_scores` (same keys)."""
    return fill(PROP_FRAME_SCORES, results, **keys)


def dul_model(results: str, **keys: str) -> str:
    """DUL feature network trained on the frames of a set of datasets (key trainset: their names joined by ``+``)."""
    return fill(DUL_MODEL, results, **keys)


def dul_workdir(results: str, **keys: str) -> str:
    """Resumable work directory beside :func:`dul_model` (same key)."""
    return fill(DUL_WORKDIR, results, **keys)


def semisup_masks(results: str, **keys: str) -> str:
    """Semi-supervised predictions of a sequence: instance PNGs propagated from the first annotated frame's GT
    (keys dataset, source, sequence)."""
    return fill(SEMISUP_MASKS, results, **keys)


def semisup_scores(results: str, **keys: str) -> str:
    """Semi-supervised score CSV of a sequence (rows ``task=semi-supervised``; same keys as :func:`semisup_masks`)."""
    return fill(SEMISUP_SCORES, results, **keys)


def report(results: str, name: str) -> str:
    """A file or folder of the aggregate report (``summary.csv``, ``plots``, ``partial/missing.csv``, ...)."""
    return f"{results}/{REPORTS}/{name}"


def overlay(results: str, ext: str = "{ext}", **keys: str) -> str:
    """Mask-overlay file (``gif``, ``mp4`` or ``html``) of a sequence (same keys as :func:`masks`)."""
    return fill(OVERLAY, results, ext=ext, **keys)


def track_overlay(results: str, **keys: str) -> str:
    """Track-overlay GIF of a sequence (keys dataset, tracks, sequence)."""
    return fill(TRACK_OVERLAY, results, **keys)


def flow_strip(results: str, **keys: str) -> str:
    """Flow-visualisation strip of a sequence (keys dataset, flow, sequence)."""
    return fill(FLOW_STRIP, results, **keys)


def log(results: str, rule: str, key: str) -> str:
    """Log of a job of ``rule``; key: its key part (:data:`SEQ`, :data:`COMBO_SEQ`, ... or a fixed name)."""
    return fill(LOG, results, rule=rule, key=key)


def benchmark(results: str, rule: str, key: str) -> str:
    """Benchmark TSV of a job of ``rule`` (key as in :func:`log`)."""
    return fill(BENCHMARK, results, rule=rule, key=key)
