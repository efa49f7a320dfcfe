"""Smoke runs of the scripts as a user runs them (subprocesses, tiny budgets, CPU).

Covers: train.py on the embedded dataset and on the real HumanML3D sample, resume after a kill, torchrun with two
CPU processes, sample.py writing features / joints / animations / BVH in batches, and sample.py's input errors.
"""
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import ENV, ROOT, run
from conftest import TINY as TINY_NET

TINY = ["--method=baseline", *TINY_NET, "--batch_size=4", "--log_every=1"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A work directory with a tiny embedded dataset (built by train.py itself) and a trained tiny checkpoint."""
    work = tmp_path_factory.mktemp("work")
    proc = run(ROOT / "train.py", "--data_root=synth", "--num_motions=24", "--steps=6", "--save_every=3",
               "--out_dir=run", *TINY, cwd=work)
    return work, proc


def test_train_default_dataset_builds_and_checkpoints(work):
    work, proc = work
    assert (work / "synth" / "meta.json").is_file(), "train.py should build the embedded dataset on first use"
    ckpt = torch.load(work / "run" / "ckpt.pt", map_location="cpu", weights_only=True)
    assert ckpt["step"] == 6
    assert {"model", "ema", "optimizer", "config", "model_args", "mean", "std", "rng"} <= set(ckpt)
    assert ckpt["config"]["dataset"] == "synthetic"
    # the train split's per-dimension range of normalised features, which sampling clamps x0 predictions to
    lo, hi = ckpt["x0_range"]
    assert lo.shape == (263,) and (lo <= hi).all() and (hi - lo > 0).sum() > 200
    # the log reports L_DDPM, lr, ms/step and samples/s, and the loss is a finite number
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("step")]
    assert len(lines) == 6 and all("ms/step" in ln and "samples/s" in ln and "lr" in ln for ln in lines)
    assert np.isfinite(float(lines[-1].split("L_DDPM")[1].split("|")[0]))
    assert (work / "run" / "config.json").is_file()


def test_ema_starts_from_the_weights_after_the_first_step(work):
    """The EMA's warm-up (runtime.ema_decay) is wired in: its first update has decay 0, so after one step the EMA
    is the model itself (decay 0.995 would keep 99.5% of the initialisation)."""
    work, _ = work
    run(ROOT / "train.py", "--data_root=synth", "--num_motions=24", "--steps=1", "--out_dir=run_one", *TINY, cwd=work)
    ckpt = torch.load(work / "run_one" / "ckpt.pt", map_location="cpu", weights_only=True)
    assert ckpt["config"]["ema_warmup"] is True
    assert all(torch.equal(ckpt["ema"][k], v) for k, v in ckpt["model"].items())


def test_foot_contact_loss_trains_and_is_logged(work):
    work, _ = work
    proc = run(ROOT / "train.py", "--data_root=synth", "--num_motions=24", "--steps=2", "--out_dir=run_foot",
               "--lambda_foot=1", *TINY, cwd=work)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("step")]
    assert len(lines) == 2 and all(np.isfinite(float(ln.split("L_foot")[1].split("|")[0])) for ln in lines)


def test_sample_writes_features_joints_and_animation(work):
    work, _ = work
    proc = run(ROOT / "sample.py", "--ckpt=run/ckpt.pt", "--text", "a person jumps in place", "--length=50",
               "--num_samples=2", "--steps=3", "--out_dir=samples", "--precision=bf16", cwd=work)
    feats = sorted((work / "samples").glob("00_*_[01].npy"))
    assert len(feats) == 2, proc.stdout
    x = np.load(feats[0])
    joints = np.load(str(feats[0]).replace(".npy", "_joints.npy"))
    assert x.shape == (50, 263) and joints.shape == (50, 22, 3) and np.isfinite(joints).all()
    assert list((work / "samples").glob("00_*_0.gif")) or list((work / "samples").glob("00_*_0.mp4"))
    assert list((work / "samples").glob("00_*_0.png"))


def test_foot_cleanup_rewrites_the_joints_from_the_contact_channels(work):
    """By default (--foot_cleanup) the joints file is clean_foot_contacts of the features' joints and their contact
    channels; the features file stays the model's output (--foot_cleanup=False, the same seed, writes the same
    features and their plain joints)."""
    from motion import recover_from_ric
    from realism import clean_foot_contacts
    work, _ = work
    out = {}
    for flag in ("--foot_cleanup=False", ""):
        folder = f"samples_clean{flag[-5:]}"
        run(ROOT / "sample.py", "--ckpt=run/ckpt.pt", "--text", "a person walks forward", "--length=60", "--steps=3",
            "--no_render", f"--out_dir={folder}", *([flag] if flag else []), cwd=work)
        feats = next((work / folder).glob("00_*_0.npy"))
        out[flag] = np.load(feats), np.load(str(feats).replace(".npy", "_joints.npy"))
    (x, plain), (x_clean, cleaned) = out["--foot_cleanup=False"], out[""]
    assert np.array_equal(x, x_clean)
    np.testing.assert_allclose(plain, recover_from_ric(x, 22), atol=1e-5)
    np.testing.assert_allclose(cleaned, clean_foot_contacts(recover_from_ric(x, 22), x[:, -4:]), atol=1e-5)
    assert np.abs(cleaned - plain).max() > 0.01                   # the tiny model's channels plant a foot somewhere


def test_sampling_reads_the_cached_rounding(work):
    """sample.py conditions on the states training read: Generator.encode_text equals the training cache's rows to
    one float16 ulp (+1e-6: float32 encoder noise from the batch composition), most of them exactly."""
    import text_encoder
    import sample
    work, _ = work
    gen = sample.load_generator(work / "run" / "ckpt.pt")
    assert gen.precision == "fp32"                          # on the CPU, whatever the run trained with
    cache = text_encoder.TextFeatureCache.load(next((work / "cache").glob("text_features_*.pt")))
    captions = list(cache.index)[:5]
    cached, cached_mask = cache.get(captions)
    live, live_mask = gen.encode_text(captions)
    assert torch.equal(cached_mask, live_mask)
    assert ((cached - live).abs() <= torch.maximum(cached.abs(), live.abs()) * 2.0 ** -10 + 1e-6).all()
    assert (cached == live).float().mean() > 0.95
    gen.precision = "fp16"
    with pytest.raises(ValueError, match="precision must be one of"):
        gen.generate(captions[:1], [40], steps=1)


def test_sample_input_errors(work):
    work, _ = work
    (work / "prompts.txt").write_text("a person walks#60\n   #80\n")
    proc = run(ROOT / "sample.py", "--ckpt=run/ckpt.pt", "--text_file=prompts.txt", "--no_render", cwd=work,
               check=False)
    assert proc.returncode != 0 and "prompts.txt:2: empty prompt" in proc.stderr
    proc = run(ROOT / "sample.py", "--ckpt=run/ckpt.pt", "--text", "a person walks", "--length=500", cwd=work,
               check=False)
    assert proc.returncode != 0 and "outside [40, 196]" in proc.stderr
    proc = run(ROOT / "sample.py", "--ckpt=run/ckpt.pt", "--text", "a person walks", "--length=6", cwd=work,
               check=False)
    assert proc.returncode != 0 and "6s" in proc.stderr  # the hint for seconds


def _one_line_error(proc, *expected):
    """A failed run that says what is wrong in one line, without a traceback (progress bars aside)."""
    err = [ln for ln in proc.stderr.splitlines() if ln.startswith("sample.py")]
    assert proc.returncode != 0 and len(err) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert all(e in err[0] for e in expected), err[0]


def test_sample_bad_inputs_stop_with_one_line(work):
    work, _ = work
    (work / "not_a_ckpt.pt").write_text("hello\n")
    (work / "empty.txt").write_text("\n   \n")
    cases = [(["--ckpt=not_a_ckpt.pt", "--text=a person walks"], ["not_a_ckpt.pt", "is not a checkpoint"]),
             (["--ckpt=run", "--text=a person walks"], ["--ckpt", "not found"]),
             (["--ckpt=run/ckpt.pt", "--text_file=missing.txt"], ["missing.txt", "no such file"]),
             (["--ckpt=run/ckpt.pt", "--text_file=empty.txt"], ["empty.txt", "is empty"]),
             (["--ckpt=run/ckpt.pt", "--text=a person walks", "--sampler=euler"], ["--sampler", "euler"]),
             (["--ckpt=run/ckpt.pt", "--text=a person walks", "--length=6x"], ["--length", "'6x'"]),
             (["--ckpt=run/ckpt.pt", "--text=a person walks", "--batch_size=0"], ["--batch_size must be >= 1"])]
    for args, expected in cases:
        proc = run(ROOT / "sample.py", *args, "--out_dir=bad_out", "--steps=2", cwd=work, check=False)
        _one_line_error(proc, *expected)
    assert not (work / "bad_out").exists() or not any((work / "bad_out").iterdir()), "nothing is written"


def test_sample_prompt_file_batches_skips_bad_lines_and_writes_bvh(work):
    """Bad lines are reported and skipped, the others run (in batches, each prompt at its own length), BVH included;
    an emoji in a prompt draws no glyph warning."""
    pytest.importorskip("bvhio")
    from bvh import read_bvh
    work, _ = work
    (work / "mixed.txt").write_text("a person walks forward#50\n"
                                    "   #80\n"
                                    "a person waves#6x\n"
                                    "a person waves with the left hand 👋#2.5s\n"
                                    "a person runs#500\n"
                                    "a person jumps#60\n", encoding="utf-8")
    proc = run(ROOT / "sample.py", "--ckpt=run/ckpt.pt", "--text_file=mixed.txt", "--batch_size=2", "--steps=2",
               "--bvh", "--out_dir=mixed", cwd=work, check=False)
    assert proc.returncode == 1, proc.stderr
    for where in ("mixed.txt:2: empty prompt", "mixed.txt:3: length '6x'", "mixed.txt:5: length 500 frames"):
        assert where in proc.stderr
    assert "3 prompt line(s) skipped" in proc.stderr.splitlines()[-1]
    assert "Glyph" not in proc.stderr and "Traceback" not in proc.stderr
    out = work / "mixed"
    assert sorted(p.name.split("_")[0] for p in out.glob("*_joints.npy")) == ["00", "03", "05"]
    assert not list(out.glob("01_*")) + list(out.glob("02_*")) + list(out.glob("04_*"))
    for stem, frames in (("00_a_person_walks_forward_0", 50), ("03_a_person_waves_with_the_left_hand_0", 50),
                         ("05_a_person_jumps_0", 60)):
        joints = np.load(out / f"{stem}_joints.npy")
        assert joints.shape == (frames, 22, 3) and np.load(out / f"{stem}.npy").shape == (frames, 263)
        assert (out / f"{stem}.png").is_file() and ((out / f"{stem}.gif").is_file() or (out / f"{stem}.mp4").is_file())
        names, pos, fps = read_bvh(out / f"{stem}.bvh")
        assert pos.shape == (frames, 22, 3) and fps == pytest.approx(20.0) and names[0] == "pelvis"
        # the file's root path is the motion's (cm); joints elsewhere are on one fixed skeleton
        assert np.abs(pos[:, 0] / 100 - joints[:, 0]).max() < 1e-4


def test_train_rejects_unknown_option(tmp_path):
    proc = run(ROOT / "train.py", "--no_such_key=1", cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "unknown option --no_such_key" in proc.stderr


def test_resume_after_kill(work):
    work, _ = work
    cmd = [sys.executable, str(ROOT / "train.py"), "--data_root=synth", "--steps=100000", "--save_every=2",
           "--out_dir=killed", *TINY]
    proc = subprocess.Popen(cmd, cwd=work, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ckpt_path = work / "killed" / "ckpt.pt"
    deadline = time.time() + 240
    step = 0
    while time.time() < deadline and step < 4:
        time.sleep(0.5)
        if ckpt_path.exists():
            try:
                step = torch.load(ckpt_path, map_location="cpu", weights_only=True)["step"]
            except Exception:  # noqa: BLE001 - being replaced right now; the rename makes this rare
                pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert step >= 4, "no checkpoint appeared before the deadline"
    saved = torch.load(ckpt_path, map_location="cpu", weights_only=True)["step"]
    out = run(ROOT / "train.py", "--data_root=synth", f"--steps={saved + 2}", "--save_every=2", "--out_dir=killed",
              "--resume", *TINY, cwd=work)
    assert f"resumed from killed/ckpt.pt at step {saved}" in out.stdout
    assert torch.load(ckpt_path, map_location="cpu", weights_only=True)["step"] == saved + 2
    assert not list((work / "killed").glob("*.tmp")), "atomic save leaves no temp file behind"


def test_torchrun_two_cpu_processes(work):
    work, _ = work
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
                           str(ROOT / "train.py"), "--data_root=synth", "--steps=3", "--out_dir=ddp", *TINY],
                          cwd=work, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 process(es)" in proc.stdout
    assert torch.load(work / "ddp" / "ckpt.pt", map_location="cpu", weights_only=True)["step"] == 3


def test_train_and_sample_on_real_humanml3d_sample(hml3d_sample, tmp_path):
    proc = run(ROOT / "train.py", "--dataset=humanml3d", f"--data_root={hml3d_sample}", "--steps=2",
               "--text_encoder=", "--num_workers=0", "--out_dir=real", *TINY, cwd=tmp_path)
    # the loader says which motions it skipped and why (only two of the eight sample motions have texts)
    assert "skipped" in proc.stderr and "missing text" in proc.stderr
    assert (tmp_path / "real" / "ckpt.pt").is_file()
    run(ROOT / "sample.py", "--ckpt=real/ckpt.pt", "--text", "a man kicks with his left leg", "--length=3s",
        "--steps=2", "--no_render", cwd=tmp_path)
    feats = [f for f in (tmp_path / "real" / "samples").glob("*.npy") if not f.name.endswith("_joints.npy")]
    assert len(feats) == 1 and np.load(feats[0]).shape == (60, 263)


def test_config_presets_and_overrides():
    import train
    import unet
    cfg = train.parse_config([])
    for key, value in unet.PRESETS["cpu"].items():  # the CPU default is the U-Net's cpu preset
        if hasattr(cfg, key):
            assert getattr(cfg, key) == value, key
    paper = train.parse_config(["--dataset", "humanml3d", "--steps=7", "--dim_mults=1,2", "--resume"])
    assert (paper.base_dim, paper.dim_mults, paper.batch_size, paper.lr) == (512, (1, 2), 64, 2e-4)
    assert (paper.steps, paper.resume, paper.lr_decay_every, paper.weight_decay) == (7, True, 5000, 0.01)
    with pytest.raises(SystemExit, match="not a valid int"):
        train.parse_config(["--steps=many"])
    assert (cfg.precision, paper.precision) == ("fp32", "bf16")   # the CPU default in fp32, the 4090 preset in bf16
    with pytest.raises(SystemExit, match="--precision must be one of"):
        train.main(["--precision=fp16"])
