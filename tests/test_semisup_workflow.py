"""The semi-supervised task in the workflow (issue 27): plan and config checks, the rule functions on synthetic data
(propagation beats copying the first mask; the DAVIS-2017 semi-supervised scoring), the report kept apart from the
unsupervised tables, and (slow) a whole `snakemake` run of the stage (and of the GT-free propagation stage, rows
`post=prop`) plus what a config edit replans."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_utils import REPO, copy_workflow, small_config, snakemake, write_config

from motionseg.io.errors import ConfigError, InputError
from motionseg.io.ingest import run_ingest
from motionseg.io.instances import read_instance_pngs, write_instance_dir
from motionseg.metrics.semisup import SEMISUP_COLUMNS, run_evaluate_semisup
from motionseg.plan import Plan
from motionseg.propagate.semisup import check_source, propagation_params, run_semisup
from motionseg.report.semisup import run_semisup_report
from motionseg.synth.generator import generate_sequence

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
PROP = CONFIG["propagation"]


def _config(**over) -> dict:
    cfg = copy.deepcopy(CONFIG)
    cfg.update(over)
    return cfg


# ------------------------------------------------------------------------------------------------ plan and config


def test_plan_lists_semisup_jobs_and_the_dul_network() -> None:
    plan = Plan.from_config(_config())
    seqs = plan.scored_sequences("synth")
    assert plan.semisup_sources == ["lab", "flow-dis", "dul"]
    assert plan.semisup_keys() == [("synth", s, q) for s in ("lab", "flow-dis", "dul") for q in seqs]
    assert plan.dul_trainsets() == ["synth"]
    assert plan.dul_train_frames("synth") == [plan.frames("synth", q) for q in plan.sequences("synth")]
    inputs = plan.propagate_inputs("synth", "flow-dis", seqs[0])
    assert inputs["flow"] == plan.flow("synth", "dis", seqs[0]) and "model" not in inputs
    assert plan.propagate_inputs("synth", "dul", seqs[0])["model"] == f"{plan.results}/dul/synth/model.pt"
    assert "model" not in plan.propagate_inputs("synth", "lab", seqs[0])
    assert f"{plan.results}/reports/semisup/table.md" in plan.report_outputs()
    # the train job reads the training keys only: the snapshot / train_datasets choose jobs
    assert set(plan.dul_config()) == set(CONFIG["dul"]) - {"snapshot", "train_datasets"}


def test_no_sources_no_semisup_jobs_and_no_dul() -> None:
    plan = Plan.from_config(_config(semisup={"sources": []}))
    assert plan.semisup_keys() == [] and plan.dul_trainsets() == [] and plan.semisup_report_outputs() == []
    # DUL is trained only when something reads it
    plan = Plan.from_config(_config(semisup={"sources": ["lab"]}))
    assert not plan.needs_dul and plan.dul_trainsets() == []


def test_train_datasets_share_one_network(tmp_path: Path) -> None:
    cfg = _config()
    cfg["dul"] = {**cfg["dul"], "train_datasets": ["synth"]}
    cfg["datasets"] = [*cfg["datasets"], {**cfg["datasets"][0], "name": "other"}]
    plan = Plan.from_config(cfg)
    assert plan.dul_trainsets() == ["synth"] and plan.dul_model("other") == plan.dul_model("synth")
    cfg["dul"]["train_datasets"] = ["nope"]
    with pytest.raises(ConfigError, match="dul.train_datasets"):
        Plan.from_config(cfg)


def test_snapshot_replaces_training_and_must_exist(tmp_path: Path) -> None:
    cfg = _config()
    cfg["dul"] = {**cfg["dul"], "snapshot": str(tmp_path / "missing_res4.pth")}
    with pytest.raises(ConfigError, match="dul.snapshot.*no such file"):
        Plan.from_config(cfg)
    (tmp_path / "missing_res4.pth").write_bytes(b"x")
    plan = Plan.from_config(cfg)
    assert plan.dul_trainsets() == [] and plan.dul_model("synth") == str(tmp_path / "missing_res4.pth")


def test_sources_are_checked() -> None:
    assert check_source("flow-dis", ["dis"]) == "flow-dis"
    with pytest.raises(ConfigError, match="semisup.sources.*'raft_large'"):
        Plan.from_config(_config(semisup={"sources": ["flow-raft_large"]}))
    with pytest.raises(ConfigError, match="semisup.sources.*unknown source 'colour'"):
        check_source("colour")
    with pytest.raises(ConfigError, match="propagation.topk"):
        propagation_params({**PROP, "topk": 0})
    with pytest.raises(ConfigError, match="propagation.extra"):
        propagation_params({**PROP, "extra": 1})


# ------------------------------------------------------------------------------------------------ rule functions


@pytest.fixture(scope="module")
def synth_seq(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One synthetic multi-object sequence (DAVIS layout, instance GT) and its ingested frames."""
    root = tmp_path_factory.mktemp("semisup")
    data = root / "data"
    generate_sequence(data, "synth_000", 0, 16, 96, 128, 0, instances=True)
    ds = {"name": "synth", "layout": "davis", "root": str(data)}
    npz = root / "frames.npz"
    run_ingest(ds, "synth_000", npz, {"height": None})
    return {"root": root, "dataset": ds, "frames": npz}


