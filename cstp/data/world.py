"""The synthetic world: action classes, and the scenes, actors and motions of its videos.

Lengths are in frame heights and times in seconds, so a video is the same world at any resolution
(of one aspect ratio) and any frame rate; `cstp.data.render` draws it.
"""

from __future__ import annotations

import colorsys
import dataclasses
from dataclasses import dataclass

import numpy as np

from cstp.data.noise import hash01, value_noise

WORLD_VERSION = 2  # the world of the shipped datasets; a SynthSpec chooses one of WORLDS
# 2: a landscape (sky gradient, hills, clouds, textured ground, a palette per video). 3: the same
# actors and motions over a plain backdrop with no scene identity and no "up": one palette for
# every video, direction-free texture, the ground line at PLAIN_GROUND of the height
# (docs/synthetic-world.md, "World version 3"). 4: world 3 with a camera that follows the actor
# instead of panning, and one colour for every distractor ("World version 4"). 5: world 4 with an
# actor whose colour and size drift within a video ("World version 5").
WORLDS = (2, 3, 4, 5)
PLAIN_GROUND = 0.62  # worlds 3-5: the ground line, as a fraction of the height from the top
PLAIN_PALETTE = ((0.36, 0.38, 0.34), (0.62, 0.60, 0.52))  # worlds 3-5: texture's dark / light ends
# Worlds 4-5's camera centres the actor's mean x over FOLLOW_WINDOW s around each frame, shifted by
# a per-video offset of up to FOLLOW_OFFSET: exactly centred, a frame's pixels show the class.
FOLLOW_WINDOW, FOLLOW_OFFSET = 0.5, 0.15
DISTRACTOR_COLOR = (0.32, 0.42, 0.72)  # worlds 4-5: every distractor's colour
# World 5's actor: its hue turns a full circle in DRIFT_PERIODS[0] s, its saturation and value swing
# over their ranges, its size by +-DRIFT_SIZE: two clips of a video share its shape, not its look.
DRIFT_PERIODS, DRIFT_SIZE = (2.0, 1.7, 2.3, 2.5), 0.2  # s: hue, saturation, value, size
SATURATION, VALUE = (0.5, 0.95), (0.6, 0.95)  # an actor colour's ranges

# Time constants of the world (seconds, frame heights): playback rate is identifiable because these
# never vary, and speeds vary only +-SPEED_BAND around one value per motion.
GRAVITY = 3.3  # frame heights / s^2 (9.8 m/s^2 when the frame is 3 m tall)
RESTITUTION = 0.75  # bounce: each apex is RESTITUTION^2 of the one before
HOP_PERIOD = 0.55  # s from take-off to take-off (apex GRAVITY * HOP_PERIOD^2 / 8)
GAIT_HZ = 2.0  # walker steps (bobs) per second
GAIT_BOB = 0.03  # walker bob height
SWING_LENGTH = 0.4  # pendulum length: period 2 pi sqrt(L / g) = 2.2 s
FALL_REST = 0.8  # s a fallen actor lies on the ground before the next drop
SWAY_HZ, SWAY = 0.4, 0.05  # balloon sway: frequency and amplitude
SPEED_BAND = 0.15
MOTION_SPEED = {  # frame heights / s, except spin (rad / s); swing and fall have none
    "bounce": 0.06,
    "hop": 0.25,
    "walk": 0.2,
    "swing": 0.0,
    "roll": 0.35,
    "spin": 5.0,
    "float": 0.15,
    "fall": 0.0,
}
PAN_RANGE = 0.3  # the camera pans back and forth over this width
JITTER = 0.02  # peak camera shake (about 1 px at 48 px)
JITTER_HZ = 8.0

SHAPES = ("ball", "box", "wedge", "cross")
MOTIONS = tuple(MOTION_SPEED)
REST_OFFSET = {"ball": 1.0, "box": 0.8, "wedge": 0.58, "cross": 1.0}  # centre height at rest, radii


