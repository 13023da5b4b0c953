"""The typed config spine: one frozen dataclass per config section, built once from the schema-validated YAML.

``Settings.from_dict(config)`` mirrors ``config/schema.yaml`` section by section (``tests/test_settings.py`` checks
that the field names equal the schema's properties). There are no defaults here: every value comes from the
validated config (``config/config.yaml`` and the schema's ``default`` entries). A missing or unknown key raises
:class:`~motionseg.io.errors.ConfigError` naming it. Values are kept as the YAML gave them (no casts, lists as
tuples) except that an integer given for a ``float`` field becomes a float, so the algorithms read typed values
without casts. A key the schema marks optional (not ``required``, no default) is None when absent. ``to_dict()``
gives back exactly the dict the section was built from (same keys, order and values: Snakemake compares rule
params by ``repr``), so rule params sliced from it equal those sliced from the config.

No numpy or torch import: the Snakefile builds these at parse time.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any, ClassVar, Literal, TypeVar, get_type_hints

from motionseg.io.errors import ConfigError

S = TypeVar("S", bound="Section")


def _freeze(value: Any) -> Any:
    """Lists become tuples (recursively); dicts are copied."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return {k: _freeze(v) for k, v in value.items()}
    return value


def _thaw(value: Any) -> Any:
    """Inverse of :func:`_freeze` and of nesting: sections become dicts, tuples lists."""
    if isinstance(value, Section):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Section:
    """Base of the settings dataclasses: strict :meth:`from_dict` and its inverse :meth:`to_dict`."""

    KEY: ClassVar[str] = ""  # dotted config key of the section, for error messages
    _NESTED: ClassVar[dict[str, type[Section]]] = {}  # field -> section class of its value
    _NESTED_LIST: ClassVar[dict[str, type[Section]]] = {}  # field -> section class of each item
    _NESTED_MAP: ClassVar[dict[str, type[Section]]] = {}  # field -> section class of each mapping value
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset()  # keys the schema lets a config leave out
    # the dict given to from_dict (empty for a section built field by field), what to_dict gives back
    _source: dict[str, Any] = field(default_factory=dict, kw_only=True, repr=False, compare=False)

    @classmethod
    def field_names(cls) -> list[str]:
        """The config keys of this section, in declaration order."""
        return [f.name for f in fields(cls) if not f.name.startswith("_")]

    @classmethod
    def from_dict(cls: type[S], d: dict[str, Any], key: str | None = None) -> S:
        """Build the section from its validated config dict ``d``; ConfigError naming the key when one is missing
        or unknown. ``key``: the dotted config key of ``d`` (default :attr:`KEY`)."""
        where = cls.KEY if key is None else key
        if not isinstance(d, dict):
            raise ConfigError(where or "config", f"expected a mapping, got {type(d).__name__}")
        names = cls.field_names()
        prefix = f"{where}." if where else ""
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ConfigError(prefix + unknown[0], f"unknown key (known: {', '.join(names)})")
        missing = [n for n in names if n not in d and n not in cls._OPTIONAL]
        if missing:
            raise ConfigError(prefix + missing[0], "missing key")
        values = {n: cls._build(n, d.get(n), prefix + n) for n in names}
        return cls(**values, _source=copy.deepcopy(d))

    @classmethod
    def _build(cls, name: str, value: Any, key: str) -> Any:
        """The field value of config key ``name`` (nested sections built, lists frozen)."""
        if value is None:
            return None
        if name in cls._NESTED:
            return cls._NESTED[name].from_dict(value, key)
        if name in cls._NESTED_LIST:
            return tuple(cls._NESTED_LIST[name].from_dict(v, f"{key}[{i}]") for i, v in enumerate(value))
        if name in cls._NESTED_MAP:
            return {k: cls._NESTED_MAP[name].from_dict(v, f"{key}.{k}") for k, v in value.items()}
        if name in _float_fields(cls) and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return _freeze(value)

    def to_dict(self) -> dict[str, Any]:
        """The config dict of this section (what :meth:`from_dict` was given; rule params are slices of it)."""
        if self._source:
            return copy.deepcopy(self._source)
        return {name: _thaw(getattr(self, name)) for name in self.field_names()}


@cache
def _float_fields(cls: type[Section]) -> frozenset[str]:
    """Fields of ``cls`` annotated ``float`` or ``float | None`` (an integer in the YAML becomes a float)."""
    return frozenset(n for n, t in get_type_hints(cls).items() if t in (float, float | None))


