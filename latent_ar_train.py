"""MoLingo's training: stage 1, the semantic-aligned autoencoder (motion_ae.py), then stage 2, the masked
autoregressive generator over its latents (latent_ar.py), with the options and presets of both.

The model files hold the ideas; this file holds the loops. Stage 1 trains the SAE on crops with frame-label targets
(LabelledMotions) and writes ae.pt; stage 2 encodes each step's crops with the frozen SAE, one posterior sample each (as
the official mogen/core/molingo_trainer.py), trains the masked transformer and its flow head, and writes ckpt.pt (kind
"latent_ar": everything sample.py needs). Both stages run as train.py does, through runtime.py (options on named
presets, torchrun with NCCL or gloo, per-process random states in every checkpoint so `--resume` continues a stage
exactly, atomic writes by rank 0) and data.EpochSampler's data order; what is theirs alone: gradients averaged by one
all_reduce per step (no DDP wrapper), and a stage checkpoint that is finished is reused, an unfinished one continued
(--resume) or started over, one made with other settings refused.

    python train.py --method=latent_ar                         # both stages, CPU preset, embedded dataset
    python latent_ar_train.py --stage=ae --ae_steps=200        # only the autoencoder (motion_ae.py)
    python latent_ar_train.py --stage=gen --text_cond=single   # only the generator, on the existing ae.pt
    python latent_ar_train.py --stage=bench                    # sampling time vs the 10-step U-Net sampler
    python latent_ar_train.py --resume                         # continue the stage that stopped (exactly)
    torchrun --nproc_per_node=2 latent_ar_train.py             # both stages data-parallel (gloo on CPU, NCCL on GPU)
Test: python -m pytest tests/test_latent_ar.py tests/test_motion_ae.py -q
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
from torch.utils.data import DataLoader, Dataset

import runtime
from runtime import (finish_distributed, gather_rng_states, pick_device, save_atomic, set_rng_state,
                     setup_distributed)
from data import DATASETS, EpochSampler, load_split, load_stats
from latent_ar import NULL_PROMPT, MaskedLatentTransformer, training_loss
from motion import recover_from_ric
from motion_ae import MotionAE, ae_losses
from text_encoder import TextEncoder, shared_cache


# ----------------------------------------------------------------------------------------------------------------
# Run plumbing shared by both stages: options, torchrun, random states, stage checkpoints
# ----------------------------------------------------------------------------------------------------------------

def average_gradients(params: list, world: int) -> None:
    """DistributedDataParallel's gradient averaging, written out: one all_reduce of every gradient flattened, after
    backward (no overlap with it). Used instead of the DDP wrapper, whose hooks expect every parameter to be used
    inside the wrapped forward: here the flow head and the SAE's label projection run outside it."""
    if world == 1:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.flatten() for g in grads])                                   # (sum of numels,)
    dist.all_reduce(flat)
    flat /= world
    for p, g in zip(params, flat.split([g.numel() for g in grads])):
        p.grad = g.view_as(p)


def shard_batch(step: int, num_items: int, batch_size: int, rank: int = 0, world: int = 1,
                seed: int = 0) -> tuple[int, list[int]]:
    """(epoch, item indices) of this process's batch at optimiser step `step`, a pure function of the arguments, so a
    resumed run needs no sampler state: epoch e's order of data.EpochSampler (train.py's), cut into whole batches (the
    incomplete last one dropped). Raises SystemExit when a process would get no batch."""
    per_rank = math.ceil(num_items / world)
    per_epoch = per_rank // batch_size
    if per_epoch == 0:
        sys.exit(f"{num_items} training items over {world} process(es) give {per_rank} each, fewer than a batch of "
                 f"{batch_size}: lower the batch size")
    epoch, b = divmod(step, per_epoch)
    sampler = EpochSampler(num_items, rank, world, seed=seed)                       # train.py's data order
    sampler.set_epoch(epoch)
    mine = [i for _, i in sampler]                                                   # (per_rank,) item indices
    return epoch, mine[b * batch_size:(b + 1) * batch_size]


def resume_or_seed(ckpt: dict | None, modules: dict, seed: int, rank: int, world: int, device) -> int:
    """Seed python, numpy and torch with seed + rank, then, with a checkpoint, load modules[k] from ckpt[k] and this
    process's random states. Returns the step to start from (0 without a checkpoint)."""
    random.seed(seed + rank), np.random.seed(seed + rank), torch.manual_seed(seed + rank)
    if ckpt is None:
        return 0
    for key, module in modules.items():
        module.load_state_dict(ckpt[key])
    states = ckpt["rng"] if isinstance(ckpt["rng"], list) else []
    if len(states) == world:
        set_rng_state(states[rank], device)
    elif rank == 0:
        print(f"--resume: the checkpoint holds random states of {len(states)} process(es), this run has {world}: "
              f"fresh seeds (weights and data order exact, noise draws not)")
    return ckpt["step"]


