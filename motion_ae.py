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

The model, its losses and its training (stage 1 of MoLingo: AEConfig, the frame-label table, LabelledMotions,
reconstruction_metrics, train_autoencoder). The model and losses import torch and motion.py alone (recover_from_ric,
for the joint losses), so they copy out with those; the training functions import the repository's data.py,
runtime.py and text_encoder.py when called. latent_ar_train.py is the command that runs it, then stage 2.

    python latent_ar_train.py --stage=ae                      # trains this model
    torchrun --nproc_per_node=2 latent_ar_train.py --stage=ae # data parallel (gloo on the CPU, NCCL on GPUs)
Test: python -m pytest tests/test_motion_ae.py -q
"""
import contextlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

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


# ----------------------------------------------------------------------------------------------------------------
# Training (MoLingo core/sae_trainer.py): options, motions with per-frame label indices, the loop
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class AEConfig:
    # data
    dataset: str = "synthetic"        # synthetic (embedded, built on first use) | humanml3d | kit
    data_root: str = ""               # '' -> the dataset's default root
    feat_bias: float = 5.0            # root/contact std divided by this (StableMoFusion datasets/t2m_dataset.py)
    num_motions: int = 1500           # embedded dataset only: base motions generated (+ mirrored copies)
    data_seed: int = 0                # embedded dataset only: its build seed (as train.py's --data_seed)
    max_motion_length: int = 196      # training crop (frames)
    # autoencoder (MoLingo options/sae_option.py; official 263 model: width 1024, depth 3, growth 3, x4, z 16)
    ae_width: int = 128               # W channels
    ae_depth: int = 3                 # residual blocks per level
    ae_growth: int = 3                # dilation growth (dilations 9, 3, 1)
    down_t: int = 2                   # stride-2 levels: 2 -> 4 frames per latent token
    latent_dim: int = 16              # z per token
    # losses (official weights) and frame labels
    w_joints: float = 1.0             # joint positions, metres^2
    w_vel: float = 10.0               # joint velocities, (metres/frame)^2
    w_kl: float = 1e-5                # KL to N(0, I)
    align_weight: float = 1e-3        # 1 - cos(z_i, W e_i); 0 trains the unaligned SAE
    label_encoder: str = ""           # frame-label text encoder; '' -> packaged all-MiniLM-L6-v2 (pooled vector)
    # optimisation (official: AdamW 5e-5, batch 32, 1000 warm-up iterations then cosine, clip 1.0; no EMA: the
    # official trainer keeps none, it selects a checkpoint by validation MPJPE/FID instead)
    ae_steps: int = 800               # optimiser steps (CPU preset: both stages projected ~12.5 min on 2 idle cores)
    ae_batch_size: int = 32           # per process
    ae_lr: float = 1e-3               # peak learning rate
    ae_warmup: int = 100              # linear warm-up steps, then cosine to 0
    ae_grad_clip: float = 1.0
    # run
    out_dir: str = ""                 # '' -> out/<dataset>_latent_ar (ae.pt, ckpt.pt, config_<stage>.json)
    device: str = "auto"              # auto -> cuda, then mps, then cpu (torchrun: cuda:LOCAL_RANK, else cpu)
    seed: int = 0                     # seeds python, numpy and torch (process r: seed + r)
    precision: str = "fp32"           # fp32 | bf16 (autocast of the networks; losses, AdamW and EMA stay fp32)
    log_every: int = 100              # steps between log lines
    save_every: int = 500             # steps between checkpoints
    resume: bool = False              # continue an unfinished stage checkpoint exactly (finished ones are reused)


def ae_model_args(cfg: AEConfig, input_dim: int, label_dim: int) -> dict:
    """Constructor arguments of MotionAE, stored in the checkpoint (no alignment projection when align_weight 0)."""
    return dict(input_dim=input_dim, width=cfg.ae_width, depth=cfg.ae_depth, growth=cfg.ae_growth,
                down_t=cfg.down_t, latent_dim=cfg.latent_dim, label_dim=label_dim if cfg.align_weight > 0 else 0)


# Settings that define a trained SAE: a checkpoint made with others is neither reused nor continued.
AE_KEYS = ("dataset", "feat_bias", "ae_width", "ae_depth", "ae_growth", "down_t", "latent_dim", "w_joints", "w_vel",
           "w_kl", "align_weight", "label_encoder")


def frame_label_table(root, items: list[dict]) -> tuple[list[tuple[str, ...]], list[np.ndarray]]:
    """Label rows and per-frame row indices for data.load_split items (HumanML3D: see this file's docstring).

    Returns rows: list of text tuples (a row's embedding is the mean of its texts' embeddings) and, per item, an
    int64 (F,) array of row indices, -1 on unlabelled frames. frame_labels/<name>.json segments are in feature
    frames, end exclusive."""
    rows, index, per_item = [], {}, []

    def row(texts: tuple) -> int:
        if texts not in index:
            index[texts] = len(rows)
            rows.append(texts)
        return index[texts]

    for item in items:
        path = Path(root) / "frame_labels" / f"{item['name']}.json"
        labels = np.full(item["length"], -1, dtype=np.int64)
        if path.is_file():
            for seg in json.loads(path.read_text())["segments"]:
                labels[seg["start"]:seg["end"]] = row((seg["text"],))
        else:
            labels[:] = row(tuple(c["caption"] for c in item["captions"]))
        per_item.append(labels)
    return rows, per_item


@torch.no_grad()
def embed_label_rows(rows: list[tuple[str, ...]], encoder, batch_size: int = 256) -> torch.Tensor:
    """rows of texts -> (R, C) float32 on the CPU: each row the mean of the encoder's pooled vectors of its texts
    (run on the encoder's device)."""
    texts = sorted({t for r in rows for t in r})
    pooled = {}
    for s in range(0, len(texts), batch_size):
        chunk = texts[s:s + batch_size]
        for t, p in zip(chunk, encoder(chunk)[2].cpu()):
            pooled[t] = p
    return torch.stack([torch.stack([pooled[t] for t in r]).mean(0) for r in rows])


class LabelledMotions(Dataset):
    """Normalised motions of one split with frame-label indices, for the SAE.

    item i or (epoch, i) -> {"motion": float32 (max_motion_length, D) zero-padded, "length": int, "labels": int64
    (max_motion_length,) row index or -1, "start": int first frame of the window}. Crop: a uniform max_motion_length
    window when longer (StableMoFusion), the labels cropped with it; crop=False keeps the first window (evaluation,
    and the statistics of latent_ar's latents; the attribute may be switched afterwards). The key (epoch, i) draws
    the crop from default_rng([seed, epoch, i]), a pure function of the key, so a resumed run repeats it exactly; an
    int key draws from the dataset's running generator."""

    def __init__(self, root, split, info, mean, std, max_motion_length=196, crop=True, seed=0):
        from data import load_split                                                  # the repository's loader
        self.items = load_split(root, split, info, seed=seed)
        self.rows, self.labels = frame_label_table(root, self.items)
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        self.max_len, self.crop, self.seed, self.rng = max_motion_length, crop, seed, np.random.default_rng(seed)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        rng = self.rng
        if isinstance(idx, tuple):
            epoch, idx = idx
            rng = np.random.default_rng([self.seed, int(epoch), int(idx)])
        item, labels = self.items[idx], self.labels[idx]
        n = min(item["length"], self.max_len)
        start = int(rng.integers(0, item["length"] - n + 1)) if self.crop else 0
        motion = np.zeros((self.max_len, len(self.mean)), np.float32)               # (T, D)
        motion[:n] = (item["motion"][start:start + n] - self.mean) / self.std
        lab = np.full(self.max_len, -1, np.int64)
        lab[:n] = labels[start:start + n]
        return {"motion": torch.from_numpy(motion), "length": n, "labels": torch.from_numpy(lab), "start": start}


@torch.no_grad()
def reconstruction_metrics(model: MotionAE, dataset: LabelledMotions, joints_num: int, batch_size: int = 64,
                           device="cpu") -> dict:
    """Posterior-mean reconstruction of a split: {"MPJPE_mm", "MPJPE_root_rel_mm", "feature_MSE", "motions"}.

    MPJPE: mean over valid frames and joints of the Euclidean distance between recover_from_ric joints of the
    reconstruction and of the input, global (no alignment) and with the root joint subtracted per frame, in mm
    (metres x 1000; KIT features are already in mm, so pass the result through /1000 there). feature_MSE: mean
    squared error of the normalised features over valid frames."""
    model.eval()
    mean, std = (torch.as_tensor(a, device=device) for a in (dataset.mean, dataset.std))
    sums, frames = np.zeros(3), 0
    for batch in DataLoader(dataset, batch_size=batch_size):
        x, length = batch["motion"].to(device), batch["length"].to(device)
        mask = torch.arange(x.shape[1], device=device)[None] < length[:, None]       # (B, T)
        x_hat = model(x, sample=False)[0]
        j_hat, j = recover_from_ric(x_hat * std + mean, joints_num), recover_from_ric(x * std + mean, joints_num)
        err = (j_hat - j).norm(dim=-1).mean(-1)                                      # (B, T)
        rel = ((j_hat - j_hat[..., :1, :]) - (j - j[..., :1, :])).norm(dim=-1).mean(-1)
        mse = ((x_hat - x) ** 2).mean(-1)
        sums += [float((e * mask).sum()) for e in (err, rel, mse)]
        frames += int(mask.sum())
    mpjpe, rel, mse = (float(v) for v in sums / frames)                          # plain floats: weights_only loads
    return {"MPJPE_mm": 1000 * mpjpe, "MPJPE_root_rel_mm": 1000 * rel, "feature_MSE": mse, "motions": len(dataset)}


def train_autoencoder(cfg: AEConfig, device: torch.device, rank: int = 0, world: int = 1) -> Path:
    """Stage 1: train the SAE on the train split (every process of a torchrun its shard), report reconstruction on
    the test split, write <out_dir>/ae.pt = {kind "motion_ae", model, optimizer, config, model_args, step, mean, std,
    data_root, rng (one entry per process), test_metrics}. Returns its path. A finished ae.pt (step >= ae_steps) is
    reused; an unfinished one is continued with --resume (exactly: weights, AdamW, step, random states, data order)
    and started over without it; one trained with other AE_KEYS is an error."""
    import runtime                                                                   # the repository's plumbing
    from data import DATASETS, load_stats
    from text_encoder import TextEncoder
    info, master = DATASETS[cfg.dataset], rank == 0
    root, out_dir = Path(cfg.data_root or info.default_root), Path(cfg.out_dir or f"out/{cfg.dataset}_latent_ar")
    path = out_dir / "ae.pt"
    ckpt = runtime.stage_checkpoint(path, "motion_ae", cfg, AE_KEYS, cfg.ae_steps, master)
    if ckpt == "finished":
        return path
    torch.manual_seed(cfg.seed)                                                      # the same weights everywhere
    mean, std = load_stats(root, info, feat_bias=cfg.feat_bias)
    train_set = LabelledMotions(root, "train", info, mean, std, cfg.max_motion_length, seed=cfg.seed)
    encoder = TextEncoder(cfg.label_encoder or None).to(device)
    table = embed_label_rows(train_set.rows, encoder).to(device)                     # (R, C)
    margs = ae_model_args(cfg, info.feat_dim, encoder.dim)
    del encoder
    model = MotionAE(**margs).to(device)
    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.ae_lr, betas=(0.9, 0.999), weight_decay=0.0)
    step = runtime.resume_or_seed(ckpt, {"model": model, "optimizer": opt}, cfg.seed, rank, world, device)
    if master and ckpt is not None:
        print(f"stage ae: resumed {path} at step {step}")
    mean_t, std_t = torch.from_numpy(mean).to(device), torch.from_numpy(std).to(device)
    weights = dict(joints=cfg.w_joints, vel=cfg.w_vel, kl=cfg.w_kl, align=cfg.align_weight)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
    if master:
        print(f"stage ae: {len(train_set)} training motions, {len(train_set.rows)} frame-label rows (C="
              f"{table.shape[1]}); SAE {sum(p.numel() for p in params) / 1e6:.2f}M parameters; device {device}, "
              f"{cfg.precision}, {world} process(es), batch {cfg.ae_batch_size} each")

    def checkpoint(metrics=None):
        states = runtime.gather_rng_states(device, world)                            # a collective: every rank
        if master:
            runtime.save_atomic(path, {"kind": "motion_ae", "model": model.state_dict(),
                                       "optimizer": opt.state_dict(), "config": asdict(cfg), "model_args": margs,
                                       "step": step, "data_root": str(root), "mean": torch.from_numpy(mean),
                                       "std": torch.from_numpy(std), "rng": states, "test_metrics": metrics or {}})

    t0, sums, n = time.time(), {}, 0
    while step < cfg.ae_steps:
        epoch, idx = runtime.shard_batch(step, len(train_set), cfg.ae_batch_size, rank, world, cfg.seed)
        batch = [train_set[(epoch, i)] for i in idx]
        x = torch.stack([b["motion"] for b in batch]).to(device)                    # (B, T, D)
        length = torch.tensor([b["length"] for b in batch], device=device)          # (B,)
        labels = torch.stack([b["labels"] for b in batch]).to(device)               # (B, T) row index or -1
        model.train()
        lr = cfg.ae_lr * runtime.warmup_cosine(step, cfg.ae_warmup, cfg.ae_steps)
        for group in opt.param_groups:
            group["lr"] = lr
        losses = ae_losses(model, x, length, mean_t, std_t, info.joints_num, table[labels.clamp(min=0)], labels >= 0,
                           weights, autocast)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        runtime.average_gradients(params, world)
        torch.nn.utils.clip_grad_norm_(params, cfg.ae_grad_clip)
        opt.step()
        step, n = step + 1, n + 1
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v.item()
        if master and (step % cfg.log_every == 0 or step == cfg.ae_steps):
            dt = (time.time() - t0) / n
            terms = " | ".join(f"{k} {v / n:.4g}" for k, v in sums.items())
            print(f"ae step {step:>6}/{cfg.ae_steps} | {terms} | lr {lr:.2e} | {dt * 1000:.0f} ms/step | "
                  f"{cfg.ae_batch_size * world / dt:.1f} samples/s", flush=True)
        if step % cfg.log_every == 0:
            t0, sums, n = time.time(), {}, 0
        if step % cfg.save_every == 0 and step < cfg.ae_steps:                      # the last save holds metrics
            checkpoint()
    metrics = {}
    if master:
        test_set = LabelledMotions(root, "test", info, mean, std, info.max_len, crop=False, seed=cfg.seed)
        metrics = reconstruction_metrics(model, test_set, info.joints_num, device=device)
        print("stage ae: test reconstruction " + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
    checkpoint(metrics)
    if world > 1:
        torch.distributed.barrier()                                                  # ae.pt is on disk for stage 2
    return path
