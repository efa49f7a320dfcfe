"""Miniature versions of the papers' result tables and convergence curve: train each row with train.py, evaluate it
with evaluate.py, collect everything in one CSV per table and a Markdown summary over seeds.

Tables (named below, plain Python): LUMA (arXiv 2509.25304) Table 2 core components, Table 3 anchor location and
DCT k, Table 4 anchor weighting, Fig. 4 convergence; ATM Tables 3-5 (loss terms, margin, variants); MoLingo's
comparison (latent_ar). Each (table, row, seed) trains into <out>/<table>/<row_slug>_seed<s>/ as

    python train.py <budget flag(s)>=<steps> <--train_args> <row flags> --seed=<s> --out_dir=<run dir>
    python evaluate.py --ckpt=<run dir>/ckpt.pt --split=<split> --replication_times=<reps> --mm_num_samples=0 \
        --out_dir=<run dir>/eval_step<steps>      # per split (test, test_novel); no --compare_split: not needed
and appends one line per split to <out>/<table>.csv (table, row, seed, steps, split, reps, every metric evaluate.py
reports incl. realism and action columns, train_s, loop_s, eval_s, timestamp, git_commit, flags). A (row, seed,
steps, split) already in the CSV is skipped, so a table is completed across sessions; a checkpoint of the same
budget that stopped short is resumed exactly (--resume). After every run <out>/<table>.md is rewritten: per steps
and split, a line per row with mean +- t_{0.975,n-1} s / sqrt(n) (95% CI over seeds, s the sample std) and the
number of seeds ("1 seed": no CI). Changing a row's flags means renaming the row (or removing its CSV lines).

Convergence (LUMA sec. 4.2, Fig. 4): Baseline and LUMA, per seed, trained in segments of M steps (--segment):
--steps=M, evaluate, --resume --steps=2M, evaluate, ... up to the budget, always with --anchor_decay_steps=<budget>,
so the segmented run ends with the weights of one uninterrupted run (train.py's exact resume; the lr schedule is
step-based). train_s: the processes' wall time (startup, data, LUMA's first MoCLIP training included); loop_s: the
training loop alone, from train.py's "ms/step" log lines; both cumulative. Reported: the first step at which LUMA's
FID reaches the baseline's final FID (interpolated linearly between evaluations) over the step at which the baseline
first reaches it (its last step for a decreasing curve), per seed and for the mean curves (paper: 35k / 50k = 0.7),
in <out>/convergence.md; <out>/convergence.png: FID vs steps and vs loop wall-clock, seed mean thick, seeds thin.

    python experiments.py --table=luma_table2 --rows=all --seeds=0,1 --steps=400 --reps=1
    python experiments.py --table=luma_ablation --rows="w/o FiLM,baseline" --train_args="--batch_size=32"
    python experiments.py --table=convergence --steps=1200 --segment=300 --seeds=0,1,2
    python experiments.py --table=atm_table5 --dry_run      # print the commands only
Subprocesses inherit the environment (OMP_NUM_THREADS included). Test: python -m pytest tests/test_experiments.py -q
"""
import csv
import dataclasses
import json
import math
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent
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
        "unaligned": LATENT_AR + ["--align_weight=0"],
        "single-token": LATENT_AR + ["--text_cond=single"],
        "Baseline": ["--method=baseline"],
        "LUMA": LUMA},
        "budget": {"": ("steps",), "latent_ar": ("ae_steps", "gen_steps")}},
    "convergence": {"rows": {"Baseline": ["--method=baseline"], "LUMA": LUMA},   # LUMA Fig. 4
                    "segmented": True, "compare": ("Baseline", "LUMA")},
}
GROUPS = {"luma_ablation": ["luma_table2", "luma_table3", "luma_table4"],
          "atm_ablation": ["atm_table3", "atm_table4", "atm_table5"]}
# evaluate.py's JSON keys (evaluate.METRICS and REALISM, tests check they agree); per-action columns follow them
METRIC_COLUMNS = ["R_precision_top1", "R_precision_top2", "R_precision_top3", "FID", "MM_Dist", "Diversity",
                  "MultiModality", "skating_ratio", "penetration", "floating", "root_speed", "root_speed_ratio",
                  "root_speed_MAE", "action_success"]
COLUMNS = ["table", "row", "seed", "steps", "split", "reps", *METRIC_COLUMNS, "train_s", "loop_s", "eval_s",
           "timestamp", "git_commit", "flags"]
