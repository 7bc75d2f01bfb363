"""Hostile input: every case of the robustness probe gets a clear error or an honest result.

One test per case; each failed before the engine was unified (the argument reached NumPy
unchecked, a wrong number came back, a warning leaked, or the command line left a stale
manifest). Errors are ``TypeError`` (wrong kind) or ``ValueError`` (out of range) and
name the argument.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import dspgd
from dspgd import figures
from dspgd.__main__ import INTERRUPTED, USAGE_ERROR, WRITE_ERROR, main
from dspgd.adam_memory import run_stateful
from dspgd.bregman import step_envelope
from dspgd.flow import flow_limit
from dspgd.mirror import mirror_limit, pnorm

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def prob():
    return dspgd.gaussian_problem(8, 30, seed=0)


@pytest.fixture(scope="module")
def run_W(prob):
    return dspgd.solve(prob, dspgd.adam(0.1), np.array([0.02, 0.05]), tol=1e-8).W


# ---------------------------------------------------------------- shapes that used to broadcast


def test_relative_distance_refuses_a_column_of_W(prob, run_W):
    """``relative_distance(W[:, 0], p)``: a (d,) vector broadcast to d x d and gave 3.67."""
    W = run_W[0]
    with pytest.raises(ValueError, match=r"W must have shape \(30, 1\) or \(B, 30, 1\), got shape \(30,\)"):
        dspgd.relative_distance(W[:, 0], prob)


def test_distance_ratio_refuses_a_transposed_W(prob, run_W):
    """``distance_ratio(W.T, p)``: a (k, d) matrix broadcast against (d, k)."""
    with pytest.raises(ValueError, match=r"W must have shape .*got shape \(1, 30\)"):
        dspgd.distance_ratio(run_W[0].T, prob)


def test_a_reference_point_of_the_wrong_shape_is_refused(prob, run_W):
    with pytest.raises(ValueError, match=r"W_ref must have shape \(30, 1\)"):
        dspgd.relative_distance(run_W, prob, W_ref=np.zeros(30))


# ---------------------------------------------------------------- Problem owns its data


def test_problem_keeps_its_own_copy_of_the_data():
    """``X *= 10`` after ``Problem(X, ...)`` left a stale cached norm (stable_lr 100x too large)."""
    rng = np.random.default_rng(0)
    X, Y, W0 = rng.standard_normal((4, 10)), rng.standard_normal(4), rng.standard_normal(10)
    p = dspgd.Problem(X, Y, W0)
    before = dspgd.stable_lr(p, dspgd.gd())
    X *= 10
    Y[:] = 0
    W0[:] = 0
    assert not np.shares_memory(p.X, X)
    assert dspgd.stable_lr(p, dspgd.gd()) == before
    assert p.op_norm == pytest.approx(np.linalg.norm(p.X, 2), rel=1e-12)
    assert np.any(p.Y != 0) and np.any(p.W0 != 0)


def test_problem_data_are_read_only(prob):
    for a in (prob.X, prob.Y, prob.W0, prob.singular_values):
        with pytest.raises(ValueError, match="read-only"):
            a[0, ...] = 1.0


def test_complex_data_are_refused():
    """Complex X was cast to real with only a ComplexWarning."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 10)) + 1j * rng.standard_normal((4, 10))
    with pytest.raises(TypeError, match="X is complex"):
        dspgd.Problem(X, np.ones(4), np.zeros(10))
    with pytest.raises(TypeError, match="Y is complex"):
        dspgd.Problem(X.real, np.ones(4) + 0j, np.zeros(10))


def test_masked_arrays_are_refused():
    """A masked array lost its mask silently."""
    rng = np.random.default_rng(0)
    X = np.ma.masked_array(rng.standard_normal((4, 10)), mask=np.eye(4, 10, dtype=bool))
    with pytest.raises(TypeError, match="X is a masked array"):
        dspgd.Problem(X, np.ones(4), np.zeros(10))


