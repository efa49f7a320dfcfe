"""Tables from result rows: results/RESULTS.md, the README's summary and results/convergence.png, generated from the
committed results/*.csv (lab/results.py's row format) and never typed by hand.

A generated table has one line per row name and a cell per metric: mean ± t_{0.975,n-1} s/sqrt(n) over n >= 2 seeds
(Student t, s the sample std over seeds), or over one seed the mean over its R replications (R in the table; T2M's
1.96 sigma/sqrt(R) is reported by evaluate.py only at the protocol's R = 20). Beside them: per-action strict success
and the locomotion actions' GMD skating, per-seed paired differences to a reference row (PAIRED), and LUMA's
convergence analysis (sec. 4.2, Fig. 4: curves, the step at which each action appears, steps to reach the baseline's
final FID, the plot). `python -m lab.results` writes them; tests/test_results.py checks that the committed files equal
what these functions regenerate.

Test: python -m pytest -q tests/test_results.py tests/test_experiments.py
"""
import math
from pathlib import Path

from lab.results import RESULTS, latest, per_action, read_rows

CONVERGENCE = ("Baseline", "LUMA")  # (reference row, method row) of the convergence table's steps-to-reach
CURVES = ("convergence", "convergence_long")  # the segmented tables of lab/experiments.py (one budget each)
PAIRED = {"comparison": "Baseline"}  # table -> the reference row of its per-seed paired differences

# Columns of the generated tables: (field, header, decimals)
COLUMNS = [("fid", "FID ↓", 3), ("r_precision_top1", "R@1 ↑", 3), ("r_precision_top3", "R@3 ↑", 3),
           ("mm_dist", "MM Dist ↓", 3), ("diversity", "Diversity →", 3), ("multimodality", "MModality ↑", 3),
           ("skating_ratio", "Skating ↓", 3), ("penetration_mm", "Pen. mm ↓", 1), ("floating_mm", "Float mm ↓", 1),
           ("root_speed_ratio", "Speed ratio →1", 2), ("action_success", "Actions ↑", 3)]

# table -> (title, what it is). Tables not listed are rendered too, under their file name.
TABLES = {
    "real": ("Real motion", "The data's own test clips through the same protocol: the floor every generated row is "
             "read against (FID and skating are not 0 for real motion: fresh crops and batches; real feet slide)."),
    "default_checkpoint": ("README command 1's checkpoint, strict checks beside the landed ones",
                           "The model of `python train.py` (LUMA, 1,200 steps, guidance 1.5, x0 clamp on). The "
                           "landed-checks row judges the same samples (same seeds and code) with the action checks of "
                           "commit 34b9c6b, before issue 18; its realism columns are left out (old units and rule)."),
    "guidance_sweep": ("Guidance on the validation split (LUMA, the CPU default)",
                       "The classifier-free guidance scale chosen on val, never on test (lab/sweep_guidance.py)."),
    "guidance_sweep_latent_ar": ("Guidance on the validation split (latent_ar, MoLingo's generator)",
                                 "python -m lab.sweep_guidance on the 400 + 400-step aligned, cross-attention run, "
                                 "seed 0; "
                                 "the comparison's latent_ar rows use the scale chosen here."),
    "latent_ar": ("MoLingo's comparison (latent_ar) beside the U-Net rows",
                  "python -m lab.experiments --table=latent_ar; generator trained on fresh posterior samples of "
                  "crops unless the row says 'means'. Not a converged comparison: one seed at 400 steps, where FID "
                  "is still falling steeply (issue 22 runs it at the plateau with 3 seeds); the 4,000-step unaligned "
                  "rows (3 seeds) pair with the comparison's latent_ar seeds."),
    "convergence": ("Convergence (LUMA Fig. 4)",
                    "python -m lab.experiments --table=convergence --steps=4000 --segment=1000 --mm=0 (the lr "
                    "schedule stretched to the budget); plot: results/convergence.png."),
    "convergence_long": ("Convergence to 8,000 steps (LUMA Fig. 4; issue 22 item 3)",
                         "python -m lab.experiments --table=convergence_long --steps=8000 --segment=1000 --mm=0: the "
                         "rows of the 4,000-step curve with the lr schedule and zeta's N stretched to 8,000 steps "
                         "(their own runs, not a continuation); plot: results/convergence_long.png."),
    "planted_feet": ("Planted feet (issue 20): MDM's L_foot in training, the contact cleanup at sampling",
                     "python -m lab.experiments --table=planted_feet --steps=4000 --mm=0 trains the L_foot row; the "
                     "others are evaluate.py runs (--foot_cleanup) of the checkpoints named in their flags, appended "
                     "with python -m lab.results --add. Per-locomotion-action skating below the action table."),
    "default_budget": ("README command 1's budget spent two ways (issue 22 item 5)",
                       "The default's 38,400 training samples as 1,200 steps of batch 32 (python -m lab.experiments "
                       "--table=default_budget --rows=\"LUMA batch 32 (default)\" --steps=1200 --mm=0) or 2,400 "
                       "of batch 16 (--rows=\"LUMA batch 16\" --steps=2400); each lr schedule decays six times."),
    "comparison": ("The five methods at one budget (issue 22)",
                   "python -m lab.experiments --table=comparison --seeds=0,1,2 --steps=4000."),
}


