"""Physical plausibility of a motion, measured on its joints: foot skating, ground penetration, floating, root speed;
and one repair, planted feet pinned.

The standard text-to-motion metrics (evaluate.py) compare embeddings; they do not see a walk that slides its feet
or travels at seven times the data's speed. These figures read recovered joints (T, 22, 3) in metres, y up, 20 fps.
The floor is y = 0 of the representation: HumanML3D's preprocessing (motion_representation.ipynb, process_file)
puts the clip's lowest joint over all frames at y = 0 and motion.recover_from_ric keeps the root height, so a real
clip touches y = 0 and a generated one is judged against the same plane (no per-clip re-flooring here).

- skating_ratio: GMD's foot skating ratio, exactly its rule (Karunratanakul et al. 2023, "Guided Motion Diffusion",
  utils/metrics.py calculate_skating_ratio; the same function is copied in OmniControl, MotionLCM and MARDM). A
  foot (toe joints 10 and 11) skates in the frame pair (t, t+1) when its height is below 0.05 m in BOTH frames, its
  raw horizontal speed |xz[t+1] - xz[t]| * fps exceeds 0.5 m/s, AND that speed smoothed over 5 pairs
  (scipy.ndimage.uniform_filter1d, size 5, mode 'constant', origin 0: zero-padded at both ends) exceeds 0.5 m/s.
  The ratio is the number of pairs in which either foot skates over the T - 1 valid pairs of the motion. GMD
  divides by max_len - 1 of its padded batch instead, so there the padding pairs (held still) enter the denominator
  as non-skating and a motion of T frames reads (T - 1) / (max_len - 1) times the figure here (0.5 times for a
  99-frame motion in a batch padded to 196 frames); over the valid pairs, motions of any length are comparable.
  Both speeds are required: a smoothed-only rule also counts still pairs next to one fast pair, a raw-only rule a
  single jittery pair (tests/test_realism.py tells these apart, and contact in both frames from either frame).
- penetration_mm / floating_mm: after PhysDiff (Yuan et al. 2023, Sec. 5, "Penetrate" and "Float", from UHC's
  smpl_eval), which take per frame the height h of the lowest SMPL mesh vertex: penetration = mean over frames of
  max(0, -h), floating = mean over frames of max(0, h - tol), in millimetres. Without a mesh the lowest *joint*
  stands in for the lowest vertex. Penetration has no tolerance, as PhysDiff's. Floating uses tol = 5 mm, the value
  of one public copy of PhysDiff's metric. The stand-in shifts floating by a constant: a flat foot's toe joint sits
  above the sole (2-14 mm for the flat feet of the real HumanML3D sample's first frames, 0-8 mm in the embedded data),
  the ankle ~45 mm, so a real motion that never floats reads a few mm, and flight phases of jumps and runs count as
  floating as they do in PhysDiff. Compare a model's row with the real motion's row, not with 0.
- root_speed: mean horizontal speed of the pelvis (m/s); root_speed_fidelity compares a generated motion's with
  the real motion its caption belongs to (ratio of means over all pairs, and mean absolute error in m/s).

- clean_foot_contacts (a repair, not a figure): pins each foot the motion's own contact channels plant and lets
  the leg follow by two-bone IK (sample.py --foot_cleanup).

Real data, mean over motions: the real HumanML3D sample's 8 motions (new_joint_vecs through recover_from_ric) read
GMD skating 0.110 (the 7 with a new_joints/ file 0.061), penetration 0.0 mm, floating 15.1 mm; the embedded
dataset's 450 test clips (python -m synthetic) skating 0.086 (0.130 by the smoothed-only rule), penetration 0.0 mm,
floating 5.7 mm.

    python -m pytest -q tests/test_realism.py
"""
import numpy as np
from scipy.ndimage import uniform_filter1d

FEET = {"t2m": (10, 11), "kit": (20, 15)}   # left / right toe joints: HumanML3D's are GMD's foot joints
UNIT = {"t2m": 1.0, "kit": 0.001}            # joints -> metres (KIT-ML positions are millimetres)
PELVIS = 0
CONTACT_HEIGHT = 0.05                        # m: GMD's thresh_height (toe joint below it = on the floor)
SKATE_SPEED = 0.5                            # m/s: GMD's thresh_vel
SKATE_WINDOW = 5                             # frame pairs: GMD's avg_window (0.25 s at 20 fps)
PEN_TOL = 0.0                                # m: PhysDiff's penetration has no tolerance
FLOAT_TOL = 0.005                            # m: floating tolerance of one public copy of PhysDiff's metric


