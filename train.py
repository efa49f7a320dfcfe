"""Train text-to-motion generators: LUMA (the default), the StableMoFusion U-Net baseline, ATM, and MoLingo's latent AR.

    python train.py                                  # LUMA on the embedded dataset, CPU-sized (MoCLIP first if absent)
    python train.py --dataset=humanml3d              # paper settings (StableMoFusion / LUMA Sec. 4.1), for a GPU
    python train.py --method=baseline                # the anchor-free StableMoFusion U-Net
    python train.py --method=luma+atm                # LUMA + ATM's alignment losses (atm_losses.py); atm: ATM alone
    python train.py --method=latent_ar               # MoLingo: autoencoder, then masked AR generator (latent_ar.py)
    python train.py --dataset=kit --data_root=/data/KIT-ML
    python train.py --steps=20 --base_dim=32 --log_every=5   # any field of TrainConfig as --key=value
    python train.py --resume                         # continue <out_dir>/ckpt.pt after a crash or kill
    torchrun --nproc_per_node=2 train.py --steps=10  # DistributedDataParallel (gloo on CPU, nccl on GPU)

The loop is written out below: sample a batch, look up its captions' text states (frozen text encoder run once per
caption on the training device, float16, one memory-mapped cache shared by all processes), draw t ~ U{0..T-1}, noise
x0 to x_t, predict x0 with the U-Net (condition dropped 10% of the time for classifier-free guidance), masked MSE
against x0 (SPEC 3.4), AdamW with lr x0.9 every 5k steps, gradient clipping, EMA. One self-describing checkpoint
`<out_dir>/ckpt.pt` (model, ema, optimizer, config, step, rng, statistics) is written atomically. Resume is exact:
the checkpoint holds every rank's python/numpy/torch/CUDA random states, and the data order and the dataset's draws
are functions of (seed, epoch, rank), so a resumed run skips the consumed batches and ends with the weights of an
uninterrupted one (tests/test_resume.py). --precision=bf16 autocasts the U-Net only. LUMA (eq. 10) reads MoCLIP's
tuned text tower and adds zeta(n) (lambda_fre L_fre + lambda_tem L_tem) from training-only anchors on one U-Net
feature; ATM (eq. 8) adds lambda (L_inter + L_intra) on the x0 prediction, measured by the frozen MoCLIP. Both are
training-only: every diffusion checkpoint samples with the baseline's network and cost.
"""
import dataclasses
import io
import json
import math
import os
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
from data import (DATASETS, EpochSampler, Text2MotionDataset, batches_per_epoch, collate_fn, feature_range,
                  load_stats)
from anchors import DualAnchors
from atm_losses import VARIANTS, ATMLoss, CaptionEmbeddings, caption_similarity, sentence_embedder
from diffusion import GaussianDiffusion
from text_encoder import TextEncoder, shared_cache
from unet import PRESETS as PRESETS_UNET
from unet import CondUnet1D


