"""The Snakemake workflow end to end, in a temporary copy of the repository (a stand-in for a fresh clone)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from workflow_utils import REPO, copy_workflow, small_config, snakemake, write_config


def test_lint_is_clean():
    res = snakemake(REPO, "--lint", "--cores", "1", check=False)
    assert res.returncode == 0, res.stdout[-4000:]
    assert "Lints for" not in res.stdout, res.stdout[-4000:]


def test_snakefmt_clean():
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("snakefmt")
    files = [str(REPO / "Snakefile"), *map(str, sorted((REPO / "rules").glob("*.smk")))]
    res = subprocess.run([str(exe), "--check", *files], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def _jobs(dry_run_output: str) -> dict[str, int]:
    """Job counts per rule from the table a dry run prints."""
    counts = {}
    for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", dry_run_output, re.MULTILINE):
        if m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One full run of the (small) demo DAG, shared by the tests below."""
    work = copy_workflow(tmp_path_factory.mktemp("wf"))
    cfg = write_config(work, small_config())
    res = snakemake(work, "--cores", "2", "--configfile", str(cfg))
    return work, cfg, res


@pytest.mark.slow
def test_demo_runs_end_to_end_and_prints_report_path(demo_run):
    work, _, res = demo_run
    assert "results/reports/summary.csv" in res.stdout
    summary = pd.read_csv(work / "results" / "reports" / "summary.csv")
    per_seq = pd.read_csv(work / "results" / "reports" / "per_sequence.csv")
    columns = ["dataset", "sequence", "flow", "tracks", "method", "protocol", "oracle", "J_mean", "F_mean", "n_frames"]
    for col in columns:
        assert col in per_seq.columns
    assert set(per_seq["sequence"]) == {"synth_000", "synth_001"}
    assert per_seq["J_mean"].between(0, 1).all() and per_seq["F_mean"].between(0, 1).all()
    assert len(summary) > 0
    # every configured method produced GT-free rows
    gt_free = per_seq[~per_seq["oracle"].astype(bool)]
    assert set(gt_free["method"]) >= {"bgfit"}
    # masks are DAVIS-style PNGs readable by external scorers
    pngs = list((work / "results" / "synth" / "masks").rglob("*.png"))
    assert pngs


@pytest.mark.slow
def test_demo_reports_multi_object_and_crf_rows_beside_the_raw_ones(demo_run):
    """The demo dataset is DAVIS-2017-style multi-object (`objects: multi`, palette GT): every method gets instance
    PNGs in the official result layout and a davis2017-unsup-multi row per sequence, beside the merged single-object
    rows; the `crf.methods` get `post=crf` rows beside their raw rows, never replacing them."""
    from PIL import Image

    work, cfg_path, _ = demo_run
    import yaml

    cfg = yaml.safe_load(cfg_path.read_text())
    per_seq = pd.read_csv(work / "results" / "reports" / "per_sequence.csv")
    summary = pd.read_csv(work / "results" / "reports" / "summary.csv")
    methods = set(cfg["methods"])
    multi = per_seq[per_seq["protocol"] == "davis2017-unsup-multi"]
    assert set(multi["method"]) == methods
    assert (multi["selection"] == "gt-free").all() and (multi["post"] == "none").all()
    assert (multi["n_objects"] >= 1).all() and multi["n_objects"].max() == 2  # synth has 1- and 2-object sequences
    single = per_seq[(per_seq["protocol"] == "davis2017-unsup") & (per_seq["post"] == "none")
                     & (per_seq["selection"] == "gt-free")]
    assert set(single["method"]) == methods
    # the summary of the multi-object protocol is the mean over all objects (n_objects-weighted sequence means)
    for method, g in multi.groupby("method"):
        row = summary[(summary["protocol"] == "davis2017-unsup-multi") & (summary["method"] == method)].iloc[0]
        expect = (g["J_mean"] * g["n_objects"]).sum() / g["n_objects"].sum()
        assert row["J_mean"] == pytest.approx(expect) and row["n_objects"] == g["n_objects"].sum()
    inst = sorted((work / "results" / "synth" / "instances").rglob("*.png"))
    assert inst and all(Image.open(p).mode == "P" for p in inst[:5])
    crf = per_seq[per_seq["post"] == "crf"]
    assert set(crf["method"]) == set(cfg["crf"]["methods"]) & methods and len(crf)
    raw = per_seq[per_seq["post"] == "none"]
    for method in set(crf["method"]):
        assert len(raw[raw["method"] == method]) > 0
    table = (work / "results" / "reports" / "table.md").read_text()
    assert "+crf" in table and "davis2017-unsup-multi" in table


