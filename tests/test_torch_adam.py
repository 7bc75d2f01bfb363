"""``dspgd.adam(eps)`` is ``torch.optim.Adam(betas=(0, 0), eps=eps)``, iterate by iterate.

With ``beta1 = beta2 = 0`` torch keeps ``m = g`` and ``v = g^2``, both bias
corrections are ``1 - 0^t = 1``, and its step is
``lr * m_hat / (sqrt(v_hat) + eps) = lr * g / (|g| + eps)`` (``sqrt(g^2) = |g|``
exactly in floating point): the DSPGD step with ``grad K(g) = g / (|g| + eps)``.
"""

from __future__ import annotations

import numpy as np
import pytest

import dspgd

torch = pytest.importorskip(
    "torch", reason="PyTorch is optional (not a dependency of the book); it is only the reference for this check"
)


@pytest.mark.parametrize("foreach", [False, True])
@pytest.mark.parametrize("k,eps,frac", [(1, 1e-2, 0.5), (3, 1e-3, 0.9), (2, 0.1, 1.5)])
def test_adam_matches_torch_adam_with_zero_betas(foreach, k, eps, frac):
    """Float64, ``w.grad`` set by hand to ``G = X^T (XW - Y)``; the last case is above ``stable_lr``."""
    p = dspgd.gaussian_problem(6, 25, k, seed=k)
    P = dspgd.adam(eps)
    lr = frac * dspgd.stable_lr(p, P)
    steps = 40
    w = torch.tensor(p.W0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w], lr=lr, betas=(0.0, 0.0), eps=eps, foreach=foreach)
    X, Y = p.X, p.Y
    worst = 0.0
    for t in range(1, steps + 1):
        W = w.detach().numpy()
        w.grad = torch.from_numpy(X.T @ (X @ W - Y))
        opt.step()
        res = dspgd.solve(p, P, lr, tol=0, max_steps=t)
        assert res.steps == t
        gap = float(np.max(np.abs(w.detach().numpy() - res.W)))
        worst = max(worst, gap)
        assert gap <= 1e-12, f"step {t}: |torch - dspgd| = {gap:.2e}"
    # and the runs really moved (not a vacuous comparison)
    assert np.linalg.norm(w.detach().numpy() - p.W0) > 10 * lr
    assert worst <= 1e-12


def test_torch_adam_with_momentum_is_not_dspgd():
    """A control: with the default betas torch's Adam leaves the DSPGD iterates at once."""
    p = dspgd.gaussian_problem(6, 25, 1, seed=0)
    P = dspgd.adam(1e-2)
    lr = 0.5 * dspgd.stable_lr(p, P)
    w = torch.tensor(p.W0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([w], lr=lr, eps=1e-2)
    for _ in range(3):
        W = w.detach().numpy()
        w.grad = torch.from_numpy(p.X.T @ (p.X @ W - p.Y))
        opt.step()
    res = dspgd.solve(p, P, lr, tol=0, max_steps=3)
    assert np.max(np.abs(w.detach().numpy() - res.W)) > 1e-3 * lr
