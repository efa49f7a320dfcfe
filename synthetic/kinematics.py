"""The kinematics of a motion that the action checks read, from recovered joints (T, 22, 3) (metres, y up, floor at
y = 0 of the representation, 20 fps, HumanML3D skeleton): facing and yaw, knee angles, foot heights and contacts,
GMD skating pairs, root speeds along and across the facing, wrist and trunk offsets; then the steps (alternating
single-foot contact onsets) and flights (runs of both feet up) found in them. Kept apart from the checks
(synthetic/action_checks.py) so that each file holds one idea: what a body does, then whether it does the action.

A foot's height is the lower of its toe joint and its ankle joint minus ankle_rest (the ankle's height when the foot is
flat), so a foot is "up" when its lowest point is above `air`; it is planted when that point is low and slower than
contact_speed. Source: the kinematic conventions (facing from hips and shoulders, floor at y = 0) are HumanML3D's
(Guo et al. 2022, motion_representation.ipynb); the skating pairs are GMD's (Karunratanakul et al. 2023,
utils/metrics.py calculate_skating_ratio, via realism.py).

Test: python -m pytest -q tests/test_action_checks.py
"""
import numpy as np
from scipy.ndimage import uniform_filter1d

from realism import foot_skating, runs

# HumanML3D joint indices (paramUtil.py t2m_kinematic_chain)
PELVIS, L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE, L_FOOT, R_FOOT = 0, 1, 2, 4, 5, 7, 8, 10, 11
NECK, HEAD, L_SHOULDER, R_SHOULDER, L_WRIST, R_WRIST = 12, 15, 16, 17, 20, 21

# The floor thresholds the quantities below need (the checks' CHECK_THRESHOLDS include them; ranges: the real train +
# val single-action clips of the default build)
FLOOR = dict(
    air=0.05,                   # m: a foot is up when its lowest point is above this (GMD's contact height; the
                                #   feet of jacks peak at 0.06-0.11 m, of jumps at 0.11-0.40 m)
    ankle_rest=0.045,           # m: ankle joint height of a flat foot on the floor (first frames: data 0.043-0.053,
                                #   the real HumanML3D sample 0.033-0.058)
    contact_speed=0.3,          # m/s: a low toe or ankle slower than this is planted (the data's stance feet ~0)
)


# ----------------------------------------------------------------------------------------------------------------
# Facing, knees, and the per-frame quantities of a motion
# ----------------------------------------------------------------------------------------------------------------
def facing(joints: np.ndarray) -> np.ndarray:
    """(T, J, 3) joints -> (T, 2) unit horizontal facing (x, z) from hips and shoulders (HumanML3D's forward:
    up x across)."""
    across = (joints[:, R_HIP] - joints[:, L_HIP]) + (joints[:, R_SHOULDER] - joints[:, L_SHOULDER])  # (T, 3)
    f = np.stack([across[:, 2], -across[:, 0]], -1)                 # (x, z) of (0, 1, 0) x across
    return f / np.maximum(np.linalg.norm(f, axis=-1, keepdims=True), 1e-9)


def yaw(joints: np.ndarray) -> np.ndarray:
    """(T, J, 3) -> (T,) unwrapped facing angle atan2(f_x, f_z), radians; increasing = turning to the person's
    left (counterclockwise seen from above, synthetic.actions' convention)."""
    f = facing(joints)
    return np.unwrap(np.arctan2(f[:, 0], f[:, 1]))


def knee_angle(joints: np.ndarray) -> np.ndarray:
    """(T, J, 3) -> (T, 2) left/right knee angle between thigh (knee -> hip) and shank (knee -> ankle), radians
    (pi = straight; the HumanML3D skeleton stands at ~2.7)."""
    out = []
    for hip, knee, ankle in ((L_HIP, L_KNEE, L_ANKLE), (R_HIP, R_KNEE, R_ANKLE)):
        u, v = joints[:, hip] - joints[:, knee], joints[:, ankle] - joints[:, knee]  # (T, 3) each
        c = (u * v).sum(-1) / np.maximum(np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1), 1e-9)
        out.append(np.arccos(np.clip(c, -1.0, 1.0)))
    return np.stack(out, -1)


