"""HumanML3D / KIT-ML motion representation: skeletons, quaternions, features <-> joints, mirroring, and the one
training loss that reads joints (MDM's foot contact, foot_contact_loss).

Implements the 263-dim (HumanML3D, 22 joints, 20 fps) and 251-dim (KIT-ML, 21 joints, 12.5 fps) feature vector of
Guo et al. 2022, "Generating Diverse and Natural 3D Human Motions from Text" (CVPR), section 3 / supplementary,
re-derived from the reference code EricGuo5513/HumanML3D (motion_representation.ipynb `process_file`,
common/skeleton.py, common/quaternion.py, paramUtil.py). Layout per frame (motion_representation.ipynb):

    [root_rot_vel (1), root_lin_vel (2), root_y (1), ric (3(J-1)), rot6d (6(J-1)), local_vel (3J), foot_contact (4)]

Quaternions are (w, x, y, z); Y is up; every motion's first frame faces +Z.
Test: python -m pytest -q tests/test_motion.py
"""
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

# ----------------------------------------------------------------------------------------------------------------
# Skeleton constants (HumanML3D paramUtil.py + the `__main__` blocks of motion_process.py)
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Skeleton:
    name: str
    joints_num: int                 # J
    feat_dim: int                   # D = 8 + 9(J-1) + 3J
    fps: float                      # frames per second of the processed data
    raw_offsets: np.ndarray         # (J, 3) unit rest-pose bone directions (IK targets)
    kinematic_chain: list           # chains of joint indices, each starting at its attachment joint
    parents: list                   # parents[j] (-1 for the root), derived from the chains
    joint_names: list
    fid_l: list                     # left (ankle, toe) joints used for foot_contact
    fid_r: list                     # right (ankle, toe)
    face_joint_indx: list           # (r_hip, l_hip, r_shoulder, l_shoulder) as process_file unpacks them
    l_idx1: int                     # lower-leg joints whose bone lengths give the retargeting scale
    l_idx2: int
    contact_threshold: float        # on the squared per-frame foot displacement (m^2; KIT: mm^2)
    radius: float                   # plot radius (m; KIT: mm)
    bone_lengths: np.ndarray        # (J,) |joint - parent| of the target skeleton (m; KIT: mm), 0 for the root
    mirror_perm: np.ndarray         # (J,) int, mirrored[j] = original[mirror_perm[j]]

    @property
    def offsets(self) -> np.ndarray:
        """(J, 3) target-skeleton offsets = raw direction * bone length (what `get_offsets_joints` returns)."""
        return self.raw_offsets * self.bone_lengths[:, None]

    @property
    def rot_parents(self) -> np.ndarray:
        """(J,) joint whose global rotation a local rotation is relative to. Reference quirk: the first link of every
        chain hangs off the ROOT rotation, so the collars (13, 14 in HumanML3D) are relative to the pelvis,
        not to spine3."""
        rp = np.array(self.parents)
        for chain in self.kinematic_chain:
            rp[chain[1]] = 0
        rp[0] = -1
        return rp


def _parents(chains, joints_num):
    parents = [-1] * joints_num
    for chain in chains:
        for a, b in zip(chain[:-1], chain[1:]):
            parents[b] = a
    return parents


def _perm(pairs, joints_num):
    perm = np.arange(joints_num)
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


def _frozen(a, dtype=np.float64):
    a = np.array(a, dtype=dtype)
    a.setflags(write=False)
    return a


T2M_CHAIN = [[0, 2, 5, 8, 11], [0, 1, 4, 7, 10], [0, 3, 6, 9, 12, 15], [9, 14, 17, 19, 21], [9, 13, 16, 18, 20]]
T2M_RAW_OFFSETS = [[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -1, 0],
                   [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1],
                   [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0]]
T2M_JOINT_NAMES = ["pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
                   "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
                   "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist"]
# Measured, not copied: median over all frames of the 7 sample motions' new_joints/*.npy of |joint - parent| (metres),
# rounded to mm. The spread is < 3e-6 m: every processed motion sits on the target skeleton (subject 000021),
# which is slightly asymmetric (left/right legs differ by 4-7 mm). tests/test_motion.py re-measures it.
T2M_BONE_LENGTHS = [0.0, 0.103, 0.110, 0.132, 0.394, 0.390, 0.143, 0.432, 0.426, 0.057, 0.143,
                    0.149, 0.219, 0.137, 0.143, 0.103, 0.132, 0.123, 0.257, 0.263, 0.266, 0.270]