def typed(cls: type[S], value: S | Mapping[str, Any]) -> S:
    """``value`` as a ``cls`` section: itself when it is one, else ``cls.from_dict(value)`` (callers outside the
    workflow may still pass the config dict)."""
    return value if isinstance(value, cls) else cls.from_dict(dict(value))


# ------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class SyntheticSettings(Section):
    """``datasets[i].synthetic``: generate the dataset (motionseg.synth)."""

    _OPTIONAL = frozenset({"instances"})

    n_sequences: int
    n_frames: int
    height: int
    width: int
    seed: int
    instances: bool | None


@dataclass(frozen=True)
class DatasetSettings(Section):
    """One entry of ``datasets``."""

    KEY = "datasets[]"
    _NESTED = {"synthetic": SyntheticSettings}
    _OPTIONAL = frozenset({"sequences", "protocol", "flow_gaps", "synthetic", "annotations", "resolution", "split",
                           "gt_threshold", "gt_thresholds", "objects", "role", "train_split", "cross_validation"})

    name: str
    layout: str
    root: str
    sequences: tuple[str, ...] | None
    protocol: str | None
    flow_gaps: tuple[int, ...] | None
    synthetic: SyntheticSettings | None
    annotations: str | None
    resolution: str | None
    split: str | None
    gt_threshold: float | None
    gt_thresholds: dict[str, float] | None
    objects: str | None
    role: str | None
    train_split: str | None
    cross_validation: int | None


@dataclass(frozen=True)
class IngestSettings(Section):
    """``ingest``: frame ingest (working height, None = original size)."""

    KEY = "ingest"

    height: int | None


@dataclass(frozen=True)
class ResourceSettings(Section):
    """One entry of ``resources`` (threads only where the rule uses them)."""

    _OPTIONAL = frozenset({"threads"})

    threads: int | None
    mem_mb: int
    runtime: int


# ------------------------------------------------------------------------------------------ flow


@dataclass(frozen=True)
class DisSettings(Section):
    """``flow.dis``: OpenCV DIS (None = the preset's value)."""

    KEY = "flow.dis"
    _OPTIONAL = frozenset({"finest_scale", "patch_size", "patch_stride", "gradient_descent_iterations",
                           "variational_refinement_iterations"})

    preset: Literal["ultrafast", "fast", "medium"]
    finest_scale: int | None
    patch_size: int | None
    patch_stride: int | None
    gradient_descent_iterations: int | None
    variational_refinement_iterations: int | None


@dataclass(frozen=True)
class FarnebackSettings(Section):
    """``flow.farneback``: OpenCV Farneback."""

    KEY = "flow.farneback"

    pyr_scale: float
    levels: int
    winsize: int
    iterations: int
    poly_n: int
    poly_sigma: float


@dataclass(frozen=True)
class RaftSettings(Section):
    """``flow.raft_large`` / ``flow.raft_small``: torchvision RAFT."""

    checkpoint: str | None
    num_flow_updates: int


@dataclass(frozen=True)
class PtlflowSettings(Section):
    """``flow.ptlflow``: model name -> checkpoint of the ``ptlflow:<model>`` backends."""

    KEY = "flow.ptlflow"

    checkpoints: dict[str, str | None]


@dataclass(frozen=True)
class FlowSettings(Section):
    """``flow``: optical flow stage (motionseg.flow)."""

    KEY = "flow"
    _NESTED = {"dis": DisSettings, "farneback": FarnebackSettings, "raft_large": RaftSettings,
               "raft_small": RaftSettings, "ptlflow": PtlflowSettings}

    backends: tuple[str, ...]
    gaps: tuple[int, ...]
    storage: Literal["npz", "flo"]
    compute_height: int | None
    device: str
    batch_size: int
    amp: bool
    allow_random_weights: bool
    vis_frames: int
    dis: DisSettings
    farneback: FarnebackSettings
    raft_large: RaftSettings
    raft_small: RaftSettings
    ptlflow: PtlflowSettings


# ------------------------------------------------------------------------------------------ tracks


@dataclass(frozen=True)
class TracksSettings(Section):
    """``tracks``: point trajectories (motionseg.tracks)."""

    KEY = "tracks"

    backends: tuple[str, ...]
    grid_stride: int
    query_stride: int
    window: int
    fb_alpha: float
    fb_beta: float
    mb_alpha: float | None
    mb_beta: float | None
    checkpoint: str | None
    checkpoint_sha256: str | None
    cotracker_repo: str | None
    device: str


# ------------------------------------------------------------------------------------------ per-sequence methods


