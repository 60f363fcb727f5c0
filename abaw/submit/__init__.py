"""Test-set submissions: write the organisers' files from predictions, and check any submission on disk.

- :func:`write_submission` writes an edition's files (``abaw.submit.writer``).
- :func:`check_submission` lists every problem of a submission against the organisers' lists
  (``abaw.submit.validator``); it does not use the writer, so it can check other tools' submissions.
- ``abaw-submit`` (``abaw.submit.cli``) does both from the command line.
"""

from abaw.submit.validator import CHALLENGES, check_submission, submission_path, submitted_challenges
from abaw.submit.writer import (
    SubmissionError,
    WrittenChallenge,
    binarise_aus,
    check_thresholds,
    expr_classes,
    load_thresholds,
    write_submission,
)

__all__ = [
    "CHALLENGES",
    "SubmissionError",
    "WrittenChallenge",
    "binarise_aus",
    "check_submission",
    "check_thresholds",
    "expr_classes",
    "load_thresholds",
    "submission_path",
    "submitted_challenges",
    "write_submission",
]
