"""The bad-input matrix of issue 10, walked through the rule entry points (one case per bad input).

Each case builds a small synthetic sequence (``motionseg.synth``), breaks it, runs the ``run_*`` function that the
Snakemake rule calls and asserts (a) the message names the offending file or config key and says what is wrong and
(b) nothing partial is left: nothing at the output path and no temporary in its directory. Other test files cover
the readers in more depth (tests/test_datasets.py, test_ingest.py, test_flow.py, test_train.py, test_tracks.py);
this file is the index over the whole matrix.
"""

from __future__ import annotations

import copy
import errno
import shutil
import subprocess
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from motionseg.flow import load_flow, run_flow
from motionseg.io.datasets import get_sequence, load_gt
from motionseg.io.errors import ConfigError, InputError
from motionseg.io.ingest import run_ingest
from motionseg.io.ingest_format import load_ingested
from motionseg.io.masks import read_mask_dir
from motionseg.methods import method_config, run_method
from motionseg.metrics import run_evaluate
from motionseg.plan import Plan
from motionseg.synth import generate_sequence
from motionseg.synth.corrupt import CORRUPTIONS, corrupt_sequence
from motionseg.tracks import load_tracks, run_tracks

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
SCHEMA = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
SEQ, T, H, W = "synth_000", 6, 32, 48
FLOW_CFG = dict(CONFIG["flow"], storage="flo", device="cpu")
TRACKS_CFG = dict(CONFIG["tracks"], window=4, grid_stride=4, query_stride=3, device="cpu")
EVAL_CFG = dict(CONFIG["evaluation"], workers=1)
KEYS = {"dataset": "d", "flow": "dis", "tracks": "none", "method": "bgfit"}


# ------------------------------------------------------------------------------------------------------ helpers


def ds_cfg(root: Path, layout: str = "davis") -> dict:
    return {"name": "d", "layout": layout, "root": str(root)}


def assert_nothing_left(out: Path) -> None:
    """Nothing at ``out`` and no temporary or partial file next to it (every output dir here starts empty)."""
    assert not out.exists(), f"partial output left at {out}"
    if out.parent.exists():
        left = sorted(p.name for p in out.parent.iterdir())
        assert left == [], f"leftovers next to {out}: {left}"


def expect_error(run: Callable[[], object], named: Path | str, words: str, out: Path,
                 exc_type: type[Exception] = InputError) -> Exception:
    """``run()`` raises ``exc_type`` whose message names ``named`` and contains ``words``; nothing left at ``out``."""
    with pytest.raises(exc_type) as ei:
        run()
    msg = str(ei.value)
    assert str(named) in msg, msg
    assert words in msg, msg
    if isinstance(ei.value, InputError):
        assert msg.startswith(str(named)), msg  # "<file>: <problem>"
    assert_nothing_left(out)
    return ei.value


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DAVIS-layout root with one clean synthetic sequence (treat as read-only; copy it with :func:`dataset`)."""
    root = tmp_path_factory.mktemp("pristine") / "data"
    generate_sequence(root, SEQ, 0, T, H, W, seed=0)
    return root


@pytest.fixture()
def dataset(pristine: Path, tmp_path: Path) -> Path:
    """A private copy of the pristine dataset, free to break."""
    root = tmp_path / "data"
    for sub in ("JPEGImages", "Annotations"):
        shutil.copytree(pristine / sub / SEQ, root / sub / SEQ)
    return root


@pytest.fixture(scope="module")
def chain(pristine: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Good intermediate results of the pristine sequence: frames npz, DIS flow (.flo storage), bgfit masks."""
    res = tmp_path_factory.mktemp("chain")
    frames, flow, masks = res / "frames.npz", res / "flow", res / "masks"
    run_ingest(ds_cfg(pristine), SEQ, frames, {"height": None})
    run_flow(frames, flow, FLOW_CFG, "dis", [1], threads=1)
    run_method("bgfit", frames, flow, masks, method_config(CONFIG, "bgfit"), 0)
    return {"frames": frames, "flow": flow, "masks": masks}


# ------------------------------------------------------------------------------------------- frames (ingest)


def _to_png(root: Path) -> list[Path]:
    """Re-save the sequence's JPEG frames as PNG; returns the PNG paths."""
    out = []
    for jpg in sorted((root / "JPEGImages" / SEQ).glob("*.jpg")):
        png = jpg.with_suffix(".png")
        Image.open(jpg).save(png)
        jpg.unlink()
        out.append(png)
    return out


