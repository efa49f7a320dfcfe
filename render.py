"""Pictures of joint positions: a filmstrip PNG that shows what happened, and an animation (mp4 with ffmpeg, else gif).

Filmstrip: evenly spaced frames seen from the side and from the front (fixed world views: motions start facing +Z,
so "side" and "front" are those of the first frame), and a top-down view of the root's path with the facing
direction at the same numbered frames. Left limbs are blue/cyan, right limbs red/orange, the spine grey, with a
legend: a left-hand wave is told from a right-hand one, a turn shows in the arrows, a circle in the path.
Animation: the same colours, an orthographic camera at a fixed angle that follows the root, a floor grid and the
root's path so far. Both use matplotlib's 2D Agg canvas with our own projection (no mplot3d, artists updated in
place, frames handed to Pillow or ffmpeg directly), which keeps a 6 s motion under 3 s on 2 CPU cores. In the
spirit of the T2M `plot_3d_motion` utility (Guo et al. 2022), redrawn.

    python render.py path/to/joints.npy out.gif "a person walks forward"      # (T, J, 3) positions in metres
"""
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import animation, font_manager, ft2font  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from PIL import Image  # noqa: E402  (Pillow comes with matplotlib)

from motion import SKELETONS  # noqa: E402

# kinematic_chain order is the same for both skeletons: right leg, left leg, spine, right arm, left arm
CHAIN_STYLE = [("right leg", "#d62728"), ("left leg", "#1f77b4"), ("spine, head", "#555555"),
               ("right arm", "#ff7f0e"), ("left arm", "#17becf")]
SIDE_ORDER = [1, 4, 2, 0, 3]   # seen from the right: the left limbs are behind
FRONT_ORDER = [2, 0, 1, 3, 4]  # legs over the spine, arms on top
PATH_COLOR = "#9467bd"


# ----------------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _font() -> ft2font.FT2Font:
    return ft2font.FT2Font(font_manager.findfont(font_manager.FontProperties()))


def printable(text: str) -> str:
    """The caption as matplotlib can draw it: characters the default font lacks (emoji) dropped instead of warned
    about, '$' escaped so a price is not read as mathtext, runs of spaces collapsed."""
    kept = "".join(c for c in text if c.isspace() or _font().get_char_index(ord(c)))
    return " ".join(kept.split()).replace("$", r"\$")


def _check(joints: np.ndarray, kind: str) -> np.ndarray:
    if kind not in SKELETONS:
        raise ValueError(f"render: unknown skeleton kind {kind!r}; expected one of {sorted(SKELETONS)}")
    joints = np.asarray(joints, dtype=np.float32)
    J = SKELETONS[kind].joints_num
    if joints.ndim != 3 or joints.shape[1:] != (J, 3) or len(joints) < 1:
        raise ValueError(f"render: joints must be (T, {J}, 3) for kind {kind!r}, got {joints.shape}")
    if not np.isfinite(joints).all():
        raise ValueError("render: joints contain NaN/inf")
    return joints


def facing(joints: np.ndarray, kind: str = "t2m") -> np.ndarray:
    """(T, 2) unit facing direction on the floor as (x, z), from hips and shoulders (HumanML3D `process_file`:
    up x ((r_hip - l_hip) + (r_shoulder - l_shoulder))). joints (T, J, 3), y up."""
    r_hip, l_hip, sdr_r, sdr_l = SKELETONS[kind].face_joint_indx
    across = (joints[:, r_hip] - joints[:, l_hip]) + (joints[:, sdr_r] - joints[:, sdr_l])  # (T, 3)
    fwd = np.stack([across[:, 2], -across[:, 0]], -1)                      # up x across = (a_z, 0, -a_x), as (x, z)
    return fwd / np.maximum(np.linalg.norm(fwd, axis=-1, keepdims=True), 1e-9)


def heading_degrees(joints: np.ndarray, kind: str = "t2m") -> np.ndarray:
    """(T,) facing angle in degrees relative to frame 0, positive = turned to the body's left, unwrapped (a full turn
    to the left ends near +360)."""
    f = facing(joints, kind)
    yaw = np.unwrap(np.arctan2(f[:, 0], f[:, 1]))                          # +x is the body's left when facing +z
    return np.degrees(yaw - yaw[0])


def _legend_handles():
    return [plt.Line2D([], [], color=c, lw=3, label=name) for name, c in CHAIN_STYLE] + \
        [plt.Line2D([], [], color=PATH_COLOR, lw=1.5, label="root path")]


# ----------------------------------------------------------------------------------------------------------------
# Filmstrip
# ----------------------------------------------------------------------------------------------------------------

