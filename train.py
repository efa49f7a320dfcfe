"""Train the text-conditioned motion diffusion U-Net (the StableMoFusion baseline that LUMA and ATM build on).

    python train.py                                  # embedded dataset, CPU-sized, ~10 min on 2 cores
    python train.py --dataset=humanml3d              # paper settings (StableMoFusion / LUMA Sec. 4.1), for a GPU
    python train.py --method=luma                    # LUMA: MoCLIP text + dual anchors (anchors.py, moclip.py)
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
uninterrupted one (tests/test_resume.py). --precision=bf16 autocasts the U-Net only. --method=luma (LUMA eq. 10)
reads MoCLIP's tuned text tower and adds zeta(n) (lambda_fre L_fre + lambda_tem L_tem) from training-only anchors on
one U-Net feature, so the checkpoint's network is the baseline's.
"""
import dataclasses
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
from data import DATASETS, Text2MotionDataset, collate_fn, load_stats
from anchors import DualAnchors
from diffusion import GaussianDiffusion
from text_encoder import TextEncoder, TextFeatureCache
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
    guidance: float = 1.0             # CFG scale: 1 on the embedded dataset (sweep_guidance.py), 2.5 paper preset
    guidance_rescale: float = 0.0     # CFG rescale phi on the guided x0 (Lin et al. 2024 sec. 3.4; 0.7 there), 0 = off
    # method: LUMA (arXiv 2509.25304) = the baseline + MoCLIP text + dual anchors (anchors.py); flags for Tables 2-4
    method: str = "baseline"          # baseline (StableMoFusion) | luma
    moclip: str = ""                  # luma: MoCLIP checkpoint; '' -> checkpoints/moclip/<dataset>_seed<seed>.pt (trained if absent)
    moclip_text: bool = True          # luma: cross-attention reads MoCLIP's fine-tuned tower (False: Table 2 "w/o MoCLIP")
    anchor_fre: bool = True           # luma: frequency anchor, eq. 8 (False: Table 2 "w/o L_fre")
    anchor_tem: bool = True           # luma: temporal anchor, eq. 9 (False: Table 2 "w/o L_tem")
    anchor_film: bool = True          # luma: FiLM from e(t), eq. 4-7 (False: Table 2 "w/o FiLM")
    anchor_level: str = "down3"       # down0..down3 | mid: paper's Down-block1..3 = down1..down3, Bottleneck = mid
    dct_k: int = 64                   # k low-frequency DCT-II coefficients (Table 3)
    anchor_weighting: str = "cosine"  # cosine zeta(n) (eq. 11) | static | learnable (Table 4)
    lambda_fre: float = 0.1           # lambda_fre (eq. 10)
    lambda_tem: float = 0.5           # lambda_tem (eq. 10)
    anchor_decay_steps: int = 0       # N of eq. 11 (zeta reaches 0 at step N); 0 -> steps
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


def batches_per_epoch(num_items: int, batch_size: int, world: int) -> tuple[int, bool]:
    """(batches each process runs per epoch, drop_last) for `num_items` shared by `world` processes.

    Every process gets ceil(num_items / world) items (DistributedSampler's padding). Incomplete batches are dropped
    unless the whole dataset is smaller than one batch. Raises SystemExit naming the numbers when a process would
    get no batch at all (its loop would otherwise spin without ever taking a step)."""
    per_rank = math.ceil(num_items / world)
    drop_last = num_items >= batch_size
    n = per_rank // batch_size if drop_last else math.ceil(per_rank / batch_size)
    if n == 0:
        sys.exit(f"train.py: {num_items} training items over {world} processes give {per_rank} per process, fewer "
                 f"than --batch_size={batch_size}: every process would get 0 batches; use --batch_size<={per_rank} "
                 f"or at most {max(num_items // batch_size, 1)} processes")
    return n, drop_last


