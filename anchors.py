"""LUMA's dual anchors: FiLM-modulated frequency and temporal projections of a deep U-Net feature, and the
cosine-annealed Dual Anchor Loss (DAL).

Source: LUMA, arXiv 2509.25304, sec. 3.2 (eq. 4-11), Algorithm 1, Tables 2-4; no public code.

    h (B, C, T')  the U-Net's feature at the anchor level (default: the last down level, the paper's "Down-block3")
      P: frequency projector  (B, C, T') -> (B, d_m, K)      K = k kept DCT coefficients, d_m = D motion features
      Q: temporal projector   (B, C, T') -> (B, D_a)         D_a = MoCLIP embedding width
    FiLM from the sinusoidal timestep embedding e(t) (eq. 4-5), zero-initialised so it is the identity at init:
      z_fre = ((1 + gamma_f(t)) * P(h) + beta_f(t))^T   (B, K, d_m), gamma/beta broadcast over K   (eq. 6)
      z_tem =  (1 + gamma_t(t)) * Q(h) + beta_t(t)      (B, D_a)                                   (eq. 7)
    L_fre = || z_fre - DCT_k(x0) ||^2   over the first k orthonormal DCT-II coefficients along time     (eq. 8)
    L_tem = 1 - cos(z_tem, f_tem(x0))   f_tem = the frozen MoCLIP motion encoder                      (eq. 9)
    L = L_DDPM + zeta(n) (lambda_fre L_fre + lambda_tem L_tem),  zeta(n) = (1 + cos(pi min(n/N, 1))) / 2  (eq. 10-11)

Choices the paper leaves open, made here and why:
  1. Projectors are "lightweight MLPs" on the whole C x T' feature, but a dense map of the flattened feature is
     C*T'*K*d_m ~ 450 G parameters at the paper size. P mixes channels per frame (1x1 conv C -> hidden), maps time
     T' -> K with one shared linear layer, then mixes to d_m per coefficient (1x1 conv hidden -> d_m), with SiLU
     between, so the K outputs are not limited to rank T' (T' = 26 < k = 64 at the last down level). Q is a 1x1
     conv C -> hidden, SiLU, a mean over the level's valid frames, and a linear map to D_a.
     Parameter counts (hidden = min(C, 256), k = 64, d_m = 263, T' = 26, d_emb = the U-Net's time_dim):
       CPU preset (C = 64, d_emb = 128, D_a = 256):    P 22,983  Q 20,800   two FiLMs 166,926  (U-Net 2.30 M)
       paper size (C = 1024, d_emb = 512, D_a = 512):  P 331,719 Q 393,984  two FiLMs 1,320,462 (U-Net 299 M)
  2. L_fre is the mean squared error per coefficient (the paper writes ||.||^2; StableMoFusion's L_DDPM is a
     per-element mean too, so lambda_fre = 0.1 keeps the paper's balance). x0 is the zero-padded, normalised
     196-frame training window: its DCT always has 196 coefficients, even for a 40-frame clip, and the padding
     contributes the step from the motion to zero, i.e. energy spread over all frequencies that the anchor must
     predict as well (the length is visible to the network through the same zero padding of x_t).
  3. n is the optimiser step and N the decay threshold (`--anchor_decay_steps`): the min(n/N, 1) clip only makes
     sense for a training counter. zeta scales both anchors (eq. 10).
  4. The FiLM generators read the plain sinusoidal e(t) (d_emb = the U-Net's time_dim), not the U-Net's time MLP,
     so the anchors' modulation cannot be learned away by the denoiser's own time pathway.
  5. Weighting variants for Table 4: "cosine" (eq. 11), "static" (zeta = 1 for the whole run), "learnable" (one
     global log-variance s per anchor, lambda * (exp(-s) L + s), Kendall et al. 2018: a learnable weight needs the
     + s term, otherwise it collapses to 0).
  6. L_DDPM is StableMoFusion's masked x0 MSE (diffusion.loss), the objective of sec. 3.1.1 eq. 2; Appendix C's
     Algorithm 1 (lines 4 and 7) writes the epsilon MSE ||eps^ - eps||^2 instead. x0 is right for this backbone (the
     U-Net predicts x0), but for one x_t the two differ by the inverse signal-to-noise ratio: through eq. 1,
     ||x0^ - x0||^2 = (1 - abar_t) / abar_t ||eps^ - eps||^2. So the balance lambda_fre = 0.1, lambda_tem = 0.5 strike
     against L_DDPM (sec. 4; Appendix D's grid, Table 9, does not say which loss it ran) is not an epsilon run's:
     next to it the anchors weigh more at small t, where the x0 error is the smaller, and less at large t.

  7. Length-bucketed batches (train.py --length_buckets) are cropped to their longest clip, so the feature has
     fewer than T' frames and x0 fewer than the window's N. The feature is zero-padded to T' (the frames the U-Net
     did not compute read as zeros, the frame positions unchanged) and x0 to N, so the DCT-II target of eq. 8 is the
     fixed-window target exactly: x0 is zero past every clip's length in both cases (a test checks the equality).

The projectors exist only in training: they read a U-Net feature and write nothing back, so a LUMA checkpoint samples
with exactly the baseline's network and cost (train.py saves the U-Net alone).

    python -m pytest -q tests/test_anchors.py
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from dct import dct_low_freq

WEIGHTINGS = ("cosine", "static", "learnable")


def zeta(n: int | torch.Tensor, decay_steps: int) -> float | torch.Tensor:
    """Cosine-annealed anchor weight of eq. 11: 1 at n=0, 0.5 at n=N/2, 0 from n=N on. n: optimiser step.
    Raises ValueError for decay_steps < 1."""
    if decay_steps < 1:
        raise ValueError(f"anchors.py: the decay threshold N must be >= 1, got {decay_steps}")
    if isinstance(n, torch.Tensor):
        return 0.5 * (1 + torch.cos(math.pi * torch.clamp(n / decay_steps, max=1.0)))
    return 0.5 * (1 + math.cos(math.pi * min(n / decay_steps, 1.0)))


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal e(t) (B, dim) float32 for integer steps t (B,): sin(t w_i) in even dims, cos in odd, w_i =
    10000^(-2i/dim) (the table the U-Net uses, Vaswani et al. 2017). Raises ValueError for odd dim."""
    if dim % 2:
        raise ValueError(f"anchors.py: the timestep embedding width must be even, got {dim}")
    freqs = torch.exp(torch.arange(0, dim, 2, device=t.device, dtype=torch.float64) * (-math.log(10000.0) / dim))
    angles = t.to(torch.float64)[:, None] * freqs[None]                               # (B, dim/2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1).float()       # (B, dim) interleaved sin, cos


