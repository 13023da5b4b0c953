"""DUL (motionseg.dul): network layout against upstream, the objective, the augmentation geometry, the config, and
resumable deterministic training; the slow acceptance test trains a few minutes on the CPU.

``test_dul_keys_match_upstream`` needs a checkout of visinf/dense-ulearn-vos whose ``models`` package imports
(torch and torchvision only): ``MOTIONSEG_DUL_REPO=/path/to/dense-ulearn-vos pytest tests/test_dul.py``; it is
skipped with the reason otherwise. The upstream code is never vendored here.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

from motionseg.dul.loss import align, dul_loss, grid_index
from motionseg.dul.model import DULArch, DULModel, build_model, load_snapshot
from motionseg.dul.train import (
    CONFIG_KEYS,
    _zoom,
    clip_frames,
    draw_batch,
    dul_config,
    run_train_dul,
    train_dul,
)
from motionseg.io.errors import ConfigError, InputError, Preempted
from motionseg.io.ingest_format import Ingested, save_ingested
from motionseg.metrics.jf import jaccard
from motionseg.propagate import dul_features, propagate_labels
from motionseg.synth import render_sequence

REPO = Path(__file__).resolve().parents[1]


def _dul_section(name: str) -> dict:
    """The training keys of the ``dul`` section of config/<name> (no ``snapshot`` / ``train_datasets``)."""
    d = yaml.safe_load((REPO / "config" / name).read_text())["dul"]
    return {k: v for k, v in d.items() if k not in ("snapshot", "train_datasets")}


CPU_CONFIG = _dul_section("config.yaml")  # the shipped CPU demo setting
PAPER_CONFIG = _dul_section("dul_gpu.yaml")  # the paper's setting


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---------------------------------------------------------------------------------------------- upstream layout


def _upstream_name(module: str) -> bool:
    """Whether ``module`` is one of upstream's top-level packages (``models``, ``core``, ``utils``) or inside one."""
    return module in ("models", "core", "utils") or module.startswith(("models.", "core.", "utils."))


def _upstream_framework(repo: Path):
    """Build upstream's ``Framework`` (models.get_model) from a checkout; skip when it does not import."""
    saved = {k: v for k, v in sys.modules.items() if _upstream_name(k)}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, str(repo))
    try:
        models = importlib.import_module("models")
        try:  # the real config (needs pyyaml, six, packaging); its defaults are what the snapshots were trained with
            cfg = importlib.import_module("core.config").cfg
            source = "core.config"
        except Exception:
            cfg = SimpleNamespace(MODEL=SimpleNamespace(ARCH="resnet18", FEATURE_DIM=128, GRID_SIZE=8,
                                                        GRID_SIZE_REF=4, CE_REF=0.1, REMOVE_LAYERS=[]),
                                  TEST=SimpleNamespace(TEMP=0.05))
            source = "core/config.py defaults restated (core.config did not import)"
        net = models.get_model(cfg, remove_layers=[])
    except Exception as exc:
        pytest.skip(f"upstream models at {repo} do not import ({exc!r})")
    finally:
        sys.path.remove(str(repo))
        for k in [k for k in sys.modules if _upstream_name(k)]:
            if k not in saved:
                del sys.modules[k]
        sys.modules.update(saved)
    return net, source


def test_dul_keys_match_upstream() -> None:
    """Same parameter/buffer names and shapes as upstream's Framework, and the same res3/res4/key outputs on the
    same input with the same (random) weights copied over."""
    repo = os.environ.get("MOTIONSEG_DUL_REPO")
    if not repo or not (Path(repo) / "models" / "framework.py").is_file():
        pytest.skip("set MOTIONSEG_DUL_REPO to a checkout of visinf/dense-ulearn-vos (with models/framework.py)")
    upstream, source = _upstream_framework(Path(repo))
    print(f"upstream Framework built from {repo}, config from {source}")
    torch.manual_seed(0)
    ours = build_model()
    up_state, our_state = upstream.state_dict(), ours.state_dict()
    assert list(up_state) == list(our_state), f"key mismatch (upstream config from {source})"
    for k, v in up_state.items():
        assert v.shape == our_state[k].shape, k
    torch.manual_seed(1)
    rand = {k: (torch.randn_like(v) * 0.1 + (1.0 if k.endswith("running_var") else 0.0)) if v.is_floating_point()
            else v for k, v in up_state.items()}
    upstream.load_state_dict(rand)
    ours.load_state_dict(rand)
    upstream.eval()
    ours.eval()
    x = torch.randn(2, 3, 64, 80)
    with torch.no_grad():
        res3_u, res4_u, key_u = upstream(x, embd_only=True)
        key_o, res3_o, res4_o = ours(x)
    for a, b in ((res3_u, res3_o), (res4_u, res4_o), (key_u, key_o)):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-5)
    assert res4_o.shape[-2:] == (8, 10)


