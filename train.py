"""Train text-to-motion generators: LUMA (the default), the StableMoFusion U-Net baseline, ATM, and MoLingo's latent AR.

    python train.py                                  # LUMA on the embedded dataset, CPU-sized (MoCLIP first if absent)
    python train.py --dataset=humanml3d              # paper settings (StableMoFusion / LUMA Sec. 4.1), for a GPU
    python train.py --method=baseline                # the anchor-free StableMoFusion U-Net
    python train.py --method=luma+atm                # LUMA + ATM's alignment losses (atm_losses.py); atm: ATM alone
    python train.py --method=latent_ar               # MoLingo: autoencoder, then AR generator (latent_ar_train.py)
    python train.py --dataset=kit --data_root=/data/KIT-ML
    python train.py --steps=20 --base_dim=32 --log_every=5   # any field of TrainConfig as --key=value
    python train.py --resume                         # continue <out_dir>/ckpt.pt after a crash or kill
    torchrun --nproc_per_node=2 train.py --steps=10  # DistributedDataParallel (gloo on CPU, nccl on GPU)

The training loop is written out in main(). Each step samples a batch (with --length_buckets one of clips of similar
length, cropped to its longest; data.EpochSampler), looks up its captions' text states (a frozen text encoder run
once per caption, float16, one memory-mapped cache shared by all processes) and does the diffusion step in the open:
t ~ U{0..T-1}, eps, x_t = q_sample(x0, t, eps), the U-Net's x0 prediction from (x_t, t, text) with the caption
dropped for 10% of the rows (classifier-free guidance), then each loss term by name: L_DDPM, the masked x0 MSE
(StableMoFusion trainers/ddpm_trainer.py); LUMA's L_fre and L_tem from training-only anchors on one U-Net feature,
weighted by zeta(n) (eq. 10); ATM's L_inter and L_intra on the x0 prediction, measured by the frozen MoCLIP, on the
captioned rows only (eq. 8). --method is resolved once into the switches of `Method` (which losses, which text
tower); --method=latent_ar hands the command line to latent_ar_train.py. AdamW (fused) with lr x0.9 every 5k steps,
gradient clipping, EMA with warm-up. One self-describing checkpoint `<out_dir>/ckpt.pt` (model, ema, optimizer,
config, step, rng, statistics, and for LUMA the fine-tuned MoCLIP text tower its U-Net reads) is written atomically:
it is the model, sampled anywhere alone. Resume is exact: the checkpoint holds every rank's python/numpy/torch/CUDA
random states, and the data order and the dataset's draws are functions of (seed, epoch, rank), so a resumed run
skips the consumed batches and ends with the weights of an uninterrupted one (tests/test_resume.py).
--precision=bf16 autocasts the U-Net only. LUMA's and ATM's modules are training-only: every diffusion checkpoint
samples with the baseline's network and cost.
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
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader

import diffusion as diffusion_lib
import runtime
from anchors import DualAnchors
from atm_losses import VARIANTS, ATMLoss, CaptionEmbeddings, caption_similarity, sentence_embedder
from data import (DATASETS, EpochSampler, Text2MotionDataset, batches_per_epoch, collate_fn, feature_range,
                  load_stats)
from diffusion import GaussianDiffusion, masked_mse
from moclip import PAPER as MOCLIP_PAPER
from moclip import MoCLIPConfig, file_hash, load_moclip, text_encoder_from_moclip, tower_state, train_moclip
from motion import foot_contact_loss
from synthetic.build import ensure_dataset
from text_encoder import TextEncoder, shared_cache
from unet import PRESETS as PRESETS_UNET
from unet import CondUnet1D


# ----------------------------------------------------------------------------------------------------------------
# Configuration: the defaults are the documentation; presets; the method's switches, resolved once
# ----------------------------------------------------------------------------------------------------------------

@dataclass
class TrainConfig:
    # data
    dataset: str = "synthetic"        # synthetic (embedded, built on first use) | humanml3d | kit
    data_root: str = ""               # '' -> the dataset's default root (./dataset/Synthetic, ./dataset/HumanML3D, ./dataset/KIT-ML)
    feat_bias: float = 5.0            # root/contact std divided by this (StableMoFusion)
    num_motions: int = 1500           # embedded dataset only: base motions generated (+ mirrored copies)
    data_seed: int = 0                # embedded dataset only: its build seed (not --seed: every run sees one dataset)
    # text encoder (frozen; features computed once per caption and cached)
    text_encoder: str = ""            # '' -> packaged all-MiniLM-L6-v2 (offline); paper: openai/clip-vit-base-patch32
    text_max_length: int = 77         # tokens
    cache_dir: str = "cache"          # text-feature caches live here
    # U-Net (StableMoFusion models/unet.py); the defaults are unet.PRESETS["cpu"], the dataset presets set the paper's
    base_dim: int = 32                # channels of the first level = base_dim * dim_mults[0]
    dim_mults: tuple = (1, 2, 2, 2)   # channel multipliers of the 4 levels
    time_dim: int = 128               # timestep embedding width
    text_latent_dim: int = 128        # width of the text adapter fed to cross-attention
    text_layers: int = 2              # transformer layers of the text adapter
    num_heads: int = 8                # cross-attention heads
    attention: str = "linear"         # linear (StableMoFusion's efficient attention) | softmax
    dropout: float = 0.1              # res blocks, cross-attention, text adapter
    # diffusion (StableMoFusion trainers/ddpm_trainer.py)
    num_timesteps: int = 1000         # T, linear betas 1e-4..0.02
    cond_mask_prob: float = 0.1       # condition dropout for classifier-free guidance
    # optimisation
    steps: int = 1200                 # optimiser steps
    batch_size: int = 32              # per process
    length_buckets: int = 0           # > 0: batches of similar length (sorted in pools of this many batches), each
                                      # cropped to its longest clip: a 1.2x faster CPU step that trained worse models
                                      # (issue 22's note); 0: every batch padded to 196 frames (StableMoFusion)
    lr: float = 4e-4                  # AdamW learning rate
    weight_decay: float = 0.01        # AdamW weight decay
    lr_decay: float = 0.9             # lr multiplied by this ...
    lr_decay_every: int = 200         # ... every this many steps
    grad_clip: float = 1.0            # global gradient-norm clip
    ema_decay: float = 0.995          # EMA decay per EMA update
    ema_every: int = 1                # steps between EMA updates
    ema_warmup: bool = True           # decay min(ema_decay, (1+n)/(10+n)), 0 at the first update (diffusers EMAModel)
    # sampling defaults stored in the checkpoint (sample.py / evaluate.py use them unless overridden)
    sampler: str = "sde-dpm++2m-karras"  # sde-dpm++2m-karras (StableMoFusion) | dpm++2m | ddpm
    sample_steps: int = 10            # solver steps
    guidance: float = 1.5             # CFG scale: 1.5 on the embedded dataset (lab/sweep_guidance.py), 2.5 paper preset
    guidance_rescale: float = 0.0     # CFG rescale phi on the guided x0 (Lin et al. 2024 sec. 3.4; 0.7 there), 0 = off
    clip_denoised: bool = True        # sampling clamps x0 predictions to the train split's per-dim range (data.py)
    # method: LUMA (arXiv 2509.25304) = the baseline + MoCLIP text + dual anchors (anchors.py); flags for Tables 2-4
    method: str = "luma"              # luma | baseline (StableMoFusion) | atm | luma+atm | latent_ar (MoLingo)
    moclip: str = ""                  # luma, atm: MoCLIP checkpoint; '' -> checkpoints/moclip/<dataset>_seed<seed>.pt (trained if absent)
    moclip_text: bool = True          # luma: cross-attention reads MoCLIP's fine-tuned tower (False: Table 2 "w/o MoCLIP")
    anchor_fre: bool = True           # luma: frequency anchor, eq. 8 (False: Table 2 "w/o L_fre")
    anchor_tem: bool = True           # luma: temporal anchor, eq. 9 (False: Table 2 "w/o L_tem")
    anchor_film: bool = True          # luma: FiLM from e(t), eq. 4-7 (False: Table 2 "w/o FiLM")
    anchor_level: str = "down3"       # down0..down3 | mid: paper's Down-block1..3 = down1..down3, Bottleneck = mid
    dct_k: int = 64                   # k low-frequency DCT-II coefficients (Table 3)
    anchor_weighting: str = "cosine"  # cosine zeta(n) (eq. 11) | static | learnable (Table 4)
    lambda_fre: float = 0.1           # lambda_fre (eq. 10); the x0 L_DDPM shifts its balance (anchors.py, choice 6)
    lambda_tem: float = 0.5           # lambda_tem (eq. 10); the same
    anchor_decay_steps: int = 0       # N of eq. 11 (zeta reaches 0 at step N); 0 -> steps
    # geometric loss (any U-Net method): MDM's foot contact, motion.foot_contact_loss (MDM's lambda_fc: 0, off, too)
    lambda_foot: float = 0.0          # L_foot weight: predicted feet may not move where the data plants them
    # ATM (atm_losses.py; MoCLIP is the frozen alignment space): --method=atm | luma+atm
    atm_inter: bool = True            # atm: L_inter, eq. 2-3 (False: Table 3's "+L_intra" row)
    atm_intra: bool = True            # atm: L_intra, eq. 4-7 (False: Table 3's "+L_inter" row)
    atm_margin: str = "adaptive"      # atm: adaptive (eq. 3, 7) | a fixed phi, e.g. 5 (Table 4)
    atm_variant: str = "atm"          # atm: atm | contrastive | triplet | hard_triplet | drop_triplet (Table 5)
    lambda_atm: float = 0.01          # lambda of eq. 8
    # run
    out_dir: str = ""                 # '' -> out/<dataset>
    device: str = "auto"              # auto -> cuda, then mps, then cpu
    seed: int = 0                     # seeds python, numpy and torch
    num_workers: int = 0              # DataLoader workers
    log_every: int = 100              # steps between log lines
    save_every: int = 200             # steps between checkpoints
    resume: bool = False              # continue from <out_dir>/ckpt.pt if it exists (exactly: same weights as no stop)
    precision: str = "fp32"           # fp32 | bf16 (autocast of the U-Net; weights, loss, optimiser stay fp32)
    debug: bool = False               # also run the value checks that stall the GPU each step (diffusion.SYNC_CHECKS)


# Paper configuration: StableMoFusion defaults (options/train_options.py), also LUMA's baseline (Sec. 4.1: AdamW
# 2e-4, batch 64, 50k steps, condition mask 0.1). EMA every 32 steps with decay 0.993173 is StableMoFusion's
# AveragedModel setting; the warm-up (ema_warmup, diffusers' rule) reaches 0.993173 at update 1,310 (step 41,920),
# --ema_warmup=false keeps the decay constant from the first update.
# precision bf16 (StableMoFusion trains in fp32): on a 4090 bf16 tensor cores run at twice the TF32/fp32 rate
# (165 vs 83 TFLOPS dense) and halve activation memory on a 24 GB card; bf16 keeps fp32's exponent range, so no loss
# scaling, and weights, AdamW, the loss, EMA, the guidance combination and the solver stay fp32 (--precision=fp32: paper).
PAPER = dict({k: v for k, v in PRESETS_UNET["paper"].items() if k in TrainConfig.__dataclass_fields__},
             text_encoder="openai/clip-vit-base-patch32", steps=50_000, batch_size=64, lr=2e-4, lr_decay_every=5_000,
             ema_decay=0.993173, ema_every=32, log_every=100, save_every=2_500, num_workers=4, precision="bf16",
             guidance=2.5)
PRESETS = {"synthetic": {}, "humanml3d": dict(PAPER, dataset="humanml3d"), "kit": dict(PAPER, dataset="kit")}
METHODS = ("luma", "baseline", "atm", "luma+atm", "latent_ar")
PRECISIONS = ("fp32", "bf16")
ANCHOR_LEVELS = ("down0", "down1", "down2", "down3", "mid")       # CondUnet1D return_features order


def parse_config(argv: list[str]) -> TrainConfig:
    """TrainConfig from `--key=value` options (runtime.py) on top of the preset that --dataset names. SystemExit with
    one line naming an unknown key, a value that does not parse, or a switch outside its choices."""
    def preset(raw: dict) -> dict:
        dataset = raw.get("dataset") or "synthetic"
        if dataset not in PRESETS:
            sys.exit(f"train.py: --dataset must be one of {list(PRESETS)}, got {dataset!r}")
        return PRESETS[dataset]
    cfg = runtime.parse(argv, TrainConfig(), prog="train.py", preset=preset)
    runtime.check_choices(cfg, "train.py", method=METHODS, anchor_level=ANCHOR_LEVELS, precision=PRECISIONS,
                          anchor_weighting=("cosine", "static", "learnable"), atm_variant=VARIANTS)
    if cfg.atm_margin != "adaptive":
        try:
            float(cfg.atm_margin)
        except ValueError:
            sys.exit(f"train.py: --atm_margin must be adaptive or a number, got {cfg.atm_margin!r}")
    return cfg


@dataclass(frozen=True)
class Method:
    """What --method turns on, resolved once (resolve_method): the rest of the file reads these, not the name."""
    moclip: bool       # a trained MoCLIP is loaded, frozen (LUMA: text tower and f_tem; ATM: the alignment space)
    moclip_text: bool  # the U-Net's cross-attention reads MoCLIP's fine-tuned tower (LUMA; off: Table 2 "w/o MoCLIP")
    anchors: bool      # LUMA's dual anchors, eq. 4-11 (off when both are: Table 2 "w/o DAL", MoCLIP text only)
    atm: bool          # ATM's L_inter + L_intra, eq. 2-8


def resolve_method(cfg: TrainConfig) -> Method:
    luma, atm = cfg.method in ("luma", "luma+atm"), cfg.method in ("atm", "luma+atm")
    return Method(moclip=luma or atm, moclip_text=luma and cfg.moclip_text,
                  anchors=luma and (cfg.anchor_fre or cfg.anchor_tem), atm=atm)


# ----------------------------------------------------------------------------------------------------------------
# The run: seeds, the dataset and MoCLIP on first use, self-describing checkpoints, exact resume (runtime.py
# holds the devices, processes, random states and atomic writes every script shares)
# ----------------------------------------------------------------------------------------------------------------

def prepare_run(cfg: TrainConfig, method: Method, rank: int, ddp: bool) -> tuple:
    """Seed this process (seed + rank), write <out_dir>/config.json, build the embedded dataset on first use and, for
    LUMA and ATM, make sure a trained MoCLIP exists (prepare_moclip; rank 0 trains one when absent). Returns
    (dataset info, data root, out_dir)."""
    random.seed(cfg.seed + rank)
    np.random.seed(cfg.seed + rank)
    torch.manual_seed(cfg.seed + rank)
    info = DATASETS[cfg.dataset]
    root = Path(cfg.data_root or info.default_root)
    out_dir = Path(cfg.out_dir or f"out/{cfg.dataset}")
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
        print(f"train.py: --method={cfg.method}, {cfg.steps} steps; the run writes {out_dir}/config.json (every "
              f"option) and {out_dir}/ckpt.pt (every {cfg.save_every} steps and at the end)")
        if cfg.dataset == "synthetic":
            ensure_dataset(root, num_motions=cfg.num_motions, seed=cfg.data_seed)  # the embedded one: built once
    if ddp:
        dist.barrier()
    if method.moclip:  # LUMA's text tower and f_tem, ATM's alignment space
        prepare_moclip(cfg, root, rank == 0)
        if rank == 0:
            (out_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))  # with the MoCLIP path
    return info, root, out_dir


def load_checkpoint(path: Path) -> dict:
    """torch.load(weights_only=True) of a train.py checkpoint; SystemExit with one line for any other file."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - truncated zip, pickle of objects, not a torch file: all one answer
        first = (str(err).strip().splitlines() or [""])[0][:160]
        sys.exit(f"train.py: --resume: {path} is not a readable train.py checkpoint ({type(err).__name__}: {first}); "
                 f"move it away to start from scratch")
    missing = [k for k in ("model", "ema", "optimizer", "model_args", "step", "rng") if not isinstance(ckpt, dict)
               or k not in ckpt]
    if missing:
        sys.exit(f"train.py: --resume: {path} is not a train.py checkpoint: missing {missing}")
    return ckpt


