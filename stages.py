"""Run plumbing of MoLingo's two training stages (motion_ae.py: the autoencoder, latent_ar.py: the generator).

The ideas of train.py, restated for a pipeline of stages so that neither model file carries them (and neither
imports train.py): `--key=value` options on named presets; torchrun data parallelism (NCCL on GPUs, gloo on the
CPU) with the gradients averaged by one all_reduce per step; a data order that is a pure function of
(seed, step, rank); per-process random states in every checkpoint, so `--resume` continues a stage exactly; atomic
checkpoint writes by rank 0; a stage checkpoint that is finished is reused, an unfinished one continued (--resume)
or started over, one made with other settings refused; the text-feature cache built once for all processes.

    python latent_ar.py --resume                        # continue whichever stage stopped
    torchrun --nproc_per_node=2 latent_ar.py            # both stages data-parallel
Test: python -m pytest tests/test_latent_ar.py -q (the smoke, resume and torchrun runs)
"""
import dataclasses
import io
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist


def parse_options(cls, argv: list[str], presets: dict, script: str, dataset_presets: dict | None = None,
                  hints: dict | None = None):
    """`--key=value`, `--key value` and `--flag` overrides of dataclass cls on top of a preset: --preset=<name>,
    else dataset_presets[--dataset], else the first preset. Raises SystemExit naming the key for unknown keys (with
    hints[key] when there is one), unknown presets and values that do not parse."""
    fields, overrides, i = {f.name: f for f in dataclasses.fields(cls)}, {}, 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--"):
            sys.exit(f"{script}: unexpected argument {arg!r}; use --key=value")
        key, eq, value = arg[2:].partition("=")
        if key != "preset" and key not in fields:
            hint = f" ({hints[key]})" if key in (hints or {}) else ""
            sys.exit(f"{script}: unknown option --{key}{hint}; valid: preset, {', '.join(fields)}")
        if not eq:
            if key in fields and fields[key].type in (bool, "bool"):
                value = "true"
            elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                i, value = i + 1, argv[i + 1]
            else:
                sys.exit(f"{script}: --{key} needs a value")
        overrides[key], i = value, i + 1
    preset = overrides.pop("preset", None) or (dataset_presets or {}).get(overrides.get("dataset"), next(iter(presets)))
    if preset not in presets:
        sys.exit(f"{script}: --preset must be one of {list(presets)}, got {preset!r}")
    cfg = cls(**presets[preset])
    for key, value in overrides.items():
        default = getattr(cfg, key)
        try:
            if isinstance(default, bool):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                value = value.lower() in ("true", "1")
            else:
                value = type(default)(value)
        except ValueError:
            sys.exit(f"{script}: --{key}={value!r} is not a valid {type(default).__name__}")
        setattr(cfg, key, value)
    return cfg


def pick_device(name: str) -> torch.device:
    """"auto" -> cuda, then mps, then cpu; anything else as torch.device(name)."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("mps" if torch.backends.mps.is_available() else "cpu")


def setup_distributed(device_name: str) -> tuple[torch.device, int, int]:
    """(device, rank, world). Under torchrun (WORLD_SIZE > 1) joins the process group: NCCL with GPU LOCAL_RANK when
    CUDA is there and --device is auto or cuda, else gloo on the CPU. A plain run: (pick_device(device_name), 0, 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return pick_device(device_name), 0, 1
    device = torch.device("cpu")
    if torch.cuda.is_available() and device_name in ("auto", "cuda"):
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device, dist.get_rank(), world


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
    resumed run needs no sampler state. Epoch e shuffles with torch.randperm seeded seed + e, wraps to a multiple of
    world, process r takes positions r, r + world, ... (DistributedSampler's rule), cut into whole batches (the
    incomplete last one dropped). Raises SystemExit when a process would get no batch."""
    per_rank = math.ceil(num_items / world)
    per_epoch = per_rank // batch_size
    if per_epoch == 0:
        sys.exit(f"{num_items} training items over {world} process(es) give {per_rank} each, fewer than a batch of "
                 f"{batch_size}: lower the batch size")
    epoch, b = divmod(step, per_epoch)
    order = torch.randperm(num_items, generator=torch.Generator().manual_seed(seed + epoch))
    mine = order.repeat(math.ceil(per_rank * world / num_items))[:per_rank * world][rank::world]  # (per_rank,)
    return epoch, mine[b * batch_size:(b + 1) * batch_size].tolist()


def rng_state(device: torch.device) -> dict:
    """This process's python and torch random states (and the GPU's); numpy's global generator draws nothing here."""
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