class EpochSampler(torch.utils.data.Sampler):
    """One process's share of an epoch as (epoch, index) keys; the order is a pure function of (seed, epoch, rank).

    Epoch e shuffles with torch.randperm under a generator seeded with seed + e (DistributedSampler's rule), pads
    by wrapping to a multiple of `world`, and rank r takes positions r, r + world, ... The first `skip` keys are
    left out: the items a resumed run already consumed. The keys carry the epoch to the dataset, whose caption and
    crop draws then depend on the key only (data.Text2MotionDataset.__getitem__), so resume repeats them exactly.
    """

    def __init__(self, num_items: int, rank: int = 0, world: int = 1, seed: int = 0):
        self.num_items, self.rank, self.world, self.seed = num_items, rank, world, seed
        self.per_rank = math.ceil(num_items / world)
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def __iter__(self):
        order = torch.randperm(self.num_items, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        order = order.repeat(math.ceil(self.per_rank * self.world / self.num_items))[:self.per_rank * self.world]
        mine = order[self.rank::self.world].tolist()
        return iter([(self.epoch, i) for i in mine[self.skip:]])

    def __len__(self) -> int:
        return self.per_rank - self.skip


def build_text_cache(cfg: TrainConfig, captions: list[str], device: torch.device, master: bool,
                     ddp: bool) -> TextFeatureCache:
    """Frozen text features of every training caption, built once for all processes (SPEC 3.2).

    Rank 0 loads the encoder onto the training device and runs TextFeatureCache.build (batched, tqdm bar, streamed
    to <cache_dir>); the other ranks do not enter a collective meanwhile (NCCL's watchdog would kill a barrier
    that waits through a CPU- or GPU-long build) but poll for the cache's index file, which is written last, and
    then memory-map it: N processes share one copy. If rank 0 dies, torchrun stops the waiting ranks.
    Returns a read-only cache (no encoder attached, so a caption missing from it raises KeyError).
    """
    if cfg.method == "luma" and cfg.moclip_text:  # MoCLIP's fine-tuned tower, cached under its checkpoint's hash
        from moclip import text_encoder_from_moclip
        encoder = text_encoder_from_moclip(cfg.moclip, max_length=cfg.text_max_length)
    else:
        encoder = TextEncoder(cfg.text_encoder or None, max_length=cfg.text_max_length)
    path = TextFeatureCache.default_path(cfg.cache_dir, encoder)
    if master:
        cache = TextFeatureCache.build(path, encoder.to(device), captions, progress=True)
    else:
        wanted = set(captions)
        while True:  # the captions check also covers a cache left by a run on other data
            if path.is_file():
                try:
                    cache = TextFeatureCache.load(path, encoder)
                    if wanted.issubset(cache.index):
                        break
                except (FileNotFoundError, RuntimeError, EOFError):  # being replaced right now
                    pass
            time.sleep(1.0)
    cache.encoder = None
    del encoder
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return cache


ANCHOR_LEVELS = ("down0", "down1", "down2", "down3", "mid")       # CondUnet1D return_features order
MOCLIP_PAPER = dict(width=512, layers=4, heads=8, ff_dim=1024, embed_dim=512, epochs_stage1=5, epochs_stage2=15,
                    lr=1e-4, lr_finetune=1e-5)                       # SPEC 6.3 A, sized for CLIP ViT-B/32 on a GPU


def prepare_moclip(cfg: TrainConfig, root: Path, master: bool) -> None:
    """LUMA needs a trained MoCLIP (LUMA appendix B): --moclip, else checkpoints/moclip/<dataset>_seed<seed>.pt,
    trained first by rank 0 when absent (the others wait for the atomically written file, outside any collective).
    Sets cfg.moclip to the path used."""
    from moclip import MoCLIPConfig, train_moclip
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


def main(argv: list[str]) -> None:
    cfg = parse_config(argv)
    if cfg.method not in ("baseline", "luma") or cfg.anchor_level not in ANCHOR_LEVELS or \
            cfg.anchor_weighting not in ("cosine", "static", "learnable"):
        sys.exit(f"train.py: --method must be baseline | luma (got {cfg.method!r}), --anchor_level one of "
                 f"{ANCHOR_LEVELS} (got {cfg.anchor_level!r}), --anchor_weighting cosine | static | learnable "
                 f"(got {cfg.anchor_weighting!r})")
    if cfg.precision not in PRECISIONS:
        sys.exit(f"train.py: --precision must be one of {PRECISIONS}, got {cfg.precision!r}")
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
    if cfg.method == "luma":
        prepare_moclip(cfg, root, master)
        if master:
            (out_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))  # with the MoCLIP path

    # ------------------------------------------------------------------------------------------------ data
    mean, std = load_stats(root, info, feat_bias=cfg.feat_bias)
    train_set = Text2MotionDataset(root, "train", info, mean, std, seed=cfg.seed)
    per_epoch, drop_last = batches_per_epoch(len(train_set), cfg.batch_size, world)
    sampler = EpochSampler(len(train_set), rank, world, seed=cfg.seed)
    # The loader's own generator: creating an epoch's iterator must not draw from the global RNG (exact resume).
    loader = DataLoader(train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers,
                        collate_fn=collate_fn, drop_last=drop_last, pin_memory=device.type == "cuda",
                        persistent_workers=cfg.num_workers > 0, generator=torch.Generator().manual_seed(cfg.seed))
    cache = build_text_cache(cfg, train_set.captions(), device, master, ddp)

    # ----------------------------------------------------------------------------------------------- model
    margs = model_args(cfg, info.feat_dim, cache.dim)
    model = CondUnet1D(**margs).to(device)
    ema = CondUnet1D(**margs).to(device).eval().requires_grad_(False)
    ema.load_state_dict(model.state_dict())
    diffusion = GaussianDiffusion(num_timesteps=cfg.num_timesteps).to(device)
    anchors = moclip_model = moclip_record = None
    if cfg.method == "luma":  # training-only modules: the checkpoint's U-Net samples exactly like the baseline's
        from moclip import file_hash, load_moclip
        moclip_model = load_moclip(cfg.moclip, device)                  # frozen; its motion encoder is f_tem
        anchors = build_anchors(cfg, margs, info, moclip_model.text_proj.out_features)
        anchors = anchors.to(device) if anchors is not None else None
        moclip_record = {"path": cfg.moclip, "sha": file_hash(cfg.moclip)}
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

    def checkpoint() -> None:
        """Every rank calls this (it gathers each rank's random states); rank 0 writes."""
        states = [None] * world
        if ddp:
            dist.all_gather_object(states, rng_state(device))
        else:
            states = [rng_state(device)]
        if master:
            save_checkpoint(ckpt_path, {
                "model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                "config": asdict(cfg), "model_args": margs, "step": step, "mean": torch.from_numpy(mean),
                "std": torch.from_numpy(std), "text_encoder": cfg.text_encoder, "data_root": str(root),
                "rng": states, "anchors": anchors.state_dict() if anchors is not None else None,
                "moclip": moclip_record})

    # -------------------------------------------------------------------------------------- training loop
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
    cuda = device.type == "cuda"

    feats = {}

    def model_fn(x_t, t):
        with autocast:  # only the network; q_sample, the loss and the optimiser run in fp32
            if anchors is None:
                return net(x_t, t, text, text_mask)
            out, features = net(x_t, t, text, text_mask, return_features=True)
            feats["h"] = features[level]                                          # (B, C, T') anchor input
            return out

    epoch, done = divmod(step, per_epoch)  # resume: the epoch, and the batches of it already consumed
    t_log, n_sum = time.time(), 0
    sums = torch.zeros(3, device=device)                                         # L_DDPM, L_fre, L_tem
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
            terms = torch.stack([loss.detach(), loss.new_zeros(()), loss.new_zeros(())])
            total = loss
            if anchors is not None:  # LUMA eq. 10: L_DDPM + zeta(n) (lambda_fre L_fre + lambda_tem L_tem)
                lengths = batch["length"].to(device, non_blocking=True)
                target = None
                if cfg.anchor_tem:
                    with torch.no_grad():
                        target = moclip_model.encode_motion(x0, lengths)         # f_tem(x0) (B, D_a), frozen
                anchor_terms = anchor_net(feats.pop("h").float(), extras["t"], x0, lengths, target)
                total = loss + anchors.total(anchor_terms, step)
                terms = torch.stack([loss.detach(), anchor_terms["fre"].detach(), anchor_terms["tem"].detach()])
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
            sums, n_sum = sums + terms, n_sum + 1
            if step % cfg.log_every == 0 or step == cfg.steps:
                if master:
                    avg = (sums / n_sum).tolist()                                # the one synchronisation
                    dt = (time.time() - t_log) / n_sum
                    dal = "" if anchors is None else \
                        f" | L_fre {avg[1]:.4f} | L_tem {avg[2]:.4f} | zeta {anchors.weight(step):.3f}"
                    print(f"step {step:>6}/{cfg.steps} | loss {avg[0]:.4f}{dal} | lr {lr:.2e} | "
                          f"{dt * 1000:.1f} ms/step | {cfg.batch_size * world / dt:.1f} samples/s", flush=True)
                t_log, sums, n_sum = time.time(), torch.zeros(3, device=device), 0
            if step % cfg.save_every == 0 or step == cfg.steps:
                checkpoint()
            if step >= cfg.steps:
                break
        epoch, done = epoch + 1, 0
    if master:
        print(f"done: {ckpt_path}")
    if ddp:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1:])
