"""MTNet (supervised, motionseg.models.mtnet + motionseg.train.supervised): shapes, determinism, gradients of every
decoder output, upstream key compatibility (with a checkout of hy0523/MTNet), config checks, ground truth only on
labelled frames, exact resume after a SIGTERM checkpoint, the mask directory, and the issue's acceptance test (train
on synthetic sequences, segment held-out ones with J >= 0.8)."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from flow_helpers import flow_cfg

from motionseg.flow.flo import read_flo
from motionseg.flow.run import run_flow
from motionseg.flow.store import FlowWriter, load_flow
from motionseg.flow.viz import flow_to_rgb as wheel_rgb
from motionseg.io.datasets import read_mask
from motionseg.io.errors import ConfigError, InputError, Preempted
from motionseg.io.ingest import run_ingest
from motionseg.io.ingest_format import load_ingested
from motionseg.io.masks import read_mask_dir
from motionseg.metrics.jf import jaccard
from motionseg.models.mtnet import MTNet, ours_to_upstream, upstream_to_ours
from motionseg.synth import generate_sequence
from motionseg.train import supervised
from motionseg.train.supervised import (
    check_infer_config,
    check_train_config,
    clip_tensors,
    deep_supervision_loss,
    draw_clips,
    flow_to_rgb,
    frame_flows,
    load_sequences,
    run_infer_supervised,
    run_method,
    run_train_supervised,
    stage_learning_rate,
)

SIDE = 64  # synthetic frames are SIDE x SIDE px, the network runs at the same size
N_FRAMES = 8


def mt_cfg(**over) -> dict:
    """The CPU demo ``mtnet`` section, shrunk for tests (tiny encoder, one temporal and one decoder layer)."""
    cfg = {
        "encoder": "tiny", "width": 16, "mtt_layers": 1, "ctd_layers": 1, "backbone_weights": None,
        "resolution": [SIDE, SIDE], "n_frames": 3,
        "pre_train": {"iterations": 4, "lr": 2e-3, "batch_size": 2},
        "main_train": {"iterations": 4, "lr": 1e-3, "batch_size": 2},
        "weight_decay": 0.05, "grad_clip": 1.0, "augment_flip": True, "checkpoint_every": 2, "device": "cpu",
        "amp": False, "flow_gap": 1, "infer_clip_length": 5,
    }
    cfg.update(over)
    return cfg


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def write_exact_flow(root: Path, name: str, out_dir: Path) -> None:
    """A flow directory (gap 1, npz storage) holding the exact flow the generator wrote in the DAVIS layout
    (``Flows_gap1/<name>/<t>.flo``: t -> t+1; ``Flows_gap-1/<name>/<t+1>.flo``: t+1 -> t)."""
    fwd_files = sorted((root / "Flows_gap1" / name).glob("*.flo"))
    names = [f.stem for f in fwd_files] + [f"{len(fwd_files):05d}"]
    hw = read_flo(fwd_files[0]).shape[:2]
    out_dir.mkdir(parents=True)
    with FlowWriter(out_dir, "npz", names, [1], hw) as wr:
        for t, f in enumerate(fwd_files):
            wr.put("forward", 1, t, read_flo(f))
            wr.put("backward", 1, t, read_flo(root / "Flows_gap-1" / name / f"{names[t + 1]}.flo"))
        wr.finish({"storage": "npz", "names": names, "gaps": [1], "working_hw": list(hw), "backend": "exact"})


def make_dataset(root: Path, res: Path, indices: list[int], n_frames: int = N_FRAMES, side: int = SIDE,
                 drop_gt: dict[int, list[int]] | None = None, flow: str = "dis") -> list[dict]:
    """Synthetic sequences ``synth_<i>`` in DAVIS layout under ``root``, ingested and with flow under ``res`` (``dis``:
    computed by the flow job's DIS backend; ``exact``: the generator's exact flow); ``drop_gt`` removes the
    annotations of some frames (sequence index -> frame indices) before the ingest. Returns the training inputs
    {"frames", "flow", "gt"} of the sequences, in order."""
    inputs = []
    for i in indices:
        name = f"synth_{i:03d}"
        generate_sequence(root, name, i, n_frames, side, side, 0)
        for t in (drop_gt or {}).get(i, []):
            (root / "Annotations" / name / f"{t:05d}.png").unlink()
        frames = res / "frames" / f"{name}.npz"
        run_ingest({"name": "synth", "layout": "davis", "root": str(root)}, name, frames, {"height": None})
        if flow == "exact":
            write_exact_flow(root, name, res / "flow" / name)
        else:
            run_flow(frames, res / "flow" / name, flow_cfg(), "dis", [1], threads=1)
        inputs.append({"frames": frames, "flow": res / "flow" / name,
                       "gt": sorted((root / "Annotations" / name).glob("*.png"))})
    return inputs


@pytest.fixture(scope="module")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """Two synthetic sequences (8 frames of 64 x 64 px) with DIS flow; sequence 1 has GT on frames 0, 3, 6 only."""
    base = tmp_path_factory.mktemp("mtnet")
    inputs = make_dataset(base / "data", base / "res", [0, 1], drop_gt={1: [1, 2, 4, 5, 7]})
    return base, inputs


def _state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------------------------ network


def test_forward_shapes_finest_first_and_size_check() -> None:
    torch.manual_seed(0)
    model = MTNet("tiny", 16, 3)
    rgb, flow = torch.rand(2, 3, 3, 64, 128), torch.rand(2, 3, 3, 64, 128)
    outs = model(rgb, flow)
    assert len(outs) == 4 and all(o.shape == (6, 1, 64, 128) for o in outs)
    # each clip is segmented as a whole: frame b*T + t of the output is frame t of clip b
    with torch.no_grad():
        model.eval()
        alone = model(rgb[1:], flow[1:])[0]
        both = model(rgb, flow)[0]
    torch.testing.assert_close(both[3:], alone, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="multiple of 64"):
        model(torch.rand(1, 2, 3, 64, 96), torch.rand(1, 2, 3, 64, 96))
    with pytest.raises(ValueError, match="B, T, 3, H, W"):
        model(rgb, flow[:, :2])
    r18 = MTNet("resnet18", 32, 2, mtt_layers=1, ctd_layers=1)
    assert [o.shape for o in r18(rgb[:1, :2], flow[:1, :2])] == [(2, 1, 64, 128)] * 4


def test_forward_and_training_are_deterministic_on_cpu(small_data, tmp_path: Path) -> None:
    _, inputs = small_data
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        model = MTNet("tiny", 16, 3, mtt_layers=1, ctd_layers=1)
        outs.append(model(torch.ones(1, 2, 3, 64, 64) * 0.3, torch.ones(1, 2, 3, 64, 64) * 0.6)[0])
    assert torch.equal(outs[0], outs[1])
    cfg = check_train_config(mt_cfg(pre_train={"iterations": 2, "lr": 1e-3, "batch_size": 2},
                                    main_train={"iterations": 1, "lr": 1e-3, "batch_size": 2}))
    data = load_sequences(inputs, cfg)
    a = supervised.train_mtnet(data, cfg, 5, tmp_path / "a", progress=False)
    b = supervised.train_mtnet(data, cfg, 5, tmp_path / "b", progress=False)
    assert _state_equal(a.state_dict, b.state_dict)
    c = supervised.train_mtnet(data, cfg, 6, tmp_path / "c", progress=False)
    assert not _state_equal(a.state_dict, c.state_dict)


def test_every_decoder_output_gets_gradient() -> None:
    torch.manual_seed(0)
    model = MTNet("tiny", 16, 3)  # upstream's layer counts
    rgb, flow = torch.rand(1, 3, 3, 64, 64), torch.rand(1, 3, 3, 64, 64)
    heads = ["cls2", "cls3", "cls4", "cls5"]
    for i, head in enumerate(heads):
        model.zero_grad(set_to_none=True)
        model(rgb, flow)[i].sum().backward()
        for other in heads:
            grad = getattr(model, other)[3].weight.grad
            assert (grad is not None and grad.abs().sum() > 0) == (other == head), (i, other)
        # every output reads the coarsest scale (through the cascade and the top-down pyramid) and its own scale
        own = {0: "fusion1.r_down.0.conv.weight", 1: "fusion2.f_down.0.conv.weight",
               2: "transformer3.0.local_attention.query_embedding.weight", 3: "fpn.toplayer.weight"}[i]
        for shared in ("backbone.stem.0.conv.weight", "fusion4.f_down.0.conv.weight",
                       "transformer4.3.global_attention.sr.weight", "decoder.stage1.layers.0.ffn.conv.0.weight",
                       own):
            grad = model.get_parameter(shared).grad
            assert grad is not None and grad.abs().sum() > 0, (i, shared)
    # the training loss reaches every parameter
    model.zero_grad(set_to_none=True)
    target = (torch.rand(3, 1, 64, 64) > 0.5).float()
    deep_supervision_loss(model(rgb, flow), target, torch.ones(3))["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    zero = [n for n, p in model.named_parameters() if p.grad.abs().sum() == 0]
    assert len(zero) < 0.02 * len(list(model.parameters())), zero


def test_deep_supervision_loss_is_main_plus_half_aux_on_labelled_frames() -> None:
    g = torch.Generator().manual_seed(0)
    logits = [torch.randn(4, 1, 8, 8, generator=g) for _ in range(4)]
    target = (torch.rand(4, 1, 8, 8, generator=g) > 0.5).float()
    weight = torch.tensor([1.0, 0.0, 1.0, 0.0])
    got = deep_supervision_loss(logits, target, weight)
    bce = [torch.nn.functional.binary_cross_entropy_with_logits(lg[[0, 2]], target[[0, 2]]) for lg in logits]
    torch.testing.assert_close(got["loss_main"], bce[0])
    torch.testing.assert_close(got["loss_aux"], 0.5 * (bce[1] + bce[2] + bce[3]))
    torch.testing.assert_close(got["loss"], bce[0] + 0.5 * (bce[1] + bce[2] + bce[3]))
    # what an unlabelled frame's target holds does not matter
    other = target.clone()
    other[[1, 3]] = 1 - other[[1, 3]]
    torch.testing.assert_close(deep_supervision_loss(logits, other, weight)["loss"], got["loss"])


def test_learning_rate_schedules() -> None:
    pre = {"iterations": 80000, "lr": 1e-4, "batch_size": 4}
    assert stage_learning_rate("pre_train", pre, 0) == pytest.approx(1e-6)
    assert stage_learning_rate("pre_train", pre, 750) == pytest.approx(0.5 * (1e-6 + 1e-4))
    assert stage_learning_rate("pre_train", pre, 1500) == pytest.approx(1e-4)
    assert stage_learning_rate("pre_train", pre, 79999) == pytest.approx(1e-4 * 2 / 78501)
    assert stage_learning_rate("main_train", {"iterations": 10000, "lr": 1e-4, "batch_size": 2}, 5000) == 1e-4


# --------------------------------------------------------------------------------------------- upstream keys


def _import_upstream(repo: Path, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Import ``core.networks.MTNet`` of an upstream checkout: its ImageNet download is replaced by empty weights
    (random init) and its unused ``from IPython import embed`` by a stub when IPython is absent."""
    try:
        importlib.import_module("IPython")
    except ImportError:
        stub = types.ModuleType("IPython")
        stub.embed = lambda *a, **k: None
        monkeypatch.setitem(sys.modules, "IPython", stub)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: {"model": {}})
    monkeypatch.syspath_prepend(str(repo))
    return importlib.import_module("core.networks.MTNet")


