"""ATM's alignment losses: inter-motion misalignment mining with an adaptive triplet margin, and clip-level
intra-motion alignment towards inferred positive / negative proxy clips, in a frozen text-motion embedding space.

Source: ATM, "Enhanced Alignment for Text-to-Motion Generation" (Han, Lyu, Yu, Sebe), sec. 3.2-3.3 (eq. 2-8),
sec. 4.1 (lambda, epsilon, gamma, clip length), Tables 3-5; no public code (ke-han-aca/ATM holds a README).

D(a, b) = ||a - b||_2 in the frozen alignment space; t_i text, m_i real motion, m^_i generated motion of sample i.
  mining   j* = argmin_{j != i} D(m^_i, m^_j) / D(m_i, m_j),  D(m^_i, m^_j) := inf where cos(t_i, t_j) > eps  (eq. 2)
  inter    L_inter = max(0, D(t_i, m^_i) - D(t_i, m^_j*) + phi_ter),   phi_ter = D(t_i, m_j*) - D(t_i, m_i)      (eq. 3)
  clips    m^_i = {m^_i^1, m^_i^2, ...}, m_i = {m_i^1, ...}, L frames each
  anchor   k* = argmax_k D(m^_i^k, m_i^k);   c^ = m^_i^k*,  c = m_i^k*                                         (eq. 4)
  proxies  c^_pos = argmax_k D(c^, c^_k) / D(c, c_k),  c^_neg = argmin_k (same ratio), k over every other clip
           of the batch                                                                                     (eq. 5-6)
  intra    L_intra = max(0, D(c^, c^_pos) - D(c^, c^_neg) + phi_tra),  phi_tra = D(c, c_neg) - D(c, c_pos),
           only for samples whose whole motions have cos(m^_i, m_i) < gamma                                    (eq. 7)
  total    L_all = L_mse + lambda (L_inter + L_intra)                                                         (eq. 8)
Paper values: lambda 0.01, eps 0.85, gamma 0.8, L = 2 s (40 frames HumanML3D at 20 fps, 25 KIT at 12.5 fps), clips
shorter than 1 s discarded.

Choices the paper leaves open, made here:
  1. Space: the project's frozen MoCLIP (moclip.py) stands in for the paper's HumanTOMATO/TMR-style module; its
     embeddings are unit vectors, so D is in [0, 2] and D^2 = 2 - 2 cos. Any object with encode_motion(x, lengths)
     works; it reads feat_bias-normalised (B, T, D) features exactly like the U-Net's x0.
  2. eps and gamma are raw cosines (not TMR's [0, 1] score): eps on Sentence-BERT vectors (all-MiniLM-L6-v2 pooled,
     `sentence_embedder`), gamma on the alignment space's motion embeddings.
  3. The generated motion is the diffusion's x0 prediction of the training step (one network call at a random t).
  4. m_i^h in phi_ter is the real motion of the mined index, m_j*: the real gap D(t_i, m_j*) - D(t_i, m_i) is the
     gap the generated pair must keep. Margins may be negative and are not clamped.
  5. Clips: successive, non-overlapping (stride = L, the paper's "successive clips"; `clip_stride` allows overlap),
     starting at frame 0. A motion shorter than L gives no clip (its only clip would be the whole motion, already
     aligned by L_inter); a tail clip is kept when >= ceil(L / 2) frames (1 s) of it are valid, its padding masked by
     the encoder's lengths; clips lying in padding are dropped.
  6. Selection (argmin / argmax / the gate) uses detached embeddings; gradients flow only through the distances of
     the chosen triplets. Ties go to the lowest index (torch.argmin / argmax return the first extremum). Ratio
     denominators are floored at 1e-8 (two identical real motions). Intra proxies may come from the anchor's own
     sample; an anchor whose two proxies coincide (a pool of one clip) contributes 0.
  7. Reduction: per-sample terms summed over the contributing samples and divided by the batch size B, so a sample
     with no valid j*, no clip, or outside the gate contributes exactly 0 (never NaN).
  8. Rows trained without their caption are left out (ATMLoss(..., keep=)): classifier-free guidance drops the text of
     about 10% of each batch (unet.CondUnet1D, cond_mask_prob; train.py draws the drop and passes the conditioned
     rows). Those x0 predictions never saw t_i, so pulling them towards t_i (L_inter), mining them as negatives of
     another caption, or aligning their clips to the real motion's would train the unconditional branch on the caption.
     The paper says nothing either way. The terms are then those of the kept B' rows alone, as if the batch held only
     them (divided by B', negatives and proxies mined among them); the dropped rows get an exactly zero gradient. One
     kept row has no negative (L_inter 0) and only its own clips; none kept gives 0 (a graph, never NaN).
Table 5 replaces L_inter (and drops L_intra); every triplet uses the adaptive margin phi_ij = D(t_i, m_j) - D(t_i, m_i)
for anchor t_i, positive m^_i, negative m^_j (or a fixed float):
  "triplet"       FaceNet (Schroff et al. 2015, [37]): mean over every j != i ("across all example pairs").
  "hard_triplet"  batch-hard (Hermans et al. 2017, [11]): only the closest negative, argmin_{j != i} D(t_i, m^_j).
  "drop_triplet"  DropTriple (Yan et al. 2023, [51]): negatives whose caption cos > eps dropped as false negatives,
                  then the closest remaining one.
  "contrastive"   HumanTOMATO's TMR-style InfoNCE ([23]): symmetric cross-entropy of cos(t_i, m^_j) / tau, tau 0.1,
                  caption-similar negatives masked as TMR does; not a triplet, so no margin.

    python -m pytest -q tests/test_atm_losses.py
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANTS = ("atm", "contrastive", "triplet", "hard_triplet", "drop_triplet")
RATIO_FLOOR = 1e-8   # denominator floor of the eq. 2 / 5-6 ratios (identical real motions or clips)


def pairwise_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, E), (M, E) -> (N, M) Euclidean distances from explicit differences: exact zeros and exact ties for mirrored
    points (torch.cdist's matmul path has neither), and a zero gradient at zero distance."""
    return (a[:, None, :] - b[None, :, :]).norm(dim=-1)                               # (N, M)