def test_full_model_layout_and_released_snapshot_format(tmp_path: Path) -> None:
    """The full configuration has ResNet-18's parameters (fc removed) plus the head, res4 at 1/8, and a snapshot in
    the released layout ({"model", "opt", "score", "epoch"}, DataParallel "module." keys) loads strictly."""
    torch.manual_seed(0)
    model = build_model()
    state = model.state_dict()
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == 11_176_512 + (512 * 512 + 512) + 2 * 512 + (512 * 128 + 128)  # trunk + emb_q
    assert state["fast_net.backbone.conv1.weight"].shape == (64, 3, 7, 7)
    assert state["fast_net.backbone.layer4.0.downsample.0.weight"].shape == (512, 256, 1, 1)
    assert state["fast_net.emb_q.conv2.weight"].shape == (128, 512, 1, 1)
    assert not any(".fc." in k for k in state)
    key, res3, res4 = model.eval()(torch.randn(1, 3, 96, 128))
    assert key.shape == (1, 128, 12, 16) and res3.shape == (1, 256, 12, 16) and res4.shape == (1, 512, 12, 16)
    snap = {"model": {f"module.{k}": v for k, v in state.items()}, "opt": {}, "score": 0.5, "epoch": 60}
    torch.save(snap, tmp_path / "ytvos_e060_res4.pth")
    loaded = load_snapshot(tmp_path / "ytvos_e060_res4.pth")
    assert loaded.arch == DULArch() and not loaded.training
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_bad_snapshots_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing_res4.pth.*does not exist"):
        load_snapshot(tmp_path / "missing_res4.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a torch file")
    with pytest.raises(InputError, match="garbage.pth"):
        load_snapshot(tmp_path / "garbage.pth")
    torch.save({"model": {"conv.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(InputError, match="other.pth: not a DUL snapshot"):
        load_snapshot(tmp_path / "other.pth")
    state = build_model(DULArch(8, 1, 16)).state_dict()
    state["fast_net.emb_q.conv2.weight"] = state["fast_net.emb_q.conv2.weight"][:, :3]  # a wrong shape
    torch.save({"model": state}, tmp_path / "shape.pth")
    with pytest.raises(InputError, match="shape.pth: not a DUL snapshot"):
        load_snapshot(tmp_path / "shape.pth")


def test_reduced_model_keeps_the_names() -> None:
    full = set(build_model().state_dict())
    same_depth = build_model(DULArch(width=16, blocks=2, feature_dim=32))
    assert set(same_depth.state_dict()) == full
    shallow = set(build_model(DULArch(width=8, blocks=1, feature_dim=16)).state_dict())
    assert shallow < full


# ------------------------------------------------------------------------------------------------- the objective


def test_grid_index_spacing_and_offsets() -> None:
    g = torch.Generator().manual_seed(0)
    idx = grid_index(3, 16, 24, 4, g)
    assert idx.shape == (3, 16)
    y, x = idx // 24, idx % 24
    for b in range(3):
        assert len(set(x[b].tolist())) == 4 and len(set(y[b].tolist())) == 4
        assert (torch.diff(torch.unique(x[b])) == 6).all() and (torch.diff(torch.unique(y[b])) == 4).all()
    with pytest.raises(ValueError):
        grid_index(1, 3, 24, 4)


def test_dul_loss_gradients_and_self_assignment() -> None:
    torch.manual_seed(0)
    B, T, K, h, w = 2, 3, 8, 8, 8
    key1 = torch.nn.functional.normalize(torch.randn(B * T, K, h, w), dim=1).requires_grad_(True)
    key2 = key1.detach().clone().requires_grad_(True)
    eye = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(B * T, 2, 3)
    out = dul_loss(key1, key2, eye, eye, T, grid=4, grid_ref=2, generator=torch.Generator().manual_seed(0))
    assert set(out) == {"main", "temp", "cross_key", "pseudo"}
    assert torch.isfinite(out["main"])
    main, cross, temp = (float(out[k].detach()) for k in ("main", "cross_key", "temp"))
    assert main == pytest.approx(0.1 * cross + temp)
    # identical views: each anchor is its own pseudo-label on frame 0 (similarity 1 with itself)
    idx = grid_index(B, h, w, 4, torch.Generator().manual_seed(0))
    for b in range(B):
        got = out["pseudo"][b * T].flatten()[idx[b]]
        assert torch.equal(got, torch.arange(16) + 16 * b)
    out["main"].backward()
    assert key1.grad.abs().sum() > 0
    # view 2 takes gradients only through the cross-view term on frame 0 of each clip
    g2 = key2.grad.view(B, T, K, h, w)
    assert g2[:, 0].abs().sum() > 0 and g2[:, 1:].abs().sum() == 0


def test_zoom_affine_aligns_view1_onto_view2() -> None:
    """The theta of the view-2 augmentation brings view-1 maps into view-2 coordinates (what the loss aligns)."""
    H, W = 64, 96
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    img = np.stack([xx * 2.5, yy * 3.5, (xx + yy)], -1).clip(0, 255).astype(np.uint8)[None]
    valid = np.ones((H, W), bool)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        v2, _, theta = _zoom(img, valid, rng, (0.5, 0.9), True)
        x1 = torch.from_numpy(img[0]).permute(2, 0, 1)[None].float()
        warped = torch.nn.functional.grid_sample(
            x1, torch.nn.functional.affine_grid(torch.from_numpy(theta)[None], [1, 3, H, W], align_corners=False),
            mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()
        err = np.abs(warped[4:-4, 4:-4] - v2[0, 4:-4, 4:-4].astype(np.float32)).mean()
        assert err < 2.0, (seed, err)
    # align() is the nearest-neighbour version used on feature maps
    t = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]])
    x = torch.randn(1, 2, 5, 7)
    assert torch.equal(align(x, t), x)


def test_clip_frames_window_and_permutation() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        ids = clip_frames(rng, 30, 5, 2)
        s = sorted(ids)
        assert len(ids) == 5 and s[0] >= 0 and s[-1] < 30 and np.all(np.diff(s) == 2)
    ids = clip_frames(rng, 7, 5, 10)  # short sequence: window = 7 frames, spacing 1
    assert sorted(ids) == list(range(min(ids), min(ids) + 5))
    seen_first = {clip_frames(np.random.default_rng(i), 30, 5, 2)[0] - min(clip_frames(np.random.default_rng(i), 30,
                                                                                       5, 2)) for i in range(40)}
    assert len(seen_first) > 1  # the reference frame is not always the earliest


# ---------------------------------------------------------------------------------------------------- the config


def test_config_keys_errors_and_paper_values() -> None:
    assert set(PAPER_CONFIG) == set(CONFIG_KEYS) == set(CPU_CONFIG)
    dul_config(PAPER_CONFIG)
    checked = dul_config({**CPU_CONFIG, "lr": 1})
    assert isinstance(checked["lr"], float)
    bad = dict(CPU_CONFIG)
    del bad["frame_gap"]
    with pytest.raises(ConfigError, match="dul.frame_gap"):
        dul_config(bad)
    with pytest.raises(ConfigError, match="dul.colour_jitter"):
        dul_config({**CPU_CONFIG, "colour_jitter": 0.1})
    with pytest.raises(ConfigError, match="dul.video_len"):
        dul_config({**CPU_CONFIG, "video_len": 1})
    with pytest.raises(ConfigError, match="dul.batch_size"):
        dul_config({**CPU_CONFIG, "batch_size": 2.0})
    with pytest.raises(ConfigError, match="dul.zoom_range"):
        dul_config({**CPU_CONFIG, "zoom_range": [0.5, 1.5]})
    with pytest.raises(ConfigError, match="dul.crop_size"):
        dul_config({**CPU_CONFIG, "crop_size": [32, 64]})


# -------------------------------------------------------------------------------------------------- training


TINY = {**CPU_CONFIG, "width": 8, "blocks": 1, "feature_dim": 16, "batch_size": 2, "video_len": 3,
        "iterations": 6, "checkpoint_every": 2}


def _write_frames(root: Path, indices: list[int], n_frames: int = 10, h: int = 64, w: int = 96) -> list[Path]:
    paths = []
    for i in indices:
        seq = render_sequence(i, n_frames, h, w, 0)
        p = root / f"s{i}.npz"
        save_ingested(p, Ingested(frames=seq.frames, names=[f"{t:05d}" for t in range(n_frames)], orig_hw=(h, w),
                                  manifest={"sequence": f"synth_{i}"}))
        paths.append(p)
    return paths


def test_batches_depend_on_seed_and_iteration_only(tmp_path: Path) -> None:
    videos = [render_sequence(i, 10, 64, 96, 0).frames for i in range(2)]
    cfg = dul_config(TINY)
    a, b = draw_batch(0, 3, videos, cfg), draw_batch(0, 3, videos, cfg)
    assert torch.equal(a.view1, b.view1) and torch.equal(a.view2, b.view2) and a.clips == b.clips
    assert not torch.equal(a.view1, draw_batch(0, 4, videos, cfg).view1)
    assert a.view1.shape == (2, 3, 3, 64, 64) and a.theta1.shape == (2, 2, 3)
    # every sequence once per epoch
    assert sorted(s for s, _ in draw_batch(0, 0, videos, cfg).clips) == [0, 1]


class _StopAfter:
    """Stands in for SigtermFlag: reports SIGTERM at the n-th poll."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def install(self) -> _StopAfter:
        return self

    def restore(self) -> None:
        pass

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls >= self.n


def test_resume_gives_the_same_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Acceptance (c): SIGTERM mid-run checkpoints and raises Preempted; the rerun resumes and ends with exactly the
    weights (and BN statistics) of an uninterrupted run; two uninterrupted runs agree (CPU determinism)."""
    paths = _write_frames(tmp_path, [0, 1])
    run_train_dul(paths, tmp_path / "ref.pth", TINY, 0, tmp_path / "work_ref", progress=False)
    run_train_dul(paths, tmp_path / "ref2.pth", TINY, 0, tmp_path / "work_ref2", progress=False)
    with monkeypatch.context() as m:
        m.setattr("motionseg.dul.train.SigtermFlag", lambda: _StopAfter(3))
        with pytest.raises(Preempted):
            run_train_dul(paths, tmp_path / "cut.pth", TINY, 0, tmp_path / "work_cut", progress=False)
    assert not (tmp_path / "cut.pth").exists()
    assert torch.load(tmp_path / "work_cut" / "last.pt", weights_only=False)["iteration"] == 3
    run_train_dul(paths, tmp_path / "cut.pth", TINY, 0, tmp_path / "work_cut", progress=False)
    ref, ref2, cut = (torch.load(tmp_path / f, weights_only=True) for f in ("ref.pth", "ref2.pth", "cut.pth"))
    assert cut["resumed_from"] == 3 and ref["resumed_from"] == 0
    for k, v in ref["model"].items():
        assert torch.equal(v, ref2["model"][k]), k
        assert torch.equal(v, cut["model"][k]), k
    rows = (tmp_path / "work_cut" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == [str(i) for i in range(1, 7)]
    model = load_snapshot(tmp_path / "cut.pth")
    assert model.arch == DULArch(8, 1, 16)
    assert cut["sequences"] == ["synth_0", "synth_1"] and cut["epoch"] == 6
    # a work dir of another run (other seed) is not resumed
    with pytest.raises(ConfigError, match="different run"):
        run_train_dul(paths, tmp_path / "x.pth", TINY, 1, tmp_path / "work_cut", progress=False)


def _propagation_j(model: DULModel, seqs: list) -> float:
    js = []
    for seq in seqs:
        gt = seq.instance_ids.astype(np.int64)
        pred = propagate_labels(dul_features(model, seq.frames), gt[0])
        js.append(np.mean([jaccard(g > 0, p > 0) for g, p in zip(gt[1:], pred[1:], strict=True)]))
    return float(np.mean(js))


@pytest.mark.slow
def test_trained_dul_features_beat_untrained(tmp_path: Path) -> None:
    """Acceptance (b): a few CPU minutes of DUL training give better propagation J on held-out synthetic sequences
    than the same network untrained (same seed, same initial weights)."""
    cfg = {**CPU_CONFIG, "iterations": 300, "checkpoint_every": 100}
    paths = _write_frames(tmp_path, list(range(6)), n_frames=24, h=96, w=128)
    held_out = [render_sequence(i, 24, 96, 128, 0) for i in range(10, 13)]
    res = train_dul(paths, cfg, 0, tmp_path / "work", progress=False)
    torch.manual_seed(0)
    untrained = build_model(res.model.arch)
    j_trained, j_untrained = _propagation_j(res.model, held_out), _propagation_j(untrained, held_out)
    assert j_trained > j_untrained + 0.05, (j_trained, j_untrained)
