"""Figures and the verified table of the chapter "Dual space preconditioning".

The table of preconditioners is generated from the package objects: the
formulas for ``K`` and ``grad K`` are typeset strings kept here (keyed by
family name), but every fact in it (isotropy, keeping the span, ``L_K``) is
read from the objects and checked numerically at build time.
"""

from __future__ import annotations

import numpy as np

from ..losses import Loss, squared
from ..plotting import color_of, new_figure
from ..preconditioners import (Preconditioner, adam, clip_norm, clip_value, diagonal, flat_ball, gd, normalized,
                               power, sign, spectral)
from ..problem import Problem, gaussian_problem
from . import Figure, register

__all__ = [
    "FORMULAS",
    "FD_STEP",
    "D_RANGE",
    "table_preconditioners",
    "fd_grad_error",
    "radial_defect",
    "span_defect",
    "min_descent_product",
    "verify",
    "formula_key",
    "preconditioner_table",
    "adam_algorithm1_path",
    "adam_check",
    "maps_1d",
    "maps_2d",
]

_CHAPTER = "chapters/02_preconditioners"

#: Step of the central differences that check ``grad K`` against ``K``.
FD_STEP = 1e-6
#: Range of the entries of the random fixed diagonal ``D`` in the table.
D_RANGE = (0.5, 2.0)

#: ``K(G)`` and ``grad K(G)`` of each family, in LaTeX (no ``|``: the strings go into Markdown tables).
#: Keys are family names, with ``_exact`` for the unsmoothed (``eps = 0``) variants. The clipping
#: level is written ``tau`` (the code argument is ``c``). Two scalar functions are named, not spelled
#: out: ``hub_tau(s)`` (``s^2/2`` for ``|s| <= tau``, ``tau|s| - tau^2/2`` beyond) and
#: ``a_eps(s) = |s| - eps log(1 + |s|/eps)``.
FORMULAS: dict[str, tuple[str, str]] = {
    "gd": (r"\tfrac12\lVert G\rVert_F^2", r"G"),
    "normalized": (r"\sqrt{\lVert G\rVert_F^2+\epsilon^2}", r"G/\sqrt{\lVert G\rVert_F^2+\epsilon^2}"),
    "normalized_exact": (r"\lVert G\rVert_F", r"G/\lVert G\rVert_F"),
    "clip_norm": (r"\mathrm{hub}_\tau(\lVert G\rVert_F)",
                  r"\min\!\big(1,\tfrac{\tau}{\lVert G\rVert_F}\big)\,G"),
    "adam": (r"\sum_{ij}a_\epsilon(g_{ij})",
             r"g_{ij}/(\lvert g_{ij}\rvert+\epsilon)"),
    "clip_value": (r"\sum_{ij}\mathrm{hub}_\tau(g_{ij})", r"\mathrm{clip}(g_{ij},-\tau,\tau)"),
    "power": (r"\tfrac1q\sum_{ij}(g_{ij}^2+\epsilon^2)^{q/2}", r"g_{ij}\,(g_{ij}^2+\epsilon^2)^{q/2-1}"),
    "spectral": (r"\mathrm{tr}\,(G^\top G+\epsilon^2 I)^{1/2}", r"G\,(G^\top G+\epsilon^2 I)^{-1/2}"),
    "spectral_exact": (r"\mathrm{tr}\,(G^\top G)^{1/2}", r"UV^\top"),
    "diagonal": (r"\tfrac12\sum_{ij}D_{ij}\,g_{ij}^2", r"D\circ G"),
    "sign": (r"\sum_{ij}\lvert g_{ij}\rvert", r"\mathrm{sign}(g_{ij})"),
    "flat_ball": (r"\tfrac12(\lVert G\rVert_F-1)_+^2", r"(1-1/\lVert G\rVert_F)_+\,G"),
}


def formula_key(p: Preconditioner) -> str:
    """The key of ``p`` in :data:`FORMULAS`: its family, with ``_exact`` when it has ``eps = 0``."""
    exact = "eps" in p.params and np.ndim(p.params["eps"]) == 0 and p.params["eps"] == 0
    return p.name + ("_exact" if exact else "")


