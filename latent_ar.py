"""MoLingo's generator: masked autoregression over continuous motion latents with a per-token rectified-flow head.

Source: He et al. 2025, "MoLingo" (arXiv 2512.13840, sec. 3.2-3.3), official code hynann/MoLingo
mogen/models/molingo/{molingo,flowloss,recflow_sigma,cfg_sampler}.py, restated in SPEC 9.3-9.4; the masked
random-order scheme is MAR (Li et al. 2024, "Autoregressive Image Generation without Vector Quantization").
Stage 1, the semantic-aligned autoencoder that makes the latent tokens, is motion_ae.py.

    latents z (B, N, z), N = ceil(T / 4): each step's crops encoded by the frozen SAE, z = mu + sigma eps,
    standardised per channel
      -> masked tokens replaced by a learned mask token, padding zeroed -> Linear(z -> d) + sinusoidal positions
      -> transformer, bidirectional self-attention with a key padding mask, and
           text_cond="cross":  cross-attention to every text token state (multi-token, MoLingo's choice)
           text_cond="single": the pooled text vector added to every latent token (this project's ablation)
      -> h (B, N, d) -> flow head per masked token: v(x_t, t | h_i), AdaLN MLP, zero-initialised
    flow: x_t = t x1 + (1 - t) x0, x0 ~ N(0, I), x1 = clean token, loss |v - (x1 - x0)|^2 (rectified flow)
    training: r ~ U(0, 1), mask round(N cos(pi r / 2)) >= 1 random tokens, loss on masked valid tokens;
              the caption is replaced by a fixed null sentence with probability 0.1 (classifier-free guidance)
    sampling: a random order fixed at the start; K iterations; iteration k shows the transformer n_k masked tokens
              and draws, with `flow_steps` Euler steps of v_u + s (v_c - v_u), those that are not masked at k + 1
              (n_K = 0); then the SAE decodes. mask_schedule gives n_k (decode_schedule).

Choices that differ from the official code (deliberate, stated):
  - Masks and the decoding order cover each sample's valid tokens only (official: all 49 tokens, padding included).
  - The per-token sampler is deterministic Euler (official: a stochastic "CFGSampler" with noise refresh).
  - Latents are standardised with per-channel mean/std of the training set's posterior means of the first windows
    (official: / 1.0).
  - Text: the project's frozen TextEncoder (MiniLM on CPU, CLIP ViT-B/32 in the paper preset; official: T5-large).
  - Crops: motion_ae.LabelledMotions' uniform max_motion_length window, fresh each epoch (only longer motions move);
    the official loader also trims each clip to a multiple of 4 frames at a random offset (mogen/data/ms_dataset.py).
  - --gen_latents=means (not the default) trains on each motion's first window, encoded once to its posterior mean
    (the official trainer, mogen/core/molingo_trainer.py, encodes every step's crops and uses the posterior sample
    z = mu + sigma eps of mogen/models/vae/vae.py's encode, `dist.rsample()`; that is --gen_latents=posterior).
  - --decode_schedule=mar (not the default) is MAR's schedule with round where MAR floors (LTH14/mar models/mar.py).
  - --text_cond=single, one pooled text token added to every latent token, is this project's design: neither the
    paper nor the official code has a single-token variant to compare multi-token cross-attention with.

    python latent_ar.py                                  # both stages, CPU preset, embedded dataset
    python latent_ar.py --stage=ae --ae_steps=200        # only the autoencoder (motion_ae.py)
    python latent_ar.py --stage=gen --text_cond=single   # only the generator, on the existing ae.pt
    python latent_ar.py --stage=bench                    # sampling time vs the 10-step U-Net sampler
    python latent_ar.py --resume                         # continue the stage that stopped (exactly)
    torchrun --nproc_per_node=2 latent_ar.py             # both stages data-parallel (gloo on the CPU, NCCL on GPUs)
    python train.py --method=latent_ar [...]             # the same: train.py hands every other option to main()
Test: python -m pytest tests/test_latent_ar.py -q
"""
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from data import DATASETS, load_stats
from motion_ae import AEConfig, LabelledMotions, MotionAE, train_autoencoder
from stages import (average_gradients, build_text_cache, finish_distributed, gather_rng_states, parse_options,
                    pick_device, resume_or_seed, save_atomic, setup_distributed, shard_batch, stage_checkpoint,
                    warmup_cosine)

NULL_PROMPT = "This is a null prompt with no semantic meaning."  # MoLingo's dropped caption (SPEC 9.4)


