"""The one path scheme (motionseg.paths): rules, plan and report use the same templates."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from motionseg import paths
from motionseg.plan import Plan

REPO = Path(__file__).resolve().parents[1]
KEYS = {"dataset": "d", "flow": "dis", "tracks": "none", "method": "bgfit", "sequence": "s"}


def test_patterns_keep_unfilled_keys_as_wildcards() -> None:
    assert paths.masks("R") == "R/{dataset}/masks/{flow}/{tracks}/{method}/{sequence}"
    assert paths.masks("R", **KEYS) == "R/d/masks/dis/none/bgfit/s"
    assert paths.overlay("R", "mp4", dataset="d") == "R/reports/overlays/d/{flow}/{tracks}/{method}/{sequence}.mp4"
    assert paths.log("R", "flow", paths.FLOW_SEQ) == "R/logs/flow/{dataset}/{flow}/{sequence}.log"
    assert paths.benchmark("R", "report", "report") == "R/benchmarks/report/report.tsv"
    assert paths.synth("R", "flow_bwd") == "R/data/{dataset}/Flows_gap-1/{sequence}"
    # a value holding braces is inserted as is, not formatted again
    assert paths.frames("R", dataset="{x}") == "R/{x}/frames/{sequence}.npz"


def test_plan_paths_are_the_templates_filled() -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    plan = Plan.from_config({**config, "results": "res"})
    k = tuple(KEYS[c] for c in ("dataset", "flow", "tracks", "method", "sequence"))
    assert plan.masks(*k) == paths.masks("res", **KEYS)
    assert plan.scores(*k) == "res/d/scores/dis/none/bgfit/s.csv"
    assert plan.frame_scores(*k) == "res/d/scores/dis/none/bgfit/s.frames.csv"
    assert plan.overlay(*k, ext="html") == "res/reports/overlays/d/dis/none/bgfit/s.html"
    assert plan.export(*k) == "res/d/export/dis/none/bgfit/s"
    assert plan.model("d", "dis", "none", "gwm") == "res/d/models/dis/none/gwm/model.pt"
    assert plan.frames("d", "s") == "res/d/frames/s.npz" and plan.tracks("d", "t", "s") == "res/d/tracks/t/s.npz"


def test_rules_write_no_results_path_by_hand() -> None:
    """Every output, log and benchmark of the rules comes from motionseg.paths (no f"{R}/..." pattern)."""
    for smk in (REPO / "rules").glob("*.smk"):
        text = smk.read_text()
        assert not re.search(r'f"\{R\}/', text), smk.name
    src = (REPO / "src" / "motionseg" / "plan.py").read_text()
    assert 'f"{self.results}/' not in src and '.frames.csv"' not in src