class FiLM(nn.Module):
    """Feature-wise linear modulation from e(t) (Perez et al. 2017; LUMA eq. 4-7): z -> (1 + gamma) * z + beta.

    width: features of z; z may be (B, width) or (B, width, K) (gamma, beta broadcast over K). The last layer is
    zero-initialised, so FiLM is exactly the identity at initialisation.
    """

    def __init__(self, emb_dim: int, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, 2 * width))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, z: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.net(emb).chunk(2, dim=-1)                                   # (B, width) each
        if z.dim() == 3:
            gamma, beta = gamma[..., None], beta[..., None]                            # (B, width, 1)
        return (1 + gamma) * z + beta


class FrequencyProjector(nn.Module):
    """P: (B, C, T') -> (B, d_m, K): channel mix per frame, one shared time map T' -> K, channel mix to d_m."""

    def __init__(self, channels: int, frames: int, feat_dim: int, num_coeffs: int, hidden: int):
        super().__init__()
        self.frames = frames
        self.mix_in = nn.Conv1d(channels, hidden, 1)
        self.time_map = nn.Linear(frames, num_coeffs)
        self.mix_out = nn.Conv1d(hidden, feat_dim, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if h.shape[-1] != self.frames:
            raise ValueError(f"anchors.py: the anchor feature has {h.shape[-1]} frames, the frequency projector was "
                             f"built for {self.frames} (train on windows of the length it was built for)")
        a = F.silu(self.mix_in(h))                                                     # (B, hidden, T')
        a = F.silu(self.time_map(a))                                                   # (B, hidden, K)
        return self.mix_out(a)                                                         # (B, d_m, K)


class TemporalProjector(nn.Module):
    """Q: (B, C, T') -> (B, D_a): channel mix per frame, SiLU, mean over valid frames, linear to D_a."""

    def __init__(self, channels: int, embed_dim: int, hidden: int):
        super().__init__()
        self.mix_in = nn.Conv1d(channels, hidden, 1)
        self.out = nn.Linear(hidden, embed_dim)

    def forward(self, h: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        a = F.silu(self.mix_in(h))                                                     # (B, hidden, T')
        if frame_mask is None:
            pooled = a.mean(-1)
        else:
            w = frame_mask.to(a.dtype)[:, None, :]                                     # (B, 1, T')
            pooled = (a * w).sum(-1) / w.sum(-1).clamp(min=1)                          # (B, hidden)
        return self.out(pooled)                                                        # (B, D_a)


def level_mask(lengths: torch.Tensor, frames: int, stride: int) -> torch.Tensor:
    """(B, frames) bool: frame i of a feature level downsampled `stride` times is valid when i * stride < length
    (the level's frame i starts at input frame i * stride)."""
    return torch.arange(frames, device=lengths.device)[None, :] * stride < lengths[:, None]


class DualAnchors(nn.Module):
    """The frequency and temporal anchors on one U-Net feature and their losses (LUMA sec. 3.2).

    channels, frames: C and T' of the anchor feature; stride: input frames per anchor frame (2**level);
    feat_dim: d_m (263 / 251); num_coeffs: k (64); embed_dim: D_a of f_tem (MoCLIP); time_dim: d_emb of e(t);
    use_fre / use_tem: keep each anchor (Table 2's "w/o L_fre", "w/o L_tem"); film: FiLM on (Table 2 "w/o FiLM");
    weighting: "cosine" | "static" | "learnable" (Table 4); window: N, the training window in input frames (196),
    to which a cropped x0 is zero-padded (choice 7; None: x0 is taken as it comes). Raises ValueError for an unknown
    weighting or k > window.
    """

    def __init__(self, channels: int, frames: int, stride: int, feat_dim: int, num_coeffs: int = 64,
                 embed_dim: int = 512, time_dim: int = 512, hidden: int | None = None, use_fre: bool = True,
                 use_tem: bool = True, film: bool = True, weighting: str = "cosine",
                 lambda_fre: float = 0.1, lambda_tem: float = 0.5, decay_steps: int = 1000,
                 window: int | None = None):
        super().__init__()
        if weighting not in WEIGHTINGS:
            raise ValueError(f"anchors.py: weighting must be one of {WEIGHTINGS}, got {weighting!r}")
        hidden = hidden or min(channels, 256)
        self.num_coeffs, self.stride, self.time_dim, self.weighting = num_coeffs, stride, time_dim, weighting
        self.window = window
        self.use_fre, self.use_tem, self.film = use_fre, use_tem, film
        self.lambda_fre, self.lambda_tem, self.decay_steps = lambda_fre, lambda_tem, decay_steps
        self.P = FrequencyProjector(channels, frames, feat_dim, num_coeffs, hidden) if use_fre else None
        self.Q = TemporalProjector(channels, embed_dim, hidden) if use_tem else None
        self.film_fre = FiLM(time_dim, feat_dim) if use_fre and film else None
        self.film_tem = FiLM(time_dim, embed_dim) if use_tem and film else None
        self.log_var = nn.Parameter(torch.zeros(2)) if weighting == "learnable" else None

    def project(self, h: torch.Tensor, t: torch.Tensor, lengths: torch.Tensor | None = None):
        """h (B, C, T') anchor feature, t (B,) integer steps, lengths (B,) valid input frames (None = all).
        Returns (z_fre (B, K, d_m) or None, z_tem (B, D_a) or None)."""
        emb = timestep_embedding(t, self.time_dim) if self.film else None              # (B, d_emb)
        z_fre = z_tem = None
        if self.P is not None:
            z_fre = self.P(h)                                                          # (B, d_m, K)
            if self.film_fre is not None:
                z_fre = self.film_fre(z_fre, emb)                                      # eq. 6, broadcast over K
            z_fre = z_fre.transpose(1, 2)                                              # (B, K, d_m): the ^T of eq. 6
        if self.Q is not None:
            mask = None if lengths is None else level_mask(lengths, h.shape[-1], self.stride)
            z_tem = self.Q(h, mask)                                                    # (B, D_a)
            if self.film_tem is not None:
                z_tem = self.film_tem(z_tem, emb)                                      # eq. 7
        return z_fre, z_tem

    def forward(self, h, t, x0, lengths=None, tem_target=None) -> dict:
        """The anchor losses of one training batch (forward, so that DistributedDataParallel can wrap the module).

        x0: (B, N, d_m) clean normalised motion zero-padded to the window N (196), or cropped (choice 7);
        tem_target: (B, D_a) f_tem(x0) from the frozen MoCLIP motion encoder (required when the temporal anchor is on).
        Returns {"fre": L_fre (eq. 8, mean per coefficient), "tem": L_tem (eq. 9, batch mean)} as 0-dim tensors
        (0 for a switched-off anchor). Raises ValueError when tem_target is missing or has the wrong shape.
        """
        if self.P is not None and h.shape[-1] < self.P.frames:  # a batch cropped to its longest clip (choice 7)
            h = F.pad(h, (0, self.P.frames - h.shape[-1]))
        if self.window is not None and x0.shape[1] < self.window:
            x0 = F.pad(x0, (0, 0, 0, self.window - x0.shape[1]))                         # (B, N, d_m), zeros
        z_fre, z_tem = self.project(h, t, lengths)
        zero = h.new_zeros(())
        out = {"fre": zero, "tem": zero}
        if z_fre is not None:
            target = dct_low_freq(x0.to(z_fre.dtype), self.num_coeffs, dim=1)           # (B, K, d_m)
            out["fre"] = F.mse_loss(z_fre, target)
        if z_tem is not None:
            if tem_target is None or tem_target.shape != z_tem.shape:
                raise ValueError(f"anchors.py: the temporal anchor needs f_tem(x0) of shape {tuple(z_tem.shape)}, "
                                 f"got {None if tem_target is None else tuple(tem_target.shape)}")
            out["tem"] = (1 - F.cosine_similarity(z_tem, tem_target.to(z_tem.dtype), dim=-1)).mean()
        return out

    def weight(self, step: int) -> float:
        """The schedule factor of eq. 10 at optimiser step `step`: zeta(n) for "cosine", 1 otherwise."""
        return zeta(step, self.decay_steps) if self.weighting == "cosine" else 1.0

    def total(self, terms: dict, step: int) -> torch.Tensor:
        """zeta(n) (lambda_fre L_fre + lambda_tem L_tem) (eq. 10), or the static / learnable variants (Table 4)."""
        fre, tem = terms["fre"], terms["tem"]
        if self.log_var is not None:                                                   # Kendall et al. 2018
            fre = torch.exp(-self.log_var[0]) * fre + self.log_var[0] * float(self.use_fre)
            tem = torch.exp(-self.log_var[1]) * tem + self.log_var[1] * float(self.use_tem)
        return self.weight(step) * (self.lambda_fre * fre + self.lambda_tem * tem)


def parameter_count(module: nn.Module) -> int:
    """Number of scalar parameters of `module`."""
    return sum(p.numel() for p in module.parameters())
