"""Action library of the synthetic dataset: what each primitive does, its parameters, and how long it takes.

synthetic/build.py turns per-frame control channels (root velocity and yaw rate, stepping rhythm, pelvis height, trunk
lean, wrist targets, scripted foot motions) into joint positions; this file holds the *script* of the 20 primitives
(walk, run, jump, kick, sit down and stand up, wave, ...) as keyframed channels and their random parameters: side,
repetitions, duration, and style. Style parameters are categorical where a caption may name them (walk speed,
stride and arm swing; jump height; jump distance; squat depth; wave size and tempo; kick height; bow depth; tempo
of turns, spins, claps, punches, jumping jacks, squats, sitting) with a number drawn around each level, plus
unnamed numeric ones (torso lean, arm swing of runs, crouch depth before a jump). The words for them live in
synthetic/captions.py.

Used by synthetic/build.py; tested in tests/test_synthetic.py (python -m pytest -q tests/test_synthetic.py).
"""

import numpy as np

FPS = 20
NEUTRAL_ARM = (0.04, -0.49, 0.07)                        # wrist relative to shoulder, chest frame, x outward (m)
CHANNELS = {  # name: per-frame shape. "Heading frame" = the pelvis yaw; +x = the person's left, +z = forward.
    "vel": (2,), "yaw_rate": (),              # root velocity (x, z) in the heading frame (m/s); + yaw = turn left
    "freq": (), "duty": (), "clear": (),      # stepping: cycles/s, stance fraction, swing-foot clearance (m)
    "step_on": (),                            # 1 = take steps; 0 = only corrective steps when a foot is off place
    "swing": (), "run": (),                   # arm swing amplitude (m); 0..1 blend to bent running arms
    "h_off": (), "bounce": (), "lift": (),    # pelvis height: offset, running bounce, jump arc (m; lift not blended)
    "shift": (2,),                            # pelvis offset from the root (x, z) in the heading frame (m)
    "lean": (), "twist": (), "head": (),      # trunk pitch (+ forward), trunk yaw, head pitch (rad)
    "arm": (2, 3), "hint": (2, 3),            # per arm: wrist target rel. to the shoulder, chest frame, x outward (m);
    "pitch": (2,),                            # elbow bend direction. Per foot: extra pitch (rad, + = toes down)
}
DEFAULTS = dict(freq=1.2, duty=0.6, clear=0.06, arm=NEUTRAL_ARM, hint=(0.3, 0.0, -1.0))


# ----------------------------------------------------------------------------------------------------------------
# Keyframes
# ----------------------------------------------------------------------------------------------------------------

def smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def keys(n, times, values):
    """(n, ...) smoothstep interpolation through keyframes `values` at normalised times `times` (0..1, increasing)."""
    times, values = np.asarray(times, float), np.asarray(values, float)
    u = np.linspace(0.0, 1.0, n)
    i = np.clip(np.searchsorted(times, u, side="right") - 1, 0, len(times) - 2)
    w = smoothstep((u - times[i]) / np.maximum(times[i + 1] - times[i], 1e-9))
    return values[i] + (values[i + 1] - values[i]) * w.reshape((n,) + (1,) * (values.ndim - 1))


def ramp(n, rise, fall=None):
    """(n,) envelope 0 -> 1 over `rise` frames, hold, 1 -> 0 over `fall` frames."""
    r, f = min(rise, n / 2) / n, min(rise if fall is None else fall, n / 2) / n
    return keys(n, [0, r, 1 - f, 1], [0, 1, 1, 0])


# ----------------------------------------------------------------------------------------------------------------
# Action primitives: each writes control channels into frames [s, s + n) of a Controls object
# ----------------------------------------------------------------------------------------------------------------