def _check(joints, kind: str = "t2m") -> np.ndarray:
    """joints (T, J, 3) -> float64 metres; raises ValueError on a malformed array or unknown skeleton kind."""
    j = np.asarray(joints, np.float64)
    if kind not in FEET or j.ndim != 3 or j.shape[-1] != 3 or j.shape[0] < 2 or j.shape[1] <= max(FEET[kind]):
        raise ValueError(f"realism.py: joints must be (T >= 2, J, 3) of a {list(FEET)} skeleton, got {j.shape} "
                         f"kind {kind!r}")
    return j * UNIT[kind]


# ----------------------------------------------------------------------------------------------------------------
# Foot skating (GMD)
# ----------------------------------------------------------------------------------------------------------------
def foot_skating(joints, fps: float = 20.0, height: float = CONTACT_HEIGHT, speed: float = SKATE_SPEED,
                 window: int = SKATE_WINDOW, kind: str = "t2m") -> np.ndarray:
    """(T-1, 2) bool: does the left / right toe skate in frame pair (t, t+1), by GMD's rule (module docstring).

    joints (T, J, 3) metres (kind "kit": millimetres), y up, floor at y = 0; fps frames/s; height (m), speed (m/s),
    window (pairs) are GMD's thresholds. Raises ValueError on malformed joints."""
    j = _check(joints, kind)
    feet = j[:, FEET[kind]]                                               # (T, 2, 3)
    vel = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1) * fps  # (T-1, 2) raw horizontal speed
    vel_avg = uniform_filter1d(vel, size=window, axis=0, mode="constant", origin=0)  # (T-1, 2) zero-padded mean
    h = feet[..., 1]                                                      # (T, 2)
    contact = (h[:-1] < height) & (h[1:] < height)                        # (T-1, 2) on the floor in both frames
    return contact & (vel > speed) & (vel_avg > speed)


def skating_ratio(joints, fps: float = 20.0, height: float = CONTACT_HEIGHT, speed: float = SKATE_SPEED,
                  window: int = SKATE_WINDOW, kind: str = "t2m") -> float:
    """GMD's foot skating ratio of one motion, joints (T, J, 3) -> float in [0, 1]: frame pairs in which either toe
    skates (foot_skating) / the T - 1 valid pairs. Source: Karunratanakul et al. 2023 (GMD), utils/metrics.py
    calculate_skating_ratio (0.05 m, 0.5 m/s, 5 pairs at 20 fps), divided by the valid pairs rather than the padded
    batch length (module docstring). Raises ValueError on malformed joints."""
    return float(foot_skating(joints, fps, height, speed, window, kind).any(-1).mean())


def segment_skating(joints, fps: float = 20.0, start: int = 0, stop: int | None = None, kind: str = "t2m") -> float:
    """GMD skating ratio over the frames [start, stop) of joints (T, J, 3): the pairs (t, t+1) with start <= t and
    t + 1 < stop, judged with the whole motion as context (the 5-pair smoothing sees across the segment's ends).
    Returns 0.0 for a segment of fewer than two frames. Raises ValueError on malformed joints."""
    skate = foot_skating(joints, fps, kind=kind).any(-1)                  # (T-1,)
    pairs = skate[max(start, 0):max((len(skate) + 1 if stop is None else stop) - 1, 0)]
    return float(pairs.mean()) if len(pairs) else 0.0


# ----------------------------------------------------------------------------------------------------------------
# Penetration and floating (PhysDiff), root speed
# ----------------------------------------------------------------------------------------------------------------
def lowest_height(joints) -> np.ndarray:
    """(T,) height (m) of the lowest joint per frame of joints (T, J, 3) metres, y up; the stand-in for PhysDiff's
    lowest mesh vertex. Raises ValueError on malformed joints."""
    return _check(joints)[:, :, 1].min(1)


def penetration_mm(joints, tol: float = PEN_TOL) -> float:
    """PhysDiff's Penetrate on the lowest joint: mean over frames of max(0, -h - tol), millimetres, of joints
    (T, J, 3) metres, floor y = 0 (tol in metres, 0 as PhysDiff). Raises ValueError on malformed joints."""
    return float(np.maximum(0.0, -lowest_height(joints) - tol).mean() * 1000.0)


