"""Miniature versions of the papers' result tables and convergence curve: train each row with train.py, evaluate it
with evaluate.py, collect everything in one CSV per table and a Markdown summary over seeds.

Tables (named below, plain Python): LUMA (arXiv 2509.25304) Table 2 core components, Table 3 anchor location and
DCT k, Table 4 anchor weighting, Fig. 4 convergence; ATM Tables 3-5 (loss terms, margin, variants); MoLingo's
comparison (latent_ar). Each (table, row, seed) trains into <out>/<table>/<row_slug>_seed<s>/ as

    python train.py <budget flag(s)>=<steps> <--train_args> <row flags> --seed=<s> --out_dir=<run dir>
    python evaluate.py --ckpt=<run dir>/ckpt.pt --split=<split> --replication_times=<reps> --mm_num_samples=<n> \
        --mm_num_repeats=<r> --mm_num_times=<p> --out_dir=<run dir>/eval_step<steps>   # per split (test, test_novel)
and appends one result row per split to results/<table>.csv (lab/results.py's format: method, seed, steps, split,
replications, guidance, clamp, every metric under its stable name, per-action columns, git commit, evaluator sha256,
date, machine, train_s, loop_s, eval_s, flags). A (row, seed, steps, split) already in the CSV is skipped, so a table
is completed across sessions; a checkpoint of the same budget that stopped short is resumed exactly (--resume).
After every run results/RESULTS.md is regenerated (lab/tables.py). Changing a row's flags means renaming the row (or
removing its CSV lines). MultiModality runs in every generated row (--mm, StableMoFusion's 100 x 30 x 10 by default;
a smaller count is written in each row and shown in the tables).

Convergence (LUMA sec. 4.2, Fig. 4): Baseline and LUMA, per seed, trained in segments of M steps (--segment):
--steps=M, evaluate, --resume --steps=2M, evaluate, ... up to the budget, always with --anchor_decay_steps=<budget>,
so the segmented run ends with the weights of one uninterrupted run (train.py's exact resume; the lr schedule is
step-based, stretched to the budget: --lr_decay_every=<budget>/6, the default's six decays). Each evaluated segment's
checkpoint stays as <run dir>/ckpt_step<steps>.pt (sample.py, evaluate.py --foot_cleanup read it later). train_s: the
processes' wall time (startup, data, LUMA's first MoCLIP training included); loop_s: the training loop alone, from
train.py's "ms/step" log lines; both cumulative. Reported: the first step at which LUMA's FID reaches the baseline's
final FID (interpolated linearly between evaluations) over the step at which the baseline first reaches it (its last
step for a decreasing curve), per seed and for the mean curves (paper: 35k / 50k = 0.7), in results/RESULTS.md;
results/convergence.png: FID vs steps and vs loop wall-clock, strict action success vs steps, seed mean thick, seeds
thin. One table holds one budget's curve: its rows record the budget's flags (--anchor_decay_steps, --lr_decay_every)
and a run towards another budget is refused; `convergence` holds the 4,000-step curve, `convergence_long` (the same
rows, results/convergence_long.csv and .png) the 8,000-step one (issue 22 item 3).

    python -m lab.experiments --table=luma_table2 --rows=all --seeds=0,1 --steps=400 --reps=1
    python -m lab.experiments --table=luma_ablation --rows="w/o FiLM,baseline" --train_args="--batch_size=32"
    python -m lab.experiments --table=convergence_long --steps=8000 --segment=1000 --seeds=0,1 --mm=0
    python -m lab.experiments --table=atm_table5 --dry_run      # print the commands only

The comparison (issue 22): baseline, luma, atm, luma+atm and latent_ar at one budget, each U-Net row's lr schedule
stretched to it, latent_ar's two stages <budget> steps each (the same number of generator steps; its cosine already
ends at the budget). On one GPU the 15 runs go side by side as processes (--jobs; each chain of a run's segments stays
in order, the CSV has one writer at a time); the evaluator checkpoint, the dataset and the text-feature cache travel
with the tree (checkpoints/, dataset/, cache/), so nothing is downloaded:

    OMP_NUM_THREADS=1 python -m lab.experiments --table=comparison --seeds=0,1,2 --steps=4000 --jobs=15 --mm=0 \
        --train_args="--device=cuda" --eval_args="--device=cuda"
Tried once at --steps=7000 on one H200 with CUDA MPS on (results/gpu_h200.md): no run finished in 9 minutes, the
table needs about 21 there; each process's step is bound by the host (~96 ms for the U-Net step alone at any size).
Subprocesses inherit the environment (OMP_NUM_THREADS included). Test: python -m pytest tests/test_experiments.py -q
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import runtime
from lab import results, tables

ROOT = Path(__file__).resolve().parents[1]  # the repository root
LUMA = ["--method=luma"]
ATM = ["--method=atm"]
LATENT_AR = ["--method=latent_ar"]

# table -> {"rows": {row name: train.py flags}, optional "budget": {method: budget flags} ("" = any other method; a
# row's own flags override its budget flags), "segmented": convergence runs, "compare": (reference row, method row)}
TABLES = {
    "luma_table2": {"rows": {                                   # LUMA Table 2: core components
        "LUMA (full)": LUMA,
        "w/o L_tem": LUMA + ["--anchor_tem=False"],
        "w/o L_fre": LUMA + ["--anchor_fre=False"],
        "w/o DAL (MoCLIP text only)": LUMA + ["--anchor_fre=False", "--anchor_tem=False"],
        "w/o MoCLIP": LUMA + ["--moclip_text=False"],
        "w/o FiLM": LUMA + ["--anchor_film=False"],
        "Baseline": ["--method=baseline"]}},
    "luma_table3": {"rows": {                                   # LUMA Table 3: anchor location, DCT k
        "Down-block1": LUMA + ["--anchor_level=down1"],
        "Down-block2": LUMA + ["--anchor_level=down2"],
        "Down-block3, k=64 (LUMA)": LUMA + ["--anchor_level=down3", "--dct_k=64"],
        "Bottleneck": LUMA + ["--anchor_level=mid"],
        "Down-block0 (input level)": LUMA + ["--anchor_level=down0"],
        **{f"DCT k={k}": LUMA + [f"--dct_k={k}"] for k in (8, 16, 32, 128)}}},
    "luma_table4": {"rows": {                                   # LUMA Table 4: anchor weighting
        "Static (fixed)": LUMA + ["--anchor_weighting=static"],
        "Learnable (global)": LUMA + ["--anchor_weighting=learnable"],
        "Dynamic (cosine)": LUMA + ["--anchor_weighting=cosine"]}},
    "atm_table3": {"rows": {                                    # ATM Table 3: loss terms
        "L_mse only": ["--method=baseline"],
        "+L_inter": ATM + ["--atm_intra=False"],
        "+L_intra": ATM + ["--atm_inter=False"],
        "both": ATM}},
    "atm_table4": {"rows": {f"margin {m}": ATM + [f"--atm_margin={m}"] for m in ("adaptive", 1, 5, 10, 20)}},
    "atm_table5": {"rows": {v: ATM + [f"--atm_variant={v}", "--atm_intra=False"]   # ATM Table 5: L_inter variants
                            for v in ("atm", "contrastive", "triplet", "hard_triplet", "drop_triplet")}},
    "latent_ar": {"rows": {                                     # MoLingo's comparison
        "aligned, cross": LATENT_AR,
        "aligned, cross, fixed means": LATENT_AR + ["--gen_latents=means"],
        "unaligned": LATENT_AR + ["--align_weight=0"],
        "single-token": LATENT_AR + ["--text_cond=single"],
        "Baseline": ["--method=baseline"],
        "LUMA": LUMA},
        "budget": {"": ("steps",), "latent_ar": ("ae_steps", "gen_steps")}},
    "convergence": {"rows": {"Baseline": ["--method=baseline"], "LUMA": LUMA},   # LUMA Fig. 4, a 4,000-step budget
                    "segmented": True, "compare": ("Baseline", "LUMA"), "scale_lr": True},
    "convergence_long": {"rows": {"Baseline": ["--method=baseline"], "LUMA": LUMA},   # the same to 8,000 steps
                         "segmented": True, "compare": ("Baseline", "LUMA"), "scale_lr": True},
    "comparison": {"rows": {                                    # issue 22: the five methods at one budget
        "Baseline": ["--method=baseline"],
        "LUMA": LUMA,
        "ATM": ATM,
        "LUMA+ATM": ["--method=luma+atm"],
        "latent_ar (MoLingo)": LATENT_AR},                      # each of its two stages trains <budget> steps
        "budget": {"": ("steps",), "latent_ar": ("ae_steps", "gen_steps")}, "scale_lr": True},
    "default_budget": {"rows": {                                # issue 22 item 5: the default's 38,400 samples
        "LUMA batch 32 (default)": LUMA,                        # run with --steps=1200
        "LUMA batch 16": LUMA + ["--batch_size=16"]},           # run with --steps=2400: the same samples
        "scale_lr": True},
    "planted_feet": {"rows": {                                  # issue 20: MDM's L_foot in training
        "LUMA + L_foot (lambda 100)": LUMA + ["--lambda_foot=100"]}, "scale_lr": True},
}
GROUPS = {"luma_ablation": ["luma_table2", "luma_table3", "luma_table4"],
          "atm_ablation": ["atm_table3", "atm_table4", "atm_table5"]}
@dataclass
class ExperimentsConfig:
    table: str = "luma_table2"        # a table of TABLES, a group of GROUPS (luma_ablation, atm_ablation), or a list
    rows: str = "all"                 # comma list of row names or slugs, or all
    seeds: str = "0"                  # comma list of train.py --seed values
    steps: int = 1200                 # budget per run (the table's budget flag(s)); convergence: the last segment
    segment: int = 0                  # convergence: evaluate every M steps (0 -> steps // 4)
    reps: int = 1                     # evaluate.py --replication_times
    splits: str = "test,test_novel"   # evaluate.py --split values
    train_args: str = ""              # extra train.py flags for every row, e.g. "--batch_size=32 --device=cuda"
    eval_args: str = ""               # extra evaluate.py flags, e.g. "--device=cuda"
    mm: str = "100,30,10"             # MultiModality captions,repeats,pairs (StableMoFusion's); "0" skips it
    out: str = "out/experiments"      # run directories (checkpoints, logs, evaluate.py's JSON)
    results: str = "results"          # result CSV files (lab/results.py), RESULTS.md and convergence.png
    python: str = sys.executable      # interpreter for the subprocesses
    jobs: int = 1                     # (row, seed) runs side by side as processes (one GPU: --jobs=15, see below)
    dry_run: bool = False             # print the commands, run nothing


def parse_config(argv: list[str]) -> ExperimentsConfig:
    """ExperimentsConfig from `--key=value` options (runtime.py); SystemExit naming an unknown key or a bad value."""
    return runtime.parse(argv, ExperimentsConfig(), prog="lab/experiments.py")


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def merge_flags(*lists: list[str]) -> list[str]:
    """--key=value lists merged by key, a later list winning (row flags over --train_args over the budget)."""
    merged: dict[str, str] = {}
    for flags in lists:
        for f in flags:
            merged[f.removeprefix("--").partition("=")[0]] = f
    return list(merged.values())


def select_rows(table: str, rows: str) -> list[str]:
    """The rows of `table` named (or slugged) in the comma list `rows`, in table order; all of them for 'all'."""
    wanted = {slug(r) for r in rows.split(",")}
    return [n for n in TABLES[table]["rows"] if rows == "all" or slug(n) in wanted]


# ----------------------------------------------------------------------------------------------------------------
# Planning: which runs, which commands (pure, so --dry_run and the tests see what a session would do)
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class Job:
    table: str
    row: str
    seed: int
    steps: int
    run_dir: Path
    train_cmd: list[str] | None                    # None: the checkpoint is already at `steps`
    eval_cmds: dict[str, list[str]] = field(default_factory=dict)
    resume: bool = False
    note: str = ""
    schedule: list[str] = field(default_factory=list)   # segmented tables: the budget's flags, kept in the row


def ckpt_state(run_dir: Path) -> tuple[int, dict] | None:
    """(step, config) of <run_dir>/ckpt.pt, or None when there is none. A latent_ar run stopped in its first stage has
    only ae.pt: (0, its config), so the run is continued with --resume (motion_ae.train_autoencoder resumes an
    unfinished ae.pt only then; without it the autoencoder would start over)."""
    import torch
    path, ae = Path(run_dir) / "ckpt.pt", Path(run_dir) / "ae.pt"
    if path.is_file():
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        return int(ckpt.get("step", 0)), dict(ckpt.get("config", {}))
    if ae.is_file():                                   # generator step 0: stage 2 has not saved yet
        return 0, dict(torch.load(ae, map_location="cpu", weights_only=True).get("config", {}))
    return None


def mm_flags(mm: str) -> list[str]:
    """'captions,repeats,pairs' (or '0') -> evaluate.py's MultiModality flags. SystemExit on another form."""
    parts = [p for p in mm.split(",") if p.strip()]
    if parts == ["0"]:
        return ["--mm_num_samples=0"]
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts) or int(parts[1]) <= int(parts[2]):
        sys.exit(f"experiments.py: --mm must be captions,repeats,pairs with repeats > pairs (or 0), got {mm!r}")
    return [f"--mm_num_{k}={v.strip()}" for k, v in zip(("samples", "repeats", "times"), parts)]