# ----------------------------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------------------------
def mean_ci(values: list[float]) -> tuple[float, float | None]:
    """(mean, 95% CI half-width t_{0.975, n-1} s / sqrt(n) with the sample std s), CI None for one value."""
    n, mean = len(values), sum(values) / len(values)
    if n < 2:
        return mean, None
    from scipy.stats import t as student_t
    s = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, float(student_t.ppf(0.975, n - 1)) * s / math.sqrt(n)


def cell(xs: list[float], digits: int = 3, scale: float = 1.0) -> str:
    """'mean ± ci' of xs / scale over seeds, 'mean' for one value, '-' for none."""
    if not xs:
        return "-"
    mean, ci = mean_ci([x / scale for x in xs])
    return f"{mean:.{digits}f}" if ci is None else f"{mean:.{digits}f} ± {ci:.{digits}f}"


def _values(lines: list[dict], field: str) -> list[float]:
    return [float(r[field]) for r in lines if r.get(field, "") not in ("", None)]


def _settings(lines: list[dict]) -> str:
    """'R=2, g 1.5, clamp on, MM 32x10x5' of a cell's lines (values joined with '/' when they differ)."""
    def one(field):
        return "/".join(dict.fromkeys(str(r.get(field, "")) for r in lines if r.get(field, "") != ""))
    parts = [f"R={one('replications')}"]
    parts += [f"g {one('guidance')}"] if one("guidance") else []
    parts += [f"clamp {one('clip_denoised')}"] if one("clip_denoised") else []
    parts += [f"MM {one('multimodality_counts')}"] if one("multimodality_counts") else []
    return ", ".join(parts)


def format_table_md(rows: list[dict], table: str) -> str:
    """One Markdown table per (steps, split) of a result CSV: a line per row name in first-appearance order, each
    cell mean ± 95% CI over seeds (Student t) or the one seed's mean; then, when the lines carry action_<label>
    columns, the per-action success table (actions x rows)."""
    cells = latest(rows)
    order = list(dict.fromkeys(r["row"] for r in rows))
    out = []
    for steps in sorted({k[2] for k in cells}):
        for split in dict.fromkeys(k[3] for k in cells):
            names = [n for n in order if any(k[0] == n and k[2:] == (steps, split) for k in cells)]
            if not names:
                continue
            out += ["", f"**{split} split" + (f", {steps} training steps**" if steps else "**"), "",
                    "| row | method | seeds | settings | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
                    "|---" * (len(COLUMNS) + 4) + "|"]
            for name in names:
                lines = [v for k, v in cells.items() if k[0] == name and k[2:] == (steps, split)]
                method = "/".join(dict.fromkeys(r["method"] for r in lines))
                out.append(f"| {name} | {method} | {len(lines)} | {_settings(lines)} | " + " | ".join(
                    cell(_values(lines, f), d) for f, _, d in COLUMNS) + " |")
            out += format_actions_md([v for k, v in cells.items() if k[2:] == (steps, split)], names)
    return "\n".join(out) + "\n"