@pytest.mark.slow  # about 40 s on one CPU thread (two 512 x 512 ConvNeXt-T forwards)
def test_mtnet_keys_match_upstream(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    repo = os.environ.get("MOTIONSEG_MTNET_REPO")
    if not repo:
        pytest.skip("MOTIONSEG_MTNET_REPO is not set: point it at a checkout of hy0523/MTNet (e.g. `git archive` "
                    "of the fetched repository) to compare with the upstream network")
    if not (Path(repo) / "core" / "networks" / "MTNet.py").is_file():
        pytest.skip(f"MOTIONSEG_MTNET_REPO={repo} has no core/networks/MTNet.py")
    before = set(sys.modules)
    try:
        try:
            up_mod = _import_upstream(Path(repo), monkeypatch)
        except Exception as exc:  # e.g. timm missing
            pytest.skip(f"the upstream MTNet does not import here ({type(exc).__name__}: {exc}); it needs timm<1.1")
        config = {"in_channels": [96, 192, 384, 768], "out_channels": [96] * 4, "train_frames": 3,
                  "clip_length": 3, "encoder_name": "convnext-tiny", "proj_dim": 96, "mtt_layers": 4, "head": 4,
                  "dropout": 0.0, "zone_size": 2, "ctd_layers": 4, "batch_size": 1}
        torch.manual_seed(0)
        upstream = up_mod.MTNet(config)
        ours = MTNet("convnext_tiny", 96, 3)
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():  # make the norms and BatchNorm statistics non-trivial
            for name, buf in upstream.named_buffers():
                if name.endswith("running_mean"):
                    buf.copy_(0.1 * torch.randn(buf.shape, generator=g))
                elif name.endswith("running_var"):
                    buf.copy_(0.5 + torch.rand(buf.shape, generator=g))
            for p in upstream.parameters():
                if p.ndim == 1:
                    p.add_(0.1 * torch.randn(p.shape, generator=g))
        up_state = upstream.state_dict()
        mapped = upstream_to_ours(up_state)
        ours_state = ours.state_dict()
        assert mapped.keys() == ours_state.keys()
        assert all(mapped[k].shape == ours_state[k].shape for k in mapped)
        assert ours_to_upstream(ours_state).keys() == up_state.keys()
        ours.load_state_dict(mapped)
        upstream.eval()
        ours.eval()
        captured: dict[str, torch.Tensor] = {}
        heads = ["cls2", "cls3", "cls4", "cls5"]
        for h in heads:
            getattr(upstream, h).register_forward_hook(lambda _m, _i, o, h=h: captured.__setitem__(h, o))
        rgb, flow = torch.rand(1, 2, 3, 512, 512, generator=g), torch.rand(1, 2, 3, 512, 512, generator=g)
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 1, 3, 1, 1)
        with torch.no_grad():
            up_prob = upstream((rgb - mean) / std, (flow - mean) / std)  # upstream's inputs are normalised
            outs = ours(rgb, flow)
        for h, out in zip(heads, outs, strict=True):
            ref = torch.nn.functional.interpolate(captured[h], size=(512, 512), mode="bilinear", align_corners=True)
            torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(torch.sigmoid(outs[0]), up_prob, atol=1e-5, rtol=1e-4)
        # a released-style checkpoint ({"it", "network"} with DDP's "module." prefix) loads
        ckpt = tmp_path / "released.pth"
        torch.save({"it": 1, "network": {f"module.{k}": v for k, v in up_state.items()}}, ckpt)
        fresh = MTNet("convnext_tiny", 96, 3)
        fresh.load_released(ckpt)
        assert _state_equal(fresh.state_dict(), ours.state_dict())
    finally:
        for name in set(sys.modules) - before:
            if name == "core" or name.startswith("core."):
                del sys.modules[name]


