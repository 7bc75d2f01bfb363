"""No row of the claims ledger is decorative: each one fails under a plausible bug in the package.

Every mutation below plants one bug in ``dspgd`` (never in the check): a
wrong formula, a dropped argument, a lost sign, a precision loss, a default
that silently replaces a parameter. ``KILLS`` assigns to every row of the
ledger the mutation that must turn it to FAIL. The tests check that every
row passes on the real package and fails under its mutation, with a number
on the failing side of its threshold (a check that crashes does not count).

The unmutated ledger runs once for the whole module, and each row once
under its mutation, so the file costs about two runs of the ledger.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from scipy.linalg import solve_triangular

from dspgd import adam_memory, bregman, flow, ledger, minibatch, mirror, rowspace, solver, theory
from dspgd import preconditioners as pc
from dspgd.losses import squared
from dspgd.preconditioners import Preconditioner


# ----------------------------------------------------------------- helpers


def _patch_grad(monkeypatch, name: str, bug) -> None:
    """Replace ``grad`` of every preconditioner of family ``name`` by ``bug(precond, G, real_grad)``."""
    real = Preconditioner.grad

    def grad(self, G):
        return bug(self, np.asarray(G, dtype=float), real(self, G)) if self.name == name else real(self, G)

    monkeypatch.setattr(Preconditioner, "grad", grad)


def _patch_factory(monkeypatch, module, name: str, wrap) -> None:
    real = getattr(module, name)
    monkeypatch.setattr(module, name, functools.wraps(real)(lambda *a, **kw: wrap(real, *a, **kw)))


class _RuleBug(adam_memory.AdamRule):
    """Adam's update rule (:class:`dspgd.adam_memory.AdamRule`) with a bug in its second moment.

    ``mode="scalar"``: ``v`` averages ``g * g`` over all coordinates of a run (one number per
    run, as in AdaGrad-norm), so the step is a combination of past gradients.
    ``mode="amsgrad"``: ``v_hat`` never decreases (AMSGrad switched on by mistake).
    The state lives in the runner's stacked layout ``d x (B k)``, as in the real rule.
    """

    def __init__(self, mode: str, betas=(0.9, 0.999), eps=1e-8) -> None:
        super().__init__(betas, eps)
        self.mode = mode
        self.name = f"buggy {self.name} ({mode})"

    def start(self, ctx, B):
        super().start(ctx, B)
        self.vmax = np.zeros_like(self.v)

    def direction(self, g, t):
        self.m = self._b1 * self.m + self._c1 * g
        if self.mode == "scalar":
            k = self.ctx.k
            per_run = (g * g).reshape(g.shape[0], -1, k).mean(axis=(0, 2))
            g2 = np.repeat(per_run, k)[None, :]
        else:
            g2 = g * g
        self.v = self._b2 * self.v + self._c2 * g2
        vhat = self.v / (1 - self._b2**t)
        if self.mode == "amsgrad":
            self.vmax = np.maximum(self.vmax, vhat)
            vhat = self.vmax
        return self.m / (1 - self._b1**t) / (np.sqrt(vhat) + self._eps)

    def keep(self, keep):
        self._drop(keep, "m", "v", "vmax")


def _bound_constant_swapped(problem, precond, lr, loss=None):
    """This book's c with the largest and smallest singular value of X swapped."""
    loss = squared() if loss is None else loss
    if not precond.smooth or lr >= theory.stable_lr(problem, precond, loss):
        return np.inf
    s, sigma = problem.sigma_min, problem.op_norm  # the bug: swapped
    mu, bl, LK = loss.strong_convexity, loss.smoothness, precond.lipschitz
    radius = s * bl * np.sqrt(2 * loss.value(problem.residual(problem.W0)) / mu)
    muK = precond.local_monotonicity(radius)
    rho = min(2 * lr * muK * mu * sigma**2 * (1 - lr * bl * s**2 * LK / 2), 1.0)
    return float(lr * LK * s**2 * bl * np.sqrt(bl / mu) / (1 - np.sqrt(1 - rho)))