def table_preconditioners(d: int = 5, k: int = 3, seed: int = 0) -> list[Preconditioner]:
    """One instance of every preconditioner of the package, in the book's order.

    Smoothed and exact variants both appear where the package has both.
    The fixed diagonal uses a random ``D`` of shape ``(d, k)`` with entries
    uniform in ``D_RANGE`` (seeded); the flat ball (the counterexample of the
    chapter on convergence) has radius 1.
    """
    D = np.random.default_rng(seed).uniform(*D_RANGE, size=(d, k))
    return [
        gd(), normalized(eps=1e-2), normalized(eps=0.0), clip_norm(c=1.0),
        adam(eps=1e-3), clip_value(c=1.0), power(q=1.5, eps=1e-2),
        spectral(eps=1e-2), spectral(eps=0.0), diagonal(D), sign(), flat_ball(1.0),
    ]


def _check_point(G: np.ndarray) -> np.ndarray:
    G = np.asarray(G, dtype=float)
    if G.ndim != 2:
        raise ValueError(f"G must be a (d, k) matrix, got shape {G.shape}")
    return G


def fd_grad_error(p: Preconditioner, G: np.ndarray, h: float = FD_STEP) -> float:
    """Largest entrywise gap between ``p.grad(G)`` and central differences of ``p.value``.

    Parameters
    ----------
    p : Preconditioner
    G : ndarray, shape (d, k)
        A point where ``K`` is differentiable (away from kinks by more than ``h``).
    h : float
        Step of the central differences.
    """
    G = _check_point(G)
    if not (np.isfinite(h) and h > 0):
        raise ValueError(f"h must be a positive finite number, got {h!r}")
    num = np.empty_like(G)
    for idx in np.ndindex(G.shape):
        E = np.zeros_like(G)
        E[idx] = h
        num[idx] = (p.value(G + E) - p.value(G - E)) / (2 * h)
    return float(np.max(np.abs(num - p.grad(G))))


def radial_defect(p: Preconditioner, G: np.ndarray) -> float:
    """How far ``grad K(G)`` is from a multiple of ``G``: ``||P - (<P,G>/||G||^2) G|| / ||P||``.

    Zero for an isotropic ``K`` (up to rounding); in ``[0, 1]``.
    """
    G = _check_point(G)
    P = p.grad(G)
    nP = float(np.linalg.norm(P))
    if nP == 0:
        return 0.0
    proj = float(np.sum(P * G)) / float(np.sum(G * G)) * G
    return float(np.linalg.norm(P - proj) / nP)


def span_defect(p: Preconditioner, G: np.ndarray) -> float:
    """How far the columns of ``grad K(G)`` are from the column space of ``G``.

    ``||P - G G^+ P|| / ||P||``, with ``G G^+`` the orthogonal projection onto
    ``range(G)`` (needs ``d > k``). Zero when ``grad K(G) = G M`` for a
    ``k x k`` matrix ``M``.
    """
    G = _check_point(G)
    if G.shape[0] <= G.shape[1]:
        raise ValueError(f"span_defect needs d > k (a proper column space), got G of shape {G.shape}")
    P = p.grad(G)
    nP = float(np.linalg.norm(P))
    if nP == 0:
        return 0.0
    Q, _ = np.linalg.qr(G)
    return float(np.linalg.norm(P - Q @ (Q.T @ P)) / nP)


def min_descent_product(p: Preconditioner, G: np.ndarray) -> float:
    """``<grad K(G), G> / ||G||_F^2``: non-negative for every convex ``K`` with ``grad K(0) = 0``."""
    G = _check_point(G)
    return float(np.sum(p.grad(G) * G) / np.sum(G * G))


def _points(d: int, k: int, n_points: int, seed: int) -> list[np.ndarray]:
    """Random test points at several scales, with every entry at least 0.05 away from 0 and +-1."""
    rng = np.random.default_rng(seed)
    pts = []
    while len(pts) < n_points:
        G = rng.standard_normal((d, k)) * rng.choice([0.05, 0.5, 1.5, 5.0])
        a = np.abs(G)
        if np.all(a > 0.02) and np.all(np.abs(a - 1.0) > 0.02):
            pts.append(G)
    return pts


