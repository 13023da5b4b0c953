"""The cache promise: each rule's params are exactly what its job reads, so an edit reruns only what reads it.

Fast tests check the per-job config slices (and that a job given its slice writes the same bytes as one given the
whole section); the slow test finishes a small demo run once and checks the ``snakemake -n`` plan after each edit.
"""

from __future__ import annotations

import ast
import copy
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from flow_helpers import write_frames
from workflow_utils import REPO, copy_workflow, small_config, snakemake, write_config

from motionseg.flow.config import backend_config as flow_backend_config
from motionseg.flow.config import reads_seed
from motionseg.io.errors import ConfigError
from motionseg.io.masks import read_mask_dir
from motionseg.methods import method_config, run_method
from motionseg.plan import Plan
from motionseg.registry import METHODS, names
from motionseg.tracks.config import backend_config as tracks_backend_config
from motionseg.train.config import infer_config, train_config

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())

# ------------------------------------------------------------------------------------------------ flow


def test_dis_flow_job_reads_neither_the_backend_list_nor_other_backends() -> None:
    cfg = flow_backend_config(CONFIG["flow"], "dis")
    assert cfg["dis"] == CONFIG["flow"]["dis"] and cfg["storage"] == CONFIG["flow"]["storage"]
    for key in ("backends", "gaps", "farneback", "raft_large", "raft_small", "ptlflow", "device", "amp"):
        assert key not in cfg, key
    # adding a backend or changing another backend's settings leaves the DIS slice as it was
    edited = copy.deepcopy(CONFIG["flow"])
    edited["backends"] = ["dis", "farneback", "raft_small"]
    edited["farneback"]["levels"] = 5
    edited["raft_small"]["num_flow_updates"] = 3
    assert flow_backend_config(edited, "dis") == cfg
    edited["dis"]["preset"] = "fast"
    assert flow_backend_config(edited, "dis")["dis"]["preset"] == "fast"


def test_learned_flow_job_reads_its_device_and_checkpoint_only() -> None:
    flow = copy.deepcopy(CONFIG["flow"])
    flow["ptlflow"]["checkpoints"] = {"raft": "things", "pwcnet": "sintel"}
    raft = flow_backend_config(flow, "raft_large")
    assert raft["raft_large"] == flow["raft_large"] and raft["device"] == flow["device"]
    assert "raft_small" not in raft and "ptlflow" not in raft and "dis" not in raft
    pt = flow_backend_config(flow, "ptlflow:raft")
    assert pt["ptlflow"] == {"checkpoints": {"raft": "things"}} and "raft_large" not in pt
    assert flow_backend_config(flow, "ptlflow:flowformer")["ptlflow"] == {"checkpoints": {}}
    # the seed matters only to a learned backend initialised at random (no checkpoint)
    assert not reads_seed(flow, "dis") and not reads_seed(flow, "ptlflow:raft") and reads_seed(flow, "raft_large")


def test_flow_job_writes_the_same_flow_from_its_slice(tmp_path: Path) -> None:
    from motionseg.flow.run import run_flow
    from motionseg.flow.store import load_flow

    rng = np.random.default_rng(0)
    frames = np.stack([np.roll(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8), t, axis=1) for t in range(4)])
    npz = write_frames(tmp_path / "seq.npz", frames)
    for backend in ("dis", "farneback"):
        run_flow(npz, tmp_path / f"whole_{backend}", CONFIG["flow"], backend, [1, 2], seed=0)
        run_flow(npz, tmp_path / f"slice_{backend}", flow_backend_config(CONFIG["flow"], backend), backend, [1, 2],
                 seed=None)
        whole, part = load_flow(tmp_path / f"whole_{backend}"), load_flow(tmp_path / f"slice_{backend}")
        for gap in (1, 2):
            assert np.array_equal(whole.forward(gap), part.forward(gap))
            assert np.array_equal(whole.backward(gap), part.backward(gap))
        assert whole.meta["options"] == part.meta["options"] and part.meta["seed"] is None


# ------------------------------------------------------------------------------------------------ tracks


def test_tracks_job_reads_its_own_tracker_settings_only() -> None:
    tracks = CONFIG["tracks"]
    chain = tracks_backend_config(tracks, "flowchain")
    assert set(chain) == {"grid_stride", "query_stride", "window", "fb_alpha", "fb_beta", "mb_alpha", "mb_beta"}
    cot = tracks_backend_config(tracks, "cotracker3_offline")
    assert {"checkpoint", "checkpoint_sha256", "cotracker_repo", "device"} <= set(cot)
    assert "fb_alpha" not in cot and "backends" not in cot
    with pytest.raises(ConfigError, match="tracks.backends"):
        tracks_backend_config(tracks, "pips")


