"""MoLingo's semantic-aligned motion autoencoder (SAE): causal 1D convolutions, x4 temporal downsampling, a small
continuous latent per 4 frames, trained with feature, joint, velocity, KL and frame-text alignment losses.

Source: He et al. 2025, "MoLingo" (arXiv 2512.13840, sec. 3.1), official code hynann/MoLingo
mogen/models/vae/{vae,encdec,causal_cnn,causal_resnet}.py and core/sae_trainer.py (HEAD 52e3b4c).

    x (B, T, D) normalised features, zero-padded at the end to T = 4N
      encoder: CausalConv(D->W, k3, replicate pad) -> SiLU -> 2 x [CausalConv(W->W, k4, stride 2) -> CausalResnet]
               -> CausalConv(W->W, k3) -> Linear(W -> 2z) = (mu, logvar) per token          (B, N, z)
      decoder: CausalConv(z->W, k3) -> SiLU -> 2 x [CausalResnet -> nearest x2 -> CausalConv(W->W, k3)]
               -> CausalConv(W->W, k3) -> SiLU -> CausalConv(W->D, k3)                       (B, 4N, D)
    CausalResnet = 3 x [SiLU -> causal conv k3, dilation 9, 3, 1 -> SiLU -> conv 1x1 -> + residual]
    Causal: latent token i sees frames [0, 4i + 4) only; decoded frame t sees tokens [0, t // 4] only.

Loss (core/sae_trainer.py; weights of the official 263-d model `sae_l2_4_16_1024_d3_kl_1e-05_zero_cos_0.001`):
    L = |x^ - x|^2 + w_joints |J(x^) - J(x)|^2 + w_vel |dJ(x^) - dJ(x)|^2 + w_kl KL(q(z|x) || N(0, I))
        + w_align mean_i (1 - cos(z_i, W e_i))
    J = recover_from_ric of the de-normalised features (metres), dJ its frame-to-frame difference; z_i the posterior
    sample; e_i the mean text embedding of the labelled frames in [max(4i - 16, 0), 4i + 4) (sae_trainer.py); W
    trainable.

Choices that differ from the official code (deliberate, stated):
  - Feature and joint losses average over valid frames only (official: mask_loss False, padding included).
  - Frame labels: the embedded dataset's frame_labels/<id>.json segment texts. HumanML3D has no frame labels (the
    official code uses BABEL): an item cut from a caption with start/end (data.load_split's sub-segment items) is
    labelled with that caption on every frame, a whole clip with the mean embedding of its captions.
  - Label texts are embedded once by the pooled sentence vector of a frozen text_encoder.TextEncoder (MiniLM, 384-d by
    default; official: per-frame T5-large states, 1024-d).

The model and its losses only: this file imports torch and motion.py (recover_from_ric, for the joint losses), so it
copies out with those. Its training loop (LabelledMotions, the frame-label table, train_autoencoder) is stage 1 of
latent_ar_train.py.

    python latent_ar_train.py --stage=ae                      # trains this model
    torchrun --nproc_per_node=2 latent_ar_train.py --stage=ae # data parallel (gloo on the CPU, NCCL on GPUs)
Test: python -m pytest tests/test_motion_ae.py -q
"""
import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F

from motion import recover_from_ric

# ----------------------------------------------------------------------------------------------------------------
# Causal convolutions (causal_cnn.py, causal_resnet.py)
# ----------------------------------------------------------------------------------------------------------------


