"""lab/experiments.py without real training: the commands each table produces (--dry_run and plan()), convergence
segmenting with a fixed --anchor_decay_steps, the CSV append/skip logic, mean +- CI over seeds in the Markdown, the
interpolated steps-to-reach ratio, and one whole session run through stand-in train.py / evaluate.py scripts."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ENV  # python -m lab.experiments from any directory

from lab import experiments as ex  # noqa: E402  (conftest puts the repository root on sys.path)
from lab import results, tables  # noqa: E402


def cfg(**kw):
    return ex.ExperimentsConfig(**{"python": "python", **kw})


def flags_of(cmd):
    return {a.partition("=")[0]: a.partition("=")[2] for a in cmd[2:]}


def test_tables_and_metric_columns():
    t2 = ex.TABLES["luma_table2"]["rows"]
    assert t2["w/o DAL (MoCLIP text only)"] == ["--method=luma", "--anchor_fre=False", "--anchor_tem=False"]
    assert t2["w/o MoCLIP"] == ["--method=luma", "--moclip_text=False"] and t2["Baseline"] == ["--method=baseline"]
    assert ex.TABLES["atm_table3"]["rows"]["+L_inter"] == ["--method=atm", "--atm_intra=False"]
    for name, spec in ex.TABLES.items():                      # slugs name run directories: they must be distinct
        assert len({ex.slug(r) for r in spec["rows"]}) == len(spec["rows"]), name
    import evaluate
    assert set(results.METRIC_NAMES) == {k for k, _ in evaluate.METRICS + evaluate.REALISM}


def test_dry_run_prints_one_train_and_two_evals_per_row_and_seed(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lab.experiments", "--table=luma_table2", "--seeds=0,1",
                           "--steps=400", "--reps=2", "--train_args=--batch_size=32 --steps=7", "--dry_run",
                           f"--out={tmp_path}"], capture_output=True, text=True, cwd=tmp_path, env=ENV)
    assert proc.returncode == 0, proc.stderr
    cmds = [ln.split() for ln in proc.stdout.splitlines() if ln.startswith(sys.executable)]
    trains = [c for c in cmds if c[1].endswith("train.py")]
    evals = [c for c in cmds if c[1].endswith("evaluate.py")]
    assert len(trains) == 7 * 2 and len(evals) == 7 * 2 * 2
    assert not list(tmp_path.iterdir())                                        # a dry run writes nothing
    for c in trains:
        f = flags_of(c)
        assert f["--steps"] == "7" and f["--batch_size"] == "32" and "--resume" not in f   # --train_args win
        assert Path(f["--out_dir"]).parent == tmp_path / "luma_table2" and f["--seed"] in ("0", "1")
    by_dir = {flags_of(c)["--out_dir"]: c for c in trains}
    wo_dal = flags_of(by_dir[str(tmp_path / "luma_table2" / "w_o_dal_moclip_text_only_seed1")])
    assert (wo_dal["--method"], wo_dal["--anchor_fre"], wo_dal["--anchor_tem"]) == ("luma", "False", "False")
    for c in evals:
        f = flags_of(c)
        assert f["--split"] in ("test", "test_novel") and f["--replication_times"] == "2"
        assert (f["--mm_num_samples"], f["--mm_num_repeats"], f["--mm_num_times"]) == ("100", "30", "10")
        assert "--compare_split" not in f and f["--out_dir"].endswith("eval_step400")
    proc = subprocess.run([sys.executable, "-m", "lab.experiments", "--table=luma_ablation",
                           "--rows=w_o_film,Baseline,Bottleneck", "--dry_run"], capture_output=True, text=True,
                          env=ENV)
    assert [ln.split(" | ")[1] for ln in proc.stdout.splitlines() if ln.startswith("# ")] == \
        ["w/o FiLM", "Baseline", "Bottleneck"]                                # rows picked by slug or name
    proc = subprocess.run([sys.executable, "-m", "lab.experiments", "--rows=nope", "--dry_run"],
                          capture_output=True, text=True, env=ENV)
    assert proc.returncode != 0 and "no row ['nope']" in proc.stderr


def test_budget_flag_per_method_and_precedence():
    jobs = ex.plan(cfg(table="latent_ar", steps=300, train_args="--ae_steps=50"), "latent_ar", set(),
                   state=lambda d: None)
    f = {j.row: flags_of(j.train_cmd) for j in jobs}
    assert (f["aligned, cross"]["--ae_steps"], f["aligned, cross"]["--gen_steps"]) == ("50", "300")
    assert "--steps" not in f["unaligned"] and f["unaligned"]["--align_weight"] == "0"
    assert f["Baseline"]["--steps"] == "300" and "--gen_steps" not in f["Baseline"]
    assert ex.merge_flags(["--steps=4", "--a=1"], ["--steps=9", "--flag"]) == ["--steps=9", "--a=1", "--flag"]


def test_convergence_is_segmented_with_a_fixed_decay():
    c = cfg(table="convergence", steps=400, segment=100, seeds="0,1", splits="test")
    jobs = ex.plan(c, "convergence", set(), state=lambda d: None)
    assert [(j.row, j.seed, j.steps) for j in jobs][:4] == [("Baseline", 0, s) for s in (100, 200, 300, 400)]
    assert len(jobs) == 2 * 2 * 4
    for j in jobs:
        f = flags_of(j.train_cmd)
        assert f["--steps"] == str(j.steps) and f["--anchor_decay_steps"] == "400"
        assert f["--lr_decay_every"] == "67"           # the default's 200 of 1,200 steps, stretched to 400
        assert ("--resume" in f) == (j.steps > 100) and list(j.eval_cmds) == ["test"]
    # a later session: Baseline seed 0 evaluated at 100 and 200, its checkpoint at 200 -> resume towards 300
    done = {("Baseline", 0, s, "test") for s in (100, 200)}
    at = {"baseline_seed0": (200, {"anchor_decay_steps": 400, "seed": 0})}
    jobs = ex.plan(c, "convergence", done, state=lambda d: at.get(Path(d).name))
    first = [j for j in jobs if (j.row, j.seed) == ("Baseline", 0)]
    assert [j.steps for j in first] == [300, 400] and first[0].resume and "--resume" in first[0].train_cmd
    # a checkpoint of another budget is not resumed; one already past a missing evaluation says so
    at = {"baseline_seed0": (200, {"anchor_decay_steps": 800, "seed": 0})}
    first = [j for j in ex.plan(c, "convergence", done, state=lambda d: at.get(Path(d).name)) if j.seed == 0]
    assert not first[0].resume and first[0].steps == 300 and "--resume" not in first[0].train_cmd
    assert all(j.schedule == ["--anchor_decay_steps=400", "--lr_decay_every=67"] for j in jobs)
    assert ex.budget_of({"flags": "--method=luma --anchor_decay_steps=400"}) == 400
    assert ex.budget_of({"flags": "--method=luma"}) is None
    with pytest.raises(SystemExit, match="towards an unrecorded number of steps"):   # a row without its budget
        ex.check_budget("convergence", [{"flags": "--method=luma"}], 400)
    with pytest.raises(SystemExit) as refused:                   # the message never sends a table to itself
        ex.check_budget("convergence_long", [{"flags": "--anchor_decay_steps=8000"}], 9000)
    assert "towards 8000 steps" in str(refused.value) and "--table=convergence_long" not in str(refused.value)
    # lab/tables.py renders as curves exactly the tables trained in segments (it cannot import this module)
    assert set(tables.CURVES) == {t for t, spec in ex.TABLES.items() if spec.get("segmented")}
    at = {"baseline_seed0": (300, {"anchor_decay_steps": 400, "seed": 0})}
    jobs = ex.plan(c, "convergence", {("Baseline", 0, 100, "test")}, state=lambda d: at.get(Path(d).name))
    assert "cannot be evaluated" in jobs[0].note and jobs[0].steps == 200 and jobs[1].train_cmd is None


def test_csv_append_skip_and_markdown_ci(tmp_path):
    path = tmp_path / "t.csv"
    base = {"table": "luma_table2", "steps": 400, "split": "test", "method": "luma", "replications": 2}
    results.append_rows(path, [dict(base, row="LUMA (full)", seed=0, fid=1.0, r_precision_top3=0.5),
                               dict(base, row="LUMA (full)", seed=1, fid=3.0, r_precision_top3=0.7)])
    results.append_rows(path, [dict(base, row="Baseline", seed=0, fid=4.0, method="baseline", action_jump=0.5)])
    rows = results.read_rows(path)
    assert len(rows) == 3 and rows[0]["fid"] == "1.0" and rows[2]["action_jump"] == "0.5"
    assert list(rows[0])[:len(results.FIELDS)] == results.FIELDS
    with pytest.raises(ValueError, match="FID"):
        results.append_rows(path, [dict(base, row="x", seed=0, FID=1.0)])        # a misspelt metric is refused
    done = set(results.latest(rows))
    jobs = ex.plan(cfg(steps=400, seeds="0,1", splits="test"), "luma_table2", done, state=lambda d: None)
    ran = {(j.row, j.seed) for j in jobs}
    assert ("LUMA (full)", 0) not in ran and ("Baseline", 0) not in ran and ("Baseline", 1) in ran
    assert len(ran) == 7 * 2 - 3
    md = tables.format_table_md(rows, "luma_table2")
    full = next(ln for ln in md.splitlines() if ln.startswith("| LUMA (full)"))
    assert "| luma | 2 | R=2 | 2.000 ± 12.706 |" in full and "0.600 ± 1.271" in full   # t_{0.975,1} s / sqrt(2)
    baseline = next(ln for ln in md.splitlines() if ln.startswith("| Baseline"))
    assert "| baseline | 1 | R=2 | 4.000 |" in baseline
    assert md.index("| LUMA (full)") < md.index("| Baseline")                    # first-appearance order
    assert "| jump | - | 0.50 |" in md                                           # per-action table
    assert tables.mean_ci([2.0, 4.0, 6.0])[1] == pytest.approx(4.303 * 2 / 3 ** 0.5, rel=1e-3)


def test_steps_to_reach_interpolates():
    assert tables.steps_to_reach([200, 300], [6.0, 4.0], 5.0) == pytest.approx(250)
    r = tables.reach_ratio([(100, 9.0), (200, 7.0), (300, 6.0), (400, 5.0)], [(200, 6.0), (300, 4.0), (400, 3.5)])
    assert (r["target"], r["ref"], r["new"]) == (5.0, 400, pytest.approx(250)) and r["ratio"] == pytest.approx(0.625)
    assert tables.steps_to_reach([100, 200], [9.0, 8.0], 5.0) is None                # never reaches it
    assert tables.steps_to_reach([100, 200], [4.0, 3.0], 5.0) == 100                 # already there at the first eval
    log = "step 100/300 | loss 1 | lr 1 | 20.0 ms/step | x\nnoise\nstep    300/300 | loss 1 | 10.0 ms/step | x\n"
    assert ex.loop_seconds(log) == pytest.approx(100 * 0.02 + 200 * 0.01)
    assert ex.loop_seconds(log, start=50) == pytest.approx(50 * 0.02 + 200 * 0.01)
    two_stages = "ae step 100/200 | 10.0 ms/step\nae step 200/200 | 30.0 ms/step\ngen step 100/100 | 50.0 ms/step\n"
    assert ex.loop_seconds(two_stages) == pytest.approx(100 * 0.01 + 100 * 0.03 + 100 * 0.05)   # latent_ar
    resumed = "stage ae: resumed r/ae.pt at step 150\nae step 200/200 | 30.0 ms/step\ngen step 100/100 | 50.0 ms/step\n"
    assert ex.loop_seconds(resumed) == pytest.approx(50 * 0.03 + 100 * 0.05)     # the stage counts from its resume


def test_a_latent_ar_run_stopped_in_its_autoencoder_stage_is_resumed(tmp_path):
    """A run killed before stage 2 saved ckpt.pt has only ae.pt: the next session continues it with --resume (the
    autoencoder would start over without it), and ae.pt of another budget starts a fresh run."""
    import torch
    run = tmp_path / "comparison" / "latent_ar_molingo_seed0"
    run.mkdir(parents=True)
    torch.save({"kind": "motion_ae", "step": 450, "config": {"ae_steps": 700, "gen_steps": 700, "seed": 0}},
               run / "ae.pt")
    assert ex.ckpt_state(run) == (0, {"ae_steps": 700, "gen_steps": 700, "seed": 0})
    assert ex.ckpt_state(tmp_path) is None
    c = cfg(table="comparison", steps=700, seeds="0", splits="test", rows="latent_ar (MoLingo)", out=str(tmp_path))
    (job,) = ex.plan(c, "comparison", set())
    assert job.resume and job.train_cmd[-1] == "--resume" and flags_of(job.train_cmd)["--ae_steps"] == "700"
    (job,) = ex.plan(cfg(table="comparison", steps=900, seeds="0", splits="test", rows="latent_ar (MoLingo)",
                         out=str(tmp_path)), "comparison", set())
    assert not job.resume and "--resume" not in job.train_cmd


FAKE = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    script, args = Path(sys.argv[1]).name, dict(a[2:].partition("=")[::2] for a in sys.argv[2:])
    with open("calls.txt", "a") as f:
        f.write(" ".join([script] + sys.argv[2:]) + "\\n")
    if script == "train.py":
        import torch
        out, steps = Path(args["out_dir"]), int(args["steps"])
        start = torch.load(out / "ckpt.pt")["step"] if "resume" in args and (out / "ckpt.pt").exists() else 0
        print(f"step {steps:>6}/{steps} | loss 1.0 | lr 1e-4 | 10.0 ms/step | 3.2 samples/s")
        out.mkdir(parents=True, exist_ok=True)
        (out / "method.txt").write_text(args["method"])
        torch.save({"step": steps, "config": {"steps": steps, "seed": int(args["seed"]), "dataset": "synthetic",
                    "anchor_decay_steps": int(args.get("anchor_decay_steps", 0))}}, out / "ckpt.pt")
    else:
        run, out = Path(args["ckpt"]).parent, Path(args["out_dir"])
        steps, seed = int(out.name.removeprefix("eval_step")), int(run.name[-1])
        fid = {"baseline": {100: 9.0, 200: 8.0}, "luma": {100: 8.5, 200: 7.5}}[(run / "method.txt").read_text()]
        walk = {"baseline": {100: 0.25, 200: 0.75}, "luma": {100: 0.5, 200: 1.0}}[(run / "method.txt").read_text()]
        model = {"FID": fid[steps] + 0.1 * seed, "R_precision_top3": 0.5, "action/walk": walk[steps]}
        out.mkdir(parents=True, exist_ok=True)
        (out / f"eval_synthetic_{args['split']}.json").write_text(json.dumps({
            "config": {"split": args["split"], "replication_times": int(args["replication_times"])},
            "evaluator_sha256": "ab" * 32, "generator": {"method": "x", "guidance": 1.5, "clip_denoised": "on"},
            "multimodality": [100, 30, 10], "summary": {
            "Real motion": {"FID": {"mean": 0.0, "ci95": 0.0}},
            run.name: {k: {"mean": v, "ci95": 0.0} for k, v in model.items()}}}))
""")