def _truncated_png(root: Path) -> Path:
    p = _to_png(root)[2]
    p.write_bytes(p.read_bytes()[:-40])
    return p


def _unreadable_png(root: Path) -> Path:
    p = _to_png(root)[1]
    p.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    return p


def _corruption(kind: str) -> Callable[[Path], Path]:
    return lambda root: corrupt_sequence(root, SEQ, kind)


FRAME_CASES = {
    "missing frame in a numbered run": (_corruption("missing_frame"), CORRUPTIONS["missing_frame"]),
    "truncated JPEG": (_corruption("truncated_jpeg"), CORRUPTIONS["truncated_jpeg"]),
    "unreadable JPEG": (_corruption("garbage_frame"), CORRUPTIONS["garbage_frame"]),
    "truncated PNG": (_truncated_png, "unreadable or truncated image"),
    "unreadable PNG": (_unreadable_png, "unreadable or truncated image"),
    "frames of differing sizes": (_corruption("frame_size"), CORRUPTIONS["frame_size"]),
    "empty sequence": (_corruption("empty"), CORRUPTIONS["empty"]),
    "one-frame sequence": (_corruption("one_frame"), CORRUPTIONS["one_frame"]),
}


@pytest.mark.parametrize("case", list(FRAME_CASES))
def test_bad_frames_are_rejected_by_ingest(dataset: Path, tmp_path: Path, case: str) -> None:
    breaker, words = FRAME_CASES[case]
    bad = breaker(dataset)
    out = tmp_path / "results" / "frames" / f"{SEQ}.npz"
    out.parent.mkdir(parents=True)
    expect_error(lambda: run_ingest(ds_cfg(dataset), SEQ, out, {"height": 16}), bad, words, out)


def test_undecodable_video(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    root.mkdir()
    bad = root / "clip.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video" * 20)
    out = tmp_path / "results" / "clip.npz"
    out.parent.mkdir()
    expect_error(lambda: run_ingest(ds_cfg(root, "video"), "clip", out, {"height": None}), bad,
                 "video cannot be decoded", out)


def test_dataset_root_that_does_not_exist(tmp_path: Path) -> None:
    root = tmp_path / "no such dataset"
    out = tmp_path / "results" / f"{SEQ}.npz"
    out.parent.mkdir()
    expect_error(lambda: run_ingest(ds_cfg(root), SEQ, out, {"height": None}), root, "does not exist", out)


# -------------------------------------------------------------------------------------- GT masks (evaluate)


def _score(root: Path, masks: Path, out: Path) -> pd.DataFrame:
    run_evaluate(masks, ds_cfg(root), SEQ, out, EVAL_CFG, KEYS)
    return pd.read_csv(out)


def test_mask_whose_size_differs_from_its_frame(dataset: Path, chain: dict, tmp_path: Path) -> None:
    bad = corrupt_sequence(dataset, SEQ, "mask_size")
    out = tmp_path / "scores" / f"{SEQ}.csv"
    out.parent.mkdir()
    expect_error(lambda: _score(dataset, chain["masks"], out), bad, CORRUPTIONS["mask_size"], out)


def _soft_edges(fg: np.ndarray) -> Image.Image:
    """Grey mask: 230 inside with a soft 140 ring just inside the edge (foreground) and 90 just outside (background)."""
    from scipy.ndimage import binary_dilation, binary_erosion

    v = np.where(fg, 230, 0).astype(np.uint8)
    v[fg & ~binary_erosion(fg)] = 140
    v[binary_dilation(fg) & ~fg] = 90
    return Image.fromarray(v, mode="L")


def _palette(fg: np.ndarray) -> Image.Image:
    """DAVIS-2017 style palette mask: object index 1, a void (255) band in the background."""
    idx = np.where(fg, 1, 0).astype(np.uint8)
    idx[-2:, :][~fg[-2:, :]] = 255
    im = Image.fromarray(idx, mode="P")
    im.putpalette([0, 0, 0, 128, 0, 0] + [0] * (3 * 253) + [224, 224, 192])
    return im


