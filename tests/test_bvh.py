"""BVH export (bvh.py): inverse kinematics, the file written and read back with bvhio, units and rest pose.

The round trip goes positions -> IK -> .bvh (bvhio writer) -> bvhio reader -> bvhio's own forward kinematics ->
positions, and must give back the input within ROUND_TRIP_MM on the real HumanML3D sample, including motions that
turn around (facing -Z, where shortest-arc IK from fixed world directions breaks).
"""
from pathlib import Path

import numpy as np
import pytest

from bvh import bvh_forward_kinematics, positions_to_bvh, read_bvh, write_bvh
from motion import SKELETONS, qinv, qmul, qrot

pytest.importorskip("bvhio")

ROUND_TRIP_MM = 0.05   # measured: <= 0.006 mm on the 7 sample motions (6 decimals in the file, float64 elsewhere)


def _angle_deg(q):
    return np.degrees(2 * np.arccos(np.clip(np.abs(q[..., 0]), 0, 1)))


def _yaw(angles_rad):
    """(T, 4) quaternions about +Y; a positive angle turns +Z towards +X (the body's left)."""
    a = np.asarray(angles_rad, np.float64)
    return np.stack([np.cos(a / 2), 0 * a, np.sin(a / 2), 0 * a], -1)


def _spin(joints, angles_rad):
    """Rotate every frame of (T, J, 3) positions about the vertical through its root by its own yaw angle."""
    q = np.broadcast_to(_yaw(angles_rad)[:, None], joints.shape[:2] + (4,))
    return qrot(q, joints - joints[:, :1]) + joints[:, :1]


def _file_round_trip(joints, tmp_path: Path, kind="t2m"):
    path = write_bvh(joints, tmp_path / "m", kind)
    names, pos, fps = read_bvh(path)
    order = [SKELETONS[kind].joint_names.index(n) for n in names]
    scale = {"t2m": 100.0, "kit": 0.1}[kind]                                 # the file is in centimetres
    err_mm = np.linalg.norm(pos / scale - joints[:, order], axis=-1) * (1000.0 if kind == "t2m" else 1.0)
    return err_mm, fps, path


def test_round_trip_through_the_file_on_real_motions(hml3d_sample, tmp_path):
    files = sorted((hml3d_sample / "new_joints").glob("*.npy"))
    assert len(files) >= 5
    turned = []
    for f in files:
        joints = np.load(f).astype(np.float64)
        err_mm, fps, _ = _file_round_trip(joints, tmp_path)
        assert err_mm.max() < ROUND_TRIP_MM, (f.name, err_mm.max())
        assert fps == pytest.approx(20.0)
        r_hip, l_hip = SKELETONS["t2m"].face_joint_indx[:2]
        across = joints[:, r_hip] - joints[:, l_hip]
        turned.append(np.ptp(np.degrees(np.arctan2(across[:, 2], -across[:, 0]))))
    assert max(turned) > 300, "the sample should contain a motion that turns around (M010655 does)"


def test_facing_backwards_and_spinning(hml3d_sample, tmp_path):
    """A motion turned to face -Z for its whole length, and one spun through a full turn, come back from the file;
    their local rotations (all but the root's) equal the unturned motion's: the IK does not depend on facing."""
    joints = np.load(hml3d_sample / "new_joints" / "000000.npy").astype(np.float64)
    T = len(joints)
    reference = positions_to_bvh(joints)
    for name, angles in (("backwards", np.full(T, np.pi)), ("spin", np.linspace(0, 2 * np.pi, T))):
        turned = _spin(joints, angles)
        err_mm, _, _ = _file_round_trip(turned, tmp_path)
        assert err_mm.max() < ROUND_TRIP_MM, (name, err_mm.max())
        motion = positions_to_bvh(turned)
        assert _angle_deg(qmul(qinv(reference.quats[:, 1:]), motion.quats[:, 1:])).max() < 1e-3, name
        root_turn = _angle_deg(qmul(qinv(qmul(_yaw(angles), reference.quats[:, 0])), motion.quats[:, 0]))
        assert root_turn.max() < 1e-3, name


