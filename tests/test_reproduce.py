"""The command line ``python -m dspgd reproduce``: listing, errors, determinism."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import dspgd
import dspgd.plotting
from dspgd import figures
from dspgd.__main__ import USAGE_ERROR, main
from dspgd.reproduce import dumps, prepare_out, to_jsonable

ROOT = Path(__file__).resolve().parents[1]
TINY = "test-tiny-convergence"


@pytest.fixture
def tiny():
    """A small registered figure that runs the solver (removed afterwards)."""

    @figures.register(TINY, chapter="tests", title="residual of three learning rates")
    def tiny_convergence(seed: int = 0) -> figures.Figure:
        prob = dspgd.gaussian_problem(n=8, d=24, seed=seed)
        lrs = 1.0 / prob.op_norm**2 * np.array([0.3, 0.6, 0.9])
        res = dspgd.solve(prob, dspgd.adam(eps=0.1), lr=lrs, tol=1e-8, max_steps=3000)
        fig, ax = dspgd.plotting.new_figure(width=4, height=3)
        for b in range(len(res)):
            ax.semilogy(res.history_steps, res.residual_history[:, b], label=f"{lrs[b]:.3g}")
        ax.set_xlabel("step $t$")
        ax.set_ylabel(r"$\|XW_t - Y\|_F$")
        ax.legend()
        data = {
            "lr": lrs,  # a numpy array on purpose: the writer converts it
            "steps": res.steps,
            "status": list(res.status),
            "residual": res.residual,
            "final_distance": [float(np.linalg.norm(res.W[b] - prob.W0)) for b in range(len(res))],
        }
        return figures.Figure(fig, data)

    yield tiny_convergence
    figures.REGISTRY.pop(TINY, None)


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_list_shows_every_registered_figure(tiny, capsys):
    code, out, _ = run(["reproduce", "--list"], capsys)
    assert code == 0
    for name in figures.names():
        assert name in out
    assert "tests.test_reproduce.tiny_convergence" in out or "test_reproduce.tiny_convergence" in out


def test_list_from_a_fresh_interpreter():
    """``python -m dspgd reproduce --list`` runs as a program and lists the real figures."""
    proc = subprocess.run(
        [sys.executable, "-m", "dspgd", "reproduce", "--list"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    reg = figures.load_all()
    real = [n for n in reg if n != TINY]
    if real:
        for name in real:
            assert name in proc.stdout
    else:
        assert "no figures registered" in proc.stdout


def test_unknown_figure_is_a_usage_error(tiny, capsys, tmp_path):
    code, _, err = run(["reproduce", "--out", str(tmp_path), "--only", TINY, "no-such-figure"], capsys)
    assert code == USAGE_ERROR
    assert "'no-such-figure'" in err
    assert "known figures:" in err and TINY in err
    assert not (tmp_path / f"{TINY}.png").exists(), "nothing is computed when a name is wrong"


def test_out_is_a_file(tiny, capsys, tmp_path):
    f = tmp_path / "a-file"
    f.write_text("x")
    code, _, err = run(["reproduce", "--out", str(f), "--only", TINY], capsys)
    assert code == USAGE_ERROR
    assert "is not a directory" in err and str(f) in err


def test_out_cannot_be_created(tiny, capsys, tmp_path):
    f = tmp_path / "a-file"
    f.write_text("x")
    code, _, err = run(["reproduce", "--out", str(f / "sub"), "--only", TINY], capsys)
    assert code == USAGE_ERROR
    assert "cannot create the directory" in err


def test_out_not_writable(tiny, capsys, tmp_path, monkeypatch):
    ro = tmp_path / "read-only"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.geteuid() == 0:
            # root writes anywhere: make the write probe fail as it would for a user
            import tempfile

            def refuse(*a, **k):
                raise PermissionError(13, "Permission denied")

            monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
        code, _, err = run(["reproduce", "--out", str(ro), "--only", TINY], capsys)
    finally:
        ro.chmod(0o755)
    assert code == USAGE_ERROR
    assert "not writable" in err and str(ro) in err


def test_prepare_out_creates_nested_directories(tmp_path):
    out = prepare_out(tmp_path / "a" / "b")
    assert out.is_dir()
    assert prepare_out(out) == out, "an existing directory is fine"


def test_writes_png_pdf_and_json(tiny, capsys, tmp_path):
    code, _, err = run(["reproduce", "--out", str(tmp_path), "--only", TINY, "--no-progress"], capsys)
    assert code == 0, err
    assert (tmp_path / f"{TINY}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / f"{TINY}.pdf").read_bytes()[:5] == b"%PDF-"
    doc = json.loads((tmp_path / "figures.json").read_text())
    assert list(doc["figures"]) == [TINY]
    rec = doc["figures"][TINY]
    assert rec["chapter"] == "tests" and rec["files"] == [f"{TINY}.png", f"{TINY}.pdf"]
    assert rec["function"].endswith("tiny_convergence")
    # the numbers are those of the figure, rounded to 12 significant digits
    fresh = figures.get(TINY)()
    assert rec["data"]["steps"] == [int(s) for s in fresh.data["steps"]]
    for got, want in zip(rec["data"]["residual"], fresh.data["residual"]):
        assert math.isclose(got, want, rel_tol=1e-11)
    assert doc["software"]["numpy"] == np.__version__
    assert "wrote 1 figure" in err


def test_two_runs_are_byte_identical(tiny, capsys, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        code, _, err = run(["reproduce", "--out", str(out), "--only", TINY], capsys)
        assert code == 0, err
    assert (a / "figures.json").read_bytes() == (b / "figures.json").read_bytes()
    for ext in ("png", "pdf"):
        assert (a / f"{TINY}.{ext}").read_bytes() == (b / f"{TINY}.{ext}").read_bytes(), ext


def test_json_has_no_timestamp(tiny, capsys, tmp_path):
    run(["reproduce", "--out", str(tmp_path), "--only", TINY], capsys)
    text = (tmp_path / "figures.json").read_text()
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)
    assert b"CreationDate" not in (tmp_path / f"{TINY}.pdf").read_bytes()


def test_to_jsonable_rounds_and_converts():
    x = to_jsonable({"a": np.float64(1 / 3), "b": np.arange(3), "c": (np.bool_(True), None),
                     1: float("nan"), "inf": -math.inf})
    assert x == {"a": 0.333333333333, "b": [0, 1, 2], "c": [True, None], "1": "NaN", "inf": "-Infinity"}
    # rounding removes last-bit noise, so equal-to-12-digits numbers print the same
    assert dumps({"v": 0.1 + 0.2}) == dumps({"v": 0.3})
    assert dumps({"b": 1, "a": 2}).index('"a"') < dumps({"b": 1, "a": 2}).index('"b"')


def test_to_jsonable_names_the_bad_value():
    with pytest.raises(TypeError, match=r"data\['fig'\] is a object"):
        to_jsonable({"fig": object()})
    with pytest.raises(TypeError, match="use str keys"):
        to_jsonable({(1, 2): 3})


def test_every_figure_module_is_documented():
    """chapters/api.md documents exactly the modules of dspgd.figures."""
    import pkgutil

    modules = {m.name for m in pkgutil.iter_modules(figures.__path__) if not m.name.startswith("_")}
    api = (ROOT / "chapters" / "api.md").read_text()
    documented = set(re.findall(r"^\.\. automodule:: dspgd\.figures\.(\w+)\s*$", api, flags=re.M))
    assert modules - documented == set(), "figure modules missing from chapters/api.md"
    assert documented - modules == set(), "chapters/api.md documents figure modules that do not exist"


def test_every_top_level_name_is_in_the_api_page():
    """chapters/api.md gives every name of ``import dspgd`` an entry that links its definition."""
    import inspect

    api = (ROOT / "chapters" / "api.md").read_text()
    for name in dspgd.__all__:
        obj = getattr(dspgd, name)
        if inspect.ismodule(obj):
            assert f".. automodule:: {obj.__name__}" in api, f"module {obj.__name__} is not documented"
            continue
        kind, role = ("class", "class") if inspect.isclass(obj) else ("function", "func")
        target = f":py:{role}:`{obj.__module__}.{obj.__qualname__}`"
        entry = re.search(rf"^\.\. py:{kind}:: {name}\n(.*?)(?=^\.\. |^```)", api, flags=re.M | re.S)
        assert entry, f"dspgd.{name} has no entry in chapters/api.md"
        assert target in entry.group(1), f"the entry of dspgd.{name} does not link {target}"


def test_every_package_module_is_documented():
    """chapters/api.md documents every public module of the package."""
    import pkgutil

    modules = {f"dspgd.{m.name}" for m in pkgutil.iter_modules(dspgd.__path__) if not m.name.startswith("_")}
    api = (ROOT / "chapters" / "api.md").read_text()
    documented = set(re.findall(r"^\.\. automodule:: (dspgd\.\w+)\s*$", api, flags=re.M))
    assert modules - documented == set(), "package modules missing from chapters/api.md"


def test_a_real_figure_is_byte_identical_across_processes(tmp_path):
    """Two separate runs of the command (different hash seeds) write the same files."""
    names = [n for n in figures.names() if n != TINY]
    if not names:
        pytest.skip("no figure is registered yet")
    name = "toy-2d" if "toy-2d" in names else names[0]  # toy-2d is the cheapest figure of the book
    outs = []
    for seed in ("1", "2"):
        out = tmp_path / f"run{seed}"
        proc = subprocess.run(
            [sys.executable, "-m", "dspgd", "reproduce", "--out", str(out), "--only", name, "--no-progress"],
            capture_output=True, text=True, cwd=ROOT, timeout=600,
            env={**os.environ, "PYTHONHASHSEED": seed, "MPLBACKEND": "Agg"},
        )
        assert proc.returncode == 0, proc.stderr
        outs.append(out)
    files = sorted(p.name for p in outs[0].iterdir())
    assert files == sorted([f"{name}.png", f"{name}.pdf", "figures.json"])
    for f in files:
        assert (outs[0] / f).read_bytes() == (outs[1] / f).read_bytes(), f"{f} differs between two runs"


def test_a_failing_figure_is_named(capsys, tmp_path):
    @figures.register("test-broken", chapter="tests", title="raises")
    def broken() -> figures.Figure:
        raise RuntimeError("no convergence")

    try:
        code, _, err = run(["reproduce", "--out", str(tmp_path), "--only", "test-broken"], capsys)
    finally:
        figures.REGISTRY.pop("test-broken", None)
    assert code == 1
    assert "figure 'test-broken'" in err and "no convergence" in err
    assert not (tmp_path / "figures.json").exists()