@dataclass
class TrainConfig:
    # data
    dataset: str = "synthetic"        # synthetic (embedded, built on first use) | humanml3d | kit
    data_root: str = ""               # '' -> the dataset's default root (./dataset/Synthetic, ./dataset/HumanML3D, ./dataset/KIT-ML)
    feat_bias: float = 5.0            # root/contact std divided by this (StableMoFusion, SPEC 1.6)
    num_motions: int = 1500           # embedded dataset only: base motions generated (+ mirrored copies)
    data_seed: int = 0                # embedded dataset only: its build seed (not --seed: every run sees one dataset)
    # text encoder (frozen; features computed once per caption and cached)
    text_encoder: str = ""            # '' -> packaged all-MiniLM-L6-v2 (offline); paper: openai/clip-vit-base-patch32
    text_max_length: int = 77         # tokens
    cache_dir: str = "cache"          # text-feature caches live here
    # U-Net (SPEC 3.3); the defaults are unet.PRESETS["cpu"], the dataset presets below set the paper size
    base_dim: int = 32                # channels of the first level = base_dim * dim_mults[0]
    dim_mults: tuple = (1, 2, 2, 2)   # channel multipliers of the 4 levels
    time_dim: int = 128               # timestep embedding width
    text_latent_dim: int = 128        # width of the text adapter fed to cross-attention
    text_layers: int = 2              # transformer layers of the text adapter
    num_heads: int = 8                # cross-attention heads
    attention: str = "linear"         # linear (StableMoFusion's efficient attention) | softmax
    dropout: float = 0.1              # res blocks, cross-attention, text adapter
    # diffusion (SPEC 3.4)
    num_timesteps: int = 1000         # T, linear betas 1e-4..0.02
    cond_mask_prob: float = 0.1       # condition dropout for classifier-free guidance
    # optimisation
    steps: int = 1200                 # optimiser steps
    batch_size: int = 32              # per process
    lr: float = 4e-4                  # AdamW learning rate
    weight_decay: float = 0.01        # AdamW weight decay
    lr_decay: float = 0.9             # lr multiplied by this ...
    lr_decay_every: int = 200         # ... every this many steps
    grad_clip: float = 1.0            # global gradient-norm clip
    ema_decay: float = 0.995          # EMA decay per EMA update
    ema_every: int = 1                # steps between EMA updates
    # sampling defaults stored in the checkpoint (sample.py / evaluate.py use them unless overridden)
    sampler: str = "sde-dpm++2m-karras"  # sde-dpm++2m-karras (StableMoFusion) | dpm++2m | ddpm
    sample_steps: int = 10            # solver steps
    guidance: float = 1.5             # CFG scale: 1.5 on the embedded dataset (sweep_guidance.py), 2.5 paper preset
    guidance_rescale: float = 0.0     # CFG rescale phi on the guided x0 (Lin et al. 2024 sec. 3.4; 0.7 there), 0 = off
    clip_denoised: bool = True        # sampling clamps x0 predictions to the train split's per-dim range (data.py)
    # method: LUMA (arXiv 2509.25304) = the baseline + MoCLIP text + dual anchors (anchors.py); flags for Tables 2-4
    method: str = "luma"              # luma | baseline (StableMoFusion) | atm | luma+atm | latent_ar (latent_ar.py)
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


# Paper configuration: StableMoFusion defaults (SPEC 3.1), also LUMA's baseline (Sec. 4.1: AdamW 2e-4, batch 64,
# 50k steps, condition mask 0.1). EMA every 32 steps with decay 0.993173 is StableMoFusion's AveragedModel setting.
# precision bf16 (StableMoFusion trains in fp32): on a 4090 bf16 tensor cores run at twice the TF32/fp32 rate
# (165 vs 83 TFLOPS dense) and halve activation memory on a 24 GB card; bf16 keeps fp32's exponent range, so no loss
# scaling, and weights, AdamW, the loss, EMA, the guidance combination and the solver stay fp32 (--precision=fp32: paper).
PAPER = dict({k: v for k, v in PRESETS_UNET["paper"].items() if k in TrainConfig.__dataclass_fields__},
             text_encoder="openai/clip-vit-base-patch32", steps=50_000, batch_size=64, lr=2e-4, lr_decay_every=5_000,
             ema_decay=0.993173, ema_every=32, log_every=100, save_every=2_500, num_workers=4, precision="bf16",
             guidance=2.5)
PRESETS = {"synthetic": {}, "humanml3d": dict(PAPER, dataset="humanml3d"), "kit": dict(PAPER, dataset="kit")}