def verify(p: Preconditioner, d: int = 5, k: int = 3, n_points: int = 20, seed: int = 0) -> dict:
    """Check a preconditioner's declared facts at random points.

    Returns
    -------
    dict
        ``fd_error`` (largest gap between ``grad K`` and finite differences
        of ``K``), ``radial_defect`` and ``span_defect`` (largest over the
        points), ``min_descent`` (smallest ``<grad K(G), G>/||G||^2``), and
        ``isotropic_ok`` / ``keeps_span_ok``: whether the declared flag agrees
        with the measurement (defect below ``1e-10`` if and only if the flag
        is set).
    """
    pts = _points(d, k, n_points, seed)
    fd = max(fd_grad_error(p, G) / max(1.0, float(np.max(np.abs(p.grad(G))))) for G in pts)
    rad = max(radial_defect(p, G) for G in pts)
    spn = max(span_defect(p, G) for G in pts)
    desc = min(min_descent_product(p, G) for G in pts)
    tol = 1e-10
    return {
        "fd_error": float(fd),
        "radial_defect": float(rad),
        "span_defect": float(spn),
        "min_descent": float(desc),
        "isotropic_ok": bool((rad < tol) == p.isotropic),
        "keeps_span_ok": bool((spn < tol) == p.keeps_span),
    }


def _tex_num(x: float, digits: int = 2) -> str:
    """A number for a table cell, in math mode: ``inf``, ``0.45``, ``100``, ``3 x 10^-16``."""
    if not np.isfinite(x):
        return r"$\infty$"
    if x == 0:
        return "$0$"
    e = int(np.floor(np.log10(abs(x))))
    if -2 <= e <= 3:
        return f"${x:.4g}$" if x == round(x) else f"${x:.{digits}g}$"
    m = x / 10.0**e
    mant = f"{m:.0f}" if round(m) == m or digits <= 1 else f"{m:.1f}"
    return rf"${mant}{{\times}}10^{{{e}}}$"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def preconditioner_table(d: int = 5, k: int = 3, n_points: int = 20, seed: int = 0) -> tuple[str, str, dict]:
    """The two Markdown tables of the chapter, built from the package objects.

    Returns
    -------
    (main, checks, data)
        ``main``: preconditioner, ``K``, ``grad K``, ``L_K`` and the
        finite-difference check; ``checks``: the declared flags (isotropic,
        keeps span) each with its measured defect, and the descent ratio;
        ``data``: the numbers, per row, and summary maxima; also the
        finite-difference step ``fd_step``, the range ``D_low``, ``D_high``
        of the fixed diagonal's entries, and ``min_point_norm``, the smallest
        Frobenius norm of a test point.
    """
    rows_main = [
        "| preconditioner | $K(G)$ | $\\nabla K(G)$ | $L_K$ | FD gap |",
        "|:--|:--|:--|:-:|:-:|",
    ]
    rows_chk = [
        "| preconditioner | isotropic (radial defect) | keeps span (span defect) | descent ratio |",
        "|:--|:-:|:-:|:-:|",
    ]
    data: dict = {"d": d, "k": k, "n_points": n_points, "fd_step": FD_STEP, "D_low": D_RANGE[0],
                  "D_high": D_RANGE[1],
                  "min_point_norm": min(float(np.linalg.norm(G)) for G in _points(d, k, n_points, seed)),
                  "rows": []}
    for p in table_preconditioners(d, k, seed):
        key = formula_key(p)
        if key not in FORMULAS:
            raise KeyError(f"no formula for {key!r}")
        K, dK = FORMULAS[key]
        v = verify(p, d, k, n_points, seed)
        lip = rf"$\max D_{{ij}}$ $= {p.lipschitz:.2g}$" if p.name == "diagonal" else _tex_num(p.lipschitz)
        rows_main.append(f"| {p.label} | ${K}$ | ${dK}$ | {lip} | {_tex_num(v['fd_error'], 1)} |")
        rows_chk.append(
            f"| {p.label} | {_yes(p.isotropic)} ({_tex_num(v['radial_defect'], 1)}) "
            f"| {_yes(p.keeps_span)} ({_tex_num(v['span_defect'], 1)}) | {_tex_num(v['min_descent'])} |"
        )
        data["rows"].append({"name": p.name, "key": key, "label": p.label, "isotropic": bool(p.isotropic),
                             "keeps_span": bool(p.keeps_span), "lipschitz": float(p.lipschitz), **v})
    rows = data["rows"]
    data["n_rows"] = len(rows)
    data["max_fd_error"] = max(r["fd_error"] for r in rows)
    data["all_flags_ok"] = all(r["isotropic_ok"] and r["keeps_span_ok"] for r in rows)
    data["max_defect_flagged"] = max(
        max(r["radial_defect"] if r["isotropic"] else 0.0, r["span_defect"] if r["keeps_span"] else 0.0)
        for r in rows)
    data["min_defect_unflagged"] = min(
        [r["radial_defect"] for r in rows if not r["isotropic"]]
        + [r["span_defect"] for r in rows if not r["keeps_span"]])
    data["min_descent"] = min(r["min_descent"] for r in rows)
    return "\n".join(rows_main), "\n".join(rows_chk), data


