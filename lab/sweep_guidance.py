"""Choose the classifier-free guidance scale by measurement: the evaluation protocol over a grid of scales.

The guided x0 = uncond + w (cond - uncond) (unet.py forward_with_cfg) extrapolates past the conditional prediction;
StableMoFusion's w = 2.5 suits HumanML3D at its size, not necessarily another dataset or model: on the embedded
dataset's CPU default it drove backward walks at seven times the data's speed (issue 13). This script evaluates a
checkpoint with evaluate.py's protocol on the VALIDATION split (the test split is for the final table only) at each
guidance of --scales with CFG rescale off, then with CFG rescale (Lin et al. 2024, "Common Diffusion Noise Schedules
and Sample Steps are Flawed", sec. 3.4, phi = 0.7, applied to the guided x0) at the best two scales, --seeds
replications each with MultiModality at a smaller count (--mm, 20 captions x 10 repeats x 5 pairs), and writes a
Markdown table (FID, R-Precision top 3, skating ratio, root speed ratio, action success) to <ckpt dir>/sweep_guidance.md
and one result row per setting to results/guidance_sweep.csv (lab/results.py; --results='' writes none). "Best" = lowest
sum of ranks on FID, R-Precision top 3, action success and |log root speed ratio| (rank_settings).

    python -m lab.sweep_guidance --ckpt out/synthetic/ckpt.pt                 # 7 settings x 2 replications, val split
    python -m lab.sweep_guidance --ckpt out/synthetic/ckpt.pt --scales=1,2 --rescale=0 --seeds=1  # + EvalConfig fields
    python -m lab.sweep_guidance --ckpt out/synthetic/ckpt.pt --prompts_only      # issue 13's four prompts: root speed

After the sweep (or alone with --prompts_only) it samples --prompt_samples motions of each --prompts entry
("text:action") at 120 frames for every scale, with and without clamping x0 to the training range
(clip_denoised, diffusion.sample), and prints their mean root speed beside the mean over the train split's own
single-action clips of that action: what a user sees first when a scale over-drives the root.

Test: python -m pytest -q tests/test_realism.py -k sweep
"""
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import evaluate
import runtime
from lab import results as result_rows, tables
from evaluate import EvalConfig