def _rgb(fg: np.ndarray) -> Image.Image:
    """RGB mask: a green object (max channel 200) on black, with a dark-grey (100) background speckle."""
    rgb = np.zeros((*fg.shape, 3), np.uint8)
    rgb[fg] = (0, 200, 0)
    rgb[::5, ::7][~fg[::5, ::7]] = (100, 100, 100)
    return Image.fromarray(rgb, mode="RGB")


@pytest.mark.parametrize("encode", [_soft_edges, _palette, _rgb], ids=["soft-edges", "palette", "rgb"])
def test_masks_with_unexpected_values_follow_the_documented_rules(
    dataset: Path, pristine: Path, chain: dict, tmp_path: Path, encode: Callable[[np.ndarray], Image.Image]
) -> None:
    """Soft edges (grey >= 128 is foreground), palette (non-zero index, 255 = void = background) and RGB (max channel
    >= 128) masks encoding the same objects give the same foreground and the same scores as the binary masks."""
    truth = load_gt(get_sequence(pristine, "davis", SEQ))
    assert any(m.any() for m in truth.values()) and not all(m.all() for m in truth.values())
    for name, fg in truth.items():
        encode(fg).save(dataset / "Annotations" / SEQ / f"{name}.png")
    got = load_gt(get_sequence(dataset, "davis", SEQ))
    assert list(got) == list(truth)
    for name in truth:
        np.testing.assert_array_equal(got[name], truth[name], err_msg=name)
    ref = _score(pristine, chain["masks"], tmp_path / "ref.csv")
    alt = _score(dataset, chain["masks"], tmp_path / "alt.csv")
    pd.testing.assert_frame_equal(alt, ref)


# ------------------------------------------------------------------------------------------- .flo files


@pytest.mark.parametrize("damage", ["bad magic", "truncated"])
@pytest.mark.parametrize("consumer", ["tracks", "bgfit"])
def test_bad_flo_file(chain: dict, tmp_path: Path, damage: str, consumer: str) -> None:
    flow = tmp_path / "flow"
    shutil.copytree(chain["flow"], flow)
    bad = sorted((flow / "Flows_gap1").glob("*.flo"))[2]
    data = bytearray(bad.read_bytes())
    if damage == "bad magic":
        data[:4] = np.asarray([1234.5], "<f4").tobytes()
        words = "bad .flo magic number"
    else:
        data = data[: len(data) // 2]
        words = "truncated .flo data"
    bad.write_bytes(bytes(data))
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    if consumer == "tracks":
        out = out_dir / f"{SEQ}.npz"
        run = partial(run_tracks, chain["frames"], flow, out, TRACKS_CFG, "flowchain", progress=False)
    else:
        out = out_dir / SEQ
        run = partial(run_method, "bgfit", chain["frames"], flow, out, method_config(CONFIG, "bgfit"), 0)
    expect_error(run, bad, words, out)


# ------------------------------------------------------------------------------------------- checkpoints


def _raft_cfg(ckpt: Path) -> dict:
    cfg = copy.deepcopy(FLOW_CFG)
    cfg["allow_random_weights"] = False
    cfg["raft_small"]["checkpoint"] = str(ckpt)
    cfg["raft_small"]["num_flow_updates"] = 2
    return cfg


def _seg_net_state() -> tuple[dict, dict]:
    """(train config, state dict) of a tiny segmentation network."""
    from motionseg.train.loop import model_from_cfg

    cfg = dict(CONFIG["train"], refine=CONFIG["refine"], width=8, depth=3, K=2, resolution=[H, W], device="cpu")
    return cfg, model_from_cfg(cfg).state_dict()


@pytest.mark.parametrize("kind", ["not a state dict", "another model"])
def test_bad_raft_checkpoint(chain: dict, tmp_path: Path, kind: str) -> None:
    ckpt = tmp_path / "raft_small.pth"
    if kind == "not a state dict":
        torch.save([1, 2, 3], ckpt)
        words = "checkpoint is not a state dict of tensors"
    else:
        torch.save(_seg_net_state()[1], ckpt)  # a real state dict, of the segmentation network
        words = "checkpoint does not match torchvision raft_small"
    out = tmp_path / "results" / "flow"
    out.parent.mkdir()
    expect_error(lambda: run_flow(chain["frames"], out, _raft_cfg(ckpt), "raft_small", [1], threads=1), ckpt,
                 words, out)


@pytest.mark.parametrize("kind", ["not a state dict", "another model"])
def test_bad_segmentation_checkpoint(chain: dict, tmp_path: Path, kind: str) -> None:
    from motionseg.train import run_segment

    cfg, _ = _seg_net_state()
    ckpt = tmp_path / "model.pt"
    if kind == "not a state dict":
        torch.save(torch.zeros(3), ckpt)
        words = "not a motionseg segmentation checkpoint"
    else:
        from torchvision.models.optical_flow import raft_small

        torch.save(raft_small(weights=None).state_dict(), ckpt)  # the flow network's weights
        words = "not a motionseg segmentation checkpoint"
    out = tmp_path / "results" / SEQ
    out.parent.mkdir()
    expect_error(lambda: run_segment(ckpt, chain["frames"], out, cfg, 0, progress=False), ckpt, words, out)


def test_segmentation_checkpoint_whose_weights_do_not_match_its_config(chain: dict, tmp_path: Path) -> None:
    """A checkpoint in the right format whose weights belong to another architecture (K=3 weights, K=2 config)."""
    from motionseg.train import run_segment
    from motionseg.train.api import CKPT_FORMAT
    from motionseg.train.loop import model_from_cfg

    cfg, _ = _seg_net_state()
    other = model_from_cfg(dict(cfg, K=3)).state_dict()
    ckpt = tmp_path / "model.pt"
    torch.save({"format": CKPT_FORMAT, "state_dict": other, "config": cfg,
                "provenance": {"method": "gwm", "oracle": False}}, ckpt)
    out = tmp_path / "results" / SEQ
    out.parent.mkdir()
    expect_error(lambda: run_segment(ckpt, chain["frames"], out, cfg, 0, progress=False), ckpt,
                 "weights do not match the network", out)


# ------------------------------------------------------------------------------------------------ config


def _validate(config: dict) -> None:
    import jsonschema

    jsonschema.validate(config, SCHEMA)


def test_shipped_config_is_valid() -> None:
    _validate(CONFIG)  # the cases below fail because of the one change each makes


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("tracks", "grid_strid", 4), ("flow", "storrage", "npz"), (None, "sequnces", [])],
    ids=["tracks.grid_strid", "flow.storrage", "sequnces"],
)
def test_misspelled_config_key(section: str | None, key: str, value: object) -> None:
    import jsonschema

    bad = copy.deepcopy(CONFIG)
    (bad[section] if section else bad)[key] = value
    with pytest.raises(jsonschema.ValidationError) as ei:
        _validate(bad)
    assert key in str(ei.value) and "Additional properties are not allowed" in str(ei.value)