_HELD_WORKS: list = []  # this process's gather_rng_states work handles, released only once the group is destroyed


def finish_distributed(world: int) -> None:
    """End a torchrun run: a barrier (every rank past its last collective and rank 0's writes), then destroy the group.

    No sleep is needed before the destroy, and none makes it safe: ~ProcessGroupGloo joins gloo's worker threads with
    the GIL held, and a worker needs the GIL to drop the last reference to a finished work holding tensors made in
    Python (py-spy, the hang seen in CI: ~AsyncAllgatherWork -> TensorImpl::decref_pyobject -> gil_scoped_acquire, in
    the worker of the last all_gather_object, which drops its handles on return). gather_rng_states keeps its handles
    in _HELD_WORKS until after the destroy and the barrier's tensor is made in C++, so those workers never hold the last
    reference. (average_gradients' all_reduce still drops its handle: its worker would have to sleep through two
    gathers and the barrier to be caught here.)"""
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    _HELD_WORKS.clear()


def gather_rng_states(device: torch.device, world: int) -> list[dict]:
    """Every process's rng_state, rank order (a collective under torchrun: all processes call it): two all_gathers,
    byte counts, then the states as torch.save bytes padded to the longest, whose handles go to _HELD_WORKS (see
    finish_distributed; dist.all_gather_object would drop them). train.py's gather_rng_states, restated."""
    if world == 1:
        return [rng_state(device)]
    buf = io.BytesIO()
    torch.save(rng_state(device), buf)
    mine = torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8).to(device)       # (n_r,) this rank's bytes
    sizes = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(world)]
    _HELD_WORKS.append(dist.all_gather(sizes, torch.tensor([len(mine)], device=device), async_op=True))
    _HELD_WORKS[-1].wait()
    n = max(int(size) for size in sizes)
    out = [torch.empty(n, dtype=torch.uint8, device=device) for _ in range(world)]          # (n,) per rank
    _HELD_WORKS.append(dist.all_gather(out, torch.cat([mine, mine.new_zeros(n - len(mine))]), async_op=True))
    _HELD_WORKS[-1].wait()
    return [torch.load(io.BytesIO(o[:int(size)].cpu().numpy().tobytes()), weights_only=True)
            for o, size in zip(out, sizes)]


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
        random.setstate(states[rank]["python"])
        torch.set_rng_state(states[rank]["torch"])
        if device.type == "cuda" and "cuda" in states[rank]:
            torch.cuda.set_rng_state(states[rank]["cuda"], device)
    elif rank == 0:
        print(f"--resume: the checkpoint holds random states of {len(states)} process(es), this run has {world}: "
              f"fresh seeds (weights and data order exact, noise draws not)")
    return ckpt["step"]


def save_atomic(path: Path, state: dict) -> None:
    """torch.save to a temp file, then rename: a killed save leaves the previous file intact."""
    tmp = path.with_suffix(".pt.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


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


def build_text_cache(name: str, max_length: int, cache_dir: str, captions: list[str], device, master: bool):
    """Token states of `captions` from the frozen TextEncoder `name` ('' -> MiniLM), encoded once for all processes
    (train.py's build_text_cache): rank 0 runs TextFeatureCache.build on `device` (batched, tqdm bar, streamed to
    <cache_dir>); the other ranks stay out of any collective meanwhile (a long build would time a barrier out) and
    poll for the cache's index file, written last, until it holds every caption; all memory-map one copy.
    Returns the read-only cache (no encoder attached: a caption missing from it raises KeyError)."""
    from text_encoder import TextEncoder, TextFeatureCache
    encoder = TextEncoder(name or None, max_length=max_length)
    path = TextFeatureCache.default_path(cache_dir, encoder)
    if master:
        cache = TextFeatureCache.build(path, encoder.to(device), captions, progress=True)
    else:
        while True:
            try:
                cache = TextFeatureCache.load(path, encoder)
                if set(captions) <= cache.index.keys():
                    break
            except (FileNotFoundError, RuntimeError, EOFError):                      # being replaced right now
                pass
            time.sleep(1.0)
    cache.encoder = None
    return cache