def format_paired_md(rows: list[dict], reference: str) -> str:
    """Per-seed paired differences to the reference row, per (steps, split): for every other row, over the seeds
    both rows have, (row - reference) of each COLUMNS metric, mean ± t_{0.975,n-1} s_d / sqrt(n) (s_d the std of the
    n paired differences; a bare mean for one pair). Pairing by seed removes what a seed does to both rows alike (the
    data order, MoCLIP's training, the evaluation's draws). "" when the reference row is absent."""
    cells = latest(rows)
    if not any(k[0] == reference for k in cells):
        return ""
    order = [n for n in dict.fromkeys(r["row"] for r in rows) if n != reference]
    cols = [c for c in COLUMNS if c[0] != "multimodality"]
    out = []
    for steps in sorted({k[2] for k in cells}):
        for split in dict.fromkeys(k[3] for k in cells):
            ref = {k[1]: v for k, v in cells.items() if (k[0], k[2], k[3]) == (reference, steps, split)}
            lines = []
            for name in order:
                new = {k[1]: v for k, v in cells.items() if (k[0], k[2], k[3]) == (name, steps, split)}
                seeds = sorted(set(ref) & set(new))
                if not seeds:
                    continue
                diffs = [[float(new[s][f]) - float(ref[s][f]) for s in seeds if new[s].get(f) and ref[s].get(f)]
                         for f, _, _ in cols]
                lines.append(f"| {name} | {', '.join(map(str, seeds))} | " + " | ".join(
                    cell(d, digits) for d, (_, _, digits) in zip(diffs, cols)) + " |")
            if lines:
                out += ["", f"**{split} split, {steps} training steps: paired difference to {reference}** (row - "
                        f"{reference} on the same seed; mean ± 95% CI over the paired seeds, Student t)", "",
                        "| row | paired seeds | " + " | ".join(h for _, h, _ in cols) + " |",
                        "|---" * (len(cols) + 2) + "|", *lines]
    return "\n".join(out) + "\n" if out else ""