def parse_config(argv: list[str]) -> TrainConfig:
    """`--key=value` / `--key value` / `--flag` overrides on top of the preset chosen by --dataset.

    Raises SystemExit naming the key for unknown keys or values that do not parse as the field's type."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    overrides, i = {}, 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            sys.exit(f"train.py: unexpected argument {arg!r}; use --key=value")
        key, eq, value = arg[2:].partition("=")
        if key not in fields:
            sys.exit(f"train.py: unknown option --{key}; valid: {', '.join(fields)}")
        if not eq:
            if fields[key].type is bool or fields[key].type == "bool":
                value = "true"
            elif i + 1 < len(argv):
                i, value = i + 1, argv[i + 1]
            else:
                sys.exit(f"train.py: --{key} needs a value")
        overrides[key], i = value, i + 1
    dataset = overrides.get("dataset", "synthetic")
    if dataset not in PRESETS:
        sys.exit(f"train.py: --dataset must be one of {list(PRESETS)}, got {dataset!r}")
    cfg = TrainConfig(**PRESETS[dataset])
    for key, value in overrides.items():
        default = getattr(cfg, key)
        try:
            if isinstance(default, bool):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                value = value.lower() in ("true", "1")
            elif isinstance(default, tuple):
                value = tuple(int(v) for v in value.strip("()").split(",") if v.strip())
            else:
                value = type(default)(value)
        except ValueError:
            sys.exit(f"train.py: --{key}={value!r} is not a valid {type(default).__name__}")
        setattr(cfg, key, value)
    return cfg


def model_args(cfg: TrainConfig, input_dim: int, text_dim: int) -> dict:
    """Constructor arguments of CondUnet1D, stored in the checkpoint so sample.py rebuilds the model without flags."""
    return dict(input_dim=input_dim, text_dim=text_dim, base_dim=cfg.base_dim, dim_mults=tuple(cfg.dim_mults),
                time_dim=cfg.time_dim, text_latent_dim=cfg.text_latent_dim, text_layers=cfg.text_layers,
                num_heads=cfg.num_heads, attention=cfg.attention, dropout=cfg.dropout,
                cond_mask_prob=cfg.cond_mask_prob)


def pick_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


PRECISIONS = ("fp32", "bf16")


def numpy_rng_state() -> dict:
    """numpy's global MT19937 state as tensors and ints, so checkpoints load with weights_only=True."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached)}


def set_numpy_rng_state(state: dict) -> None:
    np.random.set_state(("MT19937", state["keys"].numpy().astype(np.uint32), state["pos"], state["has_gauss"],
                         state["cached_gaussian"]))


def rng_state(device: torch.device) -> dict:
    """This process's random states: python, numpy, torch CPU and, on a GPU, the device's CUDA generator (which draws
    t, the noise and dropout there)."""
    state = {"python": random.getstate(), "numpy": numpy_rng_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    random.setstate(state["python"])
    set_numpy_rng_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def gather_rng_states(device: torch.device, world: int) -> tuple[list[dict], list]:
    """Every process's rng_state in rank order (a collective under torchrun: every rank calls it), and the handles of
    the two all_gathers that moved them: byte counts, then the states as torch.save bytes padded to the longest.

    Hold the handles until the group's gloo worker threads are joined: that keeps the DDP teardown from deadlocking.
    A gloo worker that drops the last reference to a finished work holding tensors made in Python takes the GIL to do
    it (py-spy: ~AsyncAllgatherWork -> TensorImpl::decref_pyobject -> gil_scoped_acquire, even while Python still
    holds the tensors), and ~ProcessGroupGloo joins the workers with the GIL held. dist.all_gather_object drops its
    handles on return, so its worker may drop last, and a sleep before the destroy only made that unlikely; with the
    handle held the worker's reference is never the last one, so no worker waits for the GIL, whatever the timing.
    """
    if world == 1:
        return [rng_state(device)], []
    buf = io.BytesIO()
    torch.save(rng_state(device), buf)
    mine = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8).to(device)       # (n_r,) this rank's bytes
    sizes = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(world)]
    works = [dist.all_gather(sizes, torch.tensor([len(mine)], device=device), async_op=True)]
    works[0].wait()
    n = max(int(size) for size in sizes)
    out = [torch.empty(n, dtype=torch.uint8, device=device) for _ in range(world)]          # (n,) per rank
    works.append(dist.all_gather(out, torch.cat([mine, mine.new_zeros(n - len(mine))]), async_op=True))
    works[1].wait()
    return [torch.load(io.BytesIO(o[:int(size)].cpu().numpy().tobytes()), weights_only=True)
            for o, size in zip(out, sizes)], works


