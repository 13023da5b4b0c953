# Python plumbing of the workflow: config validation, dataset/sequence tables, wildcard constraints and the input
# functions the rules call. No rule lives here.

import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

# The package lives in src/: importable here even when not installed (rule scripts do the same via scripts/_src.py).
_SRC = str(Path(workflow.basedir) / "src")
if _SRC not in sys.path:
    sys.path.insert(0, _SRC)


validate(config, schema="../config/schema.yaml")

from motionseg.plan import Plan  # noqa: E402  (needs src/ on sys.path)
from motionseg import paths  # noqa: E402
from motionseg.flow import validate_flow_config  # noqa: E402
from motionseg.tracks import validate_tracks_config  # noqa: E402

PLAN = Plan.from_config(config)
validate_flow_config(config["flow"], config["flow"]["backends"])
validate_tracks_config(config["tracks"], config["tracks"]["backends"])
R = PLAN.results
PLAN_PER_SEQUENCE_METHODS = PLAN.method_regex(trained=False)
PLAN_TRAINED_METHODS = PLAN.method_regex(trained=True)
PLAN_COMBINE_METHODS = PLAN.combine_method_regex()
PLAN_SELF_SUPERVISED_TRAINED_METHODS = PLAN.training_regex(supervised=False)
PLAN_SUPERVISED_TRAINED_METHODS = PLAN.training_regex(supervised=True)
PLAN_CRF_PER_SEQUENCE_METHODS = PLAN.crf_method_regex(trained=False)
PLAN_CRF_TRAINED_METHODS = PLAN.crf_method_regex(trained=True)
PLAN_PROP_PER_SEQUENCE_METHODS = PLAN.prop_method_regex(trained=False)
PLAN_PROP_TRAINED_METHODS = PLAN.prop_method_regex(trained=True)


wildcard_constraints:
    dataset=PLAN.regex("datasets"),
    sequence=r"[^/]+",
    flow=PLAN.regex("flows"),
    tracks=PLAN.regex("tracks_ids"),
    method=PLAN.regex("methods"),
    source=PLAN.source_regex(),
    trainset=PLAN.trainset_regex(),


# ---------------------------------------------------------------- targets


def final_outputs():
    """Everything `snakemake` builds by default: the reports (which pull in every score, mask, flow and track), and
    with `export.enabled` every sequence's export directory and overlay."""
    return PLAN.report_outputs() + PLAN.export_outputs()


# ---------------------------------------------------------------- input functions


def ingest_sources(wildcards):
    """Source files of one sequence (frames or the video; the generated folders for synthetic datasets)."""
    return PLAN.source_files(wildcards.dataset, wildcards.sequence)


def flow_resources_gpu(wildcards):
    return PLAN.flow_gpu(wildcards.flow)


def tracks_inputs(wildcards):
    return PLAN.tracks_inputs(wildcards.dataset, wildcards.tracks, wildcards.sequence)


def tracks_gpu(wildcards):
    return PLAN.tracks_gpu(wildcards.tracks)


def train_inputs(wildcards):
    return PLAN.train_inputs(
        wildcards.dataset, wildcards.flow, wildcards.tracks, wildcards.method
    )


def train_supervised_inputs(wildcards):
    return PLAN.supervised_train_inputs(
        wildcards.dataset,
        wildcards.flow,
        wildcards.tracks,
        wildcards.method,
        wildcards.fold,
    )


def segment_inputs(wildcards):
    return PLAN.segment_inputs(
        wildcards.dataset,
        wildcards.flow,
        wildcards.tracks,
        wildcards.method,
        wildcards.sequence,
    )


def method_gpu(wildcards):
    return PLAN.method_gpu(wildcards.method)


def evaluate_inputs(wildcards):
    return PLAN.evaluate_inputs(
        wildcards.dataset,
        wildcards.flow,
        wildcards.tracks,
        wildcards.method,
        wildcards.sequence,
    )


def evaluate_crf_inputs(wildcards):
    return PLAN.evaluate_crf_inputs(
        wildcards.dataset,
        wildcards.flow,
        wildcards.tracks,
        wildcards.method,
        wildcards.sequence,
    )


def train_dul_inputs(wildcards):
    return {"frames": PLAN.dul_train_frames(wildcards.trainset)}


def propagate_inputs(wildcards):
    return PLAN.propagate_inputs(
        wildcards.dataset, wildcards.source, wildcards.sequence
    )


def gtfree_propagation_inputs(wildcards):
    return PLAN.prop_inputs(
        wildcards.dataset,
        wildcards.flow,
        wildcards.tracks,
        wildcards.method,
        wildcards.sequence,
    )


def evaluate_prop_inputs(wildcards):
    return PLAN.evaluate_prop_inputs(
        wildcards.dataset,
        wildcards.flow,
        wildcards.tracks,
        wildcards.method,
        wildcards.sequence,
    )


def final_message():
    """The last line(s) of a successful run: what exists now and where (motionseg.outputs.final_message)."""
    from motionseg.outputs import final_message as _final_message

    return _final_message(PLAN)


def error_message():
    """The last line(s) of a run in which jobs failed (motionseg.outputs.error_message)."""
    from motionseg.outputs import error_message as _error_message

    return _error_message(PLAN)
