"""The one method registry: every segmentation method the workflow runs, and what the workflow needs to know of it.

Everything that lists methods derives from :data:`METHODS`: the plan (which jobs exist, which inputs and GPU they
need: :mod:`motionseg.plan`), the rules' dispatch (:func:`run_method`, called by the ``segment`` and ``infer`` rule
scripts), the config slice of a segment job (:func:`motionseg.methods.method_config` reads :attr:`MethodSpec.settings`),
the report's method legend and published-figure columns (:mod:`motionseg.report`), the schema's method enums and the
README's method table (both checked against it by ``tests/test_registry.py``).

Light on purpose (no numpy, no torch): the Snakefile imports it at parse time. A method's run function is named as
``"module:function"`` and imported only when a job runs it, so this module imports no method (and no method module
imports another method's package through it: no import cycle).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["per-sequence", "trained"]
Supervision = Literal["none", "self-supervised", "supervised", "oracle", "declared"]
Mode = Literal["online", "offline", "oracle", "trained", "external"]

KINDS: tuple[str, ...] = ("per-sequence", "trained")
SUPERVISIONS: tuple[str, ...] = ("none", "self-supervised", "supervised", "oracle", "declared")
# what a "declared" method's rows may say (the config declares it: method `external`)
DECLARED_SUPERVISIONS: tuple[str, ...] = ("none", "self-supervised", "supervised", "unknown")

# Keys of the ``cluster`` section that only some ClusterNet modes read (every mode reads the other keys).
CLUSTER_KEY_GROUPS: dict[str, tuple[str, ...]] = {
    # the causal schedule and colour memory: clusternet-online only
    "online": ("online_iters", "warmup_iters", "batch_frames", "colour_memory"),
    # whole-sequence pre-training and per-frame steps: clusternet-offline and clusternet-oracle
    "pretrained": ("pretrain_epochs", "pretrain_batch", "iters_per_frame"),
    # the GT-free foreground rule: the GT-free modes (the oracle takes the foreground from the GT)
    "gt_free_rule": ("fg_threshold", "fg_softness", "residual_weight", "pixel_weight", "temporal_weight"),
}


@dataclass(frozen=True)
class MethodSettings:
    """What a method reads from the config: its ``section``, of a shared section (``cluster``) only the keys of
    ``groups`` besides the keys every mode reads (:data:`CLUSTER_KEY_GROUPS`), and the ``shared`` sections nested
    under their own names (``evidence``, ``refine``). Trained methods read ``train`` (sliced by
    :mod:`motionseg.train.config`) and, for mask refinement at inference, ``refine``."""

    section: str
    groups: tuple[str, ...] = ()
    shared: tuple[str, ...] = ()

    @property
    def sections(self) -> tuple[str, ...]:
        """Every top-level config section the method reads."""
        return (self.section, *self.shared)


@dataclass(frozen=True)
class MethodSpec:
    """One method.

    kind: ``per-sequence`` (rule ``segment``, one job per sequence) or ``trained`` (rule ``train`` per dataset, then
    ``infer`` per sequence). uses_tracks: its jobs read point tracks (one variant per track id). gpu: its segment job
    asks for a GPU (trained methods: the train job always does, inference runs on CPU). oracle: the ground truth
    chooses its foreground (its rows are labelled oracle). supervision: what teaches it (``supervised``: GT masks of
    other sequences; ``declared``: the config says, method ``external``). mode: the ``mode`` its
    ``meta.json`` and score rows carry (``online`` = causal, ``offline`` = sees the whole sequence, ``oracle``,
    ``trained``). settings: the config it reads. run: ``"module:function"`` with the signature of
    :func:`run_method`. losses: the training losses of a trained method (``gwm``: flow reconstruction; ``lrtl``:
    + trajectory); pseudo_labels: it also learns from another GT-free method's masks (``train.pseudo_labels``).
    train: ``"module:function"`` of a trained method's training (:func:`run_training`); uses_flow: its jobs read
    the flow (``external`` reads result PNGs only); combines: its job reads the masks of other methods of the run
    (``combine``: ``combine.methods``), not frames' motion.
    published: the method name of the published figures shown beside it (:mod:`motionseg.report.published`).
    summary: one line for the README's method table.
    """

    name: str
    kind: Kind
    uses_tracks: bool
    gpu: bool
    oracle: bool
    supervision: Supervision
    mode: Mode
    settings: MethodSettings
    run: str
    summary: str
    losses: str | None = None
    pseudo_labels: bool = False
    published: str | None = None
    train: str | None = None
    uses_flow: bool = True
    combines: bool = False

    @property
    def trained(self) -> bool:
        return self.kind == "trained"

    @property
    def supervised(self) -> bool:
        """Trained with ground-truth masks (of other sequences): its training reads GT."""
        return self.supervision == "supervised"


_PER_SEQ = "per-sequence"
_EV_REF = ("evidence", "refine")
_TRAIN = MethodSettings("train", shared=("refine",))
_INFER = "motionseg.train.api:run_method"
_TRAIN_FN = "motionseg.train.api:run_train"


def _clusternet(mode: Mode, groups: tuple[str, ...], summary: str) -> MethodSpec:
    oracle = mode == "oracle"
    return MethodSpec(
        name=f"clusternet-{mode}", kind=_PER_SEQ, uses_tracks=False, gpu=True, oracle=oracle,
        supervision="oracle" if oracle else "self-supervised", mode=mode,
        settings=MethodSettings("cluster", groups, () if oracle else _EV_REF),
        run="motionseg.cluster.run:run_method", summary=summary, published="ClusterNet",
    )


METHODS: dict[str, MethodSpec] = {
    m.name: m
    for m in (
        MethodSpec("bgfit", _PER_SEQ, False, False, False, "none", "offline", MethodSettings("bgfit", shared=_EV_REF),
                   "motionseg.methods.bgfit:run_method",
                   "robust background-motion fit + residual, refined by GrabCut (classical baseline)"),
        MethodSpec("kmeans", _PER_SEQ, False, False, False, "none", "offline", MethodSettings("kmeans"),
                   "motionseg.methods.kmeans:run_method", "k-means on flow and position per frame (baseline)"),
        MethodSpec("trajseg", _PER_SEQ, True, False, False, "none", "offline",
                   MethodSettings("trajseg", shared=_EV_REF), "motionseg.methods.trajseg:run_method",
                   "point tracks scored over their whole life against a multi-frame background fit, smoothed over "
                   "trajectory affinities, densified, refined by GrabCut"),
        _clusternet("online", ("online", "gt_free_rule"),
                    "ClusterNet-style flow auto-encoder clustering, causal (frames up to t only)"),
        _clusternet("offline", ("pretrained", "gt_free_rule"),
                    "the same, pre-trained on the whole sequence"),
        _clusternet("oracle", ("pretrained",),
                    "ClusterNet's published protocol: GT cluster assignment, best iteration against GT"),
        MethodSpec("gwm", "trained", False, True, False, "self-supervised", "trained", _TRAIN, _INFER,
                   "network trained with the Guess-What-Moves flow-reconstruction loss", losses="gwm",
                   published="GWM", train=_TRAIN_FN),
        MethodSpec("lrtl", "trained", True, True, False, "self-supervised", "trained", _TRAIN, _INFER,
                   "gwm + LRTL trajectory low-rank and temporal losses", losses="lrtl", published="LRTL",
                   train=_TRAIN_FN),
        MethodSpec("gwm-boot", "trained", False, True, False, "self-supervised", "trained", _TRAIN, _INFER,
                   "gwm + pseudo-label loss towards the masks of `train.pseudo_labels`", losses="gwm",
                   pseudo_labels=True, train=_TRAIN_FN),
        MethodSpec("lrtl-boot", "trained", True, True, False, "self-supervised", "trained", _TRAIN, _INFER,
                   "lrtl + pseudo-label loss towards the masks of `train.pseudo_labels`", losses="lrtl",
                   pseudo_labels=True, train=_TRAIN_FN),
        MethodSpec("mtnet", "trained", False, True, False, "supervised", "trained", MethodSettings("mtnet"),
                   "motionseg.train.supervised:run_method",
                   "MTNet-style RGB + flow-image network trained with the GT masks of other sequences (supervised)",
                   train="motionseg.train.supervised:run_train_supervised"),
        MethodSpec("external", _PER_SEQ, False, False, False, "declared", "external", MethodSettings("external"),
                   "motionseg.io.external:run_method",
                   "another method's result PNGs (`external.root`), thresholded at `external.threshold`",
                   uses_flow=False),
        MethodSpec("combine", _PER_SEQ, False, False, False, "none", "offline", MethodSettings("combine"),
                   "motionseg.post.combine:run_method",
                   "per frame, the masks of `combine.methods` (other GT-free methods of the run) combined by a "
                   "GT-free confidence (`combine.rule`)",
                   uses_flow=False, combines=True),
    )
}


def spec(method: str) -> MethodSpec:
    """The registry entry of ``method``; ValueError naming the known methods when there is none."""
    try:
        return METHODS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}") from None


def names(*, kind: Kind | None = None, oracle: bool | None = None, uses_tracks: bool | None = None) -> list[str]:
    """Method names in registry order, filtered by kind, oracle and tracks use (None: either)."""
    return [
        m.name
        for m in METHODS.values()
        if (kind is None or m.kind == kind)
        and (oracle is None or m.oracle == oracle)
        and (uses_tracks is None or m.uses_tracks == uses_tracks)
    ]


def pseudo_label_sources() -> list[str]:
    """Methods whose masks the ``-boot`` methods may learn from (``train.pseudo_labels``): GT-free per-sequence
    methods without tracks (their masks exist once per flow, whatever the tracker), not ``external`` ones, nor
    ``combine`` (whose components may be the ``-boot`` networks themselves: a cycle)."""
    return [n for n in names(kind="per-sequence", oracle=False, uses_tracks=False)
            if METHODS[n].supervision in ("none", "self-supervised") and not METHODS[n].combines]


# Post-processed versions of a pseudo-label source the -boot methods may learn from instead (``bgfit+prop``: the
# GT-free propagation stage's masks of bgfit, ``bgfit+crf``: its dense-CRF masks).
PSEUDO_LABEL_POSTS: tuple[str, ...] = ("crf", "prop")


def pseudo_label_choices() -> list[str]:
    """Every value ``train.pseudo_labels`` may take: a source of :func:`pseudo_label_sources`, or one followed by
    ``+<post>`` (:data:`PSEUDO_LABEL_POSTS`), its post-processed masks."""
    sources = pseudo_label_sources()
    return sources + [f"{m}+{p}" for p in PSEUDO_LABEL_POSTS for m in sources]


def published_columns() -> dict[str, tuple[str, ...]]:
    """Published method name -> our methods whose columns its figures sit beside (registry order)."""
    out: dict[str, tuple[str, ...]] = {}
    for m in METHODS.values():
        if m.published:
            out[m.published] = (*out.get(m.published, ()), m.name)
    return out


def run_function(method: str) -> Callable[..., None]:
    """Import and return the run function of ``method`` (:attr:`MethodSpec.run`)."""
    module, func = spec(method).run.split(":")
    return getattr(importlib.import_module(module), func)


def run_method(method: str, inputs: Mapping[str, str | Path], out_mask_dir: str | Path, cfg: dict, seed: int) -> None:
    """Write the mask directory of one sequence with ``method``: the one dispatch of rules ``segment`` and ``infer``.

    inputs: the job's named inputs (:meth:`motionseg.plan.Plan.segment_inputs`): ``frames`` (ingested npz),
    ``flow`` (flow directory), ``tracks`` (track file, methods with tracks) and ``model`` (trained methods' checkpoint).
    cfg: the job's config slice (:func:`motionseg.methods.method_config` for a per-sequence method,
    :func:`motionseg.train.config.infer_config` for a trained one); seed: the global seed.
    """
    run_function(method)(method, inputs, out_mask_dir, cfg, seed)


def run_training(method: str, inputs: list[dict], out_ckpt: str | Path, cfg: dict, seed: int,
                 workdir: str | Path) -> None:
    """Train ``method``'s network (rule ``train`` or ``train_supervised``): the one dispatch of training.

    inputs: one dict per training sequence (``frames``, ``flow``, and ``tracks``/``pseudo``/``gt`` where the method
    reads them); cfg: the job's config slice; workdir: the resumable work directory.
    """
    m = spec(method)
    if m.train is None:
        raise ValueError(f"method {method!r} is not trained")
    module, func = m.train.split(":")
    fn = getattr(importlib.import_module(module), func)
    if m.supervised:
        fn(inputs, out_ckpt, cfg, seed=seed, workdir=workdir)
    else:
        fn(inputs, out_ckpt, cfg, method=method, seed=seed, workdir=workdir)


def markdown_table() -> str:
    """The README's method table (one row per method), generated from the registry."""
    rows = ["| method | kind | supervision | oracle | tracks | GPU | what it is |", "|---|---|---|---|---|---|---|"]
    for m in METHODS.values():
        rows.append(
            f"| `{m.name}` | {m.kind} | {m.supervision} | {'yes' if m.oracle else 'no'} | "
            f"{'yes' if m.uses_tracks else 'no'} | {'yes' if m.gpu else 'no'} | {m.summary} |"
        )
    return "\n".join(rows)