@dataclass(frozen=True)
class ActionClass:
    """One action: an actor shape doing one motion (neither alone names the class)."""

    shape: str
    motion: str

    @property
    def camel(self) -> str:
        return self.shape.capitalize() + self.motion.capitalize()

    @property
    def snake(self) -> str:
        return f"{self.shape}_{self.motion}"


def _classes(pairs: str) -> tuple[ActionClass, ...]:
    return tuple(ActionClass(*pair.split("-")) for pair in pairs.split())


# Ordered so that the first 4, 8, 10, 12, 14 or 16 classes are 2 x 2 grids of shape x motion plus
# pairs: each shape and each motion among them is in two classes or more (see balanced_counts).
# The two tables are complementary halves of the 4 x 8 grid: one dataset's classes are new to the
# other, made of the same shapes and motions.
UCF_CLASSES = _classes(
    "ball-bounce box-hop ball-hop box-bounce wedge-walk cross-roll wedge-roll cross-walk "
    "ball-swing cross-swing box-spin wedge-spin box-float wedge-float ball-fall cross-fall"
)
HMDB_CLASSES = _classes(
    "ball-spin cross-float ball-float cross-spin box-swing wedge-fall box-fall wedge-swing "
    "wedge-bounce cross-bounce wedge-hop cross-hop ball-walk box-walk ball-roll box-roll"
)


def balanced_counts(table: tuple[ActionClass, ...]) -> tuple[int, ...]:
    """Counts n for which each shape and each motion of table[:n] is in two classes or more."""

    def balanced(values: list[str]) -> bool:
        return all(values.count(v) >= 2 for v in values)

    return tuple(
        n
        for n in range(1, len(table) + 1)
        if balanced([c.shape for c in table[:n]]) and balanced([c.motion for c in table[:n]])
    )


@dataclass(frozen=True)
class Scene:
    """The static backdrop, fixed in scene coordinates (x in frame heights, y up from ground)."""

    horizon: float  # horizon row as a fraction of the frame height from the top
    ground_line: float  # row where actors stand, fraction from the top
    sky_top: tuple[float, float, float]
    sky_low: tuple[float, float, float]
    hill_color: tuple[float, float, float]
    ground_color: tuple[float, float, float]
    hills: tuple[tuple[float, float, float], ...]  # (amplitude, frequency per height, phase)
    wind: float  # cloud drift, frame heights / s
    salt: int  # seeds the ground texture and the clouds


@dataclass(frozen=True)
class Camera:
    x0: float  # left end of the pan range
    pan_speed: float  # signed, frame heights / s
    pan_phase: float
    salt: int  # seeds the shake


@dataclass(frozen=True)
class Motion:
    """How the actor moves; `speed` and `amplitude` mean what MOTION_SPEED and actor_track say."""

    kind: str
    x0: float
    direction: int  # +1 right, -1 left (or counter-/clockwise): random, never a class factor
    speed: float
    amplitude: float
    phase: float  # s
    salt: int


@dataclass(frozen=True)
class Distractor:
    shape: str
    radius: float
    color: tuple[float, float, float]
    x0: float
    y0: float
    vx: float
    sway: float
    sway_hz: float
    spin: float


@dataclass(frozen=True)
class VideoParams:
    """Everything one video shows; rendering is a pure function of it and the frame times."""

    aspect: float  # width / height
    scene: Scene
    camera: Camera
    shape: str
    radius: float
    color: tuple[float, float, float]
    motion: Motion
    distractors: tuple[Distractor, ...]
    world: int = WORLD_VERSION  # one of WORLDS: how the backdrop is drawn


def _color(rng: np.random.Generator, base, spread: float) -> tuple[float, float, float]:
    return tuple(
        float(c) for c in np.clip(np.asarray(base) + rng.uniform(-spread, spread, 3), 0, 1)
    )


def _hue_color(rng: np.random.Generator, value=VALUE) -> tuple[float, float, float]:
    rgb = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*SATURATION), rng.uniform(*value))
    return tuple(float(c) for c in rgb)