@pytest.mark.parametrize(
    ("section", "key", "value"), [("tracks", "grid_stride", "four"), ("evaluation", "workers", 1.5),
                                  ("ingest", "height", "tall")],
)
def test_config_value_of_the_wrong_type(section: str, key: str, value: object) -> None:
    import jsonschema

    bad = copy.deepcopy(CONFIG)
    bad[section][key] = value
    with pytest.raises(jsonschema.ValidationError) as ei:
        _validate(bad)
    msg = str(ei.value)
    assert f"['{section}']['{key}']" in msg and repr(value) in msg, msg


def test_config_error_from_the_plan() -> None:
    """Values the schema cannot catch (an unknown method name) are ConfigErrors naming the key."""
    bad = copy.deepcopy(CONFIG)
    bad["methods"] = ["bgfit", "bgfti"]
    with pytest.raises(ConfigError, match="config key 'methods': unknown method 'bgfti'"):
        Plan.from_config(bad)


def test_config_error_in_a_rule_leaves_no_output(chain: dict, tmp_path: Path) -> None:
    out = tmp_path / "results" / "flow"
    out.parent.mkdir()
    expect_error(lambda: run_flow(chain["frames"], out, dict(FLOW_CFG, storage="hdf5"), "dis", [1]),
                 "flow.storage", "unknown storage 'hdf5'", out, ConfigError)


# ---------------------------------------------------------------------------------- non-ASCII, spaces


