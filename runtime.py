"""How every script runs: its command-line options, its device and processes, its random states and its checkpoint
files. Plumbing, not a lesson of the papers; train.py, latent_ar_train.py, sample.py, evaluate.py, moclip.py, the
embedded dataset's builder and the lab/ tools share it, so each says the same thing the same way.

Options: overrides of a config dataclass whose defaults (one comment per field) are the documentation.

    --key=value   or   --key value   set a field, converted to the field's type (else an error naming the key)
    --flag                           set a bool field true (--flag=false sets it false)
    --help                           print the config dataclasses, defaults and comments, and exit

Types: bool (true/false/1/0/yes/no), int, float, str, tuple of ints ("1,2,2,2"), and "X | None" fields (none -> None).
An unknown key stops the script with one line naming it and the valid keys.

    cfg = runtime.parse(sys.argv[1:], TrainConfig(), prog="train.py")

Processes: `device=auto` picks cuda, then mps, then cpu; under torchrun every process joins one group (NCCL on GPUs,
gloo on the CPU). Random states: every checkpoint holds each process's python, numpy, torch (and CUDA) states,
gathered by all processes (gather_rng_states), so a resumed run continues exactly. Checkpoints are written atomically
(save_atomic: a temp file, then a rename), so a killed save leaves the previous one intact. Weight averaging:
ema_decay (diffusers' warm-up) and ema_update, shared by both training loops. Staged training (MoLingo's autoencoder,
then its generator): gradients averaged by one all_reduce (average_gradients), each step's batch a pure function of
the step (shard_batch), stage checkpoints reused, continued or refused (stage_checkpoint, resume_or_seed), and the
warm-up cosine learning rate (warmup_cosine).

Test: python -m pytest -q tests/test_runtime.py tests/test_resume.py
"""
import dataclasses
import inspect
import io
import math
import os
import random
import sys
import types
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist


# ----------------------------------------------------------------------------------------------------------------
# Options
# ----------------------------------------------------------------------------------------------------------------
def read(argv: list[str], prog: str) -> dict:
    """argv -> {key: raw value string, or None for a bare --key}, in order; the next word is a key's value unless it
    starts with "--". Raises SystemExit (one line) for a word that is not an option."""
    raw, i = {}, 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--") or arg == "--":
            sys.exit(f"{prog}: unexpected argument {arg!r}; options are --key=value")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            value = None
            if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                i, value = i + 1, argv[i + 1]
        raw[key], i = value, i + 1
    return raw


def convert(value: str | None, field: dataclasses.Field, default, prog: str):
    """The raw string of --<field.name> as the field's type; SystemExit naming the key when it does not parse."""
    kind = type(default) if default is not None else field.type
    if isinstance(kind, types.UnionType):                                 # "float | None": the other member
        kind = next(k for k in kind.__args__ if k is not type(None))
    try:
        if kind is bool:
            text = "true" if value is None else value.lower()
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return text in ("true", "1", "yes")
        if value is None:
            sys.exit(f"{prog}: --{field.name} needs a value (--{field.name}=...)")
        if default is None and value.lower() == "none":
            return None
        if kind is tuple:
            return tuple(int(v) for v in value.strip("()").split(",") if v.strip())
        return kind(value)
    except ValueError:
        sys.exit(f"{prog}: --{field.name}={value!r} is not a valid {kind.__name__}")


def parse(argv: list[str], *configs, prog: str, preset=None, extra: tuple = (), hints: dict | None = None):
    """Fill the dataclass instances `configs` from argv and return them (one, or a tuple of several).

    Each key goes to the first config that has that field. preset(raw) -> {field: value}, when given, is applied
    first (a named preset chosen from the raw options, e.g. by --dataset); keys in `extra` are accepted and left to
    the caller (read() returns them). hints[key] is added to the unknown-option message of that key."""
    raw = read(argv, prog)
    if "help" in raw:
        print(f"python {prog} [--key=value ...]; the fields and their defaults:\n")
        for cfg in configs:
            print(inspect.getsource(type(cfg)))
        sys.exit(0)
    owner = {f.name: (cfg, f) for cfg in reversed(configs) for f in dataclasses.fields(cfg)}
    for key in raw:
        if key not in owner and key not in extra:
            hint = f" ({hints[key]})" if key in (hints or {}) else ""
            sys.exit(f"{prog}: unknown option --{key}{hint}; valid: {', '.join([*extra, *owner])}")
    for key, value in (preset(raw) if preset else {}).items():
        setattr(owner[key][0], key, value)
    for key, value in raw.items():
        if key in owner:
            cfg, field = owner[key]
            setattr(cfg, key, convert(value, field, getattr(cfg, key), prog))
    return configs[0] if len(configs) == 1 else configs