def test_backbone_weights_load_in_torchvision_or_convnext_authors_naming(tmp_path: Path) -> None:
    import torchvision

    torch.manual_seed(0)
    tv = torchvision.models.convnext_tiny(weights=None)
    # the ConvNeXt authors' checkpoint layout ({"model": ...}, with their classifier) of the same weights
    authors = {"head.weight": torch.zeros(1000, 768), "norm.weight": torch.ones(768)}
    for k, v in tv.features.state_dict().items():
        up = ours_to_upstream({f"backbone.features.{k}": v})
        authors.update({key.removeprefix("backbone."): val for key, val in up.items()})
    torch.save({"model": authors}, tmp_path / "convnext_tiny_1k_224_ema.pth")
    torch.save(tv.state_dict(), tmp_path / "convnext_tiny_tv.pth")
    for name in ("convnext_tiny_1k_224_ema.pth", "convnext_tiny_tv.pth"):
        net = MTNet("convnext_tiny", 96, 3, backbone_weights=tmp_path / name, mtt_layers=1, ctd_layers=1)
        assert _state_equal(net.backbone.features.state_dict(), tv.features.state_dict()), name
    r18 = torchvision.models.resnet18(weights=None)
    torch.save(r18.state_dict(), tmp_path / "r18.pth")
    net = MTNet("resnet18", 32, 3, backbone_weights=tmp_path / "r18.pth", mtt_layers=1, ctd_layers=1)
    assert torch.equal(net.backbone.layer4[1].conv2.weight, r18.layer4[1].conv2.weight)
    with pytest.raises(InputError, match="r18.pth"):
        MTNet("convnext_tiny", 96, 3, backbone_weights=tmp_path / "r18.pth")


