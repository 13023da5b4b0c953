"""Dataset readers on look-alikes of DAVIS-2017, FBMS-59 and SegTrackV2 as their users have them (issue 29).

Every builder writes folders and file names in the upstream formats (see the module docstring of
:mod:`motionseg.io.datasets` for where each fact comes from): DAVIS-2017 ``JPEGImages/{480p,Full-Resolution}/``,
``Annotations[_unsupervised]/``, ``ImageSets/2017/val.txt`` and DAVIS-2016's ``ImageSets/480p/val.txt``; FBMS-59
``Testset/<seq>/<seq>_<nr>.jpg`` with ``GroundTruth/<seq>_<nr>_gt.ppm`` or ``<seq>_<nr>.pgm``; MotionGrouping's
``FBMS_clean`` and ``SegTrackv2``; SegTrackV2's ``GroundTruth/<seq>/[<k>/]<seq>_<nr>.png``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from test_datasets import H, W, _frame, _save  # the same frame and file builders
from test_datasets import _mask as _box

from motionseg.io.datasets import (
    MAX_OBJECTS,
    frame_size,
    get_sequence,
    gt_files,
    list_sequences,
    load_frames,
    load_gt,
    load_gt_instances,
    read_gt_entry,
    read_mask,
    reader_options,
    source_files,
)
from motionseg.io.errors import ConfigError, InputError

WHITE = (255, 255, 255)


# ------------------------------------------------------------------------------------------------------ builders


def _save_palette(path: Path, idx: np.ndarray) -> Path:
    """An indexed PNG with DAVIS-like colours: 1 (128, 0, 0), 2 (0, 128, 0), 3 (128, 128, 0), 255 (224, 224, 192)."""
    im = Image.fromarray(idx.astype(np.uint8), mode="P")
    im.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0] + [0] * (3 * 251) + [224, 224, 192])
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


def _davis17_ids(i: int) -> np.ndarray:
    """uint8 [H, W] DAVIS-2017 ids of frame ``i``: objects 1 and 2, a void band (255); object 3 from frame 2 on."""
    idx = np.zeros((H, W), np.uint8)
    idx[_box(i)] = 1
    idx[16:20, 20:28] = 2
    idx[21, :] = 255
    if i >= 2:
        idx[0:3, 0:6] = 3
    return idx


def _davis17(root: Path, seq: str, n: int = 4, level: str = "480p", folder: str = "Annotations_unsupervised") -> None:
    for i in range(n):
        _save(root / "JPEGImages" / level / seq / f"{i:05d}.jpg", _frame(i), quality=95)
        _save_palette(root / folder / level / seq / f"{i:05d}.png", _davis17_ids(i))


def _fbms_frames(d: Path, names: list[str]) -> None:
    for i, name in enumerate(names):
        _save(d / f"{name}.jpg", _frame(i), quality=95)
    (d / f"{d.name}.bmf").write_text(f"{len(names)} 1\n" + "".join(f"{n}.ppm\n" for n in names))


def _ppm_gt(k: int) -> np.ndarray:
    """uint8 [H, W, 3] FBMS-style colour GT: white background, objects in colours; (0, 0, 255) only from k = 2."""
    rgb = np.full((H, W, 3), 255, np.uint8)
    rgb[_box(k)] = (255, 0, 0)
    rgb[20:23, 0:5] = (0, 0, 0)  # a black object
    rgb[14:16, 20:24] = (30, 30, 30)  # luma 30: kept at 0.1
    rgb[17:19, 20:24] = (20, 20, 20)  # luma 20: dropped at 0.1
    if k >= 2:
        rgb[0:3, 26:32] = (0, 0, 255)  # luma 29: kept at 0.1, dropped at 0.4
    return rgb


def _pgm_gt(k: int) -> np.ndarray:
    """uint8 [H, W] FBMS-style grey label GT: black background; label 200 always, labels 80, 102, 20 from k = 2."""
    lab = np.zeros((H, W), np.uint8)
    lab[_box(k)] = 200
    if k >= 2:
        lab[20:23, 0:5] = 80
        lab[14:16, 20:24] = 102
        lab[17:19, 20:24] = 20
    return lab


def _fbms_ppm(root: Path, seq: str = "bear01", n: int = 5, annotated: tuple[int, ...] = (1, 3)) -> Path:
    """FBMS-59 new-style sequence: ``<seq>_<nr:04d>.jpg`` and ``GroundTruth/<seq>_<nr:04d>_gt.ppm`` (+ PROB maps)."""
    d = root / "Trainingset" / seq
    _fbms_frames(d, [f"{seq}_{i:04d}" for i in range(1, n + 1)])
    for k, i in enumerate(annotated, start=1):
        _save(d / "GroundTruth" / f"{seq}_{i:04d}_gt.ppm", _ppm_gt(k))
        _save(d / "GroundTruth" / f"{seq}_{i:04d}_PROB_gt.ppm", np.zeros((H, W, 3), np.uint8))
    (d / "GroundTruth" / f"{seq}Def.dat").write_text("Total number of regions:\n2\n")
    return d


def _fbms_pgm(root: Path, seq: str, n: int, annotated: tuple[int, ...], digits: int = 2, sep: str = "_") -> Path:
    """BMS-26-style sequence: ``<seq>_<nr>.jpg`` (``tennis<nr>.jpg``) and ``GroundTruth/<seq>_<nr>.pgm``."""
    d = root / "Testset" / seq
    start = 0 if sep == "" else 1
    _fbms_frames(d, [f"{seq}{sep}{i:0{digits}d}" for i in range(start, start + n)])
    for k, i in enumerate(annotated, start=1):
        _save(d / "GroundTruth" / f"{seq}{sep}{i:0{digits}d}.pgm", _pgm_gt(k))
    return d


def _fbms_mg(root: Path, seq: str = "cars1", n: int = 12, annotated: tuple[int, ...] = (1, 11)) -> None:
    """MotionGrouping's FBMS_clean: ``JPEGImages/<seq>/00001.jpg ...``, ``Annotations/<seq>/<nr:05d>.png`` (L 0/255)."""
    for i in range(1, n + 1):
        _save(root / "JPEGImages" / seq / f"{i:05d}.jpg", _frame(i), quality=95)
    for i in annotated:
        _save(root / "Annotations" / seq / f"{i:05d}.png", _box(i).astype(np.uint8) * 255)