def caption_similarity(emb: torch.Tensor) -> torch.Tensor:
    """Cosine similarity matrix (B, B) of caption embeddings (B, E) (any scale; normalised here), float32."""
    e = F.normalize(emb.float(), dim=-1)
    return e @ e.T                                                                    # (B, B)


def _check_margin(margin) -> None:
    if not (margin == "adaptive" or (isinstance(margin, (int, float)) and not isinstance(margin, bool))):
        raise ValueError(f"atm_losses.py: margin must be 'adaptive' or a number, got {margin!r}")


# ----------------------------------------------------------------------------------------------------------------
# Inter-motion alignment (sec. 3.2)
# ----------------------------------------------------------------------------------------------------------------

@torch.no_grad()
def mine_inter(gen_emb: torch.Tensor, real_emb: torch.Tensor, text_sim: torch.Tensor, epsilon: float = 0.85):
    """Inter-motion misalignment mining, eq. 2.

    gen_emb, real_emb: (B, E) embeddings of the generated and real motions; text_sim: (B, B) caption cosines.
    Returns j_star (B,) long (lowest index on ties; meaningless where not valid), valid (B,) bool (some j != i is left
    after exclusion) and excluded (B, B) bool (off-diagonal pairs with text_sim > epsilon). No gradient.
    """
    B = len(gen_emb)
    eye = torch.eye(B, dtype=torch.bool, device=gen_emb.device)
    excluded = (text_sim.to(gen_emb.device) > epsilon) & ~eye
    ratio = pairwise_dist(gen_emb, gen_emb) / pairwise_dist(real_emb, real_emb).clamp_min(RATIO_FLOOR)  # (B, B)
    ratio = ratio.masked_fill(excluded | eye, math.inf)                               # D(m^_i, m^_j) := inf
    return ratio.argmin(1), ~(excluded | eye).all(1), excluded