@dataclass(frozen=True)
class EvidenceSettings(Section):
    """``evidence``: GT-free motion evidence (motionseg.methods.evidence)."""

    KEY = "evidence"

    grid_step: int
    ransac_reproj_px: float
    ransac_iters: int
    poly_degree: int
    poly_iters: int
    poly_cauchy: float
    poly_inlier_px: float
    occlusion_check: bool
    occlusion_px: float
    occlusion_rel: float
    min_residual_px: float
    rel_flow: float
    rel_residual: float
    softness: float
    morph_px: int


@dataclass(frozen=True)
class RefineSettings(Section):
    """``refine``: GT-free appearance refinement (motionseg.methods.refine)."""

    KEY = "refine"

    method: Literal["grabcut", "none"]
    erode_frac: float
    dilate_frac: float
    crop_margin: float
    iters: int
    border_drop: float
    min_fg_px: int
    max_fg_frac: float
    feedback: bool


@dataclass(frozen=True)
class BgfitSettings(Section):
    """``bgfit``: background-motion residual method (motionseg.methods.bgfit)."""

    KEY = "bgfit"

    work_height: int | None
    directions: Literal["both", "forward"]
    temporal_smoothing: float


@dataclass(frozen=True)
class TrajsegSettings(Section):
    """``trajseg``: trajectory-level segmentation from the point tracks (motionseg.methods.trajseg)."""

    KEY = "trajseg"

    work_height: int | None
    max_tracks: int
    min_length: int
    gap: int
    background: Literal["homography", "poly"]
    ransac_reproj_px: float
    ransac_iters: int
    residual_floor: float
    score_quantile: float
    fg_threshold: float
    fg_softness: float
    n_neighbours: int
    affinity_scale: float
    smooth_iters: int
    smooth_weight: float
    splat_sigma: float
    evidence_weight: float
    evidence_combine: Literal["mean", "max"]
    temporal_smoothing: float


@dataclass(frozen=True)
class KMeansSettings(Section):
    """``kmeans``: per-frame k-means on flow (motionseg.methods.kmeans)."""

    KEY = "kmeans"

    k: int
    xy_weight: float
    min_spread_px: float
    attempts: int
    max_iter: int
    border_px: int
    fg_min_px: float


@dataclass(frozen=True)
class ColourMemorySettings(Section):
    """``cluster.colour_memory``: causal colour histograms of online ClusterNet."""

    KEY = "cluster.colour_memory"

    weight: float
    bits: int
    decay: float
    min_pixels: int


@dataclass(frozen=True)
class ClusterSettings(Section):
    """``cluster``: ClusterNet-style flow clustering (motionseg.cluster)."""

    KEY = "cluster"
    _NESTED = {"colour_memory": ColourMemorySettings}

    work_height: int | None
    channels: tuple[int, ...]
    n_z: int
    n_clusters: int
    cluster_rounds: int
    sinkhorn_iters: int
    sinkhorn_eps: float
    border_px: int
    saliency_threshold: float
    temperature: float
    bgc_weight: float
    lr: float
    pretrain_epochs: int
    pretrain_batch: int
    iters_per_frame: int
    online_iters: int
    warmup_iters: int
    batch_frames: int
    fg_threshold: float
    fg_softness: float
    pixel_weight: float
    residual_weight: float
    temporal_weight: float
    colour_memory: ColourMemorySettings
    threads: int
    device: str


# ------------------------------------------------------------------------------------------ train / infer


@dataclass(frozen=True)
class LossWeights(Section):
    """``train.loss_weights`` (``pseudo`` only where a -boot method is configured)."""

    KEY = "train.loss_weights"
    _OPTIONAL = frozenset({"pseudo"})

    flow: float
    traj: float
    temporal: float
    pseudo: float | None


@dataclass(frozen=True)
class TrainSettings(Section):
    """``train``: networks trained from motion (motionseg.train); :meth:`infer` is the inference part."""

    KEY = "train"
    _NESTED = {"loss_weights": LossWeights}

    model: Literal["unet", "resnet18", "resnet34", "resnet50"]
    width: int
    depth: int
    backbone_weights: str | None
    K: int
    resolution: tuple[int, int]
    flow_model: Literal["quad", "affine"]
    flow_gaps: tuple[int, ...]
    flow_clip: float | None
    optimizer: Literal["adamw", "adam"]
    lr: float
    weight_decay: float
    warmup_iters: int
    schedule: Literal["poly", "constant"]
    iterations: int
    batch_size: int
    grad_clip: float | None
    loss_weights: LossWeights
    pseudo_labels: str | None
    rank: int
    context: int
    track_filter: int
    track_min_visible: float
    n_tracks: int
    temporal_offset: int
    augment_flip: bool
    checkpoint_every: int
    select: Literal["last", "lowest-loss", "oracle"]
    select_frames: int
    device: str
    amp: bool
    fg_border_frac: float
    fg_border_ratio: float
    refine_masks: bool | tuple[str, ...]
    tta_flip: bool