def test_data_too_large_for_float64_are_refused_by_problem():
    """X scaled by 1e200: stable_lr, solve and bound_constant raised a bare OverflowError."""
    p = dspgd.gaussian_problem(4, 10, seed=0)
    with pytest.raises(ValueError, match=r"X has an entry of size 7.35e\+199: entries up to 1e\+150.*rescale"):
        dspgd.Problem(1e200 * p.X, p.Y, p.W0)
    with pytest.raises(ValueError, match=r"\|\|X\|\|_op = .* is outside \[1e-150, 1e\+150\].*rescale"):
        dspgd.Problem(1e150 * p.X, p.Y, p.W0)
    with pytest.raises(ValueError, match=r"\|\|X\|\|_op = .* is outside \[1e-150, 1e\+150\]"):
        dspgd.Problem(1e-160 * p.X, p.Y, p.W0)
    with pytest.raises(ValueError, match="the initial residual .* is too large"):
        dspgd.Problem(p.X, np.full(4, 9e149), p.W0)


def test_a_large_but_representable_scale_works_without_overflow():
    p = dspgd.gaussian_problem(4, 10, seed=0)
    big = dspgd.Problem(1e100 * p.X, p.Y, p.W0)
    s = dspgd.stable_lr(big, dspgd.gd())
    assert s == pytest.approx(dspgd.stable_lr(p, dspgd.gd()) * 1e-200, rel=1e-12)
    assert np.isfinite(dspgd.bound_constant(big, dspgd.gd(), 0.5 * s))
    res = dspgd.solve(big, dspgd.gd(), 0.5 * s, tol=1e-8)
    assert res.status == "converged"


# ---------------------------------------------------------------- an interpolating start


@pytest.fixture(scope="module")
def interpolating():
    """A problem whose W0 is W_GD: its residual is at rounding level (about 1e-15)."""
    p = dspgd.gaussian_problem(20, 100, seed=0)
    q = dspgd.Problem(p.X, p.Y, dspgd.gd_limit(p))
    assert 0 < np.linalg.norm(q.residual(q.W0)) < 1e-13
    return q


def test_a_start_that_interpolates_converges_at_once(interpolating):
    """It ran all 20,000 steps and reported "not converged"."""
    res = dspgd.solve(interpolating, dspgd.adam(0.1), np.array([0.01, 0.05]), max_steps=2000)
    assert res.status.tolist() == ["converged", "converged"]
    assert res.steps.tolist() == [0, 0]
    assert "W0 already interpolates" in res.message[0]


