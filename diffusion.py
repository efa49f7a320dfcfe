"""Gaussian diffusion for an x0-predicting network: linear-beta DDPM schedule, masked training loss, three samplers.

Nothing here knows about motion: tensors are (B, T, D) sequences (B batch, T frames, D feature dim) and a boolean
mask (B, T) marks the valid frames. The network is any `model_fn(x_t, t) -> x0_pred`.

- Forward process and loss: Ho et al. 2020 (DDPM, arXiv 2006.11239) eq. 4,
  q(x_t | x0) = N(sqrt(abar_t) x0, (1 - abar_t) I), with the x0 ("sample") parameterisation and the masked MSE of
  StableMoFusion's trainer (trainers/ddpm_trainer.py).
- Samplers (diffusers scheduling_dpmsolver_multistep.py), all calling model_fn with integer timesteps:
    "ddpm"               ancestral sampling from the posterior q(x_{t-1} | x_t, x0_pred), variance "fixed_small"
                         (DDPM eq. 6-7);
    "dpm++2m"            deterministic DPM-Solver++(2M) (Lu et al. 2022b, arXiv 2211.01095, Alg. 2), diffusers' default
                         "linspace" timesteps, first-order last step, final sigma 0;
    "sde-dpm++2m-karras" its stochastic variant with Karras et al. 2022 sigmas: what StableMoFusion (hence LUMA)
                         samples with.
  Both DPM variants reproduce diffusers' DPMSolverMultistepScheduler(algorithm_type="dpmsolver++" / "sde-dpmsolver++",
  solver_order=2, prediction_type="sample") step for step; tests/test_diffusion.py checks it.

Classifier-free guidance is not in this file: the network drops the text condition for 10% of the training samples
(unet.CondUnet1D, cond_mask_prob=0.1) and the caller passes a guided model_fn to the sampler, e.g.
`lambda x_t, t: unet.forward_with_cfg(x_t, t, text, text_mask, guidance=2.5)` = uncond + 2.5 (cond - uncond) on x0.

Test: python -m pytest -q tests/test_diffusion.py
"""
import math

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

SAMPLERS = ("dpm++2m", "sde-dpm++2m-karras", "ddpm")
DEFAULT_DPM_STEPS = 10  # LUMA / StableMoFusion: 10 DPM-Solver steps
# Checks that read tensor values (t in range, no empty mask) run for CPU tensors, where they cost nothing; on a GPU
# each would stall the host until the GPU catches up, every step, so there they run only when this is True
# (train.py --debug sets it).
SYNC_CHECKS = False