KIT_CHAIN = [[0, 11, 12, 13, 14, 15], [0, 16, 17, 18, 19, 20], [0, 1, 2, 3, 4], [3, 5, 6, 7], [3, 8, 9, 10]]
KIT_RAW_OFFSETS = [[0, 0, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0], [0, -1, 0], [0, -1, 0],
                   [-1, 0, 0], [0, -1, 0], [0, -1, 0], [1, 0, 0], [0, -1, 0], [0, -1, 0], [0, 0, 1], [0, 0, 1],
                   [-1, 0, 0], [0, -1, 0], [0, -1, 0], [0, 0, 1], [0, 0, 1]]
# Sides follow the processing script (11 = r_hip, fid_r = [14, 15]) and the data: in the KIT mean pose joints 5 and 11
# sit at -x, i.e. on the right of a body facing +Z. StableMoFusion's KIT_JOINT_NAMES calls them "left".
KIT_JOINT_NAMES = ["root", "spine_low", "spine_high", "neck", "head", "right_shoulder", "right_elbow", "right_wrist",
                   "left_shoulder", "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle",
                   "right_heel", "right_toe", "left_hip", "left_knee", "left_ankle", "left_heel", "left_toe"]
# ESTIMATED, not measured (no KIT joints are available here): |joint - parent| of the KIT evaluator's mean pose
# (evaluator_meta/kit/mean.npy, ric block, mm), a lower bound by Jensen's inequality, times 1.1 (the median ratio of
# measured length / mean-pose estimate on HumanML3D), rounded to mm. Only used for retargeting and tests.
KIT_BONE_LENGTHS = [0, 84, 118, 44, 29, 107, 151, 100, 107, 151, 100,
                    49, 245, 248, 28, 50, 49, 245, 248, 28, 50]


def _skeleton(name, J, fps, raw, chain, names, fid_l, fid_r, face, l_idx, thr, radius, bones, pairs):
    return Skeleton(name=name, joints_num=J, feat_dim=8 + 9 * (J - 1) + 3 * J, fps=fps, raw_offsets=_frozen(raw),
                    kinematic_chain=chain, parents=_parents(chain, J), joint_names=names, fid_l=fid_l, fid_r=fid_r,
                    face_joint_indx=face, l_idx1=l_idx[0], l_idx2=l_idx[1], contact_threshold=thr, radius=radius,
                    bone_lengths=_frozen(bones), mirror_perm=_frozen(_perm(pairs, J), np.int64))


SKELETONS = {
    "t2m": _skeleton("t2m", 22, 20.0, T2M_RAW_OFFSETS, T2M_CHAIN, T2M_JOINT_NAMES, [7, 10], [8, 11], [2, 1, 17, 16],
                     (5, 8), 0.002, 4.0, T2M_BONE_LENGTHS,
                     [(1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21)]),
    "kit": _skeleton("kit", 21, 12.5, KIT_RAW_OFFSETS, KIT_CHAIN, KIT_JOINT_NAMES, [19, 20], [14, 15], [11, 16, 5, 8],
                     (17, 18), 0.05, 240.0 * 8, KIT_BONE_LENGTHS,
                     [(5, 8), (6, 9), (7, 10), (11, 16), (12, 17), (13, 18), (14, 19), (15, 20)]),
}


def _skel(kind) -> Skeleton:
    if kind not in SKELETONS:
        raise ValueError(f"motion.py: unknown skeleton kind {kind!r}; expected one of {sorted(SKELETONS)}")
    return SKELETONS[kind]


def feature_slices(kind="t2m") -> dict:
    """Name -> slice into the D-dim feature vector (motion_representation.ipynb). t2m: ric 4:67, rot6d 67:193,
    local_vel 193:259."""
    J = _skel(kind).joints_num
    bounds = np.cumsum([0, 1, 2, 1, 3 * (J - 1), 6 * (J - 1), 3 * J, 4])
    names = ["root_rot_vel", "root_lin_vel", "root_y", "ric", "rot6d", "local_vel", "foot_contact"]
    return {n: slice(int(a), int(b)) for n, a, b in zip(names, bounds[:-1], bounds[1:])}


# ----------------------------------------------------------------------------------------------------------------
# Quaternions (w, x, y, z), Hamilton product. qmul/qrot/qinv work on numpy arrays and torch tensors alike.
# ----------------------------------------------------------------------------------------------------------------