def resume(path: Path, cfg: TrainConfig, margs: dict, modules: dict, rank: int, world: int, device: torch.device,
           master: bool) -> int:
    """--resume: load modules[k] (model, ema, anchors, optimizer) from <out_dir>/ckpt.pt and this rank's random
    states; returns the step to continue from (0 without --resume or without a checkpoint)."""
    if not (cfg.resume and path.exists()):
        if cfg.resume and master:
            print(f"--resume: no checkpoint at {path}, starting from scratch")
        return 0
    ckpt = load_checkpoint(path)
    if ckpt["model_args"] != margs:
        sys.exit(f"train.py: {path} was trained with {ckpt['model_args']}, config gives {margs}")
    for key, module in modules.items():
        if module is not None:
            module.load_state_dict(ckpt[key])
    states = ckpt["rng"] if isinstance(ckpt["rng"], list) else [ckpt["rng"]]  # one entry per rank
    if len(states) == world:
        runtime.set_rng_state(states[rank], device)
    elif master:
        print(f"--resume: {path} holds random states of {len(states)} process(es), this run has {world}: "
              f"continuing with fresh seeds (weights and data order exact, noise draws not)")
    if master:
        print(f"resumed from {path} at step {ckpt['step']}")
    return ckpt["step"]


# ----------------------------------------------------------------------------------------------------------------
# Data: the loader and the cached text states
# ----------------------------------------------------------------------------------------------------------------

