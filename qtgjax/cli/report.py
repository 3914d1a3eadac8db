"""``qtgjax-report DIR [--out OUT]``: figures (PNG) and an HTML page for a results folder."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def cli(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="qtgjax-report",
        description="Write figures and index.html for a qtgjax-sweep study folder or a "
        "qtgjax-run output folder.",
    )
    parser.add_argument("folder", help="results folder (study folder or qtgjax-run out=)")
    parser.add_argument("--out", default=None, help="report folder (default FOLDER/report)")
    parser.add_argument(
        "--paths", type=int, default=8, help="most scenarios in the price-path figure"
    )
    parser.add_argument(
        "--real",
        default="sp500,btc",
        help="real data sets of the realism page, comma-separated (sp500, btc; '' for none)",
    )
    parser.add_argument("--no-realism", action="store_true", help="skip the realism page")
    args = parser.parse_args(argv)
    import polars as pl

    from qtgjax.analysis import ResultsError, write_report
    from qtgjax.analysis.load import unreadable_file
    from qtgjax.analysis.realism import REAL_SOURCES
    from qtgjax.cli.errors import os_error_line

    real = None if args.no_realism else [r for r in args.real.split(",") if r]
    unknown = sorted(set(real or ()) - set(REAL_SOURCES))
    if unknown:
        parser.error(
            f"--real: unknown data set {', '.join(unknown)} (one of {', '.join(REAL_SOURCES)})"
        )
    if args.paths < 1:
        parser.error(f"--paths: expected a number of scenarios >= 1, got {args.paths}")
    try:
        index = write_report(args.folder, args.out, n_paths=args.paths, real=real)
    except ResultsError as err:
        print(f"qtgjax-report: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"qtgjax-report: {os_error_line(err)}", file=sys.stderr)
        return 2
    except pl.exceptions.PolarsError as err:  # a file whose data (not footer) is broken
        bad = unreadable_file(args.folder)
        if bad is not None:
            message = f"{bad[0]}: not a readable Parquet file ({bad[1]})"
        else:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            message = f"cannot read the results in {args.folder}: {first}"
        print(f"qtgjax-report: {message}", file=sys.stderr)
        return 2
    print(f"qtgjax-report: {index}")
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli())


if __name__ == "__main__":
    main()