def test_comparison_rows_budgets_and_stretched_lr():
    c = cfg(table="comparison", steps=4000, seeds="0,1,2", splits="test,test_novel")
    jobs = ex.plan(c, "comparison", set(), state=lambda d: None)
    assert len(jobs) == 5 * 3 and {j.row for j in jobs} == set(ex.TABLES["comparison"]["rows"])
    for j in jobs:
        f = flags_of(j.train_cmd)
        if f["--method"] == "latent_ar":                 # two stages of the budget each, its own cosine schedule
            assert f["--ae_steps"] == f["--gen_steps"] == "4000" and "--lr_decay_every" not in f
        else:
            assert f["--steps"] == "4000" and f["--lr_decay_every"] == "667"
        assert list(j.eval_cmds) == ["test", "test_novel"]


@pytest.mark.parametrize("jobs", [1, 4])
def test_a_session_with_stand_in_scripts_fills_the_csv_and_is_skipped_next_time(tmp_path, monkeypatch, jobs):
    fake = tmp_path / "fakepython"
    fake.write_text(f"#!{sys.executable}\n{FAKE}")
    fake.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    argv = ["--table=convergence", "--steps=200", "--segment=100", "--seeds=0,1", "--splits=test",
            f"--python={fake}", "--out=exp", "--results=res", f"--jobs={jobs}"]   # 4: the runs side by side
    ex.main(argv)
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert sum(c.startswith("train.py") for c in calls) == 8 and sum(c.startswith("evaluate.py") for c in calls) == 8
    rows = results.read_rows(tmp_path / "res" / "convergence.csv")
    assert len(rows) == 8 and {r["steps"] for r in rows} == {"100", "200"}
    assert all(float(r["loop_s"]) == pytest.approx(float(r["steps"]) * 0.01) for r in rows)   # cumulative
    first = next(r for r in rows if (r["row"], r["seed"], r["steps"]) == ("Baseline", "0", "100"))
    assert first["action_walk"] == "0.25" and first["git_commit"] and first["date"] and first["machine"]
    assert {r["method"] for r in rows} == {"baseline", "luma"} and first["evaluator_sha256"] == "ab" * 32
    assert first["multimodality_counts"] == "" and first["guidance"] == "1.5"   # no MM figure: no counts
    md = (tmp_path / "res" / "RESULTS.md").read_text()
    # baseline final FID 8.0 (seed 0); LUMA 8.5 at 100, 7.5 at 200 -> 150 steps of 200: 0.75, per seed and mean
    assert md.count("| 200 | 150 | 0.75 | 0.75 |") == 3, md
    assert "| walk | 200 (0.75) | 100 (1.00) |" in md                   # the step at which walking appears
    assert (tmp_path / "res" / "convergence.png").stat().st_size > 10_000
    kept = sorted(p.name for p in (tmp_path / "exp" / "convergence" / "luma_seed1").glob("ckpt_step*.pt"))
    assert kept == ["ckpt_step100.pt", "ckpt_step200.pt"]                # each evaluated segment's weights stay
    ex.main(argv)                                                         # everything is in the CSV: nothing runs
    assert (tmp_path / "calls.txt").read_text().splitlines() == calls
    assert len(results.read_rows(tmp_path / "res" / "convergence.csv")) == 8
    # the rows record their budget; a run towards another one is refused (it would mix two schedules in one
    # curve and overwrite the run directories) and goes to a table of its own
    assert {r["flags"] for r in rows} == {f"--method={m} --anchor_decay_steps=200 --lr_decay_every=33"
                                          for m in ("baseline", "luma")}
    with pytest.raises(SystemExit, match="towards 200 steps.*--steps=400.*convergence_long"):
        ex.main([a.replace("--steps=200", "--steps=400") for a in argv])
    assert (tmp_path / "calls.txt").read_text().splitlines() == calls                      # nothing ran
    ex.main([a.replace("--table=convergence", "--table=convergence_long").replace("--seeds=0,1", "--seeds=0")
             for a in argv])
    long = results.read_rows(tmp_path / "res" / "convergence_long.csv")
    assert len(long) == 4 and (tmp_path / "exp" / "convergence_long" / "luma_seed0" / "ckpt_step200.pt").is_file()
    assert (tmp_path / "res" / "convergence_long.png").is_file() and "## Convergence to 8,000 steps" in \
        (tmp_path / "res" / "RESULTS.md").read_text()