def sample_scene(rng: np.random.Generator) -> tuple[Scene, float, tuple[float, float, float]]:
    """A backdrop plus the actor's radius and colour (shared by a group with shared_scenes)."""
    horizon = rng.uniform(0.55, 0.70)
    grounds = ((0.30, 0.50, 0.22), (0.52, 0.48, 0.30), (0.42, 0.34, 0.24))
    scene = Scene(
        horizon=float(horizon),
        ground_line=float(horizon + (1 - horizon) * rng.uniform(0.5, 0.7)),
        sky_top=_color(rng, (0.20, 0.40, 0.85), 0.05),
        sky_low=_color(rng, (0.70, 0.82, 0.95), 0.04),
        hill_color=_color(rng, (0.45, 0.55, 0.62), 0.05),
        ground_color=_color(rng, grounds[rng.integers(len(grounds))], 0.04),
        hills=tuple(
            (
                float(rng.uniform(0.01, 0.025)),
                float(rng.uniform(0.6, 3)),
                float(rng.uniform(0, 6.3)),
            )
            for _ in range(3)
        ),
        wind=float(rng.choice((-1, 1)) * rng.uniform(0.01, 0.05)),
        salt=int(rng.integers(2**31)),
    )
    return scene, float(rng.uniform(0.14, 0.18)), _hue_color(rng)


def sample_video_params(
    action: ActionClass,
    aspect: float,
    scene_rng: np.random.Generator,
    clip_rng: np.random.Generator,
    world: int = WORLD_VERSION,
) -> VideoParams:
    """Draw one video of `action`: the scene and actor look from `scene_rng`, the rest per clip.

    Every world draws the same numbers; worlds 3-5 then move the ground line to PLAIN_GROUND
    (their backdrop ignores the scene's colours, horizon and hills), and worlds 4-5 paint every
    distractor DISTRACTOR_COLOR (their camera follows the actor instead of panning: camera_offset;
    world 5's actor changes its look over time: actor_look).
    """
    if world not in WORLDS:
        raise ValueError(f"world {world}: expected one of {WORLDS}")
    scene, radius, color = sample_scene(scene_rng)
    if world >= 3:
        scene = dataclasses.replace(scene, ground_line=PLAIN_GROUND)
    rng = clip_rng
    camera = Camera(
        x0=float(rng.uniform(-5, 5)),
        pan_speed=float(rng.choice((-1, 1)) * rng.uniform(0.01, 0.05)),
        pan_phase=float(rng.uniform(0, PAN_RANGE)),
        salt=int(rng.integers(2**31)),
    )
    lo, hi = actor_bounds(camera, aspect, radius)
    amplitude = {"bounce": rng.uniform(0.3, 0.45), "swing": rng.uniform(0.35, 0.6)}
    motion = Motion(
        kind=action.motion,
        x0=float(rng.uniform(lo, hi) if action.motion != "swing" else (lo + hi) / 2),
        direction=int(rng.choice((-1, 1))),
        speed=float(MOTION_SPEED[action.motion] * rng.uniform(1 - SPEED_BAND, 1 + SPEED_BAND)),
        amplitude=float(amplitude.get(action.motion, SWAY if action.motion == "float" else 0.0)),
        phase=float(rng.uniform(0, 10)),
        salt=int(rng.integers(2**31)),
    )
    top = scene.ground_line
    distractors = tuple(
        Distractor(
            shape=SHAPES[rng.integers(len(SHAPES))],
            radius=float(rng.uniform(0.025, 0.04)),
            color=_hue_color(rng, (0.3, 0.9)),
            x0=float(camera.x0 + rng.uniform(0, PAN_RANGE + aspect)),
            y0=float(rng.uniform(0.15, top - 0.1)),
            vx=float(rng.choice((-1, 1)) * rng.uniform(0.05, 0.4)),
            sway=float(rng.uniform(0, 0.06)),
            sway_hz=float(rng.uniform(0.3, 2.0)),
            spin=float(rng.uniform(-4, 4)),
        )
        for _ in range(rng.integers(1, 3))
    )
    if world >= 4:
        distractors = tuple(dataclasses.replace(d, color=DISTRACTOR_COLOR) for d in distractors)
    return VideoParams(
        float(aspect), scene, camera, action.shape, radius, color, motion, distractors, world
    )