def _stack(xs, dim=-1):
    return torch.stack(xs, dim) if isinstance(xs[0], torch.Tensor) else np.stack(xs, dim)


def _cat(xs, dim=-1):
    return torch.cat(xs, dim) if isinstance(xs[0], torch.Tensor) else np.concatenate(xs, dim)


def _cross(a, b):
    """(..., 3) x (..., 3) cross product, numpy or torch, with broadcasting."""
    i, j = [1, 2, 0], [2, 0, 1]
    return a[..., i] * b[..., j] - a[..., j] * b[..., i]


def qmul(q, r):
    """Hamilton product q * r of (..., 4) quaternions (broadcasting)."""
    w0, x0, y0, z0 = (q[..., k] for k in range(4))
    w1, x1, y1, z1 = (r[..., k] for k in range(4))
    return _stack([w0 * w1 - x0 * x1 - y0 * y1 - z0 * z1, w0 * x1 + x0 * w1 + y0 * z1 - z0 * y1,
                   w0 * y1 - x0 * z1 + y0 * w1 + z0 * x1, w0 * z1 + x0 * y1 - y0 * x1 + z0 * w1])


def qrot(q, v):
    """Rotate (..., 3) vectors by unit (..., 4) quaternions: v + 2w(u x v) + 2u x (u x v), q = (w, u)."""
    u = q[..., 1:]
    uv = _cross(u, v)
    return v + 2 * (q[..., :1] * uv + _cross(u, uv))


def qinv(q):
    """Inverse of a unit quaternion (the conjugate)."""
    return _cat([q[..., :1], -q[..., 1:]])


def qbetween_np(v0, v1):
    """(..., 4) float64 shortest-arc rotation taking v0 to v1 ((..., 3) numpy, any length). The reference returns NaN
    for exactly opposite vectors (e.g. a motion facing exactly -Z); we return the 180-degree turn about an axis
    perpendicular to v0 (about Y for horizontal v0) instead."""
    v0, v1 = np.broadcast_arrays(np.asarray(v0, np.float64), np.asarray(v1, np.float64))
    scale = np.sqrt((v0 ** 2).sum(-1, keepdims=True) * (v1 ** 2).sum(-1, keepdims=True))
    q = np.concatenate([scale + (v0 * v1).sum(-1, keepdims=True), np.cross(v0, v1)], -1)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    bad = norm < 1e-7 * np.maximum(scale, 1e-300)
    if bad.any():
        alt = np.where(np.abs(v0[..., :1]) < 0.9 * np.sqrt((v0 ** 2).sum(-1, keepdims=True)),
                       np.cross(v0, [1.0, 0.0, 0.0]), np.cross(v0, [0.0, 1.0, 0.0]))
        alt = np.concatenate([np.zeros_like(scale), alt], -1)
        q = np.where(bad, alt, q)
        norm = np.linalg.norm(q, axis=-1, keepdims=True)
    return q / norm


def quaternion_to_cont6d(q):
    """(..., 4) quaternions -> (..., 6) continuous 6D rotation = [R[:, 0], R[:, 1]] (first two matrix COLUMNS)."""
    w, x, y, z = (q[..., k] for k in range(4))
    s = 2.0 / (q * q).sum(-1)
    return _stack([1 - s * (y * y + z * z), s * (x * y + z * w), s * (x * z - y * w),
                   s * (x * y - z * w), 1 - s * (x * x + z * z), s * (y * z + x * w)])


# ----------------------------------------------------------------------------------------------------------------
# Skeleton kinematics (HumanML3D common/skeleton.py), vectorised over frames and joints
# ----------------------------------------------------------------------------------------------------------------

def _unit(v):
    return v / np.sqrt((v ** 2).sum(-1, keepdims=True))


def _forward_dir(joints, r_hip, l_hip, sdr_r, sdr_l):
    """(T, 3) unnormalised horizontal facing direction from hips and shoulders: up x across."""
    across = _unit((joints[:, r_hip] - joints[:, l_hip]) + (joints[:, sdr_r] - joints[:, sdr_l]))
    return np.cross([0.0, 1.0, 0.0], across)


