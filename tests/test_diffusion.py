"""Tests for diffusion.py: schedule values, masked loss, and sampler parity with diffusers (test-only dependency).

Run: python -m pytest -q tests/test_diffusion.py
"""
import pytest
import torch

from diffusion import SAMPLERS, GaussianDiffusion, masked_mse

# diffusers 0.42 + numpy 2 warn inside set_timesteps (np.array(copy=False)); not ours
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

B, T, D = 3, 16, 5
MU, STD = 0.7, 0.5  # toy data distribution x0 ~ N(MU, STD^2) per dimension


@pytest.fixture(scope="module")
def diffusion():
    return GaussianDiffusion()


def gaussian_x0_predictor(diffusion, mu=MU, std=STD):
    """Bayes-optimal x0 predictor for x0 ~ N(mu, std^2) i.i.d., a = sqrt(abar_t):
    E[x0 | x_t] = mu + a std^2 (x_t - a mu) / (a^2 std^2 + 1 - a^2)."""
    def model_fn(x_t, t):
        abar = diffusion.alphas_cumprod[t].reshape(-1, 1, 1)  # (B, 1, 1)
        a = abar.sqrt()
        return mu + a * std**2 * (x_t - a * mu) / (abar * std**2 + 1.0 - abar)
    return model_fn


def mlp_x0_predictor():
    """A fixed random nonlinear function of (x_t, t): tanh MLP, so the solver history terms matter."""
    g = torch.Generator().manual_seed(123)
    w1, b1 = torch.randn(D + 1, 32, generator=g) / (D + 1) ** 0.5, torch.randn(32, generator=g) * 0.1
    w2 = torch.randn(32, D, generator=g) / 32**0.5

    def model_fn(x_t, t):
        tt = (t.float() / 1000.0).reshape(-1, 1, 1).expand(*x_t.shape[:2], 1)  # (B, T, 1)
        h = torch.tanh(torch.cat([x_t / (1 + x_t.abs()), tt], dim=-1) @ w1 + b1)  # (B, T, 32)
        return h @ w2
    return model_fn


def diffusers_loop(scheduler, model_fn, x, generator=None):
    for t in scheduler.timesteps:
        x0_pred = model_fn(x, t.expand(x.shape[0]).long())
        x = scheduler.step(x0_pred, t, x, generator=generator).prev_sample
    return x


# ---------------------------------------------------------------------------------------------------------------
# Schedule
# ---------------------------------------------------------------------------------------------------------------
def test_schedule_values_and_diffusers_parity(diffusion):
    diffusers = pytest.importorskip("diffusers")
    assert diffusion.alphas_cumprod.dtype == torch.float32 and diffusion.alphas_cumprod.shape == (1000,)
    assert abs(diffusion.alphas_cumprod[0].item() - 0.9999) < 1e-7
    assert abs(diffusion.alphas_cumprod[999].item() - 4.04e-5) < 0.01e-5
    ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", variance_type="fixed_small",
                                  prediction_type="sample", clip_sample=False)
    assert torch.allclose(diffusion.alphas_cumprod, ref.alphas_cumprod, atol=1e-6, rtol=0)
    assert torch.allclose(diffusion.betas, ref.betas, atol=1e-8, rtol=0)
    # q_sample equals diffusers' add_noise; posterior variance is 0 at t=0 and beta_t (1-abar_{t-1})/(1-abar_t) after
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(B, T, D, generator=g), torch.randn(B, T, D, generator=g)
    t = torch.tensor([0, 500, 999])
    assert torch.allclose(diffusion.q_sample(x0, t, eps), ref.add_noise(x0, eps, t), atol=1e-5)
    assert diffusion.posterior_variance[0].item() == 0.0
    assert abs(diffusion.posterior_variance[500].item() / ref._get_variance(500).item() - 1.0) < 1e-5


def test_visited_timesteps(diffusion):
    assert diffusion.timesteps(10, "sde-dpm++2m-karras") == [999, 937, 864, 775, 663, 511, 301, 102, 18, 0]
    assert diffusion.timesteps(10, "dpm++2m") == [999, 899, 799, 699, 599, 500, 400, 300, 200, 100]
    assert diffusion.timesteps(None, "ddpm") == list(range(999, -1, -1))
    assert diffusion.timesteps(4, "ddpm") == [999, 666, 333, 0]
    with pytest.raises(ValueError, match="unknown sampler"):
        diffusion.timesteps(10, "ddim")
    with pytest.raises(ValueError, match="steps"):
        diffusion.timesteps(1001, "dpm++2m")


@pytest.mark.parametrize("karras", [False, True])
@pytest.mark.parametrize("steps", [10, 20])
def test_timesteps_match_diffusers(diffusion, steps, karras):
    diffusers = pytest.importorskip("diffusers")
    ref = diffusers.DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_schedule="linear",
                                                algorithm_type="sde-dpmsolver++" if karras else "dpmsolver++",
                                                use_karras_sigmas=karras, prediction_type="sample")
    ref.set_timesteps(steps)
    sampler = "sde-dpm++2m-karras" if karras else "dpm++2m"
    assert diffusion.timesteps(steps, sampler) == ref.timesteps.tolist()