def test_benchmark_reads_step_time_after_warm_up():
    from lab import benchmark
    log = "step 20/60 | loss 1.0 | 900.0 ms/step | 3 samples/s\nstep 40/60 | loss 0.9 | 400.0 ms/step\n" \
          "step 60/60 | loss 0.8 | 500.0 ms/step\n"
    assert benchmark.step_ms(log) == 450.0                     # the first (warm-up) interval is dropped
    with pytest.raises(ValueError, match="at least two log lines"):
        benchmark.step_ms("step 20/60 | 900.0 ms/step")


def test_unet_step_times_each_case_and_names_a_bad_one(tmp_path):
    from lab import unet_step
    table = unet_step.main(["--device=cpu", "--cases=cpu:2:fp32,cpu:2:bf16", "--steps=1", "--warmup=0", "--frames=16",
                            f"--out_dir={tmp_path}"])
    rows = [line for line in table.splitlines() if line.startswith("| cpu |")]
    assert [r.split("|")[3].strip() for r in rows] == ["fp32", "bf16"]
    for r in rows:                                  # ms/step > 0 and samples/s = batch / step time, whatever the load
        ms, per_s = float(r.split("|")[5]), float(r.split("|")[6])
        assert ms > 0 and per_s == pytest.approx(2000 / ms, abs=0.06)
    assert " 2.3 |" in rows[0]                      # the CPU preset's 2.3M parameters
    assert (tmp_path / "unet_step.md").read_text() == table
    with pytest.raises(SystemExit, match="preset:batch:precision"):
        unet_step.main(["--device=cpu", "--cases=cpu:2:fp16"])