@dataclass(frozen=True)
class InferSettings(Section):
    """What one ``infer`` job reads (:func:`motionseg.train.config.infer_config`): ``refine_masks`` resolved for
    its method, ``refine`` present only when it applies."""

    KEY = "infer"
    _NESTED = {"refine": RefineSettings}
    _OPTIONAL = frozenset({"refine"})

    device: str
    batch_size: int
    fg_border_frac: float
    fg_border_ratio: float
    refine_masks: bool
    tta_flip: bool
    refine: RefineSettings | None


# ------------------------------------------------------------------------------------------ scores and reports


@dataclass(frozen=True)
class EvaluationSettings(Section):
    """``evaluation``: J/F evaluation (motionseg.metrics)."""

    KEY = "evaluation"

    protocols: tuple[str, ...]
    selections: tuple[str, ...]
    decay: Literal["correct", "official"]
    missing: Literal["error", "empty"]
    bound_th: float
    workers: int


@dataclass(frozen=True)
class PlotSettings(Section):
    """``report.plots``."""

    KEY = "report.plots"

    dpi: int
    max_bar_sequences: int
    max_time_sequences: int
    oracle: bool


@dataclass(frozen=True)
class OverlaySettings(Section):
    """``report.overlay``: mask-overlay GIFs and MP4s."""

    KEY = "report.overlay"

    fps: float
    max_frames: int
    max_width: int
    video_fps: float


@dataclass(frozen=True)
class FlowStripSettings(Section):
    """``report.flow_strip``."""

    KEY = "report.flow_strip"

    n_frames: int


@dataclass(frozen=True)
class ReportSettings(Section):
    """``report``: aggregate reports (motionseg.report)."""

    KEY = "report"
    _NESTED = {"plots": PlotSettings, "overlay": OverlaySettings, "flow_strip": FlowStripSettings}

    overlays_per_dataset: int
    display_scale: float
    decimals: int
    table_metrics: tuple[str, ...]
    benchmarks: dict[str, str]
    published_appendix: bool
    plots: PlotSettings
    overlay: OverlaySettings
    flow_strip: FlowStripSettings


@dataclass(frozen=True)
class ExportSettings(Section):
    """``export``: files for use outside motionseg (motionseg.io.export)."""

    KEY = "export"

    enabled: bool
    segments: bool
    probs: bool


@dataclass(frozen=True)
class MtnetStageSettings(Section):
    """``mtnet.pre_train`` / ``mtnet.main_train``: one supervised training stage."""

    KEY = "mtnet.<stage>"

    iterations: int
    lr: float
    batch_size: int


@dataclass(frozen=True)
class MtnetSettings(Section):
    """``mtnet``: the supervised two-stream network (motionseg.models.mtnet, motionseg.train.supervised)."""

    KEY = "mtnet"
    _NESTED = {"pre_train": MtnetStageSettings, "main_train": MtnetStageSettings}

    encoder: str
    width: int
    mtt_layers: int
    ctd_layers: int
    backbone_weights: str | None
    resolution: tuple[int, ...]
    n_frames: int
    pre_train: MtnetStageSettings
    main_train: MtnetStageSettings
    weight_decay: float
    grad_clip: float | None
    augment_flip: bool
    checkpoint_every: int
    device: str
    amp: bool
    flow_gap: int
    infer_clip_length: int


@dataclass(frozen=True)
class ExternalSettings(Section):
    """``external``: another method's result PNGs, scored in the same tables (motionseg.io.external)."""

    KEY = "external"

    root: str | None
    threshold: int | None
    supervision: str
    name: str


@dataclass(frozen=True)
class MultiObjectSettings(Section):
    """``multiobject``: instance PNGs of datasets with ``objects: multi`` (motionseg.io.instances)."""

    KEY = "multiobject"

    proposals: str
    max_instances: int


@dataclass(frozen=True)
class CrfSettings(Section):
    """``crf``: dense CRF after the listed methods (motionseg.post.crf); kernel widths in px of the ingested frames."""

    KEY = "crf"

    methods: tuple[str, ...]
    iterations: int
    gaussian_sxy: float
    gaussian_compat: float
    bilateral_sxy: float
    bilateral_srgb: float
    bilateral_compat: float
    prob_clip: float

    def params(self) -> dict:
        """What a crf job reads: every key but ``methods`` (which chooses the jobs)."""
        return {k: v for k, v in self.to_dict().items() if k != "methods"}