def adam_algorithm1_path(problem: Problem, lr: float, steps: int, beta1: float = 0.9, beta2: float = 0.999,
                         eps: float = 1e-8, loss: Loss | None = None) -> np.ndarray:
    """Adam as written in Algorithm 1 of Kingma and Ba (2015), on ``l(XW - Y)``; every iterate.

    ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``,
    ``m^ = m / (1 - b1^t)``, ``v^ = v / (1 - b2^t)``,
    ``W <- W - lr m^ / (sqrt(v^) + eps)``, with ``m_0 = v_0 = 0``.

    Returns
    -------
    ndarray, shape (steps + 1, d, k)

    Raises
    ------
    ValueError
        If a beta is outside ``[0, 1)``, or ``lr``, ``eps`` are not positive,
        or ``steps`` is negative.
    """
    for name, b in (("beta1", beta1), ("beta2", beta2)):
        if not (0.0 <= b < 1.0):
            raise ValueError(f"{name} must lie in [0, 1), got {b!r}")
    if not (np.isfinite(lr) and lr > 0) or not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"lr and eps must be positive finite numbers, got lr={lr!r}, eps={eps!r}")
    if int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    loss = squared() if loss is None else loss
    X, Y = problem.X, problem.Y
    W = problem.W0.copy()
    m = np.zeros_like(W)
    v = np.zeros_like(W)
    out = [W.copy()]
    for t in range(1, int(steps) + 1):
        g = X.T @ loss.grad(X @ W - Y)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        W = W - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(W.copy())
    return np.array(out)


def adam_check(n: int = 10, d: int = 40, k: int = 2, seed: int = 0, lr: float = 0.01, eps: float = 1e-3,
               steps: int = 300, betas: tuple[float, float] = (0.9, 0.999)) -> dict:
    """Adam's Algorithm 1 against DSPGD with the Adam preconditioner, on a random problem.

    Returns
    -------
    dict
        ``gap_memoryless``: largest entrywise gap, over all ``steps`` iterates,
        between Algorithm 1 with ``beta1 = beta2 = 0`` and DSPGD with
        ``adam(eps)`` (rounding only); ``gap_memory``: the same gap with
        ``betas`` (Adam with memory is a different method); ``scale``: the
        largest entry of ``|W_t - W0|`` along the DSPGD path, for reference.
    """
    from ._paths import record_path

    prob = gaussian_problem(n=n, d=d, k=k, seed=seed)
    ours = record_path(prob, adam(eps=eps), lr, steps)
    zero = adam_algorithm1_path(prob, lr, steps, beta1=0.0, beta2=0.0, eps=eps)
    mem = adam_algorithm1_path(prob, lr, steps, beta1=betas[0], beta2=betas[1], eps=eps)
    return {
        "n": n, "d": d, "k": k, "lr": float(lr), "eps": float(eps), "steps": int(steps),
        "beta1": float(betas[0]), "beta2": float(betas[1]),
        "gap_memoryless": float(np.max(np.abs(zero - ours))),
        "gap_memory": float(np.max(np.abs(mem - ours))),
        "scale": float(np.max(np.abs(ours - prob.W0))),
    }


# ---------------------------------------------------------------- figures


def _entrywise_map(p: Preconditioner, g: np.ndarray) -> np.ndarray:
    return p.grad(np.asarray(g, dtype=float).reshape(-1, 1))[:, 0]


@register("maps-1d", chapter=_CHAPTER, title="Entrywise preconditioners as scalar maps",
          alt="Two panels plot the scalar maps g -> grad K(g) of the entrywise preconditioners against the "
              "dotted identity of gradient descent: Adam without momentum (two values of epsilon) and sign "
              "descent saturate at plus or minus one, clipping by value is flat beyond its level, the power map "
              "grows sublinearly, and a zoom near zero shows how steep each map is there, with sign descent "
              "jumping.")
