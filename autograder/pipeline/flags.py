"""Every flag the pipeline can put on a submission, with its one-line meaning.

Flags are plain strings so they survive CSV, JSON and the gradebook unchanged.
Two carry a detail after a colon ("suspicious: <rule>", "review: ... <cell>");
`meaning()` looks those up by the part before the colon.
"""
from __future__ import annotations

LATE = "late"
TIMEOUT = "timeout"
MEMORY = "memory"
KERNEL_DIED = "kernel died"
OUTPUT_TRUNCATED = "output truncated"
CELLS_RESTORED = "cells restored"
INVALID_NOTEBOOK = "invalid notebook"
MISSING_NOTEBOOK = "missing notebook"
RENAMED_NOTEBOOK = "renamed notebook"
EXTRA_NOTEBOOK = "extra notebook"
DUPLICATE_FILES = "duplicate files"
EMPTY_SUBMISSION = "empty submission"
NEEDS_MANUAL_GRADING = "needs manual grading"
SANDBOX_DEGRADED = "sandbox degraded"
GRADER_ERROR = "grader error"
SUSPICIOUS = "suspicious"
REVIEW = "review"
GRADER_NOTE = "grader note"
REJECTED_OUTPUT = "rejected output"
DISK = "disk"
REDACTED = "redacted output"

# For the instructor: report footer, README, `python -m autograder flags`.
MEANINGS: dict[str, str] = {
    LATE: "handed in after the due date (or marked late by the LMS); the LMS CSV applies the late policy",
    TIMEOUT: "a cell or the whole notebook ran past its time limit and was stopped; later cells may not have run",
    MEMORY: "the notebook went over the memory limit and was stopped",
    KERNEL_DIED: "the Python kernel stopped mid-notebook (os._exit, crash, kill); cells after that point earned nothing",
    OUTPUT_TRUNCATED: "the notebook printed more than the output cap; the rest of its output was dropped",
    CELLS_RESTORED: "test or read-only cells were missing or edited; the original ones were put back before grading",
    INVALID_NOTEBOOK: "a file could not be read as a notebook (bad JSON, not nbformat 4, or over the bounds checked "
                      "before parsing: bytes, cells, nesting; the report says which); nothing in it was run",
    MISSING_NOTEBOOK: "an expected notebook was not handed in; its parts score 0",
    RENAMED_NOTEBOOK: "a notebook under another name was matched to the expected one by its content",
    EXTRA_NOTEBOOK: "a notebook that is not part of the assignment was handed in and ignored",
    DUPLICATE_FILES: "two handed-in files had the same name; the newest was graded, all are archived",
    EMPTY_SUBMISSION: "nothing gradable was handed in",
    NEEDS_MANUAL_GRADING: "written answers wait for a human in formgrader; the score excludes them until then",
    SANDBOX_DEGRADED: "the host could not give the sandbox all its isolation (namespaces); limits still applied",
    GRADER_ERROR: "the grader itself failed on this submission; look at the run log, the score is not final",
    SUSPICIOUS: "the static scan found code that tries to get around the grader (rule named after the colon)",
    REVIEW: "the in-notebook tests and the out-of-process grader disagree on a part; the grader's score counts, check by hand",
    GRADER_NOTE: "the out-of-process grader noted something (after the colon: magics removed, duplicate cell, training skipped)",
    REJECTED_OUTPUT: "the sandbox left something the honest harness never writes (a link, FIFO, device, hard link, "
                     "oversized or forged result archive: after the colon); it was not read, nothing of it counted",
    DISK: "the notebook filled its bounded disk space (bytes or files); it was graded on what ran",
    REDACTED: "the student's code put numbers in its error messages or outputs; feedback shows them masked, "
              "since they may carry the hidden test inputs (a leak attempt, or a message that printed its input)",
}

# The same flags as a student reads them in feedback: what happened, not how we caught it.
STUDENT_MEANINGS: dict[str, str] = {
    LATE: "Your work arrived after the due date; the course's late policy applies.",
    TIMEOUT: "Part of your notebook ran too long and was stopped. Look for loops that never end.",
    MEMORY: "Your notebook used more memory than allowed and was stopped.",
    KERNEL_DIED: "Your notebook stopped unexpectedly part-way; code after that point was not graded.",
    OUTPUT_TRUNCATED: "Your notebook printed a very large amount of output; only the beginning was kept.",
    CELLS_RESTORED: "Some test or read-only cells were changed or deleted; the original ones were used for grading.",
    INVALID_NOTEBOOK: "A file you handed in could not be opened as a notebook (damaged, not saved by Jupyter, or over "
                      "the limits: 16 MB, 2,000 cells). Open it in Jupyter, clear the outputs "
                      "(Kernel > Restart & Clear Output), save, and hand it in again.",
    MISSING_NOTEBOOK: "A notebook of this assignment was not in your submission.",
    RENAMED_NOTEBOOK: "A notebook was handed in under a different name; it was graded as the expected one.",
    EXTRA_NOTEBOOK: "An extra notebook was handed in and not graded.",
    DUPLICATE_FILES: "Several files with the same name were handed in; the newest one was graded.",
    EMPTY_SUBMISSION: "Nothing that could be graded was found in your submission.",
    NEEDS_MANUAL_GRADING: "Your written answers will be graded by a person; their points are not included yet.",
    SANDBOX_DEGRADED: "",
    GRADER_ERROR: "The grader had a problem with your submission; your instructor will look at it.",
    SUSPICIOUS: "Your instructor will review your submission by hand.",
    REVIEW: "Your instructor will review one part by hand.",
    GRADER_NOTE: "",
    REJECTED_OUTPUT: "Your instructor will review your submission by hand.",
    DISK: "Your notebook wrote more files or data than allowed; writing stopped there.",
    REDACTED: "",
}


def kind(flag: str) -> str:
    """The flag without its detail: 'suspicious: exec' -> 'suspicious'."""
    return flag.split(":", 1)[0].strip()


def meaning(flag: str) -> str:
    return MEANINGS.get(kind(flag), "")


def student_meaning(flag: str) -> str:
    return STUDENT_MEANINGS.get(kind(flag), "")


def suspicious(rule: str) -> str:
    return f"{SUSPICIOUS}: {rule}"


def rejected(detail: str) -> str:
    return f"{REJECTED_OUTPUT}: {detail}"


def review(cell: str) -> str:
    return f"{REVIEW}: in-kernel and grader disagree on {cell}"


def from_verdict(flag: str) -> str:
    """autograder.engine.verdict's own flag names, in this vocabulary."""
    if flag.startswith("sandbox-degraded"):
        return SANDBOX_DEGRADED
    if flag in ("unreadable-notebook", "invalid-notebook-format"):
        return INVALID_NOTEBOOK
    if flag == "redacted-output":
        return REDACTED
    return f"{GRADER_NOTE}: {flag}"


def merge(*groups) -> list[str]:
    """Flags in first-seen order without repeats, so reports compare equal run to run."""
    seen: dict[str, None] = {}
    for group in groups:
        for flag in group:
            seen.setdefault(flag, None)
    return list(seen)