def test_non_ascii_and_space_paths_full_chain(tmp_path: Path) -> None:
    """ingest -> flow -> tracks -> bgfit -> evaluate where the dataset root, the sequence and the results tree have
    non-ASCII characters and spaces. Frames of 96x144: at the 32x48 of the other tests the objects are a few pixels
    wide and the motion methods' clean-up (a 5 px disc) rightly removes them, so the score would say nothing."""
    T, H, W = 6, 96, 144
    base = tmp_path / "données vidéo ü"
    root, seq, res = base / "DAVIS 2016 ñ", "séq 1 ø", base / "résultats run 1"
    generate_sequence(root, seq, 1, T, H, W, seed=0)
    frames, flow, tracks = res / "frames" / f"{seq}.npz", res / "flow" / "dis" / seq, res / "tracks" / f"{seq}.npz"
    masks, scores = res / "masks" / seq, res / "scores" / f"{seq}.csv"
    run_ingest(ds_cfg(root), seq, frames, {"height": None})
    run_flow(frames, flow, FLOW_CFG, "dis", [1], threads=1)
    run_tracks(frames, flow, tracks, TRACKS_CFG, "flowchain", progress=False)
    run_method("bgfit", frames, flow, masks, method_config(CONFIG, "bgfit"), 0)
    run_evaluate(masks, ds_cfg(root), seq, scores, EVAL_CFG, KEYS)
    ing = load_ingested(frames)
    assert ing.manifest["sequence"] == seq and ing.manifest["frames"][0] == str(root / "JPEGImages" / seq / "00000.jpg")
    assert load_flow(flow).forward(1).shape == (T - 1, H, W, 2)
    assert load_tracks(tracks).n_frames == T
    assert read_mask_dir(masks).fg.shape == (T, H, W)
    df = pd.read_csv(scores)
    assert set(df["sequence"]) == {seq} and df["J_mean"].between(0, 1).all() and df["J_mean"].max() > 0.2
    assert not [p for p in res.rglob("*") if ".tmp" in p.name or ".partial" in p.name]


# ------------------------------------------------------------------------------------------------ full disk


def _enospc(*_a, **_k):
    raise OSError(errno.ENOSPC, "No space left on device")


def _partial_then_enospc(real: Callable) -> Callable:
    """Wrap a writer ``real(fh_or_path, ...)``: write a few bytes where it would write, then fail with ENOSPC."""

    def fake(target, *args, **kwargs):
        if hasattr(target, "write"):
            target.write(b"partial")
        else:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            Path(target).write_bytes(b"partial")
        _enospc()

    return fake


def _assert_no_space(exc: BaseException, out: Path) -> None:
    assert isinstance(exc, OSError) and exc.errno == errno.ENOSPC, repr(exc)
    msg = str(exc)
    assert "No space left on device" in msg and (str(out) in msg or str(out.parent) in msg), msg
    assert_nothing_left(out)


@pytest.mark.parametrize("stage", ["ingest", "flow", "tracks", "masks"])
def test_full_disk_simulated(chain: dict, pristine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             stage: str) -> None:
    """ENOSPC from the low-level write of each kind of output: an error naming the output; nothing partial left."""
    import motionseg.flow.store as flow_store
    import motionseg.tracks.store as track_store
    from motionseg.io import ingest_format

    res = tmp_path / "results"
    res.mkdir()
    if stage == "ingest":
        out = res / f"{SEQ}.npz"
        monkeypatch.setattr(ingest_format.np, "savez_compressed", _partial_then_enospc(np.savez_compressed))
        run = partial(run_ingest, ds_cfg(pristine), SEQ, out, {"height": None})
    elif stage == "flow":
        out = res / "flow"
        monkeypatch.setattr(flow_store, "write_flo", _partial_then_enospc(flow_store.write_flo))
        run = partial(run_flow, chain["frames"], out, FLOW_CFG, "dis", [1], threads=1)
    elif stage == "tracks":
        out = res / f"{SEQ}.npz"
        monkeypatch.setattr(track_store, "_npy_header", _partial_then_enospc(track_store._npy_header))
        run = partial(run_tracks, chain["frames"], chain["flow"], out, TRACKS_CFG, "flowchain", progress=False)
    else:
        out = res / SEQ
        real_save = Image.Image.save
        calls = {"n": 0}

        def save(self, fp, *a, **k):  # the 3rd PNG of the mask directory hits the full disk
            calls["n"] += 1
            if calls["n"] == 3:
                Path(fp).write_bytes(b"partial")
                _enospc()
            return real_save(self, fp, *a, **k)

        monkeypatch.setattr(Image.Image, "save", save)
        run = partial(run_method, "bgfit", chain["frames"], chain["flow"], out, method_config(CONFIG, "bgfit"), 0)
    with pytest.raises(OSError) as ei:
        run()
    _assert_no_space(ei.value, out)