class Controls:
    """Per-frame control channels of one clip (N position frames) plus explicit foot events and leg overrides."""

    def __init__(self, n):
        self.n = n
        for name, shape in CHANNELS.items():
            setattr(self, name, np.broadcast_to(np.asarray(DEFAULTS.get(name, 0.0), float), (n, *shape)).copy())
        self.events = [[], []]      # per foot: (a, b, lift (b-a,), lateral or None, forward) explicit swing a..b-1
        self.overrides = [[], []]   # per foot: (s, weight (n,), target (n, 3) heading frame rel. to hip, pitch (n,))


def _loco(c, s, n, vel, yaw_rate=0.0, freq=1.0, duty=0.6, clear=0.07, lean=0.0, swing=0.0, run=0.0, bounce=0.0):
    e = ramp(n, 0.6 * FPS)
    sl = slice(s, s + n)
    c.h_off[sl] = -0.03 * e                                                # knees slightly flexed in stance
    c.vel[sl] = np.outer(e, vel)
    c.yaw_rate[sl] = yaw_rate * e
    c.freq[sl], c.duty[sl], c.clear[sl], c.step_on[sl] = freq, duty, clear, 1.0
    c.lean[sl], c.swing[sl], c.run[sl], c.bounce[sl] = lean * e, swing * e, run * e, bounce * e


def _jump(c, s, H, fwd=0.0, feet=(0, 1), crouch=0.45, land=0.4, depth=0.15, lateral=(None, None), arms=True):
    """One jump starting at frame s: crouch, ballistic flight of apex height H (m), landing. Returns frames used."""
    cf, ff, lf = round(crouch * FPS), max(3, round(2 * np.sqrt(2 * H / 9.81) * FPS)), round(land * FPS)
    u = np.arange(1, ff + 1) / (ff + 1)
    lift = 4 * H * u * (1 - u)                                            # parabola, g = 9.81 m/s^2 on average
    c.h_off[s:s + cf] += keys(cf, [0, 0.6, 1], [0, -depth, 0])
    c.h_off[s + cf + ff:s + cf + ff + lf] += keys(lf, [0, 0.35, 1], [0, -0.8 * depth, 0])
    c.bounce[s + cf:s + cf + ff] = 0
    c.lift[s + cf:s + cf + ff] += lift
    c.vel[s + cf - 1:s + cf + ff, 1] += fwd / ((ff + 1) / FPS)          # take-off frame to landing frame
    for k in feet:
        c.events[k].append((s + cf, s + cf + ff, 0.85 * lift, lateral[k], 0.0))
        c.pitch[s + cf:s + cf + ff, k] += 0.4 * np.sin(np.pi * u)
    if arms:
        path = keys(cf + ff + lf, [0, cf * 0.7 / (cf + ff + lf), (cf + ff * 0.5) / (cf + ff + lf), 1],
                    [NEUTRAL_ARM, (0.08, -0.42, -0.25), (0.08, -0.05, 0.45), NEUTRAL_ARM])
        c.arm[s:s + cf + ff + lf] = path[:, None]
    return cf + ff + lf


def _override(c, s, n, k, times, targets, pitch, blend=0.3, weight=None):
    """Drive foot k by hip-relative ankle targets (heading frame, keyframed over [s, s+n)), blended in and out; the
    foot's planted spot meanwhile moves to its neutral place at the end (so it lands beside the body)."""
    w = ramp(n, blend * FPS) if weight is None else keys(n, *weight)
    c.overrides[k].append((s, w, keys(n, times, targets), np.full(n, pitch)))
    c.events[k].append((s + 1, s + n - 1, np.zeros(n), None, 0.0))


def _arms_hold(n, pose, t=0.2):
    """(n, 1, 3) wrist targets: neutral -> `pose` (side-local, x outward) -> neutral, for both arms."""
    return keys(n, [0, t, 1 - t, 1], [NEUTRAL_ARM, pose, pose, NEUTRAL_ARM])[:, None]


