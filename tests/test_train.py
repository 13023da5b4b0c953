"""Training from motion on synthetic sequences: it learns, it resumes exactly after SIGKILL, it checkpoints on
SIGTERM, and run_train / run_segment work on real flow and track files."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from motionseg.io.errors import ConfigError, InputError
from motionseg.io.ingest_format import Ingested, save_ingested
from motionseg.io.masks import read_mask_dir
from motionseg.train import (
    foreground_segments,
    predict_probs,
    run_segment,
    run_train,
    train_model,
)
from motionseg.train.loop import model_from_cfg

REPO = Path(__file__).resolve().parents[1]
H, W, T = 40, 56, 8


def train_cfg(**over) -> dict:
    """The ``train`` section of config/config.yaml with the ``refine`` section nested (what run_train and run_segment
    read between them), shrunk for tests."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg = {**config["train"], "refine": config["refine"]}
    cfg.update(width=8, depth=3, K=2, resolution=[H, W], lr=3e-3, warmup_iters=10, iterations=150, batch_size=4,
               rank=3, context=3, track_filter=1, n_tracks=100, temporal_offset=2, checkpoint_every=50, device="cpu",
               select_frames=4)
    cfg.update(over)
    return cfg


def make_sequence(seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict, dict]:
    """A blocky random background panning left and a checkered square moving down-left.

    Returns frames uint8 [T, H, W, 3], GT bool [T, H, W], flows {"forward": {g: [T-g,H,W,2]}, "backward": {...}} for
    gaps 1, 2 (exact), tracks {"tracks" [T, N, 2], "visible" [T, N], "orig_hw"}.
    """
    rng = np.random.default_rng(seed)
    pad, obj = 4 * T, 14
    tex = rng.integers(0, 128, size=((H + 2 * pad) // 4 + 1, (W + 2 * pad) // 4 + 1, 3)).astype(np.uint8)
    tex = np.kron(tex, np.ones((4, 4, 1), np.uint8))[: H + 2 * pad, : W + 2 * pad]
    vb, vo = np.array([1, 0]), np.array([-1, 1])
    y0, x0 = H // 2 - obj // 2 - 2, W // 2 - obj // 2 + int(rng.integers(-6, 6))
    yy, xx = np.mgrid[:obj, :obj]
    otex = np.stack([200 + 55 * ((yy // 2 + xx // 2) % 2), 60 + 0 * yy, 40 + 100 * ((xx // 3) % 2)], -1)
    frames, gts = [], []
    for t in range(T):
        f = tex[pad + vb[1] * t: pad + vb[1] * t + H, pad + vb[0] * t: pad + vb[0] * t + W].copy()
        py, px = y0 + vo[1] * t, x0 + vo[0] * t
        f[py:py + obj, px:px + obj] = otex
        g = np.zeros((H, W), bool)
        g[py:py + obj, px:px + obj] = True
        frames.append(f)
        gts.append(g)
    gt = np.stack(gts)

    def flow(t: int, gap: int) -> np.ndarray:
        fl = np.zeros((H, W, 2), np.float32)
        fl[...] = -vb * gap
        fl[gt[t]] = vo * gap
        return fl

    flows = {"forward": {g: np.stack([flow(t, g) for t in range(T - g)]) for g in (1, 2)},
             "backward": {g: np.stack([flow(t + g, -g) for t in range(T - g)]) for g in (1, 2)}}
    ys, xs = np.mgrid[1:H:3, 1:W:3]
    p0 = np.stack([xs.ravel(), ys.ravel()], -1).astype(np.float32)
    in_obj = gt[0][p0[:, 1].astype(int), p0[:, 0].astype(int)]
    tracks = np.stack([p0 + np.where(in_obj[:, None], vo * t, -vb * t) for t in range(T)]).astype(np.float32)
    return np.stack(frames), gt, flows, {"tracks": tracks, "visible": np.ones(tracks.shape[:2], bool),
                                          "orig_hw": (H, W)}


def gt_free_j(state: dict, cfg: dict, seqs: list) -> float:
    """Mean J of the GT-free foreground (border rule) over the sequences (GT used only to score)."""
    model = model_from_cfg(cfg)
    model.load_state_dict(state)
    js = []
    for frames, gt, _, _ in seqs:
        probs = predict_probs(model, frames, (H, W), (H, W), torch.device("cpu"), progress=False)
        fg = probs[:, foreground_segments(probs, cfg["fg_border_frac"], cfg["fg_border_ratio"])].sum(1) > 0.5
        js.append(np.mean([(a & b).sum() / max((a | b).sum(), 1) for a, b in zip(fg, gt, strict=True)]))
    return float(np.mean(js))


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("method,k", [("gwm", 2), ("gwm", 4), ("lrtl", 2)])
def test_training_lowers_loss_and_beats_untrained(tmp_path: Path, method: str, k: int) -> None:
    seqs = [make_sequence(s) for s in range(2)]
    cfg = train_cfg(K=k)
    torch.manual_seed(0)
    j_untrained = gt_free_j(model_from_cfg(cfg).state_dict(), cfg, seqs)
    res = train_model([s[0] for s in seqs], [s[2] for s in seqs], [s[3] for s in seqs], cfg, method, 0, tmp_path,
                      progress=False)
    losses = [h["loss"] for h in res.history]
    assert np.mean(losses[-15:]) < 0.3 * np.mean(losses[:15])
    j_trained = gt_free_j(res.state_dict, cfg, seqs)
    assert j_trained > 0.8 and j_trained > j_untrained + 0.4, (j_untrained, j_trained)
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    assert len(rows) == cfg["iterations"] + 1
    assert any((tmp_path / "tensorboard").iterdir())
    if method == "lrtl":
        assert all(h["loss_traj"] > 0 for h in res.history)


_RUNNER = """
import sys, numpy as np, torch
sys.path.insert(0, {tests!r})
torch.set_num_threads(1)
from test_train import make_sequence, train_cfg
from motionseg.train import train_model
seqs = [make_sequence(s) for s in range(2)]
cfg = train_cfg(iterations={iters}, checkpoint_every=5, select="lowest-loss")
res = train_model([s[0] for s in seqs], [s[2] for s in seqs], [s[3] for s in seqs], cfg, "lrtl", 3, {work!r},
                  progress=False)
torch.save({{"state": res.state_dict, "resumed_from": res.resumed_from, "sel": res.selected_iteration}}, {out!r})
"""


def _runner(tmp_path: Path, name: str, iters: int) -> tuple[list[str], Path]:
    out = tmp_path / f"{name}.pt"
    script = tmp_path / f"{name}.py"
    script.write_text(_RUNNER.format(tests=str(Path(__file__).parent), iters=iters, work=str(tmp_path / name),
                                     out=str(out)))
    return [sys.executable, str(script)], out


@pytest.mark.slow
def test_sigkill_resume_reaches_same_weights(tmp_path: Path) -> None:
    iters = 40
    cmd, out_ref = _runner(tmp_path, "ref", iters)
    subprocess.run(cmd, check=True, timeout=300)
    cmd, out_kill = _runner(tmp_path, "killed", iters)
    proc = subprocess.Popen(cmd)
    ckpt = tmp_path / "killed" / "last.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists() and not out_kill.exists(), "the run was not interrupted mid-way"
    subprocess.run(cmd, check=True, timeout=300)
    ref, resumed = torch.load(out_ref), torch.load(out_kill)
    assert 0 < resumed["resumed_from"] < iters
    assert resumed["sel"] == ref["sel"]
    for key, val in ref["state"].items():
        assert torch.equal(val, resumed["state"][key]), key
    rows = (tmp_path / "killed" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == [str(i) for i in range(1, iters + 1)]


@pytest.mark.slow
def test_sigterm_checkpoints_and_exits_nonzero(tmp_path: Path) -> None:
    cmd, out = _runner(tmp_path, "term", 100000)
    proc = subprocess.Popen(cmd)
    ckpt = tmp_path / "term" / "last.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert not out.exists()
    state = torch.load(ckpt, weights_only=False)
    assert state["iteration"] >= 5


def _write_inputs(root: Path, seqs: list) -> list[dict]:
    """Write ingested frames, flow directories (npz storage) and track files for ``seqs``."""
    from motionseg.flow.store import FlowWriter
    from motionseg.tracks.store import save_tracks

    inputs = []
    for i, (frames, _, flows, tracks) in enumerate(seqs):
        names = [f"{t:05d}" for t in range(T)]
        fr = root / f"frames/s{i}.npz"
        save_ingested(fr, Ingested(frames=frames, names=names, orig_hw=(H, W), manifest={"sequence": f"s{i}"}))
        fd = root / f"flow/s{i}"
        fd.mkdir(parents=True)
        with FlowWriter(fd, "npz", names, [1, 2], (H, W)) as wr:
            for g in (1, 2):
                for d in ("forward", "backward"):
                    for t, f in enumerate(flows[d][g]):
                        wr.put(d, g, t, f)
            wr.finish({"storage": "npz", "names": names, "gaps": [1, 2], "working_hw": [H, W], "backend": "gt"})
        tr = root / f"tracks/s{i}.npz"
        save_tracks(tr, tracks["tracks"], tracks["visible"], np.zeros(tracks["tracks"].shape[1], np.int32), {})
        inputs.append({"frames": fr, "flow": fd, "tracks": tr})
    return inputs


def test_run_train_and_run_segment_files(tmp_path: Path) -> None:
    seqs = [make_sequence(s) for s in range(2)]
    inputs = _write_inputs(tmp_path, seqs)
    cfg = train_cfg(iterations=120, select="lowest-loss", checkpoint_every=40)
    ckpt = tmp_path / "models" / "model.pt"
    run_train(inputs, ckpt, cfg, "lrtl", 0, tmp_path / "work", progress=False)
    state = torch.load(ckpt, weights_only=False)
    assert state["provenance"]["oracle"] is False and state["provenance"]["method"] == "lrtl"
    assert state["provenance"]["selected_iteration"] in (40, 80, 120)
    # a rerun with a finished work dir resumes at the end and writes the same model
    run_train(inputs, tmp_path / "again.pt", cfg, "lrtl", 0, tmp_path / "work", progress=False)
    again = torch.load(tmp_path / "again.pt", weights_only=False)
    assert again["provenance"]["resumed_from"] == 120
    assert all(torch.equal(v, again["state_dict"][k]) for k, v in state["state_dict"].items())
    out = tmp_path / "masks" / "s0"
    run_segment(ckpt, inputs[0]["frames"], out, cfg, 0, progress=False)
    ms = read_mask_dir(out)
    assert ms.fg.shape == (T, H, W) and ms.probs.shape == (T, cfg["K"], H, W)
    assert ms.meta["method"] == "lrtl" and ms.meta["oracle"] is False and "border" in ms.meta["fg_rule"]
    j = np.mean([(a & b).sum() / (a | b).sum() for a, b in zip(ms.fg, seqs[0][1], strict=True)])
    assert j > 0.8
    assert json.loads((out / "meta.json").read_text())["fg_rule"] == ms.meta["fg_rule"]
    assert ms.meta["refined"] is False
    # train.refine_masks: the PNGs are the GrabCut-refined foreground, the K soft masks stay the network's
    out_r = tmp_path / "masks" / "s0_refined"
    run_segment(ckpt, inputs[0]["frames"], out_r, dict(cfg, refine_masks=True), 0, progress=False)
    mr = read_mask_dir(out_r)
    assert mr.meta["refined"] is True and "GrabCut" in mr.meta["fg_rule"]
    np.testing.assert_array_equal(mr.probs, ms.probs)
    assert mr.fg.shape == ms.fg.shape
    jr = np.mean([(a & b).sum() / (a | b).sum() for a, b in zip(mr.fg, seqs[0][1], strict=True)])
    assert jr > 0.8


def test_changed_config_does_not_resume_foreign_workdir(tmp_path: Path) -> None:
    seqs = [make_sequence(0)]
    args = ([seqs[0][0]], [seqs[0][2]], [None])
    train_model(*args, train_cfg(iterations=5, checkpoint_every=5), "gwm", 0, tmp_path, progress=False)
    with pytest.raises(ConfigError, match="different run"):
        train_model(*args, train_cfg(iterations=5, checkpoint_every=5, lr=1e-2), "gwm", 0, tmp_path, progress=False)
    # the same config on other data (e.g. flow recomputed under the same path) is a different run too
    other_flows = {d: {g: f * 0.5 for g, f in v.items()} for d, v in seqs[0][2].items()}
    with pytest.raises(ConfigError, match="different run"):
        train_model([seqs[0][0]], [other_flows], [None], train_cfg(iterations=5, checkpoint_every=5), "gwm", 0,
                    tmp_path, progress=False)


def test_oracle_selection_needs_gt_and_gt_needs_oracle(tmp_path: Path) -> None:
    frames, gt, flows, _ = make_sequence(0)
    with pytest.raises(ConfigError, match="oracle"):
        train_model([frames], [flows], [None], train_cfg(select="oracle", iterations=2), "gwm", 0, tmp_path)
    with pytest.raises(ValueError, match="ground truth"):
        train_model([frames], [flows], [None], train_cfg(iterations=2), "gwm", 0, tmp_path, oracle_gt=[gt])
    res = train_model([frames], [flows], [None], train_cfg(select="oracle", iterations=4, checkpoint_every=2),
                      "gwm", 0, tmp_path / "o", oracle_gt=[gt], progress=False)
    assert res.selection == "oracle" and res.select_score is not None and -1.0 <= res.select_score <= 0.0


def test_lrtl_without_tracks_and_missing_flow_gap_are_errors(tmp_path: Path) -> None:
    frames, _, flows, _ = make_sequence(0)
    with pytest.raises(ValueError, match="needs tracks"):
        train_model([frames], [flows], [None], train_cfg(iterations=2), "lrtl", 0, tmp_path)
    with pytest.raises(ValueError, match="gap 3"):
        train_model([frames], [flows], [None], train_cfg(iterations=2, flow_gaps=[1, 3]), "gwm", 0, tmp_path)


def test_run_segment_rejects_non_checkpoint(tmp_path: Path) -> None:
    bad = tmp_path / "model.pt"
    torch.save({"weights": 1}, bad)
    frames = tmp_path / "f.npz"
    save_ingested(frames, Ingested(frames=np.zeros((2, 8, 8, 3), np.uint8), names=["a", "b"], orig_hw=(8, 8)))
    with pytest.raises(InputError, match="model.pt"):
        run_segment(bad, frames, tmp_path / "out", train_cfg(), 0)


def test_batched_trajectory_loss_equals_per_sample_losses() -> None:
    # the loop stacks the Gram matrices of a batch and solves one eigenproblem per trajectory length D; a short
    # sequence (5 frames < 2 * context + 1) gives a shorter D, so the batch holds two groups
    from motionseg.losses import sample_masks_at_points, trajectory_lowrank_loss
    from motionseg.train.data import Sample, batch_tensors, sample_tracks
    from motionseg.train.loop import _batch_losses, prepare_data

    cfg = train_cfg(context=3)
    long, short = make_sequence(0), make_sequence(1)
    short_tracks = dict(short[3], tracks=short[3]["tracks"][:5], visible=short[3]["visible"][:5])
    short_flows = {d: {g: f[:5 - g] for g, f in short[2][d].items()} for d in ("forward", "backward")}
    data = prepare_data([long[0], short[0][:5]], [long[2], short_flows], [long[3], short_tracks], cfg, "lrtl")
    # 4 long + 2 short samples: a mean of the two group means would differ from the mean over samples
    samples = [Sample(0, 2, 1, False, 1), Sample(0, 4, -1, False, 0), Sample(0, 3, 1, True, 3),
               Sample(0, 5, -1, True, 2), Sample(1, 1, 1, True, 5), Sample(1, 3, -1, True, 4)]
    torch.manual_seed(0)
    model = model_from_cfg(cfg).eval()
    got = _batch_losses(model, data, samples, np.random.default_rng(7), cfg, "lrtl", 1.0, torch.device("cpu"))
    rng = np.random.default_rng(7)
    with torch.no_grad():
        masks = model(batch_tensors(data, samples)[0]).float().softmax(dim=1)
    terms, lengths = [], set()
    for i, s in enumerate(samples):
        pair = samples[s.pair].frame if s.pair > i else None
        tb = sample_tracks(rng, data[s.seq].tracks, s.frame, pair, s.flip, cfg["n_tracks"], cfg["context"])
        lengths.add(tb.traj.shape[0])
        m = sample_masks_at_points(masks[i:i + 1], tb.pos[None], tb.orig_hw)
        terms.append(trajectory_lowrank_loss(m, tb.traj[None], cfg["rank"]).item())
    assert lengths == {14, 10}
    want = cfg["loss_weights"]["traj"] * np.mean(terms)
    assert want > 0
    assert got["loss_traj"].item() == pytest.approx(want, rel=1e-5)


def test_foreground_rule_prefers_segment_away_from_border() -> None:
    probs = np.zeros((3, 3, 20, 30), np.float32)
    probs[:, 0] = 1.0
    probs[:, 0, 6:14, 10:20] = 0.0
    probs[:, 1, 6:14, 10:20] = 1.0  # central object
    # segment 2 empty
    fg = foreground_segments(probs, 0.1, 1.0)
    assert fg.tolist() == [False, True, False]
    # a segment covering the left half (touching the border as much as its area) is background
    probs2 = np.zeros((1, 2, 20, 30), np.float32)
    probs2[:, 0, :, :15] = 1
    probs2[:, 1, :, 15:] = 1
    assert foreground_segments(probs2, 0.1, 1.0).sum() == 1



def _write_pseudo(root: Path, masks: np.ndarray, name: str, oracle: bool = False) -> Path:
    from motionseg.io.masks import write_mask_dir

    out = root / "pseudo" / name
    write_mask_dir(out, [f"{t:05d}" for t in range(len(masks))], masks, None, None,
                   {"method": "bgfit", "oracle": oracle})
    return out


def test_boot_method_learns_segment0_from_pseudo_labels_and_fills_missed_frames(tmp_path: Path) -> None:
    seqs = [make_sequence(s) for s in range(2)]
    inputs = _write_inputs(tmp_path, seqs)
    # pseudo-labels: the object, except in frames 2 and 5 where the "teacher" missed it (empty masks)
    missed = [2, 5]
    for i, (item, seq) in enumerate(zip(inputs, seqs, strict=True)):
        lab = seq[1].copy()
        lab[missed] = False
        item["pseudo"] = _write_pseudo(tmp_path, lab, f"s{i}")
    cfg = train_cfg(K=3, iterations=400)
    ckpt = tmp_path / "boot.pt"
    run_train(inputs, ckpt, dict(cfg, pseudo_labels="bgfit"), "gwm-boot", 0, tmp_path / "work", progress=False)
    state = torch.load(ckpt, weights_only=False)
    assert state["provenance"]["method"] == "gwm-boot" and state["provenance"]["pseudo_labels"] == "bgfit"
    rows = (tmp_path / "work" / "metrics.csv").read_text().splitlines()
    assert "loss_pseudo" in rows[0] and all(r.split(",")[6] != "" for r in rows[1:])
    out = tmp_path / "masks" / "s0"
    run_segment(ckpt, inputs[0]["frames"], out, cfg, 0, progress=False)
    ms = read_mask_dir(out)
    assert "segment 0" in ms.meta["fg_rule"] and ms.fg_segments.tolist() == [True, False, False]
    gt = seqs[0][1]
    j = [(a & b).sum() / (a | b).sum() for a, b in zip(ms.fg, gt, strict=True)]
    assert np.mean(j) > 0.8
    # the network found the object from its appearance where the pseudo-labels had nothing
    assert min(j[t] for t in missed) > 0.6, j


def test_boot_inputs_are_checked(tmp_path: Path) -> None:
    seqs = [make_sequence(0)]
    inputs = _write_inputs(tmp_path, seqs)
    cfg = dict(train_cfg(iterations=2), pseudo_labels="bgfit")
    with pytest.raises(ValueError, match="pseudo-label mask directory"):
        run_train(inputs, tmp_path / "a.pt", cfg, "gwm-boot", 0, tmp_path / "w1", progress=False)
    good = [dict(inputs[0], pseudo=_write_pseudo(tmp_path, seqs[0][1], "ok"))]
    with pytest.raises(ValueError, match="gwm-boot"):
        run_train(good, tmp_path / "b.pt", cfg, "gwm", 0, tmp_path / "w2", progress=False)
    with pytest.raises(ConfigError, match="pseudo"):
        run_train(good, tmp_path / "c.pt", dict(cfg, loss_weights=dict(cfg["loss_weights"], pseudo=0.0)), "gwm-boot",
                  0, tmp_path / "w3", progress=False)
    short = [dict(inputs[0], pseudo=_write_pseudo(tmp_path, seqs[0][1][:-1], "short"))]
    with pytest.raises(InputError, match="short.*7 pseudo-label masks"):
        run_train(short, tmp_path / "d.pt", cfg, "gwm-boot", 0, tmp_path / "w4", progress=False)
    oracle = [dict(inputs[0], pseudo=_write_pseudo(tmp_path, seqs[0][1], "orc", oracle=True))]
    with pytest.raises(InputError, match="orc.*oracle"):
        run_train(oracle, tmp_path / "e.pt", cfg, "lrtl-boot", 0, tmp_path / "w5", progress=False)
    with pytest.raises(ValueError, match="unknown method"):
        run_train(good, tmp_path / "f.pt", cfg, "mg-boot", 0, tmp_path / "w6", progress=False)
    assert not any((tmp_path / n).exists() for n in ("a.pt", "b.pt", "c.pt", "d.pt", "e.pt", "f.pt"))



def test_flip_tta_is_mirror_equivariant_and_averages_two_passes() -> None:
    frames = make_sequence(0)[0][:3]
    torch.manual_seed(0)
    model = model_from_cfg(train_cfg(K=3))
    dev = torch.device("cpu")
    plain = predict_probs(model, frames, (H, W), (H, W), dev, progress=False)
    mirrored = predict_probs(model, frames[:, :, ::-1].copy(), (H, W), (H, W), dev, progress=False)
    tta = predict_probs(model, frames, (H, W), (H, W), dev, progress=False, flip=True)
    tta_m = predict_probs(model, frames[:, :, ::-1].copy(), (H, W), (H, W), dev, progress=False, flip=True)
    np.testing.assert_allclose(tta, 0.5 * (plain + mirrored[..., ::-1]), atol=1e-5)
    np.testing.assert_allclose(tta_m, tta[..., ::-1], atol=1e-5)  # mirroring the input mirrors the output
    assert np.abs(mirrored - plain[..., ::-1]).max() > 1e-3  # which the untrained network alone does not do
    np.testing.assert_allclose(tta.sum(axis=1), 1.0, atol=1e-5)



def test_refine_masks_true_false_or_a_list_of_methods() -> None:
    from motionseg.train.api import refine_applies

    assert refine_applies(True, "gwm") and not refine_applies(False, "lrtl-boot")
    assert refine_applies(["gwm-boot", "lrtl-boot"], "lrtl-boot")
    assert not refine_applies(["gwm-boot", "lrtl-boot"], "lrtl")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-x", "-q"]))


def _deep_merge(base: dict, over: dict) -> dict:
    """Merge ``over`` into ``base`` as Snakemake merges ``--configfile`` files (nested dicts key by key)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@pytest.mark.slow
def test_gpu_recipe_train_setting_runs_lrtl_boot(tmp_path: Path) -> None:
    """README's GPU recipe (config/davis_gpu.yaml over davis2016.yaml): its merged config validates against the
    schema and its train setting (ResNet-50, K=4, 128x224, grad clip, AMP, 70,000 tracks, lowest-loss selection)
    trains lrtl-boot end to end; only the device and the length are cut here (no GPU, CPU time)."""
    from snakemake.utils import validate

    from motionseg.train.config import infer_config, train_config

    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for name in ("davis2016.yaml", "davis_gpu.yaml"):
        cfg = _deep_merge(cfg, yaml.safe_load((REPO / "config" / name).read_text()))
    validate(cfg, str(REPO / "config" / "schema.yaml"))
    tc = train_config(cfg, "lrtl-boot")
    assert (tc["model"], tc["K"], tc["resolution"], tc["iterations"]) == ("resnet50", 4, [128, 224], 20000)
    tc.update(device="cpu", iterations=2, checkpoint_every=1, batch_size=2, select_frames=2, backbone_weights=None)
    seqs = [make_sequence(0)]
    inputs = _write_inputs(tmp_path, seqs)
    inputs[0]["pseudo"] = _write_pseudo(tmp_path, seqs[0][1], "s0")
    ckpt = tmp_path / "model.pt"
    run_train(inputs, ckpt, tc, "lrtl-boot", 0, tmp_path / "work", progress=False)
    state = torch.load(ckpt, weights_only=False)
    assert state["provenance"]["oracle"] is False and state["provenance"]["selected_iteration"] in (1, 2)
    out = tmp_path / "masks"
    infer_cfg = infer_config(_deep_merge(cfg, {"train": {"device": "cpu"}}), "lrtl-boot")
    run_segment(ckpt, inputs[0]["frames"], out, infer_cfg, 0, progress=False)
    ms = read_mask_dir(out)
    assert ms.probs.shape == (T, 4, H, W) and ms.meta["method"] == "lrtl-boot"
