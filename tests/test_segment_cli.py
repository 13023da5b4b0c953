"""``motionseg segment`` (your own videos in one command), its outputs (overlay MP4, export folder) and the final
message of every run (motionseg.outputs)."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image
from workflow_utils import REPO, copy_workflow, snakemake

from motionseg.io.errors import InputError
from motionseg.io.export import run_export
from motionseg.io.masks import write_mask_dir
from motionseg.outputs import error_message, failure_reason, final_message, sequence_outputs
from motionseg.plan import Plan
from motionseg.report.overlay import write_overlay_video
from motionseg.segment.cli import snakemake_command, validate_config
from motionseg.segment.inputs import build_config, collect_inputs, dataset_entries
from motionseg.synth import generate_sequence

N_FRAMES, H, W = 8, 64, 96


def _frames(root: Path, name: str, index: int) -> Path:
    """A synthetic frame folder ``root/name/00000.jpg ...`` (8 frames, 64x96)."""
    src = root / "_synth"
    generate_sequence(src, name, index, N_FRAMES, H, W, seed=0)
    shutil.copytree(src / "JPEGImages" / name, root / name)
    return root / name


def _mp4(path: Path, index: int) -> Path:
    """A synthetic MP4 (mp4v) of 8 frames, 64x96."""
    frames = _frames(path.parent / "_frames", path.stem, index)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (W, H))
    for jpg in sorted(frames.glob("*.jpg")):
        writer.write(cv2.imread(str(jpg)))
    writer.release()
    return path


def _video_frame_count(path: Path) -> tuple[int, tuple[int, int]]:
    """(frames OpenCV decodes, (height, width)) of a video file."""
    cap = cv2.VideoCapture(str(path))
    n, hw = 0, (0, 0)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        n, hw = n + 1, frame.shape[:2]
    cap.release()
    return n, hw


def _segment(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-m", "motionseg.cli", "segment", *args], cwd=cwd, capture_output=True,
                         text=True, env=env, timeout=900)
    return res  # stdout: our messages (and the onsuccess one); stderr: Snakemake's log


def _named_paths(message: str) -> list[str]:
    """Concrete paths named in a message (tokens under results/ without <placeholders>)."""
    tokens = re.findall(r"(?:/|results/)[^\s,()<>]*", message)
    return [t.rstrip("/.:") for t in tokens if "results" in t and "<" not in t]


# ------------------------------------------------------------------------------------------------ inputs -> config


def test_inputs_video_file_frame_folder_and_folder_of_either(tmp_path):
    clip = _mp4(tmp_path / "videos" / "clip.mp4", 0)
    walk = _frames(tmp_path / "frames", "walk", 1)
    mixed = tmp_path / "mixed"
    _mp4(mixed / "dog.mp4", 2)
    _frames(mixed, "cat", 0)
    shutil.rmtree(mixed / "_frames")
    shutil.rmtree(mixed / "_synth")
    inputs = collect_inputs([clip, walk, mixed, clip])  # a repeat is dropped
    got = [(i.layout, i.root.name, i.sequence) for i in inputs]
    assert got == [("video", "videos", "clip"), ("frames", "frames", "walk"), ("video", "mixed", "dog"),
                   ("frames", "mixed", "cat")]
    entries = dataset_entries(inputs)
    assert [(e["name"], e["layout"], e["sequences"]) for e in entries] == [
        ("videos", "video", ["clip"]), ("frames", "frames", ["walk"]), ("mixed", "video", ["dog"]),
        ("mixed-frames", "frames", ["cat"])]
    assert all(Path(e["root"]).is_absolute() for e in entries)


@pytest.mark.parametrize("make, problem", [
    (lambda d: d / "nope.mp4", "does not exist"),
    (lambda d: (d / "notes.txt").write_text("x") and d / "notes.txt", "not a video file"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "no video file"),
])
def test_bad_inputs_are_errors_naming_the_path(tmp_path, make, problem):
    path = make(tmp_path)
    with pytest.raises(InputError, match=problem) as exc:
        collect_inputs([path])
    assert str(path) in str(exc.value)


def test_generated_config_is_complete_valid_and_absolute(tmp_path):
    clip = _mp4(tmp_path / "videos" / "clip.mp4", 0)
    cfg = build_config(collect_inputs([clip]), REPO, tmp_path / "out", methods=["bgfit", "kmeans"], probs=True)
    validate_config(cfg, REPO)  # raises on a schema or plan error
    defaults = yaml.safe_load((REPO / "config" / "segment.yaml").read_text())
    assert cfg["results"] == str(tmp_path / "out" / "results")
    assert cfg["methods"] == ["bgfit", "kmeans"] and cfg["export"]["enabled"] is True and cfg["export"]["probs"]
    assert cfg["flow"]["backends"] == defaults["flow"]["backends"]
    bad = copy.deepcopy(cfg)
    bad["methods"] = ["no-such-method"]
    with pytest.raises(Exception, match="no-such-method"):
        validate_config(bad, REPO)


def test_snakemake_command_runs_the_workflow_in_out_and_finds_the_profile_in_the_workflow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./slurm here: the workflow's is used
    wf = tmp_path / "wf"
    (wf / "slurm").mkdir(parents=True)
    cmd = snakemake_command(wf, tmp_path / "out", tmp_path / "out" / "c.yaml", None, None, False, [])
    assert cmd[1:5] == ["--snakefile", str(wf / "Snakefile"), "--directory", str(tmp_path / "out")]
    assert "--keep-going" in cmd and cmd[-2:] == ["--cores", "all"]
    cmd = snakemake_command(wf, tmp_path / "out", tmp_path / "c.yaml", None, "slurm", True, ["-p"])
    assert cmd[cmd.index("--profile") + 1] == str(wf / "slurm") and "--cores" not in cmd
    assert cmd[-2:] == ["--dry-run", "-p"]


# ------------------------------------------------------------------------------------------------ output formats


def test_overlay_video_has_every_frame_and_even_size(tmp_path):
    frames = (np.arange(9)[:, None, None, None] * 20 * np.ones((9, 63, 97, 3))).astype(np.uint8)
    out = tmp_path / "o.mp4"
    assert write_overlay_video(iter(frames), out, 24) == 9
    assert _video_frame_count(out) == (9, (64, 98))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    with pytest.raises(InputError, match="no frame"):
        write_overlay_video(iter([]), tmp_path / "none.mp4", 24)
    assert not (tmp_path / "none.mp4").exists()


def test_export_writes_palette_segments_and_soft_masks_at_original_size(tmp_path):
    T, K, h, w, Ho, Wo = 3, 3, 8, 12, 16, 24
    probs = np.zeros((T, K, h, w), np.float32)
    probs[:, 0] = 1.0
    probs[:, :, :, 6:] = 0.0
    probs[:, 2, :, 6:] = 1.0  # right half: segment 2 (foreground)
    fg = np.zeros((T, Ho, Wo), bool)
    fg[:, :, 12:] = True
    names = ["f1", "f2", "f3"]
    write_mask_dir(tmp_path / "m", names, fg, probs, np.array([False, False, True]), {"method": "x", "oracle": False})
    info = run_export(tmp_path / "m", tmp_path / "e", segments=True, probs=True)
    assert info["segments"] == 3 and info["probs"] == 3 and info["n_segments"] == 3
    seg = Image.open(tmp_path / "e" / "segments" / "f2.png")
    assert seg.mode == "P" and seg.size == (Wo, Ho)
    lab = np.asarray(seg)
    assert (lab[:, :12] == 0).all() and (lab[:, 12:] == 2).all()
    soft = np.asarray(Image.open(tmp_path / "e" / "probs" / "f3.png"))
    assert soft.shape == (Ho, Wo) and soft[:, 0].max() == 0 and soft[:, -1].min() == 255
    # a mask folder without segment probabilities: no segments/, and export.json says why
    write_mask_dir(tmp_path / "m2", names, fg, None, None, {"method": "x", "oracle": False})
    info = run_export(tmp_path / "m2", tmp_path / "e2", segments=True, probs=False)
    assert "no segment probabilities" in info["segments"] and not (tmp_path / "e2" / "segments").exists()


# ------------------------------------------------------------------------------------------------ final message


def _plan(tmp_path: Path, with_gt: bool, without_gt: bool) -> Plan:
    """A plan over a scored dataset (DAVIS layout with GT) and/or a GT-free one (frames), results in tmp_path."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["results"] = str(tmp_path / "results")
    cfg["methods"] = ["bgfit"]
    cfg["datasets"] = []
    if with_gt:
        generate_sequence(tmp_path / "davis", "seqa", 0, 3, 32, 32, seed=0)
        cfg["datasets"].append({"name": "scored", "layout": "davis", "root": str(tmp_path / "davis")})
    if without_gt:
        for name in ("mine1", "mine2"):
            (tmp_path / "mine" / name).mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(tmp_path / "mine" / name / "0.png")
        cfg["datasets"].append({"name": "mine", "layout": "frames", "root": str(tmp_path / "mine")})
    return Plan.from_config(cfg)