def inter_loss(text_emb: torch.Tensor, gen_emb: torch.Tensor, real_emb: torch.Tensor, text_sim: torch.Tensor,
               variant: str = "atm", margin="adaptive", epsilon: float = 0.85, temperature: float = 0.1):
    """L_inter (eq. 3) or a Table 5 alternative, averaged over the batch.

    text_emb (B, E) and real_emb (B, E) without gradient; gen_emb (B, E) with gradient; text_sim (B, B) caption
    cosines (Sentence-BERT). variant: one of VARIANTS (module docstring); margin: "adaptive" (phi from the real
    motions) or a float (Table 4); temperature: "contrastive" only. Returns (loss 0-dim float tensor, (j_star, valid,
    excluded) of mine_inter). A sample with no valid negative contributes exactly 0. Raises ValueError for an
    unknown variant or margin.
    """
    if variant not in VARIANTS:
        raise ValueError(f"atm_losses.py: variant must be one of {VARIANTS}, got {variant!r}")
    _check_margin(margin)
    B = len(gen_emb)
    text_emb, real_emb = text_emb.to(gen_emb), real_emb.to(gen_emb)
    mined = mine_inter(gen_emb.detach(), real_emb, text_sim, epsilon)
    j_star, valid, excluded = mined
    if B < 2:
        return gen_emb.new_zeros(()), mined
    eye = torch.eye(B, dtype=torch.bool, device=gen_emb.device)
    if variant == "contrastive":
        logits = F.normalize(text_emb, dim=-1) @ F.normalize(gen_emb, dim=-1).T / temperature  # (B, B) t_i . m^_j
        logits = logits.masked_fill(excluded, -math.inf)                              # TMR's false-negative filter
        target = torch.arange(B, device=gen_emb.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)), mined
    d_gen = pairwise_dist(text_emb, gen_emb)                                          # (B, B) D(t_i, m^_j)
    with torch.no_grad():
        d_real = pairwise_dist(text_emb, real_emb)                                    # (B, B) D(t_i, m_j)
        phi = d_real - d_real.diagonal()[:, None] if margin == "adaptive" else torch.full_like(d_real, margin)
    hinge = F.relu(d_gen.diagonal()[:, None] - d_gen + phi)                           # (B, B) triplet (t_i, m^_i, m^_j)
    rows = torch.arange(B, device=gen_emb.device)
    if variant == "triplet":
        return (hinge * (~eye)).sum() / (B * (B - 1)), mined
    if variant == "hard_triplet":
        j = d_gen.detach().masked_fill(eye, math.inf).argmin(1)                       # closest negative
        return hinge[rows, j].mean(), mined
    if variant == "drop_triplet":
        j = d_gen.detach().masked_fill(eye | excluded, math.inf).argmin(1)            # closest non-dropped negative
    else:
        j = j_star
    return hinge[rows[valid], j[valid]].sum() / B, mined


# ----------------------------------------------------------------------------------------------------------------
# Intra-motion alignment (sec. 3.3)
# ----------------------------------------------------------------------------------------------------------------

def split_clips(x: torch.Tensor, lengths: torch.Tensor, clip_len: int, stride: int | None = None,
                min_frames: int | None = None):
    """Cut motions into clips of clip_len frames (choice 5 of the module docstring).

    x (B, T, D); lengths (B,) valid frames; stride: frames between clip starts (default clip_len, no overlap);
    min_frames: fewest valid frames a kept clip has (default ceil(clip_len / 2) = 1 s at the paper's 2 s clips).
    Returns clips (N, L, D) (differentiable in x; frames past a clip's length are padding), clip_lengths (N,) long,
    owner (N,) long sample index, start (N,) long first frame; clips ordered by sample, then time.
    Raises ValueError for clip_len, stride or min_frames < 1.
    """
    stride = clip_len if stride is None else stride
    min_frames = math.ceil(clip_len / 2) if min_frames is None else min_frames
    if min(clip_len, stride, min_frames) < 1:
        raise ValueError(f"atm_losses.py: clip_len, stride and min_frames must be >= 1, got {clip_len}, {stride}, "
                         f"{min_frames}")
    B, T, _ = x.shape
    lengths = lengths.to(x.device).long()
    starts = torch.arange(0, T, stride, device=x.device)                              # (K,)
    x = F.pad(x, (0, 0, 0, max(int(starts[-1]) + clip_len - T, 0)))                   # (B, T', D) zero tail
    frames = starts[:, None] + torch.arange(clip_len, device=x.device)                # (K, L)
    valid = (lengths[:, None] - starts[None, :]).clamp(0, clip_len)                   # (B, K) valid frames per clip
    keep = (valid >= min_frames) & (lengths >= clip_len)[:, None]                     # (B, K)
    owner, k = keep.nonzero(as_tuple=True)                                            # (N,), (N,)
    return x[owner[:, None], frames[k]], valid[owner, k], owner, starts[k]            # (N, L, D) ...


