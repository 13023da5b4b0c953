"""Synthetic motion-segmentation sequences with exact ground-truth masks and optical flow.

A sequence is a stack of textured layers, each attached to the image by a 2-D affine map per frame:

- the background, a multi-scale noise texture fixed in a "world" plane; the camera pans, slowly rotates and zooms,
  so its image motion is one parametric (affine) global motion;
- one static distractor: a textured blob fixed in the world (it moves exactly like the background and is NOT
  foreground);
- 1-2 independently moving objects (textured blobs on smooth paths with mild rotation and scaling) that enter or
  leave the frame and occlude each other.

Frames are rendered by inverse warping: every pixel is mapped back into each layer's texture with that layer's
inverse affine map, and the top-most layer whose shape contains it gives the colour. The ground-truth flow of a
pixel is the analytic motion of the visible layer, ``M_{t+g}(M_t^{-1}(p)) - p``, so it is exact w.r.t. the rendering
(occluded surfaces never contribute). Everything is drawn from ``numpy.random.default_rng([seed, index])``, so a seed
gives byte-identical files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from motionseg.flow.flo import write_flo
from motionseg.io.atomic import atomic_dir
from motionseg.io.errors import ConfigError
from motionseg.io.instances import write_palette_png

NAME_PREFIX = "synth_"
_NAME_RE = re.compile(r"^synth_(\d+)$")


# ----------------------------------------------------------------------------------------------------------- names


def synth_sequence_names(n_sequences: int) -> list[str]:
    """Names of the ``n_sequences`` synthetic sequences: ``synth_000``, ``synth_001``, ..."""
    if n_sequences < 1:
        raise ConfigError("synthetic.n_sequences", f"must be >= 1, got {n_sequences}")
    width = max(3, len(str(n_sequences - 1)))
    return [f"{NAME_PREFIX}{i:0{width}d}" for i in range(n_sequences)]


def sequence_index(name: str) -> int:
    """Index of a synthetic sequence parsed from its name (``synth_007`` -> 7)."""
    m = _NAME_RE.match(name)
    if m is None:
        raise ValueError(f"not a synthetic sequence name: {name!r} (expected '{NAME_PREFIX}<number>')")
    return int(m.group(1))


# ---------------------------------------------------------------------------------------------------------- layers


@dataclass
class _Layer:
    """One textured layer. ``maps[t]`` is a 3x3 affine matrix mapping texture pixel coords (x, y) to image coords."""

    texture: np.ndarray  # float32 [th, tw, 3], 0..255
    maps: np.ndarray  # float64 [T, 3, 3]
    moving: bool  # True for foreground objects
    radius: float = 0.0  # base radius of the blob shape in texture px (0 = fills the texture: background)
    lobes: int = 0
    lobe_amp: float = 0.0
    lobe_phase: float = 0.0
    aspect: float = 1.0

    def inside(self, q: np.ndarray) -> np.ndarray:
        """bool [...]: whether texture coords ``q [..., 2]`` lie inside the layer's shape."""
        if self.radius <= 0:
            th, tw = self.texture.shape[:2]
            return (q[..., 0] >= 0) & (q[..., 0] <= tw - 1) & (q[..., 1] >= 0) & (q[..., 1] <= th - 1)
        th, tw = self.texture.shape[:2]
        dx = (q[..., 0] - (tw - 1) / 2.0) / self.aspect
        dy = (q[..., 1] - (th - 1) / 2.0) * self.aspect
        r = np.hypot(dx, dy)
        phi = np.arctan2(dy, dx)
        return r <= self.radius * (1.0 + self.lobe_amp * np.cos(self.lobes * phi + self.lobe_phase))


def _affine(scale: float, theta: float, tx: float, ty: float) -> np.ndarray:
    """3x3 matrix of p -> scale * R(theta) p + (tx, ty)."""
    c, s = np.cos(theta) * scale, np.sin(theta) * scale
    return np.array([[c, -s, tx], [s, c, ty], [0.0, 0.0, 1.0]])


def _translate(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


# -------------------------------------------------------------------------------------------------------- textures


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int, channels: int) -> np.ndarray:
    """float32 [h, w, channels]: unit-variance-ish noise smoothly interpolated from a grid with ``cell`` px spacing."""
    gh, gw = h // cell + 3, w // cell + 3
    grid = rng.standard_normal((gh, gw, channels)).astype(np.float32)
    up = cv2.resize(grid, (gw * cell, gh * cell), interpolation=cv2.INTER_CUBIC)
    if up.ndim == 2:
        up = up[..., None]
    return up[cell : cell + h, cell : cell + w]