def _contraction_without_margin(problem, precond, lr, loss=None):
    """The linear rate without its factor ``1 - lr beta L_K / 2``."""
    loss = squared() if loss is None else loss
    if not precond.smooth or lr >= theory.stable_lr(problem, precond, loss):
        return 0.0
    L0 = loss.value(problem.residual(problem.W0))
    muK = precond.local_monotonicity(problem.op_norm * loss.smoothness * np.sqrt(2 * L0 / loss.strong_convexity))
    return float(min(2 * lr * muK * loss.strong_convexity * problem.sigma_min**2, 1.0))


# ----------------------------------------------------------------- the bugs


def m_gd_limit_untransposed(mp):
    """gd_limit solves with R^{-1} instead of R^{-T} (the QR route without ``trans``)."""
    def gd_limit(problem):
        Q, R = np.linalg.qr(problem.X.T)
        return problem.W0 + Q @ solve_triangular(R, -problem.residual(problem.W0))
    mp.setattr(theory, "gd_limit", gd_limit)


def m_gd_limit_forgets_w0(mp):
    """gd_limit returns the minimum-norm interpolator X^+ Y (closest to 0, not to W0)."""
    def gd_limit(problem):
        Q, R = np.linalg.qr(problem.X.T)
        return Q @ solve_triangular(R, problem.Y, trans="T")
    mp.setattr(theory, "gd_limit", gd_limit)


def m_stop_on_loss(mp):
    """The stopping rule compares the relative loss with tol: it stops at relative residual sqrt(tol)."""
    real = solver.solve

    def solve(problem, precond, lr, loss=None, tol=1e-10, **kw):
        return real(problem, precond, lr, loss=loss, tol=float(np.sqrt(tol)), **kw)
    mp.setattr(solver, "solve", solve)


def m_stable_lr_precedence(mp):
    """stable_lr computes 2 / L_K * beta instead of 2 / (L_K * beta)."""
    def stable_lr(problem, precond, loss=None):
        loss = squared() if loss is None else loss
        return 0.0 if not precond.smooth else 2.0 / precond.lipschitz * (loss.smoothness * problem.op_norm**2)
    mp.setattr(theory, "stable_lr", stable_lr)


def m_rate_without_margin(mp):
    """The contraction rate drops its factor (1 - lr beta L_K / 2)."""
    mp.setattr(bregman, "contraction", _contraction_without_margin)


def m_flat_ball_radius_dropped(mp):
    """flat_ball does not pass its radius on (a radius of ~0: the map becomes GD)."""
    _patch_factory(mp, pc, "flat_ball", lambda real, radius=1.0: real(1e-12))


def m_power_lipschitz_exponent(mp):
    """power declares L_K = eps^(q-1) instead of eps^(q-2)."""
    def wrap(real, q=1.5, eps=1e-2):
        p = real(q, eps)
        if 1 < q < 2 and eps > 0:
            object.__setattr__(p, "lipschitz", eps ** (q - 1))
        return p
    _patch_factory(mp, pc, "power", wrap)


def m_normalized_zero_eps_default(mp):
    """normalized(0) silently uses the default eps = 1e-2 (a falsy 0 replaced by the default)."""
    _patch_factory(mp, pc, "normalized", lambda real, eps=1e-2: real(eps or 1e-2))


def m_power_sign_lost(mp):
    """The power map drops the sign of g: |g| (g^2 + eps^2)^(q/2 - 1)."""
    _patch_grad(mp, "power", lambda p, G, P: np.abs(P))


def m_clip_norm_columnwise(mp):
    """Clipping by norm clips every column by its own norm instead of the Frobenius norm."""
    def bug(p, G, P):
        c = p.params["c"]
        return G * np.minimum(1.0, c / np.maximum(np.linalg.norm(G, axis=-2, keepdims=True), 1e-300))
    _patch_grad(mp, "clip_norm", bug)


def m_adam_eps_in_sqrt(mp):
    """Adam's map puts eps under the square root: g / sqrt(g^2 + eps)."""
    _patch_grad(mp, "adam", lambda p, G, P: G / np.sqrt(G * G + p.params["eps"]))


def m_adam_value_typo(mp):
    """Adam's K drops the 1/eps inside the logarithm: sum |g| - eps log(1 + |g|)."""
    real = Preconditioner.value

    def value(self, G):
        if self.name != "adam":
            return real(self, G)
        e, a = self.params["eps"], np.abs(np.asarray(G, dtype=float))
        out = np.sum(a - e * np.log1p(a), axis=(-2, -1))
        return float(out) if np.ndim(out) == 0 else out
    mp.setattr(Preconditioner, "value", value)