@torch.no_grad()
def mine_intra(gen_clip: torch.Tensor, real_clip: torch.Tensor, owner: torch.Tensor, gated: torch.Tensor):
    """Least-aligned clip (eq. 4) of each gated sample and its positive / negative proxies (eq. 5-6).

    gen_clip, real_clip: (N, E) clip embeddings; owner: (N,) sample of each clip; gated: (B,) bool, samples that get
    L_intra. Returns (anchor, pos, neg), (G,) long clip indices into N, one row per gated sample that has a clip and
    two distinct proxies (lowest index on ties). No gradient.
    """
    B, N = len(gated), len(gen_clip)
    empty = torch.zeros(0, dtype=torch.long, device=gen_clip.device)
    if N < 2:
        return empty, empty, empty
    own = owner[None, :] == torch.arange(B, device=owner.device)[:, None]              # (B, N)
    d_self = (gen_clip - real_clip).norm(dim=-1)                                      # (N,) D(m^_i^k, m_i^k)
    anchor = d_self[None, :].masked_fill(~own, -math.inf).argmax(1)                   # (B,) k* per sample, eq. 4
    anchor = anchor[own.any(1) & gated.to(owner.device)]                              # (G,)
    ratio = pairwise_dist(gen_clip[anchor], gen_clip) / \
        pairwise_dist(real_clip[anchor], real_clip).clamp_min(RATIO_FLOOR)           # (G, N)
    me = anchor[:, None] == torch.arange(N, device=owner.device)[None, :]             # (G, N) c^ itself
    pos = ratio.masked_fill(me, -math.inf).argmax(1)                                  # eq. 5
    neg = ratio.masked_fill(me, math.inf).argmin(1)                                   # eq. 6
    keep = pos != neg
    return anchor[keep], pos[keep], neg[keep]


def intra_loss(gen_clip: torch.Tensor, real_clip: torch.Tensor, owner: torch.Tensor, gated: torch.Tensor,
               margin="adaptive") -> tuple[torch.Tensor, int]:
    """L_intra, eq. 7, summed over the contributing samples and divided by B = len(gated).

    gen_clip (N, E) with gradient, real_clip (N, E) without; owner (N,) long; gated (B,) bool (cos(m^_i, m_i) <
    gamma); margin: "adaptive" (phi_tra from the real clips) or a float (Table 4). Returns (loss 0-dim tensor,
    number of contributing samples). Raises ValueError for a bad margin.
    """
    _check_margin(margin)
    real_clip = real_clip.to(gen_clip)
    anchor, pos, neg = mine_intra(gen_clip.detach(), real_clip, owner, gated)
    if len(anchor) == 0:
        return gen_clip.new_zeros(()), 0
    c, c_pos, c_neg = gen_clip[anchor], gen_clip[pos], gen_clip[neg]                  # (G, E) each
    if margin == "adaptive":
        r = real_clip[anchor]
        phi = (r - real_clip[neg]).norm(dim=-1) - (r - real_clip[pos]).norm(dim=-1)  # (G,) phi_tra
    else:
        phi = float(margin)
    hinge = F.relu((c - c_pos).norm(dim=-1) - (c - c_neg).norm(dim=-1) + phi)        # (G,)
    return hinge.sum() / len(gated), len(anchor)


# ----------------------------------------------------------------------------------------------------------------
# The per-step module and the caption caches
# ----------------------------------------------------------------------------------------------------------------

def _check_frozen(encoder) -> None:
    if isinstance(encoder, nn.Module):
        if any(p.requires_grad for p in encoder.parameters()):
            raise ValueError("atm_losses.py: the alignment encoder must be frozen (requires_grad_(False)): ATM "
                             "trains the generator through it, never the encoder itself")
        if encoder.training:
            raise ValueError("atm_losses.py: the alignment encoder is in training mode; call .eval() (dropout would "
                             "make the embeddings random)")


