"""render.py: facing and heading conventions, the camera projection, glyph-safe titles, files written."""
import warnings

import numpy as np
import pytest
from PIL import Image

from motion import SKELETONS, forward_kinematics_np, qrot
from render import (CHAIN_STYLE, facing, heading_degrees, printable, project, render_animation,
                    render_filmstrip)


def _spin(joints, angles_rad):
    """Rotate each frame about the vertical through its root; a positive angle turns +Z towards +X (the body's left)."""
    a = np.asarray(angles_rad, np.float64)
    q = np.stack([np.cos(a / 2), 0 * a, np.sin(a / 2), 0 * a], -1)[:, None]
    q = np.broadcast_to(q, joints.shape[:2] + (4,))
    return qrot(q, joints - joints[:, :1]) + joints[:, :1]


def _standing(kind, T=12):
    """(T, J, 3) the skeleton's rest pose (identity rotations), facing +Z, standing on the floor."""
    sk = SKELETONS[kind]
    quat = np.tile([1.0, 0, 0, 0], (T, sk.joints_num, 1))
    p = forward_kinematics_np(quat, np.zeros((T, 3)), kind)
    return p - [0, p[..., 1].min(), 0]


def test_chain_labels_match_the_skeletons():
    for kind, sk in SKELETONS.items():
        for (label, _), chain in zip(CHAIN_STYLE, sk.kinematic_chain):
            side = label.split()[0]
            if side in ("left", "right"):
                assert all(sk.joint_names[j].startswith(side) for j in chain[1:]), (kind, label)


def test_facing_and_heading_on_a_turning_motion(hml3d_sample):
    """Real motions start facing +Z; spinning one a full turn to the left reads as +360 degrees, to the right -360."""
    joints = np.load(hml3d_sample / "new_joints" / "M010968.npy").astype(np.float64)  # walks, turns < 8 degrees
    assert facing(joints)[0, 1] > 0.95
    own = heading_degrees(joints)
    assert np.abs(own).max() < 10
    T = len(joints)
    for sign in (+1, -1):
        spun = _spin(joints, sign * np.linspace(0, 2 * np.pi, T))
        h = heading_degrees(spun)
        assert h[-1] - own[-1] == pytest.approx(sign * 360, abs=1)
        assert np.abs(h - own - sign * np.linspace(0, 360, T)).max() < 1
        f = facing(spun)[T // 4]                                            # a quarter turn: facing +-X
        assert f[0] * sign > 0.95


def test_camera_projection():
    """Camera in front (azimuth 0): the body's left (+X) is on the image's right, up is up, +Z is nearer."""
    pts = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    p = project(pts, np.zeros(3), azimuth=0.0, elevation=0.0)
    assert p[0] == pytest.approx([1, 0, 0], abs=1e-9)
    assert p[1] == pytest.approx([0, 1, 0], abs=1e-9)
    assert p[2] == pytest.approx([0, 0, -1], abs=1e-9)                       # smaller depth = nearer
    # from the body's left (azimuth 90), forward (+Z) points to the image's left
    assert project(pts, np.zeros(3), azimuth=90.0, elevation=0.0)[2, 0] == pytest.approx(-1)
    # following the root: the same pose at another place projects to the same picture
    far = np.array([5.0, 0.0, -3.0])
    assert project(pts + far, far) == pytest.approx(project(pts, np.zeros(3)))


def test_printable_drops_missing_glyphs_without_warnings(tmp_path):
    assert printable("a person waves 👋 hello") == "a person waves hello"
    assert printable("pays $5 for $ 1") == r"pays \$5 for \$ 1"
    assert printable("café, Straße") == "café, Straße"                       # the font has these
    joints = _standing("t2m")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                       # a glyph warning would fail here
        render_filmstrip(joints, tmp_path / "s", "a person waves 👋🏽 🤖 $x$", num_frames=3)


@pytest.mark.parametrize("kind", ["t2m", "kit"])
def test_files_written(kind, tmp_path):
    joints = _standing(kind, T=9)
    png = render_filmstrip(joints, tmp_path / "m.npy", "standing", kind=kind, num_frames=4)
    assert png.suffix == ".png" and Image.open(png).size[0] > 600
    anim = render_animation(joints, tmp_path / "m", "standing", kind=kind)
    assert anim.suffix in (".gif", ".mp4")
    if anim.suffix == ".gif":
        gif = Image.open(anim)
        assert gif.n_frames == 9
        first = np.asarray(gif.convert("RGB"))
        # the figure is drawn: the left-arm colour appears in the frame
        cyan = np.array([int(CHAIN_STYLE[4][1][k:k + 2], 16) for k in (1, 3, 5)])
        assert (np.abs(first.astype(int) - cyan).sum(-1) < 40).sum() > 20


def test_bad_shape():
    with pytest.raises(ValueError, match=r"\(T, 22, 3\)"):
        render_filmstrip(np.zeros((5, 21, 3)), "x.png")
    with pytest.raises(ValueError, match="NaN"):
        render_animation(np.full((5, 22, 3), np.nan), "x.gif")
