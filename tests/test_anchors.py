"""anchors.py: zeta schedule, FiLM identity at init, shapes and masks, losses that fall, weighting variants."""
import math

import pytest
import torch

from anchors import DualAnchors, FiLM, level_mask, timestep_embedding, zeta


def test_zeta_schedule():
    assert zeta(0, 1000) == 1.0 and zeta(500, 1000) == pytest.approx(0.5) and zeta(1000, 1000) == 0.0
    assert zeta(5000, 1000) == 0.0 and zeta(250, 1000) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    torch.testing.assert_close(zeta(torch.tensor([0.0, 500.0, 2000.0]), 1000), torch.tensor([1.0, 0.5, 0.0]))
    with pytest.raises(ValueError, match="decay threshold"):
        zeta(1, 0)


def test_film_is_identity_at_init_and_broadcasts_over_frequency():
    film = FiLM(16, 5)
    emb = timestep_embedding(torch.tensor([3, 700]), 16)
    z2, z3 = torch.randn(2, 5), torch.randn(2, 5, 7)                                  # (B, D_a), (B, d_m, K)
    torch.testing.assert_close(film(z2, emb), z2)
    torch.testing.assert_close(film(z3, emb), z3)
    with torch.no_grad():
        film.net[-1].bias[:5] = 1.0                                                    # gamma = 1 -> scale 2
        film.net[-1].bias[5:] = 0.5                                                    # beta = 0.5
    torch.testing.assert_close(film(z3, emb), 2 * z3 + 0.5)


def test_timestep_embedding_values():
    e = timestep_embedding(torch.tensor([0, 10]), 4)                                   # w = (1, 0.01)
    torch.testing.assert_close(e[0], torch.tensor([0.0, 1.0, 0.0, 1.0]))
    torch.testing.assert_close(e[1], torch.tensor([math.sin(10), math.cos(10), math.sin(0.1), math.cos(0.1)]))


def test_level_mask_counts_valid_frames():
    m = level_mask(torch.tensor([196, 40, 1]), 26, 8)
    assert m.sum(1).tolist() == [25, 5, 1]                                            # ceil(length / 8)


def test_shapes_and_switches():
    a = DualAnchors(channels=16, frames=26, stride=8, feat_dim=11, num_coeffs=8, embed_dim=6, time_dim=32)
    h, t = torch.randn(3, 16, 26), torch.randint(0, 1000, (3,))
    z_fre, z_tem = a.project(h, t, torch.tensor([196, 50, 100]))
    assert z_fre.shape == (3, 8, 11) and z_tem.shape == (3, 6)
    no_tem = DualAnchors(16, 26, 8, 11, 8, 6, 32, use_tem=False)
    terms = no_tem(h, t, torch.randn(3, 196, 11))
    assert terms["tem"].item() == 0 and terms["fre"].item() > 0 and no_tem.Q is None
    with pytest.raises(ValueError, match="f_tem"):
        a(h, t, torch.randn(3, 196, 11))
    with pytest.raises(ValueError, match="built for 26"):
        a.project(torch.randn(3, 16, 13), t)
    with pytest.raises(ValueError, match="weighting"):
        DualAnchors(16, 26, 8, 11, weighting="sometimes")


def test_padding_frames_do_not_enter_the_temporal_pool():
    a = DualAnchors(8, 26, 8, 5, 4, 6, 16, use_fre=False)
    h = torch.randn(1, 8, 26)
    h2 = h.clone()
    h2[..., 5:] = 100.0                                                                # frames past length 40 / 8
    t = torch.tensor([10])
    torch.testing.assert_close(a.project(h, t, torch.tensor([40]))[1], a.project(h2, t, torch.tensor([40]))[1])


@pytest.mark.parametrize("weighting", ["cosine", "static", "learnable"])
def test_anchor_losses_fall_when_trained(weighting):
    torch.manual_seed(0)
    a = DualAnchors(16, 26, 8, 11, 8, 6, 32, weighting=weighting, decay_steps=1000)
    h, t = torch.randn(4, 16, 26), torch.randint(0, 1000, (4,))
    x0, target = torch.randn(4, 196, 11), torch.randn(4, 6)
    opt = torch.optim.Adam(a.parameters(), lr=3e-3)
    first = None
    for step in range(150):
        terms = a(h, t, x0, torch.full((4,), 196), target)
        loss = a.total(terms, 0)
        first = first or {k: v.item() for k, v in terms.items()}
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert terms["fre"].item() < 0.5 * first["fre"] and terms["tem"].item() < 0.5 * first["tem"]
    assert a.weight(500) == (0.5 if weighting == "cosine" else 1.0)


def test_frequency_target_is_the_dct_of_the_padded_window():
    torch.manual_seed(0)
    a = DualAnchors(4, 26, 8, 3, 8, 2, 16, use_tem=False, film=False)
    x0 = torch.zeros(2, 196, 3)
    x0[:, :40] = torch.randn(2, 40, 3)                                                 # a 40-frame clip, zero-padded
    h, t = torch.randn(2, 4, 26), torch.tensor([1, 2])
    z_fre, _ = a.project(h, t)
    basis = torch.cos(torch.pi * (2 * torch.arange(196.0)[None] + 1) * torch.arange(8.0)[:, None] / 392)
    basis = basis * torch.tensor([(1 / 196) ** 0.5] + [(2 / 196) ** 0.5] * 7)[:, None]   # eq. 16-17, (K, N)
    expected = ((z_fre - torch.einsum("kn,bnd->bkd", basis, x0)) ** 2).mean()
    torch.testing.assert_close(a(h, t, x0)["fre"], expected)


def test_a_batch_cropped_to_its_longest_clip_gets_the_fixed_window_target():
    """Choice 7: with window=196 a cropped batch (x0 of 88 frames, the feature's 11 of 26 frames) is zero-padded, so
    both losses equal those of the full window whose frames past the crop are zeros; without the window the DCT
    would run over 88 frames and differ."""
    torch.manual_seed(0)
    a = DualAnchors(4, 26, 8, 3, 8, 2, 16, window=196)
    x0 = torch.zeros(2, 196, 3)
    x0[0, :88], x0[1, :60] = torch.randn(88, 3), torch.randn(60, 3)                   # the batch's longest: 88
    h = torch.zeros(2, 4, 26)
    h[..., :11] = torch.randn(2, 4, 11)                                                # 88 frames -> 96 -> 11 at /8
    t, lengths, target = torch.tensor([3, 700]), torch.tensor([88, 60]), torch.randn(2, 2)
    full = a(h, t, x0, lengths, target)
    cropped = a(h[..., :11], t, x0[:, :88], lengths, target)
    assert all(torch.equal(full[k], cropped[k]) for k in ("fre", "tem"))
    a.window = None
    assert not torch.allclose(a(h[..., :11], t, x0[:, :88], lengths, target)["fre"], full["fre"])
