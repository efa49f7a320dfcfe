"""The U-Net's training step alone, timed per preset, batch size and precision: x0 prediction at a random t, MSE over
every frame, fused AdamW (train.py's step without data loading, text cache, EMA or the methods' extra losses).

It needs no dataset, no text encoder and no MoCLIP (random motion and text features of the embedded dataset's shapes:
T=196 frames, D=263, L=20 tokens of C=384), so it runs on a bare accelerator machine straight from the tree. It
answers where a step's time goes on a GPU: a time that stays flat from the CPU preset (2.3M parameters) to the paper
preset (299M) is the host's per-operation overhead, not arithmetic.

    python -m lab.unet_step                                   # the default cases on the auto device
    python -m lab.unet_step --device=cpu --cases=cpu:32:fp32 --steps=5 --warmup=1

Cases are preset:batch:precision (unet.PRESETS; fp32 or bf16 autocast). Prints one Markdown table (ms/step is the
mean over --steps after --warmup untimed steps, synchronised at both ends) and writes it to <out_dir>/unet_step.md.
Test: python -m pytest tests/test_experiments.py -q -k unet_step
"""
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

import runtime
from lab.results import machine
from unet import PRESETS, CondUnet1D


@dataclass
class StepConfig:
    cases: str = "cpu:32:fp32,cpu:32:bf16,cpu:128:fp32,paper:64:fp32,paper:64:bf16"  # preset:batch:precision, ...
    device: str = "auto"              # auto -> cuda, then mps, then cpu (runtime.pick_device)
    steps: int = 60                   # timed steps per case
    warmup: int = 15                  # untimed steps first (allocator growth, kernel selection)
    frames: int = 196                 # T (HumanML3D's maximum)
    out_dir: str = "out/unet_step"    # unet_step.md goes here
    seed: int = 0                     # torch seed of each case's weights and inputs


def parse_case(case: str) -> tuple[str, int, str]:
    """'preset:batch:precision' -> (preset, batch, precision); ValueError naming the case and the valid values."""
    parts = case.strip().split(":")
    if len(parts) != 3 or parts[0] not in PRESETS or not parts[1].isdigit() or parts[2] not in ("fp32", "bf16"):
        raise ValueError(f"unet_step: case {case!r} is not preset:batch:precision with preset in {sorted(PRESETS)}, "
                         "batch a positive integer and precision fp32 or bf16")
    return parts[0], int(parts[1]), parts[2]


def step_time(preset: str, batch: int, precision: str, cfg: StepConfig, device: torch.device) -> dict:
    """Mean seconds of one training step of CondUnet1D(**PRESETS[preset]) on (batch, cfg.frames, 263) inputs."""
    torch.manual_seed(cfg.seed)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)                                   # each case's own peak
    model = CondUnet1D(input_dim=263, text_dim=384, **PRESETS[preset]).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type in ("cpu", "cuda"))
    x0 = torch.randn(batch, cfg.frames, 263, device=device)                          # (B, T, D)
    text = torch.randn(batch, 20, 384, device=device)                                # (B, L, C)
    text_mask = torch.ones(batch, 20, dtype=torch.bool, device=device)               # (B, L)

    def step():
        t = torch.randint(0, 1000, (batch,), device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            x0_pred = model(x0 + torch.randn_like(x0), t, text, text_mask)
        loss = F.mse_loss(x0_pred.float(), x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(cfg.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(cfg.steps):
        step()
    sync()
    seconds = (time.perf_counter() - t0) / cfg.steps
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return {"params_m": sum(p.numel() for p in model.parameters()) / 1e6, "ms": seconds * 1000, "peak_gib": peak}


def main(argv: list[str]) -> str:
    cfg = runtime.parse(argv, StepConfig(), prog="lab/unet_step.py")
    try:
        cases = [parse_case(c) for c in cfg.cases.split(",")]
    except ValueError as e:
        raise SystemExit(str(e))
    device = runtime.pick_device(cfg.device)
    lines = [f"U-Net training step alone ({machine()}, device {device}, {torch.get_num_threads()} CPU threads; "
             f"T={cfg.frames}, {cfg.steps} timed steps after {cfg.warmup})", "",
             "| preset | batch | precision | parameters (M) | ms/step | samples/s | peak GiB |", "|---|---|---|---|---|---|---|"]
    for preset, batch, precision in cases:
        r = step_time(preset, batch, precision, cfg, device)
        lines.append(f"| {preset} | {batch} | {precision} | {r['params_m']:.1f} | {r['ms']:.1f} | "
                     f"{batch * 1000 / r['ms']:.1f} | {r['peak_gib']:.1f} |")
        print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    Path(cfg.out_dir).mkdir(parents=True, exist_ok=True)
    (Path(cfg.out_dir) / "unet_step.md").write_text(table)
    print(table)
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