class ATMLoss(nn.Module):
    """ATM's alignment terms for one training step (sec. 3, eq. 8); holds no parameters.

    clip_len: L frames (40 HumanML3D / embedded at 20 fps, 25 KIT at 12.5 fps); clip_stride: None = clip_len;
    min_clip_frames: None = ceil(L / 2) (1 s); use_inter / use_intra: Table 3 switches; variant: L_inter or a
    Table 5 alternative (VARIANTS; a variant other than "atm" is meant with use_intra=False, as in the paper);
    margin / margin_intra: "adaptive" or a fixed float (Table 4, inter and intra columns); epsilon: caption-cosine
    exclusion; gamma: the intra gate; lambda_atm: lambda of eq. 8; temperature: the "contrastive" variant's tau.
    """

    def __init__(self, clip_len: int = 40, clip_stride: int | None = None, min_clip_frames: int | None = None,
                 use_inter: bool = True, use_intra: bool = True, variant: str = "atm", margin="adaptive",
                 margin_intra="adaptive", epsilon: float = 0.85, gamma: float = 0.8, lambda_atm: float = 0.01,
                 temperature: float = 0.1):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"atm_losses.py: variant must be one of {VARIANTS}, got {variant!r}")
        _check_margin(margin)
        _check_margin(margin_intra)
        self.clip_len, self.clip_stride, self.min_clip_frames = clip_len, clip_stride, min_clip_frames
        self.use_inter, self.use_intra, self.variant = use_inter, use_intra, variant
        self.margin, self.margin_intra = margin, margin_intra
        self.epsilon, self.gamma, self.lambda_atm, self.temperature = epsilon, gamma, lambda_atm, temperature

    def forward(self, encoder, x0_hat: torch.Tensor, x0: torch.Tensor, lengths: torch.Tensor,
                text_emb: torch.Tensor, text_sim: torch.Tensor, real_emb: torch.Tensor | None = None,
                keep: torch.Tensor | None = None) -> dict:
        """encoder: frozen, eval-mode object with encode_motion(x (B, T, D), lengths (B,)) -> (B, E);
        x0_hat (B, T, D) the generator's x0 prediction WITH gradient (any float dtype, used as float32); x0 (B, T, D)
        real normalised motion; lengths (B,) valid frames; text_emb (B, E) alignment-space caption embeddings and
        text_sim (B, B) Sentence-BERT caption cosines, both without gradient; real_emb (B, E): encoder.encode_motion(x0,
        lengths) when the caller has it already (luma+atm: LUMA's f_tem target), else computed here; keep (B,) bool on
        any device (a CPU one costs no device sync): the rows whose caption the network saw (choice 8), None = all.
        Returns {"inter", "intra": 0-dim float32 tensors (constant 0 when switched off or nothing contributes),
        "loss": lambda (inter + intra), the term added to L_mse (eq. 8); "gate_rate": float, fraction of samples with
        cos(m^_i, m_i) < gamma; "excluded_rate": float, fraction of the B(B-1) pairs (i, j) excluded by epsilon;
        "no_valid": int, samples with no valid j*; "clips": int, clips cut; "intra_samples": int, samples in L_intra},
        the statistics over the kept rows. Raises ValueError for mismatched shapes (keep included) or an encoder that
        is not frozen and in eval mode.
        """
        _check_frozen(encoder)
        B = x0.shape[0]
        if x0_hat.shape != x0.shape or lengths.shape != (B,) or text_emb.shape[0] != B or text_sim.shape != (B, B) \
                or (keep is not None and (keep.shape != (B,) or keep.dtype != torch.bool)):
            raise ValueError(f"atm_losses.py: expected x0_hat {tuple(x0.shape)}, lengths ({B},), text_emb ({B}, E), "
                             f"text_sim ({B}, {B}), keep ({B},) bool; got {tuple(x0_hat.shape)}, "
                             f"{tuple(lengths.shape)}, {tuple(text_emb.shape)}, {tuple(text_sim.shape)}, "
                             f"{None if keep is None else (tuple(keep.shape), keep.dtype)}")
        if keep is not None:  # choice 8: the batch of the conditioned rows alone
            rows = keep.cpu().nonzero().squeeze(1)                                    # (B',) kept row indices
            if len(rows) == 0:
                zero = x0_hat.float()[:0].sum()                                       # 0, with a graph to x0_hat
                return {"inter": zero, "intra": zero, "loss": zero, "gate_rate": 0.0, "excluded_rate": 0.0,
                        "no_valid": 0, "clips": 0, "intra_samples": 0}

            def pick(v):                                                              # v's kept rows, on v's device
                return None if v is None else v.index_select(0, rows.to(v.device))
            return self.forward(encoder, pick(x0_hat), pick(x0), pick(lengths), pick(text_emb),
                                pick(pick(text_sim).T).T, pick(real_emb))            # (B', ...), (B', B')
        x0_hat, x0 = x0_hat.float(), x0.float()
        if real_emb is None:
            with torch.no_grad():
                real_emb = encoder.encode_motion(x0, lengths)                         # (B, E) m_i
        real_emb = real_emb.detach().float()
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.use_inter):
            gen_emb = encoder.encode_motion(x0_hat, lengths).float()                  # (B, E) m^_i
        text_emb = text_emb.to(gen_emb)
        zero = gen_emb.new_zeros(())
        inter = intra = zero
        if self.use_inter:
            inter, (_, valid, excluded) = inter_loss(text_emb, gen_emb, real_emb, text_sim, self.variant,
                                                     self.margin, self.epsilon, self.temperature)
        else:
            _, valid, excluded = mine_inter(gen_emb.detach(), real_emb, text_sim, self.epsilon)
        gated = F.cosine_similarity(gen_emb.detach(), real_emb, dim=-1) < self.gamma   # (B,) the intra gate
        n_clips = n_intra = 0
        if self.use_intra and bool(gated.any()):
            gen_c, clip_lengths, owner, _ = split_clips(x0_hat, lengths, self.clip_len, self.clip_stride,
                                                        self.min_clip_frames)        # (N, L, D)
            n_clips = len(owner)
            if n_clips >= 2:
                real_c = split_clips(x0, lengths, self.clip_len, self.clip_stride, self.min_clip_frames)[0]
                with torch.no_grad():
                    real_clip = encoder.encode_motion(real_c, clip_lengths).float()   # (N, E) c_k
                gen_clip = encoder.encode_motion(gen_c, clip_lengths).float()         # (N, E) c^_k
                intra, n_intra = intra_loss(gen_clip, real_clip, owner, gated, self.margin_intra)
        return {"inter": inter, "intra": intra, "loss": self.lambda_atm * (inter + intra),
                "gate_rate": gated.float().mean().item(),
                "excluded_rate": excluded.sum().item() / (B * (B - 1)) if B > 1 else 0.0,
                "no_valid": int((~valid).sum()), "clips": n_clips, "intra_samples": n_intra}

    def extra_repr(self) -> str:
        return (f"clip_len={self.clip_len}, inter={self.use_inter}, intra={self.use_intra}, variant={self.variant}, "
                f"margin={self.margin}, margin_intra={self.margin_intra}, eps={self.epsilon}, gamma={self.gamma}, "
                f"lambda={self.lambda_atm}")