def _soft_rgb(m: np.ndarray, edge: int = 140) -> np.ndarray:
    """uint8 [H, W, 3] grey-valued RGB mask: 255 inside ``m``, ``edge`` on the row above, 100 on the row below."""
    v = np.zeros(m.shape, np.uint8)
    v[m] = 255
    rows = np.flatnonzero(m.any(axis=1))
    cols = m.any(axis=0)
    v[rows[0] - 1, cols] = edge
    v[rows[-1] + 1, cols] = 100
    return np.repeat(v[..., None], 3, axis=2)


def _segtrack(root: Path, seq: str, n: int, objects: int = 0, frame_ext: str = "png", obj_exts: tuple = ()) -> None:
    """Original SegTrackV2: ``JPEGImages/<seq>/<seq>_<nr:05d>.<ext>`` and ``GroundTruth/<seq>/[<k>/]<seq>_<nr>.png``."""
    for i in range(n):
        stem = f"{seq}_{i:05d}"
        _save(root / "JPEGImages" / seq / f"{stem}.{frame_ext}", _frame(i))
        if not objects:
            _save(root / "GroundTruth" / seq / f"{stem}.png", _soft_rgb(_box(i)))
        for k in range(1, objects + 1):
            m = np.zeros((H, W), bool)
            m[2 + 3 * k : 5 + 3 * k, 1 + i + 2 * k : 9 + i + 2 * k] = True  # objects overlap by one row
            ext = obj_exts[k - 1] if obj_exts else "png"
            _save(root / "GroundTruth" / seq / str(k) / f"{stem}.{ext}", _soft_rgb(m))


def _segtrack_mg(root: Path, seq: str, n: int, leftovers: bool = True) -> None:
    """MotionGrouping's SegTrackv2: ``JPEGImages/<seq>/<stem>.jpg``, merged ``Annotations/<seq>/<stem>.png`` (RGB)
    beside the per-object ``Annotations/<seq>/1/``, ``2/`` that SegTrack_clean.py read."""
    for i in range(n):
        stem = f"{seq}_{i:05d}"
        _save(root / "JPEGImages" / seq / f"{stem}.jpg", _frame(i), quality=95)
        _save(root / "Annotations" / seq / f"{stem}.png", _soft_rgb(_box(i), edge=130))
        if leftovers:
            _save(root / "Annotations" / seq / "1" / f"{stem}.png", _soft_rgb(_box(i)))
            _save(root / "Annotations" / seq / "2" / f"{stem}.png", np.zeros((H, W, 3), np.uint8))