MD_METRICS = [("FID", "FID ↓"), ("R_precision_top1", "R@1 ↑"), ("R_precision_top3", "R@3 ↑"),
              ("MM_Dist", "MM Dist ↓"), ("Diversity", "Diversity →"), ("skating_ratio", "Skating ↓"),
              ("action_success", "Actions ↑")]


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
    out: str = "out/experiments"      # run directories, <table>.csv, <table>.md, convergence.png
    python: str = sys.executable      # interpreter for the subprocesses
    dry_run: bool = False             # print the commands, run nothing


def parse_config(argv: list[str]) -> ExperimentsConfig:
    """`--key=value` overrides (bools: a bare `--flag` = true). SystemExit on unknown keys/values."""
    cfg, fields = ExperimentsConfig(), {f.name for f in dataclasses.fields(ExperimentsConfig)}
    for arg in argv:
        key, eq, value = arg.removeprefix("--").partition("=")
        if not arg.startswith("--") or key not in fields:
            sys.exit(f"experiments.py: unknown option {arg!r}; valid: {', '.join('--' + f for f in fields)}")
        default = getattr(cfg, key)
        try:
            if isinstance(default, bool):
                if eq and value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                value = not eq or value.lower() in ("true", "1")
            setattr(cfg, key, type(default)(value))
        except ValueError:
            sys.exit(f"experiments.py: --{key}={value!r} is not a valid {type(default).__name__}")
    return cfg


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


def ckpt_state(run_dir: Path) -> tuple[int, dict] | None:
    """(step, config) of <run_dir>/ckpt.pt, or None when there is none."""
    path = Path(run_dir) / "ckpt.pt"
    if not path.is_file():
        return None
    import torch
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return int(ckpt.get("step", 0)), dict(ckpt.get("config", {}))


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
            fixed = [f"--seed={seed}", f"--out_dir={run_dir}"] + ([f"--anchor_decay_steps={cfg.steps}"] if seg else [])
            for steps in [s for s in targets if missing[s]]:  # a segment already in the CSV is trained through
                job = Job(table, row, seed, steps, run_dir, None, resume=current is not None)
                if current is not None and current > steps:
                    job.note = f"checkpoint already at step {current}: step {steps} cannot be evaluated any more"
                elif current != steps:
                    job.train_cmd = [cfg.python, str(ROOT / "train.py"), *merge_flags(
                        [f"--{n}={steps}" for n in budget_names], shlex.split(cfg.train_args), flags, fixed)] + \
                        (["--resume"] if job.resume else [])
                    current = steps
                job.eval_cmds = {} if job.note else {sp: [
                    cfg.python, str(ROOT / "evaluate.py"), f"--ckpt={run_dir / 'ckpt.pt'}", f"--split={sp}",
                    f"--replication_times={cfg.reps}", "--mm_num_samples=0",
                    f"--out_dir={run_dir / f'eval_step{steps}'}", *shlex.split(cfg.eval_args)] for sp in missing[steps]}
                jobs.append(job)
    return jobs


# ----------------------------------------------------------------------------------------------------------------
# Running: subprocesses, times, evaluate.py's JSON, the CSV
# ----------------------------------------------------------------------------------------------------------------
STEP_LINE = re.compile(r"^(ae |gen )?step\s+(\d+)/\d+ .*\|\s*([\d.]+) ms/step")


def loop_seconds(log: str, start: int = 0) -> float:
    """Training-loop seconds from train.py's log: sum over its "step N/M | ... | x ms/step" lines of the steps since
    the previous line times x (`start`: the step a resumed run began at). latent_ar's "ae step" and "gen step" lines
    count as two loops, each from step 0."""
    total, prev, stage = 0.0, start, None
    for line in log.splitlines():
        m = STEP_LINE.match(line.strip())
        if m:
            if m.group(1) != stage:
                stage, prev = m.group(1), 0
            step = int(m.group(2))
            total, prev = total + (step - prev) * float(m.group(3)) / 1000, step
    return total


def stream(cmd: list[str], log_path: Path) -> tuple[int, str]:
    """Run cmd, echo its lines (progress bars left out) and keep them all in log_path. Returns (exit code, output)."""
    print("$ " + shlex.join(cmd), flush=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ)) as p:
        for line in p.stdout:
            lines.append(line)
            if line.strip() and not re.search(r"\d+%\|", line):
                print("  " + line, end="", flush=True)
    log_path.write_text("".join(lines))
    return p.returncode, "".join(lines)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") if Path(path).is_file() else open(os.devnull) as f:
        return list(csv.DictReader(f))


