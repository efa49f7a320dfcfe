"""latent_ar.py: the decoding schedule, the flow head on a known 1-D Gaussian mixture, masking invariants of the
transformer, and a smoke run of both stages on a few embedded motions followed by generate()."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from latent_ar import (FlowHead, LatentARGenerator, MaskedLatentTransformer, mask_schedule, random_ranks,
                       sample_latents, training_loss)

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")


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


def test_mask_schedule_counts():
    counts = mask_schedule(torch.tensor([49, 10, 3, 1]), 16)
    # n_k = max(1, min(n_{k-1} - 1, round(N cos(pi k / 32)))): 49 tokens in 16 iterations (MoLingo's 263-d setting)
    assert counts[0].tolist() == [49, 48, 47, 46, 45, 43, 41, 38, 35, 31, 27, 23, 19, 14, 10, 5, 0]
    assert counts[1].tolist() == [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1, 1, 1, 1, 1, 1, 0]
    assert counts[2].tolist() == [3, 2] + [1] * 14 + [0]
    assert counts[3].tolist() == [1] * 16 + [0]
    c = mask_schedule(torch.arange(16, 200), 16)                              # N >= K: one token at least per step
    assert (c[:, :-1] - c[:, 1:] >= 1).all() and (c[:, 0] == torch.arange(16, 200)).all() and (c[:, -1] == 0).all()


def test_sampler_unmasks_the_scheduled_counts_in_a_fixed_order():
    """At every decoding iteration the transformer sees exactly n_k masked tokens per sample, and the flow head is
    asked for exactly n_k - n_{k+1} tokens."""
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
                       iters=K, flow_steps=2, guidance=2.0, generator=torch.Generator().manual_seed(0))
    counts = mask_schedule(num_tokens, K)
    assert seen_masked == counts[:, :-1].T.tolist()
    assert asked == (counts[:, :-1] - counts[:, 1:]).sum(0).tolist()
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


def test_both_stages_smoke(tmp_path):
    """latent_ar.py trains the SAE and the generator for a few steps on 48 embedded motions; the checkpoint rebuilds a
    generator whose samples have the asked lengths (not multiples of 4) and are zero past them."""
    args = ["--num_motions=24", "--data_root=synth", "--out_dir=run", "--ae_width=16", "--ae_steps=4",
            "--ae_batch_size=4", "--d_model=16", "--num_layers=1", "--num_heads=2", "--flow_width=16",
            "--flow_depth=1", "--gen_steps=4", "--gen_batch_size=4", "--log_every=1", "--decode_iters=3",
            "--flow_steps=2"]
    proc = subprocess.run([sys.executable, str(ROOT / "latent_ar.py"), *args], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ae_lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("ae step")]
    gen_lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("gen step")]
    assert len(ae_lines) == 4 and len(gen_lines) == 4, proc.stdout
    assert all(np.isfinite(float(ln.split("| loss ")[1].split()[0])) for ln in ae_lines + gen_lines)
    assert "MPJPE_mm" in proc.stdout
    ckpt = torch.load(tmp_path / "run" / "ckpt.pt", map_location="cpu", weights_only=True)
    assert ckpt["kind"] == "latent_ar" and ckpt["step"] == 4 and ckpt["ae_args"]["latent_dim"] == 16
    gen = LatentARGenerator(ckpt, torch.device("cpu"))
    x = gen.generate(["a person jumps in place", "a person walks forward"], [41, 58], seed=0)
    assert x.shape == (2, 58, 263) and torch.isfinite(x).all()
    assert (x[0, 41:] == 0).all() and (x[0, :41] != 0).any()
    assert torch.equal(x, gen.generate(["a person jumps in place", "a person walks forward"], [41, 58], seed=0))
    with pytest.raises(ValueError, match="flow"):
        gen.generate(["a"], [40], sampler="ddpm")
    # a second run with the same budget reuses both checkpoints
    proc = subprocess.run([sys.executable, str(ROOT / "latent_ar.py"), *args], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert "stage ae: reusing" in proc.stdout and "stage gen: reusing" in proc.stdout, proc.stdout