def _jf(path: Path) -> float:
    row = pd.read_csv(path).iloc[0]
    assert row["task"] == "semi-supervised" and row["protocol"] == "davis2017-semi"
    return float(row["J&F"])


def test_lab_propagation_beats_copying_the_first_mask(synth_seq: dict) -> None:
    root, ds = synth_seq["root"], synth_seq["dataset"]
    run_semisup(synth_seq["frames"], ds, "synth_000", "lab", root / "lab", PROP)
    preds = read_instance_pngs(root / "lab", max_proposals=255)
    meta = json.loads((root / "lab" / "instances.json").read_text())
    assert meta["task"] == "semi-supervised" and meta["source"] == "lab" and meta["first_frame"] == "00000"
    assert len(preds) == 16 and meta["n_objects"] >= 1
    first = preds["00000"]
    names = sorted(preds)
    write_instance_dir(root / "copy", names, np.stack([first] * len(names)), {"source": "copy"})
    run_evaluate_semisup(root / "lab", ds, "synth_000", "lab", root / "lab.csv")
    run_evaluate_semisup(root / "copy", ds, "synth_000", "copy", root / "copy.csv")
    assert list(pd.read_csv(root / "lab.csv").columns) == SEMISUP_COLUMNS
    assert _jf(root / "lab.csv") > _jf(root / "copy.csv") + 0.05, (_jf(root / "lab.csv"), _jf(root / "copy.csv"))


def test_dul_source_needs_a_model_and_prediction_errors_name_the_folder(synth_seq: dict, tmp_path: Path) -> None:
    ds = synth_seq["dataset"]
    with pytest.raises(ConfigError, match="dul.snapshot"):
        run_semisup(synth_seq["frames"], ds, "synth_000", "dul", tmp_path / "dul", PROP)
    assert not (tmp_path / "dul").exists()
    # a prediction folder missing scored frames: InputError naming the folder
    write_instance_dir(tmp_path / "short", ["00000", "00001"], np.zeros((2, 96, 128), np.uint8), {})
    with pytest.raises(InputError, match="short"):
        run_evaluate_semisup(tmp_path / "short", ds, "synth_000", "lab", tmp_path / "s.csv")
    assert not (tmp_path / "s.csv").exists()