# ------------------------------------------------------------------------------------------------ methods


def test_each_method_reads_only_its_own_settings() -> None:
    kmeans = method_config(CONFIG, "kmeans")
    assert kmeans == CONFIG["kmeans"]  # no evidence or refine: kmeans reads neither
    online, offline, oracle = (method_config(CONFIG, f"clusternet-{m}") for m in ("online", "offline", "oracle"))
    assert "colour_memory" in online and "pretrain_epochs" not in online and "evidence" in online
    assert "pretrain_epochs" in offline and "colour_memory" not in offline and "refine" in offline
    assert "pretrain_epochs" in oracle and "fg_threshold" not in oracle and "evidence" not in oracle
    assert set(method_config(CONFIG, "bgfit")) == {*CONFIG["bgfit"], "evidence", "refine"}


def _panning(tmp_path: Path) -> tuple[Path, Path]:
    """Ingested frames (with GT paths, for the oracle) of test_cluster's panning sequence, and their DIS flow."""
    from PIL import Image
    from test_cluster import panning_sequence

    from motionseg.flow.run import run_flow
    from motionseg.io.ingest_format import Ingested, save_ingested

    frames, gt = panning_sequence(T=6)
    names = [f"{i:05d}" for i in range(len(frames))]
    gt_paths = {}
    for n, m in zip(names, gt, strict=True):
        gt_paths[n] = str(tmp_path / f"{n}.png")
        Image.fromarray(m.astype(np.uint8) * 255).save(gt_paths[n])
    npz = tmp_path / "seq.npz"
    save_ingested(npz, Ingested(frames=frames, names=names, orig_hw=frames.shape[1:3],
                                manifest={"sequence": "seq", "gt_paths": gt_paths}))
    run_flow(npz, tmp_path / "flow", CONFIG["flow"], "dis", [1])
    return npz, tmp_path / "flow"


# external reads PNGs only, combine other methods' masks (its slice is its whole section: tests/test_combine.py)
@pytest.mark.parametrize("method", [m for m in names(kind="per-sequence")
                                    if m != "external" and not METHODS[m].combines])
def test_segment_job_writes_the_same_masks_from_its_slice(tmp_path: Path, method: str) -> None:
    """A segment job given only its method's slice writes the same masks as one given its whole section (with the keys
    only other modes read) and the shared sections it reads. (kmeans reads its section as typed settings: a section
    it does not read is an unknown key, see test_settings.)"""
    config = copy.deepcopy(CONFIG)
    config["cluster"].update(channels=[4, 8, 8], warmup_iters=2, iters_per_frame=1, pretrain_epochs=1, threads=1,
                             device="cpu", work_height=None)
    npz, flow = _panning(tmp_path)
    section = METHODS[method].settings.section
    whole = {**config[section], **{k: config[k] for k in METHODS[method].settings.shared}}
    if METHODS[method].uses_tracks:  # trajseg: through the registry's dispatch, with flowchain tracks
        from motionseg.registry import run_method as run_registered
        from motionseg.tracks.run import run_tracks

        tracks_cfg = tracks_backend_config({**config["tracks"], "window": 4}, "flowchain")  # a 6-frame clip
        run_tracks(npz, flow, tmp_path / "tracks.npz", tracks_cfg, "flowchain", progress=False)
        inputs = {"frames": npz, "flow": flow, "tracks": tmp_path / "tracks.npz"}
        run_registered(method, inputs, tmp_path / "whole", whole, 0)
        run_registered(method, inputs, tmp_path / "slice", method_config(config, method), 0)
    else:
        run_method(method, npz, flow, tmp_path / "whole", whole, seed=0)
        run_method(method, npz, flow, tmp_path / "slice", method_config(config, method), seed=0)
    a, b = read_mask_dir(tmp_path / "whole"), read_mask_dir(tmp_path / "slice")
    assert np.array_equal(a.fg, b.fg) and np.array_equal(a.probs, b.probs)
    assert a.fg.any()  # not a vacuous comparison of two empty results
    assert a.meta["mode"] == METHODS[method].mode and a.meta["oracle"] == METHODS[method].oracle


# ------------------------------------------------------------------------------------------------ data