def render_filmstrip(joints: np.ndarray, path: str | Path, title: str = "", kind: str = "t2m",
                     num_frames: int = 8) -> Path:
    """Write a PNG: `num_frames` evenly spaced frames from the side (top row) and the front (bottom row), plus a
    top-down view of the root path with facing arrows at the same numbered frames.

    joints: (T, J, 3) float positions in metres (KIT: millimetres), y up, first frame facing +Z. Side view: seen from
    the body's right at frame 0 (forward = +Z to the right); front view: seen from +Z (the body's left on the image's
    right, as when facing someone). Each panel is centred on its own root; its title gives the time and the heading
    (degrees turned since frame 0, + = left). Returns the path written (.png). Raises ValueError on a bad shape."""
    skel = SKELETONS[kind]
    joints = _check(joints, kind)
    unit = 1.0 if kind == "t2m" else 1000.0  # KIT is in millimetres
    idx = np.linspace(0, len(joints) - 1, num_frames).round().astype(int)
    heading = heading_degrees(joints, kind)
    fig = plt.figure(figsize=(1.25 * num_frames + 3.4, 4.4))
    grid = fig.add_gridspec(2, num_frames + 3, width_ratios=[1] * num_frames + [0.15, 1.6, 1.6])
    views = (("side", 2, +1.0), ("front", 0, +1.0))  # (name, horizontal coordinate, sign)
    for row, (view, axis, sign) in enumerate(views):
        for col, f in enumerate(idx):
            ax = fig.add_subplot(grid[row, col])
            centre = joints[f, 0, axis]
            for c in (SIDE_ORDER if view == "side" else FRONT_ORDER):
                chain = skel.kinematic_chain[c]
                ax.plot(sign * (joints[f, chain, axis] - centre), joints[f, chain, 1], color=CHAIN_STYLE[c][1],
                        lw=2, marker="o", markersize=1.5, solid_capstyle="round")
            ax.axhline(0, color="0.6", lw=1)
            ax.set_xlim(-0.8 * unit, 0.8 * unit)
            ax.set_ylim(-0.05 * unit, 2.0 * unit)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"{col + 1}: {f / skel.fps:.1f} s\nturned {heading[f]:+.0f}°", fontsize=7)
            if col == 0:
                ax.set_ylabel(view, fontsize=8)
    _top_down(fig.add_subplot(grid[:, num_frames + 1:]), joints, idx, kind, unit)
    fig.legend(handles=_legend_handles(), loc="lower center", ncol=6, fontsize=7, frameon=False)
    fig.suptitle(printable(title), fontsize=10)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.86, bottom=0.1, wspace=0.08, hspace=0.08)
    path = Path(path).with_suffix(".png")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _top_down(ax, joints: np.ndarray, idx: np.ndarray, kind: str, unit: float) -> None:
    """Root path seen from above, forward (+Z at frame 0) up the page and the body's right (-X) to the right, with
    numbered facing arrows at the filmstrip's frames."""
    h, v = -joints[:, 0, 0] / unit, joints[:, 0, 2] / unit                # (T,) metres on the page
    f = facing(joints, kind)
    ax.plot(h, v, color=PATH_COLOR, lw=1.5)
    ax.plot(h[0], v[0], "o", color=PATH_COLOR, markersize=4)
    ax.quiver(h[idx], v[idx], -f[idx, 0], f[idx, 1], color="k", angles="xy", scale_units="xy", scale=4, width=0.012)
    for n, i in enumerate(idx):
        ax.annotate(str(n + 1), (h[i], v[i]), textcoords="offset points", xytext=(4, -9), fontsize=7)
    span = max(np.ptp(h), np.ptp(v), 1.0) / 2 + 0.35
    ax.set_xlim(h.mean() - span, h.mean() + span)
    ax.set_ylim(v.mean() - span, v.mean() + span)
    ax.set_aspect("equal")
    ax.grid(True, color="0.9")
    ax.tick_params(labelsize=6)
    ax.set_title("from above (m): path, facing", fontsize=8)


# ----------------------------------------------------------------------------------------------------------------
# Animation
# ----------------------------------------------------------------------------------------------------------------

def project(points: np.ndarray, target: np.ndarray, azimuth: float = 35.0, elevation: float = 20.0) -> np.ndarray:
    """Orthographic camera: (..., 3) world points (y up) -> (..., 3) (right, up, depth) relative to `target` (3,).
    The camera sits `azimuth` degrees from +Z towards +X (the body's left when facing +Z), `elevation` above the
    floor, looking at the target; larger depth = farther from the camera."""
    az, el = np.radians(azimuth), np.radians(elevation)
    to_cam = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])
    right = np.cross([0.0, 1.0, 0.0], to_cam)
    right /= np.linalg.norm(right)
    up = np.cross(to_cam, right)
    rel = points - target
    return np.stack([rel @ right, rel @ up, -(rel @ to_cam)], -1)


