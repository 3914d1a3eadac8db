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
    args = parser.parse_args(argv)
    from analysis import ResultsError, write_report

    try:
        index = write_report(args.folder, args.out, n_paths=args.paths)
    except ResultsError as err:
        print(f"qtgjax-report: {err}", file=sys.stderr)
        return 2
    print(f"qtgjax-report: {index}")
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli())


if __name__ == "__main__":
    main()
