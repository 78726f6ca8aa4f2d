"""Rendering the synthetic world to RGB frames, vectorised over frames in numpy.

The backdrop only translates with the camera, so it is drawn once per video as a panorama and
resampled per frame; the actor, its shadow and the distractors are drawn per frame in small windows.
"""

from __future__ import annotations

import numpy as np

from cstp.data.noise import hash01, value_noise
from cstp.data.world import (
    DRIFT_SIZE,
    FOLLOW_OFFSET,
    JITTER,
    PAN_RANGE,
    PLAIN_PALETTE,
    REST_OFFSET,
    SHAPES,
    VideoParams,
    actor_bounds,
    actor_look,
    actor_track,
    camera_offset,
    support,
)

LAYERS = frozenset({"scene", "shadow", "actor", "distractors"})
CLOUD_BASE = 0.14  # clouds' lowest point above the horizon, clear of the hills (at most 0.125)


def shape_distance(shape: str, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Signed distance (in radii, negative inside) to a unit-radius shape; exact enough to shade."""
    if shape == "ball":
        return np.hypot(px, py) - 1
    if shape == "box":
        return np.maximum(np.abs(px), np.abs(py)) - 0.8
    if shape == "wedge":  # equilateral, point up, inradius REST_OFFSET
        inradius = REST_OFFSET["wedge"]
        edges = [np.cos(a) * px + np.sin(a) * py for a in np.deg2rad((-90, 30, 150))]
        return np.maximum(np.maximum(edges[0], edges[1]), edges[2]) - inradius
    if shape == "cross":  # two bars of half-width 0.3
        along, across = np.abs(px), np.abs(py)
        return np.minimum(np.maximum(along - 1, across - 0.3), np.maximum(across - 1, along - 0.3))
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def _backdrop(params: VideoParams, height: int, x0: float, ytop: float, shape: tuple[int, int]):
    """RGB of sky, hills and ground on a pixel grid whose top-left pixel edge is (x0, ytop)."""
    sc = params.scene
    x = x0 + (np.arange(shape[1]) + 0.5)[None, :] / height
    y = ytop - (np.arange(shape[0]) + 0.5)[:, None] / height
    y_h, top = sc.ground_line - sc.horizon, sc.ground_line
    mix = np.clip((y - y_h) / (top - y_h), 0, 1)[..., None] ** 0.8
    rgb = np.asarray(sc.sky_low) + (np.asarray(sc.sky_top) - np.asarray(sc.sky_low)) * mix
    ridge = y_h + 0.05 + sum(a * np.sin(2 * np.pi * f * x + p) for a, f, p in sc.hills)
    hill = np.clip((ridge - y) * height + 0.5, 0, 1)[..., None]
    rgb = rgb + hill * (np.asarray(sc.hill_color) - rgb)
    grain = (
        value_noise(x / 0.09, y / 0.04, sc.salt) * 0.6
        + value_noise(x / 0.03, y / 0.015, sc.salt + 2) * 0.4
    )
    depth = np.clip((y_h - y) / (y_h + 1 - top), 0, 1)
    ground = np.asarray(sc.ground_color) * ((0.75 + 0.5 * grain) * (1 - 0.3 * depth))[..., None]
    cover = np.clip((y_h - y) * height + 0.5, 0, 1)[..., None]
    return rgb + cover * (ground - rgb)


def _plain_backdrop(params: VideoParams, height: int, x0, ytop, shape: tuple[int, int]):
    """Worlds 3-5: one palette over isotropic two-octave value noise, the same statistics at every
    height and in every direction, so that nothing but the actors says where up is."""
    salt = params.scene.salt
    x = x0 + (np.arange(shape[1]) + 0.5)[None, :] / height
    y = ytop - (np.arange(shape[0]) + 0.5)[:, None] / height
    grain = (
        value_noise(x / 0.06, y / 0.06, salt) * 0.6
        + value_noise(x / 0.02, y / 0.02, salt + 2) * 0.4
    )
    dark, light = np.asarray(PLAIN_PALETTE[0]), np.asarray(PLAIN_PALETTE[1])
    return dark + grain[..., None] * (light - dark)


def _clouds(params: VideoParams, height: int, x0: float, ytop: float, shape: tuple[int, int]):
    """Grey level and alpha of the clouds (2 channels), in cloud coordinates."""
    sc, cell = params.scene, 0.6
    x = x0 + (np.arange(shape[1]) + 0.5)[None, :] / height
    y = ytop - (np.arange(shape[0]) + 0.5)[:, None] / height
    y_h, top = sc.ground_line - sc.horizon, sc.ground_line
    alpha = np.zeros(shape)
    for k in range(int(np.floor(x0 / cell)) - 1, int(np.ceil(x[0, -1] / cell)) + 2):
        u = hash01(np.arange(5) + 5 * k, sc.salt + 1)
        if u[0] > 0.7:
            continue
        size = 0.05 + 0.05 * u[1]
        low = y_h + CLOUD_BASE + 0.6 * 0.1  # centre height that keeps the lowest blob clear
        cx, cy = (k + 0.2 + 0.6 * u[2]) * cell, low + (top - low) * u[3]
        for dx, dy, rad in ((-size, 0, 0.8), (0, 0.4 * size, 1.0), (size, 0, 0.75)):
            dist = np.hypot(x - cx - dx, (y - cy - dy) / 0.6) / (rad * size)
            alpha = np.maximum(alpha, np.clip((1 - dist) * 3, 0, 1))
    # Lit from above: cloud bottoms are greyer.
    shade = 0.8 + 0.2 * np.clip((y - y_h - 0.2) / 0.3, 0, 1)
    alpha = 0.9 * alpha
    return np.stack(np.broadcast_arrays(shade, alpha), axis=-1)


def _sample(pano: np.ndarray, ox: np.ndarray, oy: np.ndarray, height: int, width: int):
    """Per-frame (height, width) crops of `pano` at fractional pixel offsets (bilinear)."""
    ix, iy = np.floor(ox).astype(np.int64), np.floor(oy).astype(np.int64)
    out = np.empty((len(ox), height, width, pano.shape[-1]), np.float32)
    for k, (i, j) in enumerate(zip(iy, ix, strict=True)):
        fx, fy = np.float32(ox[k] - j), np.float32(oy[k] - i)
        crop = pano[i : i + height + 1, j : j + width + 1]
        row = crop[:, :-1] + (crop[:, 1:] - crop[:, :-1]) * fx
        out[k] = row[:-1] + (row[1:] - row[:-1]) * fy
    return out


class _Canvas:
    """Frames with a margin, so that windows sticking out of the frame need no clipping."""

    def __init__(self, frames: np.ndarray, margin: int):
        t, h, w, _ = frames.shape
        self.margin, self.height = margin, h
        self.pixels = np.zeros((t, h + 2 * margin, w + 2 * margin, 3), np.float32)
        self.pixels[:, margin : margin + h, margin : margin + w] = frames

    def window(self, cx: np.ndarray, cy: np.ndarray, half_w: int, half_h: int):
        """Rows, columns (T, n) around (cx, cy) (pixels), and each pixel's world offset from it."""
        m, (_, hp, wp, _) = self.margin, self.pixels.shape
        r0 = np.clip(np.floor(cy).astype(np.int64) - half_h, -m, hp - m - 2 * half_h - 1)
        c0 = np.clip(np.floor(cx).astype(np.int64) - half_w, -m, wp - m - 2 * half_w - 1)
        rows = r0[:, None] + np.arange(2 * half_h + 1)
        cols = c0[:, None] + np.arange(2 * half_w + 1)
        dx = (cols[:, None, :] + 0.5 - cx[:, None, None]) / self.height
        dy = (cy[:, None, None] - rows[:, :, None] - 0.5) / self.height
        return rows, cols, dx, dy

    def paint(self, rows, cols, alpha: np.ndarray, color) -> None:
        t = np.arange(len(rows))[:, None, None]
        index = (t, rows[:, :, None] + self.margin, cols[:, None, :] + self.margin)
        region = self.pixels[index]
        self.pixels[index] = region + alpha[..., None] * (np.asarray(color) - region)

    def frames(self) -> np.ndarray:
        m = self.margin
        return self.pixels[:, m:-m, m:-m]


def _paint_body(canvas, shape, radius, color, cx, cy, angle) -> None:
    """An anti-aliased shape lit from above, with a dark band that shows its rotation."""
    radius = np.broadcast_to(np.asarray(radius, np.float64), cx.shape)[:, None, None]
    half = int(np.ceil(1.2 * radius.max() * canvas.height)) + 1
    rows, cols, dx, dy = canvas.window(cx, cy, half, half)
    cos, sin = np.cos(angle)[:, None, None], np.sin(angle)[:, None, None]
    px, py = (cos * dx + sin * dy) / radius, (cos * dy - sin * dx) / radius
    dist = shape_distance(shape, px, py) * radius * canvas.height
    alpha = np.clip(0.5 - dist, 0, 1)
    shade = np.clip(0.8 + 0.3 * dy / radius, 0.45, 1.15)
    shade = np.where(np.abs(py) < 0.22, 0.5 * shade, shade)
    color = np.broadcast_to(np.asarray(color, np.float64), (*cx.shape, 3))[:, None, None]
    canvas.paint(rows, cols, alpha, np.clip(color * shade[..., None], 0, 1))


def _paint_actor(canvas, params: VideoParams, t, cam_x, shake_y, layers) -> None:
    h = canvas.height
    x, y, angle = actor_track(params, t)
    colors, r = actor_look(params, t)
    footing = support(params.shape, angle)  # the centre's height over the ground, in radii
    if params.motion.kind != "swing":  # a grown or shrunk actor still rests on what carries it
        y = y + (r - params.radius) * footing
    top = params.scene.ground_line
    cx, cy = (x - cam_x) * h, (top + shake_y - y) * h
    if "shadow" in layers:
        lift = np.maximum(y - footing * r, 0)
        half_w, half_h = int(np.ceil(2.2 * r.max() * h)) + 1, int(np.ceil(0.4 * r.max() * h)) + 1
        rows, cols, dx, dy = canvas.window(cx, (top + shake_y) * h, half_w, half_h)
        a = (r * (0.9 + 1.6 * np.minimum(lift, 0.8)))[:, None, None]
        e = np.hypot(dx / a, dy / (0.22 * r[:, None, None]))
        dark = (0.5 * np.exp(-lift / 0.3))[:, None, None] * np.clip((1 - e) * 2.5, 0, 1)
        canvas.paint(rows, cols, dark, (0.0, 0.0, 0.0))
    if "actor" not in layers:
        return
    if params.motion.kind == "swing":
        _paint_string(canvas, cx, cy, (params.motion.x0 - cam_x) * h, (shake_y - 0.05) * h)
    _paint_body(canvas, params.shape, r, colors, cx, cy, angle)


def _paint_string(canvas, bx, by, px, py) -> None:
    """The pendulum's string from its pivot (px, py) to the bob (bx, by), in pixels."""
    half_w = int(np.ceil(np.max(np.abs(bx - px)) / 2)) + 2
    half_h = int(np.ceil(np.max(np.abs(by - py)) / 2)) + 2
    rows, cols, dx, dy = canvas.window((bx + px) / 2, (by + py) / 2, half_w, half_h)
    qx, qy = dx * canvas.height, -dy * canvas.height  # pixels from the midpoint, rows down
    vx, vy = ((bx - px) / 2)[:, None, None], ((by - py) / 2)[:, None, None]
    along = np.clip((qx * vx + qy * vy) / (vx * vx + vy * vy), -1, 1)
    dist = np.hypot(qx - along * vx, qy - along * vy)
    alpha = 0.9 * np.clip(0.5 + 0.006 * canvas.height - dist, 0, 1)
    canvas.paint(rows, cols, alpha, (0.15, 0.12, 0.1))


def _paint_distractors(canvas, params: VideoParams, t, cam_x, shake_y) -> None:
    lo, span = scene_span(params)
    lo, span = lo - 0.1, span + 0.2
    for d in params.distractors:
        x = lo + np.mod(d.x0 + d.vx * t - lo, span)
        y = d.y0 + d.sway * np.sin(2 * np.pi * d.sway_hz * t)
        cx = (x - cam_x) * canvas.height
        cy = (params.scene.ground_line + shake_y - y) * canvas.height
        _paint_body(canvas, d.shape, d.radius, d.color, cx, cy, d.spin * t)


def scene_span(params: VideoParams) -> tuple[float, float]:
    """Left end and width of the scene x range the camera can show (shake aside): the pan range,
    or in worlds 4-5, where the camera follows the actor (inside actor_bounds but for a balloon's
    sway), half a frame, the framing offset and a margin more on either side of its range."""
    if params.world >= 4:
        lo, hi = actor_bounds(params.camera, params.aspect, params.radius)
        side = params.aspect / 2 + FOLLOW_OFFSET + 0.1
        return lo - side, hi - lo + 2 * side
    return params.camera.x0, PAN_RANGE + params.aspect


class _Backdrop:
    """The static backdrop and the drifting clouds as panoramas, resampled at each frame's view."""

    def __init__(self, params: VideoParams, width: int, height: int, duration: float):
        pad = JITTER + 3 / height  # room for the shake and the bilinear neighbours
        self.params, self.width, self.height = params, width, height
        left, span = scene_span(params)
        self.x0, self.ytop = left - pad, params.scene.ground_line + pad
        rows = height + int(np.ceil(2 * pad * height)) + 2
        cols = int(np.ceil((span + 2 * pad) * height)) + 2
        drift = params.scene.wind * duration
        self.cloud_x0 = self.x0 - max(drift, 0.0)
        cloud_cols = cols + int(np.ceil(abs(drift) * height)) + 2
        if params.world >= 3:  # no clouds: the backdrop only translates
            self.static = _plain_backdrop(params, height, self.x0, self.ytop, (rows, cols))
            self.static, self.clouds = self.static.astype(np.float32), None
            return
        self.static = _backdrop(params, height, self.x0, self.ytop, (rows, cols))
        self.clouds = _clouds(params, height, self.cloud_x0, self.ytop, (rows, cloud_cols))
        self.static, self.clouds = self.static.astype(np.float32), self.clouds.astype(np.float32)
        # Clouds stay CLOUD_BASE above the horizon: only the frame's top rows can show them.
        lowest = params.scene.horizon - CLOUD_BASE + JITTER
        self.cloud_rows = min(height, int(np.ceil(lowest * height)) + 1)

    def frames(self, t: np.ndarray, cam_x: np.ndarray, shake_y: np.ndarray) -> np.ndarray:
        h, w = self.height, self.width
        oy = (self.ytop - self.params.scene.ground_line - shake_y) * h
        frames = _sample(self.static, (cam_x - self.x0) * h, oy, h, w)
        if self.clouds is None:
            return frames
        cloud_x = cam_x - self.params.scene.wind * t - self.cloud_x0
        cloud = _sample(self.clouds, cloud_x * h, oy, self.cloud_rows, w)
        sky = frames[:, : self.cloud_rows]
        sky += cloud[..., 1:] * (cloud[..., :1] - sky)
        return frames


def render_video(
    params: VideoParams,
    width: int,
    height: int,
    fps: float,
    n_frames: int,
    *,
    layers: frozenset[str] | set[str] = LAYERS,
    chunk: int = 64,
) -> np.ndarray:
    """Render `n_frames` frames at `fps`: (T, height, width, 3) uint8 RGB, frame k at time k / fps.

    `layers` picks what is drawn (a subset of LAYERS; without "scene" the background is black).
    """
    unknown = set(layers) - LAYERS
    if unknown:
        raise ValueError(f"unknown layers {sorted(unknown)}; expected a subset of {sorted(LAYERS)}")
    backdrop = _Backdrop(params, width, height, n_frames / fps) if "scene" in layers else None
    # Wide enough for every window (a window may stick out of the frame by its whole size).
    grown = 1 + DRIFT_SIZE if params.world >= 5 else 1  # world 5's actor at its largest
    margin = int(np.ceil(2.3 * max(0.12, params.radius * grown) * height)) + 3
    out = np.empty((n_frames, height, width, 3), np.uint8)
    for start in range(0, n_frames, chunk):
        t = np.arange(start, min(start + chunk, n_frames)) / fps
        cam_x, shake_y = camera_offset(params, t)
        if backdrop is None:
            frames = np.zeros((len(t), height, width, 3), np.float32)
        else:
            frames = backdrop.frames(t, cam_x, shake_y)
        canvas = _Canvas(frames, margin)
        _paint_actor(canvas, params, t, cam_x, shake_y, layers)
        if "distractors" in layers:
            _paint_distractors(canvas, params, t, cam_x, shake_y)
        out[start : start + len(t)] = np.round(np.clip(canvas.frames(), 0, 1) * 255)
    return out