@dataclass
class SweepConfig:
    scales: str = "1,1.5,2,2.5,3.5"   # guidance scales, comma-separated
    rescale: float = 0.7              # CFG rescale phi tried at the best two scales (0 skips that part)
    seeds: int = 2                    # replications per setting (evaluate.py seeds seed*1000+r)
    split: str = "val"                # never test: the choice is made on validation data
    prompts: str = ("a person walks backward:walk_backward,a person walks forward:walk,"
                    "a person jumps in place:jump,a man turns left:turn_left")   # "text:action" pairs
    prompt_samples: int = 4           # samples per prompt and setting (120 frames each)
    prompts_only: bool = False        # skip the evaluation sweep, print only the prompt table
    mm: str = "20,10,5"               # MultiModality captions,repeats,pairs per setting (a sweep's smaller count)
    results: str = "results"          # append each setting's result row to <results>/guidance_sweep.csv ('' = no)
    table: str = "guidance_sweep"     # the result table (CSV file name) the rows go to


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
    sweep.rescale at the best two (rank_settings), sweep.seeds replications each, MultiModality at sweep.mm. Writes
    <out_dir>/sweep_guidance.md (and each setting's eval files under <out_dir>/sweep/) and returns the table."""
    if sweep.split == "test":
        raise SystemExit("sweep_guidance.py: --split=test would choose the guidance on the test split; use val")
    try:
        scales = [float(g) for g in sweep.scales.split(",")]
    except ValueError:
        raise SystemExit(f"sweep_guidance.py: --scales={sweep.scales!r}: expected numbers separated by commas")
    out_dir = Path(cfg.out_dir or Path(cfg.ckpt).parent)
    try:
        mm = [int(v) for v in sweep.mm.split(",")] if sweep.mm != "0" else [0, cfg.mm_num_repeats, cfg.mm_num_times]
        assert len(mm) == 3 and (mm[0] == 0 or mm[1] > mm[2])
    except (ValueError, AssertionError):
        raise SystemExit(f"sweep_guidance.py: --mm must be captions,repeats,pairs with repeats > pairs (or 0), "
                         f"got {sweep.mm!r}")
    base = dataclasses.replace(cfg, split=sweep.split, replication_times=sweep.seeds, mm_num_samples=mm[0],
                               mm_num_repeats=mm[1], mm_num_times=mm[2], compare_split="")
    results, real, t0, rows = {}, None, time.time(), []
    ckpt = Path(cfg.ckpt)
    step = int(torch.load(ckpt, map_location="cpu", weights_only=True).get("step", 0)) if ckpt.is_file() else 0

    def run(g, phi):
        run_cfg = dataclasses.replace(base, guidance=g, guidance_rescale=phi,
                                      out_dir=str(out_dir / "sweep" / f"g{g:g}_phi{phi:g}"))
        res = evaluate.run_evaluation(run_cfg, gen)
        summary = {row: {m: (v["mean"], v["ci95"]) for m, v in vals.items()} for row, vals in res["summary"].items()}
        model = next(row for row in summary if row != "Real motion")
        results[(g, phi)] = summary[model]
        name = f"guidance {g:g}" + (f", CFG rescale {phi:g}" if phi else "")
        rows.append(result_rows.row_from_eval(res, model, table=sweep.table, row=name, seed=cfg.seed, steps=step,
                                              flags=f"--guidance={g:g} --guidance_rescale={phi:g}"))
        if not any(r["row"] == "Real motion" for r in rows):
            rows.append(result_rows.row_from_eval(res, "Real motion", table=sweep.table, row="Real motion",
                                                  seed=cfg.seed, steps=0))
        return summary["Real motion"]

    for g in scales:
        real = run(g, 0.0)
    if sweep.rescale > 0:
        for g, _ in rank_settings(results)[:2]:
            run(g, sweep.rescale)
    best = rank_settings(results)
    lines = [f"**Guidance sweep: {gen.dataset} {sweep.split} split, mean over {sweep.seeds} replications per setting, "
             f"{time.time() - t0:.0f} s**", "", "| guidance | CFG rescale | " + " | ".join(h for _, h in SWEEP) +
             " | rank |", "|---" * (len(SWEEP) + 3) + "|"]
    for k in sorted(results):
        cells = [f"{results[k][m][0]:.3f}" if m in results[k] else "-" for m, _ in SWEEP]  # mean over R seeds
        lines.append(f"| {k[0]:g} | {k[1]:g} | " + " | ".join(cells) + f" | {best.index(k) + 1} |")
    cells = [f"{real[m][0]:.3f}" if m in real else "-" for m, _ in SWEEP]
    lines.append("| real motion | - | " + " | ".join(cells) + " | - |")
    lines += ["", f"Best by summed ranks (FID, R-Precision top 3, action success, |log root speed ratio|): guidance "
                  f"{best[0][0]:g}, CFG rescale {best[0][1]:g}. Set it with train.py's --guidance / --guidance_rescale "
                  f"(or sample.py / evaluate.py --guidance)."]
    table = "\n".join(lines) + "\n"
    if sweep.results:
        result_rows.append_rows(Path(sweep.results) / f"{sweep.table}.csv", rows)
        (Path(sweep.results) / "RESULTS.md").write_text(tables.render(sweep.results))
    (out_dir / "sweep_guidance.md").write_text(table)
    print(table + f"written: {out_dir / 'sweep_guidance.md'}")
    return table


def prompt_speeds(gen, sweep: SweepConfig, seed: int = 0) -> str:
    """Mean horizontal root speed (m/s, realism.root_speed) of sweep.prompt_samples generated motions of each prompt
    at 120 frames, for every scale of sweep.scales with clip_denoised on and off, against the mean over the train
    split's single-action clips of that action (action_checks.single_action_label). Returns a Markdown table."""
    from synthetic.action_checks import single_action_label
    from data import load_split
    from motion import recover_from_ric
    from realism import root_speed
    pairs = [p.rsplit(":", 1) for p in sweep.prompts.split(",")]
    root = Path(gen.data_root)
    speeds = {}
    for item in load_split(root, "train", gen.info):
        label = single_action_label(root / "frame_labels" / f"{item['name']}.json")
        speeds.setdefault(label, []).append(root_speed(recover_from_ric(item["motion"], gen.info.joints_num)))
    scales = [float(g) for g in sweep.scales.split(",")]
    lines = ["| guidance | clamp x0 | " + " | ".join(f"{text} (data {np.mean(speeds.get(a, [np.nan])):.2f})"
                                                     for text, a in pairs) + " |", "|---" * (len(pairs) + 2) + "|"]
    clamps = (True, False) if getattr(gen, "clamps_x0", False) else (None,)  # latent_ar has no x0 clamp
    for g in scales:
        for clip in clamps:
            cells = []
            for text, _ in pairs:
                extra = {} if clip is None else {"clip_denoised": clip}
                x = gen.generate([text] * sweep.prompt_samples, [120] * sweep.prompt_samples, guidance=g,
                                 seed=seed, **extra)
                joints = [recover_from_ric(f, gen.info.joints_num) for f in gen.denormalize(x)]
                cells.append(f"{np.mean([root_speed(j) for j in joints]):.2f}")
            clamp = "n/a" if clip is None else "yes" if clip else "no"
            lines.append(f"| {g:g} | {clamp} | " + " | ".join(cells) + " |")
    table = "Mean root speed (m/s), " + f"{sweep.prompt_samples} samples a prompt, 120 frames\n\n" + "\n".join(lines)
    print(table, flush=True)
    return table + "\n"


def main(argv: list[str]) -> None:
    cfg, sweep = runtime.parse(argv, EvalConfig(), SweepConfig(), prog="lab/sweep_guidance.py")
    if not cfg.ckpt:
        raise SystemExit("sweep_guidance.py: --ckpt is required (the train.py checkpoint whose guidance is chosen)")
    from sample import load_generator
    gen = load_generator(cfg.ckpt, cfg.device)
    if not sweep.prompts_only:
        sweep_guidance(cfg, sweep, gen)
    out = Path(cfg.out_dir or Path(cfg.ckpt).parent) / "prompt_speeds.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(prompt_speeds(gen, sweep, cfg.seed))
    print(f"written: {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
