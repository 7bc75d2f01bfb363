"""Figures of the chapter "The setting": the two-dimensional toy problem."""

from __future__ import annotations

import numpy as np

from .. import theory
from ..plotting import color_of, new_figure
from ..preconditioners import Preconditioner, adam, clip_value, gd, normalized
from ..problem import Problem, gaussian_problem
from ..solver import solve
from . import Figure, register
from ._paths import record_path

__all__ = ["toy_problem", "toy_methods", "toy_2d", "interpolator_checks"]

_CHAPTER = "chapters/01_setting"


def toy_problem(x: tuple[float, float] = (1.0, 0.4), y: float = 2.0,
                w0: tuple[float, float] = (-0.6, -0.2)) -> Problem:
    """The toy problem with ``d = 2``, ``n = 1``, ``k = 1``: one equation ``x . w = y``.

    Its interpolators form a line in the plane, the row space of ``X`` is
    the line's normal direction ``x``, and ``W_GD`` is the foot of the
    perpendicular from ``W0`` to the line.

    Parameters
    ----------
    x : pair of floats
        The single row of ``X`` (not zero).
    y : float
        The single label.
    w0 : pair of floats
        The initialization.
    """
    X = np.asarray(x, dtype=float).reshape(1, -1)
    W0 = np.asarray(w0, dtype=float).reshape(-1, 1)
    if X.shape != (1, 2) or W0.shape != (2, 1):
        raise ValueError(f"x and w0 must be pairs of numbers, got x={x!r}, w0={w0!r}")
    return Problem(X, np.array([[float(y)]]), W0)


def toy_methods(adam_eps: float = 0.1, norm_eps: float = 0.1, clip: float = 1.0) -> list[Preconditioner]:
    """The four preconditioners of the toy figure: GD, normalized GD, Adam (beta = 0), clip by value."""
    return [gd(), normalized(eps=norm_eps), adam(eps=adam_eps), clip_value(c=clip)]


def _right_angle(ax, corner: np.ndarray, u: np.ndarray, v: np.ndarray, size: float, **kw) -> None:
    """Draw the small square that marks a right angle at ``corner`` between unit vectors u, v."""
    pts = np.array([corner + size * u, corner + size * (u + v), corner + size * v])
    ax.plot(pts[:, 0], pts[:, 1], **kw)


@register("toy-2d", chapter=_CHAPTER, title="DSPGD paths on a two-parameter, one-equation problem",
          alt="Paths of four optimizers in the (w1, w2) plane from the start W0 to the line of interpolators "
              "x.w = y: gradient descent and normalized gradient descent run along the dotted perpendicular to "
              "the line and stop at its foot W_GD, while Adam without momentum and clipping by value first head "
              "toward the diagonal and stop elsewhere on the line.")
