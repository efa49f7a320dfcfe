"""MoLingo's generator: masked autoregression over continuous motion latents with a per-token rectified-flow head.

Source: He et al. 2025, "MoLingo" (arXiv 2512.13840, sec. 3.2-3.3), official code hynann/MoLingo
mogen/models/molingo/{molingo,flowloss,recflow_sigma,cfg_sampler}.py at HEAD 52e3b4c; the masked
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
  - Crops: LabelledMotions' uniform max_motion_length window, fresh each epoch (only longer motions move);
    the official loader also trims each clip to a multiple of 4 frames at a random offset (mogen/data/ms_dataset.py).
  - --gen_latents=means (not the default) trains on each motion's first window, encoded once to its posterior mean
    (the official trainer, mogen/core/molingo_trainer.py, encodes every step's crops and uses the posterior sample
    z = mu + sigma eps of mogen/models/vae/vae.py's encode, `dist.rsample()`; that is --gen_latents=posterior).
  - --decode_schedule=mar (not the default) is MAR's schedule with round where MAR floors (LTH14/mar models/mar.py).
  - --text_cond=single, one pooled text token added to every latent token, is this project's design: neither the
    paper nor the official code has a single-token variant to compare multi-token cross-attention with.

Training: stage 1 is motion_ae.train_autoencoder, stage 2 (and the command for both) latent_ar_train.py; sampling a
checkpoint is sample.py (LatentARGenerator). This file imports torch alone: copy it (with motion_ae.py's model for
the tokens) into another project.

    python train.py --method=latent_ar                   # both stages, CPU preset, embedded dataset
Test: python -m pytest tests/test_latent_ar.py -q
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

NULL_PROMPT = "This is a null prompt with no semantic meaning."  # MoLingo's dropped caption (molingo.py)


def sinusoidal(x: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """x (...,) float positions or times -> (..., dim) [cos(x w_i), sin(x w_i)], w_i = max_period^(-i / (dim/2))."""
    freqs = torch.exp(-math.log(max_period) * torch.arange(dim // 2, device=x.device) / (dim // 2))
    args = x.float()[..., None] * freqs                                              # (..., dim/2)
    return torch.cat([torch.cos(args), torch.sin(args)], -1)


# ----------------------------------------------------------------------------------------------------------------
# Per-token rectified-flow head (flowloss.py SimpleMLPAdaLN)
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
    """MAR training step (molingo.py forward_loss): per sample r ~ U(0, 1), round(n cos(pi r / 2)) >= 1 of its n valid
    tokens masked in random positions; flow loss on the masked valid tokens. z (B, N, z), valid (B, N) -> scalar."""
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