def sinusoidal(x: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """x (...,) float positions or times -> (..., dim) [cos(x w_i), sin(x w_i)], w_i = max_period^(-i / (dim/2))."""
    freqs = torch.exp(-math.log(max_period) * torch.arange(dim // 2, device=x.device) / (dim // 2))
    args = x.float()[..., None] * freqs                                              # (..., dim/2)
    return torch.cat([torch.cos(args), torch.sin(args)], -1)


# ----------------------------------------------------------------------------------------------------------------
# Per-token rectified-flow head (flowloss.py SimpleMLPAdaLN, SPEC 9.3)
# ----------------------------------------------------------------------------------------------------------------

class AdaLNBlock(nn.Module):
    """LayerNorm -> shift/scale from the condition -> Linear-SiLU-Linear -> gated residual (DiT-style)."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 3 * width))
        nn.init.zeros_(self.ada[1].weight), nn.init.zeros_(self.ada[1].bias)

    def forward(self, x, c):
        shift, scale, gate = self.ada(c).chunk(3, -1)
        return x + gate * self.mlp(self.norm(x) * (1 + scale) + shift)


class FlowHead(nn.Module):
    """v(x_t, t | c): per-token velocity MLP with AdaLN from c = Linear(h) + MLP(sinusoidal(1000 t)).

    latent_dim: z; cond_dim: d (transformer width); width, depth: residual AdaLN blocks (official large: 1280 x 8).
    The AdaLN projections and the output layer are zero-initialised, so v = 0 at initialisation."""

    def __init__(self, latent_dim: int, cond_dim: int, width: int, depth: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.time = nn.Sequential(nn.Linear(freq_dim, width), nn.SiLU(), nn.Linear(width, width))
        self.cond, self.inp = nn.Linear(cond_dim, width), nn.Linear(latent_dim, width)
        self.blocks = nn.ModuleList(AdaLNBlock(width) for _ in range(depth))
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.out = nn.Linear(width, latent_dim)
        for layer in (self.final_ada[1], self.out):
            nn.init.zeros_(layer.weight), nn.init.zeros_(layer.bias)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """x_t (M, z), t (M,) in [0, 1], h (M, d) -> velocity (M, z)."""
        c = self.cond(h) + self.time(sinusoidal(1000 * t, self.freq_dim))           # (M, w)
        x = self.inp(x_t)
        for block in self.blocks:
            x = block(x, c)
        shift, scale = self.final_ada(c).chunk(2, -1)
        return self.out(self.final_norm(x) * (1 + scale) + shift)

    def loss(self, x1: torch.Tensor, h: torch.Tensor, repeat: int = 4) -> torch.Tensor:
        """Rectified-flow loss per token (M,): each token repeated `repeat` times with its own t ~ U(0, 1) and
        noise x0 (flow_batch_mul); x_t = t x1 + (1 - t) x0, target x1 - x0, MSE mean over channels and repeats."""
        x1, h = x1.repeat(repeat, 1), h.repeat(repeat, 1)                           # (rM, z), (rM, d)
        x0, t = torch.randn_like(x1), torch.rand(len(x1), device=x1.device)
        x_t = t[:, None] * x1 + (1 - t[:, None]) * x0
        sq = ((self(x_t, t, h) - (x1 - x0)) ** 2).mean(-1)                          # (rM,)
        return sq.view(repeat, -1).mean(0)

    @torch.no_grad()
    def sample(self, h_cond, h_uncond=None, steps: int = 32, guidance: float = 1.0, generator=None):
        """Euler integration of dx/dt = v from t = 0 (noise) to 1 on linspace(0, 1, steps + 1); with h_uncond,
        v = v_u + guidance (v_c - v_u). h_cond, h_uncond (M, d) -> x1 (M, z) float32."""
        M = len(h_cond)
        x = torch.randn(M, self.out.out_features, generator=generator, device=h_cond.device)
        h = h_cond if h_uncond is None else torch.cat([h_cond, h_uncond])
        for i in range(steps):
            t = torch.full((len(h),), i / steps, device=x.device)
            v = self(x if h_uncond is None else torch.cat([x, x]), t, h)
            if h_uncond is not None:
                v = v[M:] + guidance * (v[:M] - v[M:])
            x = x + v / steps
        return x


# ----------------------------------------------------------------------------------------------------------------
# The masked transformer (molingo.py)
# ----------------------------------------------------------------------------------------------------------------

class MaskedLatentTransformer(nn.Module):
    """Bidirectional transformer over latent tokens, text by multi-token cross-attention or one pooled token.

    latent_dim z, text_dim C (text encoder width), d_model/num_layers/num_heads/mlp_ratio the backbone (post-norm,
    GELU), text_layers the pre-norm text adapter, text_cond "cross" | "single", flow_width/flow_depth the head."""

    def __init__(self, latent_dim: int, text_dim: int, d_model: int = 256, num_layers: int = 4, num_heads: int = 4,
                 mlp_ratio: float = 4.0, text_layers: int = 1, text_cond: str = "cross", dropout: float = 0.1,
                 flow_width: int = 256, flow_depth: int = 2):
        super().__init__()
        assert text_cond in ("cross", "single"), f"text_cond must be 'cross' or 'single', got {text_cond!r}"
        self.text_cond, self.d_model = text_cond, d_model
        self.mask_token = nn.Parameter(0.02 * torch.randn(latent_dim))
        self.inp = nn.Linear(latent_dim, d_model)
        self.text_proj = nn.Linear(text_dim, d_model)
        ff = int(mlp_ratio * d_model)
        adapter = nn.TransformerEncoderLayer(d_model, num_heads, ff, dropout, "gelu", batch_first=True, norm_first=True)
        self.text_adapter = nn.TransformerEncoder(adapter, text_layers, enable_nested_tensor=False)
        self.text_norm = nn.LayerNorm(d_model)
        if text_cond == "cross":
            layer = nn.TransformerDecoderLayer(d_model, num_heads, ff, dropout, "gelu", batch_first=True)
            self.backbone = nn.TransformerDecoder(layer, num_layers)
        else:
            layer = nn.TransformerEncoderLayer(d_model, num_heads, ff, dropout, "gelu", batch_first=True)
            self.backbone = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.head = FlowHead(latent_dim, d_model, flow_width, flow_depth)

    def forward(self, z, masked, valid, text, text_mask):
        """z (B, N, z) latents, masked / valid (B, N) bool, text (B, L, C) token states, text_mask (B, L) bool
        (True = real token) -> h (B, N, d), the flow head's condition for every token."""
        x = torch.where(masked[..., None], self.mask_token.to(z.dtype), z) * valid[..., None]  # (B, N, z)
        pos = sinusoidal(torch.arange(z.shape[1], device=z.device), self.d_model)   # (N, d)
        x = self.inp(x) + pos
        mem = self.text_norm(self.text_adapter(self.text_proj(text), src_key_padding_mask=~text_mask))  # (B, L, d)
        if self.text_cond == "cross":
            return self.backbone(x, mem, tgt_key_padding_mask=~valid, memory_key_padding_mask=~text_mask)
        w = text_mask[..., None].to(mem.dtype)                                       # (B, L, 1)
        pooled = (mem * w).sum(1) / w.sum(1).clamp(min=1)                            # (B, d)
        return self.backbone(x + pooled[:, None], src_key_padding_mask=~valid)


def random_ranks(valid: torch.Tensor, generator=None) -> torch.Tensor:
    """A uniformly random order of each row's valid tokens: rank (B, N) long, 0..n_i-1 on valid tokens, >= n_i on
    padding."""
    noise = torch.rand(valid.shape, generator=generator, device=valid.device).masked_fill(~valid, 2.0)
    return noise.argsort(1).argsort(1)


def training_loss(model: MaskedLatentTransformer, z, valid, text, text_mask, repeat: int = 4) -> torch.Tensor:
    """MAR training step (SPEC 9.3): per sample r ~ U(0, 1), round(n cos(pi r / 2)) >= 1 of its n valid tokens masked
    in random positions; flow loss on the masked valid tokens. z (B, N, z), valid (B, N) -> scalar."""
    n = valid.sum(1)                                                                 # (B,)
    r = torch.rand(len(z), device=z.device)
    n_mask = torch.round(n * torch.cos(math.pi / 2 * r)).clamp(min=1)                # (B,)
    masked = (random_ranks(valid) < n_mask[:, None]) & valid                        # (B, N)
    h = model(z, masked, valid, text, text_mask)
    return model.head.loss(z[masked], h[masked], repeat).mean()


def mask_schedule(num_tokens: torch.Tensor, iters: int, schedule: str = "molingo") -> torch.Tensor:
    """Tokens masked at each decoding iteration k = 0..K-1, then n_K = 0: (B,) long -> (B, K + 1) long.

    "molingo", the official sampler (molingo.py sample_tokens): tau = linspace(0, 1, K), n_k = max(1, round(N
    cos(pi tau_k / 2))), in float32 as there (torch.linspace's 10/15 lies below 2/3, so 49 -> 25, not 24). For 49
    tokens and 16 iterations: 49, 49, 48, 47, 45, 42, 40, 36, 33, 29, 25, 20, 15, 10, 5, 1 (then 0). The official
    loop re-samples all n_k masked tokens at iteration k and keeps those not masked at k + 1, so its first iteration's
    draws are all masked again (nothing kept) and its last re-samples one token; sample_latents draws only the kept
    ones, which gives the same distribution.
    "mar", MAR's cosine schedule (Li et al. 2024, LTH14/mar models/mar.py, with round for its floor): n_0 = N,
    n_k = max(1, min(n_{k-1} - 1, round(N cos(pi k / 2K)))) for 0 < k < K. For 49 tokens and 16 iterations: 49, 48,
    47, 46, 45, 43, 41, 38, 35, 31, 27, 23, 19, 14, 10, 5 (then 0). Raises ValueError for another schedule."""
    if schedule == "molingo":
        ratio = torch.cos(torch.linspace(0, 1, iters) * math.pi * 0.5)             # (K,) on the CPU: any device agrees
        n = torch.round(ratio[None] * num_tokens.cpu()[:, None]).clamp(min=1).long()  # (B, K)
        return F.pad(n, (0, 1)).to(num_tokens.device)
    if schedule != "mar":
        raise ValueError(f"mask_schedule: schedule must be 'molingo' or 'mar', got {schedule!r}")
    counts = [num_tokens]
    for k in range(1, iters):
        target = torch.round(num_tokens * math.cos(math.pi * k / (2 * iters))).long()
        counts.append(torch.minimum(counts[-1] - 1, target).clamp(min=1))
    counts.append(torch.zeros_like(num_tokens))
    return torch.stack(counts, 1)


@torch.no_grad()
def sample_latents(model, text, text_mask, null_text, null_mask, num_tokens, iters: int = 16, flow_steps: int = 32,
                   guidance: float = 4.0, cfg_schedule: str = "constant", generator=None,
                   decode_schedule: str = "molingo") -> torch.Tensor:
    """Iterative masked decoding (molingo.py sample_tokens). text (B, L, C) / text_mask, null_text (1, L0, C) /
    null_mask the null prompt, num_tokens (B,) long -> latents (B, max N, z), zero on padding. With n_k of
    mask_schedule(decode_schedule), iteration k shows n_k tokens masked and unmasks those of rank [N - n_k, N - n_{k+1})
    of a random order fixed at the start, each with flow_steps Euler steps (an iteration that unmasks none is
    skipped); the guidance scale is s (constant) or 1 + (s - 1) k / (K - 1) (linear, the official tau)."""
    B, N = len(num_tokens), int(num_tokens.max())
    device = text.device
    valid = torch.arange(N, device=device)[None] < num_tokens[:, None]              # (B, N)
    ranks, counts = random_ranks(valid, generator), mask_schedule(num_tokens, iters, decode_schedule)
    L = max(text.shape[1], null_text.shape[1])
    text, text_mask = F.pad(text, (0, 0, 0, L - text.shape[1])), F.pad(text_mask, (0, L - text.shape[1]))
    null_text = F.pad(null_text, (0, 0, 0, L - null_text.shape[1])).expand(B, -1, -1)  # (B, L, C)
    null_mask = F.pad(null_mask, (0, L - null_mask.shape[1])).expand(B, -1)           # (B, L)
    both_text, both_mask = torch.cat([text, null_text]), torch.cat([text_mask, null_mask])  # (2B, L, C)
    z = torch.zeros(B, N, model.mask_token.shape[0], device=device)
    for k in range(iters):
        revealed = num_tokens - counts[:, k]                                         # (B,) tokens known so far
        masked = valid & (ranks >= revealed[:, None])
        unmask = masked & (ranks < (num_tokens - counts[:, k + 1])[:, None])
        if not unmask.any():
            continue
        h = model(torch.cat([z, z]), torch.cat([masked, masked]), torch.cat([valid, valid]), both_text, both_mask)
        s = guidance if cfg_schedule == "constant" else 1 + (guidance - 1) * k / max(1, iters - 1)
        z[unmask] = model.head.sample(h[:B][unmask], h[B:][unmask], flow_steps, s, generator)
    return z * valid[..., None]


# ----------------------------------------------------------------------------------------------------------------
# Options and presets
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class LatentARConfig(AEConfig):
    stage: str = "all"                # all (ae, then gen) | ae | gen | bench
    bench_unet: str = "cpu"           # --stage=bench: the unet.PRESETS size of the U-Net it is timed against
    ae_ckpt: str = ""                 # '' -> <out_dir>/ae.pt; another run's ae.pt shares its autoencoder (no stage ae)
    # text encoder for the generator (frozen; token states cached once per caption)
    text_encoder: str = ""            # '' -> packaged all-MiniLM-L6-v2; paper preset: openai/clip-vit-base-patch32
    text_max_length: int = 77         # tokens
    cache_dir: str = "cache"          # text-feature caches live here
    # generator (SPEC 9.3; official "large": 1024, 16 layers, 16 heads, flow 1280 x 8)
    d_model: int = 192                # transformer width d
    num_layers: int = 4               # transformer layers
    num_heads: int = 4                # attention heads
    mlp_ratio: float = 4.0            # feed-forward width / d
    text_layers: int = 1              # pre-norm text adapter layers (official 6)
    text_cond: str = "cross"          # cross (multi-token cross-attention) | single (pooled text added to tokens)
    dropout: float = 0.1              # transformer and text adapter dropout
    flow_width: int = 256             # flow head width
    flow_depth: int = 3               # flow head AdaLN blocks
    cond_drop_prob: float = 0.1       # caption -> NULL_PROMPT with this probability (CFG)
    flow_batch_mul: int = 4           # flow samples (t, noise) per masked token
    gen_latents: str = "posterior"    # posterior (official: each step's crops encoded, z = mu + sigma eps) | means
                                      # (first windows encoded once to their posterior means; ~1.1x faster step)
    # generator optimisation (official: AdamW betas 0.9/0.95, wd 0.02, 5e-5 x batch / 256, clip 3.0, EMA 0.9999)
    gen_steps: int = 900              # optimiser steps
    gen_batch_size: int = 32          # per process
    gen_lr: float = 1e-3              # peak learning rate (linear warm-up, then cosine to 0)
    gen_warmup: int = 100             # warm-up steps (official: 100 epochs)
    gen_weight_decay: float = 0.02    # AdamW, matrices only (official add_weight_decay)
    gen_grad_clip: float = 3.0        # global gradient-norm clip
    ema_decay: float = 0.995          # EMA of the generator's weights, updated every step (sampled by default)
    # sampling defaults stored in the checkpoint
    decode_iters: int = 16            # K masked-decoding iterations (official 49 // 3 = 16)
    decode_schedule: str = "molingo"  # molingo (official: 49 tokens, 16 iterations mask 49, 49, 48, ..., 5, 1) | mar
    flow_steps: int = 32              # Euler steps of the per-token flow (official 32)
    guidance: float = 4.0             # CFG scale s on the velocity (official eval 5.5)
    cfg_schedule: str = "constant"    # constant | linear (1 + (s - 1) tau)


PRESETS = {
    "cpu": {},
    "paper": dict(ae_width=1024, ae_lr=5e-5, ae_warmup=1000, ae_steps=200_000,
                  text_encoder="openai/clip-vit-base-patch32",
                  d_model=1024, num_layers=16, num_heads=16, text_layers=6, flow_width=1280, flow_depth=8,
                  gen_lr=5e-5 * 64 / 256, gen_warmup=5000, gen_steps=300_000, gen_batch_size=64, ema_decay=0.9999,
                  guidance=5.5, log_every=100, save_every=5000, precision="bf16",     # official: AMP autocast
                  bench_unet="paper"),
}
DATASET_PRESETS = {"humanml3d": "paper", "kit": "paper"}                        # real datasets: paper sizes
HINTS = {k: f"latent_ar trains two stages: --ae_{k} and --gen_{k}" for k in ("steps", "batch_size", "lr", "warmup")}
# Settings that define a trained generator: a checkpoint made with others is neither reused nor continued.
GEN_KEYS = ("text_encoder", "text_max_length", "d_model", "num_layers", "num_heads", "mlp_ratio", "text_layers",
            "text_cond", "dropout", "flow_width", "flow_depth", "cond_drop_prob", "flow_batch_mul", "gen_latents")


def gen_model_args(cfg: LatentARConfig, text_dim: int) -> dict:
    """Constructor arguments of MaskedLatentTransformer, stored in the checkpoint so generate() needs no flags."""
    return dict(latent_dim=cfg.latent_dim, text_dim=text_dim, d_model=cfg.d_model, num_layers=cfg.num_layers,
                num_heads=cfg.num_heads, mlp_ratio=cfg.mlp_ratio, text_layers=cfg.text_layers,
                text_cond=cfg.text_cond, dropout=cfg.dropout, flow_width=cfg.flow_width, flow_depth=cfg.flow_depth)


# ----------------------------------------------------------------------------------------------------------------
# The model interface of sample.py / evaluate.py
# ----------------------------------------------------------------------------------------------------------------

class LatentARGenerator:
    """A latent_ar checkpoint behind sample.Generator's interface: captions and lengths in, normalised features out.

    Attributes: dataset, data_root, info, mean, std (np.float32 (D,), the SAE's normalisation), config, device,
    precision ("fp32" | "bf16": autocast of the transformer and flow head; default the run's on CUDA, else fp32)."""

    def __init__(self, ckpt: dict, device: torch.device, use_ema: bool = True):
        from text_encoder import TextEncoder
        if ckpt.get("kind") != "latent_ar":
            raise KeyError(f"not a latent_ar checkpoint (kind {ckpt.get('kind')!r})")
        self.config, self.device = ckpt["config"], torch.device(device)
        self.precision = self.config.get("precision", "fp32") if self.device.type == "cuda" else "fp32"
        self.dataset, self.data_root = self.config["dataset"], ckpt["data_root"]
        self.info = DATASETS[self.dataset]
        self.mean, self.std = np.asarray(ckpt["mean"], np.float32), np.asarray(ckpt["std"], np.float32)
        self.ae = MotionAE(**ckpt["ae_args"]).to(self.device).eval()
        self.ae.load_state_dict(ckpt["ae"])
        self.model = MaskedLatentTransformer(**ckpt["model_args"]).to(self.device).eval()
        self.model.load_state_dict(ckpt["ema" if use_ema else "model"])
        self.latent_mean, self.latent_std = (ckpt[k].to(self.device) for k in ("latent_mean", "latent_std"))
        self.text_encoder = TextEncoder(ckpt["text_encoder"] or None, max_length=self.config["text_max_length"])
        self.text_encoder.to(self.device)
        self.null = self.text_states([NULL_PROMPT])

    def text_states(self, captions: list[str]):
        """Token states (B, L, C) as the training cache held them (float16-rounded, padding zeroed), mask (B, L)."""
        from text_encoder import as_cached
        tokens, mask, _ = self.text_encoder(captions)
        return as_cached(tokens, mask), mask

    @torch.no_grad()
    def generate(self, captions: list[str], lengths: list[int], guidance: float | None = None,
                 steps: int | None = None, sampler: str | None = None, seed: int | None = None,
                 guidance_rescale: float | None = None) -> torch.Tensor:
        """Sample one motion per caption: float32 (B, max(lengths), D) on the CPU, normalised, zero past each length.

        steps: flow steps per token (default: the checkpoint's flow_steps); guidance: CFG scale on the velocity;
        sampler: None or "flow"; guidance_rescale: accepted for sample.Generator's interface, must be None or 0.
        Raises ValueError on mismatched inputs, another sampler or a CFG rescale."""
        if guidance_rescale:
            raise ValueError("generate: CFG rescale is defined for the diffusion models' x0, not for latent_ar")
        if len(captions) != len(lengths) or not captions:
            raise ValueError(f"generate: need as many captions as lengths, got {len(captions)} and {len(lengths)}")
        if sampler not in (None, "flow"):
            raise ValueError(f"generate: a latent_ar model samples with 'flow' (per-token Euler), got {sampler!r}")
        cfg = self.config
        generator = torch.Generator(self.device).manual_seed(seed) if seed is not None else None
        text, text_mask = self.text_states(list(captions))
        stride = self.ae.stride
        num_tokens = torch.tensor([-(-n // stride) for n in lengths], device=self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            z = sample_latents(self.model, text, text_mask, *(t.to(self.device) for t in self.null), num_tokens,
                               cfg["decode_iters"], steps or cfg["flow_steps"],
                               cfg["guidance"] if guidance is None else guidance, cfg["cfg_schedule"], generator,
                               cfg.get("decode_schedule", "mar"))          # checkpoints before the option: MAR's
        x = self.ae.decode(z * self.latent_std + self.latent_mean, max(lengths)).float().cpu()  # (B, T, D)
        valid = torch.arange(x.shape[1])[None] < torch.as_tensor(lengths)[:, None]  # (B, T)
        return x * valid[..., None]

    def denormalize(self, x) -> np.ndarray:
        """Normalised features (..., D) -> the dataset's raw feature space, float32 numpy."""
        x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        return (x * self.std + self.mean).astype(np.float32)


# ----------------------------------------------------------------------------------------------------------------
# Stage 2: the training loop of the generator
# ----------------------------------------------------------------------------------------------------------------

@torch.no_grad()
def encode_motions(ae: MotionAE, batch: list[dict], device, sample: bool = True):
    """LabelledMotions items -> latents (B, N, z) float32 and valid (B, N) bool (tokens that start inside the item's
    length), on `device`, by the frozen SAE in float32. sample: the posterior sample z = mu + sigma eps of the
    official encode (mogen/models/vae/vae.py, `dist.rsample()`), eps from torch's global generator (whose state each
    checkpoint holds); else the posterior mean mu."""
    x = torch.stack([b["motion"] for b in batch]).to(device)                         # (B, T, D)
    length = torch.tensor([b["length"] for b in batch], device=device)              # (B,)
    mu, logvar = ae.encode(x)                                                         # (B, N, z) each
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu
    return z.float(), torch.arange(z.shape[1], device=device)[None] * ae.stride < length[:, None]


def encode_split(ae: MotionAE, dataset: LabelledMotions, device, batch_size: int = 64):
    """Posterior means of every item (its first window: dataset.crop False): latents (M, N, z), valid (M, N) bool,
    on the CPU."""
    parts = [encode_motions(ae, [dataset[i] for i in range(s, min(s + batch_size, len(dataset)))], device, False)
             for s in range(0, len(dataset), batch_size)]
    return torch.cat([z.cpu() for z, _ in parts]), torch.cat([v.cpu() for _, v in parts])


def train_generator(cfg: LatentARConfig, device: torch.device, rank: int = 0, world: int = 1) -> Path:
    """Stage 2: train the masked transformer + flow head on the frozen SAE's latents of the train split (every process
    of a torchrun its shard; --gen_latents: each step's crops and posterior samples, or the first windows' means,
    both standardised by the first windows' means' per-channel statistics), write <out_dir>/ckpt.pt (kind
    "latent_ar": model, ema, optimizer, config, model_args, ae, ae_args, latent_mean, latent_std, mean, std,
    text_encoder, data_root, step, rng (one entry per process)). Returns its path. A finished ckpt.pt is reused, an
    unfinished one continued exactly with --resume (started over without); one trained with other GEN_KEYS or on
    another autoencoder than ae.pt is an error."""
    out_dir, master = Path(cfg.out_dir or f"out/{cfg.dataset}_latent_ar"), rank == 0
    path, ae_path = out_dir / "ckpt.pt", Path(cfg.ae_ckpt) if cfg.ae_ckpt else out_dir / "ae.pt"
    if not ae_path.exists():
        sys.exit(f"latent_ar.py: {ae_path} not found; train the autoencoder first (--stage=ae or --stage=all)")
    ae_ckpt = torch.load(ae_path, map_location="cpu", weights_only=True)
    if not isinstance(ae_ckpt, dict) or ae_ckpt.get("kind") != "motion_ae":
        sys.exit(f"latent_ar.py: {ae_path} is not an autoencoder checkpoint (ae.pt of --stage=ae)")

    def other_ae(old: dict) -> str:   # the generator's latents are this SAE's: one trained on another is stale
        a, b = old["ae"], ae_ckpt["model"]
        same = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        return "" if same else f"on another autoencoder than {ae_path}"
    old = stage_checkpoint(path, "latent_ar", cfg, GEN_KEYS, cfg.gen_steps, master, other_ae)
    if old == "finished":
        return path
    ae = MotionAE(**ae_ckpt["model_args"]).to(device).eval().requires_grad_(False)
    ae.load_state_dict(ae_ckpt["model"])
    info = DATASETS[cfg.dataset]
    root = Path(cfg.data_root or info.default_root)
    mean, std = load_stats(root, info, feat_bias=cfg.feat_bias)
    if not (np.allclose(mean, ae_ckpt["mean"].numpy()) and np.allclose(std, ae_ckpt["std"].numpy())):
        sys.exit(f"latent_ar.py: {ae_path} was trained with other normalisation statistics than {root}")
    train_set = LabelledMotions(root, "train", info, mean, std, cfg.max_motion_length, crop=False, seed=cfg.seed)
    latents, valid = encode_split(ae, train_set, device)                              # (M, N, z), (M, N)
    latent_mean = latents[valid].mean(0)                                              # (z,)
    latent_std = latents[valid].std(0).clamp(min=1e-6)
    latents = (latents - latent_mean) / latent_std * valid[..., None]
    train_set.crop = True                     # from here on a key (epoch, i) draws the loader's crop of that epoch
    stats = latent_mean.to(device), latent_std.to(device)
    captions = [[c["caption"] for c in item["captions"]] for item in train_set.items]
    cache = build_text_cache(cfg.text_encoder, cfg.text_max_length, cfg.cache_dir,
                             [c for cs in captions for c in cs] + [NULL_PROMPT], device, master)

    torch.manual_seed(cfg.seed)                                                       # the same weights everywhere
    margs = dict(gen_model_args(cfg, cache.dim), latent_dim=ae.latent_dim)
    model = MaskedLatentTransformer(**margs).to(device)
    ema = MaskedLatentTransformer(**margs).to(device).eval().requires_grad_(False)
    ema.load_state_dict(model.state_dict())
    params = list(model.parameters())
    decay = [p for p in params if p.ndim >= 2]                                        # official add_weight_decay
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.gen_weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.gen_lr, betas=(0.9, 0.95))
    step = resume_or_seed(old, {"model": model, "ema": ema, "optimizer": opt}, cfg.seed, rank, world, device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
    if master and old is not None:
        print(f"stage gen: resumed {path} at step {step}")
    if master:
        print(f"stage gen: {len(latents)} training motions ({cfg.gen_latents}), {latents.shape[1]} tokens x "
              f"{latents.shape[2]}; text {cache.name} "
              f"(C={cache.dim}, {len(cache)} captions cached), conditioning {cfg.text_cond}; generator "
              f"{sum(p.numel() for p in params) / 1e6:.2f}M parameters; device {device}, {cfg.precision}, {world} "
              f"process(es), batch {cfg.gen_batch_size} each")

    def checkpoint():
        states = gather_rng_states(device, world)                                     # a collective: every rank
        if master:
            save_atomic(path, {"kind": "latent_ar", "model": model.state_dict(), "ema": ema.state_dict(),
                               "optimizer": opt.state_dict(), "config": asdict(cfg), "model_args": margs,
                               "ae": ae.state_dict(), "ae_args": ae_ckpt["model_args"], "latent_mean": latent_mean,
                               "latent_std": latent_std, "mean": torch.from_numpy(mean), "std": torch.from_numpy(std),
                               "text_encoder": cfg.text_encoder, "data_root": str(root), "step": step, "rng": states,
                               "ae_test_metrics": ae_ckpt.get("test_metrics", {})})

    t0, loss_sum, n = time.time(), 0.0, 0
    while step < cfg.gen_steps:
        epoch, idx = shard_batch(step, len(latents), cfg.gen_batch_size, rank, world, cfg.seed)
        if cfg.gen_latents == "posterior":        # official: this step's crops, encoded, one posterior sample each
            z, v = encode_motions(ae, [train_set[(epoch, i)] for i in idx], device)  # (B, N, z), (B, N)
            z = (z - stats[0]) / stats[1] * v[..., None]
        else:
            z, v = latents[idx].to(device), valid[idx].to(device)
        caps = [NULL_PROMPT if random.random() < cfg.cond_drop_prob else random.choice(captions[i]) for i in idx]
        text, text_mask = cache.get(caps, device)                                    # (B, L, C), (B, L)
        lr = cfg.gen_lr * warmup_cosine(step, cfg.gen_warmup, cfg.gen_steps)
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
        with autocast:
            loss = training_loss(model, z, v, text, text_mask, cfg.flow_batch_mul)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(params, world)
        torch.nn.utils.clip_grad_norm_(params, cfg.gen_grad_clip)
        opt.step()
        step, n, loss_sum = step + 1, n + 1, loss_sum + loss.item()
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), params):
                p_ema.lerp_(p, 1.0 - cfg.ema_decay)
        if master and (step % cfg.log_every == 0 or step == cfg.gen_steps):
            dt = (time.time() - t0) / n
            print(f"gen step {step:>6}/{cfg.gen_steps} | loss {loss_sum / n:.4f} | lr {lr:.2e} | "
                  f"{dt * 1000:.0f} ms/step | {cfg.gen_batch_size * world / dt:.1f} samples/s", flush=True)
        if step % cfg.log_every == 0:
            t0, loss_sum, n = time.time(), 0.0, 0
        if step % cfg.save_every == 0 or step == cfg.gen_steps:
            checkpoint()
    return path


def benchmark(cfg: LatentARConfig, batch: int = 32, repeats: int = 2) -> dict:
    """Seconds per motion at batch `batch`, T = max_motion_length, fp32: this checkpoint's generate() at its defaults
    vs sample.Generator on an untrained unet.PRESETS[--bench_unet] U-Net (10-step SDE-DPM++(2M), CFG), interleaved."""
    from sample import Generator
    from unet import PRESETS as UNET_PRESETS, CondUnet1D
    path = Path(cfg.out_dir or f"out/{cfg.dataset}_latent_ar") / "ckpt.pt"
    device = pick_device(cfg.device)
    gen = LatentARGenerator(torch.load(path, map_location="cpu", weights_only=True), device)
    margs = dict(UNET_PRESETS[cfg.bench_unet], input_dim=gen.info.feat_dim, text_dim=gen.text_encoder.dim)
    unet = CondUnet1D(**margs)
    config = dict(dataset=cfg.dataset, text_max_length=77, num_timesteps=1000, sampler="sde-dpm++2m-karras",
                  sample_steps=10, guidance=2.5)
    baseline = Generator({"config": config, "data_root": gen.data_root, "mean": gen.mean, "std": gen.std,
                          "model_args": margs, "ema": unet.state_dict(), "text_encoder": ""}, device)
    captions, lengths = ["a person jumps in place"] * batch, [cfg.max_motion_length] * batch
    times = {"latent_ar": [], "unet_dpm10": []}
    for r in range(repeats + 1):                                                      # the first round warms up
        for name, g in (("latent_ar", gen), ("unet_dpm10", baseline)):
            t0 = time.time()
            g.generate(captions, lengths, seed=r)
            if r:
                times[name].append((time.time() - t0) / batch)
    out = {k: min(v) for k, v in times.items()}
    out["ratio_latent_ar_over_unet"] = out["latent_ar"] / out["unet_dpm10"]
    print(f"bench (batch {batch}, {lengths[0]} frames, {device}, {torch.get_num_threads()} threads): latent_ar "
          f"{cfg.decode_iters} iterations x {cfg.flow_steps} flow steps {out['latent_ar']:.3f} s/motion; U-Net "
          f"{cfg.bench_unet} 10-step SDE-DPM-Solver++ {out['unet_dpm10']:.3f} s/motion; "
          f"ratio {out['ratio_latent_ar_over_unet']:.2f}")
    return out


def main(argv: list[str]) -> None:
    """`python latent_ar.py [--key=value ...]` and `python train.py --method=latent_ar [...]`: the stages of --stage,
    on the preset of --preset (default: cpu; paper for humanml3d and kit), data-parallel under torchrun."""
    cfg = parse_options(LatentARConfig, argv, PRESETS, "latent_ar.py", DATASET_PRESETS, HINTS)
    choices = dict(dataset=list(DATASETS), stage=["all", "ae", "gen", "bench"], text_cond=["cross", "single"],
                   cfg_schedule=["constant", "linear"], gen_latents=["posterior", "means"],
                   decode_schedule=["molingo", "mar"], precision=["fp32", "bf16"], bench_unet=["cpu", "paper"])
    for key, valid in choices.items():
        if getattr(cfg, key) not in valid:
            sys.exit(f"latent_ar.py: --{key} must be one of {valid}, got {getattr(cfg, key)!r}")
    device, rank, world = setup_distributed(cfg.device)
    info = DATASETS[cfg.dataset]
    out_dir = Path(cfg.out_dir or f"out/{cfg.dataset}_latent_ar")
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"config_{cfg.stage}.json").write_text(json.dumps(asdict(cfg), indent=2))
        if cfg.dataset == "synthetic" and cfg.stage != "bench":
            from synthetic.build import ensure_dataset                                      # only the embedded dataset
            ensure_dataset(Path(cfg.data_root or info.default_root), num_motions=cfg.num_motions, seed=cfg.data_seed)
    if world > 1:
        dist.barrier()
    if cfg.stage == "ae" or cfg.stage == "all" and not cfg.ae_ckpt:
        train_autoencoder(cfg, device, rank, world)
    if cfg.stage in ("all", "gen"):
        train_generator(cfg, device, rank, world)
    if cfg.stage == "bench" and rank == 0:
        benchmark(cfg)
    finish_distributed(world)                                                         # barrier, then destroy


if __name__ == "__main__":
    main(sys.argv[1:])