# ---------------------------------------------------------------------------------------------------------------
# Samplers: parity with diffusers
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("predictor", ["gaussian", "mlp"])
@pytest.mark.parametrize("steps", [10, 20])
def test_dpm_solver_pp_2m_matches_diffusers(diffusion, steps, predictor):
    diffusers = pytest.importorskip("diffusers")
    model_fn = gaussian_x0_predictor(diffusion) if predictor == "gaussian" else mlp_x0_predictor()
    x_T = torch.randn(B, T, D, generator=torch.Generator().manual_seed(1))
    ours = diffusion.sample(model_fn, (B, T, D), sampler="dpm++2m", steps=steps, noise=x_T)
    ref = diffusers.DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_schedule="linear",
                                                algorithm_type="dpmsolver++", solver_order=2, prediction_type="sample")
    ref.set_timesteps(steps)
    theirs = diffusers_loop(ref, model_fn, x_T.clone())
    assert (ours - theirs).abs().max().item() < 1e-5


@pytest.mark.parametrize("predictor", ["gaussian", "mlp"])
@pytest.mark.parametrize("steps", [10, 20])
def test_sde_dpm_solver_pp_2m_karras_matches_diffusers(diffusion, steps, predictor):
    diffusers = pytest.importorskip("diffusers")
    model_fn = gaussian_x0_predictor(diffusion) if predictor == "gaussian" else mlp_x0_predictor()
    x_T = torch.randn(B, T, D, generator=torch.Generator().manual_seed(2))
    # same seed for both: each draws one N(0, I) tensor per step from its generator, in the same order
    ours = diffusion.sample(model_fn, (B, T, D), sampler="sde-dpm++2m-karras", steps=steps, noise=x_T,
                            generator=torch.Generator().manual_seed(3))
    ref = diffusers.DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_schedule="linear",
                                                algorithm_type="sde-dpmsolver++", solver_order=2,
                                                prediction_type="sample", use_karras_sigmas=True)
    ref.set_timesteps(steps)
    theirs = diffusers_loop(ref, model_fn, x_T.clone(), generator=torch.Generator().manual_seed(3))
    assert (ours - theirs).abs().max().item() < 1e-4
    # the injected noise matters: another seed gives another sample
    other = diffusion.sample(model_fn, (B, T, D), sampler="sde-dpm++2m-karras", steps=steps, noise=x_T,
                             generator=torch.Generator().manual_seed(4))
    assert (other - ours).abs().max().item() > 1e-2


def test_ddpm_full_chain_matches_diffusers(diffusion):
    diffusers = pytest.importorskip("diffusers")
    model_fn = mlp_x0_predictor()
    x_T = torch.randn(B, T, D, generator=torch.Generator().manual_seed(5))
    ours = diffusion.sample(model_fn, (B, T, D), sampler="ddpm", noise=x_T, generator=torch.Generator().manual_seed(6))
    ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", variance_type="fixed_small",
                                  prediction_type="sample", clip_sample=False)
    ref.set_timesteps(1000)
    theirs = diffusers_loop(ref, model_fn, x_T.clone(), generator=torch.Generator().manual_seed(6))
    assert (ours - theirs).abs().max().item() < 1e-4


# ---------------------------------------------------------------------------------------------------------------
# Samplers: invariants
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sampler,steps", [("dpm++2m", 10), ("sde-dpm++2m-karras", 10), ("ddpm", None), ("ddpm", 7)])
def test_perfect_predictor_returns_x0(diffusion, sampler, steps):
    x0 = torch.randn(B, T, D, generator=torch.Generator().manual_seed(7))
    calls = []

    def model_fn(x_t, t):
        calls.append(int(t[0]))
        assert t.dtype == torch.long and t.shape == (B,) and x_t.shape == (B, T, D)
        return x0

    out = diffusion.sample(model_fn, (B, T, D), sampler=sampler, steps=steps,
                           generator=torch.Generator().manual_seed(8))
    assert torch.allclose(out, x0, atol=1e-5)
    assert calls == diffusion.timesteps(steps, sampler)


@pytest.mark.parametrize("sampler,steps", [("ddpm", None), ("dpm++2m", 50), ("sde-dpm++2m-karras", 100)])
def test_samples_follow_gaussian_data(diffusion, sampler, steps):
    """With the Bayes-optimal x0 predictor each sampler should reproduce the data distribution N(MU, STD^2).

    Few steps are biased on this toy problem (10 steps: std 0.40 for dpm++2m, 0.54 for the SDE, vs 0.5), so the
    solvers are checked where their discretisation error is small; DDPM uses its full 1000-step chain.
    """
    n = 2000
    x = diffusion.sample(gaussian_x0_predictor(diffusion), (n, 1, 4), sampler=sampler, steps=steps,
                         generator=torch.Generator().manual_seed(9))
    assert abs(x.mean().item() - MU) < 0.05  # standard error STD / sqrt(8000) = 0.0056
    assert abs(x.std().item() / STD - 1.0) < 0.04  # standard error of the std ~ 0.8%