def m_adam_frobenius(mp):
    """Adam's map divides by the Frobenius norm of G instead of |g| entrywise (it becomes isotropic)."""
    _patch_grad(mp, "adam", lambda p, G, P: G / (np.linalg.norm(G, axis=(-2, -1), keepdims=True) + p.params["eps"]))


def m_clip_value_clips_norm(mp):
    """Clipping by value clips the global norm instead of each entry."""
    def bug(p, G, P):
        c = p.params["c"]
        return G * np.minimum(1.0, c / np.maximum(np.linalg.norm(G, axis=(-2, -1), keepdims=True), 1e-300))
    _patch_grad(mp, "clip_value", bug)


def m_diagonal_limit_inverted(mp):
    """diagonal_limit weights the distance by D instead of 1/D."""
    _patch_factory(mp, theory, "diagonal_limit", lambda real, problem, D: real(problem, 1.0 / np.asarray(D)))


def m_normalized_entrywise(mp):
    """Smoothed normalized GD normalizes entry by entry: g / sqrt(g^2 + eps^2)."""
    def bug(p, G, P):
        e = p.params["eps"]
        return G / np.sqrt(G * G + e * e) if e > 0 else P
    _patch_grad(mp, "normalized", bug)


def m_gd_float32(mp):
    """GD's map returns a float32 copy of the gradient (precision lost)."""
    _patch_grad(mp, "gd", lambda p, G, P: P.astype(np.float32).astype(np.float64))


def m_spectral_float32(mp):
    """The spectral map computes its step in float32 (precision lost)."""
    _patch_grad(mp, "spectral", lambda p, G, P: P.astype(np.float32).astype(np.float64))


def m_spectral_entrywise(mp):
    """The spectral map is applied entry by entry (the matrix function forgotten): g / sqrt(g^2 + eps^2)."""
    def bug(p, G, P):
        e = p.params["eps"]
        return G / np.sqrt(G * G + e * e) if e > 0 else np.sign(G)
    _patch_grad(mp, "spectral", bug)


def m_bound_constant_swapped(mp):
    """bound_constant swaps ||X||_op and sigma_min(X)."""
    mp.setattr(theory, "bound_constant", _bound_constant_swapped)


def m_adam_mu_ignores_radius(mp):
    """Adam's restricted strong monotonicity at 0 ignores the radius: mu_K(r) = 1/eps (its value at 0)."""
    real = Preconditioner.local_monotonicity

    def local_monotonicity(self, radius):
        return 1.0 / self.params["eps"] if self.name == "adam" else real(self, radius)
    mp.setattr(Preconditioner, "local_monotonicity", local_monotonicity)


def m_bfloat16_no_rounding(mp):
    """The bfloat16 emulation only converts to float32 (the rounding step is lost)."""
    mp.setattr(rowspace, "bfloat16_round", lambda x: np.asarray(x, dtype=np.float32))


def m_newton_schulz_float32(mp):
    """The float64 Newton-Schulz iteration runs in float32."""
    _patch_factory(mp, rowspace, "newton_schulz",
                   lambda real, G, *a, **kw: real(np.asarray(G, dtype=np.float32), *a, **kw)
                   .astype(np.float32).astype(np.float64))


def m_weight_decay_without_lr(mp):
    """Muon's decoupled weight decay forgets the learning rate: ``W <- (1 - wd) W``."""
    from dspgd.figures import spectral as spectral_figures

    def wrap(real, problems, lr, *a, weight_decay=0.0, **kw):
        return real(problems, lr, *a, weight_decay=np.asarray(weight_decay) / np.asarray(lr), **kw)

    _patch_factory(mp, spectral_figures, "muon_runs", wrap)


def m_adam_no_bias_correction(mp):
    """The transcription of Adam's Algorithm 1 forgets the bias corrections (m^ = m, v^ = v)."""
    from dspgd.figures import maps

    def path(problem, lr, steps, beta1=0.9, beta2=0.999, eps=1e-8, loss=None):
        loss = squared() if loss is None else loss
        W, m, v = problem.W0.copy(), np.zeros_like(problem.W0), np.zeros_like(problem.W0)
        out = [W.copy()]
        for _ in range(int(steps)):
            g = problem.X.T @ loss.grad(problem.X @ W - problem.Y)
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            W = W - lr * m / (np.sqrt(v) + eps)
            out.append(W.copy())
        return np.array(out)
    mp.setattr(maps, "adam_algorithm1_path", path)