def inverse_kinematics_np(joints, face_joint_idx, smooth_forward=True, kind="t2m"):
    """Local joint quaternions (T, J, 4) float64 from global joint positions (T, J, 3) (common/skeleton.py).

    Root rotation maps the (gaussian-smoothed, sigma=20 frames, if `smooth_forward`) facing direction to +Z; frame 0's
    root rotation is forced to identity (reference behaviour, which recover_from_ric relies on). Each joint's rotation
    takes its raw rest direction onto the observed bone direction, relative to its chain's running rotation.
    Quirk kept (HumanML3D common/skeleton.py inverse_kinematics_np): face indices are unpacked as (l_hip, r_hip, sdr_r,
    sdr_l), i.e. the hip term enters with the opposite sign to process_file's; shoulders are wider than hips so the
    facing stays right.
    """
    sk = _skel(kind)
    l_hip, r_hip, sdr_r, sdr_l = face_joint_idx
    forward = _forward_dir(joints, r_hip, l_hip, sdr_r, sdr_l)
    if smooth_forward:
        forward = gaussian_filter1d(forward, 20, axis=0, mode="nearest")
    root_quat = qbetween_np(_unit(forward), [0.0, 0.0, 1.0])               # (T, 4)
    root_quat[0] = [1.0, 0.0, 0.0, 0.0]
    bones = _unit(joints[:, 1:] - joints[:, sk.parents[1:]])                # (T, J-1, 3)
    # Global rotation after joint j along its chain = the shortest arc raw_offset[j] -> bone[j].
    glob = np.concatenate([root_quat[:, None], qbetween_np(sk.raw_offsets[1:], bones)], 1)  # (T, J, 4)
    local = qmul(qinv(glob[:, sk.rot_parents[1:]]), glob[:, 1:])            # (T, J-1, 4)
    return np.concatenate([root_quat[:, None], local], 1)


def forward_kinematics_np(quat, root_pos, kind="t2m", offsets=None):
    """Joint positions (T, J, 3) from local quaternions (T, J, 4) and root positions (T, 3) (common/skeleton.py).

    `offsets` (J, 3) defaults to the target skeleton `SKELETONS[kind].offsets` (metres; KIT mm).
    """
    sk = _skel(kind)
    offsets = sk.offsets if offsets is None else np.asarray(offsets, np.float64)
    joints = np.zeros(quat.shape[:-1] + (3,))
    glob = [None] * sk.joints_num
    joints[:, 0], glob[0] = root_pos, quat[:, 0]
    for chain in sk.kinematic_chain:                  # chains are ordered so every parent is done first
        for j in chain[1:]:
            glob[j] = qmul(glob[sk.rot_parents[j]], quat[:, j])
            joints[:, j] = joints[:, sk.parents[j]] + qrot(glob[j], offsets[j])
    return joints


def uniform_skeleton(positions, kind="t2m"):
    """Retarget (T, J, 3) positions onto the target skeleton (motion_representation.ipynb `uniform_skeleton`): IK
    without smoothing, FK with the target offsets, root trajectory scaled by the lower-leg length ratio of frame 0."""
    sk = _skel(kind)
    p = _check_positions(positions, sk)
    legs = [sk.l_idx1, sk.l_idx2]
    src_len = np.linalg.norm(p[0, legs] - p[0, [sk.parents[j] for j in legs]], axis=-1)  # (2,) frame-0 lower leg
    scale = (sk.bone_lengths[sk.l_idx1] + sk.bone_lengths[sk.l_idx2]) / src_len.sum()
    quat = inverse_kinematics_np(p, sk.face_joint_indx, smooth_forward=False, kind=kind)
    return forward_kinematics_np(quat, p[:, 0] * scale, kind)


# ----------------------------------------------------------------------------------------------------------------
# Joints -> features (HumanML3D motion_representation.ipynb `process_file`)
# ----------------------------------------------------------------------------------------------------------------