def maps_1d(*, g_max: float = 3.0, zoom: float = 0.3, adam_eps: tuple[float, float] = (0.1, 0.01),
            clip: float = 0.5, q: float = 1.5, power_eps: float = 1e-2, n_grid: int = 2001,
            width: float = 7.0, height: float = 3.3) -> Figure:
    """The scalar maps ``g -> grad K(g)`` of the entrywise preconditioners, with the identity (GD).

    Left: ``|g| <= g_max``; right: a zoom ``|g| <= zoom`` around 0, where
    the slope at 0 is the Lipschitz constant ``L_K`` (or infinite).

    Returns
    -------
    Figure
        ``data``: the settings, each curve's label, its slope at 0 (central
        difference) and its declared ``L_K``; ``data["slope_at_0"]`` has the
        slopes by curve (``gd``, ``adam_eps_0.1``, ..., ``sign``).
    """
    if not (0 < zoom < g_max):
        raise ValueError(f"need 0 < zoom < g_max, got zoom={zoom!r}, g_max={g_max!r}")
    maps = [gd()] + [adam(eps=e) for e in adam_eps] + [clip_value(c=clip), power(q=q, eps=power_eps), sign()]
    dashes = {0: "-", 1: (0, (5, 2))}
    fig, axes = new_figure(1, 2, width=width, height=height)
    data: dict = {"g_max": g_max, "zoom": zoom, "curves": []}
    adam_seen = 0
    for ax, lim in zip(axes, (g_max, zoom)):
        g = np.linspace(-lim, lim, n_grid)
        adam_seen = 0
        for p in maps:
            ls = "-"
            if p.name == "adam":
                ls = dashes[adam_seen % 2]
                adam_seen += 1
            kw = dict(color=color_of(p), ls=ls, lw=2.0 if p.name != "gd" else 1.3)
            if p.name == "gd":
                kw.update(color="0.2", ls=(0, (1.5, 1.5)), zorder=4)
            ax.plot(g, _entrywise_map(p, g), label=p.label, **kw)
        ax.axhline(0, color="0.6", lw=0.6)
        ax.axvline(0, color="0.6", lw=0.6)
        ax.set_xlim(-lim, lim)
        ax.set_xlabel(r"$g$")
    axes[0].set_ylim(-2.0, 2.0)
    axes[1].set_ylim(-1.15, 1.15)
    axes[0].set_ylabel(r"$\nabla K(g)$")
    axes[0].set_title(r"the entrywise maps", fontsize=11)
    axes[1].set_title(rf"zoom: $|g|\leq {zoom:g}$; the slope at $0$ is $L_K$", fontsize=11)
    h = 1e-7
    for p in maps:
        slope = float((_entrywise_map(p, np.array([h]))[0] - _entrywise_map(p, np.array([-h]))[0]) / (2 * h))
        data["curves"].append({"name": p.name, "label": p.label, "slope_at_0": slope,
                               "lipschitz": float(p.lipschitz)})
    names = [c["name"] + (f"_eps_{p.params['eps']:g}" if c["name"] == "adam" else "")
             for c, p in zip(data["curves"], maps)]
    if len(set(names)) != len(names):
        raise ValueError(f"two curves of the figure have the same name: {names}")
    data["slope_at_0"] = {key: c["slope_at_0"] for key, c in zip(names, data["curves"])}
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=9.5)
    return Figure(fig, data)


@register("maps-2d", chapter=_CHAPTER, title="Preconditioners as vector fields on the plane of gradients",
          alt="Six panels of arrows showing grad K(G) at points G of the plane, over a grey shading of the "
              "angle between grad K(G) and G: in the top row (gradient descent, normalized gradient descent, "
              "clipping by norm) every arrow points straight away from the origin and the background is white, "
              "while in the bottom row (Adam without momentum, clipping by value, sign descent) the arrows bend "
              "toward the diagonals and the shading darkens where they turn away from G.")