def build_loader(cfg: TrainConfig, train_set, rank: int, world: int, device: torch.device):
    """(loader, sampler, batches per epoch). The data order is a function of (seed, epoch, rank) (data.EpochSampler)
    and the loader has its own generator, so creating an epoch's iterator draws nothing from the global RNG (exact
    resume)."""
    per_epoch, drop_last = batches_per_epoch(len(train_set), cfg.batch_size, world)
    sampler = EpochSampler(len(train_set), rank, world, seed=cfg.seed, lengths=train_set.lengths(),
                           batch_size=cfg.batch_size, pool=cfg.length_buckets)
    loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers,
                        collate_fn=collate_fn, drop_last=drop_last, pin_memory=device.type == "cuda",
                        persistent_workers=cfg.num_workers > 0, generator=torch.Generator().manual_seed(cfg.seed))
    return loader, sampler, per_epoch


def build_text_cache(cfg: TrainConfig, method: Method, captions: list[str], device: torch.device, master: bool):
    """The frozen text features of every training caption (text_encoder.shared_cache): MoCLIP's fine-tuned tower
    for LUMA (cached under its checkpoint's hash), else cfg.text_encoder."""
    if method.moclip_text:
        encoder = text_encoder_from_moclip(cfg.moclip, max_length=cfg.text_max_length)
    else:
        encoder = TextEncoder(cfg.text_encoder or None, max_length=cfg.text_max_length)
    return shared_cache(encoder, cfg.cache_dir, captions, device, master)


