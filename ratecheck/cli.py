"""The ``ratecheck`` command line. User mistakes print one line and exit 2, never a traceback."""

from __future__ import annotations

import argparse
import sys

from .errors import RatecheckError


def _table(rows: list[dict], floatfmt: str = "{:.6g}") -> str:
    if not rows:
        return "(empty)"
    cols = list(rows[0])
    cells = [[floatfmt.format(r[c]) if isinstance(r[c], float) else str(r[c]) for c in cols] for r in rows]
    width = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, width)).rstrip()
    return "\n".join([line(cols), line(["-" * w for w in width]), *map(line, cells)])


def cmd_problems(args: argparse.Namespace) -> int:
    from . import problems_table

    print(_table(problems_table()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ratecheck", description="Put step-size theory to the test.")
    sub = p.add_subparsers(dest="command", required=True)
    sp = sub.add_parser("problems", help="print the problem library with certified f*")
    sp.set_defaults(func=cmd_problems)
    sp = sub.add_parser("demo", help="run the default demo (for now: the problem library table)")
    sp.set_defaults(func=cmd_problems)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except RatecheckError as e:
        print(f"ratecheck: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
