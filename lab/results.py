"""Results as data: the one row format of every result table, and the command that writes the tables from it.

Every figure the README or results/RESULTS.md shows is a line of a CSV file committed under results/ (one file per
table). A line is one (table, row, seed, steps, split) evaluation, with the metrics under stable names (FIELDS) and
what is needed to audit it: the method (train.py's --method), the sampling settings, the evaluator checkpoint's
sha256, the commit, the date and the machine. results/RESULTS.md is generated from those files and never edited by
hand; tests/test_results.py checks that the committed Markdown equals what this command regenerates.

    python -m lab.results                                   # results/*.csv -> results/RESULTS.md, README.md's summary
    python -m lab.results --check                           # exit 1 when RESULTS.md is not what the CSV files give
    python -m lab.results --add=out/x/eval_synthetic_test.json --table=real --row="Real motion" --from_row="Real motion"
        # append one evaluate.py JSON's row (method, seed, steps, note: --method= --seed= --steps= --note=)

The tables, their intervals and the convergence plot are lab/tables.py's.

Test: python -m pytest -q tests/test_results.py
"""
import csv
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import runtime

try:
    import fcntl                                       # POSIX: the CSV lock of append_rows
except ImportError:                                    # Windows: one writing process at a time, as before
    fcntl = None

ROOT = Path(__file__).resolve().parents[1]  # the repository root
RESULTS = ROOT / "results"

# evaluate.py's JSON keys -> the stable column names of a result row
METRIC_NAMES = {"FID": "fid", "R_precision_top1": "r_precision_top1", "R_precision_top2": "r_precision_top2",
                "R_precision_top3": "r_precision_top3", "MM_Dist": "mm_dist", "Diversity": "diversity",
                "MultiModality": "multimodality", "skating_ratio": "skating_ratio", "penetration_mm": "penetration_mm",
                "floating_mm": "floating_mm", "root_speed": "root_speed", "root_speed_ratio": "root_speed_ratio",
                "root_speed_MAE": "root_speed_mae", "action_success": "action_success"}
FIELDS = ["table", "row", "method", "seed", "steps", "split", "replications", "guidance", "clip_denoised",
          *METRIC_NAMES.values(), "multimodality_counts", "git_commit", "evaluator_sha256", "date", "machine",
          "train_s", "loop_s", "eval_s", "flags", "note"]       # then action_<label>, skating_<label> columns

# per-action metrics of evaluate.py ("action/<label>", "skating/<label>") -> columns <prefix>_<label>
PER_ACTION = ("action", "skating")


def per_action(key: str) -> bool:
    """A per-action column (action_<label>, skating_<label>), not one of FIELDS."""
    return key not in FIELDS and any(key.startswith(pre + "_") for pre in PER_ACTION)


def machine() -> str:
    """'<cpu or gpu name>, <n> cores, torch <version>' of this process's machine."""
    try:
        import torch
        dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
        tv = torch.__version__
    except ImportError:
        dev, tv = "CPU", "-"
    return f"{platform.machine()} {dev}, {os.cpu_count()} cores, torch {tv}"


def git_commit() -> str:
    """Short HEAD of this repository, '+dirty' when tracked files differ from it."""
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def row_from_eval(result: dict, from_row: str, **meta) -> dict:
    """One result row from evaluate.py's JSON `result` (its summary row `from_row`): the metric means over the
    replications under FIELDS' names, action_<label> and skating_<label> per action, the evaluator sha256, the
    generator's guidance and clip_denoised, today's date, this machine and commit; `meta` (table, row, method, seed,
    steps, ...) wins.
    Raises KeyError naming the rows the JSON has when from_row is not one of them."""
    summary = result["summary"]
    if from_row not in summary:
        raise KeyError(f"results.py: no row {from_row!r} in the evaluation; it has {list(summary)}")
    gen = result.get("generator", {}) if not from_row.startswith("Real motion") else {}
    mm = result.get("multimodality")
    row = {"split": result["config"]["split"], "replications": result["config"]["replication_times"],
           "method": gen.get("method", "real"), "guidance": gen.get("guidance", ""),
           "clip_denoised": gen.get("clip_denoised", ""),
           "multimodality_counts": "x".join(map(str, mm)) if mm and "MultiModality" in summary[from_row] else "",
           "evaluator_sha256": result.get("evaluator_sha256", ""), "date": date.today().isoformat(),
           "machine": machine(), "git_commit": git_commit()}
    for key, v in summary[from_row].items():
        name = METRIC_NAMES.get(key) or next((f"{pre}_{key[len(pre) + 1:]}" for pre in PER_ACTION
                                              if key.startswith(pre + "/")), None)
        if name:
            row[name] = v["mean"]
    row.update(meta)
    return row