class CausalConv1d(nn.Module):
    """Conv1d with left padding only: (k - 1) * dilation + 1 - stride frames, zeros or edge replicas (causal_cnn.py).
    (B, C_in, T) -> (B, C_out, T // stride) for T divisible by stride; output t sees inputs <= stride (t + 1) - 1."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1, dilation: int = 1,
                 replicate: bool = False):
        super().__init__()
        self.pad, self.mode = (kernel_size - 1) * dilation + 1 - stride, "replicate" if replicate else "constant"
        self.conv = nn.Conv1d(c_in, c_out, kernel_size, stride=stride, dilation=dilation)

    def forward(self, x):
        return self.conv(F.pad(x, (self.pad, 0), mode=self.mode))


class CausalResnet(nn.Module):
    """`depth` residual blocks [SiLU, causal conv k3 dilated, SiLU, conv 1x1] with dilations growth^(depth-1) .. 1."""

    def __init__(self, width: int, depth: int = 3, growth: int = 3):
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.SiLU(), CausalConv1d(width, width, 3, dilation=growth ** i), nn.SiLU(),
                          nn.Conv1d(width, width, 1)) for i in reversed(range(depth)))

    def forward(self, x):
        for block in self.blocks:
            x = x + block(x)
        return x


class MotionAE(nn.Module):
    """The SAE: features (B, T, D) <-> latent tokens (B, ceil(T / 4), latent_dim), KL-regularised (vae.py, encdec.py).

    input_dim: D (263 / 251); width: W channels (official 1024); depth, growth: residual blocks per level and their
    dilation growth; down_t: stride-2 levels (2 -> x4); latent_dim: z (official 16 for 263-d features);
    label_dim: width of the frame-label text embeddings (0: no alignment projection W)."""

    def __init__(self, input_dim: int = 263, width: int = 1024, depth: int = 3, growth: int = 3, down_t: int = 2,
                 latent_dim: int = 16, label_dim: int = 0):
        super().__init__()
        self.input_dim, self.latent_dim, self.stride = input_dim, latent_dim, 2 ** down_t
        enc = [CausalConv1d(input_dim, width, 3, replicate=True), nn.SiLU()]
        for _ in range(down_t):
            enc += [CausalConv1d(width, width, 4, stride=2), CausalResnet(width, depth, growth)]
        self.encoder = nn.Sequential(*enc, CausalConv1d(width, width, 3))
        self.posterior = nn.Linear(width, 2 * latent_dim)
        dec = [CausalConv1d(latent_dim, width, 3), nn.SiLU()]
        for _ in range(down_t):
            dec += [CausalResnet(width, depth, growth), nn.Upsample(scale_factor=2, mode="nearest"),
                    CausalConv1d(width, width, 3)]
        self.decoder = nn.Sequential(*dec, CausalConv1d(width, width, 3), nn.SiLU(), CausalConv1d(width, input_dim, 3))
        self.label_proj = nn.Linear(label_dim, latent_dim) if label_dim else None

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, D) normalised features, any T >= 1 (zero-padded at the end to a multiple of 4) ->
        mu, logvar (B, ceil(T / 4), z) float, logvar clamped to [-30, 20] as the official posterior."""
        if x.ndim != 3 or x.shape[-1] != self.input_dim:
            raise ValueError(f"MotionAE.encode: expected features (B, T, {self.input_dim}), got {tuple(x.shape)}")
        pad = -x.shape[1] % self.stride
        x = F.pad(x, (0, 0, 0, pad))                                                # (B, 4N, D)
        h = self.encoder(x.transpose(1, 2)).transpose(1, 2)                          # (B, N, W)
        mu, logvar = self.posterior(h).chunk(2, dim=-1)                              # (B, N, z) each
        return mu, logvar.clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """z (B, N, z) -> features (B, 4N, D), cropped to `length` frames when given."""
        x = self.decoder(z.transpose(1, 2)).transpose(1, 2)                          # (B, 4N, D)
        return x if length is None else x[:, :length]

    def forward(self, x: torch.Tensor, sample: bool = True):
        """x (B, T, D) -> (x_hat (B, T, D), z, mu, logvar (B, N, z)); z = mu + sigma * eps when sample else mu."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu
        return self.decode(z, x.shape[1]), z, mu, logvar


# ----------------------------------------------------------------------------------------------------------------
# Losses (core/sae_trainer.py)
# ----------------------------------------------------------------------------------------------------------------

def token_label_targets(frame_emb: torch.Tensor, labelled: torch.Tensor, stride: int = 4, context: int = 4):
    """Mean frame-label embedding per latent token: token i averages the labelled frames in
    [max(stride * i - context * stride, 0), stride * i + stride) (MoLingo core/sae_trainer.py).

    frame_emb (B, T, C) float, labelled (B, T) bool -> target (B, ceil(T / stride), C), has_label (B, N) bool.
    Tokens without a labelled frame in their window get a zero target and has_label False."""
    B, T, C = frame_emb.shape
    N = -(-T // stride)
    w = labelled.to(frame_emb.dtype)[..., None]                                      # (B, T, 1)
    csum = F.pad(torch.cumsum(torch.cat([frame_emb * w, w], -1), 1), (0, 0, 1, 0))   # (B, T+1, C+1): sums of [0, t)
    i = torch.arange(N, device=frame_emb.device)
    hi = (stride * i + stride).clamp(max=T)                                           # (N,)
    lo = (stride * i - context * stride).clamp(min=0)
    window = csum[:, hi] - csum[:, lo]                                               # (B, N, C+1)
    count = window[..., -1:]
    return window[..., :-1] / count.clamp(min=1), count[..., 0] > 0


def alignment_loss(z: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """mean over valid tokens of 1 - cos(z_i, target_i) (MoLingo's cosine loss, core/sae_trainer.py).

    z, target (B, N, z) float (target = W e_i, the projected label embedding); valid (B, N) bool.
    Returns a scalar; 0 when no token is valid."""
    cos = F.cosine_similarity(z, target, dim=-1, eps=1e-8)                           # (B, N)
    return ((1 - cos) * valid).sum() / valid.sum().clamp(min=1)


def _masked_mean(sq: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sq (B, T, ...) -> mean over valid (B, T) entries and every trailing dim."""
    per_frame = sq.flatten(2).mean(-1)                                               # (B, T)
    return (per_frame * mask).sum() / mask.sum().clamp(min=1)


def ae_losses(model: MotionAE, x, length, mean, std, joints_num: int, frame_emb=None, labelled=None,
              weights: dict | None = None, autocast=contextlib.nullcontext()) -> dict:
    """Every SAE loss term for one batch (MoLingo core/sae_trainer.py).

    x (B, T, D) normalised features zero-padded past `length` (B,) long; mean, std (D,) float tensors that undo the
    normalisation (metres after recover_from_ric); frame_emb (B, T, C) / labelled (B, T) bool, the frame-label
    embeddings (None: no alignment term). weights: feats, joints, vel, kl, align (defaults: the official values).
    autocast: context for the network's forward only (bf16); the losses are computed in float32.
    Returns {"loss", "feats", "joints", "vel", "kl", "align"} scalar tensors (align 0 without labels)."""
    w = {"feats": 1.0, "joints": 1.0, "vel": 10.0, "kl": 1e-5, "align": 1e-3, **(weights or {})}
    B, T, _ = x.shape
    frames = torch.arange(T, device=x.device)[None] < length[:, None]                 # (B, T)
    with autocast:
        x_hat, z, mu, logvar = (t.float() for t in model(x))
    out = {"feats": _masked_mean((x_hat - x) ** 2, frames)}
    j_hat, j = recover_from_ric(x_hat * std + mean, joints_num), recover_from_ric(x * std + mean, joints_num)
    out["joints"] = _masked_mean((j_hat - j) ** 2, frames)                           # (B, T, J, 3) in metres
    pairs = frames[:, 1:] & frames[:, :-1]                                           # (B, T-1)
    out["vel"] = _masked_mean(((j_hat[:, 1:] - j_hat[:, :-1]) - (j[:, 1:] - j[:, :-1])) ** 2, pairs)
    tokens = torch.arange(z.shape[1], device=x.device)[None] * model.stride < length[:, None]  # (B, N)
    out["kl"] = _masked_mean(0.5 * (mu ** 2 + logvar.exp() - 1 - logvar), tokens)
    out["align"] = z.new_zeros(())
    if frame_emb is not None and model.label_proj is not None:
        target, has = token_label_targets(frame_emb, labelled & frames, model.stride)
        out["align"] = alignment_loss(z, model.label_proj(target), tokens & has)
    out["loss"] = sum(w[k] * out[k] for k in ("feats", "joints", "vel", "kl", "align"))
    return out
