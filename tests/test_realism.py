"""realism.py on constructed motions (hand-computed skating, penetration, floating, root speed), GMD's skating rule
told apart from its look-alikes (smoothed speed only, contact in either frame), a batch re-statement of GMD's
calculate_skating_ratio (padded denominator), and CFG rescale (unet.py forward_with_cfg) against diffusers'
rescale_noise_cfg."""
import numpy as np
import pytest
import torch
from scipy.ndimage import uniform_filter1d

from realism import (clean_foot_contacts, describe, distance_travelled, floating_mm, foot_skating, penetration_mm,
                     realism_figures, root_speed, root_speed_fidelity, segment_skating, skating_ratio, two_bone_ik)
from unet import CondUnet1D


def standing(T=40, height=0.0):
    """(T, 22, 3) joints: every joint at (0, height + j * 0.08, 0) (joint 0 the lowest, feet 10/11 at `height`)."""
    j = np.zeros((T, 22, 3))
    j[:, :, 1] = height + 0.08 * np.arange(22)[None]
    j[:, 10, 1] = j[:, 11, 1] = height
    return j


def toe_path(speeds, heights):
    """Joints whose left toe moves along x at `speeds` (m/s per frame pair, (T-1,)) at `heights` (m, (T,)); the
    right toe stays 0.5 m up (never in contact)."""
    j = standing(len(heights))
    j[:, 10, 0] = np.r_[0.0, np.cumsum(speeds) / 20.0]
    j[:, 10, 1], j[:, 11, 1] = heights, 0.5
    return j


def smoothed_only(j, fps=20.0):
    """The look-alike rule: contact in both frames and the 5-pair smoothed speed > 0.5 m/s, raw speed ignored."""
    v = np.linalg.norm(np.diff(j[:, [10, 11]][..., [0, 2]], axis=0), axis=-1) * fps     # (T-1, 2)
    h = j[:, [10, 11], 1]
    return float(((h[:-1] < 0.05) & (h[1:] < 0.05) & (uniform_filter1d(v, 5, axis=0, mode="constant") > 0.5))
                 .any(-1).mean())


def either_frame(j, fps=20.0):
    """The look-alike rule: contact in either frame of the pair, raw and smoothed speed > 0.5 m/s."""
    v = np.linalg.norm(np.diff(j[:, [10, 11]][..., [0, 2]], axis=0), axis=-1) * fps
    h = j[:, [10, 11], 1]
    return float((((h[:-1] < 0.05) | (h[1:] < 0.05)) & (v > 0.5) & (uniform_filter1d(v, 5, axis=0, mode="constant")
                                                                      > 0.5)).any(-1).mean())


def gmd_batch(motions, fps=20.0):
    """GMD's calculate_skating_ratio re-stated on its batch layout: motions (B, 22, 3, max_len), y up -> (B,)
    ratios over max_len - 1 pairs (padding included in the denominator)."""
    feet = motions[:, [10, 11]]                                                         # (B, 2, 3, L)
    v = np.linalg.norm(feet[:, :, [0, 2], 1:] - feet[:, :, [0, 2], :-1], axis=2) * fps   # (B, 2, L-1)
    v_avg = uniform_filter1d(v, axis=-1, size=5, mode="constant", origin=0)
    h = feet[:, :, 1]                                                                   # (B, 2, L)
    skating = (h[..., :-1] < 0.05) & (h[..., 1:] < 0.05) & (v > 0.5) & (v_avg > 0.5)
    skating = skating[:, 0] | skating[:, 1]                                             # (B, L-1)
    return skating.sum(1) / skating.shape[1]


def test_skating_zero_on_planted_feet_and_one_on_sliding_feet():
    planted = standing()
    planted[:, 0, [0, 2]] = np.linspace(0, 2, 40)[:, None]  # the pelvis moves; the feet stay planted
    assert skating_ratio(planted) == 0.0
    sliding = standing(height=0.02)
    sliding[:, 10, 0] = sliding[:, 11, 0] = np.arange(40) * 1.0 / 20  # 1 m/s on the floor
    assert skating_ratio(sliding) == 1.0
    lifted = sliding.copy()
    lifted[:, 10, 1] = lifted[:, 11, 1] = 0.06  # same speed above 5 cm: swinging, not skating
    assert skating_ratio(lifted) == 0.0
    slow = standing(height=0.02)
    slow[:, 10, 2] = np.arange(40) * 0.4 / 20  # 0.4 m/s < 0.5 m/s
    assert skating_ratio(slow) == 0.0