@dataclass(frozen=True)
class PropagationSettings(Section):
    """``propagation``: DUL's kNN label propagation (motionseg.propagate); radius in feature pixels."""

    KEY = "propagation"

    topk: int
    context: int
    radius: float
    temperature: float
    lab_stride: int


@dataclass(frozen=True)
class SemisupSettings(Section):
    """``semisup``: the semi-supervised task's label sources (motionseg.propagate.semisup)."""

    KEY = "semisup"

    sources: tuple[str, ...]


@dataclass(frozen=True)
class DulSettings(Section):
    """``dul``: DUL feature learning (motionseg.dul); sizes in px of the ingested frames."""

    KEY = "dul"

    snapshot: str | None
    train_datasets: tuple[str, ...]
    width: int
    blocks: int
    feature_dim: int
    video_len: int
    frame_gap: int
    batch_size: int
    smallest_range: tuple[int, ...]
    crop_size: tuple[int, ...]
    random_crop: bool
    random_hflip: bool
    guided_hflip: bool
    zoom_range: tuple[float, ...]
    grid_size: int
    grid_size_ref: int
    temperature: float
    ce_ref: float
    lr: float
    beta1: float
    weight_decay: float
    bias_lr_mult: float
    lr_step: int
    lr_gamma: float
    iterations: int
    checkpoint_every: int
    device: str

    def train_params(self) -> dict:
        """What a train_dul job reads: every key but ``snapshot`` and ``train_datasets`` (which choose the jobs)."""
        return {k: v for k, v in self.to_dict().items() if k not in ("snapshot", "train_datasets")}


@dataclass(frozen=True)
class GtfreePropagationSettings(Section):
    """``gtfree_propagation``: a method's masks propagated from its confident frames (motionseg.propagate.gtfree)."""

    KEY = "gtfree_propagation"

    methods: tuple[str, ...]
    features: str
    confidence: str
    n_seeds: int


@dataclass(frozen=True)
class CombineSettings(Section):
    """``combine``: method ``combine``, the per-frame combination of other methods' masks (motionseg.post.combine)."""

    KEY = "combine"

    methods: tuple[str, ...]
    rule: str


# ------------------------------------------------------------------------------------------ the whole config


@dataclass(frozen=True)
class Settings(Section):
    """The whole validated config, one typed section per stage (built once, by
    :meth:`motionseg.plan.Plan.from_config`)."""

    KEY = ""
    _NESTED = {"ingest": IngestSettings, "evidence": EvidenceSettings, "refine": RefineSettings,
               "bgfit": BgfitSettings, "trajseg": TrajsegSettings, "flow": FlowSettings, "kmeans": KMeansSettings,
               "cluster": ClusterSettings, "tracks": TracksSettings, "report": ReportSettings, "export": ExportSettings,
               "train": TrainSettings, "evaluation": EvaluationSettings, "multiobject": MultiObjectSettings,
               "crf": CrfSettings, "mtnet": MtnetSettings, "external": ExternalSettings,
               "propagation": PropagationSettings, "semisup": SemisupSettings, "dul": DulSettings,
               "gtfree_propagation": GtfreePropagationSettings, "combine": CombineSettings}
    _NESTED_LIST = {"datasets": DatasetSettings}
    _NESTED_MAP = {"resources": ResourceSettings}

    results: str
    seed: int
    sequences: tuple[str, ...]
    datasets: tuple[DatasetSettings, ...]
    ingest: IngestSettings
    methods: tuple[str, ...]
    debug_fail_sequences: tuple[str, ...]
    resources: dict[str, ResourceSettings]
    evidence: EvidenceSettings
    refine: RefineSettings
    bgfit: BgfitSettings
    trajseg: TrajsegSettings
    flow: FlowSettings
    kmeans: KMeansSettings
    cluster: ClusterSettings
    tracks: TracksSettings
    report: ReportSettings
    export: ExportSettings
    train: TrainSettings
    evaluation: EvaluationSettings
    multiobject: MultiObjectSettings
    crf: CrfSettings
    mtnet: MtnetSettings
    external: ExternalSettings
    propagation: PropagationSettings
    semisup: SemisupSettings
    dul: DulSettings
    gtfree_propagation: GtfreePropagationSettings
    combine: CombineSettings