def toy_2d(*, x: tuple[float, float] = (1.0, 0.4), y: float = 2.0, w0: tuple[float, float] = (-0.6, -0.2),
           lr: float = 0.15, adam_eps: float = 0.1, norm_eps: float = 0.1, clip: float = 1.0,
           path_steps: int = 60, tol: float = 1e-12, width: float = 7.0, height: float = 5.2) -> Figure:
    """Paths of GD, normalized GD, Adam (beta = 0) and clip-by-value to the line ``x . w = y``.

    Every method runs with the same step size ``lr``. The endpoints come
    from :func:`dspgd.solve` (run to relative residual ``tol``); the drawn
    paths are the first ``path_steps`` iterates of the same update.

    Returns
    -------
    Figure
        ``data`` holds the problem, ``lr``, and for each method (by family
        name) its label, steps to converge, endpoint, distance of the
        endpoint to ``W_GD`` and the ratio ``||W_inf - W0|| / ||W_GD - W0||``.
    """
    prob = toy_problem(x, y, w0)
    methods = toy_methods(adam_eps, norm_eps, clip)
    W_gd = theory.gd_limit(prob)
    w0v, wgd = prob.W0[:, 0], W_gd[:, 0]
    xv = prob.X[0]
    normal = xv / np.linalg.norm(xv)
    tangent = np.array([-normal[1], normal[0]])
    dist0 = float(np.linalg.norm(wgd - w0v))

    fig, ax = new_figure(width=width, height=height)
    styles = {
        "gd": dict(marker="o", ms=5.5, lw=1.6, zorder=5),
        "normalized": dict(marker="s", ms=8, lw=0.0, mfc="none", mew=1.4, zorder=4),
        "adam": dict(marker="^", ms=5.5, lw=1.6, zorder=5),
        "clip_value": dict(marker="D", ms=4.5, lw=1.6, zorder=5),
    }
    data: dict = {"x": [float(v) for v in xv], "y": float(y), "w0": [float(v) for v in w0v],
                  "w_gd": [float(v) for v in wgd], "lr": float(lr), "dist_w0_wgd": dist0,
                  "adam_eps": float(adam_eps), "methods": {}}
    ends = []
    for p in methods:
        res = solve(prob, p, lr, tol=tol)
        path = record_path(prob, p, lr, path_steps)[:, :, 0]
        end = res.W[:, 0]
        ends.append(end)
        st = styles[p.name]
        ax.plot(path[:, 0], path[:, 1], color=color_of(p), label=p.label, **st)
        ax.plot(*end, marker="*", ms=15, color=color_of(p), mec="k", mew=0.6, zorder=7, ls="none")
        data["methods"][p.name] = {
            "label": p.label,
            "status": str(res.status),
            "steps": int(res.steps),
            "end": [float(v) for v in end],
            "dist_to_gd": float(np.linalg.norm(end - wgd)),
            "rel_dist_to_gd": float(theory.relative_distance(res.W, prob)),
            "ratio": float(theory.distance_ratio(res.W, prob)),
            "path_end_gap": float(np.linalg.norm(path[-1] - end)),
        }

    # the view: everything drawn, with a margin, then the line across it
    pts = np.vstack([w0v, wgd, *ends])
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = float(np.max(hi - lo))
    pad = 0.22 * span
    xlim = (lo[0] - pad, hi[0] + 1.6 * pad)
    ylim = (lo[1] - pad, hi[1] + pad)
    s = np.linspace(-4 * span, 4 * span, 2)
    line = wgd[None, :] + s[:, None] * tangent[None, :]
    ax.plot(line[:, 0], line[:, 1], color="0.15", lw=2.2, zorder=2, solid_capstyle="butt")
    row = w0v[None, :] + s[:, None] * normal[None, :]
    ax.plot(row[:, 0], row[:, 1], color="0.55", lw=1.0, ls=(0, (2, 3)), zorder=1)
    _right_angle(ax, wgd, -normal, tangent, 0.045 * span, color="0.15", lw=1.0, zorder=3)

    ax.plot(*w0v, marker="o", ms=9, color="k", zorder=8, ls="none")
    ax.annotate(r"$W_0$", w0v, xytext=(-10, -14), textcoords="offset points", ha="right", va="center",
                fontsize=13)
    ax.plot(*wgd, marker="o", ms=17, mfc="none", mec="k", mew=1.6, zorder=8, ls="none")
    ax.annotate(r"$W_{\mathrm{GD}}$", wgd, xytext=(20, -9), textcoords="offset points", ha="left",
                va="center", fontsize=13)

    # label the line of interpolators inside the view, near its lower end
    inside = [wgd + t * tangent for t in np.linspace(-4 * span, 4 * span, 801)
              if xlim[0] + pad / 2 < (wgd + t * tangent)[0] < xlim[1] - pad / 2
              and ylim[0] + pad / 2 < (wgd + t * tangent)[1] < ylim[1] - pad / 2]
    p_lab = min(inside, key=lambda q: q[1]) * 0.55 + wgd * 0.45 if inside else wgd
    ang = np.degrees(np.arctan2(tangent[1], tangent[0]))
    ang = ang - 180 if ang > 90 else (ang + 180 if ang < -90 else ang)
    off = 11 * normal if normal[0] >= 0 else -11 * normal  # to the right of the line, in points
    ax.annotate(r"interpolators $XW=Y$", p_lab, xytext=tuple(off), textcoords="offset points",
                rotation=ang, rotation_mode="anchor", ha="center", va="center", fontsize=11,
                color="0.15", transform_rotates_text=True)
    q_lab = w0v + 0.45 * dist0 * normal
    ang2 = np.degrees(np.arctan2(normal[1], normal[0]))
    below = -tangent if tangent[1] > 0 else tangent  # the side of the dotted line away from the other paths
    ax.annotate(r"$W_0+\mathrm{range}(X^\top)$", q_lab, xytext=tuple(13 * below), textcoords="offset points",
                rotation=ang2, rotation_mode="anchor", ha="center", va="center", fontsize=10, color="0.4",
                transform_rotates_text=True)

    ax.plot([], [], marker="*", ms=13, color="0.6", mec="k", mew=0.6, ls="none", label=r"limit $W_\infty$")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel(r"$w_1$")
    ax.set_ylabel(r"$w_2$")
    ax.set_title(rf"One equation, two unknowns: $x^\top w = y$, same step $\eta = {lr:g}$", fontsize=12)
    ax.legend(loc="upper left", fontsize=10, handlelength=2.2)
    return Figure(fig, data)