def _check_values(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" or SYNC_CHECKS


def masked_mse(x0_pred, x0, mask):
    """Masked x0 MSE of StableMoFusion (trainers/ddpm_trainer.py): mean over D, mean over valid frames per sample.

    x0_pred, x0: (B, T, D) float; mask: (B, T) bool, True = valid frame. Returns the per-sample loss (B,).
    Raises ValueError when a sample has no valid frame (its mean would be 0/0); on a GPU only with SYNC_CHECKS.
    """
    per_frame = ((x0_pred - x0) ** 2).mean(dim=-1)  # (B, T)
    valid = mask.to(per_frame.dtype)  # (B, T)
    count = valid.sum(dim=1)  # (B,)
    if _check_values(count) and bool((count == 0).any()):
        rows = torch.nonzero(count == 0).flatten().tolist()
        raise ValueError(f"diffusion.masked_mse: mask has samples with no valid frame (rows {rows})")
    return (per_frame * valid).sum(dim=1) / count  # (B,)


class GaussianDiffusion(nn.Module):
    """Linear-beta Gaussian diffusion, x0 prediction (no learnable parameters; buffers follow .to(device)).

    The schedule is computed in float64 and stored as float32 buffers of length T = num_timesteps, index t = 0..T-1
    (t = 0 is the first noising step, as in diffusers):
      betas = linspace(beta_start, beta_end, T), alphas_cumprod abar_t = prod_{s<=t} (1 - beta_s),
      alphas_cumprod_prev (abar_{t-1}, 1 at t=0), sqrt_alphas_cumprod, sqrt_one_minus_alphas_cumprod,
      posterior_variance = beta_t (1 - abar_{t-1}) / (1 - abar_t)  ("fixed_small", 0 at t=0),
      posterior_mean_coef1 = sqrt(abar_{t-1}) beta_t / (1 - abar_t)   (multiplies x0),
      posterior_mean_coef2 = sqrt(1 - beta_t) (1 - abar_{t-1}) / (1 - abar_t)   (multiplies x_t)   [DDPM eq. 7].
    Values (T=1000, 1e-4..0.02): abar_0 = 0.9999, abar_999 = 4.04e-5.
    """

    def __init__(self, num_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02):
        super().__init__()
        if num_timesteps < 2 or not 0.0 < beta_start <= beta_end < 1.0:
            raise ValueError("diffusion.GaussianDiffusion: need num_timesteps >= 2 and 0 < beta_start <= beta_end < 1, "
                             f"got num_timesteps={num_timesteps}, beta_start={beta_start}, beta_end={beta_end}")
        self.num_timesteps = num_timesteps
        betas = torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        schedule = {
            "betas": betas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - alphas_cumprod).sqrt(),
            "posterior_variance": betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod),
            "posterior_mean_coef1": alphas_cumprod_prev.sqrt() * betas / (1.0 - alphas_cumprod),
            "posterior_mean_coef2": (1.0 - betas).sqrt() * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod),
        }
        for name, value in schedule.items():
            self.register_buffer(name, value.float(), persistent=False)  # rebuilt from the 3 args, not checkpointed

    # ------------------------------------------------------------------------------------------------------------
    # Forward process and training loss
    # ------------------------------------------------------------------------------------------------------------
    def _extract(self, buf, t, x):
        """buf[t] reshaped to broadcast against x: (B,) -> (B, 1, ..., 1)."""
        return buf[t].to(x.dtype).reshape(t.shape[0], *([1] * (x.dim() - 1)))  # (B, 1, 1)

    def _check_t(self, t, x, where):
        if t.dtype != torch.long or t.shape != (x.shape[0],):
            raise ValueError(f"diffusion.{where}: t must be a long tensor of shape ({x.shape[0]},), "
                             f"got {t.dtype} {tuple(t.shape)}")
        if _check_values(t) and bool(((t < 0) | (t >= self.num_timesteps)).any()):
            raise ValueError(f"diffusion.{where}: t must lie in [0, {self.num_timesteps - 1}], "
                             f"got min {int(t.min())} max {int(t.max())}")

    def q_sample(self, x0, t, noise):
        """Sample x_t ~ q(x_t | x0) = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps (DDPM eq. 4).

        x0, noise: (B, T, D) float (any trailing shape works); t: (B,) long in [0, T-1]. Returns x_t like x0.
        """
        self._check_t(t, x0, "q_sample")
        return (self._extract(self.sqrt_alphas_cumprod, t, x0) * x0
                + self._extract(self.sqrt_one_minus_alphas_cumprod, t, x0) * noise)

    def q_posterior(self, x0, x_t, t):
        """Mean and variance of q(x_{t-1} | x_t, x0) (DDPM eq. 6-7). Shapes as q_sample; variance is (B, 1, 1)."""
        self._check_t(t, x_t, "q_posterior")
        mean = (self._extract(self.posterior_mean_coef1, t, x_t) * x0
                + self._extract(self.posterior_mean_coef2, t, x_t) * x_t)
        return mean, self._extract(self.posterior_variance, t, x_t)

    def loss(self, model_fn, x0, mask=None, t=None, noise=None, generator=None):
        """Masked x0-prediction loss of StableMoFusion's DDPM trainer (trainers/ddpm_trainer.py).

        t ~ U{0..T-1} per sample and eps ~ N(0, I) over the *whole padded* sequence (padding is noised too);
        x0_pred = model_fn(x_t, t); loss = mean_B [ mean_{valid frames} mean_D (x0_pred - x0)^2 ].

        x0: (B, T, D) float; mask: (B, T) bool (True = valid frame; None = all valid); t: optional (B,) long;
        noise: optional (B, T, D); generator: torch.Generator for t and noise when they are not given.
        Returns (loss scalar, extras) with extras = {"x0_pred", "x_t", "t", "noise", "loss_per_sample" (B,)} so that
        auxiliary losses (LUMA anchors, ATM alignment) can reuse the prediction without a second forward pass.
        Raises ValueError on shape mismatch or an all-padding sample.
        """
        B, T = x0.shape[:2]
        if mask is None:
            mask = torch.ones(B, T, dtype=torch.bool, device=x0.device)
        if mask.shape != (B, T):
            raise ValueError(f"diffusion.loss: mask must have shape {(B, T)} to match x0 {tuple(x0.shape)}, "
                             f"got {tuple(mask.shape)}")
        if t is None:
            t = torch.randint(0, self.num_timesteps, (B,), generator=generator, device=x0.device)
        if noise is None:
            noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        x_t = self.q_sample(x0, t, noise)
        x0_pred = model_fn(x_t, t)
        if x0_pred.shape != x0.shape:
            raise ValueError(f"diffusion.loss: model_fn returned {tuple(x0_pred.shape)}, "
                             f"expected x0's shape {tuple(x0.shape)}")
        loss_per_sample = masked_mse(x0_pred.float(), x0.float(), mask)  # (B,)
        extras = {"x0_pred": x0_pred, "x_t": x_t, "t": t, "noise": noise, "loss_per_sample": loss_per_sample}
        return loss_per_sample.mean(), extras

    # ------------------------------------------------------------------------------------------------------------
    # Timestep / sigma schedules for sampling
    # ------------------------------------------------------------------------------------------------------------
    def _ve_sigmas(self):
        """diffusers' "VE" sigma s_t = sqrt((1 - abar_t) / abar_t) as float64 numpy (T,).

        Back to the VP pair: alpha_t = sqrt(abar_t) = 1/sqrt(1+s^2), sigma_t = sqrt(1 - abar_t) = s*alpha_t.
        """
        abar = self.alphas_cumprod.detach().double().cpu().numpy()
        return np.sqrt((1.0 - abar) / abar)

    def _dpm_schedule(self, steps, karras):
        """(model timesteps (M,) int64, VE sigmas (M+1,) float64 ending in 0) as diffusers' set_timesteps."""
        sigmas_all = self._ve_sigmas()  # (T,) increasing with t
        if not karras:
            # "linspace" spacing: round(linspace(0, T-1, M+1)) reversed, last (0) dropped; sigma read at those t.
            ts = np.linspace(0, self.num_timesteps - 1, steps + 1).round()[::-1][:-1].astype(np.int64)
            sigmas = sigmas_all[ts]
        else:
            # Karras et al. 2022 eq. 5 with rho = 7 between s_0 and s_{T-1}; each sigma is mapped back to a fractional
            # t by linear interpolation of log sigma over the training grid, and rounded only for the model call.
            rho = 7.0
            ramp = np.linspace(0.0, 1.0, steps)
            s_min, s_max = sigmas_all[0], sigmas_all[-1]
            sigmas = (s_max ** (1 / rho) + ramp * (s_min ** (1 / rho) - s_max ** (1 / rho))) ** rho
            ts = np.interp(np.log(sigmas), np.log(sigmas_all), np.arange(self.num_timesteps)).round().astype(np.int64)
        return ts, np.concatenate([sigmas, [0.0]])

    def timesteps(self, steps=None, sampler="dpm++2m"):
        """The integer timesteps at which `sample(sampler=..., steps=...)` calls the model, in calling order.

        "dpm++2m": M=10 -> [999, 899, 799, 699, 599, 500, 400, 300, 200, 100];
        "sde-dpm++2m-karras": M=10 -> [999, 937, 864, 775, 663, 511, 301, 102, 18, 0];
        "ddpm": round(linspace(T-1, 0, M)), i.e. every t from T-1 down to 0 for the default M = T.
        Raises ValueError on an unknown sampler or steps outside [1, T].
        """
        steps = self._check_steps(steps, sampler)
        if sampler == "ddpm":
            return np.linspace(self.num_timesteps - 1, 0, steps).round().astype(np.int64).tolist()
        return self._dpm_schedule(steps, karras=sampler == "sde-dpm++2m-karras")[0].tolist()

    def _check_steps(self, steps, sampler):
        if sampler not in SAMPLERS:
            raise ValueError(f"diffusion: unknown sampler {sampler!r}, expected one of {SAMPLERS}")
        if steps is None:
            steps = self.num_timesteps if sampler == "ddpm" else DEFAULT_DPM_STEPS
        if not 1 <= int(steps) <= self.num_timesteps or (sampler == "ddpm" and steps < 2):
            raise ValueError(f"diffusion: steps must lie in [1, {self.num_timesteps}] ([2, ...] for ddpm), got {steps}")
        return int(steps)

    # ------------------------------------------------------------------------------------------------------------
    # Samplers
    # ------------------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, model_fn, shape, sampler="dpm++2m", steps=None, generator=None, noise=None, progress=False,
               x0_range=None):
        """Draw x0 samples by integrating the reverse process with an x0-predicting model.

        model_fn(x_t (B, T, D) float32, t (B,) long) -> x0 prediction (B, T, D) (guidance included by the caller).
        shape: (B, T, D); sampler: one of SAMPLERS; steps: number of model calls (None: 10 for the DPM solvers, T for
        "ddpm"); generator: torch.Generator on the buffers' device, used for the initial noise (when `noise` is None)
        and then for the per-step noise of the stochastic samplers; noise: optional initial x_T (B, T, D);
        progress: show a tqdm bar; x0_range: optional (2, D) per-dimension [min, max] that every x0 prediction is
        clamped to before the solver uses it (static thresholding: Ho et al. 2020 clip x0 to the data's [-1, 1],
        Saharia et al. 2022 sec. 2.3; here the training set's range per feature, data.feature_range). Without it a
        small model's x0 prediction can run away at low noise: x0_hat ~ 1.4 x_t off the data, so a stochastic
        solver with many small steps drives the root velocity to 10 m/s (README, "Sampling"). Returns float32
        (B, T, D) on the buffers' device.
        """
        steps = self._check_steps(steps, sampler)
        device = self.betas.device
        if x0_range is not None:
            lo, hi = torch.as_tensor(x0_range, dtype=torch.float32, device=device)   # (D,), (D,)
            unclamped = model_fn

            def model_fn(x_t, t):
                return torch.minimum(torch.maximum(unclamped(x_t, t).float(), lo), hi)
        if noise is None:
            noise = torch.randn(shape, generator=generator, device=device, dtype=torch.float32)
        elif tuple(noise.shape) != tuple(shape):
            raise ValueError(f"diffusion.sample: noise has shape {tuple(noise.shape)}, expected {tuple(shape)}")
        x = noise.to(device=device, dtype=torch.float32)
        if sampler == "ddpm":
            return self._ddpm_loop(model_fn, x, self.timesteps(steps, "ddpm"), generator, progress)
        ts, sigmas = self._dpm_schedule(steps, karras=sampler == "sde-dpm++2m-karras")
        sde = sampler.startswith("sde")
        return self._dpm_solver_loop(model_fn, x, ts, sigmas, sde=sde, generator=generator, progress=progress)

    def _model(self, model_fn, x, t):
        t_batch = torch.full((x.shape[0],), int(t), dtype=torch.long, device=x.device)  # (B,)
        x0_pred = model_fn(x, t_batch)
        if x0_pred.shape != x.shape:
            raise ValueError(f"diffusion.sample: model_fn returned {tuple(x0_pred.shape)}, expected {tuple(x.shape)}")
        return x0_pred.float()

    def _ddpm_loop(self, model_fn, x, ts, generator, progress):
        """Ancestral sampling x_{t'} ~ q(x_{t'} | x_t, x0 = model(x_t, t)), consecutive visited t > t' (t' = -1: x0).

        With every t visited this is DDPM Alg. 2 with sigma_t^2 = posterior variance ("fixed_small"). For strided t the
        betas are respaced (Nichol & Dhariwal 2021, sec. 4): beta' = 1 - abar_t / abar_t', then the same posterior
            mean = sqrt(abar_t') beta' / (1 - abar_t) x0 + sqrt(1 - beta') (1 - abar_t') / (1 - abar_t) x_t,
            var  = beta' (1 - abar_t') / (1 - abar_t).
        Noise is drawn for every step except the last (as diffusers' DDPMScheduler does), whose variance is 0.
        """
        abar = self.alphas_cumprod.detach().double().cpu().numpy()
        for i, t in enumerate(tqdm(ts, desc="ddpm", disable=not progress)):
            x0_pred = self._model(model_fn, x, t)
            abar_t = abar[t]
            abar_prev = abar[ts[i + 1]] if i + 1 < len(ts) else 1.0
            beta = 1.0 - abar_t / abar_prev
            coef_x0 = math.sqrt(abar_prev) * beta / (1.0 - abar_t)
            coef_xt = math.sqrt(1.0 - beta) * (1.0 - abar_prev) / (1.0 - abar_t)
            x = coef_x0 * x0_pred + coef_xt * x
            if i + 1 < len(ts):
                var = beta * (1.0 - abar_prev) / (1.0 - abar_t)
                x = x + math.sqrt(var) * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x

    def _dpm_solver_loop(self, model_fn, x, ts, sigmas, sde, generator, progress):
        """Multistep DPM-Solver++(2M) in data-prediction form, optionally its SDE variant.

        With VE sigma s (alpha = 1/sqrt(1+s^2), sigma = s*alpha, lambda = log(alpha/sigma) = -log s), step i goes from
        s_i (current) to s_{i+1} (next); h = lambda_{i+1} - lambda_i; m0 = x0_pred(x, t_i), m1 = the previous x0_pred;
        r = h_prev / h; D = m0 + (m0 - m1) / (2r)   (Lu et al. 2022b Alg. 2: D = (1 + 1/2r) m0 - 1/(2r) m1), or D = m0
        for a first-order step (the first step, and the last one whose target sigma is 0).
          ODE:  x <- (sigma_{i+1} / sigma_i) x - alpha_{i+1} (e^{-h} - 1) D    (Alg. 2)
          SDE:  x <- (sigma_{i+1} / sigma_i) e^{-h} x + alpha_{i+1} (1 - e^{-2h}) D + sigma_{i+1} sqrt(1 - e^{-2h}) z
        (SDE-DPM-Solver++(2M): Lu et al.'s stochastic counterpart, as k-diffusion's sample_dpmpp_2m_sde and diffusers'
        "sde-dpmsolver++" midpoint). The final step to sigma = 0 has alpha = 1 and sigma = 0, so it returns m0 exactly.
        For the SDE, z ~ N(0, I) is drawn at every step (also the last, where it is multiplied by 0), matching
        diffusers' draws from the same generator.
        """
        m_prev, lam_prev = None, None
        for i, t in enumerate(tqdm(ts, desc="dpm-solver++", disable=not progress)):
            m0 = self._model(model_fn, x, t)
            z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) if sde else None
            s_cur, s_next = sigmas[i], sigmas[i + 1]
            lam_cur = -math.log(s_cur)
            if s_next == 0.0:
                x = m0  # alpha = 1, sigma = 0, h = inf: every update above reduces to the last x0 prediction
            else:
                alpha_next = 1.0 / math.sqrt(1.0 + s_next**2)
                sigma_next, sigma_cur = s_next * alpha_next, s_cur / math.sqrt(1.0 + s_cur**2)
                h = -math.log(s_next) - lam_cur
                d = m0 if m_prev is None else m0 + (m0 - m_prev) * (h / (lam_cur - lam_prev)) / 2.0
                if sde:
                    x = (sigma_next / sigma_cur * math.exp(-h)) * x + (alpha_next * -math.expm1(-2.0 * h)) * d \
                        + (sigma_next * math.sqrt(-math.expm1(-2.0 * h))) * z
                else:
                    x = (sigma_next / sigma_cur) * x - (alpha_next * math.expm1(-h)) * d
            m_prev, lam_prev = m0, lam_cur
        return x