@pytest.fixture()
def small_tmpfs(tmp_path: Path):
    """A 256 KiB tmpfs mounted at tmp_path/'disk' (skips when mounting is not permitted); unmounted afterwards."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    try:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], check=False,
                              capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot run mount for a small tmpfs ({exc})")
    if proc.returncode != 0:
        pytest.skip(f"mounting a small tmpfs is not permitted here: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False, timeout=20)


def _fill(mnt: Path, leave: int) -> None:
    """Fill the file system at ``mnt`` until about ``leave`` bytes remain free."""
    import os

    st = os.statvfs(mnt)
    free = st.f_bavail * st.f_frsize
    if free > leave:
        (mnt / "filler.bin").write_bytes(b"\0" * (free - leave))


@pytest.mark.parametrize("stage", ["ingest", "flow"])
def test_full_disk_real_tmpfs(small_tmpfs: Path, chain: dict, pristine: Path, stage: str) -> None:
    """A real full file system (a nearly filled tmpfs): ENOSPC naming the output, nothing partial left."""
    res = small_tmpfs / "results"
    res.mkdir()
    _fill(small_tmpfs, 12 * 1024)
    if stage == "ingest":
        out = res / f"{SEQ}.npz"
        run = partial(run_ingest, ds_cfg(pristine), SEQ, out, {"height": None})
    else:
        out = res / "flow"
        run = partial(run_flow, chain["frames"], out, FLOW_CFG, "dis", [1], threads=1)
    with pytest.raises(OSError) as ei:
        run()
    _assert_no_space(ei.value, out)


@pytest.fixture(scope="module")
def larger_chain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Frames and flow of a 64x96 sequence: its first track block's positions (9 KiB) span three memory pages."""
    res = tmp_path_factory.mktemp("larger")
    generate_sequence(res / "data", SEQ, 0, T, 64, 96, seed=0)
    frames, flow = res / "frames.npz", res / "flow"
    run_ingest(ds_cfg(res / "data"), SEQ, frames, {"height": None})
    run_flow(frames, flow, FLOW_CFG, "dis", [1], threads=1)
    return {"frames": frames, "flow": flow}


def _tracks_child(chain: dict, out: Path) -> subprocess.CompletedProcess:
    """run_tracks in a child process (a SIGBUS must not kill pytest itself)."""
    import sys

    code = ("import sys, yaml; from motionseg.tracks import run_tracks; "
            "run_tracks(sys.argv[1], sys.argv[2], sys.argv[3], yaml.safe_load(sys.argv[4]), 'flowchain', "
            "progress=False)")
    return subprocess.run([sys.executable, "-c", code, str(chain["frames"]), str(chain["flow"]), str(out),
                           yaml.safe_dump(TRACKS_CFG)], check=False, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize(
    "leave_pages",
    [0, 2],
    ids=["no-room-for-a-file", "room-for-one-page"],
)
def test_full_disk_real_tmpfs_tracks(small_tmpfs: Path, larger_chain: dict, leave_pages: int) -> None:
    """The track rule on a full tmpfs: exit status 1 and an ENOSPC error naming the output, nothing left behind.

    With two free pages, numpy's open_memmap can create the first block file (it writes the header page and the last
    page) but filling the page in between faults: the process dies of SIGBUS, leaving the work dir behind.
    """
    import os

    res = small_tmpfs / "results"
    res.mkdir()
    out = res / f"{SEQ}.npz"
    _fill(small_tmpfs, leave_pages * os.sysconf("SC_PAGE_SIZE"))
    proc = _tracks_child(larger_chain, out)
    assert proc.returncode == 1, f"rc={proc.returncode}: {proc.stderr[-1000:]}"
    # the message names the output itself or its work file beside it (.<name>.partial/...)
    assert "No space left on device" in proc.stderr and str(out.parent) in proc.stderr, proc.stderr[-1000:]
    assert out.name in proc.stderr, proc.stderr[-1000:]
    assert_nothing_left(out)
