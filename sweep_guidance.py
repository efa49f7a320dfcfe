"""Choose the classifier-free guidance scale by measurement: the evaluation protocol over a grid of scales.

The guided x0 = uncond + w (cond - uncond) (unet.py forward_with_cfg) extrapolates past the conditional prediction;
StableMoFusion's w = 2.5 suits HumanML3D at its size, not necessarily another dataset or model: on the embedded
dataset's CPU default it drove backward walks at seven times the data's speed (issue 13). This script evaluates a
checkpoint with evaluate.py's protocol on the VALIDATION split (the test split is for the final table only) at each
guidance of --scales with CFG rescale off, then with CFG rescale (Lin et al. 2024, "Common Diffusion Noise Schedules
and Sample Steps are Flawed", sec. 3.4, phi = 0.7, applied to the guided x0) at the best two scales, --seeds
replications each and no MultiModality, and writes a Markdown table (FID, R-Precision top 3, skating ratio, root
speed ratio, action success) to <ckpt dir>/sweep_guidance.md. "Best" = lowest sum of ranks on FID, R-Precision top 3,
action success and |log root speed ratio| (rank_settings).

    python sweep_guidance.py --ckpt out/synthetic/ckpt.pt                 # 7 settings x 2 seeds on the val split
    python sweep_guidance.py --ckpt out/synthetic/ckpt.pt --scales=1,2 --rescale=0 --seeds=1  # + any EvalConfig field

Test: python -m pytest -q tests/test_realism.py -k sweep
"""
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import evaluate
from evaluate import EvalConfig


@dataclass
class SweepConfig:
    scales: str = "1,1.5,2,2.5,3.5"   # guidance scales, comma-separated
    rescale: float = 0.7              # CFG rescale phi tried at the best two scales (0 skips that part)
    seeds: int = 2                    # replications (seeds) per setting
    split: str = "val"                # never test: the choice is made on validation data


SWEEP = [("FID", "FID ↓"), ("R_precision_top3", "R-Precision Top 3 ↑"), ("skating_ratio", "Skating ratio ↓"),
         ("root_speed_ratio", "Root speed ratio →1"), ("action_success", "Action success ↑")]


def rank_settings(results: dict) -> list:
    """Settings ordered best first by the sum of their ranks on FID (lower), R-Precision top 3 (higher), action
    success (higher) and |log root speed ratio| (closer to 1); metrics a dataset lacks are left out.
    results: {setting: {metric: (mean, ci)}}."""
    keys = list(results)
    score = np.zeros(len(keys))
    for m, sign in (("FID", 1), ("R_precision_top3", -1), ("action_success", -1), ("root_speed_ratio", 0)):
        if all(m in results[k] for k in keys):
            v = np.array([results[k][m][0] for k in keys])
            v = np.abs(np.log(np.maximum(v, 1e-9))) if sign == 0 else sign * v
            score += np.argsort(np.argsort(v))
    return [keys[i] for i in np.argsort(score, kind="stable")]


def sweep_guidance(cfg: EvalConfig, sweep: SweepConfig, gen) -> str:
    """Evaluate `gen` on sweep.split at each guidance of sweep.scales (rescale off), then with CFG rescale
    sweep.rescale at the best two (rank_settings), sweep.seeds replications each, no MultiModality. Writes
    <out_dir>/sweep_guidance.md (and each setting's eval files under <out_dir>/sweep/) and returns the table."""
    if sweep.split == "test":
        raise SystemExit("sweep_guidance.py: --split=test would choose the guidance on the test split; use val")
    try:
        scales = [float(g) for g in sweep.scales.split(",")]
    except ValueError:
        raise SystemExit(f"sweep_guidance.py: --scales={sweep.scales!r}: expected numbers separated by commas")
    out_dir = Path(cfg.out_dir or Path(cfg.ckpt).parent)
    base = dataclasses.replace(cfg, split=sweep.split, replication_times=sweep.seeds, mm_num_samples=0,
                               compare_split="")
    results, real, t0 = {}, None, time.time()

    def run(g, phi):
        run_cfg = dataclasses.replace(base, guidance=g, guidance_rescale=phi,
                                      out_dir=str(out_dir / "sweep" / f"g{g:g}_phi{phi:g}"))
        res = evaluate.run_evaluation(run_cfg, gen)
        summary = {row: {m: (v["mean"], v["ci95"]) for m, v in vals.items()} for row, vals in res["summary"].items()}
        results[(g, phi)] = next(v for row, v in summary.items() if row != "Real motion")
        return summary["Real motion"]

    for g in scales:
        real = run(g, 0.0)
    if sweep.rescale > 0:
        for g, _ in rank_settings(results)[:2]:
            run(g, sweep.rescale)
    best = rank_settings(results)
    lines = [f"**Guidance sweep: {gen.dataset} {sweep.split} split, {sweep.seeds} seeds per setting, "
             f"{time.time() - t0:.0f} s**", "", "| guidance | CFG rescale | " + " | ".join(h for _, h in SWEEP) +
             " | rank |", "|---" * (len(SWEEP) + 3) + "|"]
    for k in sorted(results):
        cells = [f"{results[k][m][0]:.3f}±{results[k][m][1]:.3f}" if m in results[k] else "-" for m, _ in SWEEP]
        lines.append(f"| {k[0]:g} | {k[1]:g} | " + " | ".join(cells) + f" | {best.index(k) + 1} |")
    cells = [f"{real[m][0]:.3f}" if m in real else "-" for m, _ in SWEEP]
    lines.append("| real motion | - | " + " | ".join(cells) + " | - |")
    lines += ["", f"Best by summed ranks (FID, R-Precision top 3, action success, |log root speed ratio|): guidance "
                  f"{best[0][0]:g}, CFG rescale {best[0][1]:g}. Set it with train.py's --guidance / --guidance_rescale "
                  f"(or sample.py / evaluate.py --guidance)."]
    table = "\n".join(lines) + "\n"
    (out_dir / "sweep_guidance.md").write_text(table)
    print(table + f"written: {out_dir / 'sweep_guidance.md'}")
    return table


def main(argv: list[str]) -> None:
    cfg, sweep = evaluate.parse_config(argv, (EvalConfig(), SweepConfig()), prog="sweep_guidance.py")
    if not cfg.ckpt:
        raise SystemExit("sweep_guidance.py: --ckpt is required (the train.py checkpoint whose guidance is chosen)")
    from sample import load_generator
    sweep_guidance(cfg, sweep, load_generator(cfg.ckpt, cfg.device))


if __name__ == "__main__":
    main(sys.argv[1:])