def _make(plan: Plan, dataset: str, sequence: str, overlay: bool = True) -> None:
    """Fake the outputs of one sequence (a mask folder with 2 PNGs, the overlay GIF + MP4)."""
    key = (dataset, "dis", "none", "bgfit", sequence)
    Path(plan.masks(*key)).mkdir(parents=True)
    for f in ("00000", "00001"):
        (Path(plan.masks(*key)) / f"{f}.png").write_bytes(b"")
    if overlay:
        for ext in ("gif", "mp4"):
            Path(plan.overlay(*key, ext=ext)).parent.mkdir(parents=True, exist_ok=True)
            Path(plan.overlay(*key, ext=ext)).write_bytes(b"")


def _assert_only_existing(message: str) -> list[str]:
    paths = _named_paths(message)
    missing = [p for p in paths if not Path(p).exists()]
    assert not missing, f"message names absent files {missing}:\n{message}"
    return paths


def test_final_message_gt_free_dataset_names_masks_and_overlays_and_no_report(tmp_path):
    plan = _plan(tmp_path, with_gt=False, without_gt=True)
    _make(plan, "mine", "mine1")
    _make(plan, "mine", "mine2", overlay=False)
    msg = final_message(plan)
    paths = _assert_only_existing(msg)
    assert "summary" not in msg.lower()
    assert plan.masks("mine", "dis", "none", "bgfit", "mine2") in paths
    assert plan.overlay("mine", "dis", "none", "bgfit", "mine1", ext="mp4") in paths
    assert "(2 PNGs)" in msg