def interpolator_checks(n: int = 30, d: int = 200, k: int = 3, seed: int = 0, n_random: int = 200,
                        gd_lr: float = 0.5, gd_tol: float = 1e-12) -> dict:
    """Numerical checks of the proposition on ``W_GD``, on a random problem.

    Parameters
    ----------
    n, d, k, seed : int
        The problem, :func:`dspgd.gaussian_problem` ``(n, d, k, seed)``.
    n_random : int
        Number of random interpolators ``W_GD + N`` (``XN = 0``) compared with ``W_GD``.
    gd_lr, gd_tol : float
        Step size and relative-residual tolerance of the gradient descent run
        compared with the closed form.

    Returns
    -------
    dict
        ``rel_residual``: ``||X W_GD - Y|| / ||X W0 - Y||``;
        ``row_space_defect``: ``||P_null (W_GD - W0)|| / ||W_GD - W0||``, where
        ``P_null`` projects onto the null space of ``X``;
        ``normal_eq_gap``: relative gap between the QR route and the explicit
        ``X^T (X X^T)^{-1}`` formula;
        ``min_ratio``: smallest ``||W - W0|| / ||W_GD - W0||`` over the random
        interpolators (at least 1 by the proposition);
        ``pythagoras_gap``: largest relative error of
        ``||W - W0||^2 = ||W_GD - W0||^2 + ||W - W_GD||^2``;
        ``gd_rel_dist``, ``gd_steps``, ``gd_status``: a run of GD to relative
        residual ``gd_tol`` and its distance to ``W_GD`` (relative to
        ``||W0 - W_GD||``); ``dim``: ``(d - n) k``.
    """
    if n_random < 1:
        raise ValueError(f"n_random must be >= 1, got {n_random!r}")
    prob = gaussian_problem(n=n, d=d, k=k, seed=seed)
    X, Y, W0 = prob.X, prob.Y, prob.W0
    W_gd = theory.gd_limit(prob)
    D = W_gd - W0
    r0 = float(np.linalg.norm(prob.residual(W0)))
    Q, _ = np.linalg.qr(X.T)  # orthonormal basis of range(X^T), d x n

    def null_part(A: np.ndarray) -> np.ndarray:
        return A - Q @ (Q.T @ A)

    explicit = W0 + X.T @ np.linalg.solve(X @ X.T, Y - X @ W0)
    rng = np.random.default_rng(seed + 1)
    ratios, gaps = [], []
    nD2 = float(np.sum(D * D))
    for _ in range(n_random):
        N = null_part(rng.standard_normal((d, k))) * rng.uniform(0.01, 2.0) * np.sqrt(nD2 / (d * k))
        W = W_gd + N
        lhs = float(np.sum((W - W0) ** 2))
        rhs = nD2 + float(np.sum(N * N))
        ratios.append(np.sqrt(lhs / nD2))
        gaps.append(abs(lhs - rhs) / lhs)
    res = solve(prob, gd(), gd_lr, tol=gd_tol, max_steps=100_000)
    return {
        "n": n, "d": d, "k": k, "dim": (d - n) * k,
        "rel_residual": float(np.linalg.norm(prob.residual(W_gd)) / r0),
        "row_space_defect": float(np.linalg.norm(null_part(D)) / np.sqrt(nD2)),
        "normal_eq_gap": float(np.linalg.norm(explicit - W_gd) / np.sqrt(nD2)),
        "min_ratio": float(min(ratios)),
        "pythagoras_gap": float(max(gaps)),
        "gd_lr": float(gd_lr),
        "gd_tol": float(gd_tol),
        "gd_status": str(res.status),
        "gd_steps": int(res.steps),
        "gd_rel_dist": float(theory.relative_distance(res.W, prob)),
    }
