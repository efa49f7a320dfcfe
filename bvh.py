"""BVH export: joint positions -> per-joint local rotations on the HumanML3D / KIT-ML skeleton -> a .bvh file.

Animation tools (Blender, Maya, MotionBuilder, Unity) take BVH: a joint hierarchy with rest offsets, then per frame
the root translation and one local rotation per joint. Motions here are joint positions (motion.recover_from_ric),
so the rotations come from inverse kinematics. The file is written and read with bvhio (PyPI, MIT licence).

Why not motion.inverse_kinematics_np: HumanML3D's IK gives every BONE a shortest-arc rotation from a fixed world
direction, so (a) a joint with several children (pelvis: both hips and the spine; spine3: the neck and both
collars) gets one rotation per child where BVH allows one per joint, and (b) a shortest arc is undefined when a
bone points opposite to its rest direction - the hips of a body facing backwards (-Z) - and jumps near it.

The IK here, per joint, parents first (every frame independently, no smoothing):
  - a joint with several children (root included): the rotation that best maps the rest offsets of its children
    onto their current offsets (Kabsch / orthogonal Procrustes, SVD); its yaw covers all 360 degrees;
  - a joint with one child: the parent's rotation followed by the shortest arc from the child's rest direction (as
    the parent carries it) to its current direction - no twist relative to the parent, no singularity at 180 degrees
    of facing - and, for hips, shoulders and knees, a twist about the bone that puts the limb plane (thigh/shin,
    upper arm/forearm, shin/foot) where the rest pose has it, faded out when the limb is nearly straight;
  - a leaf (feet, head, wrists; KIT toes): no rotation of its own.
Rest pose: the motion's own median bone lengths (for HumanML3D data these are the target skeleton's,
motion.T2M_BONE_LENGTHS), HumanML3D's raw offset directions for one-child bones (legs and arms hang down) except
the T2M head (raw +Z; here +Y, upright) and the collar -> shoulder bones (raw down; here outwards), and the
directions measured in the motion for the children of multi-child joints (hips below the pelvis, collars beside
the neck). Positions then come back exactly when the motion keeps its bone lengths and rigid pelvis/chest (real
data: < 0.01 mm); a generated motion that stretches its bones comes back as the closest motion on one skeleton.

Units in the file: CENTIMETRES (HumanML3D metres x 100, KIT millimetres / 10), Y up, the motion's own frame rate.
Rotation channels are Z X Y (intrinsic), in degrees, as most BVH files have them.

    python bvh.py joints.npy out.bvh [t2m|kit]          # a (T, J, 3) joints .npy as sample.py writes it
Test: python -m pytest -q tests/test_bvh.py
"""
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from motion import SKELETONS, qbetween_np, qinv, qmul, qrot

CM_PER_UNIT = {"t2m": 100.0, "kit": 0.1}   # the file is in centimetres; HumanML3D is in metres, KIT in millimetres
# Rest directions that replace HumanML3D's raw offsets, for a rest pose animators expect: the head up (raw: +Z, forward)
# and the collar -> shoulder bones outwards (raw: down, which hangs the shoulder joints under the collars).
REST_DIRECTION = {"t2m": {15: (0.0, 1.0, 0.0), 16: (1.0, 0.0, 0.0), 17: (-1.0, 0.0, 0.0)}, "kit": {}}
HINGE_BEND = {"knee": (0.0, 0.0, -1.0), "elbow": (0.0, 0.0, 1.0)}  # where a bent shin / forearm points at rest
LIMB_STRAIGHT = np.sin(np.radians(20.0))   # below this bend (sine) the limb-plane twist fades out linearly