def maps_2d(*, g_max: float = 2.0, n_arrows: int = 9, n_bg: int = 241, norm_eps: float = 0.1, clip: float = 1.0,
            adam_eps: float = 0.1, arrow_unit: float = 0.32, width: float = 6.8, height: float = 5.2) -> Figure:
    """``G -> grad K(G)`` for ``G`` in the plane (``d = 2``, ``k = 1``), six preconditioners, one scale.

    Arrows: ``grad K(G)`` drawn at ``G``, a vector of norm 1 drawn with
    length ``arrow_unit`` in every panel. Shading: the angle between
    ``grad K(G)`` and ``G`` (zero everywhere for an isotropic ``K``).

    Returns
    -------
    Figure
        ``data``: per panel, the label, the largest angle (degrees) between
        ``grad K(G)`` and ``G`` on the grid, and ``isotropic``; the same
        angles by family name (``data["max_angle_deg"]``) and their largest
        value over the isotropic panels; also the largest gap between the
        spectral and the normalized map for ``k = 1``.
    """
    panels = [gd(), normalized(eps=norm_eps), clip_norm(c=clip), adam(eps=adam_eps), clip_value(c=clip), sign()]
    fig, axes = new_figure(2, 3, width=width, height=height, sharex=True, sharey=True)
    view = 1.3 * g_max
    s = np.linspace(-view, view, n_bg)
    A, B = np.meshgrid(s, s)
    Gbg = np.stack([A.ravel(), B.ravel()], axis=-1)[:, :, None]  # (N, 2, 1)
    a = np.linspace(-g_max, g_max, n_arrows)
    Aa, Ba = np.meshgrid(a, a)
    Ga = np.stack([Aa.ravel(), Ba.ravel()], axis=-1)[:, :, None]
    data: dict = {"g_max": g_max, "arrow_unit": arrow_unit, "panels": []}
    im = None
    for ax, p in zip(axes.ravel(), panels):
        P = p.grad(Gbg)[:, :, 0]
        G2 = Gbg[:, :, 0]
        cross = np.abs(P[:, 0] * G2[:, 1] - P[:, 1] * G2[:, 0])
        ang = np.degrees(np.arctan2(cross, np.sum(P * G2, axis=1)))
        im = ax.imshow(ang.reshape(A.shape), extent=(-view, view, -view, view), origin="lower",
                       cmap="Greys", vmin=0, vmax=45, alpha=0.55, interpolation="bilinear")
        Pa = p.grad(Ga)[:, :, 0]
        ax.quiver(Ga[:, 0, 0], Ga[:, 1, 0], Pa[:, 0], Pa[:, 1], color=color_of(p), angles="xy",
                  scale_units="xy", scale=1.0 / arrow_unit, width=0.013, headwidth=3.5, headlength=4,
                  headaxislength=3.5, edgecolor="0.2", linewidth=0.4, zorder=3)
        if p.name == "clip_norm":
            t = np.linspace(0, 2 * np.pi, 200)
            ax.plot(clip * np.cos(t), clip * np.sin(t), color="0.25", lw=0.9, ls="--")
        if p.name == "clip_value":
            ax.plot([-clip, clip, clip, -clip, -clip], [-clip, -clip, clip, clip, -clip], color="0.25", lw=0.9,
                    ls="--")
        ax.set_title(p.label + ("\nisotropic" if p.isotropic else "\nnot isotropic"), fontsize=9.5)
        ax.set_aspect("equal")
        ax.grid(False)
        ax.set_xlim(-view, view)
        ax.set_ylim(-view, view)
        ax.set_xticks([-2, -1, 0, 1, 2] if g_max >= 2 else [-1, 0, 1])
        ax.set_yticks([-2, -1, 0, 1, 2] if g_max >= 2 else [-1, 0, 1])
        data["panels"].append({"name": p.name, "label": p.label, "isotropic": bool(p.isotropic),
                               "max_angle_deg": float(ang.max())})
    for ax in axes[1]:
        ax.set_xlabel(r"$g_1$")
    for ax in axes[:, 0]:
        ax.set_ylabel(r"$g_2$")
    cb = fig.colorbar(im, ax=axes, shrink=0.7, pad=0.02)
    cb.set_label(r"angle between $\nabla K(G)$ and $G$ (degrees)")
    data["max_angle_deg"] = {q["name"]: q["max_angle_deg"] for q in data["panels"]}
    data["isotropic_max_angle_deg"] = max(q["max_angle_deg"] for q in data["panels"] if q["isotropic"])
    gap = float(np.max(np.abs(spectral(eps=norm_eps).grad(Gbg) - normalized(eps=norm_eps).grad(Gbg))))
    data["spectral_vs_normalized_k1"] = gap
    return Figure(fig, data)
