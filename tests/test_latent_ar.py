"""latent_ar.py and its training (latent_ar_train.py, runtime.py's staged training): the decoding schedules (the
official one against a transcription of MoLingo's sampler loop), the flow head on a known 1-D Gaussian mixture,
masking invariants of the transformer; options; the stage-checkpoint rules (reuse, continue, refuse); and runs of
both stages on 48 embedded motions at tiny sizes: a smoke run whose checkpoint sample.load_generator samples from, the
generator's fresh crops and posterior samples at every step, an exact resume after kills in either stage (bitwise
equal to the uninterrupted run), and a torchrun run."""
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import latent_ar_train
from latent_ar import FlowHead, MaskedLatentTransformer, mask_schedule, random_ranks, sample_latents, training_loss
from latent_ar_train import LatentARConfig, parse_config
from motion_ae import LabelledMotions
from runtime import shard_batch, stage_checkpoint

import conftest
from conftest import ROOT


@pytest.fixture(autouse=True)
def one_thread():
    """These models are tiny: one thread avoids the thread pool's overhead (several times faster on 2 cores)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny(text_cond="cross", seed=0):
    torch.manual_seed(seed)
    return MaskedLatentTransformer(latent_dim=4, text_dim=6, d_model=16, num_layers=2, num_heads=2, text_layers=1,
                                   text_cond=text_cond, flow_width=16, flow_depth=1).eval()


def official_masking(m_lens: torch.Tensor, steps: int):
    """The masking of MoLingo's sampler, transcribed from hynann/MoLingo mogen/models/molingo/molingo.py
    (sample_tokens) with the transformer and flow head left out: the number masked at each iteration (B, steps), and
    for each token the iteration whose draw it keeps (every masked token is re-sampled; the others are frozen)."""
    bsz, seq_len = len(m_lens), int(m_lens.max())
    key_padding_mask = ~(torch.arange(seq_len)[None] < m_lens[:, None])
    masked_rand_schedule = torch.where(key_padding_mask, 1e5, torch.rand(bsz, seq_len))
    counts, kept_from = [], torch.full((bsz, seq_len), -1)
    for i, timestep in enumerate(torch.linspace(0, 1, steps)):
        num_masked = torch.round(torch.cos(timestep * math.pi * 0.5) * m_lens).clamp(min=1)
        ranks = masked_rand_schedule.argsort(dim=1).argsort(dim=1)
        is_mask = ranks < num_masked.unsqueeze(-1)
        counts.append(is_mask.sum(1))
        kept_from[is_mask] = i
        masked_rand_schedule = masked_rand_schedule.masked_fill(~is_mask, 1e5)
    return torch.stack(counts, 1), kept_from


def test_mask_schedule_counts():
    """Both schedules for 49 tokens in 16 iterations (MoLingo's 263-d setting); the official one equals the
    transcribed loop for 1..80 tokens and 1..32 iterations, and the iteration at which sample_latents draws a token
    (n_k - n_{k+1} tokens at iteration k) is the iteration whose draw the official loop keeps."""
    n = torch.tensor([49, 10, 3, 1])
    molingo, mar = mask_schedule(n, 16), mask_schedule(n, 16, "mar")
    assert molingo[0].tolist() == [49, 49, 48, 47, 45, 42, 40, 36, 33, 29, 25, 20, 15, 10, 5, 1, 0]
    assert molingo[1].tolist() == [10, 10, 10, 10, 9, 9, 8, 7, 7, 6, 5, 4, 3, 2, 1, 1, 0]
    assert molingo[3].tolist() == [1] * 16 + [0]
    # MAR's: n_k = max(1, min(n_{k-1} - 1, round(N cos(pi k / 32))))
    assert mar[0].tolist() == [49, 48, 47, 46, 45, 43, 41, 38, 35, 31, 27, 23, 19, 14, 10, 5, 0]
    assert mar[1].tolist() == [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1, 1, 1, 1, 1, 1, 0]
    assert mar[2].tolist() == [3, 2] + [1] * 14 + [0]
    assert mar[3].tolist() == [1] * 16 + [0]
    c = mask_schedule(torch.arange(16, 200), 16, "mar")                        # N >= K: one token at least per step
    assert (c[:, :-1] - c[:, 1:] >= 1).all() and (c[:, 0] == torch.arange(16, 200)).all() and (c[:, -1] == 0).all()
    torch.manual_seed(0)
    m_lens = torch.arange(1, 81)
    for steps in (1, 2, 8, 16, 32):
        counts, kept_from = official_masking(m_lens, steps)
        ours = mask_schedule(m_lens, steps)
        assert torch.equal(ours[:, :-1], counts) and (ours[:, -1] == 0).all(), steps
        for k in range(steps):
            assert torch.equal((kept_from == k).sum(1), ours[:, k] - ours[:, k + 1]), (steps, k)
    with pytest.raises(ValueError, match="'molingo' or 'mar'"):
        mask_schedule(n, 16, "maskgit")


@pytest.mark.parametrize("schedule", ["molingo", "mar"])
def test_sampler_unmasks_the_scheduled_counts_in_a_fixed_order(schedule):
    """At every decoding iteration that unmasks a token the transformer sees exactly n_k masked tokens per sample,
    and the flow head is asked for exactly n_k - n_{k+1} tokens; every valid token is drawn once, none is left."""
    model, K = tiny(), 8
    num_tokens = torch.tensor([12, 5])
    seen_masked, asked = [], []
    model.register_forward_pre_hook(lambda m, args: seen_masked.append(args[1][:2].sum(1).tolist()))
    sample = model.head.sample

    def spy(h_cond, *a, **k):
        asked.append(len(h_cond))
        out = sample(h_cond, *a, **k)
        return out
    model.head.sample = spy
    text, mask = torch.randn(2, 3, 6), torch.ones(2, 3, dtype=torch.bool)
    z = sample_latents(model, text, mask, torch.randn(1, 2, 6), torch.ones(1, 2, dtype=torch.bool), num_tokens,
                       iters=K, flow_steps=2, guidance=2.0, generator=torch.Generator().manual_seed(0),
                       decode_schedule=schedule)
    counts = mask_schedule(num_tokens, K, schedule)
    drawn = counts[:, :-1] - counts[:, 1:]                                     # (B, K) tokens unmasked at k
    busy = drawn.sum(0) > 0
    assert busy.sum() < K if schedule == "molingo" else busy.all()            # molingo: iteration 0 keeps nothing
    assert seen_masked == counts[:, :-1].T[busy].tolist()
    assert asked == drawn.sum(0)[busy].tolist() and sum(asked) == 17
    assert z.shape == (2, 12, 4) and (z[1, 5:] == 0).all() and (z[0] != 0).all() and (z[1, :5] != 0).all()


def test_random_ranks_is_a_permutation_of_valid_tokens():
    valid = torch.arange(9)[None] < torch.tensor([9, 4, 1])[:, None]
    ranks = random_ranks(valid, torch.Generator().manual_seed(3))
    for row, n in zip(ranks, (9, 4, 1)):
        assert sorted(row[:n].tolist()) == list(range(n)) and (row[n:] >= n).all()


def test_flow_head_is_zero_at_init():
    head = FlowHead(3, 8, 32, 2)
    assert torch.equal(head(torch.randn(5, 3), torch.rand(5), torch.randn(5, 8)), torch.zeros(5, 3))


def test_flow_head_fits_a_gaussian_mixture():
    """Rectified flow on 0.5 N(-2, 0.3^2) + 0.5 N(1.5, 0.5^2) (mean -0.25, variance 3.2325): Euler samples match the
    mean within 0.25 (0.14 std), the variance within 15% and the mode weights within 0.1."""
    torch.manual_seed(0)
    head = FlowHead(1, 4, 32, 2)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)

    def mixture(n):
        left = torch.rand(n) < 0.5
        return torch.where(left, -2 + 0.3 * torch.randn(n), 1.5 + 0.5 * torch.randn(n))[:, None]
    for _ in range(300):
        loss = head.loss(mixture(256), torch.zeros(256, 4), repeat=1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = head.sample(torch.zeros(4000, 4), steps=32, generator=torch.Generator().manual_seed(0))[:, 0]
    mean, var = 0.5 * -2 + 0.5 * 1.5, 0.5 * (0.09 + 4) + 0.5 * (0.25 + 2.25) - 0.25 ** 2
    assert abs(x.mean().item() - mean) < 0.25, x.mean()
    assert abs(x.var().item() / var - 1) < 0.15, x.var()
    assert abs((x < -0.25).float().mean().item() - 0.5) < 0.1


@pytest.mark.parametrize("text_cond", ["cross", "single"])
@torch.no_grad()
def test_padding_is_invisible(text_cond):
    """Padded latent tokens and padded text tokens do not change the outputs of valid tokens; the text does."""
    model = tiny(text_cond)
    z, masked = torch.randn(2, 7, 4), torch.rand(2, 7) < 0.5
    valid = torch.arange(7)[None] < torch.tensor([7, 4])[:, None]
    text, tmask = torch.randn(2, 5, 6), torch.arange(5)[None] < torch.tensor([5, 3])[:, None]
    h = model(z, masked, valid, text, tmask)
    z2, text2 = z.clone(), text.clone()
    z2[1, 4:] += 5.0
    text2[1, 3:] += 5.0
    assert torch.allclose(model(z2, masked, valid, text2, tmask)[valid], h[valid], atol=1e-5)
    text2[1, :3] += 1.0
    assert not torch.allclose(model(z, masked, valid, text2, tmask)[1, :4], h[1, :4], atol=1e-3)


def test_training_loss_ignores_padding_and_trains():
    model = tiny().train()
    z, text, tmask = torch.randn(4, 6, 4), torch.randn(4, 3, 6), torch.ones(4, 3, dtype=torch.bool)
    valid = torch.arange(6)[None] < torch.tensor([6, 5, 3, 1])[:, None]
    losses = []
    for seed in (0, 0):
        torch.manual_seed(seed)
        z2 = z.clone()
        z2[~valid] = 100.0 if losses else 0.0
        losses.append(training_loss(model, z2, valid, text, tmask).item())
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    history = []
    for _ in range(40):
        loss = training_loss(model, z, valid, text, tmask)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
    assert np.mean(history[-8:]) < 0.8 * np.mean(history[:8]), history


def test_options_presets_and_errors():
    cfg = parse_config(["--dataset", "humanml3d", "--resume", "--seed", "3", "--align_weight=0"])
    assert (cfg.dataset, cfg.resume, cfg.seed, cfg.align_weight, cfg.d_model) == ("humanml3d", True, 3, 0.0, 1024)
    cfg = parse_config(["--method=latent_ar", "--precision=bf16", "--text_cond=single"])   # train.py's command line
    assert (cfg.precision, cfg.text_cond, cfg.d_model, cfg.out_dir) == ("bf16", "single", 192, "")
    assert parse_config(["--preset=paper", "--d_model=64"]).d_model == 64
    with pytest.raises(SystemExit, match="unknown option --steps .latent_ar trains two stages: --ae_steps and "
                                         "--gen_steps.; valid: preset, method, dataset"):
        parse_config(["--steps=3"])
    with pytest.raises(SystemExit, match="--ae_steps='x' is not a valid int"):
        parse_config(["--ae_steps=x"])
    with pytest.raises(SystemExit, match="--preset must be one of"):
        parse_config(["--preset=huge"])
    cfg = LatentARConfig()
    assert (cfg.gen_latents, cfg.decode_schedule) == ("posterior", "molingo")                # the official ones
    for bad in ("--gen_latents=mean", "--decode_schedule=cosine"):
        with pytest.raises(SystemExit, match=f"{bad.split('=')[0]} must be one of"):
            latent_ar_train.main([bad])


def test_shard_batch_is_a_pure_function_of_step_and_rank():
    """Two processes split every epoch of 10 items (padded to 10 by wrapping: none here) into disjoint batches; the
    order changes with the epoch and the seed, and the incomplete last batch is dropped."""
    per_epoch = [[shard_batch(s, 10, 2, rank, 2, seed=0) for s in range(2)] for rank in range(2)]  # 5 each -> 2
    items = [i for rank in per_epoch for _, idx in rank for i in idx]
    assert len(items) == 8 == len(set(items)) and all(e == 0 for rank in per_epoch for e, _ in rank)
    assert shard_batch(2, 10, 2, 0, 2, seed=0)[0] == 1 and shard_batch(2, 10, 2, 0, 2)[1] != per_epoch[0][0][1]
    assert shard_batch(1, 10, 2, 1, 2, seed=0) == per_epoch[1][1]
    assert shard_batch(0, 10, 2, 0, 2, seed=1) != shard_batch(0, 10, 2, 0, 2, seed=0)
    with pytest.raises(SystemExit, match="fewer than a batch"):
        shard_batch(0, 10, 8, 0, 2)


def test_stage_checkpoint_reuses_continues_or_refuses(tmp_path, capsys):
    cfg = LatentARConfig(gen_steps=10)
    path = tmp_path / "ckpt.pt"
    assert stage_checkpoint(path, "latent_ar", cfg, ("d_model",), 10, True) is None          # no file: from scratch
    for step, resume, expected in ((10, False, "finished"), (12, True, "finished"), (4, False, None), (4, True, 4)):
        torch.save({"kind": "latent_ar", "config": {"d_model": 192}, "step": step}, path)
        cfg.resume = resume
        got = stage_checkpoint(path, "latent_ar", cfg, ("d_model",), 10, True)
        assert (got["step"] if isinstance(got, dict) else got) == expected, (step, resume, got)
    assert "starting over (--resume continues it)" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="other settings {'d_model': 192}"):
        stage_checkpoint(path, "latent_ar", LatentARConfig(d_model=64), ("d_model",), 10, True)
    with pytest.raises(SystemExit, match="trained on another autoencoder"):
        stage_checkpoint(path, "latent_ar", cfg, ("d_model",), 10, True, lambda c: "on another autoencoder")
    with pytest.raises(SystemExit, match="is not a motion_ae checkpoint"):
        stage_checkpoint(path, "motion_ae", cfg, (), 10, True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit, match="is not a readable checkpoint"):
        stage_checkpoint(path, "latent_ar", cfg, (), 10, True)


# ----------------------------------------------------------------------------------------------------------------
# Runs of latent_ar_train.main (what `train.py --method=latent_ar` calls) at tiny sizes
# ----------------------------------------------------------------------------------------------------------------

TINY = ["--num_motions=24", "--data_root=synth", "--ae_width=16", "--ae_batch_size=4", "--d_model=16",
        "--num_layers=1", "--num_heads=2", "--flow_width=16", "--flow_depth=1", "--gen_batch_size=4",
        "--decode_iters=3", "--flow_steps=2", "--ae_steps=4", "--gen_steps=4", "--save_every=2"]
# A run killed right after the checkpoint of stage `kind` at step `stop` (exit code 3), then main(argv).
KILLED = """import sys
import latent_ar_train
import runtime
kind, stop = sys.argv[1], int(sys.argv[2])
save = runtime.save_atomic
def save_then_die(path, state):
    save(path, state)
    if state["kind"] == kind and state["step"] == stop:
        sys.exit(3)
runtime.save_atomic = save_then_die
latent_ar_train.main(sys.argv[3:])
"""


def run(args, cwd, killed_after=None, nproc=1, check=True):
    script = [ROOT / "latent_ar_train.py"] if killed_after is None else [cwd / "killed.py", *killed_after]
    return conftest.run(*script, *args, cwd=cwd, nproc=nproc, check=check)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A work directory with the embedded dataset (24 motions -> 32 training items), its text cache, and `full`:
    both stages, 4 steps each, uninterrupted (its stdout in work / "full.log")."""
    work = tmp_path_factory.mktemp("latent_ar")
    (work / "killed.py").write_text(KILLED)
    proc = run([*TINY, "--out_dir=full", "--log_every=1"], work)
    (work / "full.log").write_text(proc.stdout)
    return work


def test_both_stages_smoke(work):
    """Both stages log every step (loss terms, lr, ms/step, samples/s); the checkpoint says what it is, and
    sample.load_generator rebuilds a generator whose samples have the asked lengths (not multiples of 4), are zero
    past them and repeat with the seed; a second run with the same budgets reuses both stages."""
    from sample import load_generator
    log = (work / "full.log").read_text().splitlines()
    ae_lines = [ln for ln in log if ln.startswith("ae step")]
    gen_lines = [ln for ln in log if ln.startswith("gen step")]
    assert len(ae_lines) == 4 and len(gen_lines) == 4, log
    for ln in ae_lines + gen_lines:
        assert np.isfinite(float(ln.split("| loss ")[1].split()[0])) and "ms/step" in ln and "samples/s" in ln
        assert " | lr " in ln
    assert all(f"| {k} " in ae_lines[0] for k in ("feats", "joints", "vel", "kl", "align"))
    assert any("MPJPE_mm" in ln for ln in log)
    ckpt = torch.load(work / "full" / "ckpt.pt", map_location="cpu", weights_only=True)
    assert ckpt["kind"] == "latent_ar" and ckpt["step"] == 4 and ckpt["ae_args"]["latent_dim"] == 16
    assert len(ckpt["rng"]) == 1 and ckpt["ae_test_metrics"]["motions"] > 0
    assert (work / "full" / "config_all.json").is_file()
    gen = load_generator(work / "full" / "ckpt.pt", "cpu")
    x = gen.generate(["a person jumps in place", "a person walks forward"], [41, 58], seed=0)
    assert x.shape == (2, 58, 263) and torch.isfinite(x).all()
    assert (x[0, 41:] == 0).all() and (x[0, :41] != 0).any()
    assert torch.equal(x, gen.generate(["a person jumps in place", "a person walks forward"], [41, 58], seed=0))
    with pytest.raises(ValueError, match="flow"):
        gen.generate(["a"], [40], sampler="ddpm")
    proc = run([*TINY, "--out_dir=full"], work)
    assert "stage ae: reusing" in proc.stdout and "stage gen: reusing" in proc.stdout, proc.stdout
    assert "ae step" not in proc.stdout and "gen step" not in proc.stdout


def test_generator_trains_on_posterior_samples_of_crops(work, monkeypatch):
    """Stage gen at batch = the whole train split (every step a new epoch of the same items), 120-frame crops: a motion
    that fits the window is encoded identically at both steps and still gets other latents (z = mu + sigma eps, not
    mu), a longer one is cropped away from its first window, at another offset in the next epoch. Control:
    --gen_latents=means feeds the same latents to both steps."""
    from data import DATASETS, load_split
    monkeypatch.chdir(work)
    num_items = len(load_split(work / "synth", "train", DATASETS["synthetic"]))
    getitem, seen = LabelledMotions.__getitem__, {}

    def spy_item(self, key):
        out = getitem(self, key)
        if isinstance(key, tuple):                                           # the training loop's (epoch, i) keys
            seen.setdefault(key[0], []).append((key[1], out["start"], out["length"]))
        return out
    monkeypatch.setattr(LabelledMotions, "__getitem__", spy_item)
    runs = {}
    for mode in ("posterior", "means"):
        fed = []

        def spy_loss(model, z, *args, **kwargs):                                # z (B, N, z) standardised latents
            fed.append(z.clone())
            return training_loss(model, z, *args, **kwargs)
        monkeypatch.setattr(latent_ar_train, "training_loss", spy_loss)
        seen.clear()
        latent_ar_train.main([*TINY, "--stage=gen", "--ae_ckpt=full/ae.pt", f"--out_dir=gen_{mode}",
                              f"--gen_latents={mode}", "--gen_steps=2", f"--gen_batch_size={num_items}",
                              "--max_motion_length=120"])
        runs[mode] = fed, dict(seen)
    (z0, z1), seen = runs["posterior"]
    assert sorted(seen) == [0, 1] and len(seen[0]) == num_items == len(seen[1])
    row = [{i: r for r, (i, _, _) in enumerate(seen[e])} for e in (0, 1)]     # item -> row of the step's batch
    crops = [{i: (start, n) for i, start, n in seen[e]} for e in (0, 1)]
    fits = [i for i in row[0] if crops[0][i][1] < 120]                          # whole motion in the window
    longer = [i for i in row[0] if crops[0][i][1] == 120]
    assert fits and longer
    for i in fits:                                                               # the same input, other latents
        assert crops[0][i][0] == crops[1][i][0] == 0 and not torch.allclose(z0[row[0][i]], z1[row[1][i]], atol=1e-3)
    assert any(crops[0][i][0] > 0 for i in longer)                              # not the first window
    assert any(crops[0][i][0] != crops[1][i][0] for i in longer)                # fresh crops every epoch
    (m0, m1), seen = runs["means"]
    assert not seen                                                              # no crops drawn: first windows
    order = [shard_batch(s, num_items, num_items)[1] for s in (0, 1)]
    assert all(torch.equal(m0[order[0].index(i)], m1[order[1].index(i)]) for i in range(num_items))


def assert_same(a: Path, b: Path, keys=("model", "optimizer")) -> dict:
    a, b = (torch.load(p, map_location="cpu", weights_only=True) for p in (a, b))
    assert a["step"] == b["step"]
    for key in keys:
        if key == "optimizer":
            pairs = [(x[k], y[k]) for x, y in zip(a[key]["state"].values(), b[key]["state"].values()) for k in x]
        else:
            pairs = [(a[key][k], b[key][k]) for k in a[key]]
        assert pairs and all(torch.equal(x, y) for x, y in pairs), f"{key} differs"
    return a


def test_resume_after_a_kill_in_either_stage_is_exact(work):
    """Killed after the SAE's step-2 checkpoint, resumed (the SAE continues 2 -> 4), killed after the generator's
    step-2 checkpoint, resumed (the finished SAE is reused, the generator continues 2 -> 4): both checkpoints equal
    the uninterrupted run's bitwise (weights, EMA, AdamW state). Control: another seed does not."""
    assert run([*TINY, "--out_dir=cut"], work, killed_after=["motion_ae", "2"], check=False).returncode == 3
    shutil.copy(work / "cut" / "ae.pt", work / "ae_step2.pt")
    assert not (work / "cut" / "ckpt.pt").exists()
    proc = run([*TINY, "--out_dir=cut", "--resume"], work, killed_after=["latent_ar", "2"], check=False)
    assert proc.returncode == 3 and "stage ae: resumed cut/ae.pt at step 2" in proc.stdout, proc.stdout + proc.stderr
    assert_same(work / "full" / "ae.pt", work / "cut" / "ae.pt")
    assert torch.load(work / "cut" / "ckpt.pt", weights_only=True)["step"] == 2
    proc = run([*TINY, "--out_dir=cut", "--resume"], work)
    assert "stage ae: reusing" in proc.stdout and "stage gen: resumed cut/ckpt.pt at step 2" in proc.stdout
    assert "ae step" not in proc.stdout and "gen step      4/4" in proc.stdout, proc.stdout
    assert_same(work / "full" / "ckpt.pt", work / "cut" / "ckpt.pt", ("model", "ema", "optimizer"))
    # the comparison can fail: another seed's generator on the same SAE ends elsewhere
    run([*TINY, "--stage=gen", "--ae_ckpt=full/ae.pt", "--out_dir=seed1", "--seed=1"], work)
    with pytest.raises(AssertionError, match="differs"):
        assert_same(work / "full" / "ckpt.pt", work / "seed1" / "ckpt.pt", ("model", "ema"))
    # a generator is not reused with an SAE it was not trained on, nor with other model settings
    proc = run([*TINY, "--stage=gen", "--out_dir=full", "--ae_ckpt=ae_step2.pt"], work, check=False)
    assert proc.returncode != 0 and "trained on another autoencoder than ae_step2.pt" in proc.stderr, proc.stderr
    proc = run([*TINY, "--stage=gen", "--out_dir=full", "--text_cond=single"], work, check=False)
    assert proc.returncode != 0 and "other settings {'text_cond': 'cross'}" in proc.stderr, proc.stderr


def test_torchrun_two_processes(work):
    """Both stages under torchrun (gloo): rank 0 builds a fresh text cache while rank 1 waits for it, one log line
    per step from rank 0 with the global samples/s, one set of random states per process in each checkpoint."""
    proc = run([*TINY, "--out_dir=ddp", "--cache_dir=cache_ddp", "--ae_batch_size=2", "--gen_batch_size=2",
                "--log_every=1"], work, nproc=2)
    assert proc.stdout.count("2 process(es), batch 2 each") == 2 and proc.stdout.count("gen step") == 4, proc.stdout
    for name in ("ae.pt", "ckpt.pt"):
        ckpt = torch.load(work / "ddp" / name, map_location="cpu", weights_only=True)
        assert ckpt["step"] == 4 and len(ckpt["rng"]) == 2
        assert not torch.equal(ckpt["rng"][0]["torch"], ckpt["rng"][1]["torch"])