def append_csv(path: Path, rows: list[dict]) -> None:
    """Append rows; a key the header lacks (a new per-action column) rewrites the file with the wider header."""
    old = read_csv(path)
    header = list(old[0]) if old else list(COLUMNS)
    new_keys = sorted({k for r in rows for k in r} - set(header))
    if not old or new_keys:
        tmp = Path(f"{path}.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=header + new_keys, restval="")
            writer.writeheader()
            writer.writerows(old + rows)
        os.replace(tmp, path)
    else:
        with open(path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=header, restval="").writerows(rows)


def git_commit() -> str:
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def execute(job: Job, cfg: ExperimentsConfig, commit: str) -> bool:
    """Train (if needed), then evaluate each missing split and append its line to <out>/<table>.csv."""
    times_path = job.run_dir / "times.json"
    times = json.loads(times_path.read_text()) if times_path.is_file() else {}
    if job.train_cmd:
        start_step = (ckpt_state(job.run_dir) or (0, {}))[0] if job.resume else 0
        t0 = time.time()
        rc, log = stream(job.train_cmd, job.run_dir / f"train_step{job.steps}.log")
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
    if state is None or state[0] != job.steps:
        print(f"experiments.py: {job.run_dir}/ckpt.pt is at step {state and state[0]}, not {job.steps}: not evaluated")
        return False
    dataset = state[1].get("dataset", "synthetic")
    spent = times.get(str(job.steps), {})
    for split, cmd in job.eval_cmds.items():
        t0 = time.time()
        rc, _ = stream(cmd, job.run_dir / f"eval_step{job.steps}" / f"eval_{split}.log")
        path = job.run_dir / f"eval_step{job.steps}" / f"eval_{dataset}_{split}.json"
        if rc != 0 or not path.is_file():
            print(f"experiments.py: evaluating {job.row} seed {job.seed} on {split} failed (exit {rc})")
            return False
        summary = json.loads(path.read_text())["summary"]
        model = summary.get(job.run_dir.name) or next(v for k, v in summary.items() if not k.startswith("Real motion"))
        append_csv(Path(cfg.out) / f"{job.table}.csv", [{
            "table": job.table, "row": job.row, "seed": job.seed, "steps": job.steps, "split": split,
            "reps": cfg.reps, **{m: v["mean"] for m, v in model.items()}, "train_s": spent.get("train_s", ""),
            "loop_s": spent.get("loop_s", ""), "eval_s": time.time() - t0,
            "timestamp": datetime.now().isoformat(timespec="seconds"), "git_commit": commit,
            "flags": shlex.join(merge_flags(shlex.split(cfg.train_args), TABLES[job.table]["rows"][job.row]))}])
    return True


# ----------------------------------------------------------------------------------------------------------------
# Reports: mean +- CI over seeds, steps to reach, the convergence plot
# ----------------------------------------------------------------------------------------------------------------
def mean_ci(values: list[float]) -> tuple[float, float | None]:
    """(mean, 95% CI half-width t_{0.975, n-1} s / sqrt(n) with the sample std s), CI None for one value."""
    n, mean = len(values), sum(values) / len(values)
    if n < 2:
        return mean, None
    from scipy.stats import t as student_t
    s = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, float(student_t.ppf(0.975, n - 1)) * s / math.sqrt(n)


def cell(xs: list[float], scale: float = 1.0) -> str:
    """'mean ± ci' of xs / scale, 'mean' for one value, '-' for none."""
    mean, ci = mean_ci([x / scale for x in xs]) if xs else (None, None)
    return "-" if mean is None else f"{mean:.3f}" if ci is None else f"{mean:.3f} ± {ci:.3f}"


def latest(rows: list[dict]) -> dict:
    """{(row, seed, steps, split): csv line}, the last line winning."""
    return {(r["row"], int(r["seed"]), int(r["steps"]), r["split"]): r for r in rows}


def format_table_md(rows: list[dict], table: str) -> str:
    """One Markdown table per (steps, split): a line per row (TABLES order) with mean +- 95% CI over seeds."""
    cells = latest([r for r in rows if r["table"] == table])
    order = {name: i for i, name in enumerate(TABLES.get(table, {}).get("rows", {}))}
    out = [f"<!-- experiments.py --table={table}: written from {table}.csv -->"]
    for steps in sorted({k[2] for k in cells}):
        for split in dict.fromkeys(k[3] for k in cells):
            names = sorted({k[0] for k in cells if k[2:] == (steps, split)}, key=lambda n: (order.get(n, 1e9), n))
            if not names:
                continue
            out += ["", f"**{table}: {split} split, {steps} steps** (mean ± 95% CI over seeds, Student t)", "",
                    "| Row | seeds | " + " | ".join(h for _, h in MD_METRICS) + " |",
                    "|---" * (len(MD_METRICS) + 2) + "|"]
            for name in names:
                lines = [v for k, v in cells.items() if k[0] == name and k[2:] == (steps, split)]
                vals = [cell([float(r[m]) for r in lines if r.get(m, "") != ""]) for m, _ in MD_METRICS]
                n = len(lines)
                out.append(f"| {name} | {n} seed{'s' if n > 1 else ''} | " + " | ".join(vals) + " |")
    return "\n".join(out) + "\n"


def steps_to_reach(xs: list[float], values: list[float], target: float) -> float | None:
    """First x at which the piecewise-linear curve (xs, values) comes down to <= target; None if it never does."""
    for i, (x, v) in enumerate(zip(xs, values)):
        if v <= target:
            if i == 0:
                return float(x)
            x0, v0 = xs[i - 1], values[i - 1]
            return x0 + (v0 - target) / (v0 - v) * (x - x0)
    return None


def reach_ratio(ref: list[tuple], new: list[tuple]) -> dict:
    """ref, new: [(x, FID)] sorted by x. Target = ref's final FID; ratio = new's first x there / ref's first x."""
    target = ref[-1][1]
    x_ref = steps_to_reach(*zip(*ref), target)
    x_new = steps_to_reach(*zip(*new), target)
    return {"target": target, "ref": x_ref, "new": x_new, "ratio": None if x_new is None else x_new / x_ref}


def curves(rows: list[dict], table: str, row: str, split: str) -> dict:
    """{seed: [(steps, cumulative loop seconds (else train_s), FID)]} in step order."""
    out: dict[int, list] = {}
    for (r, seed, steps, sp), line in sorted(latest([x for x in rows if x["table"] == table]).items()):
        if (r, sp) == (row, split) and line.get("FID", "") != "":
            wall = float(line.get("loop_s") or line.get("train_s") or "nan")
            out.setdefault(seed, []).append((steps, wall, float(line["FID"])))
    return out


def mean_curve(by_seed: dict) -> list[tuple]:
    """Mean (steps, seconds, FID) over seeds at the steps every seed has."""
    pts = [{p[0]: p for p in c} for c in by_seed.values()]
    common = sorted(set.intersection(*[set(p) for p in pts])) if pts else []
    return [tuple(sum(p[st][i] for p in pts) / len(pts) for i in range(3)) for st in common]


def format_convergence_md(rows: list[dict], table: str = "convergence") -> str:
    """The curves (mean ± 95% CI over seeds at each evaluated step) and the steps-to-reach table."""
    ref_row, new_row = TABLES[table]["compare"]
    names, cells = list(TABLES[table]["rows"]), latest([r for r in rows if r["table"] == table])
    seeds = ", ".join(f"{n} {len({k[1] for k in cells if k[0] == n})}" for n in names)
    out = [f"<!-- experiments.py --table={table}: written from {table}.csv -->", "", f"**FID, R@3 and cumulative "
           f"training-loop minutes against steps** (mean ± 95% CI over seeds, Student t; seeds: {seeds})", "",
           "| split | steps | " + " | ".join(f"{n} FID | {n} R@3 | {n} min" for n in names) + " |",
           "|---" * (2 + 3 * len(names)) + "|"]
    splits = list(dict.fromkeys(k[3] for k in cells))
    for split in splits:
        for steps in sorted({k[2] for k in cells if k[3] == split}):
            at = {n: [v for k, v in cells.items() if (k[0], k[2], k[3]) == (n, steps, split)] for n in names}
            out.append(f"| {split} | {steps} | " + " | ".join(
                cell([float(r[m]) for r in at[n] if r.get(m, "") != ""], 60.0 if m == "loop_s" else 1.0)
                for n in names for m in ("FID", "R_precision_top3", "loop_s")) + " |")
    out += ["", f"**Steps to reach {ref_row}'s final FID** (LUMA sec. 4.2; linear interpolation between "
            f"evaluations; paper: 35k / 50k = 0.7)", "", "| split | curve | target FID | " +
            f"{ref_row} reaches it | {new_row} reaches it | ratio (steps) | ratio (loop wall-clock) |",
            "|---" * 7 + "|"]
    fmt = (lambda v, p="{:.0f}": "never" if v is None else p.format(v))
    for split in splits:
        ref, new = curves(rows, table, ref_row, split), curves(rows, table, new_row, split)
        common = sorted(set(ref) & set(new))
        pairs = [(f"seed {s}", ref[s], new[s]) for s in common] + ([("mean over seeds", mean_curve(
            {s: ref[s] for s in common}), mean_curve({s: new[s] for s in common}))] if len(common) > 1 else [])
        for name, r, n in pairs:
            a, b = (reach_ratio([(p[x], p[2]) for p in r], [(p[x], p[2]) for p in n]) for x in (0, 1))
            out.append(f"| {split} | {name} | {a['target']:.3f} | {fmt(a['ref'])} | {fmt(a['new'])} | "
                       f"{fmt(a['ratio'], '{:.2f}')} | {fmt(b['ratio'], '{:.2f}')} |")
    return "\n".join(out) + "\n"


def plot_convergence(rows: list[dict], path: Path, table: str = "convergence") -> None:
    """Rows: splits; columns: FID vs steps, vs cumulative loop wall-clock (minutes). Mean thick, seeds thin."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    splits = list(dict.fromkeys(r["split"] for r in rows if r["table"] == table))
    fig, axes = plt.subplots(len(splits), 2, figsize=(11, 3.6 * len(splits)), squeeze=False)
    for i, split in enumerate(splits):
        for j, ax in enumerate(axes[i]):                                    # x: p[0] steps, p[1] seconds
            def xy(c):
                return [p[j] / (60.0 if j else 1.0) for p in c], [p[2] for p in c]
            for k, name in enumerate(TABLES[table]["rows"]):
                by_seed = curves(rows, table, name, split)
                for c in by_seed.values():
                    ax.plot(*xy(c), color=f"C{k}", lw=0.7, alpha=0.45)
                mean = mean_curve(by_seed)
                if mean:
                    ax.plot(*xy(mean), "o-", color=f"C{k}", lw=2, label=f"{name} ({len(by_seed)} seed(s))")
                    if k == 0:
                        ax.axhline(mean[-1][2], color=f"C{k}", ls="--", lw=1)
            ax.set_xlabel("training-loop wall-clock (min)" if j else "training steps")
            ax.set_ylabel(f"FID ({split})")
            ax.legend(fontsize=8)
    fig.suptitle("FID convergence (LUMA Fig. 4); dashed: the first row's final mean FID", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_reports(cfg: ExperimentsConfig, table: str) -> None:
    rows, out = read_csv(Path(cfg.out) / f"{table}.csv"), Path(cfg.out) / table
    if rows and TABLES[table].get("compare"):
        out.with_suffix(".md").write_text(format_convergence_md(rows, table))
        plot_convergence(rows, out.with_suffix(".png"), table)
    elif rows:
        out.with_suffix(".md").write_text(format_table_md(rows, table))


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
    commit, failed = git_commit(), []
    print(f"experiments.py: tables {tables}, git {commit}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}")
    for table in tables:
        done = set(latest([r for r in read_csv(Path(cfg.out) / f"{table}.csv") if r["table"] == table]))
        for job in plan(cfg, table, done):
            head = f"# {job.table} | {job.row} | seed {job.seed} | {job.steps} steps"
            print(head + (f" | {job.note}" if job.note else ""), flush=True)
            if cfg.dry_run:
                print("\n".join(shlex.join(c) for c in [job.train_cmd or []] + list(job.eval_cmds.values()) if c))
            elif not job.note:
                failed += [] if execute(job, cfg, commit) else [head]
                write_reports(cfg, table)
        if not cfg.dry_run and (Path(cfg.out) / f"{table}.csv").is_file():
            write_reports(cfg, table)                  # also when every row was done: merged CSVs, new layout
    if failed:
        sys.exit("experiments.py: failed runs:\n" + "\n".join(failed))


if __name__ == "__main__":
    main(sys.argv[1:])