def m_stochastic_mirror_ignores_potential(mp):
    """stochastic_mirror_descent does not pass its potential on: it runs the quadratic one (mini-batch GD)."""
    _patch_factory(mp, minibatch, "stochastic_mirror_descent",
                   lambda real, problem, potential, *a, **kw: real(problem, mirror.weighted_quadratic(1.0), *a, **kw))


def m_momentum_buffer_ones(mp):
    """The momentum buffer starts at ones instead of zeros."""
    real = adam_memory.MomentumRule.start

    def start(self, ctx, B):
        real(self, ctx, B)
        self.m = np.ones_like(self.m)
    mp.setattr(adam_memory.MomentumRule, "start", start)


def m_adam_scalar_second_moment(mp):
    """Adam's second moment is one number per run (mean of g^2), as in AdaGrad-norm."""
    mp.setattr(adam_memory, "AdamRule", lambda betas=(0.9, 0.999), eps=1e-8: _RuleBug("scalar", betas, eps))


def m_adam_amsgrad(mp):
    """Adam runs with AMSGrad switched on: v_hat never decreases."""
    mp.setattr(adam_memory, "AdamRule", lambda betas=(0.9, 0.999), eps=1e-8: _RuleBug("amsgrad", betas, eps))


def m_mirror_ignores_potential(mp):
    """mirror_descent does not pass its potential on: it runs the quadratic one (GD)."""
    _patch_factory(mp, mirror, "mirror_descent",
                   lambda real, problem, potential, *a, **kw: real(problem, mirror.weighted_quadratic(1.0), *a, **kw))


def m_weighted_quadratic_inverted(mp):
    """weighted_quadratic takes D for 1/D (its inverse mirror map divides by D)."""
    _patch_factory(mp, mirror, "weighted_quadratic", lambda real, D=1.0: real(1.0 / np.asarray(D, dtype=float)))


def m_pnorm_inverse_exponent(mp):
    """The inverse mirror map of the l_p potential uses the exponent 1/p instead of 1/(p-1)."""
    real = mirror.Potential.grad_inverse

    def grad_inverse(self, Z):
        if self.name != "pnorm":
            return real(self, Z)
        Z = np.asarray(Z, dtype=float)
        return np.sign(Z) * np.abs(Z) ** (1.0 / self.params["p"])
    mp.setattr(mirror.Potential, "grad_inverse", grad_inverse)


def m_flow_stops_early(mp):
    """flow_limit stops the flow at relative residual 1e-4 (its tolerance is not passed to the stopping event)."""
    _patch_factory(mp, flow, "flow_limit", lambda real, *a, **kw: real(*a, **{**kw, "tol": 1e-4}))


def m_seed_not_passed(mp):
    """minibatch_solve does not pass its seed to the sampler (every run draws the batches of seed 0)."""
    _patch_factory(mp, minibatch, "minibatch_solve", lambda real, *a, **kw: real(*a, **{**kw, "seed": 0}))


def m_network_gradient_scaled(mp):
    """The network's gradient is off by a factor 1.001 (a stray constant in the backward pass)."""
    from dspgd.network import NetworkProblem

    real = NetworkProblem.gradient
    mp.setattr(NetworkProblem, "gradient", lambda self, V: (real(self, V)[0] * 1.001, real(self, V)[1]))


def m_clip_value_soft(mp):
    """Clipping by value is smoothed to tau * tanh(g / tau), so it is nowhere exactly the identity."""
    _patch_grad(mp, "clip_value", lambda p, G, P: p.params["c"] * np.tanh(G / p.params["c"]))


def m_features_gamma_squared(mp):
    """The digits' random features apply the bandwidth twice: cos(gamma^2 omega^T z + theta)."""
    from dspgd import data

    real = data.random_features
    mp.setattr(data, "random_features",
               lambda Z, d, seed=0, features="fourier", gamma=1.0: real(Z, d, seed, features, gamma * gamma))


def m_digits_test_labels_shifted(mp):
    """The held-out labels are off by one image (np.roll of the labels against the images)."""
    from dspgd import data

    real = data.digits_arrays

    def arrays(*a, **kw):
        X, X_test, labels, labels_test = real(*a, **kw)
        return X, X_test, labels, np.roll(labels_test, 1)

    mp.setattr(data, "digits_arrays", arrays)


