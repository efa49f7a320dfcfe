"""Training-step time of each method, measured side by side: the ratios LUMA (issue 7: <= 1.10x) and ATM (issue 8:
<= 1.15x) promise against the anchor-free baseline.

Each round runs `train.py --steps=N` once per method, one after another in the same order, and reads the ms/step of
its log lines after the first (the first interval holds warm-up: allocator growth, first-touch of the text cache).
Rounds interleave the methods, so a slow spell of a shared machine hits every method alike; the ratio of each round
is reported with the mean. MoCLIP must exist already (--moclip): its one-off training is not a step cost.

    python -m lab.benchmark --moclip=checkpoints/moclip/synthetic_seed0.pt                       # CPU preset
    python -m lab.benchmark --moclip=... --train_args="--base_dim=512 --dim_mults=2,2,2,2 --time_dim=512
        --text_latent_dim=256 --text_layers=4 --batch_size=4" --steps=6 --log_every=2           # the paper's U-Net
"""
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import runtime

ROOT = Path(__file__).resolve().parents[1]  # the repository root


@dataclass
class BenchConfig:
    methods: str = "baseline,luma,atm,luma+atm"   # train.py --method values; the first is the reference
    moclip: str = "checkpoints/moclip/synthetic_seed0.pt"  # an existing MoCLIP checkpoint (methods other than baseline)
    steps: int = 60                   # steps per run
    log_every: int = 20               # steps per log line; the first line is dropped as warm-up
    rounds: int = 2                   # interleaved rounds
    train_args: str = ""              # extra train.py flags for every run (model size, batch size, ...)
    out_dir: str = "out/benchmark"    # runs write their checkpoints here


def step_ms(log: str) -> float:
    """Mean ms/step of train.py's log lines after the first. Raises ValueError when fewer than two lines exist."""
    ms = [float(m) for m in re.findall(r"\| ([\d.]+) ms/step", log)]
    if len(ms) < 2:
        raise ValueError(f"benchmark.py: need at least two log lines with ms/step, got {len(ms)}")
    return float(np.mean(ms[1:]))


def run(cfg: BenchConfig, method: str) -> float:
    args = [sys.executable, str(ROOT / "train.py"), f"--method={method}", f"--steps={cfg.steps}",
            f"--log_every={cfg.log_every}", f"--save_every={cfg.steps}", f"--out_dir={cfg.out_dir}/{method}",
            *([f"--moclip={cfg.moclip}"] if method != "baseline" else []), *cfg.train_args.split()]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark.py: {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return step_ms(proc.stdout)


def main(argv: list[str]) -> None:
    cfg = runtime.parse(argv, BenchConfig(), prog="lab/benchmark.py")
    methods = cfg.methods.split(",")
    if any(m != "baseline" for m in methods) and not Path(cfg.moclip).is_file():
        raise SystemExit(f"benchmark.py: --moclip={cfg.moclip} does not exist; train one with python moclip.py")
    times, t0 = {m: [] for m in methods}, time.time()
    for r in range(cfg.rounds):
        for m in methods:
            times[m].append(run(cfg, m))
            print(f"round {r + 1}/{cfg.rounds} {m}: {times[m][-1]:.1f} ms/step", flush=True)
    ref = np.array(times[methods[0]])
    lines = [f"Training step, {cfg.steps} steps a run ({cfg.train_args or 'CPU preset'}), {cfg.rounds} interleaved "
             f"rounds, {time.time() - t0:.0f} s", "", f"| method | ms/step (mean) | ratio to {methods[0]} per round | "
             "ratio (mean) |", "|---|---|---|---|"]
    for m in methods:
        ratios = np.array(times[m]) / ref
        lines.append(f"| {m} | {np.mean(times[m]):.1f} | {', '.join(f'{x:.3f}' for x in ratios)} | "
                     f"{ratios.mean():.3f} |")
    table = "\n".join(lines) + "\n"
    Path(cfg.out_dir).mkdir(parents=True, exist_ok=True)
    (Path(cfg.out_dir) / "step_time.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main(sys.argv[1:])