def floating_mm(joints, tol: float = FLOAT_TOL) -> float:
    """PhysDiff's Float on the lowest joint: mean over frames of max(0, h - tol), millimetres, of joints (T, J, 3)
    metres, floor y = 0 (tol in metres, 5 mm; see the module docstring for the joint's constant offset). Raises
    ValueError on malformed joints."""
    return float(np.maximum(0.0, lowest_height(joints) - tol).mean() * 1000.0)


def root_speed(joints, fps: float = 20.0) -> float:
    """Mean horizontal pelvis speed (m/s) of joints (T, J, 3) metres: path length / duration (T-1 frame steps)."""
    root = _check(joints)[:, PELVIS, [0, 2]]                              # (T, 2)
    return float(np.linalg.norm(np.diff(root, axis=0), axis=-1).mean() * fps)


def distance_travelled(joints) -> float:
    """Horizontal path length of the pelvis (m) of joints (T, J, 3) metres."""
    root = _check(joints)[:, PELVIS, [0, 2]]
    return float(np.linalg.norm(np.diff(root, axis=0), axis=-1).sum())


def realism_figures(joints, fps: float = 20.0) -> dict:
    """{"skating_ratio" (GMD, valid pairs), "penetration_mm", "floating_mm" (PhysDiff on the lowest joint, mm),
    "root_speed" (m/s)} of one motion, joints (T, 22, 3) metres, y up, floor y = 0."""
    return {"skating_ratio": skating_ratio(joints, fps), "penetration_mm": penetration_mm(joints),
            "floating_mm": floating_mm(joints), "root_speed": root_speed(joints, fps)}


def root_speed_fidelity(generated, real) -> dict:
    """Generated vs real mean root speeds (m/s), paired (N,) each: {"root_speed_ratio": mean(generated) /
    mean(real) (1 is right, 7 is the over-driven walk of issue 13), "root_speed_MAE": mean |generated - real| (m/s)}.
    Raises ValueError on empty or unequal inputs or a zero real mean."""
    g, r = np.asarray(generated, np.float64), np.asarray(real, np.float64)
    if g.shape != r.shape or g.ndim != 1 or len(g) == 0 or r.mean() <= 0:
        raise ValueError(f"realism.py: root_speed_fidelity needs two equal (N,) arrays, real mean > 0; got {g.shape}, "
                         f"{r.shape}")
    return {"root_speed_ratio": float(g.mean() / r.mean()), "root_speed_MAE": float(np.abs(g - r).mean())}


# ----------------------------------------------------------------------------------------------------------------
# Repair: planted feet pinned, the legs following by two-bone IK
# ----------------------------------------------------------------------------------------------------------------
LEGS = {"t2m": ((1, 4, 7, (10,)), (2, 5, 8, (11,))),           # (hip, knee, ankle, foot joints), left then right:
        "kit": ((16, 17, 18, (19, 20)), (11, 12, 13, (14, 15)))}  # the order of the foot_contact channels


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[(start, stop), ...] of the runs of True in a 1-D bool array (stop exclusive), as python ints."""
    d = np.diff(np.concatenate([[0], np.asarray(mask, int), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def two_bone_ik(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, target: np.ndarray) -> tuple:
    """Analytic two-bone IK: (knee', ankle') with |knee' - hip| and |ankle' - knee'| the bone lengths of (hip, knee,
    ankle) and ankle' = target, or the reachable point nearest it on the hip -> target line (the leg stretched or
    folded to 1e-4 units short of its limits). The knee stays in the plane of hip, target and the old knee, on the old
    knee's side (the pole). Arrays (..., 3) in one unit; returns two arrays of that shape."""
    l1 = np.linalg.norm(knee - hip, axis=-1, keepdims=True)
    l2 = np.linalg.norm(ankle - knee, axis=-1, keepdims=True)
    to = target - hip
    d = np.linalg.norm(to, axis=-1, keepdims=True)
    u = to / np.maximum(d, 1e-9)                                           # hip -> target direction
    d = np.clip(d, np.abs(l1 - l2) + 1e-4, l1 + l2 - 1e-4)
    a = (l1 ** 2 - l2 ** 2 + d ** 2) / (2 * d)                             # along u, hip to the knee's foot point
    h = np.sqrt(np.maximum(l1 ** 2 - a ** 2, 0.0))                         # the knee's distance from the line
    pole = (knee - hip) - ((knee - hip) * u).sum(-1, keepdims=True) * u    # the old knee, off the line
    w = pole / np.maximum(np.linalg.norm(pole, axis=-1, keepdims=True), 1e-9)
    return hip + a * u + h * w, hip + d * u