def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically: a killed save leaves the previous checkpoint intact (temp file, then rename)."""
    tmp = path.with_suffix(".pt.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


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


def build_text_cache(cfg: TrainConfig, captions: list[str], device: torch.device, master: bool):
    """The frozen text features of every training caption (text_encoder.shared_cache): MoCLIP's fine-tuned tower
    for LUMA (cached under its checkpoint's hash), else cfg.text_encoder."""
    if cfg.method in ("luma", "luma+atm") and cfg.moclip_text:
        from moclip import text_encoder_from_moclip
        encoder = text_encoder_from_moclip(cfg.moclip, max_length=cfg.text_max_length)
    else:
        encoder = TextEncoder(cfg.text_encoder or None, max_length=cfg.text_max_length)
    return shared_cache(encoder, cfg.cache_dir, captions, device, master)


ANCHOR_LEVELS = ("down0", "down1", "down2", "down3", "mid")       # CondUnet1D return_features order


def prepare_moclip(cfg: TrainConfig, root: Path, master: bool) -> None:
    """LUMA needs a trained MoCLIP (LUMA appendix B): --moclip, else checkpoints/moclip/<dataset>_seed<seed>.pt,
    trained first by rank 0 when absent (the others wait for the atomically written file, outside any collective).
    Sets cfg.moclip to the path used."""
    from moclip import PAPER, MoCLIPConfig, train_moclip
    path = Path(cfg.moclip or f"checkpoints/moclip/{cfg.dataset}_seed{cfg.seed}.pt")
    if cfg.moclip and not path.is_file():
        sys.exit(f"train.py: --moclip={cfg.moclip} does not exist; leave it empty to train one first")
    if master and path.is_file():
        print(f"LUMA: using MoCLIP {path}")
    elif master:
        print(f"LUMA: no MoCLIP checkpoint at {path}: training one first (python moclip.py, LUMA appendix B)")
        train_moclip(MoCLIPConfig(**(PAPER if cfg.dataset != "synthetic" else {}), dataset=cfg.dataset,
                                  data_root=str(root), num_motions=cfg.num_motions, data_seed=cfg.data_seed,
                                  feat_bias=cfg.feat_bias, text_encoder=cfg.text_encoder,
                                  text_max_length=cfg.text_max_length, out=str(path), device=cfg.device,
                                  seed=cfg.seed))
    while not path.is_file():
        time.sleep(1.0)
    cfg.moclip = str(path)


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
                       decay_steps=cfg.anchor_decay_steps or cfg.steps)


METHODS = ("luma", "baseline", "atm", "luma+atm", "latent_ar")


def build_atm(cfg: TrainConfig, info, device: torch.device):
    """ATM's loss module and its two per-caption caches (atm_losses.py): MoCLIP text embeddings (the frozen alignment
    space) and Sentence-BERT vectors of the packaged MiniLM for the caption-similarity exclusion (eq. 2)."""
    margin = cfg.atm_margin if cfg.atm_margin == "adaptive" else float(cfg.atm_margin)
    atm = ATMLoss(clip_len=round(2 * info.fps), use_inter=cfg.atm_inter, use_intra=cfg.atm_intra,
                  variant=cfg.atm_variant, margin=margin, margin_intra=margin, lambda_atm=cfg.lambda_atm)
    return atm, CaptionEmbeddings(sentence_embedder(TextEncoder().to(device).eval()))


def check_method_options(cfg: TrainConfig) -> None:
    """SystemExit with one line naming the option when a method switch has a value outside its choices."""
    choices = {"method": METHODS, "anchor_level": ANCHOR_LEVELS, "anchor_weighting": ("cosine", "static", "learnable"),
               "atm_variant": VARIANTS, "precision": PRECISIONS}
    bad = [f"--{k} must be one of {v}, got {getattr(cfg, k)!r}" for k, v in choices.items() if getattr(cfg, k) not in v]
    if cfg.atm_margin != "adaptive":
        try:
            float(cfg.atm_margin)
        except ValueError:
            bad.append(f"--atm_margin must be adaptive or a number, got {cfg.atm_margin!r}")
    if bad:
        sys.exit("train.py: " + "; ".join(bad))