def _assert_names(exc: pytest.ExceptionInfo, path: Path, *what: str) -> None:
    msg = str(exc.value)
    assert msg.startswith(str(path)), msg
    for w in what:
        assert w in msg, msg


def _assert_instances_merge_to_gt(info) -> dict[str, np.ndarray]:
    """load_gt_instances is uint8 [H, W] per annotated frame and its ids outside {0, 255} are load_gt's foreground."""
    ids = load_gt_instances(info)
    gt = load_gt(info)
    assert list(ids) == list(gt) == info.annotated and ids
    for name, m in ids.items():
        assert m.dtype == np.uint8 and m.shape == gt[name].shape == frame_size(info, name)
        np.testing.assert_array_equal((m != 0) & (m != 255), gt[name])
    return ids


# ------------------------------------------------------------------------------------------------------- options


def test_reader_options_picks_known_keys() -> None:
    ds = {"name": "d", "layout": "davis", "root": "/x", "annotations": "Annotations_unsupervised", "split": None,
          "gt_threshold": 0.1, "gt_thresholds": {"marple2": 0.4}, "protocol": "davis2016"}
    assert reader_options(ds) == {"annotations": "Annotations_unsupervised", "gt_threshold": 0.1,
                                  "gt_thresholds": {"marple2": 0.4}}
    assert reader_options({"name": "d", "layout": "fbms", "root": "/x"}) == {}


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"gt_threshold": 0}, "gt_threshold"),
        ({"gt_threshold": 1.5}, "gt_threshold"),
        ({"gt_threshold": True}, "gt_threshold"),
        ({"gt_thresholds": {"marple2": -1}}, "gt_thresholds.marple2"),
        ({"gt_thresholds": [0.4]}, "gt_thresholds"),
        ({"resolution": "1080p"}, "resolution"),
        ({"annotations": "../elsewhere"}, "annotations"),
        ({"split": ""}, "split"),
        ({"anotations": "Annotations"}, "anotations"),
    ],
)
def test_bad_option_is_a_config_error(tmp_path: Path, options: dict, key: str) -> None:
    _davis17(tmp_path, "bike", 2)
    with pytest.raises(ConfigError, match=f"config key '{key}'"):
        list_sequences(tmp_path, "davis", options=options)


def test_davis_only_options_on_other_layouts(tmp_path: Path) -> None:
    _fbms_mg(tmp_path)
    with pytest.raises(ConfigError, match="'split'.*davis only"):
        list_sequences(tmp_path, "fbms-mg", options={"split": "2017/val"})
    # the no-op values are accepted everywhere
    assert list_sequences(tmp_path, "fbms-mg", options={"resolution": "auto", "annotations": "Annotations"}) == [
        "cars1"
    ]


def test_gt_thresholds_for_unknown_sequence(tmp_path: Path) -> None:
    _fbms_pgm(tmp_path, "marple2", 4, (1,))
    with pytest.raises(ConfigError, match=r"gt_thresholds.*marple02"):
        list_sequences(tmp_path, "fbms", options={"gt_thresholds": {"marple02": 0.4}})


# -------------------------------------------------------------------------------------------------------- DAVIS


def test_davis2017_unsupervised_levels_and_instances(tmp_path: Path) -> None:
    _davis17(tmp_path, "bike-packing", 4, "480p")
    _davis17(tmp_path, "bike-packing", 3, "Full-Resolution")
    _davis17(tmp_path, "dogs-jump", 2, "480p", folder="Annotations")
    opts = {"annotations": "Annotations_unsupervised"}
    assert list_sequences(tmp_path, "davis", options=opts) == ["bike-packing", "dogs-jump"]
    info = get_sequence(tmp_path, "davis", "bike-packing", options=opts)
    assert info.frames_dir == tmp_path / "JPEGImages" / "480p" / "bike-packing"  # auto: the 480p level
    assert info.gt_paths["00000"] == tmp_path / "Annotations_unsupervised" / "480p" / "bike-packing" / "00000.png"
    ids = _assert_instances_merge_to_gt(info)
    np.testing.assert_array_equal(ids["00003"], _davis17_ids(3))  # palette index = id, 255 = void
    assert set(np.unique(ids["00000"])) == {0, 1, 2, 255}
    full = get_sequence(tmp_path, "davis", "bike-packing", options={**opts, "resolution": "Full-Resolution"})
    assert full.frame_names == ["00000", "00001", "00002"]
    assert full.gt_paths["00002"].parent == tmp_path / "Annotations_unsupervised" / "Full-Resolution" / "bike-packing"
    full_frames = source_files(tmp_path, "davis", "bike-packing", options={**opts, "resolution": "Full-Resolution"})
    assert [p.parent.parent.name for p in full_frames] == ["Full-Resolution"] * 3
    assert len(gt_files(tmp_path, "davis", "bike-packing", options=opts)) == 4
    # the default GT folder is Annotations/: bike-packing has none there, dogs-jump has
    assert get_sequence(tmp_path, "davis", "bike-packing").annotated == []
    assert get_sequence(tmp_path, "davis", "dogs-jump").annotated == ["00000", "00001"]


