"""motion_ae.py: causality of the SAE, shapes for any length, the frame-label window and alignment loss, label rows,
and a few optimiser steps on real HumanML3D motions that lower the loss."""
import json

import numpy as np
import pytest
import torch

from data import DATASETS, load_stats
from motion_ae import (LabelledMotions, MotionAE, ae_losses, alignment_loss, frame_label_table,
                       reconstruction_metrics, token_label_targets)


def small_ae(label_dim=0, seed=0):
    torch.manual_seed(seed)
    return MotionAE(263, width=32, depth=3, growth=3, down_t=2, latent_dim=16, label_dim=label_dim).eval()


@torch.no_grad()
def test_encoder_is_causal():
    """Changing frame t+1 leaves every token whose window [.., 4i + 4) ends at or before t unchanged, and changes
    the token that holds frame t+1."""
    model = small_ae()
    x = torch.randn(2, 64, 263)
    mu = model.encode(x)[0]                                                   # (2, 16, 16)
    for t in (0, 3, 29, 30, 31, 46, 62):
        x2 = x.clone()
        x2[:, t + 1] += torch.randn(263)
        mu2 = model.encode(x2)[0]
        done = [i for i in range(16) if 4 * i + 3 <= t]
        assert torch.equal(mu[:, done], mu2[:, done]), t
        assert (mu[:, (t + 1) // 4] - mu2[:, (t + 1) // 4]).abs().max() > 1e-4, t


@torch.no_grad()
def test_decoder_is_causal_in_tokens():
    model = small_ae()
    z = torch.randn(1, 12, 16)
    x = model.decode(z)
    z2 = z.clone()
    z2[:, 7] += 1.0
    x2 = model.decode(z2)
    assert torch.equal(x[:, :28], x2[:, :28]) and not torch.allclose(x[:, 28:32], x2[:, 28:32])


@pytest.mark.parametrize("T", [40, 41, 42, 43, 45, 197, 199])
@torch.no_grad()
def test_encode_decode_shapes_any_length(T):
    model = small_ae()
    x = torch.randn(3, T, 263)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, -(-T // 4), 16)
    assert model.decode(mu).shape == (3, 4 * -(-T // 4), 263)
    x_hat, z, _, _ = model(x)
    assert x_hat.shape == x.shape and z.shape == mu.shape
    # the zero padding added inside encode is what a dataset's zero padding gives: same tokens
    padded = torch.cat([x, torch.zeros(3, 4 * mu.shape[1] - T, 263)], 1)
    assert torch.allclose(model.encode(padded)[0], mu, atol=1e-6)


def test_token_label_targets_match_a_loop():
    torch.manual_seed(1)
    B, T, C = 2, 37, 5
    emb, labelled = torch.randn(B, T, C), torch.rand(B, T) > 0.3
    labelled[1, :30] = False                                                   # early tokens of row 1 have no label
    target, has = token_label_targets(emb, labelled, stride=4, context=4)
    assert target.shape == (B, 10, C)
    for b in range(B):
        for i in range(10):
            frames = [f for f in range(max(4 * i - 16, 0), min(4 * i + 4, T)) if labelled[b, f]]
            assert bool(has[b, i]) == bool(frames)
            if frames:
                assert torch.allclose(target[b, i], emb[b, frames].mean(0), atol=1e-5)


def test_alignment_loss_zero_when_latents_equal_projected_text():
    model = small_ae(label_dim=8)
    emb, labelled = torch.randn(2, 40, 8), torch.ones(2, 40, dtype=torch.bool)
    target, has = token_label_targets(emb, labelled)
    proj = model.label_proj(target).detach()                                  # (2, 10, 16) = W e_i
    assert alignment_loss(proj, proj, has).abs() < 1e-6
    assert alignment_loss(3.0 * proj, proj, has).abs() < 1e-6                 # cosine: scale-free
    assert torch.isclose(alignment_loss(-proj, proj, has), torch.tensor(2.0), atol=1e-5)
    valid = has.clone()
    valid[:, 5:] = False                                                      # invalid tokens do not count
    z = proj.clone()
    z[:, 5:] = torch.randn(2, 5, 16)
    assert alignment_loss(z, proj, valid).abs() < 1e-6


def test_frame_label_table(tmp_path):
    (tmp_path / "frame_labels").mkdir()
    segs = [{"start": 0, "end": 3, "action": "walk", "text": "a person walks"},
            {"start": 5, "end": 8, "action": "jump", "text": "a person jumps"}]
    (tmp_path / "frame_labels" / "a.json").write_text(json.dumps({"fps": 20, "segments": segs}))
    items = [{"name": "a", "length": 8, "captions": [{"caption": "x"}]},
             {"name": "B_b", "length": 4, "captions": [{"caption": "c1"}, {"caption": "c2"}]}]
    rows, labels = frame_label_table(tmp_path, items)
    assert rows == [("a person walks",), ("a person jumps",), ("c1", "c2")]
    assert labels[0].tolist() == [0, 0, 0, -1, -1, 1, 1, 1] and labels[1].tolist() == [2, 2, 2, 2]


def test_losses_fall_on_real_motions(hml3d_sample):
    """A few AdamW steps on the real HumanML3D sample: every term finite, the total loss falls."""
    info = DATASETS["humanml3d"]
    mean, std = load_stats(hml3d_sample, info)
    data = LabelledMotions(hml3d_sample, "train", info, mean, std, max_motion_length=64, seed=0)
    assert data.rows and all((lab >= 0).all() for lab in data.labels)         # whole-caption rows label every frame
    batch = [data[i % len(data)] for i in range(4)]                            # random 64-frame crops
    x = torch.stack([b["motion"] for b in batch])
    length = torch.tensor([b["length"] for b in batch])
    emb = torch.randn(len(data.rows), 8)[torch.stack([b["labels"] for b in batch]).clamp(min=0)]
    model = small_ae(label_dim=8).train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    m, s = torch.from_numpy(mean), torch.from_numpy(std)
    losses = []
    for _ in range(15):
        out = ae_losses(model, x, length, m, s, 22, emb, torch.ones(4, 64, dtype=torch.bool))
        assert all(torch.isfinite(v) for v in out.values())
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses
    metrics = reconstruction_metrics(model, data, 22)
    assert metrics["MPJPE_mm"] > 0 and np.isfinite(metrics["feature_MSE"]) and metrics["motions"] == len(data)


def test_keyed_crops_repeat_exactly(hml3d_sample):
    """A key (epoch, i) draws the same crop every time (exact resume), another epoch another crop; an int key keeps
    drawing from the running generator."""
    info = DATASETS["humanml3d"]
    mean, std = load_stats(hml3d_sample, info)
    data = LabelledMotions(hml3d_sample, "train", info, mean, std, max_motion_length=40, seed=0)
    i = max(range(len(data)), key=lambda k: data.items[k]["length"])                 # the longest: many windows
    first = data[(0, i)]["motion"]
    assert torch.equal(first, data[(0, i)]["motion"])
    start = data[(0, i)]["start"]                                                    # the window's first frame
    assert torch.allclose(first, torch.from_numpy((data.items[i]["motion"][start:start + 40] - mean) / std))
    assert any(not torch.equal(first, data[(e, i)]["motion"]) for e in range(1, 6))
    assert any(not torch.equal(data[i]["motion"], data[i]["motion"]) for _ in range(5))


def test_bf16_autocast_keeps_float32_losses(hml3d_sample):
    """--precision=bf16 autocasts the network only: the loss terms stay float32, finite and near the fp32 ones."""
    info = DATASETS["humanml3d"]
    mean, std = load_stats(hml3d_sample, info)
    data = LabelledMotions(hml3d_sample, "train", info, mean, std, max_motion_length=48, seed=0)
    x = torch.stack([data[(0, k % len(data))]["motion"] for k in range(2)])
    length, m, s = torch.tensor([48, 41]), torch.from_numpy(mean), torch.from_numpy(std)
    model, emb, lab = small_ae(label_dim=8), torch.randn(2, 48, 8), torch.ones(2, 48, dtype=torch.bool)
    torch.manual_seed(0)
    fp32 = ae_losses(model, x, length, m, s, 22, emb, lab)
    torch.manual_seed(0)
    bf16 = ae_losses(model, x, length, m, s, 22, emb, lab, autocast=torch.autocast("cpu", dtype=torch.bfloat16))
    for k in ("feats", "joints", "kl", "align", "loss"):
        assert bf16[k].dtype == torch.float32 and torch.isfinite(bf16[k])
        assert abs(bf16[k].item() - fp32[k].item()) <= 0.05 * abs(fp32[k].item()) + 1e-4, (k, bf16[k], fp32[k])
