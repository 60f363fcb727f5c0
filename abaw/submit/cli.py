"""``abaw-submit``: write a test-set submission from a predictions directory, or check an existing one.

    abaw-submit PRED_DIR --data-root ROOT --edition N --out DIR [--thresholds FILE] [--tasks va,expr,au,mtl]
    abaw-submit --check DIR --data-root ROOT --edition N [--tasks ...]

Exit status: 0 when the submission was written and passes the checks (or, with ``--check``, passes them);
1 when it cannot be written or a check fails (every problem is printed); 2 for a usage error.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from abaw.data.layout import Layout, discover
from abaw.errors import command
from abaw.submit.validator import CHALLENGES, MAX_SHOWN, check_submission, submitted_challenges
from abaw.submit.writer import WrittenChallenge, load_thresholds, write_submission

PROG = "abaw-submit"
# The editions held so far, the 3rd (CVPR 2022) to the 11th (ECCV 2026): a number outside them is a typo, not a
# format to guess. Add the next one here once its format is known.
KNOWN_EDITIONS = tuple(range(3, 12))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``abaw-submit`` (every option says its default)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Write the organisers' test-set submission files from a predictions directory, then check "
                    "them; or, with --check, check an existing submission against the organisers' lists.",
        epilog="Formats: 3rd edition: one <video>.txt per test video in VA_Estimation_Challenge/, "
               "EXPR_Classification_Challenge/, AU_Detection_Challenge/. 4th edition and later: "
               "VA_Estimation_Challenge.txt, EXPR_Recognition_Challenge.txt, AU_Detection_Challenge.txt with the "
               "sample file's rows in its order. MTL (any edition with an MTL test list): MTL_Challenge.txt in "
               "the test list's order. Exit status: 0 OK, 1 a problem (all are printed), 2 usage error.",
    )
    parser.add_argument("pred_dir", nargs="?", type=Path, metavar="PRED_DIR",
                        help="predictions directory written by abaw-predict --split test (one <video>.csv per "
                             "video); required unless --check is given")
    parser.add_argument("--check", type=Path, metavar="DIR",
                        help="check the submission in DIR instead of writing one; prints every problem (default: "
                             "write one)")
    parser.add_argument("--data-root", type=Path, required=True, metavar="ROOT",
                        help="Aff-Wild2 data root holding the organisers' test release lists, sample files and "
                             "MTL test list (required)")
    parser.add_argument("--edition", type=int, required=True, metavar="N",
                        help="ABAW edition whose format to write or check, 3 to 11 (required)")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="submission directory to write into, created if needed; existing files of the "
                             "written challenges are replaced (required unless --check is given)")
    parser.add_argument("--thresholds", type=Path, metavar="FILE",
                        help="AU thresholds: the JSON of abaw-eval --json (key au.thresholds) or a JSON list of "
                             "12 numbers in [0, 1]; an AU is 1 where its probability >= its threshold "
                             "(default: 0.5 for every AU)")
    parser.add_argument("--tasks", type=_task_list, metavar="LIST",
                        help="comma-separated challenges among va,expr,au,mtl; a named challenge that cannot be "
                             "written, or (with --check) has no file, is an error (default: every challenge "
                             "whose organisers' list and predicted columns exist; with --check, every challenge "
                             "with a file in DIR)")
    parser.add_argument("--allow-mixed-runs", action="store_true",
                        help="package predictions whose files different runs wrote (by default an error: "
                             "PRED_DIR/written_by/ records the run of each file) (default: off)")
    parser.add_argument("--annotations", type=Path, metavar="DIR",
                        help="annotations folder to use when the data root holds several editions' (default: "
                             "the only one found)")
    parser.add_argument("--max-per-kind", type=int, default=MAX_SHOWN, metavar="N",
                        help=f"problems of one kind listed per file before the rest are counted in one line; "
                             f"0 lists every one (default: {MAX_SHOWN})")
    return parser


@command(PROG)
def main(argv: list[str] | None = None) -> int:
    """Run ``abaw-submit``; returns the exit status (see the module docstring)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        _check_usage(parser, args)
    except SystemExit as exit_:  # --help and usage errors: return argparse's status instead of exiting
        return int(exit_.code or 0)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(name)s: %(message)s")

    layout = discover(args.data_root, annotations=args.annotations)
    if args.check is not None:
        return _check(args, layout)
    return _write(args, layout)


def _check_usage(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.check is not None:
        if args.pred_dir is not None or args.out is not None or args.thresholds is not None:
            parser.error("--check DIR takes no PRED_DIR, --out or --thresholds")
    elif args.pred_dir is None or args.out is None:
        parser.error("give PRED_DIR and --out DIR to write a submission, or --check DIR to check one")
    if args.edition not in KNOWN_EDITIONS:
        parser.error(f"--edition {args.edition}: the formats of the editions {KNOWN_EDITIONS[0]} to "
                     f"{KNOWN_EDITIONS[-1]} are known")
    if args.check is not None and args.allow_mixed_runs:
        parser.error("--check DIR reads no predictions; --allow-mixed-runs is for writing")
    if args.max_per_kind < 0:
        parser.error("--max-per-kind must be 0 or more")


def _write(args: argparse.Namespace, layout: Layout) -> int:
    thresholds = load_thresholds(args.thresholds) if args.thresholds is not None else None
    written = write_submission(args.pred_dir, layout, args.edition, args.out, thresholds=thresholds,
                               tasks=args.tasks, allow_mixed_runs=args.allow_mixed_runs)
    for item in written:
        print(_describe(item))
    problems = check_submission(args.out, layout, args.edition, tasks=[w.challenge for w in written],
                                max_per_kind=args.max_per_kind or None)
    if problems:
        _print_problems(problems, f"the written submission in {args.out} fails its checks")
        return 1
    print(f"checked: {args.out} matches the organisers' lists ({_ordinal(args.edition)} edition format)")
    return 0


def _check(args: argparse.Namespace, layout: Layout) -> int:
    problems = check_submission(args.check, layout, args.edition, tasks=args.tasks,
                                max_per_kind=args.max_per_kind or None)
    if problems:
        _print_problems(problems, f"{args.check} fails the {_ordinal(args.edition)} edition checks")
        return 1
    checked = args.tasks or submitted_challenges(args.check, args.edition)
    verb = "matches" if len(checked) == 1 else "match"
    print(f"OK: {args.check}: {', '.join(c.upper() for c in checked)} {verb} the organisers' lists "
          f"({_ordinal(args.edition)} edition format)")
    return 0


def _describe(item: WrittenChallenge) -> str:
    if item.n_files == 1 and item.path.suffix == ".txt":
        return f"wrote {item.path}: {item.n_rows} rows ({item.challenge.upper()})"
    return f"wrote {item.n_files} files in {item.path}/: {item.n_rows} rows ({item.challenge.upper()})"


def _print_problems(problems: list[str], title: str) -> None:
    print(f"{PROG}: {title}: {len(problems)} problem line(s):", file=sys.stderr)
    for line in problems:
        print(f"  {line}", file=sys.stderr)


def _task_list(text: str) -> list[str]:
    """``va,au`` -> ["va", "au"]; unknown names are a usage error."""
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in CHALLENGES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"{text!r}: choose a comma-separated list among {','.join(CHALLENGES)}")
    return list(dict.fromkeys(names))


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


if __name__ == "__main__":
    sys.exit(main())