def test_davis2016_binary_masks_are_one_object(tmp_path: Path) -> None:
    for i in range(3):
        _save(tmp_path / "JPEGImages" / "480p" / "blackswan" / f"{i:05d}.jpg", _frame(i), quality=95)
        _save(tmp_path / "Annotations" / "480p" / "blackswan" / f"{i:05d}.png", _box(i).astype(np.uint8) * 255)
    info = get_sequence(tmp_path, "davis", "blackswan", options={"resolution": "480p"})
    ids = _assert_instances_merge_to_gt(info)
    np.testing.assert_array_equal(ids["00001"], _box(1).astype(np.uint8))


def test_full_resolution_requested_but_missing(tmp_path: Path) -> None:
    _davis17(tmp_path, "bike", 2, "480p")
    opts = {"resolution": "Full-Resolution", "annotations": "Annotations_unsupervised"}
    with pytest.raises(InputError) as exc:
        list_sequences(tmp_path, "davis", options=opts)
    _assert_names(exc, tmp_path / "JPEGImages" / "Full-Resolution", "'Full-Resolution'", "does not exist")
    _davis17(tmp_path, "bike", 2, "Full-Resolution", folder="Annotations")  # frames there, but not this GT level
    with pytest.raises(InputError) as exc:
        get_sequence(tmp_path, "davis", "bike", options=opts)
    _assert_names(exc, tmp_path / "Annotations_unsupervised" / "Full-Resolution", "does not exist")


def test_named_annotation_folder_missing(tmp_path: Path) -> None:
    _davis17(tmp_path, "bike", 2, folder="Annotations")
    with pytest.raises(InputError) as exc:
        get_sequence(tmp_path, "davis", "bike", options={"annotations": "Annotations_motion"})
    _assert_names(exc, tmp_path / "Annotations_motion", "option annotations", "does not exist")


def test_davis2017_split(tmp_path: Path) -> None:
    for seq in ("bike-packing", "dogs-jump", "camel"):
        _davis17(tmp_path, seq, 2)
    split = tmp_path / "ImageSets" / "2017" / "val.txt"
    split.parent.mkdir(parents=True)
    split.write_text("dogs-jump\n\nbike-packing\n   \n")
    assert list_sequences(tmp_path, "davis", options={"split": "2017/val"}) == ["bike-packing", "dogs-jump"]
    assert list_sequences(tmp_path, "davis") == ["bike-packing", "camel", "dogs-jump"]
    split.write_text("dogs-jump\nshooting\n")
    with pytest.raises(InputError) as exc:
        list_sequences(tmp_path, "davis", options={"split": "2017/val"})
    _assert_names(exc, split, "'shooting'", "no frame folder")
    with pytest.raises(InputError) as exc:
        list_sequences(tmp_path, "davis", options={"split": "2017/test-dev"})
    _assert_names(exc, tmp_path / "ImageSets" / "2017" / "test-dev.txt", "does not exist")
    # get_sequence does not need the split
    assert get_sequence(tmp_path, "davis", "camel", options={"split": "2017/val"}).frame_names == ["00000", "00001"]