def actor_bounds(camera: Camera, aspect: float, radius: float) -> tuple[float, float]:
    """The scene x range in view at every pan position, less a margin: actors stay inside it."""
    margin = 1.2 * radius + 0.03
    return camera.x0 + PAN_RANGE + margin, camera.x0 + aspect - margin


def reflect(u: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Fold `u` back and forth into [lo, hi] (a mover turning round at the ends)."""
    span = hi - lo
    w = np.mod(u - lo, 2 * span)
    return lo + np.where(w < span, w, 2 * span - w)


def camera_offset(params: VideoParams, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scene x of the frame's left edge and the vertical shake (frame heights) at times `t` (s)."""
    cam = params.camera
    if params.world >= 4:
        x = follow_x(params, np.asarray(t, np.float64))
    else:
        x = cam.x0 + reflect(cam.pan_phase + cam.pan_speed * t, 0.0, PAN_RANGE)
    shake = [JITTER * (2 * value_noise(t * JITTER_HZ, 0 * t, cam.salt + k) - 1) for k in (0, 1)]
    return x + shake[0], shake[1]


def follow_x(params: VideoParams, t: np.ndarray) -> np.ndarray:
    """Worlds 4-5: the frame's left edge that centres the actor's mean x over FOLLOW_WINDOW s around
    `t`, plus the video's framing offset: a camera that follows the actor smoothly (a fall's next
    drop is glided to, not cut) and keeps a steady mover where it is in the frame, whatever its
    speed (a camera lagging behind would put fast movers off centre: a cue of the class)."""
    half = FOLLOW_WINDOW / 2
    times = t[..., None] + np.linspace(-half, half, 9)
    x, _, _ = actor_track(params, times.ravel())
    offset = FOLLOW_OFFSET * (2 * hash01(params.camera.salt, 1) - 1)
    return x.reshape(times.shape).mean(axis=-1) - params.aspect / 2 + offset


def actor_track(params: VideoParams, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The actor's centre x (scene), height above the ground line, and angle (rad) at times `t`.

    bounce: dropped from `amplitude` and bouncing under GRAVITY with RESTITUTION for four flights,
    then kicked back up, drifting at `speed`; hop: hops of HOP_PERIOD at `speed`; walk: `speed` with
    a GAIT_HZ bob; swing: a pendulum of SWING_LENGTH from above the frame, angle `amplitude`;
    roll: rolling at `speed`, turning by the distance over the radius; spin: in place at `speed`
    rad/s; float: a balloon rising at `speed` with a SWAY_HZ sway; fall: dropped from above the
    frame under GRAVITY, lying FALL_REST s, then the next drop at another x. Walkers, rollers and
    spinners keep touching the ground: a turning box rises on its corners.
    """
    m, r = params.motion, params.radius
    t = np.asarray(t, np.float64)
    rest = REST_OFFSET[params.shape] * r
    lo, hi = actor_bounds(params.camera, params.aspect, r)
    top = params.scene.ground_line  # height of the frame's top edge above the ground line
    s = t + m.phase
    x = reflect(m.x0 + m.direction * m.speed * t, lo, hi)
    y, angle = np.full_like(t, rest), np.zeros_like(t)
    if m.kind == "bounce":
        apexes = m.amplitude * RESTITUTION ** (2 * np.arange(4))
        durations = 2 * np.sqrt(2 * apexes / GRAVITY)
        starts = np.concatenate([[0.0], np.cumsum(durations)])
        tau = np.mod(s, starts[-1])
        k = np.searchsorted(starts, tau, side="right") - 1
        tau = tau - starts[k]
        y = rest + np.sqrt(2 * GRAVITY * apexes[k]) * tau - GRAVITY * tau**2 / 2
    elif m.kind == "hop":
        tau = np.mod(s, HOP_PERIOD)
        y = rest + GRAVITY / 2 * tau * (HOP_PERIOD - tau)
    elif m.kind == "walk":
        step = np.sin(np.pi * GAIT_HZ * s)
        y, angle = rest + GAIT_BOB * np.abs(step), 0.1 * step
    elif m.kind == "swing":
        angle = m.amplitude * np.cos(2 * np.pi * s / swing_period())
        x = m.x0 + SWING_LENGTH * np.sin(angle)
        y = top + 0.05 - SWING_LENGTH * np.cos(angle)
    elif m.kind == "roll":
        angle = -(x - m.x0) / r
    elif m.kind == "spin":
        x, angle = np.full_like(t, m.x0), m.direction * m.speed * s
    elif m.kind == "float":
        sway = np.sin(2 * np.pi * SWAY_HZ * s)
        x, angle = m.x0 + m.amplitude * sway, 0.15 * sway
        y = rest + np.mod(m.speed * s, top + 2.2 * r - rest)
    elif m.kind == "fall":
        drop = top + 1.2 * r + 0.1
        period = np.sqrt(2 * (drop - rest) / GRAVITY) + FALL_REST
        k, tau = np.floor(s / period), np.mod(s, period)
        x = lo + (hi - lo) * hash01(k.astype(np.int64), m.salt)
        y = np.maximum(drop - GRAVITY * tau**2 / 2, rest)
        turns = 3 if params.shape == "wedge" else 4  # lands on a side, not a corner
        angle = 2 * np.pi / turns * np.floor(turns * hash01(k.astype(np.int64), m.salt + 1))
    if m.kind in ("walk", "roll", "spin"):
        y = y + (support(params.shape, angle) - REST_OFFSET[params.shape]) * r
    return x, y, angle


def actor_look(params: VideoParams, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The actor's RGB colour (T, 3) and radius (T,) at times `t`: the video's own in worlds 2-4.
    World 5 turns the hue on from the video's, swings saturation and value over their whole ranges
    and the radius around the video's (DRIFT_PERIODS), phases hashed from the motion's salt (keys
    1-3, which a fall also hashes for its drops: both per video); render.py keeps it grounded."""
    t = np.asarray(t, np.float64)
    if params.world < 5:
        return np.tile(np.asarray(params.color), (len(t), 1)), np.full(len(t), params.radius)
    phase = 2 * np.pi * hash01(np.arange(1, 4), params.motion.salt)
    wave = [np.sin(2 * np.pi * t / d + p) for d, p in zip(DRIFT_PERIODS[1:], phase, strict=True)]
    hue = np.mod(colorsys.rgb_to_hsv(*params.color)[0] + t / DRIFT_PERIODS[0], 1.0)
    sat, val = np.interp(wave[0], (-1, 1), SATURATION), np.interp(wave[1], (-1, 1), VALUE)
    hsv = zip(hue, sat, val, strict=True)
    colors = np.array([colorsys.hsv_to_rgb(*c) for c in hsv], np.float64).reshape(len(t), 3)
    return colors, params.radius * (1 + DRIFT_SIZE * wave[2])


def support(shape: str, angle: np.ndarray) -> np.ndarray:
    """Height of the centre (radii) of the shape turned by `angle` when it touches the ground."""
    c, s = np.abs(np.cos(angle)), np.abs(np.sin(angle))
    if shape == "box":
        return REST_OFFSET["box"] * (c + s)
    if shape == "cross":  # bars of half-width 0.3
        return np.maximum(c + 0.3 * s, 0.3 * c + s)
    if shape == "wedge":  # corners at 90, 210 and 330 degrees, twice the inradius out
        corners = np.deg2rad([90, 210, 330])
        lowest = np.max(-np.sin(np.asarray(angle)[..., None] + corners), axis=-1)
        return 2 * REST_OFFSET["wedge"] * lowest
    return np.ones_like(c)


def swing_period() -> float:
    return float(2 * np.pi * np.sqrt(SWING_LENGTH / GRAVITY))
