"""The DAVIS-2017 unsupervised multi-object protocol (motionseg.metrics.multiobject) and instance PNGs
(motionseg.io.instances).

Hand-computed cases always run. The comparison with the official evaluator needs an importable ``davis2017`` package
(davisvideochallenge/davis2017-evaluation on PYTHONPATH) with scikit-image and SciPy, and is skipped otherwise; the
official code is never vendored here:

    PYTHONPATH=/path/to/davis2017-evaluation pytest tests/test_multiobject.py
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from motionseg.io.errors import InputError
from motionseg.io.instances import (
    davis_palette,
    instances_from_segments,
    read_instance_pngs,
    run_instances,
    write_instance_dir,
)
from motionseg.io.masks import write_mask_dir
from motionseg.metrics.columns import KEY_COLUMNS, METRIC_COLUMNS
from motionseg.metrics.jf import boundary_f, sequence_stats
from motionseg.metrics.multiobject import (
    count_objects,
    dataset_aggregate,
    multiobject_rows,
    object_rows,
    score_multiobject,
)

H, W = 20, 30


def _rect(r0: int, r1: int, c0: int, c1: int, value: int = 1, out: np.ndarray | None = None) -> np.ndarray:
    a = np.zeros((H, W), dtype=np.uint8) if out is None else out
    a[r0:r1, c0:c1] = value
    return a


def _names(n: int) -> list[str]:
    return [f"{i:05d}" for i in range(n)]


def _two_objects(n_frames: int = 2) -> dict[str, np.ndarray]:
    """GT: object 1 = rows 2:8 x cols 2:8 (36 px), object 2 = rows 10:16 x cols 15:25 (60 px), every frame."""
    out = {}
    for name in _names(n_frames):
        g = _rect(2, 8, 2, 8, 1)
        _rect(10, 16, 15, 25, 2, out=g)
        out[name] = g
    return out


def _three_proposals(n_frames: int = 2) -> dict[str, np.ndarray]:
    """Proposal 1 = object 2 exactly, proposal 2 = left half of object 1 (J = 0.5), proposal 3 = a distractor."""
    out = {}
    for name in _names(n_frames):
        p = _rect(10, 16, 15, 25, 1)
        _rect(2, 8, 2, 5, 2, out=p)
        _rect(17, 19, 0, 4, 3, out=p)
        out[name] = p
    return out


# ---------------------------------------------------------------- hand-computed protocol cases


def test_obvious_assignment_two_objects_three_proposals():
    gt, pred = _two_objects(), _three_proposals()
    res = score_multiobject(gt, pred, _names(2))
    assert res.n_objects == 2 and res.n_proposals == 3 and res.n_missing == 0
    assert res.assignment.tolist() == [2, 1]
    assert res.official_order.tolist() == [1, 0]  # pairs listed by proposal: (1 -> object 2), (2 -> object 1)
    np.testing.assert_allclose(res.j[0], 0.5)
    np.testing.assert_allclose(res.j[1], 1.0)
    np.testing.assert_allclose(res.f[1], 1.0)
    f_half = boundary_f(gt["00000"] == 1, pred["00000"] == 2)
    assert 0 < f_half < 1
    np.testing.assert_allclose(res.f[0], f_half)
    assert res.pair_score.shape == (3, 2)
    np.testing.assert_allclose(res.pair_score[0], [0.0, 1.0])
    np.testing.assert_allclose(res.pair_score[1], [(0.5 + f_half) / 2, 0.0])
    assert res.object_stats(0)["J_mean"] == pytest.approx(0.5)
    assert res.object_stats(0)["J_recall"] == 0.0  # 0.5 is not > 0.5
    assert res.object_stats(1)["F_recall"] == 1.0


def test_swapped_ids_same_scores():
    gt, pred = _two_objects(3), _three_proposals(3)
    lut = np.array([0, 3, 1, 2], dtype=np.uint8)  # proposal 1 -> 3, 2 -> 1, 3 -> 2
    swapped = {k: lut[v] for k, v in pred.items()}
    a = score_multiobject(gt, pred, _names(3))
    b = score_multiobject(gt, swapped, _names(3))
    np.testing.assert_array_equal(a.j, b.j)
    np.testing.assert_array_equal(a.f, b.f)
    np.testing.assert_array_equal(a.stats, b.stats)
    assert b.assignment.tolist() == [lut[2], lut[1]]
    gt_swapped = {k: np.array([0, 2, 1], dtype=np.uint8)[v] for k, v in gt.items()}  # GT ids swapped too
    c = score_multiobject(gt_swapped, pred, _names(3))
    np.testing.assert_array_equal(c.j[::-1], a.j)
    np.testing.assert_array_equal(c.stats[::-1], a.stats)


def test_padding_when_fewer_proposals_than_objects():
    names = _names(3)
    gt = _two_objects(3)
    gt["00002"][gt["00002"] == 2] = 0  # object 2 absent from the last frame
    pred = {n: (g == 1).astype(np.uint8) for n, g in gt.items()}  # one proposal = object 1
    res = score_multiobject(gt, pred, names)
    assert res.n_proposals == 1 and res.n_objects == 2
    assert res.assignment.tolist() == [1, 0]
    assert res.pair_score.shape == (2, 2)  # one padded row
    np.testing.assert_array_equal(res.j[1], [0, 0, 1])  # empty/empty = 1 where the object is absent
    np.testing.assert_array_equal(res.f[1], [0, 0, 1])
    np.testing.assert_array_equal(res.j[0], 1.0)
    jm, jr, jd = res.stats[1, :3]
    assert jm == pytest.approx(1 / 3) and jr == pytest.approx(1 / 3)
    assert jd == pytest.approx(sequence_stats(np.array([0, 0, 1.0]), "official")[2])


def test_no_proposals_at_all():
    gt = _two_objects(2)
    pred = {n: np.zeros((H, W), np.uint8) for n in gt}
    res = score_multiobject(gt, pred, _names(2))
    assert res.n_proposals == 0 and res.assignment.tolist() == [0, 0]
    np.testing.assert_array_equal(res.j, 0.0)
    np.testing.assert_array_equal(res.f, 0.0)


def test_void_pixels_ignored():
    g = _rect(2, 8, 2, 8, 1)
    g[:, 8:13] = 255  # void band right of the object
    p = _rect(2, 8, 2, 12, 1)  # the object plus pixels in the void band
    res = score_multiobject({"a": g}, {"a": p}, ["a"])
    assert res.n_objects == 1  # 255 is void, not an object
    assert res.j[0, 0] == 1.0 and res.f[0, 0] == 1.0
    g_novoid = g.copy()
    g_novoid[g == 255] = 0
    res2 = score_multiobject({"a": g_novoid}, {"a": p}, ["a"])
    assert res2.j[0, 0] == pytest.approx(36 / 60)


def test_more_than_20_proposals_refused():
    gt = _two_objects(1)
    p = np.zeros((H, W), np.uint8)
    p[0, :21] = np.arange(1, 22)
    with pytest.raises(ValueError, match="more than 20 proposals"):
        score_multiobject(gt, {"00000": p}, ["00000"])
    p[0, 20] = 0  # 20 is accepted
    assert score_multiobject(gt, {"00000": p}, ["00000"]).n_proposals == 20


def test_missing_prediction_frames_counted_and_empty():
    names = _names(3)
    gt = _two_objects(3)
    pred = {n: g.copy() for n, g in gt.items()}
    del pred["00001"]
    res = score_multiobject(gt, pred, names)
    assert res.missing == ["00001"] and res.n_missing == 1
    np.testing.assert_array_equal(res.j, [[1, 0, 1], [1, 0, 1]])
    row = multiobject_rows(res, {"sequence": "s"})[0]
    assert row["n_missing"] == 1


def test_object_count_first_frame_vs_all_frames():
    names = _names(2)
    gt = {names[0]: _rect(2, 8, 2, 8, 1), names[1]: _two_objects(1)["00000"]}
    assert count_objects(gt, names) == 1  # official: the first frame's largest id
    assert count_objects(gt, names, "all-frames") == 2
    assert score_multiobject(gt, gt, names).n_objects == 1
    assert score_multiobject(gt, gt, names, objects_from="all-frames").n_objects == 2
    # an object absent from the first frame but with a smaller id than one present is still an object
    gt2 = {names[0]: _rect(2, 8, 2, 8, 2), names[1]: _two_objects(1)["00000"]}
    res = score_multiobject(gt2, gt2, names)
    assert res.n_objects == 2
    np.testing.assert_array_equal(res.j, 1.0)
    with pytest.raises(ValueError, match="objects_from"):
        count_objects(gt, names, "first")


def test_bad_arguments():
    gt = _two_objects(1)
    with pytest.raises(ValueError, match="no GT"):
        score_multiobject(gt, gt, ["00000", "nope"])
    with pytest.raises(ValueError, match="decay"):
        score_multiobject(gt, gt, ["00000"], decay="wrong")
    with pytest.raises(ValueError, match="prediction of frame"):
        score_multiobject(gt, {"00000": np.zeros((3, 3), np.uint8)}, ["00000"])


def test_no_object_sequence():
    gt = {"a": np.zeros((H, W), np.uint8)}
    pred = {"a": _rect(0, 3, 0, 3, 1)}
    res = score_multiobject(gt, pred, ["a"])
    assert res.n_objects == 0 and res.j.shape == (0, 1) and res.stats.shape == (0, 6)
    row = multiobject_rows(res, {"sequence": "a"})[0]
    assert row["n_objects"] == 0 and np.isnan(row["J_mean"])
    assert object_rows(res, {"sequence": "a"}) == []


def test_rows_and_weighted_dataset_mean_equal_mean_over_objects():
    names = _names(4)
    results = []
    for seed in range(4):
        gt, pred, _ = _random_sequence(np.random.default_rng(seed), 4, 40, 64)
        results.append(score_multiobject(gt, pred, names))
    assert len({r.n_objects for r in results}) > 1  # sequences of different weights
    keys = {c: "x" for c in KEY_COLUMNS}
    rows = []
    for i, r in enumerate(results):
        row = multiobject_rows(r, {**keys, "sequence": f"s{i}"})
        assert len(row) == 1
        assert set(KEY_COLUMNS + METRIC_COLUMNS + ["n_frames", "n_objects"]) <= set(row[0])
        assert row[0]["n_objects"] == r.n_objects and row[0]["n_frames"] == 4
        if r.n_objects:
            assert row[0]["J_mean"] == pytest.approx(r.stats[:, 0].mean())
        rows += row
    agg = dataset_aggregate(rows)
    all_stats = np.concatenate([r.stats for r in results])
    assert agg["n_objects"] == len(all_stats)
    for i, c in enumerate(METRIC_COLUMNS):
        assert agg[c] == pytest.approx(all_stats[:, i].mean(), abs=1e-12)
    assert agg["J&F"] == pytest.approx((all_stats[:, 0].mean() + all_stats[:, 3].mean()) / 2, abs=1e-12)
    obj = object_rows(results[0], {"sequence": "s0"})
    assert [o["object"] for o in obj] == list(range(1, results[0].n_objects + 1))
    assert [o["proposal"] for o in obj] == results[0].assignment.tolist()


# ---------------------------------------------------------------- instances


def test_davis_palette():
    pal = davis_palette()
    assert len(pal) == 768
    assert pal[:15] == [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128]
    assert pal[3 * 8 : 3 * 10] == [64, 0, 0, 192, 0, 0]
    assert pal[-3:] == [224, 224, 192]


def _segment_probs() -> np.ndarray:
    """probs float [T=2, K=4, 4, 6]: column pairs 0-1, 2-3, 4-5 belong to segments 0, 1, 3 in frame 0 and to 0, 2, 3
    in frame 1; segment 0 has the largest mass."""
    probs = np.full((2, 4, 4, 6), 0.02, dtype=np.float32)
    probs[:, 0, :, :2] = 0.94
    probs[0, 1, :, 2:4] = 0.94
    probs[1, 2, :, 2:4] = 0.94
    probs[:, 3, :, 4:] = 0.94
    probs[:, 0] += 0.1  # background: largest mass
    return probs


def test_instances_foreground_rule_and_resize():
    ids, info = instances_from_segments(_segment_probs(), np.array([0, 1, 0, 1]), (8, 12))
    assert ids.dtype == np.uint8 and ids.shape == (2, 8, 12)
    expect0 = np.repeat(np.repeat(np.array([[0, 0, 1, 1, 2, 2]] * 4), 2, 0), 2, 1)
    expect1 = np.repeat(np.repeat(np.array([[0, 0, 0, 0, 2, 2]] * 4), 2, 0), 2, 1)
    np.testing.assert_array_equal(ids[0], expect0)
    np.testing.assert_array_equal(ids[1], expect1)  # segment 2 is not foreground: 0; id 2 is segment 3 in all frames
    assert info["segments"] == [1, 3] and info["n_instances"] == 2 and info["dropped"] == []
    assert info["background_segment"] is None
    q = np.rint(_segment_probs().clip(0, 1) * 255).astype(np.uint8)  # the segments.npz encoding gives the same
    np.testing.assert_array_equal(instances_from_segments(q, np.array([0, 1, 0, 1], np.uint8), (8, 12))[0], ids)


def test_instances_non_background_rule_and_cap():
    ids, info = instances_from_segments(_segment_probs(), None, (4, 6), proposals="non-background")
    assert info["background_segment"] == 0 and info["segments"] == [1, 2, 3]
    np.testing.assert_array_equal(ids[0, 0], [0, 0, 1, 1, 3, 3])
    np.testing.assert_array_equal(ids[1, 0], [0, 0, 2, 2, 3, 3])
    ids2, info2 = instances_from_segments(_segment_probs(), None, (4, 6), proposals="non-background", max_instances=2)
    assert info2["segments"] == [1, 3] or info2["segments"] == [2, 3]  # segment 3 has twice the mass of 1 and 2
    assert len(info2["dropped"]) == 1 and info2["n_instances"] == 2
    assert ids2.max() == 2
    with pytest.raises(ValueError, match="proposals"):
        instances_from_segments(_segment_probs(), None, (4, 6), proposals="all")
    with pytest.raises(ValueError, match="fg"):
        instances_from_segments(_segment_probs(), None, (4, 6))


def test_instances_cap_keeps_largest_mass():
    probs = np.zeros((1, 4, 1, 10), np.float32)
    probs[0, 0, 0, :1] = 1  # mass 1
    probs[0, 1, 0, 1:5] = 1  # mass 4
    probs[0, 2, 0, 5:7] = 1  # mass 2
    probs[0, 3, 0, 7:] = 1  # mass 3
    ids, info = instances_from_segments(probs, np.ones(4), (1, 10), max_instances=2)
    assert info["segments"] == [1, 3] and info["dropped"] == [0, 2]
    np.testing.assert_array_equal(ids[0, 0], [0, 1, 1, 1, 1, 0, 0, 2, 2, 2])


def test_write_read_round_trip(tmp_path: Path):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 6, size=(3, 10, 14)).astype(np.uint8)
    ids[1] = 0  # an empty frame
    names = ["a", "b", "c"]
    out = tmp_path / "inst" / "seq"
    write_instance_dir(out, names, ids, {"proposals": "foreground", "method": "m", "n_instances": 5})
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png", "instances.json"]
    with Image.open(out / "a.png") as im:
        assert im.mode == "P"
        assert im.getpalette()[:30] == davis_palette()[:30]
    meta = json.loads((out / "instances.json").read_text())
    assert meta["method"] == "m" and meta["proposals"] == "foreground" and meta["max_id"] == 5
    assert meta["frames"] == 3 and meta["height"] == 10 and meta["width"] == 14
    back = read_instance_pngs(out)
    assert list(back) == names
    for n, a in zip(names, ids, strict=True):
        np.testing.assert_array_equal(back[n], a)
    assert not list(tmp_path.joinpath("inst").glob(".*"))  # no temporaries left
    Image.fromarray(np.full((4, 4), 7, np.uint8), mode="L").save(tmp_path / "grey.png")
    assert read_instance_pngs(tmp_path)["grey"].max() == 7  # grey value = id
    with pytest.raises(ValueError):
        write_instance_dir(out, ["a"], ids, {})


def test_read_instance_pngs_errors(tmp_path: Path):
    def folder(name: str) -> Path:
        d = tmp_path / name
        d.mkdir()
        Image.fromarray(np.zeros((4, 4), np.uint8), mode="L").save(d / "00000.png")
        return d

    d = folder("rgb")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8), mode="RGB").save(d / "00001.png")
    with pytest.raises(InputError, match="00001.png.*RGB"):
        read_instance_pngs(d)
    d = folder("trunc")
    p = tmp_path / "x.png"
    Image.fromarray(np.arange(400, dtype=np.uint8).reshape(20, 20) % 5, mode="L").save(p)
    (d / "00001.png").write_bytes(p.read_bytes()[:-30])
    with pytest.raises(InputError, match="00001.png"):
        read_instance_pngs(d)
    d = folder("text")
    (d / "00001.png").write_text("not an image")
    with pytest.raises(InputError, match="00001.png.*not a PNG"):
        read_instance_pngs(d)
    d = folder("many")
    Image.fromarray(np.full((4, 4), 255, np.uint8), mode="L").save(d / "00001.png")
    with pytest.raises(InputError, match="00001.png.*refuses more than 20 proposals"):
        read_instance_pngs(d)
    d = folder("size")
    Image.fromarray(np.zeros((5, 4), np.uint8), mode="L").save(d / "00001.png")
    with pytest.raises(InputError, match="00001.png"):
        read_instance_pngs(d)
    with pytest.raises(InputError, match="does not exist"):
        read_instance_pngs(tmp_path / "absent")


def test_run_instances(tmp_path: Path):
    names = ["00000", "00001"]
    probs = _segment_probs()
    fg = np.zeros((2, 8, 12), bool)
    md = tmp_path / "masks" / "seq"
    write_mask_dir(md, names, fg, probs, np.array([0, 1, 0, 1], bool), {"method": "meth", "oracle": False})
    info = run_instances(md, tmp_path / "inst" / "seq", "foreground", 20)
    assert info["method"] == "meth" and info["n_instances"] == 2 and info["segments"] == [1, 3]
    ids = read_instance_pngs(tmp_path / "inst" / "seq")
    assert ids["00000"].shape == (8, 12)
    assert set(np.unique(ids["00000"])) == {0, 1, 2} and set(np.unique(ids["00001"])) == {0, 2}
    info = run_instances(md, tmp_path / "inst2", "non-background", 20)
    assert info["segments"] == [1, 2, 3] and info["background_segment"] == 0
    # no segments.npz: the binary foreground is one instance
    fg[:, 2:5, 3:7] = True
    md2 = tmp_path / "masks" / "plain"
    write_mask_dir(md2, names, fg, None, None, {"method": "meth", "oracle": False})
    info = run_instances(md2, tmp_path / "inst3", "foreground", 20)
    assert info["n_instances"] == 1
    ids = read_instance_pngs(tmp_path / "inst3")
    np.testing.assert_array_equal(ids["00001"], fg[1].astype(np.uint8))


# ---------------------------------------------------------------- against the official evaluator


def _random_sequence(rng: np.random.Generator, T: int, h: int, w: int) -> tuple[dict, dict, int]:
    """A random multi-object sequence: GT ids uint8 [h, w] per frame (1-4 moving ellipses, each sometimes absent,
    some frames empty, the first frame included, some void pixels) and proposals derived from it (objects shifted,
    resized, under permuted ids, some not proposed, plus distractor ids); returns ``(gt, pred, n_proposals)``."""
    n_obj = int(rng.integers(1, 5))
    centres = rng.uniform([0.2 * w, 0.2 * h], [0.8 * w, 0.8 * h], size=(n_obj, 2))
    vel = rng.uniform(-2, 2, size=(n_obj, 2))
    axes = rng.uniform([0.06 * w, 0.06 * h], [0.2 * w, 0.2 * h], size=(n_obj, 2))
    n_prop = int(rng.choice([0, 1, n_obj, n_obj + 2, 7]))
    perm = rng.permutation(max(n_prop, n_obj))[:n_obj] + 1  # proposal id of each object (> n_prop: not proposed)
    gt, pred = {}, {}
    for t, name in enumerate(_names(T)):
        g = np.zeros((h, w), np.uint8)
        p = np.zeros((h, w), np.uint8)
        empty = rng.random() < 0.15
        for o in range(n_obj):
            if empty or rng.random() < 0.1:  # absent (in the first frame: the official N may be smaller)
                continue
            c = centres[o] + t * vel[o]
            cv2.ellipse(g, (int(c[0]), int(c[1])), (int(axes[o, 0]), int(axes[o, 1])), 15.0 * o, 0, 360, o + 1, -1)
            if perm[o] <= n_prop and rng.random() > 0.1:
                d = rng.integers(-3, 4, size=2)
                ax = np.maximum(axes[o] * rng.uniform(0.7, 1.2), 1)
                cv2.ellipse(p, (int(c[0] + d[0]), int(c[1] + d[1])), (int(ax[0]), int(ax[1])), 15.0 * o, 0, 360,
                            int(perm[o]), -1)
        for r in range(1, n_prop + 1):  # proposals that match no object: distractor blobs
            if r not in perm and rng.random() < 0.7:
                cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
                cv2.circle(p, (cx, cy), int(rng.integers(2, 8)), r, -1)
        if rng.random() < 0.3:  # void pixels (on top of objects and background)
            r0, c0 = int(rng.integers(0, h - 6)), int(rng.integers(0, w - 6))
            g[r0 : r0 + 5, c0 : c0 + int(rng.integers(3, 20))] = 255
        gt[name], pred[name] = g, p
    return gt, pred, n_prop


def _official():
    pytest.importorskip("skimage", reason="the official F needs scikit-image")
    try:
        from davis2017.evaluation import DAVISEvaluation
        from davis2017.utils import color_map
    except ImportError:
        pytest.skip("official davis2017-evaluation not importable (PYTHONPATH=/path/to/davis2017-evaluation)")
    return DAVISEvaluation, color_map


def _write_davis_root(root: Path, sequences: dict[str, dict[str, np.ndarray]]) -> None:
    """A minimal DAVIS-2017 unsupervised layout: JPEGImages/480p, Annotations_unsupervised/480p, ImageSets/2017."""
    palette = davis_palette()
    for seq, gt in sequences.items():
        (root / "JPEGImages" / "480p" / seq).mkdir(parents=True)
        (root / "Annotations_unsupervised" / "480p" / seq).mkdir(parents=True)
        for name, g in gt.items():
            Image.fromarray(np.zeros((*g.shape, 3), np.uint8)).save(root / "JPEGImages" / "480p" / seq / f"{name}.jpg")
            im = Image.fromarray(g, mode="P")
            im.putpalette(palette)
            im.save(root / "Annotations_unsupervised" / "480p" / seq / f"{name}.png")
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("".join(f"{s}\n" for s in sequences))


def test_against_official_unsupervised_evaluator(tmp_path: Path):
    DAVISEvaluation, color_map = _official()
    assert davis_palette() == color_map().flatten().tolist()
    rng = np.random.default_rng(2017)
    gts, preds = {}, {}
    n_props = set()
    for s in range(8):
        T = int(rng.integers(5, 16))
        gts[f"seq{s}"], preds[f"seq{s}"], n_prop = _random_sequence(rng, T, 72, 120)
        n_props.add(n_prop)
    root, results = tmp_path / "DAVIS", tmp_path / "results"
    _write_davis_root(root, gts)
    for seq, pred in preds.items():
        write_instance_dir(results / seq, list(pred), np.stack(list(pred.values())), {"method": "test"})

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        official = DAVISEvaluation(davis_root=str(root), task="unsupervised", gt_set="val").evaluate(str(results))

    rows, ours_stats, reordered, beyond_first = [], [], 0, 0
    for seq in gts:
        res = score_multiobject(gts[seq], read_instance_pngs(results / seq), list(gts[seq]))
        rows += multiobject_rows(res, {"sequence": seq})
        reordered += res.official_order.tolist() != list(range(res.n_objects))
        beyond_first += res.n_objects < count_objects(gts[seq], list(gts[seq]), "all-frames")
        for i, o in enumerate(res.official_order):  # the official lists objects in its own order
            ours_stats.append(res.stats[o])
            assert official["J"]["M_per_object"][f"{seq}_{i + 1}"] == pytest.approx(res.stats[o, 0], abs=1e-12)
            assert official["F"]["M_per_object"][f"{seq}_{i + 1}"] == pytest.approx(res.stats[o, 3], abs=1e-12)
    ours = np.array(ours_stats)
    theirs = np.array([official["J"]["M"], official["J"]["R"], official["J"]["D"],
                       official["F"]["M"], official["F"]["R"], official["F"]["D"]], dtype=np.float64).T
    assert ours.shape == theirs.shape and len(ours) >= 10
    assert np.max(np.abs(ours - theirs)) <= 1e-6
    agg = dataset_aggregate(rows)
    official_jf = (np.mean(official["J"]["M"]) + np.mean(official["F"]["M"])) / 2
    assert agg["J&F"] == pytest.approx(official_jf, abs=1e-6)
    for i, c in enumerate(METRIC_COLUMNS):
        assert agg[c] == pytest.approx(np.mean(theirs[:, i]), abs=1e-6)
    assert len(n_props) >= 3  # the draw covers fewer, as many and more proposals than objects
    assert reordered and beyond_first  # official listing not in GT order; objects unseen in the first frame


def test_official_refuses_more_than_20_proposals():
    DAVISEvaluation, _ = _official()
    gt = np.zeros((1, 1, 4, 4), bool)
    res = np.zeros((21, 1, 4, 4), bool)
    with pytest.raises(SystemExit):
        DAVISEvaluation._evaluate_unsupervised(gt, res, np.zeros((1, 4, 4)), ("J", "F"))