def lr_decay_every(budget: int) -> int:
    """train.py's --lr_decay_every scaled to a run of `budget` steps: the default's schedule (x0.9 every 200 of 1,200
    steps, six decays) stretched, so a long run decays as often over its length as the default does (issue 22)."""
    import train
    return max(1, round(train.TrainConfig.lr_decay_every * budget / train.TrainConfig.steps))


def budget_of(row: dict) -> int | None:
    """The budget a segmented table's result row was trained towards: the --anchor_decay_steps of its `flags`
    column (None when the row does not record one)."""
    m = re.search(r"--anchor_decay_steps=(\d+)", row.get("flags", ""))
    return int(m.group(1)) if m else None


def check_budget(table: str, rows: list[dict], budget: int) -> None:
    """A segmented table's CSV holds one curve, so one budget (the lr schedule and zeta's N are stretched to it):
    SystemExit when `rows` (the table's lines) were trained towards another budget or do not record theirs."""
    other = sorted({str(budget_of(r) or "an unrecorded number of") for r in rows if budget_of(r) != budget})
    if other:
        sys.exit(f"experiments.py: results/{table}.csv holds a curve trained towards {', '.join(other)} steps "
                 f"(--anchor_decay_steps in its flags column), not --steps={budget}: one table holds one budget's "
                 f"curve. Extend it with its own --steps, or give the new budget a table of its own"
                 f"{' (--table=convergence_long)' if table == 'convergence' else ''}: a segmented entry of "
                 f"lab/experiments.py's TABLES, named in lab/tables.py's CURVES.")