class CaptionEmbeddings:
    """Each caption string encoded once by a frozen encoder and kept (CPU, float32) for the rest of training.

    encode_fn: list of captions -> (B, E) tensor, e.g. a MoCLIP's `encode_text` (the alignment-space t_i) or
    `sentence_embedder()` (Sentence-BERT, for the epsilon exclusion). Called under torch.no_grad on the captions not
    yet cached. About 45k HumanML3D captions x (256 + 384) floats = 115 MB for both caches.
    """

    def __init__(self, encode_fn):
        self.encode_fn, self.rows = encode_fn, {}

    def __len__(self) -> int:
        return len(self.rows)

    def fill(self, captions: list[str], batch_size: int = 256) -> "CaptionEmbeddings":
        """Encode every caption not yet cached, batch_size at a time, before training: one batched pass instead of
        an encoder call in most training steps (captions keep appearing for their first time for many epochs)."""
        missing = list(dict.fromkeys(c for c in captions if c not in self.rows))
        for start in range(0, len(missing), batch_size):
            self.get(missing[start:start + batch_size])
        return self

    def get(self, captions: list[str], device=None) -> torch.Tensor:
        """captions (B strings) -> (B, E) float32 on `device` (default CPU). Raises ValueError for an empty list."""
        if len(captions) == 0:
            raise ValueError("atm_losses.py: CaptionEmbeddings.get needs at least one caption")
        missing = list(dict.fromkeys(c for c in captions if c not in self.rows))     # unique, in order
        if missing:
            with torch.no_grad():
                emb = self.encode_fn(missing)                                        # (M, E)
            self.rows.update(zip(missing, emb.detach().float().cpu()))
        return torch.stack([self.rows[c] for c in captions]).to(device)              # (B, E)


def sentence_embedder(encoder):
    """Sentence-BERT caption vectors (Reimers & Gurevych 2019, ATM's [34]): the masked-mean pooled, L2-normalised
    last states of all-MiniLM-L6-v2 (text_encoder.TextEncoder(), the packaged offline model; tests/test_text_encoder.py
    checks it against sentence-transformers). encoder: a non-CLIP TextEncoder, passed in so that this file imports
    no other file of the project. Returns captions -> (B, 384) float32 unit vectors. Raises ValueError for a CLIP
    tower (its EOT state is no sentence embedding)."""
    if encoder.is_clip:
        raise ValueError("atm_losses.py: the caption similarity needs a sentence encoder (MiniLM), not CLIP")
    return lambda captions: encoder(captions)[2]                                     # forward() runs under no_grad