def stage_checkpoint(path: Path, kind: str, cfg, keys: tuple, budget: int, master: bool, check=None):
    """What a stage does with its checkpoint at `path`: "finished" (step >= budget: reuse it), the checkpoint dict
    (continue it: --resume and step < budget) or None (train from scratch: no file, or unfinished without --resume).
    check(ckpt) -> '' or what makes the checkpoint stale. Raises SystemExit for an unreadable file, another kind, one
    trained with other settings `keys` of cfg, or a stale one."""
    stage = {"motion_ae": "stage ae", "latent_ar": "stage gen"}.get(kind, kind)
    if not path.exists():
        if cfg.resume and master:
            print(f"{stage}: --resume: no checkpoint at {path}, starting from scratch")
        return None
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - truncated zip, pickled objects, not a torch file: one answer
        sys.exit(f"{path} is not a readable checkpoint ({type(err).__name__}); move it away to start from scratch")
    if not isinstance(ckpt, dict) or ckpt.get("kind") != kind:
        sys.exit(f"{path} is not a {kind} checkpoint; move it away to start from scratch")
    changed = {k: ckpt["config"].get(k) for k in keys if ckpt["config"].get(k) != getattr(cfg, k)}
    stale = check(ckpt) if check is not None else ""
    if changed or stale:
        sys.exit(f"{path} was trained {stale or f'with other settings {changed}'}; pass another --out_dir or delete it")
    if ckpt["step"] >= budget:
        if master:
            print(f"{stage}: reusing {path} (finished, step {ckpt['step']})")
        return "finished"
    if not cfg.resume:
        if master:
            print(f"{stage}: {path} stopped at step {ckpt['step']} of {budget}; starting over (--resume continues it)")
        return None
    return ckpt


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """lr multiplier: linear 0 -> 1 over `warmup` steps, then half a cosine to 0 at `total` (diffusers' cosine)."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


# ----------------------------------------------------------------------------------------------------------------
# Options and presets
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


@dataclass
class LatentARConfig(AEConfig):
    stage: str = "all"                # all (ae, then gen) | ae | gen | bench
    bench_unet: str = "cpu"           # --stage=bench: the unet.PRESETS size of the U-Net it is timed against
    ae_ckpt: str = ""                 # '' -> <out_dir>/ae.pt; another run's ae.pt shares its autoencoder (no stage ae)
    # text encoder for the generator (frozen; token states cached once per caption)
    text_encoder: str = ""            # '' -> packaged all-MiniLM-L6-v2; paper preset: openai/clip-vit-base-patch32
    text_max_length: int = 77         # tokens
    cache_dir: str = "cache"          # text-feature caches live here
    # generator (MoLingo options/molingo_option.py; official "large": 1024, 16 layers, 16 heads, flow 1280 x 8)
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
    ema_warmup: bool = True           # decay min(ema_decay, (1+n)/(10+n)), 0 at the first update (diffusers EMAModel)
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


def parse_config(argv: list[str]) -> LatentARConfig:
    """LatentARConfig from `--key=value` options (runtime.py) on top of a preset: --preset=<name>, else the paper
    sizes for humanml3d and kit (DATASET_PRESETS), else cpu. --method=latent_ar is accepted, so that train.py hands
    its command line over as it is. SystemExit (one line) naming a bad key (with HINTS), value, preset or choice."""
    raw = runtime.read(argv, "latent_ar_train.py")
    if raw.get("method", "latent_ar") != "latent_ar":
        sys.exit(f"latent_ar_train.py: --method must be latent_ar (train.py runs the others), got {raw['method']!r}")
    name = raw.get("preset") or DATASET_PRESETS.get(raw.get("dataset"), "cpu")
    if name not in PRESETS:
        sys.exit(f"latent_ar_train.py: --preset must be one of {list(PRESETS)}, got {name!r}")
    cfg = runtime.parse(argv, LatentARConfig(), prog="latent_ar_train.py", preset=lambda _: PRESETS[name],
                        extra=("preset", "method"), hints=HINTS)
    runtime.check_choices(cfg, "latent_ar_train.py", dataset=DATASETS, stage=("all", "ae", "gen", "bench"),
                          text_cond=("cross", "single"), cfg_schedule=("constant", "linear"),
                          gen_latents=("posterior", "means"), decode_schedule=("molingo", "mar"),
                          precision=("fp32", "bf16"), bench_unet=("cpu", "paper"))
    return cfg


# ----------------------------------------------------------------------------------------------------------------
# Stage 1: the autoencoder's data (motions with per-frame label indices) and training loop
# ----------------------------------------------------------------------------------------------------------------

def frame_label_table(root, items: list[dict]) -> tuple[list[tuple[str, ...]], list[np.ndarray]]:
    """Label rows and per-frame row indices for load_split items (HumanML3D: see motion_ae.py's docstring).

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
    info, master = DATASETS[cfg.dataset], rank == 0
    root, out_dir = Path(cfg.data_root or info.default_root), Path(cfg.out_dir or f"out/{cfg.dataset}_latent_ar")
    path = out_dir / "ae.pt"
    ckpt = stage_checkpoint(path, "motion_ae", cfg, AE_KEYS, cfg.ae_steps, master)
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
    step = resume_or_seed(ckpt, {"model": model, "optimizer": opt}, cfg.seed, rank, world, device)
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
        states = gather_rng_states(device, world)                                    # a collective: every rank
        if master:
            save_atomic(path, {"kind": "motion_ae", "model": model.state_dict(), "optimizer": opt.state_dict(),
                               "config": asdict(cfg), "model_args": margs, "step": step, "data_root": str(root),
                               "mean": torch.from_numpy(mean), "std": torch.from_numpy(std), "rng": states,
                               "test_metrics": metrics or {}})

    t0, sums, n = time.time(), {}, 0
    while step < cfg.ae_steps:
        epoch, idx = shard_batch(step, len(train_set), cfg.ae_batch_size, rank, world, cfg.seed)
        batch = [train_set[(epoch, i)] for i in idx]
        x = torch.stack([b["motion"] for b in batch]).to(device)                    # (B, T, D)
        length = torch.tensor([b["length"] for b in batch], device=device)          # (B,)
        labels = torch.stack([b["labels"] for b in batch]).to(device)               # (B, T) row index or -1
        model.train()
        lr = cfg.ae_lr * warmup_cosine(step, cfg.ae_warmup, cfg.ae_steps)
        for group in opt.param_groups:
            group["lr"] = lr
        losses = ae_losses(model, x, length, mean_t, std_t, info.joints_num, table[labels.clamp(min=0)], labels >= 0,
                           weights, autocast)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        average_gradients(params, world)
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
        dist.barrier()                                                               # ae.pt is on disk for stage 2
    return path


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
        sys.exit(f"latent_ar_train.py: {ae_path} not found; train the autoencoder first (--stage=ae or --stage=all)")
    ae_ckpt = torch.load(ae_path, map_location="cpu", weights_only=True)
    if not isinstance(ae_ckpt, dict) or ae_ckpt.get("kind") != "motion_ae":
        sys.exit(f"latent_ar_train.py: {ae_path} is not an autoencoder checkpoint (ae.pt of --stage=ae)")

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
        sys.exit(f"latent_ar_train.py: {ae_path} was trained with other normalisation statistics than {root}")
    train_set = LabelledMotions(root, "train", info, mean, std, cfg.max_motion_length, crop=False, seed=cfg.seed)
    latents, valid = encode_split(ae, train_set, device)                              # (M, N, z), (M, N)
    latent_mean = latents[valid].mean(0)                                              # (z,)
    latent_std = latents[valid].std(0).clamp(min=1e-6)
    latents = (latents - latent_mean) / latent_std * valid[..., None]
    train_set.crop = True                     # from here on a key (epoch, i) draws the loader's crop of that epoch
    stats = latent_mean.to(device), latent_std.to(device)
    captions = [[c["caption"] for c in item["captions"]] for item in train_set.items]
    cache = shared_cache(TextEncoder(cfg.text_encoder or None, max_length=cfg.text_max_length), cfg.cache_dir,
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
        runtime.ema_update(ema, model, runtime.ema_decay(step, cfg.ema_decay, cfg.ema_warmup))   # warmed up
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
    from sample import Generator, LatentARGenerator
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
    """`python latent_ar_train.py [--key=value ...]` and `python train.py --method=latent_ar [...]`: the stages of
    --stage, on the preset of --preset (default: cpu; paper for humanml3d and kit), data-parallel under torchrun."""
    cfg = parse_config(argv)
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
