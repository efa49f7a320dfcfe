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
    half = radius / 2
    grid = np.linspace(-half, half, 5)
    for g in grid:  # a floor grid that moves with the figure, so translation is visible
        ax.plot([g - cx % (radius / 4)] * 2, [-half, half], [0, 0], color="0.85", lw=0.8)
        ax.plot([-half, half], [g - cz % (radius / 4)] * 2, [0, 0], color="0.85", lw=0.8)
    if trajectory:
        path = joints[: frame + 1, 0]
        ax.plot(path[:, 0] - cx, path[:, 2] - cz, np.zeros(len(path)), color="#9467bd", lw=1.5)
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
    radius = 4.0 if kind == "t2m" else skel.radius
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
    """Write a PNG with `num_frames` evenly spaced frames side by side, seen from the side (x-y plane, metres),
    on one shared world axis so forward travel and jump height read directly. joints (T, J, 3). Returns path."""
    skel = SKELETONS[kind]
    joints = _check(joints, kind)
    idx = np.linspace(0, len(joints) - 1, num_frames).round().astype(int)
    fig, axes = plt.subplots(1, num_frames, figsize=(2 * num_frames, 3), sharey=True)
    lo, hi = joints[..., [0, 2]].min(), joints[..., [0, 2]].max()
    span = max(hi - lo, joints[..., 1].max()) / 2 + 0.3 * (1 if kind == "t2m" else 1000)
    for ax, f in zip(np.atleast_1d(axes), idx):
        pose = joints[f]
        # horizontal axis: distance travelled along the dominant ground direction
        d = joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]]
        d = d / (np.linalg.norm(d) + 1e-8) if np.linalg.norm(d) > 1e-3 else np.array([0.0, 1.0])
        u = pose[:, [0, 2]] @ d  # (J,)
        for chain, color in zip(skel.kinematic_chain, CHAIN_COLORS):
            ax.plot(u[chain], pose[chain, 1], color=color, lw=2, marker="o", markersize=2)
        mid = (joints[..., [0, 2]] @ d).mean()
        ax.set_xlim(mid - span, mid + span)
        ax.set_ylim(-0.05 * span, 2 * span)
        ax.axhline(0, color="0.6", lw=1)
        ax.set_aspect("equal")
        ax.set_title(f"frame {f}", fontsize=8)
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
