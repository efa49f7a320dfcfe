"""StableMoFusion's conditional 1D U-Net (CondUnet1D), the x0-predicting denoiser LUMA builds on.

Source: Huang et al. 2024, "StableMoFusion" (h-y1heng/StableMoFusion, models/unet.py,
options/train_options.py); LUMA (arXiv 2509.25304, sec. 3 and Fig. 2) attaches its anchors to the last down-block
feature, which `forward(..., return_features=True)` returns (with the other levels and the bottleneck).

    x (B, T, D) --pad T to a multiple of 16--> 4 down levels [CondBlock, CondBlock, Downsample]
      -> mid [CondBlock, CondBlock] -> 4 up levels [Upsample, concat skip, CondBlock, CondBlock]
      -> zero-initialised 1x1 conv -> crop -> x0 prediction (B, T, D)
    CondBlock = ResidualTemporalBlock (convs + AdaGN from the timestep) + ResidualCrossAttentionLayer (text)

Implementation details kept from StableMoFusion (models/unet.py):
  1. GroupNorm runs on a (B*T, C) view, so its statistics are per frame over channel groups, not over time.
  2. A Downsample follows every down level, including the last (208 -> 104 -> 52 -> 26 -> 13 for T=196).
  3. Classifier-free guidance has no null text: a dropped sample simply skips every cross-attention.
  4. Linear ("efficient") attention: softmax over each head's feature dim for Q, over tokens for K.
  5. Zero init of the final conv, of each block's second conv and of its time projection: output 0 at init.
Added here: a text padding mask (True = real token) honoured by the text adapter and by both attention
variants. With an all-True mask (or None) the network computes exactly what StableMoFusion computes.

Memory layout (speed only; the same function): every activation is a (B, C, T) tensor stored time-major, i.e. the
transpose of a contiguous (B, T, C) tensor. The per-frame GroupNorm and the cross-attention read it as (B*T, C) and
(B, T, C) without a copy, and the convolutions keep that layout (conv_time_major). Against channel-major storage,
which copied every activation to (B, T, C) and back around each norm and attention: a 1.12x faster CPU training step
(CPU preset, batch 32, 2 threads; 1.14x on 1 thread; the two interleaved in one process).

Test: python -m pytest tests/test_unet.py -q
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# Named presets (constructor kwargs besides input_dim/text_dim). "paper" = StableMoFusion / LUMA defaults
# (options/train_options.py): 293,654,279 parameters without the text adapter for D=263, 1024 channels at every level.
# "cpu" (train.py's default): base_dim 32 with dim_mults (1, 2, 2, 2), i.e. 32, 64, 64, 64 channels, time_dim 128,
# a 2-layer 128-wide text adapter: 1,586,855 parameters without the adapter (2,296,103 with it, for MiniLM's
# C=384). One AdamW step at batch 32, T=196 takes ~0.5 s wall on 2 CPU cores; the input level (263 -> 32
# channels at 208 frames) costs most of it. Levels stay >= 32 channels because the per-frame GroupNorm(8) of
# StableMoFusion needs several channels per group: with 2-4 it discards much of each frame's features.
PRESETS = {
    "paper": dict(base_dim=512, dim_mults=(2, 2, 2, 2), time_dim=512, text_latent_dim=256, text_layers=4,
                  num_heads=8, attention="linear", dropout=0.1, cond_mask_prob=0.1, adagn=True, zero_init=True),
    "cpu": dict(base_dim=32, dim_mults=(1, 2, 2, 2), time_dim=128, text_latent_dim=128, text_layers=2,
                num_heads=8, attention="linear", dropout=0.1, cond_mask_prob=0.1, adagn=True, zero_init=True),
}


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters of `module` (works on meta-device modules too)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


# ----------------------------------------------------------------------------------------------------
# Conditioning: timestep embedding and text adapter
# ----------------------------------------------------------------------------------------------------

def sinusoidal_table(max_len: int, dim: int) -> torch.Tensor:
    """Fixed (max_len, dim) float32 table: even dims sin(t*w_i), odd dims cos(t*w_i), w_i = 10000^(-2i/dim)."""
    position = torch.arange(max_len, dtype=torch.float64)[:, None]                      # (max_len, 1)
    freqs = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
    table = torch.zeros(max_len, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * freqs)
    table[:, 1::2] = torch.cos(position * freqs)
    return table.float()


class TextAdapter(nn.Module):
    """Linear(text_dim -> d) -> post-norm TransformerEncoder (GELU, ff 8d) -> LayerNorm (StableMoFusion
    T2MUnet.encode_text).

    ff = 8d gives StableMoFusion's 2048 at d=256 and scales down with the CPU preset.

    StableMoFusion runs it on all 77 CLIP states without a mask; here a key padding mask keeps padded
    tokens from being attended to (their own outputs are meaningless and are masked again downstream).
    """

    def __init__(self, text_dim: int, latent_dim: int = 256, num_layers: int = 4, num_heads: int = 4,
                 dropout: float = 0.1):
        super().__init__()
        self.proj = nn.Linear(text_dim, latent_dim)
        layer = nn.TransformerEncoderLayer(latent_dim, num_heads, 8 * latent_dim, dropout, activation="gelu",
                                           batch_first=True, norm_first=False)
        # No nested-tensor fast path: identical numerics in train and eval mode.
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(latent_dim)

    def forward(self, text: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """text (B, L, C_text) float, mask (B, L) bool True = real token -> (B, L, latent_dim)."""
        h = self.encoder(self.proj(text), src_key_padding_mask=~mask)                   # (B, L, C)
        return self.norm(h)


# ----------------------------------------------------------------------------------------------------
# Blocks
# ----------------------------------------------------------------------------------------------------

def conv_time_major(conv: nn.Conv1d | nn.ConvTranspose1d, x: torch.Tensor) -> torch.Tensor:
    """conv(x) for x (B, C_in, T) float, returned (B, C_out, T_out) in the storage order of x: time-major when x is the
    transpose of a contiguous (B, T, C) tensor, channel-major when x is contiguous.

    torch's conv1d returns channel-major storage for any input; a 2D convolution of the (B, C, 1, T) view with the
    module's weight viewed (C_out, C_in, 1, k) is the same arithmetic and keeps a time-major input time-major
    (channels_last, oneDNN's and cuDNN's native layout). Stride, padding, dilation and groups are the module's;
    raises ValueError for a padding mode other than zeros."""
    if conv.padding_mode != "zeros":
        raise ValueError(f"unet.conv_time_major: padding_mode {conv.padding_mode!r}, only 'zeros' is supported")
    weight, x4 = conv.weight.unsqueeze(2), x.unsqueeze(2)                            # (.., 1, k), (B, C, 1, T)
    stride, padding, dilation = (1, conv.stride[0]), (0, conv.padding[0]), (1, conv.dilation[0])
    if isinstance(conv, nn.ConvTranspose1d):
        y = F.conv_transpose2d(x4, weight, conv.bias, stride, padding, (0, conv.output_padding[0]), conv.groups,
                               dilation)
    else:
        y = F.conv2d(x4, weight, conv.bias, stride, padding, dilation, conv.groups)
    return y.squeeze(2)                                                              # (B, C_out, T_out)


def mish(x: torch.Tensor) -> torch.Tensor:
    """Mish, x * tanh(softplus(x)) (= F.mish). Written out because autograd through these two ops is ~2x faster
    on the CPU than aten's fused mish_backward, which took a quarter of a CPU training step."""
    return x * torch.tanh(F.softplus(x))


