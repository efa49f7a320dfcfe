"""Action library of the synthetic dataset: what each primitive does, its parameters, and the words for it.

synthetic.py turns per-frame control channels (root velocity and yaw rate, stepping rhythm, pelvis height, trunk
lean, wrist targets, scripted foot motions) into joint positions; this file holds the *script* of the 20 primitives
(walk, run, jump, kick, sit down and stand up, wave, ...) as keyframed channels, their random parameters (speed, side,
repetitions, duration), and their captions in HumanML3D's text format.

Captions: HumanML3D stores each description as `caption#word/POS word/POS ...#start#end` where the tokens come from
spaCy `en_core_web_sm` (HumanML3D text_process.py): hyphens removed, non-alphabetic tokens dropped, NOUN and VERB
lemmatised except the word "left", POS = spaCy's coarse tag (possessives like "his" are DET, as in the released
files). We produce the same format without spaCy: every template word is in the hand lexicon below, and a few
context rules settle the ambiguous words (left/right/straight/fast: ADJ before a noun, NOUN after a determiner, ADV
otherwise; a verb form after a determiner, adjective or number is a noun; "to" before a verb is PART). Mirrored
copies swap left<->right and clockwise<->counterclockwise, as HumanML3D did for its "M" ids.

Used by synthetic.py; tested in tests/test_synthetic.py (python -m pytest -q tests/test_synthetic.py).
"""
import re

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
        v = p["speed_ms"]
        _loco(c, s, n, (0, v), yaw, freq=0.7 + 0.2 * v, duty=0.6, clear=0.07, lean=0.04, swing=0.11 * v)
    elif name == "walk_backward":
        _loco(c, s, n, (0, -p["speed_ms"]), freq=0.85, duty=0.62, clear=0.06, lean=-0.03, swing=0.04)
    elif name == "jog":
        _loco(c, s, n, (0, p["speed_ms"]), freq=1.3, duty=0.42, clear=0.12, lean=0.12, swing=0.15, run=0.7,
              bounce=0.04)
    elif name == "run":
        _loco(c, s, n, (0, p["speed_ms"]), freq=1.45, duty=0.36, clear=0.18, lean=0.2, swing=0.2, run=1.0,
              bounce=0.05)
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
            t += _jump(c, t, p["height"], p.get("dist", 0.0)) + round(0.15 * FPS)
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
            out = r % 2 == 0
            used = _jump(c, t, 0.1, 0, (0, 1), 0.15, 0.15, 0.05, (0.3, 0.3) if out else (None, None), arms=False)
            a = keys(used, [0, 0.3, 0.7, 1], [0.25, 0.25, 2.75, 2.75] if out else [2.75, 2.75, 0.25, 0.25])
            c.arm[t:t + used] = np.stack([0.5 * np.sin(a), -0.5 * np.cos(a), 0.05 + 0 * a], -1)[:, None]
            c.hint[t:t + used] = (0.0, 0.0, -1.0)
            t += used
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
        if name == "wave":                                                 # hand up by the head, side to side 2 Hz
            osc = np.sin(2 * np.pi * 2.0 * t_sec) * keys(n, [0, 0.25, 0.75, 1], [0, 1, 1, 0])
            target, hint = np.stack([0.28 + 0.11 * osc, 0.12 + 0 * osc, 0.12 + 0 * osc], -1), (1.0, -0.7, 0.0)
        elif name == "raise_arms":
            target, hint = np.tile((0.1, 0.5, 0.06) if p["style"] == "up" else (0.5, 0.02, 0.02), (n, 1)), (0.5, 0, -1)
        elif name == "clap":                                               # hands meet in front of the chest, 2.5 Hz
            osc = 0.5 + 0.5 * np.cos(2 * np.pi * 2.5 * (t_sec - 0.15 * n / FPS))
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
        _override(c, s, n, k, [0, 0.3, 0.5, 0.7, 1], [(0, -0.8, 0.05), (0, -0.45, 0.28), (0, -0.3, 0.62),
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
        raise ValueError(f"synthetic_actions.py: unknown primitive {name!r}; expected one of {PRIMITIVES}")


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


PARAMS = {  # name -> {param: sampler(rng, params so far)}; sides are the person's own left/right
    "walk": dict(speed=_pick(["slow", "normal", "normal", "fast"]),
                 speed_ms=lambda r, p: {"slow": 0.9, "normal": 1.3, "fast": 1.65}[p["speed"]] * r.uniform(0.92, 1.08),
                 curve=_pick(["straight"] * 3 + ["left", "right", "clockwise", "counterclockwise"])),
    "walk_backward": dict(speed_ms=_uniform(0.6, 0.9)),
    "jog": dict(speed_ms=_uniform(2.0, 2.6)),
    "run": dict(speed_ms=_uniform(3.0, 3.8)),
    "side_step": dict(side=_pick(LR), speed_ms=_uniform(0.35, 0.5)),
    "turn": dict(side=_pick(LR), rot=_rot_dir, angle=_pick([90, 180])),
    "spin": dict(side=_pick(LR), rot=_rot_dir),
    "jump": dict(reps=_pick([1, 2, 3]), height=_uniform(0.22, 0.4)),
    "jump_forward": dict(reps=_pick([1, 2]), height=_uniform(0.2, 0.3), dist=_uniform(0.5, 1.0)),
    "hop": dict(side=_pick(LR), reps=_pick([3, 4, 5]), height=_uniform(0.1, 0.15), fwd=_pick([0.0, 0.25])),
    "jumping_jacks": dict(reps=_pick([2, 3, 4, 5])),
    "squat": dict(reps=_pick([1, 2, 3]), depth=_uniform(0.33, 0.45)),
    "sit_stand": dict(),
    "kneel": dict(side=_pick(LR)),
    "wave": dict(side=_pick(SIDES)),
    "raise_arms": dict(side=_pick(SIDES + ["both"]), style=_pick(["up", "side"])),
    "clap": dict(reps=_pick([3, 4, 5])),
    "kick": dict(side=_pick(LR)),
    "punch": dict(side=_pick(SIDES), reps=_pick([1, 2, 3])),
    "bow": dict(depth=_uniform(0.6, 0.9)),
}
DURATION = {  # name -> seconds(rng, params); long enough for every repetition write_primitive schedules
    "walk": lambda r, p: r.uniform(4.0, 5.5) if p["curve"].endswith("clockwise") else r.uniform(2.5, 5.0),
    "jog": lambda r, p: r.uniform(2.0, 4.0),
    "turn": lambda r, p: 1.2 + p["angle"] / 150 + r.uniform(0, 0.4),
    "spin": lambda r, p: r.uniform(1.6, 2.2),
    "jump": lambda r, p: 0.4 + p["reps"] * (1.05 + _flight(p["height"])),
    "jump_forward": lambda r, p: 0.4 + p["reps"] * (1.05 + _flight(p["height"])),
    "hop": lambda r, p: 0.9 + p["reps"] * (0.4 + _flight(p["height"])),
    "jumping_jacks": lambda r, p: 0.6 + 2 * p["reps"] * 0.6,
    "squat": lambda r, p: p["reps"] * r.uniform(1.8, 2.4),
    "sit_stand": lambda r, p: r.uniform(3.5, 5.5),
    "kneel": lambda r, p: r.uniform(3.5, 5.0),
    "clap": lambda r, p: 1.0 + p["reps"] * 0.4,
    "kick": lambda r, p: r.uniform(1.6, 2.2),
    "punch": lambda r, p: 1.0 + p["reps"] * 0.55,
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
        raise ValueError(f"synthetic_actions.py: bad primitive {name!r} or params {sorted(fixed)}; primitives: "
                         f"{PRIMITIVES}, params: {sorted(PARAMS.get(name, {}))}")
    p = {}
    for key, sampler in PARAMS[name].items():
        p[key] = fixed[key] if key in fixed else sampler(rng, p)
    p["dur"] = float(fixed.get("dur", DURATION.get(name, lambda r, p: r.uniform(2.0, 3.5))(rng, p)))
    return p


def action_label(name, p):
    """Per-frame action label, e.g. "walk", "kick_left", "wave_both" (frame_labels/<id>.json)."""
    return name + (f"_{p['side']}" if "side" in p else "")


# ----------------------------------------------------------------------------------------------------------------
# Captions: lexicon, tokens, mirroring
# ----------------------------------------------------------------------------------------------------------------

VERBS = ("walk stroll move go take jog run sprint dash step shuffle sidestep turn rotate spin twirl do perform jump "
         "leap hop balance spread squat crouch bend rise stand get sit lower kneel drop wave raise lift put hold "
         "stretch clap applaud kick punch throw jab bow lean veer back face come swing bounce").split()
DOUBLED = set("run jog step hop sit get put squat spin clap jab drop sidestep".split())   # running, sitting, ...
WORDS = {}
for _pos, _words in {
    "NOUN": "person man woman human figure circle curve path line pace direction place spot degree chair seat air "
            "arm hand leg foot knee head side fist waist jack step turn spin kick punch bow squat time",
    "DET": "a an the his her their both some",
    "PRON": "someone he she something that it",
    "ADP": "with in on at to of into over above up down out along like from",
    "ADV": "forward forwards ahead backwards backward sideways clockwise counterclockwise then again together once "
           "twice slowly quickly briskly lightly repeatedly still back first around",
    "ADJ": "slow quick short full half opposite several few small big same high curved",
    "NUM": "one two three four five ninety",
    "CCONJ": "and or", "AUX": "is", "SCONJ": "while before after", "PART": "not",
}.items():
    WORDS.update({w: (w, _pos) for w in _words.split()})
WORDS.update({"before": ("before", "ADP"), "after": ("after", "ADP"), "feet": ("foot", "NOUN")})
PLURALS = {"arms": "arm", "hands": "hand", "legs": "leg", "knees": "knee", "sides": "side", "fists": "fist",
           "jacks": "jack", "steps": "step", "degrees": "degree", "times": "time", "punches": "punch",
           "kicks": "kick", "squats": "squat", "turns": "turn"}
AMBIGUOUS = {"left", "right", "straight", "fast"}          # ADJ before a noun / NOUN after a determiner / else ADV


def _third(v):
    return v + ("es" if v.endswith(("s", "sh", "ch", "x", "z", "o")) else "s")


def _ing(v):
    if v in DOUBLED:
        return v + v[-1] + "ing"
    return (v[:-1] if v.endswith("e") and not v.endswith("ee") else v) + "ing"


VERB_FORMS = {}
for _v in VERBS:
    VERB_FORMS.update({_v: _v, _third(_v): _v, _ing(_v): _v})


def tokens(caption):
    """HumanML3D tokens ["word/POS", ...] of a caption (lower-cased, hyphens removed, punctuation dropped).

    Raises KeyError naming the word if a word is not in the lexicon (every template word must be).
    """
    words = re.findall(r"[a-z]+", caption.lower().replace("-", ""))
    tags = []
    for i, w in enumerate(words):
        prev = tags[i - 1][1] if i else None
        nxt = words[i + 1] if i + 1 < len(words) else ""
        nxt_noun = nxt in PLURALS or WORDS.get(nxt, ("", ""))[1] == "NOUN"
        if w in AMBIGUOUS:
            tags.append((w, "ADJ" if nxt_noun else "NOUN" if prev == "DET" else "ADV"))
        elif w == "to":
            tags.append((w, "PART" if nxt in VERBS else "ADP"))
        elif w in VERB_FORMS and prev in ("DET", "ADJ", "NUM"):      # "a bow", "a half turn", "three squats"
            tags.append((PLURALS.get(w, w if w.endswith("ing") else VERB_FORMS[w]), "NOUN"))
        elif w in VERB_FORMS and w not in WORDS:
            tags.append((VERB_FORMS[w], "VERB"))
        elif w in PLURALS:
            tags.append((PLURALS[w], "NOUN"))
        elif w in WORDS:
            tags.append(WORDS[w])
        else:
            raise KeyError(f"synthetic_actions.py: word {w!r} of caption {caption!r} is not in the lexicon")
    return [f"{lemma}/{pos}" for lemma, pos in tags]


def caption_line(caption):
    """One texts/<id>.txt line: `caption#word/POS ...#0.0#0.0` (the caption covers the whole clip)."""
    return f"{caption}#{' '.join(tokens(caption))}#0.0#0.0"


_SWAP = {"left": "right", "right": "left", "clockwise": "counterclockwise", "counterclockwise": "clockwise"}


def mirror_text(text):
    """Swap left<->right and clockwise<->counterclockwise (whole words), as for HumanML3D's mirrored "M" ids."""
    return re.sub(r"\b(left|right|clockwise|counterclockwise)\b", lambda m: _SWAP[m.group(1)], text)


# ----------------------------------------------------------------------------------------------------------------
# Templates: verb phrases with ^marked verbs (conjugated to "walks" / "walking"), {p} possessive, {s} side word
# ----------------------------------------------------------------------------------------------------------------

REPS = {1: ["once"], 2: ["twice", "two times"], 3: ["three times"], 4: ["four times"], 5: ["five times"]}
NUMS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def _walk(p):
    if p["curve"] in ("left", "right"):
        return ["^walk forward while ^turn to the {c}", "^walk in a curve to the {c}", "^walk forward and ^veer {c}",
                "^walk along a curved path to the {c}", "^walk and slowly ^turn {c}"]
    if p["curve"] in ("clockwise", "counterclockwise"):
        return ["^walk in a circle {c}", "^walk in a {c} circle", "^walk around in a {c} circle",
                "^walk {c} in a circle"]
    return {"slow": ["^walk slowly forward", "^stroll forward", "slowly ^walk ahead", "^walk forward at a slow pace",
                     "^walk forward slowly", "^take a short slow walk"],
            "normal": ["^walk forward", "^walk straight ahead", "^walk straight", "^move forward",
                       "^take a few steps forward", "^walk ahead", "^walk forward in a straight line"],
            "fast": ["^walk quickly forward", "^walk fast", "briskly ^walk ahead", "^walk forward at a quick pace",
                     "^walk forward quickly"]}[p["speed"]]


TEMPLATES = {
    "stand": lambda p: ["^stand still"],
    "walk": _walk,
    "walk_backward": lambda p: ["^walk backwards", "^walk backward", "^step backwards", "^take a few steps back",
                                "^move backwards", "^back up", "^walk back slowly"],
    "jog": lambda p: ["^jog forward", "^jog", "^jog in a straight line", "^jog ahead", "^run slowly forward",
                      "lightly ^jog forward"],
    "run": lambda p: ["^run forward", "^run", "^sprint forward", "^run fast", "^run quickly ahead", "^dash forward",
                      "^run straight ahead"],
    "side_step": lambda p: ["^sidestep to the {s}", "^step sideways to the {s}", "^shuffle to the {s}",
                            "^move sideways to the {s}", "^walk sideways to the {s}", "^take small steps to the {s}"],
    "turn": lambda p: (["^turn {s}", "^turn to the {s}", "^turn ninety degrees to the {s}", "^rotate to the {s}",
                        "^turn {s} in place"] if p["angle"] == 90 else
                       ["^turn around", "^turn around to the {s}", "^turn to face the opposite direction",
                        "^do a half turn to the {s}", "^turn around {c}"]),
    "spin": lambda p: ["^spin around", "^spin {c}", "^spin in a full circle", "^twirl around",
                       "^turn a full circle {c}", "^do a full spin to the {s}", "^spin around to the {s}"],
    "jump": lambda p: ["^jump {r}", "^jump in place {r}", "^jump up {r}", "^jump up and down", "^jump on the spot",
                       "^leap up {r}", "^jump straight up"] if p["reps"] > 1 else
                      ["^jump", "^jump in place", "^jump up", "^jump on the spot", "^leap up", "^jump straight up",
                       "^jump up once"],
    "jump_forward": lambda p: ["^jump forward", "^leap forward", "^jump forward with both feet", "^jump ahead",
                               "^jump forward {r}", "^leap ahead"] if p["reps"] == 1 else
                              ["^jump forward {r}", "^leap forward {r}", "^jump ahead {r}", "^jump forward repeatedly"],
    "hop": lambda p: ["^hop on {p} {s} leg", "^hop on one leg", "^hop on {p} {s} foot", "^jump on {p} {s} leg",
                      "^hop {r} on {p} {s} foot", "^balance on {p} {s} leg and ^hop"]
                     + (["^hop forward on {p} {s} leg", "^hop ahead on one foot"] if p["fwd"] else []),
    "jumping_jacks": lambda p: ["^do jumping jacks", "^perform jumping jacks", "^do a few jumping jacks",
                                "^do {n} jumping jacks", "^jump while ^spread {p} arms and legs"],
    "squat": lambda p: ["^squat", "^squat down and ^stand back up", "^do a squat", "^crouch down and ^rise again",
                        "^bend {p} knees and ^squat down"] if p["reps"] == 1 else
                       ["^squat {r}", "^squat down {r}", "^do {n} squats", "^squat down and up {r}",
                        "^squat repeatedly"],
    "sit_stand": lambda p: ["^sit down and ^stand up", "^sit down and then ^get up", "^sit down on a chair and "
                            "^stand back up", "^lower into a seat and ^rise again", "^sit down and ^get back up",
                            "^take a seat and then ^stand up again"],
    "kneel": lambda p: ["^kneel on {p} {s} knee", "^kneel down on {p} {s} knee and ^get back up",
                        "^go down on one knee", "^kneel down and ^stand up again", "^drop to {p} {s} knee",
                        "^get down on {p} {s} knee and ^rise"],
    "wave": lambda p: (["^wave with both hands", "^wave both arms", "^raise both hands and ^wave",
                        "^wave both hands above {p} head"] if p["side"] == "both" else
                       ["^wave with {p} {s} hand", "^wave {p} {s} hand", "^raise {p} {s} hand and ^wave",
                        "^wave {p} {s} arm", "^lift {p} {s} hand and ^wave it"]),
    "raise_arms": lambda p: ((["^raise both arms", "^raise {p} arms above {p} head", "^lift both arms up",
                               "^put both hands up", "^raise {p} hands over {p} head"] if p["style"] == "up" else
                              ["^raise {p} arms to the sides", "^stretch {p} arms out to the sides",
                               "^hold {p} arms out to the side", "^lift both arms out sideways"])
                             if p["side"] == "both" else
                             (["^raise {p} {s} arm", "^lift {p} {s} hand up", "^raise {p} {s} hand above {p} head",
                               "^put {p} {s} hand up"] if p["style"] == "up" else
                              ["^raise {p} {s} arm to the side", "^stretch {p} {s} arm out to the side",
                               "^lift {p} {s} arm sideways"])),
    "clap": lambda p: ["^clap", "^clap {p} hands", "^clap a few times", "^clap {p} hands together",
                       "^applaud", "^clap {p} hands {r}"],
    "kick": lambda p: ["^kick with {p} {s} leg", "^kick {p} {s} leg forward", "^kick with {p} {s} foot",
                       "^kick forward with {p} {s} foot", "^kick something with {p} {s} leg", "^kick"],
    "punch": lambda p: (["^punch with both fists", "^throw punches", "^punch the air", "^throw a few punches",
                         "^punch forward with both hands"] if p["side"] == "both" else
                        ["^punch with {p} {s} hand", "^throw a punch with {p} {s} hand",
                         "^punch forward with {p} {s} fist", "^jab with {p} {s} arm", "^punch {r} with {p} {s} fist"]),
    "bow": lambda p: ["^bow", "^bow down", "^bend forward at the waist", "^take a bow", "^bow forward",
                      "^lean forward and ^bow", "^bend over and then ^stand back up"],
}
SUBJECTS = [("a person", "his"), ("a person", "their"), ("someone", "their"), ("a man", "his"), ("a woman", "her"),
            ("the person", "the"), ("a human", "their"), ("the man", "his"), ("a figure", "its")]
WORDS["its"] = ("its", "DET")


def conjugate(phrase, form):
    """Conjugate the ^marked verbs of a template: form "3sg" ("walks") or "ing" ("walking")."""
    return re.sub(r"\^(\w+)", lambda m: _third(m.group(1)) if form == "3sg" else _ing(m.group(1)), phrase)


def fill_template(template, p, possessive, rng=None):
    """Fill {s} side, {c} curve/rotation, {p} possessive, {r} repetitions ("twice"), {n} number ("three")."""
    reps = REPS.get(p.get("reps", 1), ["repeatedly"])
    return template.format(s=p.get("side", ""), c=p.get("curve", p.get("rot", "")), p=possessive,
                           r=reps[rng.integers(len(reps))] if rng is not None else reps[0],
                           n=NUMS.get(p.get("reps", 1), "a few"))


def verb_phrases(name, p):
    """All templates (with ^verb markers, unfilled) of primitive `name` with parameters `p`."""
    return TEMPLATES[name](p)


def segment_text(name, p):
    """Canonical one-segment description, e.g. "a person walks forward" (frame_labels/<id>.json "text")."""
    return "a person " + conjugate(fill_template(verb_phrases(name, p)[0], p, "their"), "3sg")


def describe(rng, prims, num_captions):
    """`num_captions` distinct captions for a chain of primitives [(name, params), ...], chained with then /
    and then / before / after that / after ...ing. rng: numpy Generator. Returns list[str]."""
    out, tries = [], 0
    while len(out) < num_captions and tries < 50:
        tries += 1
        subject, pos = SUBJECTS[rng.integers(len(SUBJECTS))]
        vps = [fill_template(vp[rng.integers(len(vp))], p, pos, rng) for vp, p in ((verb_phrases(n, p), p) for n, p in prims)]
        style = rng.integers(6) if len(vps) > 1 else rng.choice([0, 3, 4])
        third, ing = [conjugate(v, "3sg") for v in vps], [conjugate(v, "ing") for v in vps]
        pron = {"his": "he", "her": "she"}.get(pos, "the person")
        if style == 0:       # a person walks forward, then jumps and then turns left
            glue = [[", then ", " then ", " and then ", ", and then ", " and "][rng.integers(5)] for _ in vps[1:]]
            text = subject + " " + third[0] + "".join(g + t for g, t in zip(glue, third[1:]))
        elif style == 1:     # a person walks forward before jumping
            text = f"{subject} {third[0]} before {ing[1]}" + "".join(f" and then {x}" for x in ing[2:])
        elif style == 2:     # a person walks forward. after that, he jumps
            text = f"{subject} {third[0]}. after that, {pron} " + " and then ".join(third[1:])
        elif style == 3:     # a person is walking forward and then jumping
            text = f"{subject} is " + " and then ".join(ing)
        elif style == 4:     # walking forward then jumping
            text = " then ".join(ing)
        else:                # a person jumps after walking forward
            text = f"{subject} {third[-1]} after " + " and ".join(ing[:-1])
        text += "." if rng.random() < 0.5 else ""
        if text not in out:
            out.append(text)
    return out