def m_network_mean_field(mp):
    """The network's output is scaled by 1/m instead of 1/sqrt(m) (mean-field, not NTK, scaling)."""
    from dspgd import network

    real = network.network_problem

    def problem(*a, **kw):
        pr = real(*a, **kw)
        return network.NetworkProblem(pr.X, pr.y, pr.a / np.sqrt(pr.m), pr.V0, pr.X_test, pr.activation)

    mp.setattr(network, "network_problem", problem)


KILLS = {
    "B11": m_gd_limit_untransposed,
    "B37": m_adam_frobenius,
    "B12": m_power_sign_lost,
    "B13": m_clip_norm_columnwise,
    "B14": m_adam_eps_in_sqrt,
    "B51": m_adam_no_bias_correction,
    "B4": m_adam_value_typo,
    "C1": m_stop_on_loss,
    "C1a": m_stable_lr_precedence,
    "B15": m_rate_without_margin,
    "B16": m_flat_ball_radius_dropped,
    "B17": m_power_lipschitz_exponent,
    "B18": m_normalized_zero_eps_default,
    "C2": m_adam_frobenius,
    "C2b": m_adam_frobenius,
    "B3": m_clip_value_clips_norm,
    "B2": m_diagonal_limit_inverted,
    "C3": m_normalized_entrywise,
    "B19": m_normalized_entrywise,
    "B20": m_gd_float32,
    "C4": m_bound_constant_swapped,
    "C4b": m_clip_value_clips_norm,
    "C4a": m_gd_limit_forgets_w0,
    "B21": m_bound_constant_swapped,
    "B22": m_adam_mu_ignores_radius,
    "B23": m_adam_frobenius,
    "B1": m_spectral_entrywise,
    "B24": m_spectral_entrywise,
    "B25": m_spectral_float32,
    "B26": m_bfloat16_no_rounding,
    "B27": m_newton_schulz_float32,
    "B38": m_weight_decay_without_lr,
    "B39": m_normalized_entrywise,
    "B40": m_adam_frobenius,
    "B41": m_network_gradient_scaled,
    "B42": m_normalized_entrywise,
    "B43": m_clip_value_soft,
    "B44": m_features_gamma_squared,
    "B45": m_digits_test_labels_shifted,
    "B46": m_normalized_entrywise,
    "B47": m_network_mean_field,
    "B7": m_momentum_buffer_ones,
    "B8": m_adam_scalar_second_moment,
    "B28": m_adam_scalar_second_moment,
    "B29": m_adam_amsgrad,
    "B5": m_mirror_ignores_potential,
    "B30": m_weighted_quadratic_inverted,
    "B31": m_pnorm_inverse_exponent,
    "B50": m_stochastic_mirror_ignores_potential,
    "B9": m_diagonal_limit_inverted,
    "B10": m_flow_stops_early,
    "B32": m_flow_stops_early,
    "B33": m_adam_frobenius,
    "B6": m_gd_float32,
    "B34": m_spectral_entrywise,
    "B35": m_diagonal_limit_inverted,
    "B36": m_seed_not_passed,
}


@functools.cache
def _unmutated() -> dict[str, ledger.Row]:
    return {r.claim.key: r for r in ledger.run_all()}


def test_every_row_has_a_mutation():
    assert sorted(KILLS) == sorted(ledger.CLAIMS), "rows without a mutation, or mutations of unknown rows"


@pytest.mark.parametrize("key", list(ledger.CLAIMS))
def test_row_passes(key):
    row = _unmutated()[key]
    assert row.passed, f"{key}: measured {row.measured} is not {row.claim.op} {row.claim.threshold} {row.error}"


@pytest.mark.parametrize("key", list(ledger.CLAIMS))
def test_row_fails_under_its_mutation(key, monkeypatch):
    mutation = KILLS[key]
    mutation(monkeypatch)
    row = ledger.run(ledger.CLAIMS[key])
    monkeypatch.undo()
    assert not row.error, f"{key} under {mutation.__name__}: the check raised {row.error}"
    assert not row.passed, f"{key} still passes under {mutation.__name__} ({mutation.__doc__}): measured {row.measured}"
