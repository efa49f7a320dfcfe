"""MoLingo's generator training (stage 2) and the command that runs both stages: stage 1, the semantic-aligned
autoencoder (motion_ae.train_autoencoder, which writes ae.pt), then stage 2, the masked autoregressive generator over
its latents (latent_ar.py), with the options and presets of both.

The model files hold the ideas; this file holds the generator's loop. Stage 2 encodes each step's crops with the
frozen SAE, one posterior sample each (as the official mogen/core/molingo_trainer.py), trains the masked transformer
and its flow head, and writes ckpt.pt (kind "latent_ar": everything sample.py needs). Both stages run as train.py
does, through runtime.py (options on named presets, torchrun with NCCL or gloo, per-process random states in every
checkpoint so `--resume` continues a stage exactly, atomic writes by rank 0) and data.EpochSampler's data order; what
is theirs alone (runtime.py's staged-training section): gradients averaged by one all_reduce per step (no DDP
wrapper), and a stage checkpoint that is finished is reused, an unfinished one continued (--resume) or started over,
one made with other settings refused.

    python train.py --method=latent_ar                         # both stages, CPU preset, embedded dataset
    python latent_ar_train.py --stage=ae --ae_steps=200        # only the autoencoder (motion_ae.py)
    python latent_ar_train.py --stage=gen --text_cond=single   # only the generator, on the existing ae.pt
    python latent_ar_train.py --stage=bench                    # sampling time vs the 10-step U-Net sampler
    python latent_ar_train.py --resume                         # continue the stage that stopped (exactly)
    torchrun --nproc_per_node=2 latent_ar_train.py             # both stages data-parallel (gloo on CPU, NCCL on GPU)
Test: python -m pytest tests/test_latent_ar.py tests/test_motion_ae.py -q
"""
import json
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

import runtime
from runtime import (average_gradients, finish_distributed, gather_rng_states, pick_device, resume_or_seed,
                     setup_distributed, shard_batch, stage_checkpoint, warmup_cosine)
from data import DATASETS, load_stats
from latent_ar import NULL_PROMPT, MaskedLatentTransformer, training_loss
from motion_ae import AEConfig, LabelledMotions, MotionAE, train_autoencoder
from text_encoder import TextEncoder, shared_cache


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
            runtime.save_atomic(path, {
                "kind": "latent_ar", "model": model.state_dict(), "ema": ema.state_dict(),
                "optimizer": opt.state_dict(), "config": asdict(cfg), "model_args": margs, "ae": ae.state_dict(),
                "ae_args": ae_ckpt["model_args"], "latent_mean": latent_mean, "latent_std": latent_std,
                "mean": torch.from_numpy(mean), "std": torch.from_numpy(std), "text_encoder": cfg.text_encoder,
                "data_root": str(root), "step": step, "rng": states,
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