def test_relative_distance_at_an_interpolating_start_is_an_error_not_nan(interpolating):
    """relative_distance returned NaN with a RuntimeWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="W0 already is the reference point"):
            dspgd.relative_distance(interpolating.W0, interpolating)
        with pytest.raises(ValueError, match="relative distance is undefined"):
            dspgd.distance_ratio(interpolating.W0, interpolating)


def test_a_residual_at_rounding_level_counts_as_converged(prob):
    """``tol`` below what float64 resolves: the absolute residual at rounding level stops the run."""
    res = dspgd.solve(prob, dspgd.gd(), 0.5 * dspgd.stable_lr(prob, dspgd.gd()), tol=1e-30, max_steps=20_000)
    assert res.status == "converged" and res.steps < 20_000
    assert "rounding level" in res.message


# ---------------------------------------------------------------- arguments checked before computing


@pytest.mark.parametrize("tol", [1.0, 2.0])
def test_tol_of_one_or_more_is_refused(prob, tol):
    """``tol=2.0`` reported "converged" at relative residual 0.88."""
    with pytest.raises(ValueError, match=r"tol must be a finite number >= 0 and < 1"):
        dspgd.solve(prob, dspgd.gd(), 0.1, tol=tol)


def test_a_loss_given_by_name_is_refused(prob):
    """``loss='huber'`` raised an AttributeError inside theory.py."""
    with pytest.raises(TypeError, match=r"loss must be a dspgd Loss \(e.g. dspgd.huber\(1.0\)\)"):
        dspgd.solve(prob, dspgd.gd(), 0.1, loss="huber")
    with pytest.raises(TypeError, match="loss must be a dspgd Loss"):
        dspgd.stable_lr(prob, dspgd.gd(), loss="huber")


@pytest.mark.parametrize("n_record,exc", [(0, ValueError), (-1, ValueError), (1.5, TypeError), (None, TypeError)])
def test_bad_n_record_is_refused(prob, n_record, exc):
    with pytest.raises(exc, match="n_record must be"):
        dspgd.solve(prob, dspgd.gd(), 0.1, n_record=n_record)


@pytest.mark.parametrize("tol", [None, "1e-8", [1e-8]])
def test_tol_of_the_wrong_kind_is_refused(prob, tol):
    with pytest.raises(TypeError, match="tol must be a real number"):
        dspgd.solve(prob, dspgd.gd(), 0.1, tol=tol)


def test_an_absurd_max_steps_is_refused(prob):
    """``max_steps=10**30`` overflowed inside the history grid."""
    with pytest.raises(ValueError, match=r"max_steps must be a non-negative integer \(at most 1,000,000,000\)"):
        dspgd.solve(prob, dspgd.gd(), 0.1, max_steps=10**30)


@pytest.mark.parametrize("eps,exc,msg", [
    (None, TypeError, "adam eps must be a real number"),
    ("1e-3", TypeError, "adam eps must be a real number"),
    (np.array([1e-3, 1e-2]), TypeError, "adam eps must be a real number"),
])
def test_adam_eps_of_the_wrong_kind_is_refused(eps, exc, msg):
    """``adam(eps=None)``, a string, an array ("truth value ambiguous")."""
    with pytest.raises(exc, match=msg):
        dspgd.adam(eps)


@pytest.mark.parametrize("kw,exc,msg", [
    ({"n": 5.0, "d": 10}, TypeError, "n must be an integer, got 5.0"),
    ({"n": None, "d": 10}, TypeError, "n must be an integer, got None"),
    ({"n": 5, "d": 10, "seed": -1}, ValueError, "seed must be a non-negative integer"),
    ({"n": 5, "d": 10, "seed": 1.5}, TypeError, "seed must be an integer"),
])
def test_gaussian_problem_checks_its_arguments(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        dspgd.gaussian_problem(**kw)


def test_run_stateful_refuses_a_missing_rule(prob):
    """``run_stateful(rule=None)`` failed with an AttributeError."""
    with pytest.raises(TypeError, match="rule must be an update rule"):
        run_stateful(prob, None, 0.1)


@pytest.mark.parametrize("fn", [dspgd.gd_limit, lambda p: dspgd.stable_lr(p, dspgd.gd()),
                                lambda p: dspgd.diagonal_limit(p, 1.0)])
def test_theory_functions_refuse_a_non_problem(prob, fn):
    with pytest.raises(TypeError, match="problem must be a dspgd.Problem"):
        fn((prob.X, prob.Y))


def test_mirror_limit_refuses_a_negative_rtol(prob):
    with pytest.raises(ValueError, match="rtol must be a finite number > 0 and < 1"):
        mirror_limit(prob, pnorm(3.0), rtol=-1)


def test_step_envelope_refuses_a_negative_step_count(prob):
    with pytest.raises(ValueError, match="steps must be a non-negative integer"):
        step_envelope(prob, dspgd.gd(), 0.1, steps=-1)


# ---------------------------------------------------------------- the gradient flow


def test_flow_limit_refuses_a_problem_too_large_to_integrate():
    """At n = 50, d = 1e5 it tried to allocate 74.5 GiB and died inside scipy."""
    p = dspgd.gaussian_problem(2, 100_000, seed=0)  # (the probe used n = 50; only d k matters)
    with pytest.raises(ValueError, match=r"d k = 100,000 unknowns.*GiB here.*d k <= 2000 is fine"):
        flow_limit(p, dspgd.adam(0.01))


def test_flow_limit_refuses_a_non_smooth_k():
    """``flow_limit(sign(), t_max=10)`` on 6 x 15 ran for minutes with its memory growing."""
    p = dspgd.gaussian_problem(6, 15, seed=0)
    with pytest.raises(ValueError, match="needs a K with Lipschitz gradient.*differential inclusion"):
        flow_limit(p, dspgd.sign(), t_max=10)


def test_flow_limit_bounds_the_integrators_work():
    p = dspgd.gaussian_problem(6, 15, seed=0)
    res = flow_limit(p, dspgd.adam(1e-4), max_evals=300)
    assert res.status == "failed" and "max_evals" in res.message
    assert res.nfev <= 300 and np.all(np.isfinite(res.W))


# ---------------------------------------------------------------- diverging runs


@pytest.mark.parametrize("precond", [dspgd.adam(0.1), dspgd.sign()], ids=["adam", "sign"])
def test_a_huge_step_raises_no_warning_and_every_field_is_finite(prob, precond):
    """At lr = 1e307 overflow warnings reached the user and path_length became inf."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = dspgd.solve(prob, precond, np.array([1e307, 1e-3]), max_steps=500)
    bad = res[0]
    assert bad.status == "diverged"
    for v in (bad.residual, bad.loss, bad.path_length):
        assert np.isfinite(v)
    assert np.all(np.isfinite(bad.W))
    assert "floating-point errors" in bad.message and "contained" in bad.message
    assert "floating-point" not in res.message[1]