@pytest.mark.slow
def test_second_run_does_nothing(demo_run):
    work, cfg, _ = demo_run
    res = snakemake(work, "--cores", "2", "--configfile", str(cfg), "-n")
    assert "Nothing to be done" in res.stdout, res.stdout[-3000:]


@pytest.mark.slow
def test_changing_one_frame_reruns_only_that_sequence(tmp_path):
    """A real (non-generated) DAVIS-layout dataset: changing one frame file reruns that sequence's jobs only.

    (Snakemake compares the content of small inputs, so a bare ``touch`` of an unchanged file reruns nothing.)"""
    from motionseg.synth import generate_sequence

    data = tmp_path / "DAVIS"
    for i, name in enumerate(["alpha", "beta"]):
        generate_sequence(data, name, i, 8, 64, 96, seed=0)
    work = copy_workflow(tmp_path / "wf")
    cfg = small_config(methods=["bgfit"])
    cfg["datasets"] = [{"name": "mini", "layout": "davis", "root": str(data), "protocol": "davis2017-unsup"}]
    cfg_path = write_config(work, cfg)
    snakemake(work, "--cores", "2", "--configfile", str(cfg_path))
    import numpy as np
    from PIL import Image

    frame = data / "JPEGImages" / "beta" / "00003.jpg"
    pixels = np.asarray(Image.open(frame)).copy()
    pixels[:4, :4] = 255 - pixels[:4, :4]
    Image.fromarray(pixels).save(frame, quality=95)
    res = snakemake(work, "--cores", "1", "--configfile", str(cfg_path), "-n")
    jobs = _jobs(res.stdout)
    for rule in ("ingest", "flow", "segment", "evaluate"):
        assert jobs.get(rule) == 1, (rule, jobs)
    assert "sequence=beta" in res.stdout
    # the other sequence reruns only where a network learns from every sequence's frames: the DUL label source
    assert jobs.get("train_dul") == 1, jobs
    wildcards = [line for line in res.stdout.splitlines() if "wildcards:" in line and "sequence=alpha" in line]
    assert wildcards and all("source=dul" in line for line in wildcards), wildcards


@pytest.mark.slow
def test_single_sequence_target_and_config_subset(demo_run):
    work, cfg, _ = demo_run
    target = "results/synth/scores/dis/none/bgfit/synth_000.csv"
    res = snakemake(work, target, "--cores", "1", "--configfile", str(cfg), "-n", "--forcerun", "ingest")
    jobs = _jobs(res.stdout)
    assert jobs.get("ingest") == 1 and jobs.get("evaluate") == 1, jobs
    res = snakemake(
        work, "--cores", "1", "--configfile", str(cfg), "-n", "--forceall", "--config", "sequences=[synth_001]"
    )
    jobs = _jobs(res.stdout)
    assert jobs.get("ingest") == 1, jobs