def main(argv: list[str]) -> None:
    argv = [f"--method={argv[i + 1]}" if a == "--method" and i + 1 < len(argv) else a for i, a in enumerate(argv)
            if not (i > 0 and argv[i - 1] == "--method")]                    # "--method x" -> "--method=x"
    if "--method=latent_ar" in argv:  # MoLingo's two stages have their own loop and config (latent_ar.py)
        from latent_ar import main as latent_ar_main
        return latent_ar_main([a for a in argv if a != "--method=latent_ar"])
    cfg = parse_config(argv)
    check_method_options(cfg)
    diffusion_lib.SYNC_CHECKS = cfg.debug
    # ----------------------------------------------------------------------------------------------- setup
    ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if ddp:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available() and cfg.device in ("auto", "cuda"):
            torch.cuda.set_device(local_rank)
            device = torch.device("cuda", local_rank)
        else:
            device = torch.device("cpu")
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    else:
        device = pick_device(cfg.device)
    master = rank == 0
    random.seed(cfg.seed + rank)
    np.random.seed(cfg.seed + rank)
    torch.manual_seed(cfg.seed + rank)
    info = DATASETS[cfg.dataset]
    root = Path(cfg.data_root or info.default_root)
    out_dir = Path(cfg.out_dir or f"out/{cfg.dataset}")
    if master:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    if cfg.dataset == "synthetic" and master:
        from synthetic import ensure_dataset  # only the embedded dataset is generated
        ensure_dataset(root, num_motions=cfg.num_motions, seed=cfg.data_seed)
    if ddp:
        dist.barrier()
    if cfg.method != "baseline":  # LUMA's text tower and f_tem, ATM's alignment space
        prepare_moclip(cfg, root, master)
        if master:
            (out_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))  # with the MoCLIP path

    # ------------------------------------------------------------------------------------------------ data
    mean, std = load_stats(root, info, feat_bias=cfg.feat_bias)
    train_set = Text2MotionDataset(root, "train", info, mean, std, seed=cfg.seed)
    x0_range = feature_range(train_set.items, mean, std)                  # (2, D) for sampling (clip_denoised)
    per_epoch, drop_last = batches_per_epoch(len(train_set), cfg.batch_size, world)
    sampler = EpochSampler(len(train_set), rank, world, seed=cfg.seed)
    # The loader's own generator: creating an epoch's iterator must not draw from the global RNG (exact resume).
    loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers,
                        collate_fn=collate_fn, drop_last=drop_last, pin_memory=device.type == "cuda",
                        persistent_workers=cfg.num_workers > 0, generator=torch.Generator().manual_seed(cfg.seed))
    cache = build_text_cache(cfg, train_set.captions(), device, master)

    # ----------------------------------------------------------------------------------------------- model
    margs = model_args(cfg, info.feat_dim, cache.dim)
    model = CondUnet1D(**margs | {"cond_mask_prob": 0.0}).to(device)  # CFG's drop is drawn in model_fn, for ATM
    ema = CondUnet1D(**margs).to(device).eval().requires_grad_(False)
    ema.load_state_dict(model.state_dict())
    diffusion = GaussianDiffusion(num_timesteps=cfg.num_timesteps).to(device)
    anchors = moclip_model = moclip_record = atm = None
    if cfg.method != "baseline":  # training-only modules: the checkpoint's U-Net samples exactly like the baseline's
        from moclip import file_hash, load_moclip
        moclip_model = load_moclip(cfg.moclip, device)                  # frozen: f_tem, ATM's alignment space
        moclip_record = {"path": cfg.moclip, "sha": file_hash(cfg.moclip)}
    if cfg.method in ("luma", "luma+atm"):
        anchors = build_anchors(cfg, margs, info, moclip_model.text_proj.out_features)
        anchors = anchors.to(device) if anchors is not None else None
    if cfg.method in ("atm", "luma+atm"):
        atm, sbert = build_atm(cfg, info, device)
        moclip_text = CaptionEmbeddings(moclip_model.encode_text)
        for table in (sbert, moclip_text):                               # every training caption, encoded once
            table.fill(train_set.captions())

    level = ANCHOR_LEVELS.index(cfg.anchor_level)
    params = list(model.parameters()) + (list(anchors.parameters()) if anchors is not None else [])
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, ckpt_path = 0, out_dir / "ckpt.pt"
    if cfg.resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        if ckpt["model_args"] != margs:
            sys.exit(f"train.py: {ckpt_path} was trained with {ckpt['model_args']}, config gives {margs}")
        model.load_state_dict(ckpt["model"])
        ema.load_state_dict(ckpt["ema"])
        if anchors is not None:
            anchors.load_state_dict(ckpt["anchors"])
        optimizer.load_state_dict(ckpt["optimizer"])
        step = ckpt["step"]
        states = ckpt["rng"] if isinstance(ckpt["rng"], list) else [ckpt["rng"]]  # one entry per rank
        if len(states) == world:
            set_rng_state(states[rank], device)
        elif master:
            print(f"--resume: {ckpt_path} holds random states of {len(states)} process(es), this run has {world}: "
                  f"continuing with fresh seeds (weights and data order exact, noise draws not)")
        if master:
            print(f"resumed from {ckpt_path} at step {step}")
    elif cfg.resume and master:
        print(f"--resume: no checkpoint at {ckpt_path}, starting from scratch")
    net = DDP(model) if ddp else model
    anchor_net = DDP(anchors) if ddp and anchors is not None else anchors
    if master:
        n_params = sum(p.numel() for p in model.parameters())
        print(f"dataset {cfg.dataset} at {root}: {len(train_set)} training items, D={info.feat_dim}; "
              f"text encoder {cache.name} (C={cache.dim}, {len(cache)} captions cached); U-Net "
              f"{n_params / 1e6:.2f}M parameters; device {device}, {cfg.precision}, {world} process(es), "
              f"batch {cfg.batch_size} each")

    def checkpoint() -> list:
        """Every rank calls this (it gathers each rank's random states); rank 0 writes. Returns the gather's handles."""
        states, handles = gather_rng_states(device, world)
        if master:
            save_checkpoint(ckpt_path, {
                "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                "config": asdict(cfg), "model_args": margs, "step": step, "mean": torch.from_numpy(mean),
                "std": torch.from_numpy(std), "text_encoder": cfg.text_encoder, "data_root": str(root),
                "x0_range": torch.from_numpy(x0_range), "rng": states,
                "anchors": anchors.state_dict() if anchors is not None else None,
                "moclip": moclip_record})
        return handles

    # -------------------------------------------------------------------------------------- training loop
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
    cuda = device.type == "cuda"

    feats = {}

    def model_fn(x_t, t):  # CFG's condition drop: CondUnet1D.cond_indices' draw, made here so that ATM can skip it
        feats["uncond"] = torch.rand(len(x_t)) < cfg.cond_mask_prob          # (B,) CPU, True = trained without text
        with autocast:  # only the network; q_sample, the loss and the optimiser run in fp32
            out = net(x_t, t, text, text_mask, force_uncond=feats["uncond"], return_features=anchors is not None)
        if anchors is not None:
            out, feats["h"] = out[0], out[1][level]                               # (B, C, T') anchor input
        return out

    epoch, done = divmod(step, per_epoch)  # resume: the epoch, and the batches of it already consumed
    t_log, n_sum = time.time(), 0
    works = []                                                           # every gather's handles, held to the end
    sums = torch.zeros(5, device=device)                                 # L_DDPM, L_fre, L_tem, L_inter, L_intra
    atm_stats = np.zeros(3)                                              # gate rate, excluded rate, no valid j
    while step < cfg.steps:
        sampler.set_epoch(epoch, skip=done * cfg.batch_size)
        for batch in loader:
            # No host synchronisation below except at log steps: the copies are asynchronous from pinned memory,
            # the loss is accumulated on the device, and the value checks that read the GPU are off (--debug).
            x0 = batch["motion"].to(device, non_blocking=True)                   # (B, T, D)
            mask = batch["mask"].to(device, non_blocking=True)                   # (B, T)
            text, text_mask = cache.get(batch["caption"], dtype=torch.float16)   # (B, L, C), (B, L) on the CPU
            if cuda:
                text, text_mask = text.pin_memory(), text_mask.pin_memory()
            text = text.to(device, non_blocking=True).float()                    # the cached fp16 values, exactly
            text_mask = text_mask.to(device, non_blocking=True)
            lr = cfg.lr * cfg.lr_decay ** (step // cfg.lr_decay_every)          # StepLR, stateless so resume is exact
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, extras = diffusion.loss(model_fn, x0, mask)
            zero = loss.new_zeros(())
            terms = [loss.detach(), zero, zero, zero, zero]
            total = loss
            lengths = batch["length"].to(device, non_blocking=True)
            target = None                                                        # f_tem(x0), shared with ATM
            if anchors is not None:  # LUMA eq. 10: L_DDPM + zeta(n) (lambda_fre L_fre + lambda_tem L_tem)
                if cfg.anchor_tem:
                    with torch.no_grad():
                        target = moclip_model.encode_motion(x0, lengths)         # f_tem(x0) (B, D_a), frozen
                anchor_terms = anchor_net(feats.pop("h").float(), extras["t"], x0, lengths, target)
                total = loss + anchors.total(anchor_terms, step)
                terms[1:3] = anchor_terms["fre"].detach(), anchor_terms["tem"].detach()
            if atm is not None:  # ATM eq. 8: + lambda (L_inter + L_intra) on the x0 prediction, through frozen MoCLIP
                out = atm(moclip_model, extras["x0_pred"].float(), x0, lengths,
                          moclip_text.get(batch["caption"], device), caption_similarity(sbert.get(batch["caption"])),
                          real_emb=target, keep=~feats["uncond"])  # luma+atm: f_tem(x0) is m_i; captioned rows only
                total = total + out["loss"]
                terms[3:5] = out["inter"].detach(), out["intra"].detach()
                atm_stats += [out["gate_rate"], out["excluded_rate"], out["no_valid"]]
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            optimizer.step()
            step += 1
            if step % cfg.ema_every == 0:
                with torch.no_grad():
                    for p_ema, p in zip(ema.parameters(), model.parameters()):
                        p_ema.lerp_(p, 1.0 - cfg.ema_decay)
                    for b_ema, b in zip(ema.buffers(), model.buffers()):
                        b_ema.copy_(b)
            sums, n_sum = sums + torch.stack(terms), n_sum + 1
            if step % cfg.log_every == 0 or step == cfg.steps:
                if master:
                    avg = (sums / n_sum).tolist()                                # the one synchronisation
                    dt = (time.time() - t_log) / n_sum
                    dal = "" if anchors is None else \
                        f" | L_fre {avg[1]:.4f} | L_tem {avg[2]:.4f} | zeta {anchors.weight(step):.3f}"
                    if atm is not None:
                        gate, excl, none = atm_stats / n_sum
                        dal += (f" | L_inter {avg[3]:.4f} | L_intra {avg[4]:.4f} | gate {gate:.2f} excluded "
                                f"{excl:.2f} no-j {none:.1f}")
                    print(f"step {step:>6}/{cfg.steps} | loss {avg[0]:.4f}{dal} | lr {lr:.2e} | "
                          f"{dt * 1000:.1f} ms/step | {cfg.batch_size * world / dt:.1f} samples/s", flush=True)
                t_log, sums, n_sum = time.time(), torch.zeros(5, device=device), 0
                atm_stats[:] = 0
            if step % cfg.save_every == 0 or step == cfg.steps:
                works += checkpoint()
            if step >= cfg.steps:
                break
        epoch, done = epoch + 1, 0
    if master:
        print(f"done: {ckpt_path}")
    # No sleep: `works` holds every gather's handles (gather_rng_states) until the group's gloo threads are joined, and
    # DDP's and the barrier's works hold only C++ tensors. The barrier: every rank past rank 0's last write.
    if ddp:
        dist.barrier()
        dist.destroy_process_group()
        del net, anchor_net  # the group's last owners (the reducers): its gloo threads are joined here, not at return


if __name__ == "__main__":
    main(sys.argv[1:])