def test_davis2016_split_format(tmp_path: Path) -> None:
    for seq in ("bear", "blackswan"):
        _davis17(tmp_path, seq, 2, folder="Annotations")
    split = tmp_path / "ImageSets" / "480p" / "val.txt"
    split.parent.mkdir(parents=True)
    split.write_text("".join(f"/JPEGImages/480p/{s}/{i:05d}.jpg /Annotations/480p/{s}/{i:05d}.png\n"
                             for s in ("blackswan", "bear") for i in range(2)))
    assert list_sequences(tmp_path, "davis", options={"split": "480p/val"}) == ["bear", "blackswan"]
    split.write_text("/JPEGImages/480p/bear/00000.jpg /Annotations/480p/bear/00000.png\nbear two\n")
    with pytest.raises(InputError) as exc:
        list_sequences(tmp_path, "davis", options={"split": "480p/val"})
    _assert_names(exc, split, "line 2")


# --------------------------------------------------------------------------------------------------------- FBMS


def test_fbms_original_names_and_instances(tmp_path: Path) -> None:
    _fbms_ppm(tmp_path, "bear01", 5, (1, 3))
    _fbms_pgm(tmp_path, "cars1", 12, (1, 11))
    _fbms_pgm(tmp_path, "tennis", 6, (0, 4), digits=3, sep="")
    assert list_sequences(tmp_path, "fbms") == ["bear01", "cars1", "tennis"]
    bear = get_sequence(tmp_path, "fbms", "bear01")
    assert bear.frame_names[0] == "bear01_0001" and bear.annotated == ["bear01_0001", "bear01_0003"]
    assert bear.gt_paths["bear01_0003"].name == "bear01_0003_gt.ppm"  # PROB maps and Def.dat ignored
    ids = _assert_instances_merge_to_gt(bear)
    # colours ascending by R*65536 + G*256 + B over the sequence: black 1, (0,0,255) 2, (20,)*3 3, (30,)*3 4, red 5
    first, second = ids["bear01_0001"], ids["bear01_0003"]
    assert first[5, 5] == second[5, 6] == 5 and first[21, 2] == 1 and second[1, 28] == 2
    assert set(np.unique(first)) == {0, 1, 3, 4, 5} and set(np.unique(second)) == {0, 1, 2, 3, 4, 5}
    cars = get_sequence(tmp_path, "fbms", "cars1")
    assert cars.annotated == ["cars1_01", "cars1_11"] and cars.gt_paths["cars1_11"].name == "cars1_11.pgm"
    ids = _assert_instances_merge_to_gt(cars)
    assert set(np.unique(ids["cars1_01"])) == {0, 4}  # label 200 is the 4th of 20, 80, 102, 200 in every frame
    assert set(np.unique(ids["cars1_11"])) == {0, 1, 2, 3, 4}
    tennis = get_sequence(tmp_path, "fbms", "tennis")
    assert tennis.frame_names[:2] == ["tennis000", "tennis001"] and tennis.annotated == ["tennis000", "tennis004"]
    assert load_frames(tennis).shape == (6, H, W, 3)
    np.testing.assert_array_equal(load_gt_instances(tennis, ["tennis004"])["tennis004"], ids["cars1_11"])


def _mg_style_fbms_gt(path: Path, t: float) -> np.ndarray:
    """An independent statement of MotionGrouping's FBMS_clean.py rule: BGR read, grey, /255, white (> 0.99) zeroed
    for .ppm files, grey > t."""
    grey = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY) / 255.0
    if path.suffix == ".ppm":
        grey[grey > 0.99] = 0.0
    return grey > t


def test_fbms_thresholds_reproduce_motiongrouping(tmp_path: Path) -> None:
    _fbms_ppm(tmp_path, "bear01", 4, (1, 3))
    _fbms_pgm(tmp_path, "marple2", 4, (1, 3), digits=3)
    _fbms_pgm(tmp_path, "marple7", 4, (1, 3), digits=3)
    opts = {"gt_threshold": 0.1, "gt_thresholds": {"marple7": 0.05, "marple2": 0.401}}
    assert list_sequences(tmp_path, "fbms", options=opts) == ["bear01", "marple2", "marple7"]
    for seq, t in (("bear01", 0.1), ("marple2", 0.4), ("marple7", 0.05)):
        info = get_sequence(tmp_path, "fbms", seq, options=opts)
        assert info.gt_threshold == pytest.approx(0.401 if seq == "marple2" else t)
        gt = load_gt(info)
        for name, fg in gt.items():
            np.testing.assert_array_equal(fg, _mg_style_fbms_gt(info.gt_paths[name], t), err_msg=f"{seq} {name}")
        _assert_instances_merge_to_gt(info)
    bear = get_sequence(tmp_path, "fbms", "bear01", options=opts)
    assert set(np.unique(load_gt_instances(bear)["bear01_0003"])) == {0, 1, 2, 3}  # black and luma 20 dropped
    # at exactly 0.4, grey 102 is kept (>=); MotionGrouping's strict > drops it (hence 0.401 above)
    marple = get_sequence(tmp_path, "fbms", "marple2", options={"gt_threshold": 0.4})
    assert load_gt(marple)["marple2_003"][15, 21] and not _mg_style_fbms_gt(marple.gt_paths["marple2_003"], 0.4)[15, 21]
    # without a threshold every labelled object is kept
    assert load_gt(get_sequence(tmp_path, "fbms", "marple7"))["marple7_003"][18, 21]