@pytest.mark.parametrize("kind", ["t2m", "kit"])
def test_ik_inverts_bvh_forward_kinematics(kind):
    """Constructed: random local rotations (up to 80 degrees) and a root yaw over a full turn on a rest pose with
    tilted hips/collars; IK of the FK positions gives positions back to 1e-6 of the skeleton's unit."""
    sk = SKELETONS[kind]
    rng = np.random.default_rng(0)
    T, J = 40, sk.joints_num
    rest = positions_to_bvh(np.repeat(_rest_positions(kind)[None], 2, 0), kind)
    axis = rng.normal(size=(T, J, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = np.radians(rng.uniform(-80, 80, size=(T, J, 1)))
    quats = np.concatenate([np.cos(angle / 2), axis * np.sin(angle / 2)], -1)
    quats[:, 0] = qmul(_yaw(np.linspace(-np.pi, np.pi, T)), quats[:, 0])
    rest.quats, rest.root_pos = quats, rng.normal(size=(T, 3))
    positions = bvh_forward_kinematics(rest)
    back = bvh_forward_kinematics(positions_to_bvh(positions, kind))
    unit = 1.0 if kind == "t2m" else 1000.0
    assert np.abs(back - positions).max() < 1e-6 * unit


def _rest_positions(kind):
    """(J, 3) a standing pose on the skeleton's bone lengths: raw offset directions, hips tilted down, collars up."""
    sk = SKELETONS[kind]
    d = np.array(sk.raw_offsets, np.float64)
    for j, name in enumerate(sk.joint_names):
        if name.endswith("hip") or name.endswith("collar") or (kind == "kit" and name.endswith("shoulder")):
            d[j] = d[j] + [0.0, -0.6 if name.endswith("hip") else 0.3, 0.1]
    d /= np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)
    if kind == "kit":  # KIT's raw offsets put the right hip / shoulder at +X; the data has them at -X
        for j, name in enumerate(sk.joint_names):
            if name.startswith("right") and name.split("_")[1] in ("hip", "shoulder"):
                d[j, 0] = -abs(d[j, 0])
            if name.startswith("left") and name.split("_")[1] in ("hip", "shoulder"):
                d[j, 0] = abs(d[j, 0])
    p = np.zeros((sk.joints_num, 3))
    for chain in sk.kinematic_chain:
        for j in chain[1:]:
            p[j] = p[sk.parents[j]] + d[j] * sk.bone_lengths[j]
    return p


def test_file_units_rest_pose_and_frame_rate(hml3d_sample, tmp_path):
    """Centimetres, Y up, the root first with 6 channels, a rest pose that stands (head up, feet down, left at +X)."""
    joints = np.load(hml3d_sample / "new_joints" / "007005.npy").astype(np.float64)
    path = write_bvh(joints, tmp_path / "walk.bvh")
    text = path.read_text().splitlines()
    assert text[0] == "HIERARCHY" and text[1] == "ROOT pelvis"
    assert "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" in text[4]
    assert "Frames: %d" % len(joints) in text and "Frame Time: 0.05" in text
    first = [float(v) for v in text[text.index("Frame Time: 0.05") + 1].split()[:3]]
    assert first == pytest.approx(joints[0, 0] * 100, abs=1e-3)              # root position in cm
    motion = positions_to_bvh(joints)
    motion.quats = np.tile([1.0, 0, 0, 0], motion.quats.shape[:2] + (1,))
    motion.root_pos = np.zeros((len(joints), 3))
    rest = bvh_forward_kinematics(motion)[0]                               # (J, 3) metres, identity rotations
    names = SKELETONS["t2m"].joint_names
    at = {n: rest[names.index(n)] for n in names}
    assert at["head"][1] > 0.45 and at["left_ankle"][1] < -0.75 and at["right_ankle"][1] < -0.75
    assert at["left_hip"][0] > 0.04 and at["right_hip"][0] < -0.04
    assert at["left_shoulder"][0] > 0.1 and at["right_shoulder"][0] < -0.1
    assert at["left_wrist"][1] < at["left_shoulder"][1] - 0.4             # arms hang down (HumanML3D's raw offsets)
    bones = np.linalg.norm(rest[1:] - rest[SKELETONS["t2m"].parents[1:]], axis=-1)
    assert bones == pytest.approx(SKELETONS["t2m"].bone_lengths[1:], abs=1e-3)  # the real offsets


def test_bad_input():
    with pytest.raises(ValueError, match=r"\(T, 22, 3\)"):
        positions_to_bvh(np.zeros((10, 21, 3)))
    with pytest.raises(ValueError, match="NaN"):
        positions_to_bvh(np.full((10, 22, 3), np.nan))
    with pytest.raises(ValueError, match="unknown skeleton kind"):
        positions_to_bvh(np.zeros((10, 22, 3)), kind="smpl")