def test_data_jobs_read_only_their_dataset_keys() -> None:
    config = copy.deepcopy(CONFIG)
    config["datasets"][0].update(flow_gaps=[1, 3], sequences=["synth_000"])
    plan = Plan.from_config(config)
    assert plan.ingest_dataset("synth") == {"name": "synth", "layout": "davis", "root": "results/data/synth"}
    assert "n_sequences" not in plan.synth_config("synth") and plan.synth_config("synth")["n_frames"] == 20
    assert plan.dataset_params("synth") == {"layout": "davis", "root": "results/data/synth",
                                            "protocol": "davis2017-unsup", "objects": "multi"}
    # the GT reader options reach ingest and evaluate; `split` (which sequences are listed) reaches no job
    config["datasets"][0].update(annotations="Annotations", split="2017/val", gt_threshold=0.1)
    plan = Plan.from_config(config)
    assert plan.ingest_dataset("synth") == {"name": "synth", "layout": "davis", "root": "results/data/synth",
                                            "annotations": "Annotations", "gt_threshold": 0.1}
    assert "split" not in plan.dataset_params("synth") and plan.dataset_params("synth")["gt_threshold"] == 0.1


def test_crf_and_instance_jobs_read_only_their_sections() -> None:
    """A crf job reads the crf section without `methods` (which chooses the jobs), an instances job the multiobject
    section; the crf methods are those of `crf.methods` that run, an unknown name is a ConfigError."""
    config = copy.deepcopy(CONFIG)
    plan = Plan.from_config(config)
    assert "methods" not in plan.crf_config() and plan.crf_config()["iterations"] == config["crf"]["iterations"]
    assert plan.multiobject_config() == config["multiobject"]
    config["crf"]["methods"] = ["bgfit", "clusternet-oracle"]  # the second is not in `methods`: no crf job
    assert Plan.from_config(config).crf_methods == ["bgfit"]
    config["crf"]["methods"] = ["bgfitt"]
    with pytest.raises(ConfigError, match="crf.methods"):
        Plan.from_config(config)


# ------------------------------------------------------------------------------------------------ train / infer


def test_infer_job_reads_inference_settings_of_its_method_only() -> None:
    config = copy.deepcopy(CONFIG)
    config["train"]["refine_masks"] = ["lrtl-boot"]
    boot, gwm = infer_config(config, "lrtl-boot"), infer_config(config, "gwm")
    assert boot["refine_masks"] is True and boot["refine"] == config["refine"]
    assert gwm["refine_masks"] is False and "refine" not in gwm
    for key in ("lr", "iterations", "loss_weights", "model", "select", "pseudo_labels"):
        assert key not in gwm, key  # training settings: the network's own come from its checkpoint
    assert set(gwm) == {"device", "batch_size", "fg_border_frac", "fg_border_ratio", "refine_masks", "tta_flip"}
    # inference settings never reach training
    assert not {"tta_flip", "refine_masks", "fg_border_frac"} & set(train_config(config, "gwm"))


def test_oracle_checkpoint_selection_is_refused_at_start_up() -> None:
    config = copy.deepcopy(CONFIG)
    config["train"]["select"] = "oracle"
    with pytest.raises(ConfigError, match=r"train\.select.*ground truth.*last or lowest-loss"):
        Plan.from_config(config)
    config["methods"] = ["bgfit"]  # no trained method: nothing reads train.select
    Plan.from_config(config)


# ------------------------------------------------------------------------------------------------ layering