def plan(cfg: ExperimentsConfig, table: str, done: set, state=ckpt_state) -> list[Job]:
    """Jobs for one table in order; `done` holds (row, seed, steps, split) already in the CSV; state(run_dir) gives
    (step, config) of its checkpoint or None."""
    spec, splits, seg = TABLES[table], [s for s in cfg.splits.split(",") if s], TABLES[table].get("segmented")
    m = cfg.segment or max(cfg.steps // 4, 1)
    targets = sorted({*range(m, cfg.steps, m), cfg.steps}) if seg else [cfg.steps]
    jobs = []
    for row in select_rows(table, cfg.rows):
        flags = spec["rows"][row]
        method = next((f.partition("=")[2] for f in flags if f.startswith("--method=")), "baseline")
        budget_names = spec.get("budget", {}).get(method) or spec.get("budget", {}).get("", ("steps",))
        for seed in [int(s) for s in cfg.seeds.split(",") if s.strip()]:
            run_dir = Path(cfg.out) / table / f"{slug(row)}_seed{seed}"
            missing = {s: [sp for sp in splits if (row, seed, s, sp) not in done] for s in targets}
            if not any(missing.values()):
                continue
            step, config = state(run_dir) or (None, {})      # where the run directory's checkpoint is
            same = config.get("anchor_decay_steps" if seg else budget_names[-1]) == cfg.steps and \
                config.get("seed") == seed
            current = step if same else None                   # else: a fresh run overwrites it
            schedule = ([f"--anchor_decay_steps={cfg.steps}"] if seg else []) + \
                ([f"--lr_decay_every={lr_decay_every(cfg.steps)}"] if spec.get("scale_lr") and method != "latent_ar"
                 else [])                                      # latent_ar's cosine already ends at its budget
            fixed = [f"--seed={seed}", f"--out_dir={run_dir}"] + schedule
            for steps in [s for s in targets if missing[s]]:  # a segment already in the CSV is trained through
                job = Job(table, row, seed, steps, run_dir, None, resume=current is not None,
                          schedule=schedule if seg else [])
                if current is not None and current > steps:
                    job.note = f"checkpoint already at step {current}: step {steps} cannot be evaluated any more"
                elif current != steps:
                    job.train_cmd = [cfg.python, str(ROOT / "train.py"), *merge_flags(
                        [f"--{n}={steps}" for n in budget_names], shlex.split(cfg.train_args), flags, fixed)] + \
                        (["--resume"] if job.resume else [])
                    current = steps
                job.eval_cmds = {} if job.note else {sp: [
                    cfg.python, str(ROOT / "evaluate.py"), f"--ckpt={run_dir / 'ckpt.pt'}", f"--split={sp}",
                    f"--replication_times={cfg.reps}", *mm_flags(cfg.mm),
                    f"--out_dir={run_dir / f'eval_step{steps}'}", *shlex.split(cfg.eval_args)] for sp in missing[steps]}
                jobs.append(job)
    return jobs


# ----------------------------------------------------------------------------------------------------------------
# Running: subprocesses, times, evaluate.py's JSON, the CSV
# ----------------------------------------------------------------------------------------------------------------
STEP_LINE = re.compile(r"^(ae |gen )?step\s+(\d+)/\d+ .*\|\s*([\d.]+) ms/step")
STAGE_RESUMED = re.compile(r"^stage (ae|gen): resumed .* at step (\d+)$")


def loop_seconds(log: str, start: int = 0) -> float:
    """Training-loop seconds from train.py's log: sum over its "step N/M | ... | x ms/step" lines of the steps since
    the previous line times x (`start`: the step a resumed run began at). latent_ar's "ae step" and "gen step" lines
    count as two loops, each from step 0 or from the step its "stage ae|gen: resumed ... at step N" line names."""
    total, prev, stage, resumed = 0.0, start, None, {}
    for line in log.splitlines():
        r = STAGE_RESUMED.match(line.strip())
        if r:
            resumed[r.group(1) + " "] = int(r.group(2))
        m = STEP_LINE.match(line.strip())
        if m:
            if m.group(1) != stage:
                stage, prev = m.group(1), resumed.get(m.group(1), 0)
            step = int(m.group(2))
            total, prev = total + (step - prev) * float(m.group(3)) / 1000, step
    return total


WRITING = threading.Lock()             # one writer of the CSV files and RESULTS.md at a time (--jobs > 1)


def stream(cmd: list[str], log_path: Path, tag: str = "") -> tuple[int, str]:
    """Run cmd, echo its lines (progress bars left out; each prefixed with `tag`, the run directory's name, when runs
    go side by side) and keep them all in log_path. Returns (exit code, output)."""
    print(f"{tag}$ " + shlex.join(cmd), flush=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ)) as p:
        for line in p.stdout:
            lines.append(line)
            if line.strip() and not re.search(r"\d+%\|", line):
                print(f"{tag}  " + line, end="", flush=True)
    log_path.write_text("".join(lines))
    return p.returncode, "".join(lines)