def check_choices(cfg, prog: str, **choices) -> None:
    """SystemExit with one line naming every field of `cfg` whose value is not among its choices."""
    bad = [f"--{k} must be one of {list(v)}, got {getattr(cfg, k)!r}" for k, v in choices.items()
           if getattr(cfg, k) not in v]
    if bad:
        sys.exit(f"{prog}: " + "; ".join(bad))


# ----------------------------------------------------------------------------------------------------------------
# Devices and processes
# ----------------------------------------------------------------------------------------------------------------
def pick_device(name: str) -> torch.device:
    """"auto" -> cuda, then mps, then cpu; anything else as torch.device(name)."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def setup_distributed(device_name: str) -> tuple[torch.device, int, int]:
    """(device, rank, world). Under torchrun (WORLD_SIZE > 1) joins the process group: NCCL with GPU LOCAL_RANK when
    CUDA is there and `device_name` is auto or cuda, else gloo on the CPU. A plain run: (pick_device(device_name), 0,
    1)."""
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


_HELD_WORKS: list = []  # the handles of every gather_rng_states collective, kept for the life of the process


def finish_distributed(world: int) -> None:
    """End a torchrun run: a barrier (every rank past its last collective and rank 0's writes), then destroy the group.

    No sleep is needed before the destroy, and none would make it safe. ~ProcessGroupGloo joins gloo's worker threads
    with the GIL held, and a worker needs the GIL to drop the last reference to a finished work holding tensors made
    in Python (py-spy, the hang once seen in CI: ~AsyncAllgatherWork -> TensorImpl::decref_pyobject ->
    gil_scoped_acquire, in the worker of an all_gather_object, which drops its handles on return). gather_rng_states
    keeps its handles in _HELD_WORKS for the whole process, so no worker ever holds the last reference to them, whenever
    the group's threads are joined (here, or when its last owner, a DDP wrapper, goes); the barrier's and DDP's works
    hold only tensors made in C++."""
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


# ----------------------------------------------------------------------------------------------------------------
# Random states
# ----------------------------------------------------------------------------------------------------------------
def rng_state(device: torch.device) -> dict:
    """This process's random states: python, numpy's global MT19937 (as tensors and ints, so checkpoints load with
    weights_only=True), torch CPU and, on a GPU, the device's CUDA generator."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                       "cached_gaussian": float(cached)}}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    """Restore what rng_state saved (a state without "numpy" or "cuda" leaves that generator as it is)."""
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                             n["cached_gaussian"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def gather_rng_states(device: torch.device, world: int) -> list[dict]:
    """Every process's rng_state in rank order (a collective under torchrun: every rank calls it). Two all_gathers
    (byte counts, then the states as torch.save bytes padded to the longest) whose handles go to _HELD_WORKS, which
    is what keeps the DDP teardown from deadlocking (finish_distributed); dist.all_gather_object would drop them."""
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


# ----------------------------------------------------------------------------------------------------------------
# Weight averaging (the EMA that sampling uses)
# ----------------------------------------------------------------------------------------------------------------
def ema_decay(update: int, decay: float, warmup: bool = True) -> float:
    """The decay of the EMA's `update`-th update (int, 1 for the first).

    warmup=True is diffusers' EMAModel.get_decay (update_after_step=0, use_ema_warmup=False): 0.0 at the first update,
    so the average starts from the weights after one optimiser step, not from the random initialisation; then
    min(decay, (1 + n) / (10 + n)) with n = update - 1 (0.182, 0.25, 0.308, ...; 0.995 is reached at n = 1,790).
    warmup=False: `decay` from the first update, so after N updates the average still holds decay**N of the
    initialisation (0.995**400 = 13.5%). Raises ValueError when update < 1."""
    if update < 1:
        raise ValueError(f"ema_decay: update must be >= 1 (the first update is 1), got {update}")
    if not warmup:
        return decay
    n = update - 1
    return 0.0 if n == 0 else min(decay, (1 + n) / (10 + n))


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model for every parameter (one torch._foreach_lerp_ over the list, the
    same arithmetic as a lerp_ per tensor); buffers are copied. The two modules must have the same architecture."""
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


# ----------------------------------------------------------------------------------------------------------------
# Checkpoint files
# ----------------------------------------------------------------------------------------------------------------
def save_atomic(path, state) -> None:
    """torch.save to <path>.tmp, then rename over `path` (its folder made first): a killed save leaves the previous
    file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------------------------
# Staged training without the DDP wrapper (MoLingo's two stages: motion_ae.train_autoencoder, latent_ar_train.py)
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
    from data import EpochSampler                                                    # train.py's data order
    per_rank = math.ceil(num_items / world)
    per_epoch = per_rank // batch_size
    if per_epoch == 0:
        sys.exit(f"{num_items} training items over {world} process(es) give {per_rank} each, fewer than a batch of "
                 f"{batch_size}: lower the batch size")
    epoch, b = divmod(step, per_epoch)
    sampler = EpochSampler(num_items, rank, world, seed=seed)
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