def format_actions_md(lines: list[dict], names: list[str]) -> list[str]:
    """Per-action success (rows: action labels; columns: the row names), mean over seeds, then the locomotion
    actions' skating ratio where the lines carry skating_<label>; [] without actions."""
    labels = sorted({k[7:] for r in lines for k, v in r.items()
                     if k.startswith("action_") and k != "action_success" and v != ""})
    if not labels:
        return []
    out = ["", "| action | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label in labels + ["all"]:
        field = "action_success" if label == "all" else f"action_{label}"
        vals = [cell(_values([r for r in lines if r["row"] == n], field), 2) for n in names]
        out.append(f"| {'**all**' if label == 'all' else label} | " + " | ".join(vals) + " |")
    walking = sorted({k[8:] for r in lines for k, v in r.items() if per_action(k) and k.startswith("skating_")
                      and v != ""})
    if walking:                                        # GMD skating of the locomotion actions (evaluate.LOCOMOTION)
        out += ["", "| skating ↓ (GMD) | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for label in walking:
            vals = [cell(_values([r for r in lines if r["row"] == n], f"skating_{label}"), 3) for n in names]
            out.append(f"| {label} | " + " | ".join(vals) + " |")
    return out


# ----------------------------------------------------------------------------------------------------------------
# Convergence (LUMA Fig. 4 and sec. 4.2): curves, steps to reach the baseline's final FID, the plot
# ----------------------------------------------------------------------------------------------------------------
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


def curves(rows: list[dict], row: str, split: str, field: str = "fid") -> dict:
    """{seed: [(steps, cumulative loop seconds (else train_s), the field's value (FID))]} in step order."""
    out: dict[int, list] = {}
    for (r, seed, steps, sp), line in sorted(latest(rows).items()):
        if (r, sp) == (row, split) and line.get(field, "") != "":
            wall = float(line.get("loop_s") or line.get("train_s") or "nan")
            out.setdefault(seed, []).append((steps, wall, float(line[field])))
    return out


def mean_curve(by_seed: dict) -> list[tuple]:
    """Mean (steps, seconds, FID) over seeds at the steps every seed has."""
    pts = [{p[0]: p for p in c} for c in by_seed.values()]
    common = sorted(set.intersection(*[set(p) for p in pts])) if pts else []
    return [tuple(sum(p[st][i] for p in pts) / len(pts) for i in range(3)) for st in common]


def format_convergence_md(rows: list[dict], compare: tuple[str, str] = CONVERGENCE) -> str:
    """The curves (mean ± 95% CI over seeds at each evaluated step) and the steps-to-reach table (LUMA sec. 4.2)."""
    ref_row, new_row = compare
    cells = latest(rows)
    present = list(dict.fromkeys(r["row"] for r in rows))    # the compared rows first: runs may finish in any order
    names = [n for n in compare if n in present] + [n for n in present if n not in compare]
    seeds = ", ".join(f"{n} {len({k[1] for k in cells if k[0] == n})}" for n in names)
    fields = [("fid", "FID"), ("r_precision_top3", "R@3"), ("action_success", "actions"),
              ("skating_ratio", "skating"), ("loop_s", "min")]
    out = ["", "**FID, R@3, strict action success, skating and cumulative training-loop minutes against steps** "
           f"(mean ± 95% CI over seeds, Student t; seeds: {seeds})", "",
           "| split | steps | " + " | ".join(f"{n} {h}" for n in names for _, h in fields) + " |",
           "|---" * (2 + len(fields) * len(names)) + "|"]
    splits = list(dict.fromkeys(k[3] for k in cells))
    for split in splits:
        for steps in sorted({k[2] for k in cells if k[3] == split}):
            at = {n: [v for k, v in cells.items() if (k[0], k[2], k[3]) == (n, steps, split)] for n in names}
            out.append(f"| {split} | {steps} | " + " | ".join(
                cell(_values(at[n], f), 3, 60.0 if f == "loop_s" else 1.0) for n in names for f, _ in fields) + " |")
    out += format_action_onsets_md(cells, names, splits)
    out += ["", f"**Steps to reach {ref_row}'s final FID** (LUMA sec. 4.2; linear interpolation between "
            f"evaluations; paper: 35k / 50k = 0.7)", "", "| split | curve | target FID | " +
            f"{ref_row} reaches it | {new_row} reaches it | ratio (steps) | ratio (loop wall-clock) |",
            "|---" * 7 + "|"]
    fmt = (lambda v, p="{:.0f}": "never" if v is None else p.format(v))
    for split in splits:
        ref, new = curves(rows, ref_row, split), curves(rows, new_row, split)
        common = sorted(set(ref) & set(new))
        pairs = [(f"seed {s}", ref[s], new[s]) for s in common] + ([("mean over seeds", mean_curve(
            {s: ref[s] for s in common}), mean_curve({s: new[s] for s in common}))] if len(common) > 1 else [])
        for name, r, n in pairs:
            a, b = (reach_ratio([(p[x], p[2]) for p in r], [(p[x], p[2]) for p in n]) for x in (0, 1))
            out.append(f"| {split} | {name} | {a['target']:.3f} | {fmt(a['ref'])} | {fmt(a['new'])} | "
                       f"{fmt(a['ratio'], '{:.2f}')} | {fmt(b['ratio'], '{:.2f}')} |")
    return "\n".join(out) + "\n"


def format_action_onsets_md(cells: dict, names: list[str], splits: list[str], level: float = 0.5) -> list[str]:
    """Which actions appear at which step: per split and action, each row's first evaluated step whose success
    (mean over seeds) reaches `level`, and its success at the last step; [] when the lines carry no actions."""
    out = []
    for split in splits:
        lines = [v for k, v in cells.items() if k[3] == split]
        labels = sorted({k[7:] for r in lines for k, v in r.items()
                         if k.startswith("action_") and k != "action_success" and v != ""})
        if not labels:
            continue
        out += ["", f"**{split}: the first step at which an action's strict success reaches {level:g}** (mean over "
                "seeds; in brackets its success at the last step; '-': never)", "",
                "| action | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        for label in labels:
            row = []
            for n in names:
                steps = sorted({int(r["steps"]) for r in lines if r["row"] == n})
                success = [_values([r for r in lines if r["row"] == n and int(r["steps"]) == st],
                                   f"action_{label}") for st in steps]
                means = [sum(v) / len(v) if v else float("nan") for v in success]
                first = next((st for st, m in zip(steps, means) if m >= level), None)
                row.append(f"{'-' if first is None else first} ({means[-1]:.2f})" if steps else "")
            out.append(f"| {label} | " + " | ".join(row) + " |")
    return out


def plot_convergence(rows: list[dict], path: Path) -> None:
    """Rows: splits; columns: FID vs steps, FID vs cumulative loop wall-clock (minutes), strict action success vs
    steps. Mean thick, seeds thin; the convergence pair (Baseline, LUMA) first, in colours C0, C1."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    splits = list(dict.fromkeys(r["split"] for r in rows))
    present = list(dict.fromkeys(r["row"] for r in rows))
    names = [n for n in CONVERGENCE if n in present] + [n for n in present if n not in CONVERGENCE]
    fig, axes = plt.subplots(len(splits), 3, figsize=(16, 3.6 * len(splits)), squeeze=False)
    for i, split in enumerate(splits):
        ax = axes[i][2]                                                     # strict action success vs steps
        for k, name in enumerate(names):
            by_seed = curves(rows, name, split, "action_success")
            for c in by_seed.values():
                ax.plot([p[0] for p in c], [p[2] for p in c], color=f"C{k}", lw=0.7, alpha=0.45)
            mean = mean_curve(by_seed)
            if mean:
                ax.plot([p[0] for p in mean], [p[2] for p in mean], "o-", color=f"C{k}", lw=2, label=name)
        ax.set_xlabel("training steps")
        ax.set_ylabel(f"strict action success ({split})")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        for j, ax in enumerate(axes[i][:2]):                                # x: p[0] steps, p[1] seconds
            def xy(c):
                return [p[j] / (60.0 if j else 1.0) for p in c], [p[2] for p in c]
            for k, name in enumerate(names):
                by_seed = curves(rows, name, split)
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
    fig.suptitle("FID convergence (LUMA Fig. 4); dashed: the first row's final mean FID; right: strict action success",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def render(results_dir=RESULTS) -> str:
    """The whole RESULTS.md from <results_dir>/*.csv: the listed TABLES first, in their order, then any other."""
    files = {p.stem: p for p in sorted(Path(results_dir).glob("*.csv"))}
    out = ["# Results", "", "<!-- generated by `python -m lab.results` from results/*.csv: do not edit by hand -->", "",
           "Each table is generated from the CSV file of its name in this folder; every line there carries the "
           "method, seed, steps, split, replications (R), guidance, x0 clamp, MultiModality counts (captions x "
           "repeats x pairs), git commit, evaluator sha256, date and machine. A cell over several seeds is mean ± "
           "95% interval over seeds (Student t, n-1 degrees of freedom); over one seed, the mean over its R "
           "replications. Penetration and floating are in millimetres; skating is GMD's ratio (realism.py)."]
    for name in [t for t in TABLES if t in files] + [t for t in files if t not in TABLES]:
        title, about = TABLES.get(name, (name, ""))
        out += ["", f"## {title}", "", f"`results/{name}.csv`. {about}".rstrip()]
        rows = read_rows(files[name])
        text = format_convergence_md(rows) if name in CURVES else format_table_md(rows, name)
        if name in PAIRED:                                         # per-seed paired differences to its reference
            text = text.rstrip("\n") + "\n" + format_paired_md(rows, PAIRED[name])
        out.append(text.rstrip("\n"))
        reading = Path(results_dir) / f"{name}.reading.md"         # the hand-written reading of the table, if any
        if reading.is_file():
            out += ["", "Reading (results/" + reading.name + ", written by hand from the table above):", "",
                    reading.read_text().strip()]
    return "\n".join(out) + "\n"


# The README's summary: (table, row) pairs, each shown on both test splits; regenerated into README.md between
# the two markers by `python -m lab.results`, and checked by tests/test_results.py.
SUMMARY = [("real", "Real motion (evaluator b4710cfc)"), ("default_budget", "LUMA batch 32 (default)"),
           ("comparison", "LUMA"), ("comparison", "latent_ar (MoLingo)")]
SUMMARY_COLUMNS = [("fid", "FID ↓", 3), ("r_precision_top3", "R@3 ↑", 3), ("mm_dist", "MM Dist ↓", 3),
                   ("multimodality", "MModality ↑", 3), ("skating_ratio", "Skating ↓", 3),
                   ("action_success", "Actions ↑", 3)]
MARKERS = ("<!-- results.py summary: begin -->", "<!-- results.py summary: end -->")


def summary_md(results_dir=RESULTS) -> str:
    """The README's summary table: one line per SUMMARY entry and split present in the CSV files (mean over seeds;
    the seeds and steps in the line)."""
    out = ["| table | row | method | split | steps | seeds | " + " | ".join(h for _, h, _ in SUMMARY_COLUMNS) + " |",
           "|---" * (len(SUMMARY_COLUMNS) + 6) + "|"]
    for table, name in SUMMARY:
        cells = latest([r for r in read_rows(Path(results_dir) / f"{table}.csv") if r["row"] == name])
        for split in ("test", "test_novel"):
            for steps in sorted({k[2] for k in cells if k[3] == split}):
                lines = [v for k, v in cells.items() if k[2:] == (steps, split)]
                vals = [f"{sum(_values(lines, f)) / len(_values(lines, f)):.{d}f}" if _values(lines, f) else "-"
                        for f, _, d in SUMMARY_COLUMNS]
                shown = "-" if lines[0]["method"] == "real" else steps
                out.append(f"| {table} | {name} | {lines[0]['method']} | {split} | {shown} | {len(lines)} | "
                           + " | ".join(vals) + " |")
    return "\n".join(out) + "\n"


def with_summary(readme: str, results_dir=RESULTS) -> str:
    """README text with the block between MARKERS replaced by summary_md(). Raises ValueError without the markers."""
    begin, end = MARKERS
    if begin not in readme or end not in readme:
        raise ValueError(f"lab/tables.py: README.md needs the lines {begin!r} and {end!r} around its summary table")
    head, rest = readme.split(begin, 1)
    return head + begin + "\n" + summary_md(results_dir) + end + rest.split(end, 1)[1]