class Mish(nn.Module):
    def forward(self, x):
        return mish(x)


class Conv1dBlock(nn.Module):
    """Conv1d (same padding) -> per-frame GroupNorm -> optional x*(1+scale)+shift -> Mish."""

    def __init__(self, dim_in: int, dim_out: int, kernel_size: int = 5, groups: int = 8, zero: bool = False):
        super().__init__()
        self.conv = nn.Conv1d(dim_in, dim_out, kernel_size, padding=kernel_size // 2)
        self.norm = nn.GroupNorm(groups, dim_out)
        if zero:
            nn.init.zeros_(self.conv.weight)
            nn.init.zeros_(self.conv.bias)

    def forward(self, x, scale_shift=None):
        x = conv_time_major(self.conv, x)                                                # (B, C, T)
        B, C, T = x.shape
        # StableMoFusion quirk, kept on purpose: GroupNorm sees (B*T, C), i.e. it normalises each frame over
        # its channel groups and never mixes statistics across time (a LayerNorm-like norm per group).
        x = self.norm(x.transpose(1, 2).reshape(B * T, C))                               # (B*T, C), a view
        x = x.view(B, T, C).transpose(1, 2)                                              # (B, C, T) time-major
        if scale_shift is not None:
            scale, shift = scale_shift                                                   # (B, C, 1) each
            x = x * (1 + scale) + shift
        return mish(x)


class ResidualTemporalBlock(nn.Module):
    """Two Conv1dBlocks (k=5) with AdaGN from the timestep embedding on the first, dropout, residual.

    adagn=False adds Linear(Mish(temb)) after the first block instead, whose GroupNorm then has 4 groups, not 8
    (StableMoFusion ResidualTemporalBlock: `Conv1dBlock(inp, out, kernel_size)` keeps Conv1dBlock's n_groups=4)."""

    def __init__(self, dim_in: int, dim_out: int, time_dim: int, dropout: float = 0.1, adagn: bool = True,
                 zero_init: bool = True):
        super().__init__()
        self.adagn = adagn
        # StableMoFusion passes n_groups=8 to its AdaGN block but builds the plain block with its default of 4.
        self.block1 = Conv1dBlock(dim_in, dim_out, groups=8 if adagn else 4)
        self.block2 = Conv1dBlock(dim_out, dim_out, zero=zero_init)
        self.time_proj = nn.Linear(time_dim, 2 * dim_out if adagn else dim_out)  # applied to Mish(temb)
        if zero_init:
            nn.init.zeros_(self.time_proj.weight)
            nn.init.zeros_(self.time_proj.bias)
        self.dropout = nn.Dropout(dropout)
        self.residual = nn.Conv1d(dim_in, dim_out, 1) if dim_in != dim_out else nn.Identity()

    def forward(self, x, temb):
        """x (B, C_in, T), temb (B, time_dim) -> (B, C_out, T)."""
        cond = self.time_proj(mish(temb))[:, :, None]                                  # (B, 2C or C, 1)
        if self.adagn:
            h = self.block1(x, cond.chunk(2, dim=1))
        else:
            h = self.block1(x) + cond
        h = self.dropout(self.block2(h))
        return h + (conv_time_major(self.residual, x) if isinstance(self.residual, nn.Conv1d) else x)


class ResidualCrossAttentionLayer(nn.Module):
    """x <- x + Attn(LN(x), LN(text)) for the conditioned rows only; 8 heads, no output projection.

    "linear" (StableMoFusion default, efficient attention): Q softmaxed over each head's features, K softmaxed
    over the text tokens, context = K^T V per head (HD x HD), y = Q context. "softmax": standard attention
    softmax(Q K^T / sqrt(HD)) over tokens. Padded tokens (mask False) get exactly zero weight in both.
    """

    def __init__(self, dim: int, text_dim: int, num_heads: int = 8, attention: str = "linear",
                 dropout: float = 0.1):
        super().__init__()
        assert attention in ("linear", "softmax"), f"attention must be 'linear' or 'softmax', got {attention!r}"
        assert dim % num_heads == 0, f"channels {dim} not divisible by num_heads {num_heads}"
        self.num_heads, self.attention = num_heads, attention
        self.norm = nn.LayerNorm(dim)
        self.text_norm = nn.LayerNorm(text_dim)
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(text_dim, dim)
        self.value = nn.Linear(text_dim, dim)
        self.dropout = nn.Dropout(dropout)

    def attend(self, x, text, mask):
        """x (N, T, C), text (N, L, C_text), mask (N, L) bool -> x + attention (N, T, C)."""
        N, T, C = x.shape
        H = self.num_heads
        L = text.shape[1]
        text = self.text_norm(text)
        q = self.query(self.norm(x)).view(N, T, H, C // H)                               # (N, T, H, C/H)
        k = self.key(text).view(N, L, H, C // H)                                         # (N, L, H, C/H)
        v = self.value(text).view(N, L, H, C // H)                                       # (N, L, H, C/H)
        neg = torch.finfo(k.dtype).min
        if self.attention == "linear":
            q = q.softmax(dim=-1)
            k = k.masked_fill(~mask[:, :, None, None], neg).softmax(dim=1)              # over tokens L
            context = self.dropout(torch.einsum("nlhd,nlhe->nhde", k, v))                # (N, H, C/H, C/H)
            y = torch.einsum("nthd,nhde->nthe", q, context)                              # (N, T, H, C/H)
        else:
            scores = torch.einsum("nthd,nlhd->nhtl", q, k) / math.sqrt(C // H)           # (N, H, T, L)
            weights = self.dropout(scores.masked_fill(~mask[:, None, None, :], neg).softmax(dim=-1))
            y = torch.einsum("nhtl,nlhd->nthd", weights, v)                              # (N, T, H, C/H)
        return x + y.reshape(N, T, C)

    def forward(self, x, cond_idx, text, mask):
        """x (B, C, T); cond_idx (N,) long rows that see the text; text (N, L, C_text), mask (N, L) -> (B, C, T)."""
        if cond_idx.numel() == 0:
            return x
        x = x.transpose(1, 2)                                                            # (B, T, C)
        if cond_idx.numel() == x.shape[0]:
            x = self.attend(x, text, mask)
        else:  # dropped rows pass through untouched (no null token, StableMoFusion's mask_cond)
            x = x.index_copy(0, cond_idx, self.attend(x[cond_idx], text, mask))
        return x.transpose(1, 2)                                                         # (B, C, T)


class CondBlock(nn.Module):
    """ResidualTemporalBlock followed by ResidualCrossAttentionLayer."""

    def __init__(self, dim_in, dim_out, time_dim, text_dim, num_heads, attention, dropout, adagn, zero_init):
        super().__init__()
        self.res = ResidualTemporalBlock(dim_in, dim_out, time_dim, dropout, adagn, zero_init)
        self.attn = ResidualCrossAttentionLayer(dim_out, text_dim, num_heads, attention, dropout)

    def forward(self, x, temb, cond_idx, text, mask):
        return self.attn(self.res(x, temb), cond_idx, text, mask)


# ----------------------------------------------------------------------------------------------------
# Network
# ----------------------------------------------------------------------------------------------------

class CondUnet1D(nn.Module):
    """Text-conditioned 1D U-Net predicting x0 from (x_t, t, text) (StableMoFusion models/unet.py).

    input_dim: D motion features (263 HumanML3D, 251 KIT); text_dim: C_text of the frozen text encoder
    (512 CLIP-B/32, 384 MiniLM). Channels per level: base_dim * dim_mults[i]; every level downsamples by 2,
    so T is zero-padded to a multiple of 2**len(dim_mults) and cropped back at the end.
    cond_mask_prob: probability that a training sample drops its text (classifier-free guidance training).
    """

    def __init__(self, input_dim: int, text_dim: int, base_dim: int = 512, dim_mults=(2, 2, 2, 2),
                 time_dim: int = 512, text_latent_dim: int = 256, text_layers: int = 4, num_heads: int = 8,
                 attention: str = "linear", dropout: float = 0.1, cond_mask_prob: float = 0.1,
                 adagn: bool = True, zero_init: bool = True):
        super().__init__()
        assert attention in ("linear", "softmax"), f"attention must be 'linear' or 'softmax', got {attention!r}"
        assert 0.0 <= cond_mask_prob < 1.0, f"cond_mask_prob must be in [0, 1), got {cond_mask_prob}"
        self.input_dim, self.text_dim, self.cond_mask_prob = input_dim, text_dim, cond_mask_prob
        self.pad_multiple = 2 ** len(dim_mults)

        self.register_buffer("time_table", sinusoidal_table(5000, time_dim), persistent=False)
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, 4 * time_dim), Mish(), nn.Linear(4 * time_dim, time_dim))
        self.text_adapter = TextAdapter(text_dim, text_latent_dim, text_layers, num_heads=4, dropout=dropout)

        block = dict(time_dim=time_dim, text_dim=text_latent_dim, num_heads=num_heads, attention=attention,
                     dropout=dropout, adagn=adagn, zero_init=zero_init)
        dims = [input_dim] + [base_dim * m for m in dim_mults]                          # e.g. [263, 1024 x4]
        self.downs = nn.ModuleList()
        for dim_in, dim_out in zip(dims[:-1], dims[1:]):
            self.downs.append(nn.ModuleList([CondBlock(dim_in, dim_out, **block), CondBlock(dim_out, dim_out, **block),
                                             nn.Conv1d(dim_out, dim_out, 3, stride=2, padding=1)]))
        mid = dims[-1]
        self.mid = nn.ModuleList([CondBlock(mid, mid, **block), CondBlock(mid, mid, **block)])
        self.ups = nn.ModuleList()
        last = mid
        for dim_out in reversed(dims[1:]):
            self.ups.append(nn.ModuleList([nn.ConvTranspose1d(last, dim_out, 4, stride=2, padding=1),
                                           CondBlock(2 * dim_out, dim_out, **block),
                                           CondBlock(dim_out, dim_out, **block)]))
            last = dim_out
        self.final_conv = nn.Conv1d(last, input_dim, 1)
        if zero_init:
            nn.init.zeros_(self.final_conv.weight)
            nn.init.zeros_(self.final_conv.bias)

    def parameter_counts(self) -> dict:
        """{"unet": without text adapter (StableMoFusion's 293,654,279 at paper size), "text_adapter", "total"}."""
        total, adapter = count_parameters(self), count_parameters(self.text_adapter)
        return {"unet": total - adapter, "text_adapter": adapter, "total": total}

    def cond_indices(self, batch_size: int, force_uncond=False, device=None) -> torch.Tensor:
        """Rows that see the text: all at eval; Bernoulli(1 - cond_mask_prob) per row in training.

        force_uncond: bool (whole batch) or (B,) bool tensor (True = this row unconditional).
        The draw uses the CPU generator and the indices are found on the host, then copied (pinned, non_blocking):
        finding them on a GPU (nonzero) would make the host wait for the GPU at every step. A force_uncond tensor
        on a GPU is read back to the host (one synchronisation; callers that care pass a CPU tensor).
        """
        keep = torch.ones(batch_size, dtype=torch.bool)
        if self.training and self.cond_mask_prob > 0:
            keep &= torch.rand(batch_size) >= self.cond_mask_prob
        if isinstance(force_uncond, torch.Tensor):
            keep &= ~force_uncond.to(device="cpu", dtype=torch.bool)
        elif force_uncond:
            keep[:] = False
        idx = keep.nonzero().squeeze(1)                                                  # (N,) long
        if device is not None and torch.device(device).type == "cuda":
            idx = idx.pin_memory()
        return idx.to(device, non_blocking=True)

    def forward(self, x, t, text=None, text_mask=None, force_uncond=False, return_features=False):
        """Predict x0.

        x: (B, T, D) float noisy motion x_t; t: (B,) integer diffusion step in [0, 5000);
        text: (B, L, C_text) float token features of the frozen encoder (None = unconditional);
        text_mask: (B, L) bool True = real token (None = all real, i.e. StableMoFusion);
        force_uncond: True or a (B,) bool tensor to skip cross-attention (CFG's unconditional branch).
        Returns x0 (B, T, D) and, if return_features, 5 features: the 4 down levels [(B, C_i, T_pad / 2**i)], each
        the output of the level's second CondBlock before its Downsample, then the bottleneck (mid blocks) output
        (B, C_3, T_pad / 16). features[3] is LUMA's default anchor input ("Down-block3", (B, 1024, 26) at T=196;
        LUMA sec. 3.2 does not say before or after its Downsample), features[4] Table 3's "Bottleneck"; T_pad = T
        rounded up to a multiple of 16. x0 and the features are views of time-major storage, not contiguous
        (.contiguous() before a .view).
        """
        if text is None:
            force_uncond = True
            text = x.new_zeros(x.shape[0], 1, self.text_dim)
        idx = self.cond_indices(x.shape[0], force_uncond, x.device)
        return self._unet(x, t, idx, text[idx], None if text_mask is None else text_mask[idx], return_features)

    @torch.no_grad()
    def forward_with_cfg(self, x, t, text, text_mask=None, guidance: float = 2.5, rescale: float = 0.0):
        """Classifier-free guidance in one batched pass: rows [x; x], only the first half sees the text.

        Returns the guided x0 = uncond + guidance * (cond - uncond), shape (B, T, D) float32 (StableMoFusion
        forward_with_cfg): under bf16 autocast the network runs in bf16 but the combination, which amplifies
        cond - uncond, runs in fp32. rescale = phi > 0 applies CFG rescale (Lin et al. 2024, "Common Diffusion Noise
        Schedules and Sample Steps are Flawed", sec. 3.4, there phi = 0.7) to that guided x0: x_rescaled = x0 *
        std(cond) / std(x0) per sample over (T, D), returned as phi * x_rescaled + (1 - phi) * x0 (diffusers'
        rescale_noise_cfg).
        """
        B = x.shape[0]
        t = t.expand(B) if t.dim() == 0 else t
        idx = torch.arange(B, device=x.device)                                          # cond rows = first half
        out = self._unet(torch.cat([x, x]), torch.cat([t, t]), idx, text, text_mask, False)   # (2B, T, D)
        cond, uncond = out[:B].float(), out[B:].float()                                  # fp32 under autocast too
        x0 = uncond + guidance * (cond - uncond)
        if rescale > 0:  # sec. 3.4: bring the guided x0's per-sample std back to the conditional prediction's
            x0_rescaled = x0 * (cond.std(dim=(1, 2), keepdim=True) / x0.std(dim=(1, 2), keepdim=True))
            x0 = rescale * x0_rescaled + (1 - rescale) * x0
        return x0

    def _unet(self, x, t, cond_idx, text, text_mask, return_features):
        """x (B, T, D), t (B,), cond_idx (N,), text (N, L, C_text) for those rows, text_mask (N, L) or None."""
        B, T, D = x.shape
        if D != self.input_dim:
            raise ValueError(f"CondUnet1D: x has {D} features, the model was built for input_dim={self.input_dim}")
        if t.dim() == 0:
            t = t.expand(B)
        if t.is_floating_point():
            raise TypeError(f"CondUnet1D: t must be an integer tensor of diffusion steps, got {t.dtype}")
        temb = self.time_mlp(self.time_table[t])                                        # (B, time_dim)

        if text_mask is None:
            text_mask = torch.ones(text.shape[:2], dtype=torch.bool, device=x.device)
        text_mask = text_mask.to(device=x.device, dtype=torch.bool)
        ctx = self.text_adapter(text.to(x.dtype), text_mask) if cond_idx.numel() else text  # (N, L, C_lat)
        cond = (cond_idx, ctx, text_mask)

        pad = (-T) % self.pad_multiple
        h = F.pad(x, (0, 0, 0, pad)).transpose(1, 2)                                     # (B, D, T_pad), zeros
        skips = []
        for block1, block2, downsample in self.downs:
            h = block2(block1(h, temb, *cond), temb, *cond)                              # (B, C_i, T_i)
            skips.append(h)
            h = conv_time_major(downsample, h)                                           # (B, C_i, T_i / 2)
        for block in self.mid:
            h = block(h, temb, *cond)
        features = skips + [h]                                                           # 4 down levels + mid
        for upsample, block1, block2 in self.ups:  # channel concat, stored time-major: cat over C of (B, T, C)
            h = torch.cat([conv_time_major(upsample, h).transpose(1, 2), skips.pop().transpose(1, 2)], dim=2)
            h = block2(block1(h.transpose(1, 2), temb, *cond), temb, *cond)              # (B, 2 C_i, T_i) in
        out = conv_time_major(self.final_conv, h)[:, :, :T].transpose(1, 2)              # (B, T, D)
        return (out, features) if return_features else out