def _multiscale(
    rng: np.random.Generator, h: int, w: int, cells: tuple[int, ...], channels: int, power: float = 0.5
) -> np.ndarray:
    """Sum of smooth noise octaves (amplitude ``cell ** power``); normalised to zero mean, unit std."""
    acc = np.zeros((h, w, channels), np.float32)
    for cell in cells:
        acc += np.float32(cell**power) * _smooth_noise(rng, h, w, cell, channels)
    acc -= acc.mean(axis=(0, 1), keepdims=True)
    acc /= acc.std(axis=(0, 1), keepdims=True) + 1e-6
    return acc


def _background_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """float32 [h, w, 3] in 0..255: earthy multi-scale noise (luminance detail down to 2 px)."""
    lum = _multiscale(rng, h, w, (2, 4, 8, 16, 32, 64), 1, power=0.2)
    chroma = _multiscale(rng, h, w, (16, 48), 3)
    base = np.array([110.0, 120.0, 95.0], np.float32) + rng.uniform(-20, 20, 3).astype(np.float32)
    img = base + 38.0 * lum + 14.0 * chroma
    return np.clip(img, 0, 255).astype(np.float32)


def _object_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """float32 [size, size, 3] in 0..255: saturated colour with oriented stripes modulated by fine noise."""
    hue = rng.uniform(0, 180)
    hsv = np.uint8([[[hue, rng.uniform(150, 230), rng.uniform(150, 220)]]])
    colour = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    ang = rng.uniform(0, np.pi)
    period = rng.uniform(5.0, 10.0)
    stripes = np.sin(2 * np.pi * (xx * np.cos(ang) + yy * np.sin(ang)) / period)[..., None]
    detail = _multiscale(rng, size, size, (2, 4, 8), 1)
    img = colour * (0.75 + 0.18 * stripes + 0.14 * detail) + 10.0 * _multiscale(rng, size, size, (3, 12), 3)
    return np.clip(img, 0, 255).astype(np.float32)


def _blob_layer(rng: np.random.Generator, radius: float, maps: np.ndarray, moving: bool) -> _Layer:
    """A textured blob of base ``radius`` px whose texture-to-image maps are ``maps`` (defined about its centre)."""
    lobes = int(rng.integers(2, 6))
    lobe_amp = float(rng.uniform(0.08, 0.22))
    aspect = float(rng.uniform(0.8, 1.25))
    reach = radius * (1 + lobe_amp) * max(aspect, 1 / aspect)
    size = int(2 * np.ceil(reach) + 5)
    centre = _translate(-(size - 1) / 2.0, -(size - 1) / 2.0)  # texture px -> blob-centred coords
    return _Layer(
        texture=_object_texture(rng, size),
        maps=maps @ centre,
        moving=moving,
        radius=radius,
        lobes=lobes,
        lobe_amp=lobe_amp,
        lobe_phase=float(rng.uniform(0, 2 * np.pi)),
        aspect=aspect,
    )


# -------------------------------------------------------------------------------------------------------- scene


def _camera(rng: np.random.Generator, n_frames: int, height: int, width: int) -> np.ndarray:
    """float64 [T, 3, 3]: world -> image maps of a panning, slowly rotating and zooming camera."""
    c = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    ang = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(0.004, 0.009) * width  # px / frame
    damp = min(1.0, 40.0 / max(n_frames - 1, 1))  # long sequences: bound the total zoom and rotation
    zoom = rng.uniform(0.003, 0.008) * rng.choice([-1.0, 1.0]) * damp  # log-scale change / frame
    rot = rng.uniform(-0.004, 0.004) * damp  # rad / frame
    wobble = rng.uniform(0.0, 0.01) * width
    maps = np.empty((n_frames, 3, 3))
    for t in range(n_frames):
        d = speed * t * np.array([np.cos(ang), np.sin(ang)]) + wobble * np.array([np.sin(0.3 * t), 0.0])
        s = np.exp(-zoom * t)
        # image -> world: X = c + s R(rot t) (p - c) + d ; invert it.
        img2world = _translate(*(c + d)) @ _affine(s, rot * t, 0.0, 0.0) @ _translate(*(-c))
        maps[t] = np.linalg.inv(img2world)
    return maps


