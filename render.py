"""Stick-figure rendering of joint positions: an animation (mp4 with ffmpeg, else gif) and a filmstrip PNG.

Draws the kinematic chains of the skeleton (motion.SKELETONS) in 3D with a floor grid that follows the root, the
root's ground trajectory, and the caption as title, as the HumanML3D / T2M `plot_3d_motion` utility does. Uses
matplotlib only (its FFMpegWriter when an ffmpeg binary is on PATH, otherwise its Pillow GIF writer).

    python render.py path/to/joints.npy out.gif "a person walks forward"      # (T, J, 3) positions in metres
"""
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import animation  # noqa: E402

from motion import SKELETONS  # noqa: E402

CHAIN_COLORS = ["#d62728", "#1f77b4", "#2c2c2c", "#ff7f0e", "#2ca02c"]  # right leg, left leg, spine, arms


def _setup_axes(ax, radius: float) -> None:
    ax.set_xlim3d(-radius / 2, radius / 2)
    ax.set_ylim3d(-radius / 2, radius / 2)  # matplotlib's y is the motion's z (depth)
    ax.set_zlim3d(0, radius)                # matplotlib's z is the motion's y (up)
    ax.view_init(elev=15, azim=-60)
    ax.set_axis_off()


def _draw_pose(ax, joints: np.ndarray, frame: int, chains: list, radius: float, trajectory: bool = True) -> None:
    """Draw one frame centred on the root's ground position. joints (T, J, 3), y up, metres."""
    pose = joints[frame]
    cx, cz = pose[0, 0], pose[0, 2]
    half, spacing = radius / 2, radius / 4
    for axis_offset, along in ((cx, "x"), (cz, "z")):  # a floor grid that slides under the figure as it travels
        for g in np.arange(-half, half + 1e-6, spacing) - axis_offset % spacing:
            if g < -half:
                continue
            xs, zs = ([g, g], [-half, half]) if along == "x" else ([-half, half], [g, g])
            ax.plot(xs, zs, [0, 0], color="0.85", lw=0.8)
    if trajectory:
        path = np.clip(joints[: frame + 1, 0] - pose[0], -half, half)  # 3D axes do not clip lines themselves
        ax.plot(path[:, 0], path[:, 2], np.zeros(len(path)), color="#9467bd", lw=1.5)
    for chain, color in zip(chains, CHAIN_COLORS):
        p = pose[chain]  # (len(chain), 3)
        ax.plot(p[:, 0] - cx, p[:, 2] - cz, p[:, 1], color=color, lw=3, marker="o", markersize=2)


def _check(joints: np.ndarray, kind: str) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float32)
    J = SKELETONS[kind].joints_num
    if joints.ndim != 3 or joints.shape[1:] != (J, 3):
        raise ValueError(f"render: joints must be (T, {J}, 3) for kind {kind!r}, got {joints.shape}")
    return joints


def render_animation(joints: np.ndarray, path: str | Path, title: str = "", kind: str = "t2m",
                     fps: float | None = None) -> Path:
    """Write a stick-figure animation of joint positions.

    joints: (T, J, 3) float positions in metres (KIT: millimetres), y up. path: output file; its suffix is replaced
    by .mp4 when ffmpeg is available, else .gif. fps defaults to the skeleton's (20 HumanML3D, 12.5 KIT).
    Returns the path written. Raises ValueError on a wrong shape."""
    skel = SKELETONS[kind]
    joints = _check(joints, kind)
    radius = 3.0 if kind == "t2m" else skel.radius  # metres (KIT: mm)
    fps = fps or skel.fps
    use_ffmpeg = animation.FFMpegWriter.isAvailable()
    path = Path(path).with_suffix(".mp4" if use_ffmpeg else ".gif")
    fig = plt.figure(figsize=(4, 4))
    ax = fig.add_subplot(111, projection="3d")
    fig.suptitle("\n".join(title[i:i + 40] for i in range(0, len(title), 40)), fontsize=9)

    def update(frame: int):
        ax.cla()
        _setup_axes(ax, radius)
        _draw_pose(ax, joints, frame, skel.kinematic_chain, radius)
        return []

    anim = animation.FuncAnimation(fig, update, frames=len(joints), interval=1000 / fps)
    writer = animation.FFMpegWriter(fps=fps) if use_ffmpeg else animation.PillowWriter(fps=fps)
    anim.save(str(path), writer=writer, dpi=80)
    plt.close(fig)
    return path


def render_filmstrip(joints: np.ndarray, path: str | Path, title: str = "", kind: str = "t2m",
                     num_frames: int = 8) -> Path:
    """Write a PNG with `num_frames` evenly spaced frames side by side, seen from the side.

    joints (T, J, 3), y up. The horizontal axis is the distance along the root's overall direction of travel; each
    panel is centred on its own root (the panel title gives the distance travelled, so walking reads as growing
    numbers and a jump as feet off the floor line). Returns the path written (.png)."""
    skel = SKELETONS[kind]
    joints = _check(joints, kind)
    unit = 1.0 if kind == "t2m" else 1000.0  # KIT is in millimetres
    idx = np.linspace(0, len(joints) - 1, num_frames).round().astype(int)
    d = joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]]                                 # overall ground travel
    d = d / np.linalg.norm(d) if np.linalg.norm(d) > 0.05 * unit else np.array([0.0, 1.0])
    u = joints[..., [0, 2]] @ d                                                       # (T, J) along travel
    u = u - u[0, 0]
    fig, axes = plt.subplots(1, num_frames, figsize=(1.6 * num_frames, 3), sharey=True)
    for ax, f in zip(np.atleast_1d(axes), idx):
        for chain, color in zip(skel.kinematic_chain, CHAIN_COLORS):
            ax.plot(u[f, chain], joints[f, chain, 1], color=color, lw=2, marker="o", markersize=2)
        ax.set_xlim(u[f, 0] - 0.9 * unit, u[f, 0] + 0.9 * unit)
        ax.set_ylim(-0.05 * unit, 2.2 * unit)
        ax.axhline(0, color="0.6", lw=1)
        ax.set_aspect("equal")
        ax.set_title(f"frame {f}\n{u[f, 0] / unit:+.2f} m", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path).with_suffix(".png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python render.py joints.npy out.gif [title] [t2m|kit]")
    kind = sys.argv[4] if len(sys.argv) > 4 else "t2m"
    print(render_animation(np.load(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "", kind))