def test_skating_matches_a_hand_computation():
    j = toe_path([0, 1, 1, 1, 0, 0, 0], [0.0] * 6 + [0.2] * 2)  # 1 m/s over pairs 1-3; lifted in frames 6, 7
    # speeds per pair (m/s): [0, 1, 1, 1, 0, 0, 0]; 5-pair zero-padded mean: [0.4, 0.6, 0.6, 0.6, 0.4, 0.2, 0]
    # contact (both frames < 5 cm): pairs 0..4; raw > 0.5 and mean > 0.5 -> pairs 1, 2, 3 -> 3 / 7
    assert skating_ratio(j) == pytest.approx(3 / 7)
    assert skating_ratio(j, window=1) == pytest.approx(3 / 7)
    assert skating_ratio(j, speed=0.55) == pytest.approx(3 / 7) and skating_ratio(j, speed=0.65) == 0.0
    assert foot_skating(j)[:, 0].tolist() == [False, True, True, True, False, False, False]


def test_skating_needs_the_raw_and_the_smoothed_speed():
    """A toe that jumps 15 cm in one frame pair (3 m/s) on the floor, still otherwise: the smoothed speed is 0.6 m/s
    over five pairs, the raw one exceeds 0.5 m/s in one: GMD counts 1 pair, the smoothed-only rule 5."""
    spike = toe_path([0, 0, 0, 0, 3, 0, 0, 0, 0], [0.0] * 10)
    assert skating_ratio(spike) == pytest.approx(1 / 9) and smoothed_only(spike) == pytest.approx(5 / 9)
    jitter = toe_path([0, 0, 0, 0, 2, 0, 0, 0, 0], [0.0] * 10)  # raw 2 m/s once, smoothed 0.4: GMD counts none
    assert skating_ratio(jitter) == 0.0 and foot_skating(jitter, window=1).sum() == 1


def test_skating_needs_contact_in_both_frames_of_the_pair():
    """A toe sliding at 1 m/s that touches the floor (< 5 cm) every other frame is never in contact in both frames
    of a pair: GMD 0, the either-frame rule 1. Low for 4 frames then up: 3 pairs vs 4."""
    alternate = toe_path([1.0] * 9, [0.02, 0.08] * 5)
    assert skating_ratio(alternate) == 0.0 and either_frame(alternate) == 1.0
    step = toe_path([1.0] * 7, [0.02] * 4 + [0.08] * 4)
    assert skating_ratio(step) == pytest.approx(3 / 7) and either_frame(step) == pytest.approx(4 / 7)


def test_skating_equals_gmd_on_its_batch_layout_and_differs_only_by_the_padded_denominator():
    rng = np.random.default_rng(0)
    T, L = 60, 196
    motions = []
    for _ in range(6):
        j = standing(T, height=0.01)
        for foot in (10, 11):                                  # random walks on and off the floor
            j[:, foot, [0, 2]] = np.cumsum(rng.normal(0, 0.04, (T, 2)), 0)
            j[:, foot, 1] = np.abs(np.cumsum(rng.normal(0, 0.02, T)))
        motions.append(j)
    ours = np.array([skating_ratio(j) for j in motions])
    assert 0.05 < ours.mean() < 0.95                           # the case says something
    batch = np.stack(motions).transpose(0, 2, 3, 1)             # (B, 22, 3, T)
    np.testing.assert_allclose(gmd_batch(batch), ours)          # no padding: the same figure
    padded = np.concatenate([batch, np.repeat(batch[..., -1:], L - T, -1)], -1)  # padded by holding the last frame
    np.testing.assert_allclose(gmd_batch(padded), ours * (T - 1) / (L - 1))


def test_segment_skating_counts_the_pairs_inside_the_segment():
    j = toe_path([0, 1, 1, 1, 0, 0, 0], [0.0] * 8)              # skating pairs 1, 2, 3
    assert segment_skating(j, 20.0, 0, 8) == pytest.approx(skating_ratio(j))
    assert segment_skating(j, 20.0, 1, 5) == 1.0 and segment_skating(j, 20.0, 4, 8) == 0.0
    assert segment_skating(j, 20.0, 3, 4) == 0.0                # one frame: no pair


def test_penetration_and_floating_in_millimetres():
    assert penetration_mm(standing()) == 0.0 and floating_mm(standing()) == 0.0
    sunk = standing(height=-0.1)                                # lowest joint 10 cm below the floor
    assert penetration_mm(sunk) == pytest.approx(100.0) and floating_mm(sunk) == 0.0  # no tolerance
    j = standing(T=10)
    j[5:, :, 1] += 0.25                                         # airborne for half the clip, lowest joint at 0.25
    assert penetration_mm(j) == 0.0 and floating_mm(j) == pytest.approx(0.5 * (250 - 5))  # 5 mm tolerance
    hover = standing(height=0.004)                              # within the 5 mm tolerance
    assert floating_mm(hover) == 0.0 and floating_mm(hover, tol=0.0) == pytest.approx(4.0)
    fig = realism_figures(j)
    assert set(fig) == {"skating_ratio", "penetration_mm", "floating_mm", "root_speed"}
    assert fig["floating_mm"] == pytest.approx(122.5)