def test_fbms_too_many_colours(tmp_path: Path) -> None:
    d = _fbms_ppm(tmp_path, "bear01", 3, (1, 2))
    many = np.full((H, W, 3), 255, np.uint8)
    flat = many.reshape(-1, 3)
    flat[: MAX_OBJECTS + 1] = 0
    flat[: MAX_OBJECTS + 1, 0] = np.arange(MAX_OBJECTS + 1)  # 255 distinct non-white colours (v, 0, 0)
    bad = _save(d / "GroundTruth" / "bear01_0002_gt.ppm", many)
    info = get_sequence(tmp_path, "fbms", "bear01")
    load_gt(info)  # the merged foreground is fine
    with pytest.raises(InputError) as exc:
        load_gt_instances(info)
    _assert_names(exc, bad, f"more than {MAX_OBJECTS} distinct object colours")


def test_fbms_mg_layout(tmp_path: Path) -> None:
    _fbms_mg(tmp_path, "cars1", 12, (1, 11))
    _fbms_mg(tmp_path, "marple2", 3, (2,))
    assert list_sequences(tmp_path, "fbms-mg") == ["cars1", "marple2"]
    info = get_sequence(tmp_path, "fbms-mg", "cars1")
    assert info.frame_names[0] == "00001" and len(info.frame_names) == 12
    assert info.annotated == ["00001", "00011"] and info.gt_threshold is None
    ids = _assert_instances_merge_to_gt(info)
    np.testing.assert_array_equal(ids["00011"], _box(11).astype(np.uint8))
    assert [p.name for p in gt_files(tmp_path, "fbms-mg", "cars1")] == ["00001.png", "00011.png"]
    assert len(source_files(tmp_path, "fbms-mg", "cars1")) == 12


def test_fbms_mg_val_folder_is_not_a_video(tmp_path: Path) -> None:
    _fbms_mg(tmp_path, "cars1", 12, (1, 11))
    for i in range(2, 11):
        (tmp_path / "JPEGImages" / "cars1" / f"{i:05d}.jpg").unlink()  # FBMS_val: annotated frames only
    with pytest.raises(InputError) as exc:
        get_sequence(tmp_path, "fbms-mg", "cars1")
    _assert_names(exc, tmp_path / "JPEGImages" / "cars1" / "00002.jpg", "missing frame", "FBMS_clean")


# --------------------------------------------------------------------------------------------------- SegTrackV2


def test_segtrackv2_original_names_and_instances(tmp_path: Path) -> None:
    _segtrack(tmp_path, "bird_of_paradise", 3)
    _segtrack(tmp_path, "bmx", 3, objects=2)
    _segtrack(tmp_path, "cheetah", 3, objects=2, frame_ext="bmp", obj_exts=("bmp", "png"))
    assert list_sequences(tmp_path, "segtrackv2") == ["bird_of_paradise", "bmx", "cheetah"]
    bird = get_sequence(tmp_path, "segtrackv2", "bird_of_paradise")
    assert bird.gt_paths["bird_of_paradise_00000"] == [
        tmp_path / "GroundTruth" / "bird_of_paradise" / "bird_of_paradise_00000.png"]
    assert bird.gt_object_dirs == []
    ids = _assert_instances_merge_to_gt(bird)
    assert set(np.unique(ids["bird_of_paradise_00001"])) == {0, 1}
    for seq in ("bmx", "cheetah"):
        info = get_sequence(tmp_path, "segtrackv2", seq)
        assert [d.name for d in info.gt_object_dirs] == ["1", "2"]
        ids = _assert_instances_merge_to_gt(info)
        frame = ids[f"{seq}_00002"]
        assert frame[6, 6] == 1 and frame[9, 10] == 2 and frame[8, 10] == 2  # row 8: both objects, folder 2 wins
    cheetah = get_sequence(tmp_path, "segtrackv2", "cheetah")
    assert [p.suffix for p in cheetah.gt_paths["cheetah_00000"]] == [".bmp", ".png"]