# ---------------------------------------------------------------- the command line


@pytest.fixture
def quick_figure():
    name = "test-robust-quick"

    @figures.register(name, chapter="tests", title="a quick figure")
    def quick() -> figures.Figure:
        fig, ax = dspgd.plotting.new_figure(width=3, height=2)
        ax.plot([0, 1], [0, 1])
        return figures.Figure(fig, {"x": 1.0})

    yield name
    figures.REGISTRY.pop(name, None)


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"python -m dspgd (dspgd) {dspgd.__version__}"


def test_a_subcommand_error_shows_the_subcommands_usage(capsys):
    """``reproduce --bogus`` printed the top-level usage."""
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--bogus"])
    assert exc.value.code == USAGE_ERROR
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m dspgd reproduce ")
    assert "unrecognized arguments: --bogus" in err


def test_an_empty_out_is_refused(capsys, tmp_path, monkeypatch):
    """``--out ''`` wrote into the current directory."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--out", "", "--only", "toy-2d"])
    assert exc.value.code == USAGE_ERROR
    assert "the directory name is empty" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_write_failure_names_the_path_not_the_figure(quick_figure, capsys, tmp_path, monkeypatch):
    """A write error after computing printed a traceback blaming the figure."""
    import matplotlib.figure

    def full_disk(self, fname, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full_disk)
    code = main(["reproduce", "--out", str(tmp_path), "--only", quick_figure, "--no-progress"])
    err = capsys.readouterr().err
    assert code == WRITE_ERROR
    assert f"cannot write {tmp_path / quick_figure}.png: No space left on device" in err
    assert "Traceback" not in err and "figure '" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no manifest, no temporary file


def test_a_new_run_removes_the_stale_manifest_before_computing(quick_figure, capsys, tmp_path):
    """An interrupted run next to an earlier figures.json looked complete."""
    (tmp_path / "figures.json").write_text('{"figures": {}, "from": "an earlier run"}')

    @figures.register("test-robust-broken", chapter="tests", title="raises")
    def broken() -> figures.Figure:
        raise RuntimeError("stop")

    try:
        code = main(["reproduce", "--out", str(tmp_path), "--only", "test-robust-broken", "--no-progress"])
    finally:
        figures.REGISTRY.pop("test-robust-broken", None)
    capsys.readouterr()
    assert code == 1
    assert not (tmp_path / "figures.json").exists()


def test_the_manifest_is_written_last_and_atomically(quick_figure, capsys, tmp_path, monkeypatch):
    import os

    from dspgd import reproduce as rp

    renamed = []
    real_replace = os.replace

    def spy(src, dst):
        renamed.append((Path(src).name, Path(dst).name))
        return real_replace(src, dst)

    monkeypatch.setattr(rp.os, "replace", spy)
    assert main(["reproduce", "--out", str(tmp_path), "--only", quick_figure, "--no-progress"]) == 0
    capsys.readouterr()
    assert [dst for _, dst in renamed] == [f"{quick_figure}.png", f"{quick_figure}.pdf", "figures.json"]
    assert all(src.startswith(".") and src.endswith(".tmp") for src, _ in renamed)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(dst for _, dst in renamed)


def test_ctrl_c_exits_130_with_one_line_and_no_manifest(tmp_path):
    """Ctrl-C printed a raw KeyboardInterrupt traceback and left the old manifest beside new figures."""
    (tmp_path / "figures.json").write_text('{"from": "an earlier run"}')
    child = (
        "import pathlib, sys, time\n"
        "from dspgd import figures\n"
        "from dspgd.__main__ import main\n"
        "@figures.register('slow', chapter='tests', title='slow')\n"
        "def slow():\n"
        "    pathlib.Path(sys.argv[1], 'started').write_text('1')\n"
        "    time.sleep(120)\n"
        "figures.load_all = lambda: figures.REGISTRY\n"
        "sys.exit(main(['reproduce', '--out', sys.argv[1], '--only', 'slow', '--no-progress']))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", child, str(tmp_path)], stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for _ in range(1200):
            if (tmp_path / "started").exists() or proc.poll() is not None:
                break
            subprocess.run(["sleep", "0.1"])
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == INTERRUPTED
    assert err == "python -m dspgd reproduce: interrupted; no figures.json was written\n"
    assert not (tmp_path / "figures.json").exists()