def test_root_speed_distance_and_fidelity():
    j = standing(T=21)
    j[:, 0, 0] = np.arange(21) * 0.03                           # 0.6 m/s along x for 1 s
    assert root_speed(j) == pytest.approx(0.6) and distance_travelled(j) == pytest.approx(0.6)
    assert realism_figures(j)["root_speed"] == pytest.approx(0.6)
    fid = root_speed_fidelity([3.5, 0.5], [0.5, 0.5])
    assert fid["root_speed_ratio"] == pytest.approx(4.0) and fid["root_speed_MAE"] == pytest.approx(1.5)
    with pytest.raises(ValueError, match="equal"):
        root_speed_fidelity([1.0], [1.0, 2.0])
    line = describe(j)
    assert line.startswith("1.1 s, travelled 0.60 m, mean root speed 0.60 m/s, skating ratio 0.000")
    with pytest.raises(ValueError, match="joints must be"):
        skating_ratio(np.zeros((10, 5, 3)))
    kit = j[:, :21] * 1000                                      # millimetres, KIT toes 20 / 15 planted
    assert describe(kit, 12.5, "kit").endswith("skating ratio 0.000")


def test_cfg_rescale_matches_diffusers_rescale_noise_cfg():
    pytest.importorskip("diffusers")
    from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import rescale_noise_cfg
    model = CondUnet1D(input_dim=6, text_dim=4, base_dim=8, dim_mults=(1, 1, 1, 1), time_dim=16, text_latent_dim=8,
                       text_layers=1, num_heads=2)
    g = torch.Generator().manual_seed(0)
    cond, uncond = torch.randn(3, 10, 6, generator=g) * 2 + 1, torch.randn(3, 10, 6, generator=g)
    model._unet = lambda x, t, idx, text, mask, feats: torch.cat([cond, uncond])  # fixed predictions
    x, t, text = torch.zeros(3, 10, 6), torch.tensor(5), torch.zeros(3, 2, 4)
    plain = model.forward_with_cfg(x, t, text, guidance=2.5)
    torch.testing.assert_close(plain, uncond + 2.5 * (cond - uncond))
    for phi in (0.7, 1.0):
        ours = model.forward_with_cfg(x, t, text, guidance=2.5, rescale=phi)
        torch.testing.assert_close(ours, rescale_noise_cfg(plain, cond, guidance_rescale=phi))
    full = model.forward_with_cfg(x, t, text, guidance=2.5, rescale=1.0)
    torch.testing.assert_close(full.std(dim=(1, 2)), cond.std(dim=(1, 2)))  # phi = 1: the conditional std exactly


def test_the_real_humanml3d_sample_on_its_floor(hml3d_sample):
    from motion import recover_from_ric
    figs = [realism_figures(recover_from_ric(np.load(f).astype(np.float64), 22))
            for f in sorted((hml3d_sample / "new_joint_vecs").glob("*.npy"))]
    assert len(figs) == 8 and all(f["penetration_mm"] < 1e-3 for f in figs)  # floor = the clip's lowest joint
    assert np.mean([f["skating_ratio"] for f in figs]) == pytest.approx(0.110, abs=0.0005)  # realism.py docstring
    assert np.mean([f["floating_mm"] for f in figs]) == pytest.approx(15.1, abs=0.05)


# ----------------------------------------------------------------------------------------------------------------
# The contact cleanup (clean_foot_contacts): a sliding walk pinned, a jump left alone
# ----------------------------------------------------------------------------------------------------------------
LEG = {"hip": [(1, 0.1), (2, -0.1)], "knee": (4, 5), "ankle": (7, 8), "toe": (10, 11)}