def kinematics(joints: np.ndarray, fps: float = 20.0, th: dict | None = None) -> dict:
    """The quantities the checks read, from joints (T, J, 3) (metres, y up, floor y = 0; T >= 2) and the floor
    thresholds of th (FLOOR by default; the checks pass CHECK_THRESHOLDS). Returns a dict of numpy arrays / floats:
    foot_h (T, 2) left/right foot height (the lower of toe and ankle - ankle_rest, m), planted (T, 2) bool (that
    point low and slower than contact_speed), skate (T-1,) bool (GMD skating pair, realism.foot_skating), knee (T, 2)
    (rad), root_speed (T-1,) (0.5 s mean, m/s), sweep (T, 2, 2) (each foot's offset from the pelvis along the facing
    and towards the left, m), v_fwd / v_side (mean root speed along the facing / towards the person's left, m/s),
    cruise (signed 80th percentile of the 0.5 s mean speed along the facing), turn (net yaw change, rad), travel
    (net horizontal root displacement, m), fwd_travel (displacement along the initial facing, m), pelvis_drop (T,)
    (m below the 90th percentile pelvis height), wrist_up (T, 2) (wrist minus shoulder height, m), wrist_fwd /
    wrist_side (T, 2) (wrist offset from its shoulder along the facing / outward, m), lean (T,) (trunk pitch
    forward, rad). Raises ValueError on malformed joints."""
    th = {**FLOOR, **(th or {})}
    j = np.asarray(joints, np.float64)
    if j.ndim != 3 or j.shape[0] < 2 or j.shape[1] < 22 or j.shape[2] != 3:
        raise ValueError(f"synthetic/kinematics.py: joints must be (T >= 2, 22, 3), got {j.shape}")
    T, half = len(j), max(1, round(fps / 2))
    f = facing(j)                                                   # (T, 2)
    left = np.stack([f[:, 1], -f[:, 0]], -1)                        # person's left, (T, 2)
    feet = j[:, [L_FOOT, L_ANKLE, R_FOOT, R_ANKLE]].reshape(T, 2, 2, 3)  # (T, side, toe/ankle, xyz)
    low = feet[..., 1] - np.array([0.0, th["ankle_rest"]])          # (T, 2, 2) height of the point under each
    speed = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1) * fps  # (T-1, 2, 2)
    speed = np.concatenate([speed[:1], speed])                      # (T, 2, 2) frame t: the pair ending at t
    root = j[:, PELVIS, [0, 2]]                                     # (T, 2)
    v = np.diff(root, axis=0) * fps                                 # (T-1, 2)
    fm = 0.5 * (f[1:] + f[:-1])
    lm = 0.5 * (left[1:] + left[:-1])
    fwd = (v * fm).sum(-1)                                          # (T-1,) m/s along the facing
    off = feet[:, :, 0, [0, 2]] - root[:, None]                     # (T, 2, 2) toe minus pelvis, world x/z
    sweep = np.stack([(off * f[:, None]).sum(-1), (off * left[:, None]).sum(-1)], -1)  # (T, side, fwd/left)
    y = yaw(j)
    h = j[:, PELVIS, 1]
    trunk = j[:, NECK] - j[:, PELVIS]                               # (T, 3)
    out = {}
    for k, (s, w) in enumerate(((L_SHOULDER, L_WRIST), (R_SHOULDER, R_WRIST))):
        d = j[:, w] - j[:, s]                                       # (T, 3)
        out.setdefault("wrist_up", []).append(d[:, 1])
        out.setdefault("wrist_fwd", []).append((d[:, [0, 2]] * f).sum(-1))
        out.setdefault("wrist_side", []).append((d[:, [0, 2]] * left).sum(-1) * (1 if k == 0 else -1))
    out = {k: np.stack(v, -1) for k, v in out.items()}              # (T, 2) each
    out.update(
        foot_h=low.min(-1),                                         # (T, 2) > air: the whole foot is up
        planted=((low < th["air"]) & (speed < th["contact_speed"])).any(-1),  # (T, 2)
        skate=foot_skating(j, fps).any(-1),                         # (T-1,)
        knee=knee_angle(j),                                         # (T, 2)
        knee_h=j[:, [L_KNEE, R_KNEE], 1],                           # (T, 2) above the floor
        root_speed=uniform_filter1d(np.linalg.norm(v, axis=-1), half, mode="nearest"),  # (T-1,)
        sweep=sweep,
        v_fwd=float(fwd.mean()), v_side=float((v * lm).sum(-1).mean()),
        cruise=float(np.sign(fwd.mean()) * np.percentile(np.abs(uniform_filter1d(fwd, half)), 80)),
        turn=float(np.mean(y[-3:]) - np.mean(y[:3])),
        travel=float(np.linalg.norm(root[-1] - root[0])),
        fwd_travel=float(((root[-1] - root[0]) * f[0]).sum()),
        pelvis_drop=np.percentile(h, 90) - h,                       # (T,)
        lean=np.arctan2((trunk[:, [0, 2]] * f).sum(-1), trunk[:, 1]),  # (T,)
        ankle_gap=np.linalg.norm(j[:, L_ANKLE, [0, 2]] - j[:, R_ANKLE, [0, 2]], axis=-1),  # (T,)
        wrist_gap=np.linalg.norm(j[:, L_WRIST] - j[:, R_WRIST], axis=-1),  # (T,)
        fps=fps, T=T)
    return out


def longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in a 1-D bool array."""
    return max((b - a for a, b in runs(mask)), default=0)


# ----------------------------------------------------------------------------------------------------------------
# Steps and flights: what a body does to travel or to leave the floor
# ----------------------------------------------------------------------------------------------------------------
def steps(k: dict) -> list[tuple[int, int]]:
    """[(frame, foot), ...] alternating steps: a foot's contact onset (a planted run of >= 2 frames that starts
    after frame 0) while the other foot does not land within 2 frames (that is a two-footed landing), with
    consecutive onsets of the same foot merged (one step broken by jitter)."""
    onsets = sorted((a, side) for side in (0, 1) for a, b in runs(k["planted"][:, side]) if a > 0 and b - a >= 2)
    out = []
    for a, side in onsets:
        if any(abs(a - b) <= 2 for b, other in onsets if other != side):
            continue
        if not out or out[-1][1] != side:
            out.append((a, side))
    return out


def moving_segment(k: dict, th: dict) -> tuple[int, int]:
    """(start, stop) frames from the first to the last frame whose 0.5 s mean root speed exceeds moving_speed
    ((0, 0) if none)."""
    idx = np.flatnonzero(k["root_speed"] > th["moving_speed"])
    return (int(idx[0]), int(idx[-1]) + 2) if len(idx) else (0, 0)


def airborne(k, th):
    """(T,) bool: both feet up."""
    return (k["foot_h"] > th["air"]).all(-1)


def flights(k: dict, th: dict) -> list[tuple[int, int]]:
    """[(take-off, landing), ...] frames of the runs of >= min_air_frames frames with both feet above air (landing:
    the first frame back down)."""
    return [(a, b) for a, b in runs(airborne(k, th)) if b - a >= th["min_air_frames"]]