def test_sample_is_reproducible_and_checks_inputs(diffusion):
    model_fn = mlp_x0_predictor()
    a = diffusion.sample(model_fn, (2, 4, D), sampler="sde-dpm++2m-karras", generator=torch.Generator().manual_seed(0))
    b = diffusion.sample(model_fn, (2, 4, D), sampler="sde-dpm++2m-karras", generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.dtype == torch.float32
    with pytest.raises(ValueError, match="noise has shape"):
        diffusion.sample(model_fn, (2, 4, D), noise=torch.zeros(2, 5, D))
    with pytest.raises(ValueError, match="model_fn returned"):
        diffusion.sample(lambda x, t: x[:, :2], (2, 4, D))


# ---------------------------------------------------------------------------------------------------------------
# Training loss
# ---------------------------------------------------------------------------------------------------------------
def test_masked_loss_ignores_padding_and_matches_hand_computation(diffusion):
    g = torch.Generator().manual_seed(10)
    x0 = torch.randn(B, T, D, generator=g)
    lengths = torch.tensor([16, 9, 3])
    mask = torch.arange(T)[None, :] < lengths[:, None]  # (B, T)
    t, noise = torch.tensor([0, 400, 999]), torch.randn(B, T, D, generator=g)
    offset = torch.randn(B, T, D, generator=g)

    def model_fn(x_t, t_):
        return 0.5 * x_t

    loss, extras = diffusion.loss(model_fn, x0, mask, t=t, noise=noise)
    assert set(extras) == {"x0_pred", "x_t", "t", "noise", "loss_per_sample"}
    a, s = diffusion.sqrt_alphas_cumprod[t], diffusion.sqrt_one_minus_alphas_cumprod[t]  # (B,)
    x_t = a[:, None, None] * x0 + s[:, None, None] * noise  # (B, T, D)
    assert torch.allclose(extras["x_t"], x_t, atol=1e-6)
    per_sample = torch.stack([((0.5 * x_t[b, :n] - x0[b, :n]) ** 2).mean() for b, n in enumerate(lengths.tolist())])
    assert torch.allclose(extras["loss_per_sample"], per_sample, atol=1e-6)
    assert torch.allclose(loss, per_sample.mean(), atol=1e-6)

    # changing the prediction on padded frames leaves the loss unchanged; changing it on a valid frame does not
    loss_pad, _ = diffusion.loss(lambda x, t_: 0.5 * x + offset * (~mask)[..., None], x0, mask, t=t, noise=noise)
    assert torch.equal(loss_pad, loss)
    loss_valid, _ = diffusion.loss(lambda x, t_: 0.5 * x + offset * mask[..., None], x0, mask, t=t, noise=noise)
    assert abs(loss_valid.item() - loss.item()) > 1e-3


def test_loss_draws_t_and_noise_and_backpropagates(diffusion):
    x0 = torch.randn(64, 8, D)
    weight = torch.zeros(D, requires_grad=True)
    loss, extras = diffusion.loss(lambda x, t: x * weight, x0, generator=torch.Generator().manual_seed(0))
    assert extras["t"].shape == (64,) and extras["t"].dtype == torch.long
    assert 0 <= extras["t"].min() and extras["t"].max() < 1000 and extras["t"].unique().numel() > 30
    loss.backward()
    assert weight.grad is not None and weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="no valid frame"):
        masked_mse(x0, x0, torch.zeros(64, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must have shape"):
        diffusion.loss(lambda x, t: x, x0, torch.ones(64, 7, dtype=torch.bool))


def test_buffers_follow_module_and_samplers_listed(diffusion):
    assert SAMPLERS == ("dpm++2m", "sde-dpm++2m-karras", "ddpm")
    assert diffusion.state_dict() == {}  # the schedule is rebuilt from constructor args, never checkpointed


@pytest.mark.parametrize("sampler,steps", [("sde-dpm++2m-karras", 50), ("ddpm", 200)])
def test_x0_range_stops_a_runaway_predictor(diffusion, sampler, steps):
    # A predictor that overshoots off the data (x0_hat = 1.4 x_t at low noise, what an under-trained U-Net did to
    # the root velocity) drives a fine stochastic solver far out; clamping x0_hat to the data range keeps it inside.
    def runaway(x_t, t):
        abar = diffusion.alphas_cumprod[t][:, None, None]
        return 1.4 * x_t / abar.sqrt()

    shape, g = (4, 16, 3), lambda: torch.Generator().manual_seed(0)
    free = diffusion.sample(runaway, shape, sampler=sampler, steps=steps, generator=g())
    lo, hi = torch.tensor([-1.0, -2.0, 0.0]), torch.tensor([1.0, 2.0, 0.5])
    clamped = diffusion.sample(runaway, shape, sampler=sampler, steps=steps, generator=g(),
                               x0_range=torch.stack([lo, hi]))
    assert free.abs().max() > 50                                  # the failure the clamp exists for
    assert (clamped >= lo - 1e-6).all() and (clamped <= hi + 1e-6).all()