def test_final_message_scored_dataset_names_the_report_only_once_it_exists(tmp_path):
    plan = _plan(tmp_path, with_gt=True, without_gt=False)
    _make(plan, "scored", "seqa")
    before = final_message(plan)
    _assert_only_existing(before)
    assert "summary.csv" not in before and "scored" in before
    reports = Path(plan.results) / "reports"
    for name in ("summary.csv", "per_sequence.csv", "table.md"):
        (reports / name).write_text("x")
    after = final_message(plan)
    paths = _assert_only_existing(after)
    assert str(reports / "summary.csv") in paths and str(reports / "table.md") in paths


def test_final_message_both_kinds_and_nothing_made(tmp_path):
    plan = _plan(tmp_path, with_gt=True, without_gt=True)
    assert final_message(plan).startswith("motionseg: finished (no report, masks or overlays")
    _make(plan, "scored", "seqa")
    _make(plan, "mine", "mine1")
    (Path(plan.results) / "reports" / "summary.csv").write_text("x")
    msg = final_message(plan, max_sequence_lines=1)
    _assert_only_existing(msg)
    assert "summary.csv" in msg and "mine/mine1" in msg and "mine/mine2" not in msg  # mine2 has no masks
    seq = sequence_outputs(plan, "mine", "mine2")
    assert not seq.complete and not seq.scored


def test_error_message_offers_report_partial_only_when_something_is_scored(tmp_path):
    gt_free = error_message(_plan(tmp_path / "a", with_gt=False, without_gt=True))
    scored = error_message(_plan(tmp_path / "b", with_gt=True, without_gt=True))
    assert "report_partial" not in gt_free and "rerun the same command" in gt_free
    assert "report_partial" in scored and "partial/missing.csv" in scored


def test_failure_reason_reads_the_error_line_of_the_sequence_log(tmp_path):
    plan = _plan(tmp_path, with_gt=False, without_gt=True)
    assert failure_reason(plan, "mine", "mine1") is None
    log = Path(plan.results) / "logs" / "ingest" / "mine" / "mine1.log"
    log.parent.mkdir(parents=True)
    log.write_text("Traceback ...\nmotionseg: ERROR in rule ingest (sequence=mine1): /x/mine1: broken\n")
    assert "/x/mine1: broken" in failure_reason(plan, "mine", "mine1")