def body(T, root_z, foot_lift=None):
    """(T, 22, 3) joints: a rigid upright body whose pelvis is at (0, 0.95, root_z[t]); legs hip (0.9 m) -> knee
    (0.48, bent 0.15 forward) -> ankle (0.07) -> toe (0.02, 0.12 ahead); every other joint 0.1-0.6 m above the
    pelvis. foot_lift (T,) raises both feet and knees (a jump's flight)."""
    j = np.zeros((T, 22, 3))
    j[:, :, 1] = 1.0 + 0.03 * np.arange(22)[None]
    j[:, 0] = np.stack([np.zeros(T), np.full(T, 0.95), root_z], -1)
    for (hip, x), knee, ankle, toe in zip(LEG["hip"], LEG["knee"], LEG["ankle"], LEG["toe"]):
        for joint, y, dz in ((hip, 0.9, 0.0), (knee, 0.48, 0.15), (ankle, 0.07, 0.0), (toe, 0.02, 0.12)):
            j[:, joint] = np.stack([np.full(T, x), np.full(T, y), root_z + dz], -1)
    if foot_lift is not None:
        j[:, [4, 5, 7, 8, 10, 11], 1] += foot_lift[:, None]
    return j


def test_a_sliding_walk_gets_its_planted_feet_pinned():
    T = 60
    j = body(T, 0.6 * np.arange(T) / 20.0)                    # glides forward at 0.6 m/s, feet never lifted
    contacts = np.zeros((T, 4))
    for k, start in enumerate(range(0, T, 10)):               # left planted, then right, 10 frames each
        contacts[start:start + 10, 2 * (k % 2):2 * (k % 2) + 2] = 1.0
    clean = clean_foot_contacts(j, contacts, blend=3)
    before, after = foot_skating(j), foot_skating(clean)
    for k, start in enumerate(range(0, T, 10)):
        side, toe = k % 2, LEG["toe"][k % 2]
        pinned = clean[start:start + 10, toe]
        assert np.abs(pinned - pinned[0]).max() < 1e-9             # the planted toe does not move at all
        assert before[start:start + 9, side].mean() > 0.7 and not after[start:start + 9, side].any()
    untouched = [i for i in range(22) if i not in (4, 5, 7, 8, 10, 11)]
    assert np.array_equal(clean[:, untouched], j[:, untouched])  # pelvis, hips, upper body: bit for bit
    for hip, knee, ankle in ((1, 4, 7), (2, 5, 8)):            # the bones keep their lengths
        for a, b in ((hip, knee), (knee, ankle)):
            np.testing.assert_allclose(np.linalg.norm(clean[:, a] - clean[:, b], axis=-1),
                                       np.linalg.norm(j[:, a] - j[:, b], axis=-1), atol=1e-9)
    assert after.sum() < 0.6 * before.sum()                   # the feet in swing still glide (never lifted)


def test_a_jump_is_left_alone():
    T = 50
    lift = np.zeros(T)
    lift[20:30] = 0.3 * np.sin(np.linspace(0, np.pi, 12)[1:-1])   # 10 frames of flight, feet up to 0.3 m
    j = body(T, np.zeros(T), lift)
    contacts = np.ones((T, 4))
    contacts[20:30] = 0.0                                          # the model's channels: in the air
    clean = clean_foot_contacts(j, contacts)
    np.testing.assert_allclose(clean, j, atol=1e-9)                # planted feet that stand still stay where they are
    assert np.array_equal(clean[24:26], j[24:26])                  # mid-flight, out of every blend: bit for bit
    with pytest.raises(ValueError, match="contacts must be the"):
        clean_foot_contacts(j, contacts[:, :2])


def test_two_bone_ik_reaches_or_stretches_toward_the_target():
    hip, knee, ankle = np.array([0.0, 0.9, 0.0]), np.array([0.0, 0.48, 0.05]), np.array([0.0, 0.07, 0.0])
    l1, l2 = np.linalg.norm(knee - hip), np.linalg.norm(ankle - knee)
    target = np.array([0.0, 0.1, 0.15])
    new_knee, new_ankle = two_bone_ik(hip, knee, ankle, target)
    np.testing.assert_allclose(new_ankle, target, atol=1e-12)
    assert abs(np.linalg.norm(new_knee - hip) - l1) < 1e-12 and abs(np.linalg.norm(new_ankle - new_knee) - l2) < 1e-12
    u = (target - hip) / np.linalg.norm(target - hip)
    off_line = lambda p: (p - hip) - ((p - hip) @ u) * u  # noqa: E731
    assert off_line(new_knee) @ off_line(knee) > 0              # bends to the old knee's side (the pole)
    far = np.array([0.0, 0.0, 2.0])                                # out of reach: on the hip -> target line
    _, stretched = two_bone_ik(hip, knee, ankle, far)
    direction = (far - hip) / np.linalg.norm(far - hip)
    np.testing.assert_allclose((stretched - hip) / np.linalg.norm(stretched - hip), direction, atol=1e-9)
    assert np.linalg.norm(stretched - hip) == pytest.approx(l1 + l2 - 1e-4)