def _world_box(cam: np.ndarray, height: int, width: int, margin: float = 6.0) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) world box seen by any frame, plus ``margin`` px."""
    corners = np.array([[0, 0, 1], [width - 1, 0, 1], [0, height - 1, 1], [width - 1, height - 1, 1]], float).T
    pts = np.concatenate([(np.linalg.inv(m) @ corners)[:2] for m in cam], axis=1)
    return pts[0].min() - margin, pts[1].min() - margin, pts[0].max() + margin, pts[1].max() + margin


def _object_path(
    rng: np.random.Generator, n_frames: int, start: np.ndarray, end: np.ndarray, wiggle: float
) -> np.ndarray:
    """float64 [T, 3, 3]: object-centred -> image maps along a smooth path with mild rotation and scaling."""
    ts = np.linspace(0.0, 1.0, n_frames)
    direction = (end - start) / (np.linalg.norm(end - start) + 1e-9)
    normal = np.array([-direction[1], direction[0]])
    freq, phase = rng.uniform(0.5, 1.5), rng.uniform(0, 2 * np.pi)
    spin = rng.uniform(-0.025, 0.025)  # rad / frame
    theta0 = rng.uniform(0, 2 * np.pi)
    sc_amp, sc_phase = rng.uniform(0.03, 0.1), rng.uniform(0, 2 * np.pi)
    maps = np.empty((n_frames, 3, 3))
    for t, u in enumerate(ts):
        pos = start + (end - start) * u + wiggle * np.sin(2 * np.pi * freq * u + phase) * normal
        scale = 1.0 + sc_amp * np.sin(2 * np.pi * u + sc_phase)
        maps[t] = _affine(scale, theta0 + spin * t, pos[0], pos[1])
    return maps


def _build_scene(index: int, n_frames: int, height: int, width: int, seed: int) -> list[_Layer]:
    """Layers bottom to top: background, static distractor, moving objects (1-2)."""
    rng = np.random.default_rng([seed, index])
    cam = _camera(rng, n_frames, height, width)
    x0, y0, x1, y1 = _world_box(cam, height, width)
    bg_h, bg_w = int(np.ceil(y1 - y0)) + 2, int(np.ceil(x1 - x0)) + 2
    background = _Layer(texture=_background_texture(rng, bg_h, bg_w), maps=cam @ _translate(x0, y0), moving=False)

    side = min(height, width)
    mid = n_frames // 2
    # Static distractor: fixed in the world where the middle frame sees it (upper or lower band).
    d_img = np.array([rng.uniform(0.25, 0.75) * width, rng.choice([0.25, 0.75]) * height, 1.0])
    d_world = np.linalg.inv(cam[mid]) @ d_img
    d_radius = rng.uniform(0.10, 0.14) * side
    d_world_map = _affine(1.0, rng.uniform(0, 2 * np.pi), d_world[0], d_world[1])
    distractor = _blob_layer(rng, d_radius, cam @ d_world_map, moving=False)

    n_objects = 1 if index % 3 == 2 else 2
    flip = rng.random() < 0.5
    objects = []
    # Object A enters from one side (centre starts half a radius outside) and stops inside the frame.
    r_a = rng.uniform(0.15, 0.2) * side
    start_a = np.array([-0.5 * r_a, rng.uniform(0.35, 0.65) * height])
    end_a = np.array([rng.uniform(0.5, 0.7) * width, rng.uniform(0.35, 0.65) * height])
    paths = [(r_a, start_a, end_a)]
    if n_objects == 2:
        # Object B starts inside on the other half, crosses A's path (occlusion) and leaves the frame.
        r_b = rng.uniform(0.14, 0.19) * side
        start_b = np.array([rng.uniform(0.65, 0.85) * width, rng.uniform(0.35, 0.65) * height])
        end_b = np.array([-1.4 * r_b, rng.uniform(0.4, 0.9) * height])
        paths.append((r_b, start_b, end_b))
    for radius, start, end in paths:
        if flip:
            start, end = np.array([width - 1 - start[0], start[1]]), np.array([width - 1 - end[0], end[1]])
        maps = _object_path(rng, n_frames, start, end, wiggle=0.06 * height)
        objects.append(_blob_layer(rng, radius, maps, moving=True))
    if n_objects == 2 and rng.random() < 0.5:
        objects.reverse()  # random depth order
    return [background, distractor, *objects]


# -------------------------------------------------------------------------------------------------------- render


@dataclass
class SynthSequence:
    """A rendered synthetic sequence.

    frames: uint8 [T, H, W, 3] RGB; masks: bool [T, H, W] foreground (union of moving objects);
    layer_ids: int8 [T, H, W] visible layer (0 background, 1 distractor, 2.. objects);
    instance_ids: uint8 [T, H, W] visible moving object (0 background and static distractor, 1.. the moving objects
    in depth order, the same id in every frame);
    flow_fwd: float32 [T-1, H, W, 2] exact flow t -> t+1 in px; flow_bwd: float32 [T-1, H, W, 2], element i is the
    exact flow from frame i+1 back to frame i.
    """

    frames: np.ndarray
    masks: np.ndarray
    layer_ids: np.ndarray
    instance_ids: np.ndarray
    flow_fwd: np.ndarray
    flow_bwd: np.ndarray


def _window(layer: _Layer, t: int, h: int, w: int) -> tuple[slice, slice] | None:
    """Image rows/cols that can hold layer pixels in frame ``t`` (bounding box of its texture), None if off-frame."""
    th, tw = layer.texture.shape[:2]
    corners = np.array([[0, 0, 1], [tw - 1, 0, 1], [0, th - 1, 1], [tw - 1, th - 1, 1]], float).T
    p = layer.maps[t] @ corners
    x0, x1 = max(int(np.floor(p[0].min())) - 1, 0), min(int(np.ceil(p[0].max())) + 2, w)
    y0, y1 = max(int(np.floor(p[1].min())) - 1, 0), min(int(np.ceil(p[1].max())) + 2, h)
    if x0 >= x1 or y0 >= y1:
        return None
    return slice(y0, y1), slice(x0, x1)


def _render_frame(layers: list[_Layer], t: int, grid: np.ndarray, draw_objects: bool) -> tuple[np.ndarray, np.ndarray]:
    """(float32 [H, W, 3] image, int8 [H, W] visible layer id) of frame ``t``.

    grid: float64 [H, W, 3] homogeneous pixel coordinates (x, y, 1).
    """
    h, w = grid.shape[:2]
    img = np.zeros((h, w, 3), np.float32)
    ids = np.full((h, w), -1, np.int8)
    for k, layer in enumerate(layers):
        if layer.moving and not draw_objects:
            continue
        win = _window(layer, t, h, w)
        if win is None:
            continue  # entirely outside the frame
        inv = np.linalg.inv(layer.maps[t])  # image -> texture coords
        x, y = grid[win][..., 0], grid[win][..., 1]
        q = np.stack([inv[0, 0] * x + inv[0, 1] * y + inv[0, 2], inv[1, 0] * x + inv[1, 1] * y + inv[1, 2]], axis=-1)
        qx, qy = q[..., 0].astype(np.float32), q[..., 1].astype(np.float32)
        inside = layer.inside(q)
        colour = cv2.remap(layer.texture, qx, qy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        img[win][inside] = colour[inside]
        ids[win][inside] = k
    if (ids < 0).any():
        raise RuntimeError("synthetic background does not cover the frame (world box too small)")
    return img, ids


def _layer_flow(layers: list[_Layer], ids: np.ndarray, t: int, t2: int, grid: np.ndarray) -> np.ndarray:
    """float32 [H, W, 2]: exact flow from frame t to frame t2 of the visible layer at each pixel."""
    flow = np.zeros(grid.shape[:2] + (2,), np.float32)
    for k, layer in enumerate(layers):
        sel = ids == k
        if not sel.any():
            continue
        m = layer.maps[t2] @ np.linalg.inv(layer.maps[t])  # affine: image at t -> image at t2
        x, y = grid[..., 0][sel], grid[..., 1][sel]
        flow[sel, 0] = (m[0, 0] - 1.0) * x + m[0, 1] * y + m[0, 2]
        flow[sel, 1] = m[1, 0] * x + (m[1, 1] - 1.0) * y + m[1, 2]
    return flow


def render_sequence(
    index: int, n_frames: int, height: int, width: int, seed: int, draw_objects: bool = True
) -> SynthSequence:
    """Render synthetic sequence ``index`` (n_frames x height x width px) in memory; see :class:`SynthSequence`.

    ``draw_objects=False`` renders the same scene without its moving objects (for tests).
    """
    if n_frames < 2:
        raise ConfigError("synthetic.n_frames", f"must be >= 2, got {n_frames}")
    if height < 16 or width < 16:
        raise ConfigError("synthetic.height/width", f"must be >= 16 px, got {height}x{width}")
    layers = _build_scene(index, n_frames, height, width, seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    grid = np.stack([xx, yy, np.ones_like(xx)], axis=-1)
    frames, ids = [], []
    for t in range(n_frames):
        img, lid = _render_frame(layers, t, grid, draw_objects)
        frames.append(np.clip(np.rint(img), 0, 255).astype(np.uint8))
        ids.append(lid)
    moving = np.array([layer.moving for layer in layers])
    id_arr = np.stack(ids)
    fwd = np.stack([_layer_flow(layers, ids[t], t, t + 1, grid) for t in range(n_frames - 1)])
    bwd = np.stack([_layer_flow(layers, ids[t], t, t - 1, grid) for t in range(1, n_frames)])
    instance_of_layer = np.cumsum(moving) * moving  # moving layer -> 1, 2, ...; others -> 0
    return SynthSequence(frames=np.stack(frames), masks=moving[id_arr], layer_ids=id_arr,
                         instance_ids=instance_of_layer[id_arr].astype(np.uint8), flow_fwd=fwd, flow_bwd=bwd)


# --------------------------------------------------------------------------------------------------------- write


def generate_sequence(
    root: str | Path, name: str, index: int, n_frames: int, height: int, width: int, seed: int,
    instances: bool = False,
) -> None:
    """Render one sequence and write it in DAVIS layout under ``root``.

    Writes ``JPEGImages/<name>/00000.jpg`` (RGB, JPEG quality 95), ``Annotations/<name>/00000.png`` (L, 0/255; with
    ``instances``: DAVIS-2017 palette PNGs, index k = moving object k, 0 = background; same merged foreground),
    ``Flows_gap1/<name>/00000.flo`` (exact forward flow t -> t+1 for t = 0..T-2, px) and ``Flows_gap-1/<name>/
    00001.flo`` (exact backward flow t -> t-1 for t = 1..T-1, px). Each folder is written atomically.
    """
    root = Path(root)
    seq = render_sequence(index, n_frames, height, width, seed)
    names = [f"{t:05d}" for t in range(n_frames)]
    with atomic_dir(root / "JPEGImages" / name) as tmp:
        for n, frame in zip(names, seq.frames, strict=True):
            Image.fromarray(frame, mode="RGB").save(tmp / f"{n}.jpg", quality=95)
    with atomic_dir(root / "Annotations" / name) as tmp:
        if instances:
            for n, ids in zip(names, seq.instance_ids, strict=True):
                write_palette_png(tmp / f"{n}.png", ids)
        else:
            for n, mask in zip(names, seq.masks, strict=True):
                Image.fromarray(mask.astype(np.uint8) * 255, mode="L").save(tmp / f"{n}.png")
    with atomic_dir(root / "Flows_gap1" / name) as tmp:
        for n, flow in zip(names[:-1], seq.flow_fwd, strict=True):
            write_flo(tmp / f"{n}.flo", flow)
    with atomic_dir(root / "Flows_gap-1" / name) as tmp:
        for n, flow in zip(names[1:], seq.flow_bwd, strict=True):
            write_flo(tmp / f"{n}.flo", flow)


def run_synth(synthetic_cfg: dict, root: str | Path, name: str) -> None:
    """Rule entry point: generate sequence ``name`` (``synth_<index>``) of a synthetic dataset under ``root``.

    synthetic_cfg: the dataset's ``synthetic`` block (n_frames, height, width, seed, optional instances; with
    ``n_sequences`` the index is checked against it: the workflow leaves it out, its plan lists only that many
    sequences).
    """
    index = sequence_index(name)
    n_seq = synthetic_cfg.get("n_sequences")
    if n_seq is not None and index >= int(n_seq):
        raise ConfigError("synthetic.n_sequences", f"sequence {name} is outside the {n_seq} configured sequences")
    generate_sequence(
        root,
        name,
        index,
        n_frames=int(synthetic_cfg["n_frames"]),
        height=int(synthetic_cfg["height"]),
        width=int(synthetic_cfg["width"]),
        seed=int(synthetic_cfg["seed"]),
        instances=bool(synthetic_cfg.get("instances") or False),
    )