def execute(job: Job, cfg: ExperimentsConfig, commit: str) -> bool:
    """Train (if needed), then evaluate each missing split and append its line to <out>/<table>.csv."""
    tag = f"[{job.run_dir.name}] " if cfg.jobs > 1 else ""
    times_path = job.run_dir / "times.json"
    times = json.loads(times_path.read_text()) if times_path.is_file() else {}
    if job.train_cmd:
        start_step = (ckpt_state(job.run_dir) or (0, {}))[0] if job.resume else 0
        t0 = time.time()
        rc, log = stream(job.train_cmd, job.run_dir / f"train_step{job.steps}.log", tag)
        if rc != 0:
            print(f"experiments.py: training {job.row} seed {job.seed} failed (exit {rc}); see its log")
            return False
        # cumulative; a run resumed from a save point between two records adds to the last record before it
        times = {k: v for k, v in times.items() if int(k) <= start_step} if job.resume else {}
        base = times[max(times, key=int)] if times else {"train_s": 0.0, "loop_s": 0.0}
        times[str(job.steps)] = {"train_s": base["train_s"] + time.time() - t0,
                                 "loop_s": base["loop_s"] + loop_seconds(log, start_step)}
        times_path.write_text(json.dumps(times, indent=1))
    state = ckpt_state(job.run_dir)
    if state is not None and state[0] == job.steps and TABLES[job.table].get("segmented"):
        shutil.copyfile(job.run_dir / "ckpt.pt", job.run_dir / f"ckpt_step{job.steps}.pt")   # later segments overwrite
    if state is None or state[0] != job.steps:
        print(f"experiments.py: {job.run_dir}/ckpt.pt is at step {state and state[0]}, not {job.steps}: not evaluated")
        return False
    dataset = state[1].get("dataset", "synthetic")
    spent = times.get(str(job.steps), {})
    for split, cmd in job.eval_cmds.items():
        t0 = time.time()
        rc, _ = stream(cmd, job.run_dir / f"eval_step{job.steps}" / f"eval_{split}.log", tag)
        path = job.run_dir / f"eval_step{job.steps}" / f"eval_{dataset}_{split}.json"
        if rc != 0 or not path.is_file():
            print(f"experiments.py: evaluating {job.row} seed {job.seed} on {split} failed (exit {rc})")
            return False
        result = json.loads(path.read_text())
        model = job.run_dir.name if job.run_dir.name in result["summary"] else \
            next(k for k in result["summary"] if not k.startswith("Real motion"))
        flags = merge_flags(shlex.split(cfg.train_args), TABLES[job.table]["rows"][job.row], job.schedule)
        method = next((f.partition("=")[2] for f in flags if f.startswith("--method=")), "baseline")
        with WRITING:
            results.append_rows(Path(cfg.results) / f"{job.table}.csv", [results.row_from_eval(
                result, model, table=job.table, row=job.row, method=method, seed=job.seed, steps=job.steps,
                train_s=spent.get("train_s", ""), loop_s=spent.get("loop_s", ""), eval_s=time.time() - t0,
                git_commit=commit, flags=shlex.join(flags))])
    return True