def test_segtrackv2_object_folder_limit(tmp_path: Path) -> None:
    h, w = 4, 4
    seq = tmp_path / "JPEGImages" / "penguin"
    for i in range(2):
        _save(seq / f"penguin_{i:05d}.png", _frame(i, h, w))
    for k in range(1, MAX_OBJECTS + 2):
        _save(tmp_path / "GroundTruth" / "penguin" / str(k) / "penguin_00000.png", np.zeros((h, w), np.uint8))
    info = get_sequence(tmp_path, "segtrackv2", "penguin")
    with pytest.raises(InputError) as exc:
        load_gt_instances(info)
    _assert_names(exc, tmp_path / "GroundTruth" / "penguin", f"{MAX_OBJECTS + 1} per-object folders")


def test_segtrackv2_mg_layout(tmp_path: Path) -> None:
    _segtrack_mg(tmp_path, "drift", 3)
    _segtrack_mg(tmp_path, "girl", 2, leftovers=False)
    assert list_sequences(tmp_path, "segtrackv2-mg") == ["drift", "girl"]
    info = get_sequence(tmp_path, "segtrackv2-mg", "drift")
    assert info.gt_threshold == 0.5 and info.annotated == ["drift_00000", "drift_00001", "drift_00002"]
    assert info.gt_paths["drift_00001"] == tmp_path / "Annotations" / "drift" / "drift_00001.png"
    assert len(gt_files(tmp_path, "segtrackv2-mg", "drift")) == 3  # the per-object leftovers are not GT
    expected = _box(1).copy()
    expected[3, 3:13] = True  # edge 130 >= 128
    np.testing.assert_array_equal(load_gt(info)["drift_00001"], expected)
    _assert_instances_merge_to_gt(info)
    strict = get_sequence(tmp_path, "segtrackv2-mg", "drift", options={"gt_threshold": 0.6})
    assert strict.gt_threshold == 0.6
    np.testing.assert_array_equal(load_gt(strict)["drift_00001"], _box(1))


def test_segtrackv2_mg_without_merged_masks(tmp_path: Path) -> None:
    _segtrack_mg(tmp_path, "bmx", 2)
    for p in (tmp_path / "Annotations" / "bmx").glob("*.png"):
        p.unlink()
    assert gt_files(tmp_path, "segtrackv2-mg", "bmx") == []  # listing never validates
    with pytest.raises(InputError) as exc:
        get_sequence(tmp_path, "segtrackv2-mg", "bmx")
    _assert_names(exc, tmp_path / "Annotations" / "bmx", "no merged mask", "SegTrack_clean.py")


# ------------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("layout", ["fbms-mg", "segtrackv2-mg"])
def test_mg_gt_png_without_frame(tmp_path: Path, layout: str) -> None:
    if layout == "fbms-mg":
        _fbms_mg(tmp_path, "cars1", 4, (1,))
        bad = _save(tmp_path / "Annotations" / "cars1" / "00040.png", np.zeros((H, W), np.uint8))
    else:
        _segtrack_mg(tmp_path, "cars1", 3)
        bad = _save(tmp_path / "Annotations" / "cars1" / "cars1_00009.png", np.zeros((H, W, 3), np.uint8))
    with pytest.raises(InputError) as exc:
        get_sequence(tmp_path, layout, "cars1")
    _assert_names(exc, bad, "matches no frame")


@pytest.mark.parametrize("layout", ["davis", "fbms", "segtrackv2", "segtrackv2-mg"])
def test_gt_mask_of_other_size(tmp_path: Path, layout: str) -> None:
    if layout == "davis":
        _davis17(tmp_path, "bike", 3, folder="Annotations")
        bad = _save_palette(tmp_path / "Annotations" / "480p" / "bike" / "00001.png", np.zeros((H, W + 2), np.uint8))
        seq = "bike"
    elif layout == "fbms":
        d = _fbms_ppm(tmp_path, "bear01", 4, (1, 3))
        bad = _save(d / "GroundTruth" / "bear01_0003_gt.ppm", np.full((H, W + 2, 3), 255, np.uint8))
        seq = "bear01"
    elif layout == "segtrackv2":
        _segtrack(tmp_path, "bmx", 3, objects=2)
        bad = _save(tmp_path / "GroundTruth" / "bmx" / "2" / "bmx_00001.png", np.zeros((H, W + 2, 3), np.uint8))
        seq = "bmx"
    else:
        _segtrack_mg(tmp_path, "drift", 3)
        bad = _save(tmp_path / "Annotations" / "drift" / "drift_00001.png", np.zeros((H, W + 2, 3), np.uint8))
        seq = "drift"
    info = get_sequence(tmp_path, layout, seq)
    for reader in (load_gt, load_gt_instances):
        with pytest.raises(InputError) as exc:
            reader(info)
        _assert_names(exc, bad, f"mask size {W + 2}x{H} differs from frame size {W}x{H}")