# ------------------------------------------------------------------------------------------------ end to end


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """One `motionseg segment` run on an MP4 and a frame folder (bgfit and kmeans), then the same call again."""
    tmp = tmp_path_factory.mktemp("seg")
    wf = copy_workflow(tmp / "wf")
    clip = _mp4(tmp / "videos" / "clip.mp4", 0)
    walk = _frames(tmp / "frames", "walk", 1)
    args = [str(clip), str(walk), "--out", "out", "--workflow", str(wf), "--cores", "2", "--methods", "bgfit",
            "kmeans"]
    first = _segment(*args, cwd=tmp)
    second = _segment(*args, cwd=tmp)
    return tmp, wf, first, second


@pytest.mark.slow
def test_segment_mp4_and_frame_folder_masks_overlays_and_config(good_run):
    tmp, wf, first, _ = good_run
    assert first.returncode == 0, first.stderr[-5000:]
    out = tmp / "out"
    cfg = yaml.safe_load((out / "motionseg.yaml").read_text())
    plan = Plan.from_config(cfg)
    for dataset, seq, names in (("videos", "clip", [f"{i:05d}" for i in range(N_FRAMES)]),
                                ("frames", "walk", sorted(p.stem for p in (tmp / "frames" / "walk").glob("*.jpg")))):
        for method in ("bgfit", "kmeans"):
            key = (dataset, "dis", "none", method, seq)
            masks = sorted(Path(plan.masks(*key)).glob("*.png"))
            assert [p.stem for p in masks] == names  # one per input frame, named like it
            assert all(Image.open(p).size == (W, H) for p in masks)
            segs = sorted((Path(plan.export(*key)) / "segments").glob("*.png"))
            assert [p.stem for p in segs] == names and Image.open(segs[0]).mode == "P"
            assert _video_frame_count(Path(plan.overlay(*key, ext="mp4"))) == (N_FRAMES, (H, W))
            assert Path(plan.overlay(*key, ext="gif")).exists()
    # the listing names each input and only files that exist; no report without ground truth
    listing = first.stdout[first.stdout.index("outputs per input"):]
    assert str(tmp / "videos" / "clip.mp4") in listing and str(tmp / "frames" / "walk") in listing
    _assert_only_existing(listing)
    finished = first.stdout[first.stdout.index("motionseg: finished."):first.stdout.index("outputs per input")]
    assert "summary" not in finished.lower() and "clip" in finished
    _assert_only_existing(finished)


@pytest.mark.slow
def test_second_call_does_nothing_and_the_config_reruns_with_snakemake(good_run):
    tmp, wf, first, second = good_run
    assert first.returncode == 0 and second.returncode == 0, second.stderr[-3000:]
    assert "Nothing to be done" in second.stderr
    # the written config runs as is with plain snakemake: in the workflow directory, and from another one
    res = snakemake(wf, "-n", "--configfile", str(tmp / "out" / "motionseg.yaml"))
    assert "Nothing to be done" in res.stdout, res.stdout[-3000:]
    res = snakemake(tmp, "--snakefile", str(wf / "Snakefile"), "-n", "--configfile",
                    str(tmp / "out" / "motionseg.yaml"), "--directory", str(tmp / "out"))
    assert "Nothing to be done" in res.stdout, res.stdout[-3000:]


@pytest.mark.slow
def test_broken_video_is_named_and_the_other_inputs_finish(tmp_path):
    wf = copy_workflow(tmp_path / "wf")
    videos = tmp_path / "videos"
    videos.mkdir()
    broken = videos / "broken.mp4"
    broken.write_bytes(b"this is not a video" * 50)
    walk = _frames(tmp_path / "frames", "walk", 1)
    res = _segment(str(videos), str(walk), "--out", str(tmp_path / "out"), "--workflow", str(wf), "--cores", "2",
                   cwd=tmp_path)
    assert res.returncode == 1, res.stderr[-5000:]
    assert str(broken) in res.stderr  # Snakemake's output names it too (the job's ERROR line)
    failed = [line for line in res.stdout.splitlines() if line.strip().startswith("FAILED")]
    assert len(failed) == 1 and str(broken) in failed[0] and "cannot be decoded" in failed[0]
    mask_dir = tmp_path / "out" / "results" / "frames" / "masks" / "dis" / "none" / "bgfit" / "walk"
    masks = sorted(mask_dir.glob("*.png"))
    assert len(masks) == N_FRAMES
    assert "1 of 2 input(s) done" in res.stdout
