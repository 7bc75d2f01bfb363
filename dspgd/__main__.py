"""Command line of the package: ``python -m dspgd reproduce [--out DIR] [--only NAME ...] [--list]``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

#: Exit status for a bad request (unknown figure, unusable output directory).
USAGE_ERROR = 2
#: Exit status when a figure function fails.
FIGURE_ERROR = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dspgd",
        description="The companion package of the book 'Dual Space Preconditioning, Reproduced'.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    rep = sub.add_parser(
        "reproduce",
        help="regenerate the book's figures (PNG, PDF) and the numbers behind them (figures.json)",
        description=(
            "Regenerate every figure of the book, or the ones named with --only, "
            "as PNG and PDF in --out, with the numbers behind them in --out/figures.json. "
            "Two runs on the same software write byte-identical files."
        ),
    )
    rep.add_argument("--out", default="figs", metavar="DIR", help="output directory (default: figs)")
    rep.add_argument("--only", nargs="+", metavar="NAME", help="produce only these figures")
    rep.add_argument("--list", action="store_true", help="list the figures and exit")
    rep.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    # imported here so that ``--help`` stays fast
    import matplotlib

    matplotlib.use("Agg")
    from . import figures
    from .reproduce import FigureFailed, ReproduceError, list_figures, reproduce, select

    try:
        if args.list:
            print(list_figures(select(args.only)))
            return 0
        t0 = time.perf_counter()
        produced = reproduce(args.out, args.only, progress=not args.no_progress)
    except ReproduceError as e:
        print(f"python -m dspgd reproduce: error: {e}", file=sys.stderr)
        return USAGE_ERROR
    except FigureFailed as e:
        import traceback

        traceback.print_exception(e.__cause__, file=sys.stderr)
        print(f"python -m dspgd reproduce: error: {e}", file=sys.stderr)
        return FIGURE_ERROR
    total = time.perf_counter() - t0
    n = len(produced.seconds)
    for name, sec in sorted(produced.seconds.items()):
        print(f"{sec:8.2f} s  {name}  ({figures.REGISTRY[name].qualname})", file=sys.stderr)
    print(f"wrote {n} figure{'s' if n != 1 else ''} and figures.json to {produced.out} in {total:.1f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