def read_rows(path) -> list[dict]:
    """The lines of one result CSV as dicts ([] when the file does not exist)."""
    if not Path(path).is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def append_rows(path, rows: list[dict]) -> None:
    """Append rows to a result CSV, written atomically (temp file, then rename) under an exclusive lock on its folder
    (POSIX flock: runs of several processes append to one file); the header is FIELDS then any per-action columns
    (action_<label>, skating_<label>), widened when a row brings a new one. Raises ValueError for a key outside FIELDS
    that is not a per-action column (a misspelt metric would otherwise become a column of its own)."""
    bad = sorted({k for r in rows for k in r if k not in FIELDS and not per_action(k)})
    if bad:
        raise ValueError(f"results.py: unknown result fields {bad}; known: {FIELDS}, action_<label>, skating_<label>")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        if fcntl is not None:
            fcntl.flock(folder, fcntl.LOCK_EX)
        old = read_rows(path)
        actions = sorted({k for r in old + rows for k in r if per_action(k)})
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS + actions, restval="", lineterminator="\n")
            writer.writeheader()
            writer.writerows(old + rows)
        os.replace(tmp, path)
    finally:
        os.close(folder)                               # releases the lock


def latest(rows: list[dict]) -> dict:
    """{(row, seed, steps, split): line}, the last line of a key winning."""
    return {(r["row"], int(r["seed"]), int(r["steps"]), r["split"]): r for r in rows}


@dataclass
class ResultsConfig:
    results_dir: str = str(RESULTS)   # folder of the result CSV files
    check: bool = False               # exit 1 if RESULTS.md differs from the regenerated text
    add: str = ""                     # an evaluate.py JSON whose row --from_row is appended to --table
    table: str = ""                   # --add: the table (results/<table>.csv)
    row: str = ""                     # --add: the row's name in the table
    from_row: str = ""                # --add: the JSON summary's row (default: --row)
    fields: str = ""                  # --add: keep only these metric fields (comma list; "fid,action_*")
    # --add: set these fields of the added row (default: from the JSON)
    method: str | None = None
    seed: str | None = None
    steps: str | None = None
    note: str | None = None
    git_commit: str | None = None
    flags: str | None = None
    evaluator_sha256: str | None = None
    guidance: str | None = None
    clip_denoised: str | None = None


def main(argv: list[str]) -> None:
    from lab.tables import render, with_summary        # here, not at the top: lab/tables.py imports this module
    args = runtime.parse(argv, ResultsConfig(), prog="lab/results.py")
    meta_keys = ("method", "seed", "steps", "note", "git_commit", "flags", "evaluator_sha256", "guidance",
                 "clip_denoised")
    target = Path(args.results_dir) / "RESULTS.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    if args.add:
        if not (args.table and args.row):
            sys.exit("lab/results.py: --add needs --table and --row")
        meta = {k: getattr(args, k) for k in meta_keys if getattr(args, k) is not None}
        row = row_from_eval(json.loads(Path(args.add).read_text()), args.from_row or args.row,
                            table=args.table, row=args.row, **meta)
        if args.fields:
            keep = [f.strip() for f in args.fields.split(",") if f.strip()]
            metrics = set(METRIC_NAMES.values()) | {k for k in row if per_action(k)}
            row = {k: v for k, v in row.items() if k not in metrics or any(
                k == f or (f.endswith("*") and k.startswith(f[:-1])) for f in keep)}
        append_rows(Path(args.results_dir) / f"{args.table}.csv", [row])
    text = render(args.results_dir)
    if args.check:
        same = target.is_file() and target.read_text() == text
        if Path(args.results_dir).resolve() == RESULTS.resolve():
            readme = (ROOT / "README.md").read_text()
            same = same and with_summary(readme, args.results_dir) == readme
        print(f"{target}: {'up to date' if same else 'differs from the CSV files; run python -m lab.results'}")
        sys.exit(0 if same else 1)
    target.write_text(text)
    readme = ROOT / "README.md"
    if Path(args.results_dir).resolve() == RESULTS.resolve() and readme.is_file():
        readme.write_text(with_summary(readme.read_text(), args.results_dir))
    print(f"written: {target}" + (f" and the summary table of {readme}" if readme.is_file() else ""))


if __name__ == "__main__":
    main(sys.argv[1:])