def write_primitive(c, name, p, s, n):
    """Fill the channels of primitive `name` (params `p`, see PARAMS) into frames [s, s+n) of Controls `c`.
    Every primitive starts and ends standing; the caller crossfades channels at the boundaries."""
    sl, t_sec = slice(s, s + n), np.arange(n) / FPS
    sgn = 1.0 if p.get("side") == "left" else -1.0                        # +x / +yaw = the person's left
    if name == "walk":
        circle = 0.95 * 2 * np.pi / max(n / FPS - 0.6, 1.0)                # most of a full circle in the clip
        yaw = {"left": 0.45, "right": -0.45, "counterclockwise": circle, "clockwise": -circle}.get(p["curve"], 0.0)
        v = p["speed_ms"]                                                  # step length (m) sets the cadence
        step = min(0.85, (0.3 + 0.28 * v) * {"short": 0.75, "normal": 1.0, "long": 1.2}[p["stride"]])
        swing = {"still": 0.02, "normal": 0.11 * v, "big": 0.22 * v}[p["arms"]]
        _loco(c, s, n, (0, v), yaw, freq=float(np.clip(v / (2 * step), 0.6, 1.6)), duty=0.6, clear=0.07,
              lean=p["lean"], swing=swing)
    elif name == "walk_backward":
        _loco(c, s, n, (0, -p["speed_ms"]), freq=0.6 + 0.35 * p["speed_ms"], duty=0.62, clear=0.06, lean=-0.03,
              swing=0.04)
    elif name == "jog":
        _loco(c, s, n, (0, p["speed_ms"]), freq=1.3, duty=0.42, clear=0.12, lean=p["lean"], swing=p["swing"],
              run=0.7, bounce=0.04)
    elif name == "run":
        _loco(c, s, n, (0, p["speed_ms"]), freq=1.45, duty=0.36, clear=0.18, lean=p["lean"], swing=p["swing"],
              run=1.0, bounce=0.05)
    elif name == "side_step":
        _loco(c, s, n, (sgn * p["speed_ms"], 0), freq=0.8, duty=0.65, clear=0.05)
    elif name in ("turn", "spin"):                                         # stepping on the spot while turning
        e = ramp(n, 0.4 * FPS)
        c.yaw_rate[sl] = sgn * np.deg2rad(p.get("angle", 360.0)) * FPS * e / e.sum()
        c.freq[sl], c.duty[sl], c.clear[sl], c.step_on[sl] = (1.1, 0.6, 0.05, 1) if name == "turn" else \
            (1.6, 0.55, 0.06, 1)
        if name == "spin":
            c.arm[sl] = _arms_hold(n, (0.25, -0.4, 0.05))
    elif name in ("jump", "jump_forward"):
        t = s + round(0.1 * FPS)
        for _ in range(p["reps"]):
            t += _jump(c, t, p["height"], p.get("dist", 0.0), depth=p["crouch"]) + round(0.15 * FPS)
    elif name == "hop":                                                    # the other leg is held up behind
        k = 0 if p["side"] == "left" else 1
        _override(c, s, n, 1 - k, [0, 1], [(0, -0.5, -0.18)] * 2, 0.4)
        c.arm[sl] = _arms_hold(n, (0.2, -0.4, 0.1))
        t = s + round(0.4 * FPS)
        for _ in range(p["reps"]):
            t += _jump(c, t, p["height"], p["fwd"], (k,), crouch=0.2, land=0.2, depth=0.06, arms=False)
    elif name == "jumping_jacks":                                          # hop out (arms up), hop in (arms down)
        t = s + round(0.2 * FPS)
        for r in range(2 * p["reps"]):
            out, q = r % 2 == 0, 0.1 if p["tempo"] == "fast" else 0.15
            used = _jump(c, t, p["height"], 0, (0, 1), q, q, 0.05, (0.3, 0.3) if out else (None, None), arms=False)
            a = keys(used, [0, 0.3, 0.7, 1], [0.25, 0.25, 2.75, 2.75] if out else [2.75, 2.75, 0.25, 0.25])
            c.arm[t:t + used] = np.stack([0.5 * np.sin(a), -0.5 * np.cos(a), 0.05 + 0 * a], -1)[:, None]
            c.hint[t:t + used] = (0.0, 0.0, -1.0)
            t += used + round(TEMPO_GAP[p["tempo"]] * FPS)
    elif name == "squat":
        m = n // p["reps"]
        for r in range(p["reps"]):
            q, tk = slice(s + r * m, s + (r + 1) * m), [0, 0.4, 0.6, 1]
            c.h_off[q] = keys(m, tk, [0, -p["depth"], -p["depth"], 0])
            c.lean[q] = keys(m, tk, [0, 0.45, 0.45, 0])
            c.shift[q, 1] = keys(m, tk, [0, -0.12, -0.12, 0])              # hips back
            c.arm[q] = _arms_hold(m, (0.0, -0.05, 0.5), 0.4)               # arms forward for balance
    elif name == "sit_stand":                                              # on an (invisible) chair 0.45 m high
        tk = [0, 0.12, 0.25, 0.7, 0.82, 1]
        c.h_off[sl] = keys(n, tk, [0, -0.2, -0.45, -0.45, -0.2, 0])
        c.shift[sl, 1] = keys(n, tk, [0, -0.15, -0.3, -0.3, -0.15, 0])
        c.lean[sl] = keys(n, tk, [0, 0.45, 0.1, 0.1, 0.5, 0])
        c.arm[sl] = keys(n, [0, 0.25, 0.7, 1], [NEUTRAL_ARM, (0.0, -0.3, 0.3), (0.0, -0.3, 0.3), NEUTRAL_ARM])[:, None]
    elif name == "kneel":                                                  # step forward, one knee down, back up
        k = 0 if p["side"] == "left" else 1                                 # the knee that goes down
        a, b = round(0.05 * n), round(0.25 * n)
        step = 0.06 * np.sin(np.linspace(0, np.pi, b - a))
        c.events[1 - k] += [(s + a, s + b, step, None, 0.3), (s + n - b, s + n - a, step, None, 0.0)]
        tk = [0, 0.25, 0.4, 0.65, 0.8, 1]
        c.h_off[sl] = keys(n, tk, [0, 0, -0.42, -0.42, 0, 0])
        c.shift[sl, 1] = keys(n, tk, [0, 0, 0.08, 0.08, 0, 0])
        c.lean[sl] = keys(n, [0, 0.4, 0.65, 1], [0, 0.12, 0.12, 0])
        _override(c, s, n, k, [0, 1], [(0, -0.28, -0.42)] * 2, 1.0, weight=(tk, [0, 0, 1, 1, 0, 0]))
    elif name in ("wave", "raise_arms", "clap", "punch"):
        on = [0, 1] if name == "clap" else {"left": [0], "right": [1], "both": [0, 1]}[p["side"]]
        t_in = {"wave": 0.2, "raise_arms": 0.3, "clap": 0.15, "punch": 0.12}[name]
        e = keys(n, [0, t_in, 1 - t_in, 1], [0, 1, 1, 0])[:, None]
        if name == "wave":                                                 # hand up by the head, side to side
            osc = np.sin(2 * np.pi * p["hz"] * t_sec) * keys(n, [0, 0.25, 0.75, 1], [0, 1, 1, 0])
            up = 0.15 + 0.5 * max(p["amp"] - 0.11, 0.0)                   # a big wave is also held higher
            target, hint = np.stack([0.28 + p["amp"] * osc, up + 0 * osc, 0.12 + 0 * osc], -1), (1.0, -0.7, 0.0)
        elif name == "raise_arms":
            target, hint = np.tile((0.1, 0.5, 0.06) if p["style"] == "up" else (0.5, 0.02, 0.02), (n, 1)), (0.5, 0, -1)
        elif name == "clap":                                               # hands meet in front of the chest, 2.5 Hz
            osc = 0.5 + 0.5 * np.cos(2 * np.pi * p["hz"] * (t_sec - 0.15 * n / FPS))
            target, hint = np.stack([-0.17 + 0.13 * osc, -0.12 + 0 * osc, 0.32 + 0 * osc], -1), (1.0, -0.5, -0.5)
        else:                                                              # guard: fists in front of the chest
            target, hint = np.tile((-0.06, -0.28, 0.22), (n, 1)), (1.0, -1.0, -0.5)
        for k in on:
            c.arm[sl, k] = (1 - e) * c.arm[sl, k] + e * target
            c.hint[sl, k] = hint
        if name == "punch":                                                # jabs, alternating for "both"
            order = [r % 2 for r in range(p["reps"])] if p["side"] == "both" else on * p["reps"]
            step = (n - round(0.8 * FPS)) // len(order)
            for r, k in enumerate(order):
                a = s + round(0.5 * FPS) + r * step
                pk = keys(step, [0, 0.25, 0.45, 1], [0, 1, 1, 0])
                c.arm[a:a + step, k] += pk[:, None] * np.array((-0.06, 0.24, 0.32))
                c.twist[a:a + step] += (-0.3 if k == 0 else 0.3) * pk       # the punching shoulder comes forward
    elif name == "kick":                                                   # chamber, extend, chamber, put down
        k = 0 if p["side"] == "left" else 1
        top = {"low": (0, -0.48, 0.52), "normal": (0, -0.3, 0.62), "high": (0, -0.08, 0.68)}[p["height"]]
        _override(c, s, n, k, [0, 0.3, 0.5, 0.7, 1], [(0, -0.8, 0.05), (0, -0.45, 0.28), top,
                                                     (0, -0.45, 0.28), (0, -0.8, 0.05)], 0.5, 0.35)
        c.lean[sl] = keys(n, [0, 0.5, 1], [0, -0.15, 0])
        c.arm[sl] = _arms_hold(n, (0.2, -0.35, 0.1), 0.3)
    elif name == "bow":
        tk = [0, 0.35, 0.6, 0.95, 1]
        c.lean[sl] = keys(n, tk, [0, p["depth"], p["depth"], 0, 0])
        c.shift[sl, 1] = keys(n, tk, [0, -0.1, -0.1, 0, 0])
    elif name == "settle":                                                 # quick steps that bring the feet under
        c.freq[sl], c.duty[sl], c.clear[sl], c.step_on[sl] = 1.6, 0.6, 0.05, 1.0   # the body before a jump/kick
    elif name != "stand":
        raise ValueError(f"synthetic/actions.py: unknown primitive {name!r}; expected one of {PRIMITIVES}")