def test_semisup_report_is_its_own_table(tmp_path: Path) -> None:
    rows = [
        {"task": "semi-supervised", "dataset": "d", "sequence": s, "source": src, "protocol": "davis2017-semi",
         "J_mean": j, "J_recall": 1.0, "J_decay": 0.0, "F_mean": j, "F_recall": 1.0, "F_decay": 0.0, "J&F": j,
         "n_frames": 10, "n_objects": n}
        for s, src, j, n in (("a", "lab", 0.8, 1), ("b", "lab", 0.2, 3), ("a", "dul", 0.5, 1))
    ]
    paths = []
    for i, r in enumerate(rows):
        p = tmp_path / f"{i}.csv"
        pd.DataFrame([r]).to_csv(p, index=False)
        paths.append(p)
    run_semisup_report([*paths, tmp_path / "absent.csv"], tmp_path / "out")
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    lab = summary[summary["source"] == "lab"].iloc[0]
    assert lab["J_mean"] == pytest.approx((0.8 * 1 + 0.2 * 3) / 4)  # the official weighting: every object counts once
    assert lab["n_objects"] == 4 and lab["n_sequences"] == 2
    assert list(pd.read_csv(tmp_path / "out" / "missing.csv")["scores"]) == [str(tmp_path / "absent.csv")]
    table = (tmp_path / "out" / "table.md").read_text()
    assert "| lab | 35.0 | 35.0 |" in table and "1 expected score file(s) missing" in table


# ------------------------------------------------------------------------------------------------ the workflow


@pytest.mark.slow
def test_workflow_runs_the_semisup_stage_and_replans_only_what_an_edit_touches(tmp_path: Path) -> None:
    work = copy_workflow(tmp_path / "wf")
    cfg = small_config(methods=["bgfit"])
    cfg["crf"]["methods"] = []
    path = write_config(work, cfg)
    target = "results/reports/semisup/table.md"
    snakemake(work, target, "--cores", "2", "--configfile", str(path))
    per_seq = pd.read_csv(work / "results/reports/semisup/per_sequence.csv")
    assert sorted(per_seq["source"].unique()) == ["dul", "flow-dis", "lab"]
    assert len(per_seq) == 3 * 2 and set(per_seq["task"]) == {"semi-supervised"}
    assert (work / "results/dul/synth/model.pt").is_file()
    assert (work / "results/logs/train_dul/synth.log").is_file()
    assert (work / "results/benchmarks/propagate/synth/lab/synth_000.tsv").is_file()
    # the unsupervised report never holds semi-supervised rows; bgfit gets its GT-free propagated rows (post=prop)
    snakemake(work, "results/reports/summary.csv", "--cores", "2", "--configfile", str(path))
    summary = pd.read_csv(work / "results/reports/summary.csv")
    assert "task" not in summary.columns and "source" not in summary.columns
    assert set(summary["post"]) == {"none", "prop"}
    assert set(summary.loc[summary["post"] == "prop", "method"]) == {"bgfit"}
    meta = json.loads((work / "results/synth/prop/masks/dis/none/bgfit/synth_000/meta.json").read_text())
    assert meta["post"] == "prop" and meta["confidence_rule"] == "agreement" and len(meta["confidence"]) == 8

    def planned(edit: dict) -> set[str]:
        c = copy.deepcopy(cfg)
        for section, values in edit.items():
            c[section] = {**c[section], **values}
        p = write_config(work, c, "edited.yaml")
        out = snakemake(work, target, "-n", "--cores", "2", "--configfile", str(p)).stdout
        jobs = {line.split()[0] for line in out.splitlines() if line[:1].isalpha() and line.split()[-1].isdigit()}
        return jobs - {"total", "job"}

    assert planned({}) == set()
    # propagation settings: every propagate job (not flow, ingest or DUL training)
    assert planned({"propagation": {"topk": 5}}) == {"propagate", "evaluate_semisup", "report_semisup"}
    # the DUL schedule: the training and the dul source's jobs only
    edit = {"dul": {"iterations": 5}}
    assert planned(edit) == {"train_dul", "propagate", "evaluate_semisup", "report_semisup"}
    out = snakemake(work, target, "-n", "--cores", "2", "--configfile", str(work / "edited.yaml")).stdout
    assert "source=lab" not in out and "source=flow-dis" not in out and "source=dul" in out
