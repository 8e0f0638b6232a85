"""A job's progress: the last `[done/total] message` line of its stdout.

Tools that run as jobs (prune_model's run_job) print one such line per step; job_status
shows the latest, so an agent sees how far a job is without paging through its log.
"""
from __future__ import annotations

import re

TAIL_BYTES = 4096
LINE = re.compile(r"^\[(\d+|-)/(\d+|None|-)\] (.*)$")


def last_progress(text: str) -> str | None:
    """The newest complete progress line in `text` (a log tail), or None."""
    lines = text.splitlines()
    if lines and not text.endswith("\n"):
        lines = lines[:-1]                     # a line still being written
    for line in reversed(lines):
        if LINE.match(line.strip()):
            return line.strip()[:300]
    return None


def job_progress(dispatcher, job_id: str) -> str | None:
    """The last progress line of a job that has started; None before it runs or if it prints none."""
    from rigorlab.core.errors import UserError
    try:
        probe = dispatcher.logs(job_id, "stdout", 0, 0)
        tail = dispatcher.logs(job_id, "stdout", max(0, probe.size - TAIL_BYTES), TAIL_BYTES)
    except UserError:
        return None
    return last_progress(tail.text)