# ----------------------------------------------------------------------------------------------------------------
# Parameters: what varies per primitive, and how long it takes
# ----------------------------------------------------------------------------------------------------------------

LR, SIDES = ["left", "right"], ["left", "right", "both"]


def _pick(options):
    return lambda r, p: options[r.integers(len(options))]


def _uniform(lo, hi):
    return lambda r, p: float(r.uniform(lo, hi))


def _rot_dir(r, p):
    return "counterclockwise" if p["side"] == "left" else "clockwise"     # turning left = counterclockwise from above


def _flight(h):
    return 2 * np.sqrt(2 * h / 9.81)                                       # seconds in the air for apex height h


def _level(table, jitter=0.1):
    """Sampler of a number from a categorical style parameter: table[p[key]] * U(1 - jitter, 1 + jitter)."""
    def sample(key):
        return lambda r, p: float(table[p[key]] * r.uniform(1 - jitter, 1 + jitter))
    return sample


THREE = ["low", "normal", "normal", "high"]              # style levels: extremes 1/4 each, so captions can name them
TEMPO_GAP = {"slow": 0.25, "normal": 0.05, "fast": 0.0}   # jumping jacks: pause after each half (s)
PARAMS = {  # name -> {param: sampler(rng, params so far)}; sides are the person's own left/right.
    # Categorical style parameters (speed, stride, arms, size, tempo, height) are what a caption may name; the
    # numbers drawn from them (speed_ms, height, amp, hz, depth) and the purely numeric ones (lean, swing, crouch)
    # vary the motion without being named, so two clips of one caption differ.
    "walk": dict(speed=_pick(["slow", "normal", "normal", "fast"]),
                 speed_ms=_level({"slow": 0.9, "normal": 1.3, "fast": 1.7}, 0.08)("speed"),
                 stride=_pick(["short", "normal", "normal", "long"]), arms=_pick(["still", "normal", "normal", "big"]),
                 lean=_uniform(0.0, 0.12),
                 curve=_pick(["straight"] * 3 + ["left", "right", "clockwise", "counterclockwise"])),
    "walk_backward": dict(speed=_pick(["slow", "normal"]),
                          speed_ms=_level({"slow": 0.55, "normal": 0.82}, 0.08)("speed")),
    "jog": dict(speed_ms=_uniform(2.0, 2.6), lean=_uniform(0.06, 0.18), swing=_uniform(0.1, 0.2)),
    "run": dict(speed_ms=_uniform(3.0, 3.8), lean=_uniform(0.12, 0.28), swing=_uniform(0.14, 0.26)),
    "side_step": dict(side=_pick(LR), speed_ms=_uniform(0.35, 0.5)),
    "turn": dict(side=_pick(LR), rot=_rot_dir, angle=_pick([90, 180]), tempo=_pick(["slow", "normal", "fast"])),
    "spin": dict(side=_pick(LR), rot=_rot_dir, tempo=_pick(["slow", "normal", "fast"])),
    "jump": dict(reps=_pick([1, 2, 3]), size=_pick(["small", "normal", "normal", "high"]),
                 height=_level({"small": 0.15, "normal": 0.27, "high": 0.43}, 0.12)("size"),
                 crouch=_uniform(0.1, 0.22)),
    "jump_forward": dict(reps=_pick([1, 2]), size=_pick(["short", "normal", "long"]), height=_uniform(0.2, 0.3),
                         dist=_level({"short": 0.4, "normal": 0.75, "long": 1.1}, 0.1)("size"),
                         crouch=_uniform(0.1, 0.2)),
    "hop": dict(side=_pick(LR), reps=_pick([3, 4, 5]), height=_uniform(0.1, 0.15), fwd=_pick([0.0, 0.25])),
    "jumping_jacks": dict(reps=_pick([2, 3, 4, 5]), tempo=_pick(["slow", "normal", "fast"]),
                          height=_uniform(0.07, 0.13)),
    "squat": dict(reps=_pick([1, 2, 3]), size=_pick(["shallow", "normal", "normal", "deep"]),
                  depth=_level({"shallow": 0.24, "normal": 0.37, "deep": 0.46}, 0.05)("size"),
                  tempo=_pick(["slow", "normal", "fast"])),
    "sit_stand": dict(tempo=_pick(["slow", "normal", "normal"])),
    "kneel": dict(side=_pick(LR)),
    "wave": dict(side=_pick(SIDES), size=_pick(["small", "normal", "normal", "big"]),
                 amp=_level({"small": 0.045, "normal": 0.11, "big": 0.19}, 0.12)("size"),
                 tempo=_pick(["slow", "normal", "normal", "fast"]),
                 hz=_level({"slow": 1.2, "normal": 2.0, "fast": 3.0}, 0.1)("tempo")),
    "raise_arms": dict(side=_pick(SIDES + ["both"]), style=_pick(["up", "side"])),
    "clap": dict(reps=_pick([3, 4, 5]), tempo=_pick(["slow", "normal", "fast"]),
                 hz=_level({"slow": 1.7, "normal": 2.5, "fast": 3.4}, 0.08)("tempo")),
    "kick": dict(side=_pick(LR), height=_pick(THREE)),
    "punch": dict(side=_pick(SIDES), reps=_pick([1, 2, 3]), tempo=_pick(["slow", "normal", "fast"])),
    "bow": dict(size=_pick(["slight", "normal", "deep"]),
                depth=_level({"slight": 0.38, "normal": 0.7, "deep": 1.0}, 0.1)("size")),
}
_TEMPO = {"slow": 1.4, "normal": 1.0, "fast": 0.7}
DURATION = {  # name -> seconds(rng, params); long enough for every repetition write_primitive schedules
    "walk": lambda r, p: r.uniform(4.0, 5.5) if p["curve"].endswith("clockwise") else r.uniform(2.5, 5.0),
    "jog": lambda r, p: r.uniform(2.0, 4.0),
    "turn": lambda r, p: (1.2 + p["angle"] / 150 + r.uniform(0, 0.4)) * _TEMPO[p["tempo"]],
    "spin": lambda r, p: r.uniform(1.6, 2.2) * _TEMPO[p["tempo"]],
    "jump": lambda r, p: 0.4 + p["reps"] * (1.05 + _flight(p["height"])),
    "jump_forward": lambda r, p: 0.4 + p["reps"] * (1.05 + _flight(p["height"])),
    "hop": lambda r, p: 0.9 + p["reps"] * (0.4 + _flight(p["height"])),
    "jumping_jacks": lambda r, p: 0.7 + 2 * p["reps"] * ((0.4 if p["tempo"] == "fast" else 0.6) + 0.05
                                                         + _flight(p["height"]) + TEMPO_GAP[p["tempo"]]),
    "squat": lambda r, p: p["reps"] * r.uniform(1.8, 2.4) * _TEMPO[p["tempo"]],
    "sit_stand": lambda r, p: r.uniform(3.5, 4.8) * _TEMPO[p["tempo"]],
    "kneel": lambda r, p: r.uniform(3.5, 5.0),
    "clap": lambda r, p: 1.0 + p["reps"] / p["hz"],
    "kick": lambda r, p: r.uniform(1.6, 2.2),
    "punch": lambda r, p: 1.0 + p["reps"] * 0.55 * _TEMPO[p["tempo"]],
    "bow": lambda r, p: r.uniform(2.5, 3.5),
}
PRIMITIVES = list(PARAMS)
MOVING = {"walk", "walk_backward", "jog", "run", "side_step", "turn", "spin"}
LOCKING = {"jump", "jump_forward", "hop", "jumping_jacks", "kneel", "kick"}      # scripted legs
WEIGHTS = {"walk": 3.0, "run": 1.5, "jog": 1.5, "turn": 1.5}                      # sampling weight (default 1)


def sample_params(name, rng, **fixed):
    """Random parameters of primitive `name` incl. "dur" (s); `fixed` values replace sampled ones (the duration
    follows them). Raises ValueError for an unknown primitive or parameter."""
    if name not in PARAMS or set(fixed) - set(PARAMS[name]) - {"dur"}:
        raise ValueError(f"synthetic/actions.py: bad primitive {name!r} or params {sorted(fixed)}; primitives: "
                         f"{PRIMITIVES}, params: {sorted(PARAMS.get(name, {}))}")
    p = {}
    for key, sampler in PARAMS[name].items():
        p[key] = fixed[key] if key in fixed else sampler(rng, p)
    p["dur"] = float(fixed.get("dur", DURATION.get(name, lambda r, p: r.uniform(2.0, 3.5))(rng, p)))
    return p


def action_label(name, p):
    """Per-frame action label, e.g. "walk", "kick_left", "wave_both" (frame_labels/<id>.json)."""
    return name + (f"_{p['side']}" if "side" in p else "")