def render_animation(joints: np.ndarray, path: str | Path, title: str = "", kind: str = "t2m",
                     fps: float | None = None) -> Path:
    """Write a stick-figure animation of joint positions, coloured as the filmstrip, camera following the root.

    joints: (T, J, 3) float positions in metres (KIT: millimetres), y up. path: output file; its suffix is replaced
    by .mp4 when ffmpeg is on PATH, else .gif. fps defaults to the skeleton's (20 HumanML3D, 12.5 KIT).
    Returns the path written. Raises ValueError on a bad shape."""
    skel = SKELETONS[kind]
    joints = _check(joints, kind).astype(np.float64)
    unit = 1.0 if kind == "t2m" else 1000.0
    fps = fps or skel.fps
    use_ffmpeg = animation.FFMpegWriter.isAvailable()
    path = Path(path).with_suffix(".mp4" if use_ffmpeg else ".gif")
    fig = plt.figure(figsize=(4, 4), dpi=80)
    ax = fig.add_axes([0, 0, 1, 0.88])
    ax.set_xlim(-1.2 * unit, 1.2 * unit)
    ax.set_ylim(-0.6 * unit, 1.8 * unit)
    ax.set_aspect("equal")
    ax.set_axis_off()
    fig.suptitle(printable(title), fontsize=9, wrap=True)
    fig.legend(handles=_legend_handles()[:5], loc="upper left", bbox_to_anchor=(0, 0.9), fontsize=6, frameon=False)
    grid = LineCollection([], colors="0.82", linewidths=0.8)
    ax.add_collection(grid)
    trail, = ax.plot([], [], color=PATH_COLOR, lw=1.5)
    bones = [ax.plot([], [], color=color, lw=3, marker="o", markersize=2, solid_capstyle="round")[0]
             for _, color in CHAIN_STYLE]
    clock = ax.text(0.98, 0.02, "", transform=ax.transAxes, ha="right", fontsize=7, color="0.4")
    spacing, half = 0.5 * unit, 3.0 * unit
    ticks = np.arange(-half, half + 1e-6, spacing)

    def draw(frame: int) -> None:
        root = joints[frame, 0]
        target = np.array([root[0], 0.0, root[2]])                         # follow the root on the floor
        gx = ticks + np.round(root[0] / spacing) * spacing                  # grid lines fixed in the world
        gz = ticks + np.round(root[2] / spacing) * spacing
        ends = [[(x, 0, gz[0]), (x, 0, gz[-1])] for x in gx] + [[(gx[0], 0, z), (gx[-1], 0, z)] for z in gz]
        grid.set_segments(project(np.array(ends, np.float64), target)[..., :2])
        floor_path = joints[: frame + 1, 0] * [1, 0, 1]
        trail.set_data(*project(floor_path, target)[:, :2].T)
        p = project(joints[frame], target)                                 # (J, 3)
        depth = [p[skel.kinematic_chain[c], 2].mean() for c in range(len(bones))]
        for z, c in enumerate(np.argsort(depth)[::-1]):                     # painter's order: far chains first
            chain = skel.kinematic_chain[c]
            bones[c].set_data(p[chain, 0], p[chain, 1])
            bones[c].set_zorder(3 + z)
        clock.set_text(f"{frame / fps:.2f} s")

    # Blitting: the title, legend and axes are drawn once; each frame restores them and draws only what moves.
    moving = [grid, trail, *bones, clock]
    for artist in moving:
        artist.set_animated(True)
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)
    frames = []
    for frame in range(len(joints)):
        draw(frame)
        fig.canvas.restore_region(background)
        for artist in sorted(moving, key=lambda a: a.get_zorder()):
            ax.draw_artist(artist)
        frames.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())  # (H, W, 3) uint8
    plt.close(fig)
    if use_ffmpeg:
        h, w = frames[0].shape[:2]
        cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
               "-r", f"{fps:g}", "-i", "-", "-pix_fmt", "yuv420p", "-vcodec", "libx264", str(path)]
        subprocess.run(cmd, input=np.stack(frames).tobytes(), check=True)
    else:  # one palette for all frames (from three of them): mapping to a fixed palette is fast and does not flicker
        sample = Image.fromarray(np.concatenate([frames[0], frames[len(frames) // 2], frames[-1]], 0))
        palette = sample.quantize(colors=64, method=Image.Quantize.MEDIANCUT)
        images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
        images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return path


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: python render.py joints.npy out.gif [title] [t2m|kit]")
    kind = sys.argv[4] if len(sys.argv) > 4 else "t2m"
    print(render_animation(np.load(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "", kind))