def text_states(cache, captions: list[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch's cached text states on `device`: (B, L, C) float32 (the cached fp16 values, exactly) and the mask
    (B, L) bool; pinned copies, so the transfers are asynchronous, on a GPU."""
    text, text_mask = cache.get(captions, dtype=torch.float16)          # (B, L, C), (B, L) on the CPU
    if device.type == "cuda":
        text, text_mask = text.pin_memory(), text_mask.pin_memory()
    return text.to(device, non_blocking=True).float(), text_mask.to(device, non_blocking=True)


# ----------------------------------------------------------------------------------------------------------------
# The networks: the U-Net's arguments and the training-only modules of LUMA (MoCLIP, anchors) and ATM
# ----------------------------------------------------------------------------------------------------------------

def model_args(cfg: TrainConfig, input_dim: int, text_dim: int) -> dict:
    """Constructor arguments of CondUnet1D, stored in the checkpoint so sample.py rebuilds the model without flags."""
    return dict(input_dim=input_dim, text_dim=text_dim, base_dim=cfg.base_dim, dim_mults=tuple(cfg.dim_mults),
                time_dim=cfg.time_dim, text_latent_dim=cfg.text_latent_dim, text_layers=cfg.text_layers,
                num_heads=cfg.num_heads, attention=cfg.attention, dropout=cfg.dropout,
                cond_mask_prob=cfg.cond_mask_prob)


def prepare_moclip(cfg: TrainConfig, root: Path, master: bool) -> None:
    """LUMA needs a trained MoCLIP (LUMA appendix B): --moclip, else checkpoints/moclip/<dataset>_seed<seed>.pt,
    trained first by rank 0 when absent (the others wait for the atomically written file, outside any collective).
    Sets cfg.moclip to the path used."""
    path = Path(cfg.moclip or f"checkpoints/moclip/{cfg.dataset}_seed{cfg.seed}.pt")
    if cfg.moclip and not path.is_file():
        sys.exit(f"train.py: --moclip={cfg.moclip} does not exist; leave it empty to train one first")
    if master and path.is_file():
        print(f"LUMA: using MoCLIP {path}")
    elif master:
        print(f"LUMA: no MoCLIP checkpoint at {path}: training one first (python moclip.py, LUMA appendix B)")
        train_moclip(MoCLIPConfig(**(MOCLIP_PAPER if cfg.dataset != "synthetic" else {}), dataset=cfg.dataset,
                                  data_root=str(root), num_motions=cfg.num_motions, data_seed=cfg.data_seed,
                                  feat_bias=cfg.feat_bias, text_encoder=cfg.text_encoder,
                                  text_max_length=cfg.text_max_length, out=str(path), device=cfg.device,
                                  seed=cfg.seed))
    while not path.is_file():
        time.sleep(1.0)
    cfg.moclip = str(path)


def frozen_moclip(cfg: TrainConfig, device: torch.device):
    """The trained MoCLIP, frozen (LUMA's f_tem, ATM's alignment space), and the record the checkpoint keeps of it."""
    return load_moclip(cfg.moclip, device), {"path": cfg.moclip, "sha": file_hash(cfg.moclip)}


def build_anchors(cfg: TrainConfig, margs: dict, info, embed_dim: int) -> DualAnchors | None:
    """LUMA's dual anchors on the U-Net feature cfg.anchor_level (anchors.py); None when both anchors are off
    (Table 2 "w/o DAL": MoCLIP text only). Level i has channels base_dim * dim_mults[i] and T_pad / 2**i frames."""
    if not (cfg.anchor_fre or cfg.anchor_tem):
        return None
    level = ANCHOR_LEVELS.index(cfg.anchor_level)
    multiple = 2 ** len(margs["dim_mults"])
    t_pad = math.ceil(info.max_motion_length / multiple) * multiple                 # 196 -> 208
    channels = margs["base_dim"] * margs["dim_mults"][min(level, len(margs["dim_mults"]) - 1)]
    return DualAnchors(channels, t_pad // 2 ** level, 2 ** level, info.feat_dim, cfg.dct_k, embed_dim, cfg.time_dim,
                       use_fre=cfg.anchor_fre, use_tem=cfg.anchor_tem, film=cfg.anchor_film,
                       weighting=cfg.anchor_weighting, lambda_fre=cfg.lambda_fre, lambda_tem=cfg.lambda_tem,
                       decay_steps=cfg.anchor_decay_steps or cfg.steps, window=info.max_motion_length)


def build_atm(cfg: TrainConfig, info, device: torch.device, moclip_model, captions: list[str]):
    """ATM's loss module and its two per-caption tables (atm_losses.py), every training caption encoded once: MoCLIP
    text embeddings (the frozen alignment space) and Sentence-BERT vectors of the packaged MiniLM for the
    caption-similarity exclusion (eq. 2). Returns (atm, sbert, moclip_text)."""
    margin = cfg.atm_margin if cfg.atm_margin == "adaptive" else float(cfg.atm_margin)
    atm = ATMLoss(clip_len=round(2 * info.fps), use_inter=cfg.atm_inter, use_intra=cfg.atm_intra,
                  variant=cfg.atm_variant, margin=margin, margin_intra=margin, lambda_atm=cfg.lambda_atm)
    sbert = CaptionEmbeddings(sentence_embedder(TextEncoder().to(device).eval()))
    moclip_text = CaptionEmbeddings(moclip_model.encode_text)
    for table in (sbert, moclip_text):
        table.fill(captions)
    return atm, sbert, moclip_text


# ----------------------------------------------------------------------------------------------------------------
# The log line
# ----------------------------------------------------------------------------------------------------------------
def log_line(step: int, cfg: TrainConfig, avg: dict, anchors, atm_stats, lr: float, dt: float, world: int) -> str:
    """One log line: the loss terms averaged since the last line (avg: name -> float; L_DDPM is the masked x0 MSE,
    L_fre / L_tem LUMA's anchor terms before their weight zeta(n), L_foot MDM's foot contact before its weight), lr,
    ms/step, samples/s."""
    extra = "" if anchors is None else \
        f" | L_fre {avg['L_fre']:.4f} | L_tem {avg['L_tem']:.4f} | zeta {anchors.weight(step):.3f}"
    extra += f" | L_foot {avg['L_foot']:.5f}" if "L_foot" in avg else ""
    if "L_inter" in avg:
        gate, excluded, none = atm_stats
        extra += (f" | L_inter {avg['L_inter']:.4f} | L_intra {avg['L_intra']:.4f} | gate {gate:.2f} excluded "
                  f"{excluded:.2f} no-j {none:.1f}")
    return (f"step {step:>6}/{cfg.steps} | L_DDPM {avg['L_DDPM']:.4f}{extra} | lr {lr:.2e} | {dt * 1000:.1f} ms/step | "
            f"{cfg.batch_size * world / dt:.1f} samples/s")


def run_summary(cfg: TrainConfig, cache, model: torch.nn.Module, device: torch.device, world: int) -> str:
    return (f"text encoder {cache.name} (C={cache.dim}, {len(cache)} captions cached); U-Net "
            f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters; device {device}, {cfg.precision}, "
            f"{world} process(es), batch {cfg.batch_size} each")


# ----------------------------------------------------------------------------------------------------------------
# The training loop
# ----------------------------------------------------------------------------------------------------------------

def main(argv: list[str]) -> None:
    if runtime.read(argv, "train.py").get("method") == "latent_ar":  # MoLingo: two stages, their own loop and options
        from latent_ar_train import main as latent_ar_main
        return latent_ar_main(argv)
    cfg = parse_config(argv)
    method = resolve_method(cfg)
    diffusion_lib.SYNC_CHECKS = cfg.debug
    # ----------------------------------------------------------------------------------------------- setup
    device, rank, world = runtime.setup_distributed(cfg.device)
    ddp, master = world > 1, rank == 0
    info, root, out_dir = prepare_run(cfg, method, rank, ddp)
    # ------------------------------------------------------------------------------------------------ data
    mean, std = load_stats(root, info, feat_bias=cfg.feat_bias)
    train_set = Text2MotionDataset(root, "train", info, mean, std, seed=cfg.seed)
    x0_range = feature_range(train_set.items, mean, std)                  # (2, D) for sampling (clip_denoised)
    loader, sampler, per_epoch = build_loader(cfg, train_set, rank, world, device)
    cache = build_text_cache(cfg, method, train_set.captions(), device, master)
    text_tower = tower_state(cfg.moclip) if method.moclip_text else None  # the checkpoint carries the tower
    # ----------------------------------------------------------------------------------------------- model
    margs = model_args(cfg, info.feat_dim, cache.dim)
    model = CondUnet1D(**margs | {"cond_mask_prob": 0.0}).to(device)  # CFG's drop is drawn in the step, for ATM
    ema = CondUnet1D(**margs).to(device).eval().requires_grad_(False)
    ema.load_state_dict(model.state_dict())
    diffusion = GaussianDiffusion(num_timesteps=cfg.num_timesteps).to(device)
    moclip_model, moclip_record = frozen_moclip(cfg, device) if method.moclip else (None, None)  # training-only:
    d_a = moclip_model.text_proj.out_features if method.moclip else 0                 # D_a, MoCLIP's embedding
    anchors = build_anchors(cfg, margs, info, d_a).to(device) if method.anchors else None
    atm, sbert, moclip_text = build_atm(cfg, info, device, moclip_model, train_set.captions()) \
        if method.atm else (None, None, None)                             # the checkpoint's U-Net is the baseline's
    params = list(model.parameters()) + (list(anchors.parameters()) if anchors is not None else [])
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay,  # fused: one kernel over all
                                  fused=device.type in ("cpu", "cuda"))          # parameters, not ~10 ops per tensor
    ckpt_path = out_dir / "ckpt.pt"
    step = resume(ckpt_path, cfg, margs, {"model": model, "ema": ema, "anchors": anchors, "optimizer": optimizer},
                  rank, world, device, master)
    net = DDP(model) if ddp else model
    anchor_net = DDP(anchors) if ddp and anchors is not None else anchors
    if master:
        print(f"dataset {cfg.dataset} at {root}: {len(train_set)} training items, D={info.feat_dim}; " + run_summary(
            cfg, cache, model, device, world))

    def checkpoint() -> None:
        """Every rank calls this (it gathers each rank's random states); rank 0 writes."""
        states = runtime.gather_rng_states(device, world)
        if master:
            runtime.save_atomic(ckpt_path, {
                "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                "config": asdict(cfg), "model_args": margs, "step": step, "mean": torch.from_numpy(mean),
                "std": torch.from_numpy(std), "text_encoder": cfg.text_encoder, "data_root": str(root),
                "x0_range": torch.from_numpy(x0_range), "rng": states,
                "anchors": anchors.state_dict() if anchors is not None else None,
                "moclip": moclip_record, "text_tower": text_tower})

    # -------------------------------------------------------------------------------------- training loop
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
    mean_t, std_t = (torch.from_numpy(a).float().to(device) for a in (mean, std))  # (D,) for L_foot's joints
    level = ANCHOR_LEVELS.index(cfg.anchor_level)                        # the U-Net feature the anchors read
    epoch, done = divmod(step, per_epoch)  # resume: the epoch, and the batches of it already consumed
    t_log, n_sum, sums, atm_stats = time.time(), 0, {}, np.zeros(3)     # atm_stats: gate, excluded, no valid j
    while step < cfg.steps:
        sampler.set_epoch(epoch, skip=done * cfg.batch_size)
        for batch in loader:
            # The host waits for the device only at log steps, and in ATM's mining (its rates are read with .item()).
            crop = int(batch["length"].max()) if cfg.length_buckets else None   # length buckets: no padding column
            x0, mask = batch["motion"][:, :crop], batch["mask"][:, :crop]        # the longest clip's frames only
            x0, mask, lengths = (v.to(device, non_blocking=True) for v in (x0, mask, batch["length"]))
            text, text_mask = text_states(cache, batch["caption"], device)       # (B, L, C), (B, L); x0 (B, T, D)
            lr = cfg.lr * cfg.lr_decay ** (step // cfg.lr_decay_every)          # StepLR, stateless so resume is exact
            for group in optimizer.param_groups:
                group["lr"] = lr
            # ---- the diffusion step (StableMoFusion): noise x0 to x_t, predict x0 from x_t, t and the caption
            t = torch.randint(0, cfg.num_timesteps, (len(x0),), device=device)  # (B,) t ~ U{0..T-1}
            noise = torch.randn(x0.shape, device=device, dtype=x0.dtype)         # (B, T, D) eps, padding included
            x_t = diffusion.q_sample(x0, t, noise)                              # DDPM eq. 4
            uncond = torch.rand(len(x0)) < cfg.cond_mask_prob                    # (B,) CFG: trained without text
            with autocast:  # only the network; q_sample, the losses and the optimiser run in fp32
                out = net(x_t, t, text, text_mask, force_uncond=uncond, return_features=anchors is not None)
            x0_pred, features = out if anchors is not None else (out, None)    # (B, T, D), 5 U-Net features
            losses = {"L_DDPM": masked_mse(x0_pred.float(), x0.float(), mask).mean()}   # x0 MSE, valid frames
            total, target = losses["L_DDPM"], None                               # target: f_tem(x0), shared
            if cfg.lambda_foot > 0:  # MDM's L_foot: the x0 prediction's feet, still where the data's contacts say
                losses["L_foot"] = foot_contact_loss(x0_pred.float(), x0, mask, mean_t, std_t, info.kind).mean()
                total = total + cfg.lambda_foot * losses["L_foot"]
            if anchors is not None:  # LUMA eq. 10: + zeta(n) (lambda_fre L_fre + lambda_tem L_tem)
                if cfg.anchor_tem:
                    with torch.no_grad():
                        target = moclip_model.encode_motion(x0, lengths)         # f_tem(x0) (B, D_a), frozen
                terms = anchor_net(features[level].float(), t, x0, lengths, target)  # (B, C, T') feature in
                losses["L_fre"], losses["L_tem"] = terms["fre"], terms["tem"]
                total = total + anchors.total(terms, step)
            if atm is not None:  # ATM eq. 8: + lambda (L_inter + L_intra) on the x0 prediction, through frozen MoCLIP
                terms = atm(moclip_model, x0_pred.float(), x0, lengths, moclip_text.get(batch["caption"], device),
                            caption_similarity(sbert.get(batch["caption"])), real_emb=target,
                            keep=~uncond)                  # luma+atm: f_tem(x0) is m_i; the captioned rows only
                losses["L_inter"], losses["L_intra"] = terms["inter"], terms["intra"]
                total = total + terms["loss"]
                atm_stats += [terms["gate_rate"], terms["excluded_rate"], terms["no_valid"]]
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip, foreach=True)  # one norm kernel per list
            optimizer.step()
            step += 1
            if step % cfg.ema_every == 0:  # the EMA's (step / ema_every)-th update, warmed up (runtime.ema_decay)
                runtime.ema_update(ema, model, runtime.ema_decay(step // cfg.ema_every, cfg.ema_decay, cfg.ema_warmup))
            sums, n_sum = {k: sums.get(k, 0) + v.detach() for k, v in losses.items()}, n_sum + 1
            if step % cfg.log_every == 0 or step == cfg.steps:
                if master:
                    avg = {k: (v / n_sum).item() for k, v in sums.items()}        # the one synchronisation
                    print(log_line(step, cfg, avg, anchors, atm_stats / n_sum, lr, (time.time() - t_log) / n_sum,
                                   world), flush=True)
                t_log, n_sum, sums, atm_stats = time.time(), 0, {}, np.zeros(3)
            if step % cfg.save_every == 0 or step == cfg.steps:
                checkpoint()
            if step >= cfg.steps:
                break
        epoch, done = epoch + 1, 0
    if master:
        print(f"done: {ckpt_path}; next: python sample.py --ckpt {ckpt_path} --text \"a person waves\"")
    runtime.finish_distributed(world)  # a barrier, then the group destroyed; no sleep needed (see runtime.py)


if __name__ == "__main__":
    main(sys.argv[1:])
