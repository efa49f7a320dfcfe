"""realism.py on constructed motions (hand-computed skating, penetration, floating, root speed) and CFG rescale
(unet.py forward_with_cfg) against diffusers' rescale_noise_cfg."""
import numpy as np
import pytest
import torch

from realism import (describe, distance_travelled, penetration_floating, realism_figures, root_speed,
                     root_speed_fidelity, skating_ratio)
from unet import CondUnet1D


def standing(T=40, height=0.0):
    """(T, 22, 3) joints: every joint at (0, height + j * 0.08, 0) (joint 0 the lowest, feet 10/11 at `height`)."""
    j = np.zeros((T, 22, 3))
    j[:, :, 1] = height + 0.08 * np.arange(22)[None]
    j[:, 10, 1] = j[:, 11, 1] = height
    return j


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
    j = standing(T=8)
    x = np.array([0, 0, 0.05, 0.10, 0.15, 0.15, 0.15, 0.15])  # left toe: 1 m/s over pairs 1-3, then still
    j[:, 10, 0] = x
    j[6:, 10, 1] = 0.2                                          # lifted in frames 6, 7 (pairs 5, 6 not in contact)
    # speeds per pair (m/s): [0, 1, 1, 1, 0, 0, 0]; 5-frame zero-padded mean: [0.4, 0.6, 0.6, 0.6, 0.4, 0.2, 0]
    # contact (both frames < 5 cm): pairs 0..4; skating = contact & mean > 0.5 -> pairs 1, 2, 3 -> 3 / 7
    assert skating_ratio(j) == pytest.approx(3 / 7)
    assert skating_ratio(j, window=1) == pytest.approx(3 / 7)   # speeds 1 at pairs 1-3 either way
    assert skating_ratio(j, speed=0.55, window=5) == pytest.approx(3 / 7)
    assert skating_ratio(j, speed=0.65) == 0.0


def test_penetration_and_floating_on_constructed_cases():
    assert penetration_floating(standing()) == (0.0, 0.0)
    sunk = standing(height=-0.105)                              # lowest joint 10.5 cm below the floor
    pen, flo = penetration_floating(sunk)
    assert pen == pytest.approx(0.1) and flo == 0.0             # 5 mm tolerance
    j = standing(T=10)
    j[5:, :, 1] += 0.25                                         # airborne for half the clip, lowest joint at 0.25
    pen, flo = penetration_floating(j)
    assert pen == 0.0 and flo == pytest.approx(0.5 * (0.25 - 0.05))


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
