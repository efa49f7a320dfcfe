"""Physical plausibility of a motion, measured on its joints: foot skating, ground penetration, floating, root speed.

The standard text-to-motion metrics (evaluate.py) compare embeddings; they do not see a walk that slides its feet
or travels at seven times the data's speed. These figures read recovered joints (T, 22, 3) in metres, y up, floor at
y = 0 (HumanML3D puts the floor at the clip's lowest joint; motion.recover_from_ric keeps it), 20 fps:

- skating_ratio: GMD's foot skating ratio (Karunratanakul et al. 2023, "Guided Motion Diffusion", utils/metrics.py
  calculate_skating_ratio; also reported by OmniControl, MotionLCM, MARDM): over the T-1 frame pairs, the fraction in
  which a foot (joints 10 and 11, the toes) is below 5 cm in both frames while its horizontal speed, averaged over
  a 5-frame window, exceeds 0.5 m/s.
- penetration / floating: after PhysDiff (Yuan et al. 2023, Sec. 5, "Penetrate" and "Float"), which measures the
  lowest SMPL mesh vertex. Here, without a mesh, the lowest *joint* per frame: penetration = mean over frames of
  its depth below the floor beyond a 5 mm tolerance; floating = mean over frames of its height above 5 cm (the
  HumanML3D toe joint sits ~0-2 cm above the floor when standing, so 5 cm, the skating contact height, is the
  tolerance). Both in metres; flight phases of jumps and runs count as floating, so the real motion's row is the
  floor a model should be compared with, not 0.
- root_speed: mean horizontal speed of the pelvis (m/s); root_speed_fidelity compares a generated motion's with
  the real motion its caption belongs to (ratio of means over all pairs, and mean absolute error in m/s).

    python -m pytest -q tests/test_realism.py
"""
import numpy as np
from scipy.ndimage import uniform_filter1d

FEET = {"t2m": (10, 11), "kit": (20, 15)}   # left / right toe joints: HumanML3D's are GMD's foot joints
UNIT = {"t2m": 1.0, "kit": 0.001}            # joints -> metres (KIT-ML positions are millimetres)
PELVIS = 0


def _check(joints, kind: str = "t2m") -> np.ndarray:
    """joints (T, J, 3) -> float64 metres; raises ValueError on a malformed array or unknown skeleton kind."""
    j = np.asarray(joints, np.float64)
    if kind not in FEET or j.ndim != 3 or j.shape[-1] != 3 or j.shape[0] < 2 or j.shape[1] <= max(FEET[kind]):
        raise ValueError(f"realism.py: joints must be (T >= 2, J, 3) of a {list(FEET)} skeleton, got {j.shape} "
                         f"kind {kind!r}")
    return j * UNIT[kind]


def skating_ratio(joints, fps: float = 20.0, height: float = 0.05, speed: float = 0.5, window: int = 5,
                  kind: str = "t2m") -> float:
    """GMD's foot skating ratio of one motion, joints (T, J, 3) metres, y up, floor at 0 -> float in [0, 1].

    A frame pair (t, t+1) skates when, for foot 10 or 11, both heights are below `height` (m) and the horizontal
    foot speed, a `window`-frame moving average (scipy uniform_filter1d, mode 'constant', as GMD) of
    |xz[t+1] - xz[t]| * fps, exceeds `speed` (m/s). Returns skating pairs / (T - 1). Source: Karunratanakul et al.
    2023 (GMD) calculate_skating_ratio, reproduced (0.05 m, 0.5 m/s, 5 frames at 20 fps). Raises ValueError on
    malformed joints. kind "kit": KIT-ML toes (20, 15), millimetres converted to metres."""
    j = _check(joints, kind)
    feet = j[:, FEET[kind]]                                               # (T, 2, 3)
    vel = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1) * fps  # (T-1, 2)
    vel_avg = uniform_filter1d(vel, size=window, axis=0, mode="constant", origin=0)
    h = feet[..., 1]                                                      # (T, 2)
    contact = (h[:-1] < height) & (h[1:] < height)                        # (T-1, 2)
    skating = (contact & (vel_avg > speed)).any(-1)                       # (T-1,) either foot
    return float(skating.mean())


def penetration_floating(joints, pen_tol: float = 0.005, float_tol: float = 0.05) -> tuple[float, float]:
    """(penetration, floating) of one motion, joints (T, J, 3) metres, y up, floor at 0 -> metres, mean over frames.

    Per frame the lowest joint height h: penetration = mean(max(0, -h - pen_tol)), floating = mean(max(0, h -
    float_tol)). Adapted from PhysDiff (Yuan et al. 2023) Penetrate / Float, which use the lowest SMPL vertex; see
    the module docstring for the tolerances. Raises ValueError on malformed joints."""
    h = _check(joints)[:, :, 1].min(1)                                    # (T,)
    return float(np.maximum(0.0, -h - pen_tol).mean()), float(np.maximum(0.0, h - float_tol).mean())


def root_speed(joints, fps: float = 20.0) -> float:
    """Mean horizontal pelvis speed (m/s) of joints (T, J, 3) metres: path length / duration (T-1 frame steps)."""
    root = _check(joints)[:, PELVIS, [0, 2]]                              # (T, 2)
    return float(np.linalg.norm(np.diff(root, axis=0), axis=-1).mean() * fps)


def distance_travelled(joints) -> float:
    """Horizontal path length of the pelvis (m) of joints (T, J, 3) metres."""
    root = _check(joints)[:, PELVIS, [0, 2]]
    return float(np.linalg.norm(np.diff(root, axis=0), axis=-1).sum())


def realism_figures(joints, fps: float = 20.0) -> dict:
    """{"skating_ratio", "penetration" (m), "floating" (m), "root_speed" (m/s)} of one motion (T, J, 3) metres."""
    pen, flo = penetration_floating(joints)
    return {"skating_ratio": skating_ratio(joints, fps), "penetration": pen, "floating": flo,
            "root_speed": root_speed(joints, fps)}


def root_speed_fidelity(generated, real) -> dict:
    """Generated vs real mean root speeds (m/s), paired (N,) each: {"root_speed_ratio": mean(generated) /
    mean(real) (1 is right, 7 is the over-driven walk of issue 13), "root_speed_MAE": mean |generated - real| (m/s)}.
    Raises ValueError on empty or unequal inputs or a zero real mean."""
    g, r = np.asarray(generated, np.float64), np.asarray(real, np.float64)
    if g.shape != r.shape or g.ndim != 1 or len(g) == 0 or r.mean() <= 0:
        raise ValueError(f"realism.py: root_speed_fidelity needs two equal (N,) arrays, real mean > 0; got {g.shape}, "
                         f"{r.shape}")
    return {"root_speed_ratio": float(g.mean() / r.mean()), "root_speed_MAE": float(np.abs(g - r).mean())}


def describe(joints, fps: float = 20.0, kind: str = "t2m") -> str:
    """One line a user checks first: length (s), distance travelled (m), mean root speed (m/s), skating ratio, of
    joints (T, J, 3) (kind "t2m": metres; "kit": millimetres)."""
    j = _check(joints, kind)
    return (f"{len(j) / fps:.1f} s, travelled {distance_travelled(j):.2f} m, mean root speed {root_speed(j, fps):.2f} "
            f"m/s, skating ratio {skating_ratio(joints, fps, kind=kind):.3f}")