def _check_positions(positions, sk):
    p = np.asarray(positions, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (sk.joints_num, 3) or p.shape[0] < 2:
        raise ValueError(f"motion.py: positions must have shape (T >= 2, {sk.joints_num}, 3) for kind "
                         f"{sk.name!r}, got {tuple(p.shape)}")
    if not np.isfinite(p).all():
        raise ValueError("motion.py: positions contain NaN/inf")
    return p


def extract_features(positions, kind="t2m") -> np.ndarray:
    """HumanML3D features (T-1, D) float32 from global joint positions (T, J, 3) (metres; KIT millimetres).

    The positions must already be on the target skeleton (`uniform_skeleton` does that retargeting step; the
    official data applied it first, every sample joint file is on it). Steps (process_file): floor at y=0, first-frame
    root XZ at the origin, first frame turned to face +Z, foot contacts (squared displacement < threshold), IK with
    smoothed forward -> root rotation r_rot and rot6d, root velocities, ric, local_vel. Source: process_file.
    Raises ValueError on a wrong shape, fewer than 2 frames or non-finite values. ~3 ms for 200 frames.
    """
    sk = _skel(kind)
    p = _check_positions(positions, sk).copy()
    p[..., 1] -= p[..., 1].min()                                            # put on floor
    first = p[0].copy()
    p -= first[0] * np.array([1.0, 0.0, 1.0])                               # first root XZ at the origin
    r_hip, l_hip, sdr_r, sdr_l = sk.face_joint_indx
    q_init = qbetween_np(_unit(_forward_dir(first[None], r_hip, l_hip, sdr_r, sdr_l)), [0.0, 0.0, 1.0])
    p = qrot(q_init[:, None], p)                                            # (T, J, 3), first frame faces +Z

    # Foot contacts: (T-1, 2) per foot, joints fid_l then fid_r.
    disp2 = ((p[1:] - p[:-1]) ** 2).sum(-1)                                 # (T-1, J)
    feet_l = (disp2[:, sk.fid_l] < sk.contact_threshold).astype(np.float64)
    feet_r = (disp2[:, sk.fid_r] < sk.contact_threshold).astype(np.float64)

    quat = inverse_kinematics_np(p, sk.face_joint_indx, smooth_forward=True, kind=kind)  # (T, J, 4)
    rot6d = quaternion_to_cont6d(quat)                                      # (T, J, 6)
    r_rot = quat[:, 0]                                                      # (T, 4) world -> facing +Z
    root_lin_vel = qrot(r_rot[1:], p[1:, 0] - p[:-1, 0])[:, [0, 2]]         # (T-1, 2) in next frame's facing
    r_vel = qmul(r_rot[1:], qinv(r_rot[:-1]))                               # (T-1, 4)
    root_rot_vel = np.arcsin(np.clip(r_vel[:, 2:3], -1.0, 1.0))             # half the yaw increment (rad)

    ric = p.copy()
    ric[..., [0, 2]] -= p[:, :1, [0, 2]]                                    # relative to root XZ, Y absolute
    ric = qrot(r_rot[:, None], ric)                                         # (T, J, 3) every frame faces +Z
    local_vel = qrot(r_rot[:-1, None], p[1:] - p[:-1])                      # (T-1, J, 3)

    T = len(p) - 1
    feats = [root_rot_vel, root_lin_vel, ric[:-1, 0, 1:2], ric[:-1, 1:].reshape(T, -1),  # (T-1, 3(J-1))
             rot6d[:-1, 1:].reshape(T, -1), local_vel.reshape(T, -1), feet_l, feet_r]    # (T-1, 6(J-1)), (T-1, 3J)
    return np.concatenate(feats, -1).astype(np.float32)                     # (T-1, D)


# ----------------------------------------------------------------------------------------------------------------
# Features -> joints (HumanML3D motion_representation.ipynb `recover_from_ric`). numpy in -> numpy out, torch in ->
# torch out, any leading dims.
# ----------------------------------------------------------------------------------------------------------------

def recover_root_rot_pos(data):
    """Root rotation (..., T, 4) and root position (..., T, 3) from features (..., T, D >= 4).

    Yaw half-angle theta_t = sum_{k<t} data[k, 0]; q_t = (cos theta_t, 0, sin theta_t, 0) (world -> facing);
    root XZ integrates data[t-1, 1:3] rotated back by inv(q_t); root Y = data[t, 3]. Source: HumanML3D notebook.
    """
    if data.ndim < 2 or data.shape[-1] < 4:
        raise ValueError(f"motion.py: features must have shape (..., T, D >= 4), got {tuple(data.shape)}")
    zero = data[..., :1, 0] * 0                                             # (..., 1)
    theta = _cat([zero, data[..., :-1, 0]]).cumsum(-1)                      # (..., T)
    cos, sin = (torch.cos, torch.sin) if isinstance(data, torch.Tensor) else (np.cos, np.sin)
    r_rot = _stack([cos(theta), theta * 0, sin(theta), theta * 0])        # (..., T, 4)
    vel = data[..., :-1, 1:3]                                               # (..., T-1, 2)
    step = _stack([vel[..., 0], vel[..., 0] * 0, vel[..., 1]])              # (..., T-1, 3)
    step = _cat([step[..., :1, :] * 0, step], -2)                           # (..., T, 3)
    r_pos = qrot(qinv(r_rot), step).cumsum(-2)                              # (..., T, 3)
    r_pos = _stack([r_pos[..., 0], data[..., 3], r_pos[..., 2]])
    return r_rot, r_pos


def recover_from_ric(data, joints_num, select=None):
    """Global joint positions (..., T, J, 3) from features (..., T, D), D = 8 + 9(J-1) + 3J (263 / 251).

    Uses only root_rot_vel, root_lin_vel, root_y and ric; dtype and array type follow the input. select: joint
    indices >= 1 to recover alone, (..., T, len(select), 3) (a training loss that reads a few joints rotates only
    those). Raises ValueError if D does not match `joints_num`.
    """
    expected = 8 + 9 * (joints_num - 1) + 3 * joints_num
    if data.ndim < 2 or data.shape[-1] != expected:
        raise ValueError(f"motion.py: recover_from_ric(joints_num={joints_num}) expects features (..., T, {expected}),"
                         f" got {tuple(data.shape)}")
    r_rot, r_pos = recover_root_rot_pos(data)
    ric = data[..., 4:4 + 3 * (joints_num - 1)]
    ric = ric.reshape(ric.shape[:-1] + (joints_num - 1, 3))                 # (..., T, J-1, 3)
    if select is not None:
        ric = ric[..., [j - 1 for j in select], :]                          # (..., T, len(select), 3)
    joints = qrot(qinv(r_rot)[..., None, :], ric)                           # back to world orientation
    joints = joints + _stack([r_pos[..., 0], r_pos[..., 0] * 0, r_pos[..., 2]])[..., None, :]  # add root XZ only
    return joints if select is not None else _cat([r_pos[..., None, :], joints], -2)  # (..., T, J, 3)


def recover_all_frames(data, joints_num):
    """(..., T+1, J, 3): recover_from_ric plus the position frame after the last feature row, rebuilt from that row's
    local_vel (p[T] = p[T-1] + inv(r_rot[T-1]) local_vel[T-1]). extract_features of the result gives back `data`
    (every group, rot6d included, ~1e-6): the smoothed facing then sees the same frames as the original processing."""
    joints = recover_from_ric(data, joints_num)                             # (..., T, J, 3)
    r_rot, _ = recover_root_rot_pos(data)
    start = 4 + 9 * (joints_num - 1)
    vel = data[..., -1, start:start + 3 * joints_num]
    vel = vel.reshape(vel.shape[:-1] + (joints_num, 3))                     # (..., J, 3)
    last = joints[..., -1, :, :] + qrot(qinv(r_rot[..., -1, None, :]), vel)
    return _cat([joints, last[..., None, :, :]], -3)


# ----------------------------------------------------------------------------------------------------------------
# Left/right mirroring (how the "M" ids of HumanML3D were made: raw_pose_processing.py `swap_left_right`)
# ----------------------------------------------------------------------------------------------------------------

def _like(x, values):
    if isinstance(x, torch.Tensor):
        return torch.as_tensor(values, dtype=x.dtype, device=x.device)
    return np.asarray(values, dtype=x.dtype)


def mirror_joints(positions, kind="t2m"):
    """Mirror joint positions (..., J, 3) in the YZ plane: swap left/right joints, negate x. numpy or torch."""
    sk = _skel(kind)
    if positions.shape[-2:] != (sk.joints_num, 3):
        raise ValueError(f"motion.py: mirror_joints expects (..., {sk.joints_num}, 3), got {tuple(positions.shape)}")
    return positions[..., sk.mirror_perm.tolist(), :] * _like(positions, [-1.0, 1.0, 1.0])


@lru_cache(maxsize=None)
def _feature_mirror(kind):
    """(D,) source index and (D,) sign so that mirrored = features[..., index] * sign."""
    sk, sl = _skel(kind), feature_slices(kind)
    perm = sk.mirror_perm
    index, sign = np.arange(sk.feat_dim), np.ones(sk.feat_dim)
    sign[0] = sign[1] = -1.0                                                # yaw velocity, root x velocity
    for name, width, signs, first in [("ric", 3, [-1, 1, 1], 1), ("rot6d", 6, [1, -1, -1, -1, 1, 1], 1),
                                      ("local_vel", 3, [-1, 1, 1], 0)]:
        j = np.arange(first, sk.joints_num)
        src = sl[name].start + width * (perm[j] - first)[:, None] + np.arange(width)  # (J', width)
        dst = sl[name].start + width * (j - first)[:, None] + np.arange(width)
        index[dst], sign[dst] = src, signs
    index[sl["foot_contact"]] = sl["foot_contact"].start + np.array([2, 3, 0, 1])  # (l_ankle, l_toe, r_...) swap
    return index, sign


def mirror_features(features, kind="t2m"):
    """Mirror features (..., D) so that mirror_features(extract_features(p)) == extract_features(mirror_joints(p)).

    A mirror M = diag(-1, 1, 1) turns every rotation R into M R M: the yaw velocity and root x velocity flip sign,
    ric/local_vel swap joints and negate x, rot6d columns [c0, c1] become [(c0x, -c0y, -c0z), (-c1x, c1y, c1z)],
    left/right foot contacts swap. Exact up to float rounding (the raw offsets are mirror-symmetric). The official
    "M" files were retargeted after mirroring, so they differ from this by the skeleton's 4-7 mm asymmetry.
    """
    sk = _skel(kind)
    if features.shape[-1] != sk.feat_dim:
        raise ValueError(f"motion.py: mirror_features(kind={kind!r}) expects (..., {sk.feat_dim}) features, "
                         f"got {tuple(features.shape)}")
    index, sign = _feature_mirror(kind)
    if isinstance(features, torch.Tensor):
        return features[..., torch.as_tensor(index, device=features.device)] * _like(features, sign)
    return features[..., index] * sign.astype(features.dtype)


# ----------------------------------------------------------------------------------------------------------------
# A geometric training loss on the features (MDM's foot contact)
# ----------------------------------------------------------------------------------------------------------------
def foot_contact_loss(x0_pred: torch.Tensor, x0: torch.Tensor, mask: torch.Tensor, mean: torch.Tensor,
                      std: torch.Tensor, kind: str = "t2m") -> torch.Tensor:
    """MDM's foot-contact loss (Tevet et al. 2023, "Human Motion Diffusion Model", sec. 3, L_foot; its code's
    lambda_fc term): the squared frame-to-frame displacement of the predicted foot joints wherever the data marks
    that joint as in contact, so a planted foot of the prediction may not move.

    x0_pred, x0: (B, T, D) float normalised features (x = (features - mean) / std); mask: (B, T) bool valid frames;
    mean, std: (D,) float tensors. The predicted joints are recover_from_ric of the de-normalised prediction (metres;
    KIT-ML millimetres), foot joints fid_l + fid_r (HumanML3D: left ankle 7, left toe 10, right ankle 8, right toe
    11), the order of the 4 foot_contact channels; contact at frame t is the data's channel > 0.5, which
    extract_features sets from the displacement t -> t+1, so it masks the pair (t, t+1), counted when both frames
    are valid. As MDM's masked_l2: per sample, the sum of the masked squared displacements over the valid pairs x 4
    joints x 3 coordinates. Returns (B,) float (metres^2 per frame^2). Raises ValueError for a wrong feature width.
    """
    sk = _skel(kind)
    if x0_pred.shape != x0.shape or x0.shape[-1] != sk.feat_dim:
        raise ValueError(f"motion.py: foot_contact_loss(kind={kind!r}) expects two (B, T, {sk.feat_dim}) feature "
                         f"tensors, got {tuple(x0_pred.shape)} and {tuple(x0.shape)}")
    feet = list(sk.fid_l) + list(sk.fid_r)
    joints = recover_from_ric(x0_pred * std + mean, sk.joints_num, select=feet)    # (B, T, 4, 3)
    contact = (x0[..., -4:] * std[-4:] + mean[-4:]) > 0.5                        # (B, T, 4) the data's channels
    pair = mask[:, 1:] & mask[:, :-1]                                            # (B, T-1) both frames valid
    moved = (joints[:, 1:] - joints[:, :-1]).pow(2).sum(-1)                      # (B, T-1, 4) squared displacement
    weight = (contact[:, :-1] & pair[..., None]).to(moved.dtype)
    return (moved * weight).sum((1, 2)) / (pair.sum(1).clamp(min=1) * len(feet) * 3).to(moved.dtype)