def test_load_released_rejects_other_configurations(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ckpt = tmp_path / "released.pth"
    small = MTNet("tiny", 16, 3, mtt_layers=1, ctd_layers=1)
    torch.save({"it": 1, "network": small.state_dict()}, ckpt)
    with pytest.raises(InputError, match="released.pth"):
        MTNet("tiny", 32, 3).load_released(ckpt)


def test_import_released_checkpoint_segments(small_data, tmp_path: Path) -> None:
    # upstream's configuration (ConvNeXt-T, width 96, 4 + 4 layers) at a small size; random "released" weights in
    # upstream's naming, saved as the authors' engine saves them
    _, inputs = small_data
    torch.manual_seed(0)
    net = MTNet("convnext_tiny", 96, 3)
    released = tmp_path / "mtnet.pth"
    torch.save({"it": 10000, "network": ours_to_upstream(net.state_dict())}, released)
    cfg = mt_cfg(encoder="convnext_tiny", width=96, mtt_layers=4, ctd_layers=4)
    supervised.import_released(released, tmp_path / "model.pt", cfg)
    state = torch.load(tmp_path / "model.pt", weights_only=False)
    assert _state_equal(state["state_dict"], net.state_dict())
    out = tmp_path / "masks"
    run_infer_supervised(tmp_path / "model.pt", inputs[0]["frames"], inputs[0]["flow"], out, cfg, 0, progress=False)
    assert read_mask_dir(out).fg.shape == (N_FRAMES, SIDE, SIDE)
    with pytest.raises(InputError, match="mtnet.pth"):
        supervised.import_released(released, tmp_path / "bad.pt", dict(cfg, width=64))


# ---------------------------------------------------------------------------------------------------- config


def test_config_errors_name_the_key() -> None:
    assert check_train_config(mt_cfg())["encoder"] == "tiny"
    cases = [
        ({k: v for k, v in mt_cfg().items() if k != "flow_gap"}, "mtnet.flow_gap"),
        (mt_cfg(bogus=1), "mtnet.bogus"),
        (mt_cfg(resolution=[60, 64]), "mtnet.resolution"),
        (mt_cfg(encoder="vit"), "mtnet.encoder"),
        (mt_cfg(pre_train={"iterations": 1, "lr": 1e-3, "batch_size": 2, "warmup": 3}), "mtnet.pre_train.warmup"),
        (mt_cfg(main_train={"iterations": 1, "lr": 0, "batch_size": 2}), "mtnet.main_train.lr"),
        (mt_cfg(pre_train={"iterations": 0, "lr": 1e-3, "batch_size": 2},
                main_train={"iterations": 0, "lr": 1e-3, "batch_size": 2}), "mtnet.main_train.iterations"),
        (mt_cfg(backbone_weights="w.pt"), "mtnet.backbone_weights"),
        (mt_cfg(width=18), "mtnet.width"),
    ]
    for cfg, key in cases:
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            check_train_config(cfg)
    assert check_infer_config({"device": "cpu", "infer_clip_length": 9}) == {"device": "cpu", "infer_clip_length": 9}
    with pytest.raises(ConfigError, match=r"mtnet\.infer_clip_length"):
        check_infer_config({"device": "cpu"})


# ------------------------------------------------------------------------------------------------------- data


def test_flow_images_use_the_colour_wheel_and_last_frames_read_negated_backward_flow(small_data) -> None:
    _, inputs = small_data
    fs = load_flow(inputs[0]["flow"])
    flows = frame_flows(fs, 1, N_FRAMES, inputs[0]["flow"])
    np.testing.assert_array_equal(flows[:-1], fs.forward(1))
    np.testing.assert_array_equal(flows[-1], -fs.backward(1)[-1])
    np.testing.assert_array_equal(flow_to_rgb(flows[0]), wheel_rgb(flows[0]))
    with pytest.raises(InputError, match="gap 2"):
        frame_flows(fs, 2, N_FRAMES, inputs[0]["flow"])


def test_only_labelled_frames_are_targets(small_data) -> None:
    _, inputs = small_data
    cfg = check_train_config(mt_cfg())
    data = load_sequences(inputs, cfg)
    assert data[0].labelled.all() and data[1].labelled.tolist() == [True, False, False, True, False, False, True,
                                                                      False]
    rng = np.random.default_rng(0)
    for _ in range(20):
        clips = draw_clips(rng, data, 4, 3, True)
        _, _, target, weight = clip_tensors(data, clips)
        for k, c in enumerate(clips):
            w = weight[3 * k:3 * k + 3].numpy().astype(bool)
            assert w.any() and (w == data[c.seq].labelled[c.frames]).all()
            assert sorted(c.frames) == list(range(min(c.frames), min(c.frames) + 3))
    # the GT files the manifest names must be among the job's GT inputs
    with pytest.raises(InputError, match="not among the job's GT inputs"):
        load_sequences([dict(inputs[0], gt=inputs[0]["gt"][:-1])], cfg)
    assert load_ingested(inputs[1]["frames"]).manifest["annotated"] == ["00000", "00003", "00006"]


# ------------------------------------------------------------------------------------------- resume and infer


class _StopAt:
    """Stands in for :class:`motionseg.io.resume.SigtermFlag`: reports SIGTERM at the ``n``-th poll (iteration)."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def install(self) -> _StopAt:
        return self

    def restore(self) -> None:
        pass

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls == self.n


@pytest.mark.parametrize("stop_at", [3, 4, 7])  # inside pre_train, at the stage boundary, inside main_train
def test_sigterm_checkpoint_resumes_to_the_same_model(small_data, monkeypatch, tmp_path: Path, stop_at: int) -> None:
    _, inputs = small_data
    cfg = mt_cfg(checkpoint_every=3)
    run_train_supervised(inputs, tmp_path / "ref.pt", cfg, 0, tmp_path / "ref", progress=False)
    with monkeypatch.context() as m:
        m.setattr(supervised, "SigtermFlag", lambda: _StopAt(stop_at))
        with pytest.raises(Preempted) as exc:
            run_train_supervised(inputs, tmp_path / "cut.pt", cfg, 0, tmp_path / "cut", progress=False)
    assert exc.value.code == 143 and not (tmp_path / "cut.pt").exists()
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=False)["iteration"] == stop_at
    run_train_supervised(inputs, tmp_path / "cut.pt", cfg, 0, tmp_path / "cut", progress=False)
    ref = torch.load(tmp_path / "ref.pt", weights_only=False)
    cut = torch.load(tmp_path / "cut.pt", weights_only=False)
    assert cut["provenance"]["resumed_from"] == stop_at and ref["provenance"]["resumed_from"] == 0
    assert _state_equal(ref["state_dict"], cut["state_dict"])
    rows = (tmp_path / "cut" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == [str(i) for i in range(1, 9)]
    assert rows[1:] == (tmp_path / "ref" / "metrics.csv").read_text().splitlines()[1:]


def test_changed_setting_or_input_is_not_resumed(small_data, tmp_path: Path) -> None:
    base, inputs = small_data
    cfg = mt_cfg(pre_train={"iterations": 0, "lr": 1e-3, "batch_size": 2},
                 main_train={"iterations": 2, "lr": 1e-3, "batch_size": 2})
    run_train_supervised(inputs[:1], tmp_path / "a.pt", cfg, 0, tmp_path / "work", progress=False)
    with pytest.raises(ConfigError, match="different run"):
        run_train_supervised(inputs[:1], tmp_path / "b.pt", dict(cfg, weight_decay=0.0), 0, tmp_path / "work",
                             progress=False)
    with pytest.raises(ConfigError, match="different run"):
        run_train_supervised(inputs[:1], tmp_path / "b.pt", cfg, 1, tmp_path / "work", progress=False)
    # the same paths with other ground truth: a copy of the dataset whose first mask is emptied
    root = tmp_path / "copy"
    shutil.copytree(base / "data", root)
    inputs_c = make_dataset(root, tmp_path / "res", [0])
    run_train_supervised(inputs_c, tmp_path / "c.pt", cfg, 0, tmp_path / "work_c", progress=False)
    first = inputs_c[0]["gt"][0]
    from PIL import Image

    Image.fromarray(np.zeros_like(read_mask(first), dtype=np.uint8), mode="L").save(first)
    with pytest.raises(ConfigError, match="different run"):
        run_train_supervised(inputs_c, tmp_path / "d.pt", cfg, 0, tmp_path / "work_c", progress=False)
    assert not (tmp_path / "b.pt").exists() and not (tmp_path / "d.pt").exists()


def test_infer_writes_a_supervised_mask_dir(small_data, tmp_path: Path) -> None:
    base, inputs = small_data
    cfg = mt_cfg()
    ckpt = tmp_path / "model.pt"
    run_train_supervised(inputs, ckpt, cfg, 0, tmp_path / "work", progress=False)
    state = torch.load(ckpt, weights_only=False)
    assert state["format"] == "motionseg-mtnet-1" and state["provenance"]["supervision"] == "supervised"
    assert state["provenance"]["labelled_frames"] == N_FRAMES + 3
    out = tmp_path / "masks" / "synth_000"
    run_infer_supervised(ckpt, inputs[0]["frames"], inputs[0]["flow"], out, cfg, 0, progress=False)
    ms = read_mask_dir(out)
    assert ms.fg.shape == (N_FRAMES, SIDE, SIDE) and ms.fg.dtype == bool
    assert ms.probs.shape == (N_FRAMES, 2, SIDE, SIDE) and ms.fg_segments.tolist() == [False, True]
    np.testing.assert_allclose(ms.probs.sum(axis=1), 1.0, atol=1 / 255 + 1e-6)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["method"] == "mtnet" and meta["mode"] == "trained" and meta["supervision"] == "supervised"
    assert meta["oracle"] is False and meta["trained_on"] == ["synth_000", "synth_001"]
    # the registry dispatch gives the same directory; infer reads only its own keys
    out2 = tmp_path / "masks" / "again"
    run_method("mtnet", {"model": ckpt, "frames": inputs[0]["frames"], "flow": inputs[0]["flow"]}, out2,
               {"device": "cpu", "infer_clip_length": 5}, 0)
    np.testing.assert_array_equal(read_mask_dir(out2).fg, ms.fg)
    with pytest.raises(ValueError, match="mtnet"):
        run_method("gwm", {"model": ckpt, "frames": inputs[0]["frames"], "flow": inputs[0]["flow"]}, out2, cfg, 0)
    bad = tmp_path / "bad.pt"
    torch.save({"weights": 1}, bad)
    with pytest.raises(InputError, match="bad.pt"):
        run_infer_supervised(bad, inputs[0]["frames"], inputs[0]["flow"], tmp_path / "x", cfg, 0)


# --------------------------------------------------------------------------------------------- acceptance test

# The acceptance test: train on 8 synthetic sequences (12 frames of 64 x 64 px, the generator's exact flow,
# every frame annotated), segment 2 others never seen in training. (With DIS flow instead, held-out J was 0.68-0.78
# at 64 x 64 px and 0.83 at 128 x 128 px after 400 iterations: DIS blurs the motion boundaries of such small objects,
# so the exact flow keeps this test about the network, not about the flow.)
ACCEPT_TRAIN = list(range(8))
ACCEPT_HELD = [8, 9]
ACCEPT_FRAMES = 12


@pytest.mark.slow
def test_acceptance_trained_mtnet_segments_held_out_sequences(tmp_path: Path, record_property) -> None:
    t0 = time.time()  # one torch thread (autouse fixture): on 2 shared cores 2 threads ran up to 10x slower
    inputs = make_dataset(tmp_path / "data", tmp_path / "res", ACCEPT_TRAIN + ACCEPT_HELD, n_frames=ACCEPT_FRAMES,
                          flow="exact")
    train, held = inputs[:len(ACCEPT_TRAIN)], inputs[len(ACCEPT_TRAIN):]
    cfg = mt_cfg(pre_train={"iterations": 300, "lr": 2e-3, "batch_size": 4},
                 main_train={"iterations": 100, "lr": 2e-4, "batch_size": 4}, grad_clip=None, checkpoint_every=100,
                 infer_clip_length=9)
    t1 = time.time()
    run_train_supervised(train, tmp_path / "model.pt", cfg, 0, tmp_path / "work", progress=False)
    t2 = time.time()
    js = []
    for item in held:
        out = tmp_path / "masks" / Path(item["frames"]).stem
        run_infer_supervised(tmp_path / "model.pt", item["frames"], item["flow"], out, cfg, 0, progress=False)
        ms = read_mask_dir(out)
        gts = [read_mask(p) for p in item["gt"]]
        js.append(float(np.mean([jaccard(g, m) for g, m in zip(gts, ms.fg, strict=True)])))
    t3 = time.time()
    j = float(np.mean(js))
    record_property("held_out_J", j)
    print(f"MTNet acceptance: held-out J {j:.3f} per sequence {np.round(js, 3).tolist()}; data {t1 - t0:.0f} s, "
          f"train {t2 - t1:.0f} s, infer {t3 - t2:.1f} s")
    assert j >= 0.8, js