@pytest.mark.slow
def test_bad_sequence_fails_clearly_and_others_finish(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    cfg = small_config(debug_fail_sequences=["synth_001"], methods=["bgfit"])
    cfg_path = write_config(work, cfg)
    res = snakemake(work, "--cores", "2", "--configfile", str(cfg_path), "--keep-going", check=False)
    assert res.returncode != 0
    assert "motionseg: ERROR in rule ingest" in res.stdout and "synth_001" in res.stdout
    assert (work / "results" / "synth" / "scores" / "dis" / "none" / "bgfit" / "synth_000.csv").exists()
    assert not (work / "results" / "synth" / "frames" / "synth_001.npz").exists()
    leftovers = [p for p in (work / "results").rglob("*") if ".tmp" in p.name]
    assert not leftovers, leftovers
    # the partial report aggregates what finished and names the failed sequence instead of averaging over fewer
    snakemake(work, "report_partial", "--cores", "1", "--configfile", str(cfg_path))
    missing = pd.read_csv(work / "results" / "reports" / "partial" / "missing.csv")
    assert set(missing["sequence"]) == {"synth_001"}
    partial = pd.read_csv(work / "results" / "reports" / "partial" / "summary.csv")
    assert (partial["n_scored_sequences"] == 1).all() and not partial["complete"].astype(bool).any()


def test_boot_method_trains_on_the_source_methods_masks(tmp_path):
    """gwm-boot alone: the DAG makes bgfit's masks (not scored: bgfit is not configured) and trains on them."""
    work = copy_workflow(tmp_path / "wf")
    cfg_path = write_config(work, small_config(methods=["gwm-boot"]))
    res = snakemake(work, "--cores", "1", "--configfile", str(cfg_path), "-n")
    jobs = _jobs(res.stdout)
    assert jobs.get("segment") == 2 and jobs.get("train") == 1 and jobs.get("infer") == 2, jobs
    # the gwm-boot masks only (trained methods are scored by the evaluate_trained instance of the rule)
    assert jobs.get("evaluate_trained") == 2 and "evaluate" not in jobs, jobs
    assert "masks/dis/none/bgfit/synth_000" in res.stdout


def test_misspelled_config_key_fails_at_startup(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    cfg = small_config()
    cfg["seqeunces"] = ["synth_000"]
    cfg_path = write_config(work, cfg)
    res = snakemake(work, "-n", "--cores", "1", "--configfile", str(cfg_path), check=False)
    assert res.returncode != 0
    assert "seqeunces" in res.stdout


@pytest.mark.slow
def test_html_report_builds_with_plots(demo_run):
    work, cfg, _ = demo_run
    snakemake(work, "--configfile", str(cfg), "--report", "report.html")
    html = (work / "report.html").read_text(errors="replace")
    for kind in ("j_per_sequence__", "j_by_flow__", "j_over_time__"):
        assert kind in html, kind
    assert "table.html" in html


@pytest.mark.slow
def test_oracle_rows_are_flagged_and_kept_apart(demo_run):
    work, _, _ = demo_run
    per_seq = pd.read_csv(work / "results" / "reports" / "per_sequence.csv")
    summary = pd.read_csv(work / "results" / "reports" / "summary.csv")
    oracle_sel = per_seq["selection"].isin(["oracle-frame", "oracle-sequence"])
    assert oracle_sel.any() and per_seq.loc[oracle_sel, "oracle"].astype(bool).all()
    assert not per_seq.loc[per_seq["selection"] == "gt-free", "oracle"].astype(bool).any()
    # each summary row aggregates one oracle value only: the GT-free mean is recomputable from GT-free rows alone
    row = summary[(summary["method"] == "bgfit") & (summary["protocol"] == "davis2017-unsup")
                  & (summary["selection"] == "gt-free") & (summary["post"] == "none")].iloc[0]
    sel = per_seq[(per_seq["method"] == "bgfit") & (per_seq["protocol"] == "davis2017-unsup")
                  & (per_seq["selection"] == "gt-free") & (per_seq["post"] == "none")]
    assert row["J_mean"] == pytest.approx(sel["J_mean"].mean())
    assert not bool(row["oracle"])


@pytest.mark.slow
def test_video_dataset_without_gt_gets_masks_and_no_scores(tmp_path):
    """Plain videos (no ground truth): the DAG produces masks and overlays, and schedules no evaluation."""
    import cv2

    from motionseg.synth import generate_sequence

    data = tmp_path / "synthsrc"
    videos = tmp_path / "videos"
    videos.mkdir()
    generate_sequence(data, "clip", 0, 8, 64, 96, seed=0)
    writer = cv2.VideoWriter(str(videos / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    for jpg in sorted((data / "JPEGImages" / "clip").glob("*.jpg")):
        writer.write(cv2.imread(str(jpg)))
    writer.release()
    work = copy_workflow(tmp_path / "wf")
    cfg = small_config(methods=["bgfit"])
    cfg["datasets"] = [{"name": "vids", "layout": "video", "root": str(videos)}]
    cfg_path = write_config(work, cfg)
    res = snakemake(work, "--cores", "2", "--configfile", str(cfg_path))
    assert "evaluate" not in _jobs(res.stdout)
    masks = sorted((work / "results" / "vids" / "masks" / "dis" / "none" / "bgfit" / "clip").glob("*.png"))
    assert len(masks) == 8
    assert not (work / "results" / "vids" / "scores").exists()


@pytest.mark.slow
def test_external_result_masks_are_scored_with_their_threshold_and_missing_frames_counted(tmp_path):
    """Method `external` (issue 28): a folder of soft result maps (0..255, >= 128 exactly on the object, the last
    frame missing, as MTNet's released DAVIS-2016 masks) scored in the same tables: with `external.threshold: 128`
    J is that of the binary masks on every frame present, the missing frame is scored empty and counted in `n_missing`,
    and the rows carry the declared supervision."""
    import cv2
    import numpy as np
    from PIL import Image

    from motionseg.synth import generate_sequence

    data = tmp_path / "data"
    generate_sequence(data, "clip", 0, 8, 64, 96, seed=0)
    soft = tmp_path / "released" / "clip"
    soft.mkdir(parents=True)
    gts = sorted((data / "Annotations" / "clip").glob("*.png"))
    for gt in gts[:-1]:  # the last frame is missing
        m = np.asarray(Image.open(gt)) > 0
        blur = cv2.GaussianBlur(m.astype(np.float32), (9, 9), 3) * 127
        val = np.where(m, 128 + blur, blur).clip(0, 255).astype(np.uint8)  # >= 128 exactly on the mask
        Image.fromarray(val, mode="L").save(soft / gt.name)
    work = copy_workflow(tmp_path / "wf")
    cfg = small_config(methods=["external"])
    cfg["datasets"] = [{"name": "rel", "layout": "davis", "root": str(data)}]
    cfg["external"].update(root=str(tmp_path / "released"), threshold=128, supervision="supervised",
                           name="soft maps made by the test")
    cfg["crf"]["methods"] = []
    snakemake(work, "--cores", "2", "--configfile", str(write_config(work, cfg)))
    rows = pd.read_csv(work / "results" / "reports" / "per_sequence.csv")
    row = rows[(rows.protocol == "davis2017-unsup") & (rows.selection == "gt-free")].iloc[0]
    assert row.method == "external" and row.supervision == "supervised" and row.n_missing == 1
    assert row.n_frames == 8 and row.J_mean == pytest.approx(7 / 8)  # 7 exact frames, the missing one empty (J 0)
    table = (work / "results" / "reports" / "table.md").read_text()
    assert "SUPERVISED" in table


def test_gpu_recipe_overlay_builds_a_dag_whose_heavy_jobs_ask_for_a_gpu(tmp_path):
    """README's GPU recipe (davis2016.yaml + davis_gpu.yaml) on a tiny DAVIS-layout dataset: the config validates,
    the checkpoint files it names are required, and every train, RAFT flow and CoTracker job asks for one GPU."""
    from motionseg.synth import generate_sequence

    data = tmp_path / "DAVIS"
    for i, name in enumerate(["alpha", "beta"]):
        generate_sequence(data, name, i, 8, 64, 96, seed=0)
    work = copy_workflow(tmp_path / "wf")
    recipe = ["config/davis2016.yaml", "config/davis_gpu.yaml"]
    site = {"datasets": [{"name": "davis2016", "layout": "davis", "root": str(data), "protocol": "davis2017-unsup"}]}
    # the shipped recipe names example checkpoint paths: it refuses to start until they exist
    res = snakemake(work, "-n", "--cores", "1", "--configfile", *recipe, str(write_config(work, site)), check=False)
    assert res.returncode != 0 and "raft_large_C_T_SKHT_V2-ff5fadd5.pth" in res.stdout, res.stdout[-3000:]
    weights = work / "weights"
    weights.mkdir()
    for name in ("raft_large_C_T_SKHT_V2-ff5fadd5.pth", "scaled_offline.pth", "resnet50.pth"):
        (weights / name).write_bytes(b"")
    site |= {
        "flow": {"raft_large": {"checkpoint": str(weights / "raft_large_C_T_SKHT_V2-ff5fadd5.pth")}},
        "tracks": {"checkpoint": str(weights / "scaled_offline.pth")},
        "train": {"backbone_weights": str(weights / "resnet50.pth")},
    }
    res = snakemake(work, "-n", "--cores", "1", "--configfile", *recipe, str(write_config(work, site)))
    jobs = _jobs(res.stdout)
    assert jobs.get("train") == 4 and jobs.get("infer") == 8 and jobs.get("segment") == 2, jobs
    blocks = {}
    for block in res.stdout.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0].strip()
        resources = re.search(r"resources: (.*)", block).group(1)
        blocks.setdefault(rule, []).append(resources)
    for rule in ("train", "flow", "tracks"):
        assert blocks[rule] and all("gpu=1" in r for r in blocks[rule]), (rule, blocks[rule])
    assert all("mem_mb=64000" in r for r in blocks["train"]), blocks["train"]
    # the pseudo-label masks of the -boot methods (bgfit) are CPU jobs
    assert all("gpu=0" in r for r in blocks["segment"]), blocks["segment"]
    assert "flow=raft_large" in res.stdout and "tracks=cotracker3_offline" in res.stdout
