"""Tests for motion.py: parity with the real HumanML3D sample, round trips, mirroring, KIT shapes, errors.

Run: python -m pytest -q tests/test_motion.py
"""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

import motion
from motion import SKELETONS, extract_features, feature_slices, recover_all_frames, recover_from_ric

T2M = SKELETONS["t2m"]
POSITION_GROUPS = ["root_rot_vel", "root_lin_vel", "root_y", "ric", "local_vel", "foot_contact"]


@pytest.fixture(scope="module")
def sample(hml3d_sample):
    """{id: (features (T, 263), joints (T, 22, 3))} for the motions that have new_joints. The real files mix float32
    and float64 (000000's features are float64), so dtypes are kept as stored."""
    out = {}
    for path in sorted((hml3d_sample / "new_joints").glob("*.npy")):
        out[path.stem] = (np.load(hml3d_sample / "new_joint_vecs" / path.name), np.load(path))
    assert len(out) >= 1
    return out


def _bones(joints, sk):
    return np.linalg.norm(joints[..., 1:, :] - joints[..., sk.parents[1:], :], axis=-1)  # (..., J-1)


def _kit_motion(T=60, seed=0):
    """A skeleton-consistent KIT motion (T, 21, 3) in mm: smooth random local rotations, turning walk."""
    rng = np.random.default_rng(seed)
    sk, t = SKELETONS["kit"], np.linspace(0, 1, T)[:, None]
    axes = rng.normal(size=(sk.joints_num, 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    angles = 0.4 * np.sin(2 * np.pi * (t * rng.uniform(0.5, 2, sk.joints_num) + rng.uniform(size=sk.joints_num)))
    quat = np.concatenate([np.cos(angles / 2)[..., None], np.sin(angles / 2)[..., None] * axes], -1)  # (T, J, 4)
    yaw = 1.5 * t[:, 0]
    quat[:, 0] = np.stack([np.cos(yaw / 2), 0 * yaw, np.sin(yaw / 2), 0 * yaw], -1)
    root = np.stack([800 * t[:, 0], 550 + 20 * np.sin(6 * t[:, 0]), 300 * t[:, 0] ** 2], -1)
    return motion.forward_kinematics_np(quat, root, "kit")


# ----------------------------------------------------------------------------------------------------------------
# Constants
# ----------------------------------------------------------------------------------------------------------------

def test_constants():
    for kind, D, J in [("t2m", 263, 22), ("kit", 251, 21)]:
        sk, sl = SKELETONS[kind], feature_slices(kind)
        assert sk.feat_dim == D and sk.joints_num == J and sl["foot_contact"].stop == D
        assert len(sk.parents) == len(sk.joint_names) == len(sk.bone_lengths) == J == sk.raw_offsets.shape[0]
        perm = sk.mirror_perm
        assert (perm[perm] == np.arange(J)).all()
        assert perm[sk.fid_l].tolist() == sk.fid_r
        # Raw rest directions are mirror-symmetric, which mirror_features relies on.
        np.testing.assert_array_equal(sk.raw_offsets[perm] * [-1, 1, 1], sk.raw_offsets)
    assert feature_slices("t2m")["rot6d"] == slice(67, 193) and feature_slices("kit")["ric"] == slice(4, 64)


def test_bone_lengths_match_sample(sample):
    """The hard-coded target skeleton equals the median bone lengths of the sample's new_joints (to the mm)."""
    lengths = np.median(np.concatenate([_bones(j, T2M) for _, j in sample.values()]), axis=0)
    np.testing.assert_allclose(T2M.bone_lengths[1:], lengths, atol=1e-3)


def test_quaternions_match_scipy():
    rng = np.random.default_rng(0)
    q, r, v = rng.normal(size=(50, 4)), rng.normal(size=(50, 4)), rng.normal(size=(50, 3))
    q, r = q / np.linalg.norm(q, axis=-1, keepdims=True), r / np.linalg.norm(r, axis=-1, keepdims=True)
    Rq, Rr = Rotation.from_quat(q[:, [1, 2, 3, 0]]), Rotation.from_quat(r[:, [1, 2, 3, 0]])
    np.testing.assert_allclose(motion.qrot(q, v), Rq.apply(v), atol=1e-12)
    np.testing.assert_allclose(motion.qrot(motion.qmul(q, r), v), (Rq * Rr).apply(v), atol=1e-12)
    np.testing.assert_allclose(motion.qrot(motion.qinv(q), motion.qrot(q, v)), v, atol=1e-12)
    mat = Rq.as_matrix()
    rot6d = np.concatenate([mat[..., 0], mat[..., 1]], -1)                       # first two columns
    np.testing.assert_allclose(motion.quaternion_to_cont6d(q), rot6d, atol=1e-12)
    qt = torch.from_numpy(q)
    np.testing.assert_allclose(motion.qrot(qt, torch.from_numpy(v)).numpy(), Rq.apply(v), atol=1e-12)
    # qbetween, including exactly opposite vectors (the reference gives NaN there).
    v1 = np.concatenate([rng.normal(size=(50, 3)), [[0, 0, -1.0], [0, 1.0, 0]]])
    v0 = np.concatenate([v, [[0, 0, 1.0], [0, -1.0, 0]]])
    got = motion.qrot(motion.qbetween_np(v0, v1), v0 / np.linalg.norm(v0, axis=-1, keepdims=True))
    np.testing.assert_allclose(got, v1 / np.linalg.norm(v1, axis=-1, keepdims=True), atol=1e-12)


# ----------------------------------------------------------------------------------------------------------------
# Parity with the real sample
# ----------------------------------------------------------------------------------------------------------------

def test_recover_from_ric_matches_new_joints(sample):
    for name, (x, joints) in sample.items():
        np.testing.assert_allclose(recover_from_ric(x, 22), joints, atol=1e-4, err_msg=name)
        got = recover_from_ric(torch.from_numpy(x)[None, None], 22)              # (1, 1, T, J, 3)
        assert got.dtype == torch.from_numpy(x).dtype and got.shape == (1, 1) + joints.shape
        np.testing.assert_allclose(got[0, 0].numpy(), joints, atol=1e-4, err_msg=name)


# Max |extract_features(recover_from_ric(x)) - x[:-1]| measured on the 7 sample motions (x 1.5 margin). Only T positions
# are recovered, so the sigma=20 forward smoothing sees a different last frame: rows within ~40 frames of the end move.
OVERLAP_ATOL = {"root_rot_vel": 1.1e-3, "root_lin_vel": 3e-3, "root_y": 1e-6, "ric": 1.6e-2, "local_vel": 1e-2,
                "foot_contact": 0.0, "rot6d": 5e-2}


def test_extract_features_of_recovered_joints(sample):
    sl = feature_slices("t2m")
    for name, (x, _) in sample.items():
        got = extract_features(recover_from_ric(x, 22))
        assert got.dtype == np.float32 and got.shape == (len(x) - 1, 263)
        for group, atol in OVERLAP_ATOL.items():
            np.testing.assert_allclose(got[:, sl[group]], x[:-1, sl[group]], atol=atol, rtol=0,
                                       err_msg=f"{name} {group}")
        # Rows more than 60 frames before the end barely feel the smoothing edge (measured <= 7e-5).
        keep = max(len(got) - 60, 0)
        np.testing.assert_allclose(got[:keep], x[:keep], atol=1e-4, rtol=0, err_msg=name)


def test_extract_features_exact_with_all_frames(sample):
    """With the last position frame rebuilt from local_vel, every group (rot6d included) is reproduced: this pins the
    reference quirks (identity root at frame 0, face-index order, collars hanging off the root rotation)."""
    for name, (x, _) in sample.items():
        positions = recover_all_frames(x, 22)
        assert positions.shape == (len(x) + 1, 22, 3)
        np.testing.assert_allclose(extract_features(positions), x, atol=2e-5, rtol=0, err_msg=name)  # measured 7.7e-6
        torch_positions = recover_all_frames(torch.from_numpy(x), 22)
        np.testing.assert_allclose(torch_positions.numpy(), positions, atol=1e-5)


# ----------------------------------------------------------------------------------------------------------------
# Invariants
# ----------------------------------------------------------------------------------------------------------------

def test_round_trip_keeps_bone_lengths(sample):
    for name, (_, joints) in sample.items():
        rec = recover_from_ric(extract_features(joints), 22)
        bones = _bones(rec, T2M)
        assert bones.std(0).max() < 1e-5, name
        np.testing.assert_allclose(bones.mean(0), T2M.bone_lengths[1:], atol=1e-3, err_msg=name)


def test_uniform_skeleton_retargets(sample):
    joints = next(iter(sample.values()))[1].astype(np.float64)
    # Already on the target skeleton: unchanged up to the mm rounding of the constants.
    np.testing.assert_allclose(motion.uniform_skeleton(joints), joints, atol=3e-3)
    # A 1.2x larger person is brought back to the target size; first frame root keeps its direction.
    retargeted = motion.uniform_skeleton(joints * 1.2)
    target = np.broadcast_to(T2M.bone_lengths[1:], (len(joints), 21))
    np.testing.assert_allclose(_bones(retargeted, T2M), target, atol=1e-9)
    np.testing.assert_allclose(retargeted, joints, atol=3e-3)


def test_mirroring(sample):
    sl = feature_slices("t2m")
    for name, (x, _) in sample.items():
        positions = recover_all_frames(x, 22)
        mirror = motion.mirror_joints(positions)
        np.testing.assert_array_equal(motion.mirror_joints(mirror), positions)
        np.testing.assert_array_equal(motion.mirror_features(motion.mirror_features(x)), x)
        want, got = extract_features(mirror), motion.mirror_features(extract_features(positions))
        for group in POSITION_GROUPS:
            np.testing.assert_allclose(got[:, sl[group]], want[:, sl[group]], atol=1e-5, rtol=0,
                                       err_msg=f"{name} {group}")
        np.testing.assert_allclose(got[:, sl["rot6d"]], want[:, sl["rot6d"]], atol=1e-4, rtol=0, err_msg=name)
        # Mirroring features is the same as mirroring the recovered joints.
        np.testing.assert_allclose(recover_from_ric(motion.mirror_features(x), 22),
                                   motion.mirror_joints(recover_from_ric(x, 22)), atol=1e-5)
        xt = torch.from_numpy(x)
        np.testing.assert_array_equal(motion.mirror_features(xt).numpy(), motion.mirror_features(x))
        np.testing.assert_array_equal(motion.mirror_joints(torch.from_numpy(positions)).numpy(), mirror)


def test_kit_shapes_and_round_trip():
    sk = SKELETONS["kit"]
    positions = _kit_motion()
    x = extract_features(positions, "kit")
    assert x.shape == (59, 251) and x.dtype == np.float32 and np.isfinite(x).all()
    rec = recover_all_frames(x, 21)
    np.testing.assert_allclose(_bones(rec, sk), np.broadcast_to(sk.bone_lengths[1:], (60, 20)), atol=1e-2)
    np.testing.assert_allclose(extract_features(rec, "kit"), x, atol=1e-3, rtol=1e-5)
    mirrored = motion.mirror_features(x, "kit")
    np.testing.assert_allclose(mirrored, extract_features(motion.mirror_joints(positions, "kit"), "kit"), atol=1e-3,
                               rtol=1e-5)
    rot6d = x[:, feature_slices("kit")["rot6d"]].reshape(59, 20, 6)             # (T, J-1, 6) unit columns
    np.testing.assert_allclose(np.linalg.norm(rot6d[..., :3], axis=-1), 1.0, atol=1e-5)


def test_ik_fk_round_trip(sample):
    joints = next(iter(sample.values()))[1].astype(np.float64)
    quat = motion.inverse_kinematics_np(joints, T2M.face_joint_indx, smooth_forward=True)
    offsets = T2M.raw_offsets * np.concatenate([[0.0], _bones(joints[0], T2M)])[:, None]   # (J, 3) this motion's
    np.testing.assert_allclose(motion.forward_kinematics_np(quat, joints[:, 0], offsets=offsets), joints, atol=1e-5)


def test_recovering_selected_joints_equals_the_full_recovery():
    x = 0.1 * torch.randn(2, 40, 263, generator=torch.Generator().manual_seed(0))       # turning, travelling
    full = recover_from_ric(x, 22)
    torch.testing.assert_close(recover_from_ric(x, 22, select=[7, 10, 8, 11]), full[:, :, [7, 10, 8, 11]])


def test_numpy_torch_agree(sample):
    x = np.stack([v[0][:60] for v in sample.values()][:3])                      # (B, T, D)
    for fn in [lambda d: motion.recover_root_rot_pos(d)[1], lambda d: recover_from_ric(d, 22), motion.mirror_features]:
        np.testing.assert_allclose(fn(torch.from_numpy(x)).numpy(), fn(x), atol=1e-5)


def test_clear_errors():
    with pytest.raises(ValueError, match="263"):
        recover_from_ric(np.zeros((10, 251), np.float32), 22)
    with pytest.raises(ValueError, match="251"):
        motion.mirror_features(torch.zeros(3, 263), "kit")
    with pytest.raises(ValueError, match=r"\(T >= 2, 22, 3\)"):
        extract_features(np.zeros((10, 21, 3)))
    with pytest.raises(ValueError, match="T >= 2"):
        extract_features(np.zeros((1, 22, 3)))
    with pytest.raises(ValueError, match="NaN"):
        extract_features(np.full((5, 22, 3), np.nan))
    with pytest.raises(ValueError, match="unknown skeleton kind"):
        feature_slices("smpl")
    with pytest.raises(ValueError, match="21, 3"):
        motion.mirror_joints(np.zeros((4, 22, 3)), "kit")


def test_foot_contact_loss_penalises_a_sliding_planted_foot_only():
    """MDM's L_foot on hand-made features: a left toe sliding 5 cm a frame costs 0.05^2 per contact pair over
    (valid pairs x 4 feet x 3 coordinates); the same slide without the data's contact, or a planted toe that stays,
    costs nothing; padding pairs are left out; the gradient reaches the toe's ric channels."""
    D, T = 263, 10
    mean, std = torch.zeros(D), torch.ones(D)
    pred = torch.zeros(3, T, D)
    pred[..., 3] = 0.9                                            # root height
    toe_x = 4 + 3 * (10 - 1)                                     # ric x of joint 10 (left toe)
    pred[:2, :, toe_x] = torch.arange(T) * 0.05                   # rows 0, 1: the toe slides along x
    data = torch.zeros(3, T, D)
    data[[0, 2], :, D - 3] = 1.0                                  # rows 0, 2: the data plants the left toe
    mask = torch.ones(3, T, dtype=torch.bool)
    mask[0, 6:] = False                                           # row 0: 6 valid frames, 5 valid pairs
    pred.requires_grad_(True)
    loss = motion.foot_contact_loss(pred, data, mask, mean, std)
    torch.testing.assert_close(loss, torch.tensor([0.05 ** 2 * 5 / (5 * 4 * 3), 0.0, 0.0]))
    loss.sum().backward()
    assert pred.grad[0, :6, toe_x].abs().sum() > 0 and pred.grad[0, 6:].abs().sum() == 0
    with pytest.raises(ValueError, match="foot_contact_loss"):
        motion.foot_contact_loss(pred[..., :100], data[..., :100], mask, mean[:100], std[:100])
