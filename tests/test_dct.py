"""dct.py: parity with scipy's orthonormal DCT-II / DCT-III, inverse, Parseval, low-frequency slice, energy."""
import numpy as np
import pytest
import scipy.fft
import torch

from dct import dct, dct_basis, dct_low_freq, energy_fraction, idct


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_dct_matches_scipy_along_every_dim(dim):
    x = torch.randn(3, 196, 7, generator=torch.Generator().manual_seed(0))          # (B, T, D)
    ours = dct(x, dim=dim)
    ref = scipy.fft.dct(x.numpy().astype(np.float64), type=2, norm="ortho", axis=dim)
    assert ours.dtype == torch.float32 and ours.shape == x.shape
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-5)
    back = scipy.fft.idct(ref, type=2, norm="ortho", axis=dim)
    np.testing.assert_allclose(idct(torch.from_numpy(ref).float(), dim=dim).numpy(), back, atol=1e-5)


def test_inverse_parseval_and_orthogonality():
    x = torch.randn(2, 50, 5, dtype=torch.float64)
    torch.testing.assert_close(idct(dct(x, 1), 1), x)
    torch.testing.assert_close((dct(x, 1) ** 2).sum(), (x ** 2).sum())
    m = dct_basis(13, torch.float64)
    torch.testing.assert_close(m @ m.T, torch.eye(13, dtype=torch.float64))
    assert m[0, 0].item() == pytest.approx((1 / 13) ** 0.5) and m[1].norm().item() == pytest.approx(1.0)


def test_low_freq_is_first_k_and_checks_k():
    x = torch.randn(4, 196, 263)
    low = dct_low_freq(x, 64)                                                      # (B, K, D)
    assert low.shape == (4, 64, 263)
    torch.testing.assert_close(low, dct(x, 1)[:, :64], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="k must be in 1..196"):
        dct_low_freq(x, 197)


def test_gradient_and_energy_fraction():
    x = torch.randn(2, 20, 3, requires_grad=True)
    dct_low_freq(x, 4).pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    t = torch.arange(196, dtype=torch.float64)
    smooth = torch.cos(torch.pi * (2 * t + 1) * 3 / (2 * 196))[None, :, None]    # exactly coefficient 3
    assert energy_fraction(smooth, 4) == pytest.approx(1.0)
    assert energy_fraction(smooth, 3) == pytest.approx(0.0, abs=1e-20)
    noise = torch.randn(8, 196, 4, generator=torch.Generator().manual_seed(1))
    assert abs(energy_fraction(noise, 98) - 0.5) < 0.05                            # white noise: energy spread evenly


def test_magnitude_share_differs_from_energy():
    x = torch.zeros(1, 4, 1, dtype=torch.float64)
    x[0, :, 0] = dct_basis(4, torch.float64)[0] * 3 + dct_basis(4, torch.float64)[2] * 1   # coefficients (3, 0, 1, 0)
    assert energy_fraction(x, 1) == pytest.approx(9 / 10)
    assert energy_fraction(x, 1, power=1) == pytest.approx(3 / 4)