def write_reports(cfg: ExperimentsConfig) -> None:
    """results/RESULTS.md from every result CSV, and the convergence plot when its CSV exists."""
    out = Path(cfg.results)
    with WRITING:
        (out / "RESULTS.md").write_text(tables.render(out))
        for name in [t for t, spec in TABLES.items() if spec.get("segmented") and (out / f"{t}.csv").is_file()]:
            tables.plot_convergence(results.read_rows(out / f"{name}.csv"), out / f"{name}.png")


def run_chain(chain: list[Job], cfg: ExperimentsConfig, commit: str) -> list[str]:
    """One (row, seed)'s jobs in order (a convergence run's segments); the heads of those that failed. A failed
    segment stops its chain: the later ones would resume from the wrong step."""
    for job in chain:
        head = f"# {job.table} | {job.row} | seed {job.seed} | {job.steps} steps"
        print(head + (f" | {job.note}" if job.note else ""), flush=True)
        if cfg.dry_run:
            print("\n".join(shlex.join(c) for c in [job.train_cmd or []] + list(job.eval_cmds.values()) if c))
        elif not job.note:
            if not execute(job, cfg, commit):
                return [head]
            write_reports(cfg)
    return []


def main(argv: list[str]) -> None:
    cfg = parse_config(argv)
    tables = [t for name in cfg.table.split(",") for t in GROUPS.get(name.strip(), [name.strip()])]
    unknown = [t for t in tables if t not in TABLES]
    if unknown:
        sys.exit(f"experiments.py: unknown table {unknown}; tables: {list(TABLES)}, groups: {list(GROUPS)}")
    known = [r for t in tables for r in TABLES[t]["rows"]]
    missing = [r for r in cfg.rows.split(",") if cfg.rows != "all" and r.strip() and slug(r) not in map(slug, known)]
    if missing:
        sys.exit(f"experiments.py: no row {missing} in {tables}; rows: {known}")
    commit, failed = results.git_commit(), []
    print(f"experiments.py: tables {tables}, git {commit}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}")
    for table in tables:
        lines = [r for r in results.read_rows(Path(cfg.results) / f"{table}.csv") if r["table"] == table]
        if TABLES[table].get("segmented"):
            check_budget(table, lines, cfg.steps)
        done = set(results.latest(lines))
        chains: dict[Path, list[Job]] = {}
        for job in plan(cfg, table, done):
            chains.setdefault(job.run_dir, []).append(job)
        with ThreadPoolExecutor(max_workers=max(1, cfg.jobs)) as pool:   # threads wait on the subprocesses
            for heads in pool.map(lambda c: run_chain(c, cfg, commit), chains.values()):
                failed += heads
        if not cfg.dry_run and (Path(cfg.results) / f"{table}.csv").is_file():
            write_reports(cfg)                         # also when every row was done: merged CSVs, new layout
    if failed:
        sys.exit("experiments.py: failed runs:\n" + "\n".join(failed))


if __name__ == "__main__":
    main(sys.argv[1:])
