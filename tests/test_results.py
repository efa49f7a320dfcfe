"""lab/results.py and lab/tables.py: the committed result tables are exactly what the committed CSV files give,
result rows carry what an audit needs, and `python -m lab.results --add` turns an evaluate.py JSON into a row."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab import experiments, results, tables

ROOT = Path(__file__).resolve().parents[1]


def test_committed_results_md_equals_what_the_csv_files_regenerate():
    committed = ROOT / "results" / "RESULTS.md"
    assert committed.is_file(), "results/RESULTS.md is missing: run python -m lab.results"
    assert list((ROOT / "results").glob("*.csv")), "no result CSV is committed under results/"
    assert committed.read_text() == tables.render(ROOT / "results"), \
        "results/RESULTS.md differs from the CSV files: run python -m lab.results and commit it"


def test_readme_summary_table_equals_the_csv_files():
    readme = (ROOT / "README.md").read_text()
    assert readme == tables.with_summary(readme), "README.md's summary table differs: run python results.py"


def test_every_committed_row_is_auditable():
    for path in (ROOT / "results").glob("*.csv"):
        rows = results.read_rows(path)
        assert rows, path
        assert list(rows[0])[:len(results.FIELDS)] == results.FIELDS, path
        for r in rows:
            where = f"{path.name}: {r['row']} seed {r['seed']} {r['split']}"
            assert r["table"] == path.stem and r["method"] and r["split"] and int(r["replications"]) >= 1, where
            assert r["git_commit"] and r["date"] and r["machine"], where
            assert len(r["evaluator_sha256"]) == 64, where
            assert r["fid"] != "" and r["r_precision_top3"] != "", where
            if r["method"] != "real":
                assert r["guidance"] != "" and r["clip_denoised"] in ("on", "off", "n/a"), where
        if path.stem in tables.CURVES:                  # a curve's rows share one budget, written in their flags
            assert len({experiments.budget_of(r) for r in rows} - {None}) == 1, path
            assert all(experiments.budget_of(r) for r in rows), path


def fake_eval(split="test", reps=2):
    summary = {"Real motion": {"FID": {"mean": 0.1}, "R_precision_top3": {"mean": 0.9}},
               "run_seed0": {"FID": {"mean": 5.0}, "R_precision_top3": {"mean": 0.5}, "MultiModality": {"mean": 2.0},
                             "penetration_mm": {"mean": 1.5}, "action_success": {"mean": 0.25},
                             "action/walk": {"mean": 0.5}, "skating/walk": {"mean": 0.4}}}
    return {"config": {"split": split, "replication_times": reps}, "evaluator_sha256": "cd" * 32,
            "generator": {"method": "luma", "guidance": 1.5, "clip_denoised": "on"},
            "multimodality": [100, 30, 10], "summary": summary}


def test_row_from_eval_names_metrics_stably_and_records_settings():
    row = results.row_from_eval(fake_eval(), "run_seed0", table="t", row="LUMA", seed=0, steps=400)
    assert (row["fid"], row["r_precision_top3"], row["multimodality"], row["penetration_mm"]) == (5.0, 0.5, 2.0, 1.5)
    assert (row["action_success"], row["action_walk"], row["skating_walk"]) == (0.25, 0.5, 0.4)
    assert (row["method"], row["guidance"], row["clip_denoised"]) == ("luma", 1.5, "on")
    assert (row["replications"], row["split"], row["multimodality_counts"]) == (2, "test", "100x30x10")
    real = results.row_from_eval(fake_eval(), "Real motion", table="t", row="Real motion", seed=0, steps=0)
    assert real["method"] == "real" and real["guidance"] == "" and real["multimodality_counts"] == ""
    with pytest.raises(KeyError, match="run_seed0"):
        results.row_from_eval(fake_eval(), "nope")


def test_add_command_appends_a_row_and_regenerates(tmp_path):
    path = tmp_path / "eval.json"
    path.write_text(json.dumps(fake_eval()))
    cmd = [sys.executable, "-m", "lab.results", f"--results_dir={tmp_path / 'res'}", f"--add={path}",
           "--table=demo", "--row=LUMA", "--from_row=run_seed0", "--seed=3", "--steps=400"]
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
    rows = results.read_rows(tmp_path / "res" / "demo.csv")
    assert len(rows) == 1 and rows[0]["seed"] == "3" and rows[0]["fid"] == "5.0"
    md = (tmp_path / "res" / "RESULTS.md").read_text()
    assert "| LUMA | luma | 1 | R=2, g 1.5, clamp on, MM 100x30x10 | 5.000 |" in md and "| walk | 0.50 |" in md
    check = [sys.executable, "-m", "lab.results", f"--results_dir={tmp_path / 'res'}", "--check"]
    assert subprocess.run(check, capture_output=True, cwd=ROOT).returncode == 0
    (tmp_path / "res" / "RESULTS.md").write_text(md.replace("5.000", "4.000"))          # a hand edit is caught
    assert subprocess.run(check, capture_output=True, cwd=ROOT).returncode == 1


def _append_ten(path, worker):
    for i in range(10):
        results.append_rows(path, [{"table": "t", "row": f"w{worker}", "seed": i, "steps": 1, "split": "test"}])


def test_appends_from_several_processes_lose_no_row(tmp_path):
    """Runs side by side (lab.experiments --jobs, or two runners) append to one CSV: the folder lock keeps all rows."""
    import multiprocessing
    path = tmp_path / "t.csv"
    procs = [multiprocessing.get_context("fork").Process(target=_append_ten, args=(path, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    rows = results.read_rows(path)
    assert len(rows) == 40 and {(r["row"], r["seed"]) for r in rows} == {(f"w{w}", str(i)) for w in range(4)
                                                                         for i in range(10)}
    assert not list(tmp_path.glob("*.tmp"))


def test_paired_differences_pair_by_seed_and_use_the_t_interval():
    """format_paired_md: (row - reference) on the same seed, mean ± t_{0.975,n-1} s_d / sqrt(n) (scipy's t), seeds
    without a reference line left out; a seed offset common to both rows cancels, which an unpaired interval keeps."""
    from scipy import stats
    def line(row, seed, fid):
        return {"row": row, "seed": str(seed), "steps": "4000", "split": "test", "fid": str(fid), "method": "m"}
    base = {0: 2.0, 1: 5.0, 2: 3.0}                                 # a large seed effect shared by both rows
    delta = {0: -0.5, 1: -0.7, 2: -0.6}
    rows = ([line("Baseline", s, f) for s, f in base.items()] + [line("LUMA", s, base[s] + delta[s]) for s in base]
            + [line("LUMA", 3, 0.1)])                              # seed 3 has no baseline: not paired
    text = tables.format_paired_md(rows, "Baseline")
    d = list(delta.values())
    half = stats.t.ppf(0.975, 2) * stats.tstd(d) / 3 ** 0.5
    assert f"| LUMA | 0, 1, 2 | {sum(d) / 3:.3f} ± {half:.3f} |" in text
    assert half < 0.5 < tables.mean_ci([base[s] + delta[s] for s in base])[1]   # pairing removes the seed effect
    assert tables.format_paired_md([line("LUMA", 0, 1.0)], "Baseline") == ""