# ------------------------------------------------------------------------------------------------ mask readers


def test_read_mask_threshold(tmp_path: Path) -> None:
    grey = np.zeros((H, W), np.uint8)
    grey[:, :8], grey[:, 8:16], grey[:, 16:24] = 26, 25, 200
    p = _save(tmp_path / "grey.png", grey)
    np.testing.assert_array_equal(read_mask(p, threshold=0.1), grey >= 26)
    np.testing.assert_array_equal(read_mask(p), grey >= 128)  # a 0..255 map without threshold: the 128 rule
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[:, :8] = (0, 0, 255)  # luma 29
    rgb[:, 8:16] = (0, 200, 0)  # luma 117
    p = _save(tmp_path / "rgb.png", rgb)
    np.testing.assert_array_equal(read_mask(p, threshold=0.4), np.broadcast_to(np.arange(W) >= 8, (H, W))
                                  & np.broadcast_to(np.arange(W) < 16, (H, W)))
    wide = np.zeros((H, W), np.uint16)
    wide[:, :4] = 40000
    wide[:, 4:8] = 20000
    p = _save(tmp_path / "wide.png", wide)
    np.testing.assert_array_equal(read_mask(p, threshold=0.5), wide >= 32768)
    pal = _save_palette(tmp_path / "pal.png", _davis17_ids(0))
    np.testing.assert_array_equal(read_mask(pal, threshold=0.9), read_mask(pal))  # labels ignore the threshold
    with pytest.raises(ValueError, match="threshold"):
        read_mask(pal, threshold=0.0)
    a = _save(tmp_path / "a.png", grey)
    np.testing.assert_array_equal(read_gt_entry([a], threshold=0.1), grey >= 26)


def test_threshold_reaches_the_manifest_and_its_readers(tmp_path: Path) -> None:
    from motionseg.cluster.run import load_gt as cluster_gt
    from motionseg.io.ingest import run_ingest
    from motionseg.io.ingest_format import load_ingested

    root = tmp_path / "stv2"
    _segtrack_mg(root, "drift", 3)
    cfg = {"name": "stv2", "layout": "segtrackv2-mg", "root": str(root), "gt_threshold": 0.6}
    run_ingest(cfg, "drift", tmp_path / "drift.npz", {"height": None})
    ing = load_ingested(tmp_path / "drift.npz")
    assert ing.manifest["gt_threshold"] == 0.6
    strict = [m for m in cluster_gt(ing, (H, W), "x") if m is not None]
    np.testing.assert_array_equal(strict[1], _box(1))
    ing.manifest.pop("gt_threshold")  # an older manifest: the value rules (RGB max channel >= 128)
    loose = [m for m in cluster_gt(ing, (H, W), "x") if m is not None]
    assert loose[1][3, 3] and not strict[1][3, 3]


def test_plan_passes_reader_options(tmp_path: Path) -> None:
    import yaml

    from motionseg.plan import Plan

    for seq in ("bike", "camel"):
        _davis17(tmp_path, seq, 2)
    (tmp_path / "ImageSets" / "2017").mkdir(parents=True)
    (tmp_path / "ImageSets" / "2017" / "val.txt").write_text("camel\n")
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())
    config["datasets"] = [{"name": "d17", "layout": "davis", "root": str(tmp_path), "split": "2017/val",
                           "annotations": "Annotations_unsupervised"}]
    plan = Plan.from_config(config)
    assert plan.sequences("d17") == ["camel"]
    assert [Path(p).name for p in plan.gt_files("d17", "camel")] == ["00000.png", "00001.png"]
    assert len(plan.source_files("d17", "camel")) == 2