def clean_foot_contacts(joints, contacts, kind: str = "t2m", blend: int = 4, min_frames: int = 2,
                        height: float = CONTACT_HEIGHT) -> np.ndarray:
    """Pin each planted foot to one ground position and let the leg follow; the pelvis path and the upper body stay.

    joints (T, J, 3) positions (t2m: metres, kit: millimetres), y up; contacts (T, 4) the motion's foot_contact
    feature channels (left ankle/heel, left toe, right ankle/heel, right toe; HumanML3D extract_features' fid_l,
    fid_r), a foot planted where the mean of its two channels exceeds 0.5 and its lowest joint is below `height`
    (GMD's 5 cm), for at least min_frames frames in a row. In each planted interval the foot (ankle and the
    joints below it) is moved rigidly so that the ankle sits at its mean position over the interval and the foot
    keeps its mean ankle -> toe offset; over `blend` frames on either side the correction fades linearly to
    zero. The knee follows by two_bone_ik from the unchanged hip (bone lengths kept; an unreachable target
    leaves the ankle on the hip -> target line). Frames no interval or blend reaches are returned unchanged, bit
    for bit. Returns float64 (T, J, 3) in the input's unit. After the footskate cleanups of the motion-synthesis
    literature (Kovar et al. 2002, "Footskate cleanup for motion capture editing": pinned constraints, analytic
    IK, blended ends); StableMoFusion's own cleanup (utils/footskate_clean.py) needs a ground-reaction network
    and SMPL-H, unavailable here. Raises ValueError on malformed joints or contacts."""
    j = np.array(joints, np.float64)
    c = np.asarray(contacts, np.float64)
    if kind not in LEGS or j.ndim != 3 or j.shape[-1] != 3 or j.shape[1] <= max(LEGS[kind][0][0], LEGS[kind][1][0]):
        raise ValueError(f"realism.py: clean_foot_contacts needs joints (T, J, 3) of a {list(LEGS)} skeleton, got "
                         f"{j.shape} kind {kind!r}")
    if c.shape != (len(j), 4):
        raise ValueError(f"realism.py: contacts must be the (T, 4) foot_contact channels, got {c.shape} for "
                         f"T = {len(j)}")
    T = len(j)
    for side, (hip, knee, ankle, foot) in enumerate(LEGS[kind]):
        offset = np.zeros((T, 3))                                          # the ankle's correction per frame
        weight = np.zeros(T)
        pinned_foot = {}
        low = j[:, [ankle, *foot], 1].min(-1) < height / UNIT[kind]        # the foot's lowest joint near the floor
        planted = runs((c[:, 2 * side:2 * side + 2].mean(-1) > 0.5) & low)
        for a, b in [(a, b) for a, b in planted if b - a >= min_frames]:
            target = j[a:b, ankle].mean(0)
            offset[a:b], weight[a:b] = target - j[a:b, ankle], 1.0
            for f in foot:                                                 # the foot's mean shape over the interval
                pinned_foot.setdefault(f, []).append((a, b, (j[a:b, f] - j[a:b, ankle]).mean(0)))
            for k in range(1, blend + 1):                                  # fade the ends' corrections out
                w = 1 - k / (blend + 1)
                for t, edge in ((a - k, a), (b - 1 + k, b - 1)):
                    if 0 <= t < T and w > weight[t]:
                        offset[t], weight[t] = w * offset[edge], w
        moved = weight > 0
        if not moved.any():
            continue
        new_knee, new_ankle = two_bone_ik(j[moved, hip], j[moved, knee], j[moved, ankle],
                                          j[moved, ankle] + offset[moved])
        shift = new_ankle - j[moved, ankle]                                # what the ankle really moved
        for f in foot:
            j[moved, f] += shift
        j[moved, knee], j[moved, ankle] = new_knee, new_ankle
        for f, spans in pinned_foot.items():                               # inside the intervals: the mean shape
            for a, b, rel in spans:                                        # hung from the pinned ankle
                j[a:b, f] = j[a:b, ankle] + rel
    return j


def describe(joints, fps: float = 20.0, kind: str = "t2m") -> str:
    """One line a user checks first: length (s), distance travelled (m), mean root speed (m/s), skating ratio, of
    joints (T, J, 3) (kind "t2m": metres; "kit": millimetres)."""
    j = _check(joints, kind)
    return (f"{len(j) / fps:.1f} s, travelled {distance_travelled(j):.2f} m, mean root speed {root_speed(j, fps):.2f} "
            f"m/s, skating ratio {skating_ratio(joints, fps, kind=kind):.3f}")