# workflow glue: the modules that may import the plan or the rule-script helpers (the rest of the package is below it)
GLUE = {"plan.py", "workflow.py", "outputs.py", "cli.py", "segment/cli.py"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_package_below_the_workflow_glue_never_imports_it() -> None:
    src = REPO / "src" / "motionseg"
    bad = {
        str(p.relative_to(src)): sorted(n for n in _imports(p) if n in {"motionseg.plan", "motionseg.workflow"})
        for p in src.rglob("*.py")
        if str(p.relative_to(src)) not in GLUE
    }
    assert {k: v for k, v in bad.items() if v} == {}


def test_research_scripts_are_imported_by_neither_the_product_nor_the_tests() -> None:
    research = {p.stem for p in (REPO / "experiments").glob("*.py")} | {"experiments"}
    files = [p for d in ("src", "scripts", "bench", "tests") for p in (REPO / d).rglob("*.py")]
    bad = {str(p.relative_to(REPO)): sorted(n for n in _imports(p) if n.split(".")[0] in research) for p in files}
    assert len(research) > 1 and {k: v for k, v in bad.items() if v} == {}


# ------------------------------------------------------------------------------------------------ dry-run plans

JOB = re.compile(r"^(?:local)?rule (\w+):\n((?:[ \t]+.*\n?)*)", re.MULTILINE)


def planned(out: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a ``snakemake -n`` run printed."""
    jobs = []
    for m in JOB.finditer(out):
        wc = re.search(r"^\s+wildcards: (.*)$", m.group(2), re.MULTILINE)
        pairs = [kv.split("=", 1) for kv in wc.group(1).split(", ")] if wc else []
        jobs.append((m.group(1), dict(pairs)))
    return jobs


def test_planned_parses_a_dry_run_listing() -> None:
    out = ("rule flow:\n    input: a\n    wildcards: dataset=synth, flow=dis, sequence=s0\n    resources: x=1\n\n"
           "localrule report:\n    input: b\n    jobid: 0\n\n")
    assert planned(out) == [("flow", {"dataset": "synth", "flow": "dis", "sequence": "s0"}), ("report", {})]


METHODS_RUN = ["bgfit", "kmeans", "gwm", "lrtl"]
ALWAYS = {"all", "report"}  # the report reads the whole config (its provenance) and is one local job
# the stages after a method's masks (instance PNGs of the multi-object demo dataset, the dense CRF, the GT-free
# propagation and their scores)
SEMISUP_RULES = {"propagate", "evaluate_semisup", "report_semisup"}  # the semi-supervised task (rules/semisup.smk)
POST_RULES = {"instances", "instances_trained", "crf", "crf_trained", "evaluate_crf", "evaluate_crf_trained",
              "gtfree_propagation", "evaluate_prop"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A small demo run (DIS, flowchain, 4 cheap methods) finished once for all the dry-run checks below."""
    work = copy_workflow(tmp_path_factory.mktemp("rerun") / "wf")
    cfg = small_config(methods=METHODS_RUN)
    snakemake(work, "--cores", "2", "--configfile", str(write_config(work, cfg, "base.yaml")), timeout=1200)
    again = snakemake(work, "-n", "--cores", "1", "--configfile", "base.yaml")
    assert planned(again.stdout) == [], again.stdout[-3000:]
    return work, cfg


def plan_after(finished: tuple[Path, dict], edit) -> list[tuple[str, dict[str, str]]]:
    """The jobs ``snakemake -n`` plans on the finished run after ``edit(cfg)`` changed a copy of its config."""
    work, cfg = finished
    cfg = copy.deepcopy(cfg)
    edit(cfg)
    res = snakemake(work, "-n", "--cores", "1", "--configfile", str(write_config(work, cfg, "edited.yaml")))
    return planned(res.stdout)


@pytest.mark.slow
def test_adding_a_flow_backend_reruns_nothing_of_the_others(finished: tuple[Path, dict]) -> None:
    jobs = plan_after(finished, lambda c: c["flow"].update(backends=["dis", "farneback"]))
    assert [j for j in jobs if j[1].get("flow") == "dis" or j[1].get("tracks") == "flowchain-dis"] == []
    assert ("flow", {"dataset": "synth", "flow": "farneback", "sequence": "synth_000"}) in jobs
    assert {r for r, _ in jobs} - ALWAYS <= {"flow", "tracks", "segment", "train", "infer", "evaluate",
                                              "evaluate_trained", "overlay", "overlay_trained", "track_overlay",
                                              "flow_strip", *POST_RULES, *SEMISUP_RULES}
    # the semi-supervised task: only the new flow's label source (the report lists one more source)
    assert {wc["source"] for r, wc in jobs if r in ("propagate", "evaluate_semisup")} == {"flow-farneback"}


@pytest.mark.slow
def test_changing_one_flow_backend_reruns_its_jobs(finished: tuple[Path, dict]) -> None:
    """The control of the test above: a DIS setting does rerun the DIS flow and what reads it."""
    jobs = plan_after(finished, lambda c: c["flow"]["dis"].update(preset="fast"))
    assert {j[1]["sequence"] for j in jobs if j[0] == "flow"} == {"synth_000", "synth_001"}
    assert any(r == "train" for r, _ in jobs) and any(r == "segment" for r, _ in jobs)


@pytest.mark.slow
def test_adding_a_method_plans_only_that_method(finished: tuple[Path, dict]) -> None:
    jobs = plan_after(finished, lambda c: c.update(methods=[*METHODS_RUN, "clusternet-online"]))
    # the demo dataset is multi-object (instance PNGs); clusternet-online is not in crf.methods
    assert {r for r, _ in jobs} - ALWAYS == {"segment", "evaluate", "overlay", "instances"}
    assert {wc["method"] for r, wc in jobs if r not in ALWAYS} == {"clusternet-online"}


@pytest.mark.slow
def test_changing_one_methods_settings_plans_only_that_method(finished: tuple[Path, dict]) -> None:
    jobs = plan_after(finished, lambda c: c["kmeans"].update(k=4))
    assert {wc["method"] for r, wc in jobs if r not in ALWAYS} == {"kmeans"}
    assert {r for r, _ in jobs} - ALWAYS == {"segment", "evaluate", "overlay", "instances", "crf", "evaluate_crf"}


@pytest.mark.slow
def test_changing_an_inference_setting_retrains_nothing(finished: tuple[Path, dict]) -> None:
    jobs = plan_after(finished, lambda c: c["train"].update(refine_masks=["gwm"]))
    assert {wc["method"] for r, wc in jobs if r not in ALWAYS} == {"gwm"}
    assert "train" not in {r for r, _ in jobs} and "infer" in {r for r, _ in jobs}


@pytest.mark.slow
def test_changing_tracker_settings_reruns_tracks_and_their_users_only(finished: tuple[Path, dict]) -> None:
    jobs = plan_after(finished, lambda c: c["tracks"].update(fb_alpha=0.02))
    assert {r for r, _ in jobs if r == "tracks"} == {"tracks"}
    assert {wc["method"] for r, wc in jobs if "method" in wc} == {"lrtl"}
    assert not {r for r, _ in jobs} & {"flow", "ingest", "segment"}
    # a setting only CoTracker reads changes no flowchain job
    assert {r for r, _ in plan_after(finished, lambda c: c["tracks"].update(device="cpu"))} <= ALWAYS


@pytest.mark.slow
def test_adding_a_tracker_reruns_nothing_of_flowchain(finished: tuple[Path, dict]) -> None:
    work, _ = finished
    ckpt = work / "stand-in.pth"  # a dry run only checks that the checkpoint exists; nothing loads it
    ckpt.write_bytes(b"not loaded by a dry run")

    def add(c: dict) -> None:
        c["tracks"].update(backends=["flowchain", "cotracker3_offline"], checkpoint=str(ckpt))

    jobs = plan_after(finished, add)
    assert [j for j in jobs if j[1].get("tracks") == "flowchain-dis"] == []
    assert {wc["tracks"] for r, wc in jobs if r == "tracks"} == {"cotracker3_offline"}
    assert {wc["method"] for r, wc in jobs if "method" in wc} == {"lrtl"}


@pytest.mark.slow
def test_propagation_settings_rerun_their_stages_only(finished: tuple[Path, dict]) -> None:
    jobs = plan_after(finished, lambda c: c["gtfree_propagation"].update(n_seeds=1))
    assert {r for r, _ in jobs} - ALWAYS == {"gtfree_propagation", "evaluate_prop"}
    assert {wc["method"] for r, wc in jobs if r not in ALWAYS} == {"bgfit"}  # the methods given the stage
    # the DUL schedule: its training and the dul source's jobs, nothing of the other sources or methods
    jobs = plan_after(finished, lambda c: c["dul"].update(iterations=3))
    assert {r for r, _ in jobs} - ALWAYS == {"train_dul", *SEMISUP_RULES}
    assert {wc["source"] for r, wc in jobs if r in ("propagate", "evaluate_semisup")} == {"dul"}


@pytest.mark.slow
def test_changing_the_protocols_reruns_evaluation_only(finished: tuple[Path, dict]) -> None:
    for edit in (lambda c: c["evaluation"].update(protocols=["davis2016"]),
                 lambda c: c["datasets"][0].update(protocol="mg")):
        jobs = plan_after(finished, edit)
        assert {r for r, _ in jobs} - ALWAYS == {"evaluate", "evaluate_trained", "evaluate_crf", "evaluate_crf_trained",
                                                 "evaluate_prop"}


@pytest.mark.slow
def test_more_synthetic_sequences_leave_the_existing_ones_cached(finished: tuple[Path, dict]) -> None:
    def grow(c: dict) -> None:
        c["datasets"][0]["synthetic"]["n_sequences"] = 3

    jobs = plan_after(finished, grow)
    per_sequence = {"synth", "ingest", "flow", "tracks", "segment", "evaluate", "overlay"}
    assert {wc["sequence"] for r, wc in jobs if r in per_sequence} == {"synth_002"}
    assert "train" in {r for r, _ in jobs}  # the networks are trained on every sequence of the dataset


@pytest.mark.slow
def test_oracle_checkpoint_selection_is_refused_by_snakemake(finished: tuple[Path, dict]) -> None:
    work, cfg = finished
    cfg = copy.deepcopy(cfg)
    cfg["train"]["select"] = "oracle"
    res = snakemake(work, "-n", "--cores", "1", "--configfile", str(write_config(work, cfg, "oracle.yaml")),
                    check=False)
    assert res.returncode != 0
    assert "train.select" in res.stdout and "ground truth" in res.stdout