@dataclass
class BvhMotion:
    """A motion on a BVH skeleton. names: J joint names; parents: J ints (-1 root); offsets: (J, 3) rest offsets
    from the parent (root: zeros); end_sites: (J, 3) tip offsets of leaves (zeros elsewhere); quats: (T, J, 4)
    local rotations (w, x, y, z); root_pos: (T, 3). Lengths in the motion's units (metres; KIT mm); float64."""
    names: list
    parents: list
    offsets: np.ndarray
    end_sites: np.ndarray
    quats: np.ndarray
    root_pos: np.ndarray
    fps: float


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(T, 4) quaternions of the rotations R minimising sum_c |R src_c - dst_tc|^2. src (C, 3), dst (T, C, 3), C >= 2
    not collinear. Kabsch 1976; the sign fix keeps a proper rotation."""
    H = np.einsum("ci,tcj->tij", src, dst)                                 # (T, 3, 3) cross-covariance
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.swapaxes(Vt, 1, 2) @ np.swapaxes(U, 1, 2)))  # (T,)
    D = np.tile(np.eye(3), (len(H), 1, 1))
    D[:, 2, 2] = d
    R = np.swapaxes(Vt, 1, 2) @ D @ np.swapaxes(U, 1, 2)                   # (T, 3, 3)
    return Rotation.from_matrix(R).as_quat()[:, [3, 0, 1, 2]]              # scipy is (x, y, z, w)


def _junction_frame(v_left: np.ndarray, v_right: np.ndarray, v_up: np.ndarray) -> np.ndarray:
    """(T, 3, 3) orthonormal frames, columns (x: right->left, y: up, z: forward), from three child offsets (T, 3)."""
    x = _unit(v_left - v_right)
    z = _unit(np.cross(x, v_up))
    return np.stack([x, np.cross(z, x), z], -1)


def positions_to_bvh(joints: np.ndarray, kind: str = "t2m") -> BvhMotion:
    """Inverse kinematics: global joint positions -> a BvhMotion (rest offsets + local rotations, see module doc).

    joints: (T, J, 3) float positions, metres (KIT: millimetres), Y up, J = SKELETONS[kind].joints_num, any facing.
    Returns float64 arrays; forward kinematics of the result (bvh_forward_kinematics) reproduces `joints` exactly
    where the motion is rigid. Raises ValueError on a wrong shape, non-finite values or an unknown kind."""
    if kind not in SKELETONS:
        raise ValueError(f"bvh.py: unknown skeleton kind {kind!r}; expected one of {sorted(SKELETONS)}")
    sk = SKELETONS[kind]
    p = np.asarray(joints, np.float64)
    if p.ndim != 3 or p.shape[1:] != (sk.joints_num, 3) or len(p) < 1:
        raise ValueError(f"bvh.py: joints must be (T, {sk.joints_num}, 3) for kind {kind!r}, got {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("bvh.py: joints contain NaN/inf")
    T, J = p.shape[:2]
    parents, names = list(sk.parents), list(sk.joint_names)
    children = [[c for c in range(J) if parents[c] == j] for j in range(J)]
    vec = p - p[:, [max(q, 0) for q in parents]]                           # (T, J, 3) offset from the parent
    length = np.median(np.linalg.norm(vec, axis=-1), axis=0)               # (J,) bone lengths, 0 for the root
    rest_dir = np.array(sk.raw_offsets, np.float64)                        # (J, 3) one-child bones: HumanML3D's
    for j, direction in REST_DIRECTION[kind].items():
        rest_dir[j] = direction
    glob = np.zeros((T, J, 4))                                              # global rotation of each joint
    identity = np.tile([1.0, 0.0, 0.0, 0.0], (T, 1))
    order = sorted(range(J), key=lambda j: _depth(parents, j))             # parents before children
    for j in order:
        kids, base = children[j], identity if parents[j] < 0 else glob[:, parents[j]]
        if len(kids) > 1:  # pelvis / spine3 (KIT: root / neck): rest directions measured in the body's own frame
            side = {("left" if "left" in names[c] else "right" if "right" in names[c] else "up"): c for c in kids}
            F = _junction_frame(vec[:, side["left"]], vec[:, side["right"]], vec[:, side["up"]])  # (T, 3, 3)
            local = np.einsum("tij,tci->tcj", F, vec[:, kids])             # (T, C, 3) offsets in that frame
            rest_dir[kids] = _unit(np.median(local, axis=0))
            glob[:, j] = _kabsch(rest_dir[kids] * length[kids, None], vec[:, kids])
        elif len(kids) == 1:
            c = kids[0]
            carried = qrot(base, np.broadcast_to(rest_dir[c], (T, 3)))      # (T, 3) rest direction after the parent
            q = qmul(qbetween_np(carried, vec[:, c]), base)
            hinge = next((k for k in HINGE_BEND if k in names[c]), None)
            if (hinge or "ankle" in names[c]) and len(children[c]) == 1:
                q = _limb_twist(q, rest_dir[c], rest_dir[children[c][0]], vec[:, c], vec[:, children[c][0]], hinge)
            glob[:, j] = q
        else:
            glob[:, j] = base                                               # a leaf keeps its parent's rotation
    quats = glob.copy()
    for j in range(1, J):
        quats[:, j] = qmul(qinv(glob[:, parents[j]]), glob[:, j])          # local = parent^-1 * global
    offsets = rest_dir * length[:, None]
    offsets[0] = 0.0
    end_sites = np.zeros((J, 3))
    for j in range(J):
        if not children[j]:
            end_sites[j] = 0.5 * offsets[j]
    return BvhMotion(names, parents, offsets, end_sites, quats, p[:, 0].copy(), sk.fps)


def _depth(parents: list, j: int) -> int:
    return 0 if parents[j] < 0 else 1 + _depth(parents, parents[j])


def _limb_twist(q, rest_c, rest_g, v_c, v_g, hinge):
    """Twist q (T, 4) about the bone v_c so that the plane (v_c, v_g) of the limb sits where the rest pose has it.
    rest_c, rest_g: (3,) rest directions of the bone and the next one; v_c, v_g: (T, 3) current offsets. A nearly
    straight limb has no plane: the twist fades out linearly below LIMB_STRAIGHT, back to the twist-free q. Each frame
    is solved on its own (a fast arm that straightens while its plane turns can still twist a lot in one frame)."""
    a_rest = np.cross(rest_c, rest_g)
    if np.linalg.norm(a_rest) < 1e-6:                                      # straight at rest: use the bend direction
        a_rest = np.cross(rest_c, HINGE_BEND[hinge])
    a_now = qrot(q, np.broadcast_to(_unit(a_rest), q.shape[:-1] + (3,)))   # (T, 3) where the twist-free q puts it
    u = _unit(v_c)
    n = np.cross(v_c, v_g)
    sin_bend = np.linalg.norm(n, axis=-1) / np.maximum(np.linalg.norm(v_c, axis=-1) * np.linalg.norm(v_g, axis=-1),
                                                       1e-12)
    angle = np.arctan2((np.cross(a_now, n) * u).sum(-1), (a_now * n).sum(-1))  # (T,) about u, from a_now to n
    angle = angle * np.clip(sin_bend / LIMB_STRAIGHT, 0.0, 1.0)
    twist = np.concatenate([np.cos(angle / 2)[:, None], u * np.sin(angle / 2)[:, None]], -1)  # (T, 4) about u
    return qmul(twist, q)


def bvh_forward_kinematics(motion: BvhMotion) -> np.ndarray:
    """(T, J, 3) float64 global joint positions of a BvhMotion: p_j = p_parent + G_parent * offset_j, G_j = G_parent *
    local_j (the BVH convention: a joint's rotation moves its children). Same units as the motion's offsets."""
    T, J = motion.quats.shape[:2]
    glob, pos = np.zeros((T, J, 4)), np.zeros((T, J, 3))
    for j in sorted(range(J), key=lambda j: _depth(motion.parents, j)):
        par = motion.parents[j]
        if par < 0:
            glob[:, j], pos[:, j] = motion.quats[:, j], motion.root_pos
        else:
            glob[:, j] = qmul(glob[:, par], motion.quats[:, j])
            pos[:, j] = pos[:, par] + qrot(glob[:, par], np.broadcast_to(motion.offsets[j], (T, 3)))
    return pos


# ----------------------------------------------------------------------------------------------------------------
# Files (bvhio)
# ----------------------------------------------------------------------------------------------------------------

def require_bvhio():
    """The bvhio module; SystemExit with the pip command when it is not installed."""
    try:
        import bvhio
    except ImportError:
        raise SystemExit("bvh.py: BVH export needs the bvhio package: pip install bvhio") from None
    return bvhio


def write_bvh(joints: np.ndarray, path: str | Path, kind: str = "t2m") -> Path:
    """Write joint positions (T, J, 3) (metres; KIT mm; Y up) as a BVH file in centimetres at the skeleton's frame rate
    (20 fps HumanML3D, 12.5 KIT). Root: 6 channels (X/Y/Z position, Z/X/Y rotation), other joints: Z/X/Y rotation in
    degrees. Returns the path (suffix .bvh). Raises ValueError as positions_to_bvh; SystemExit without bvhio."""
    bvhio = require_bvhio()
    import glm  # bvhio's vector library (PyGLM), installed with it
    motion = positions_to_bvh(joints, kind)
    scale = CM_PER_UNIT[kind]
    T = len(motion.quats)
    nodes = []
    for j, name in enumerate(motion.names):
        node = bvhio.BvhJoint(name, glm.vec3(*(motion.offsets[j] * scale)))
        node.EndSite = glm.vec3(*(motion.end_sites[j] * scale))
        node.Channels = (["Xposition", "Yposition", "Zposition"] if j == 0 else []) + \
            ["Zrotation", "Xrotation", "Yrotation"]
        position = motion.root_pos * scale if j == 0 else np.broadcast_to(motion.offsets[j] * scale, (T, 3))
        node.Keyframes = [bvhio.Pose(glm.vec3(*position[t]), glm.quat(*motion.quats[t, j])) for t in range(T)]
        nodes.append(node)
    for j, par in enumerate(motion.parents):
        if par >= 0:
            nodes[par].Children.append(nodes[j])
    path = Path(path).with_suffix(".bvh")
    bvhio.writeBvh(str(path), bvhio.BvhContainer(nodes[0], T, 1.0 / motion.fps), percision=6)
    return path


def read_bvh(path: str | Path) -> tuple[list, np.ndarray, float]:
    """Read a BVH file with bvhio and run bvhio's own forward kinematics. Returns (joint names in file order,
    positions (T, J, 3) float64 in the file's units (centimetres for files written here), fps)."""
    bvhio = require_bvhio()
    container = bvhio.readAsBvh(str(path))
    root = bvhio.readAsHierarchy(str(path))
    layout = [joint for joint, _, _ in root.layout()]
    pos = np.zeros((container.FrameCount, len(layout), 3))
    for t in range(container.FrameCount):
        root.loadPose(t, recursive=True)
        pos[t] = [tuple(joint.PositionWorld) for joint in layout]
    return [joint.Name for joint in layout], pos, 1.0 / container.FrameTime


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python bvh.py joints.npy out.bvh [t2m|kit]")
    kind = sys.argv[3] if len(sys.argv) > 3 else "t2m"
    try:
        print(write_bvh(np.load(sys.argv[1]), sys.argv[2], kind))
    except (OSError, ValueError) as err:
        sys.exit(f"bvh.py: {err}")
