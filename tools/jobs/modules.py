"""Run one of rigorlab's own modules as a job (a pruning run, a Frank-Wolfe run, ...).

The command is `<this interpreter> -I -m rigorlab.<module> ARGS`: isolated mode (-I) keeps
the job's working directory, PYTHONPATH and the user's site folder off sys.path, so a
workspace folder called `rigorlab/` (or a planted `PYTHONPATH`) cannot stand in for rigorlab.
The job runs like any other: in the target's runtime, sandboxed where that is the default.
"""
from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from rigorlab.core.errors import UserError

_MODULE = re.compile(r"rigorlab(\.[a-z_][a-z0-9_]*)+", re.ASCII)


def python_argv(module: str, args: Sequence[str] = ()) -> list[str]:
    """The argv that runs rigorlab's `module` with this interpreter, isolated."""
    if not _MODULE.fullmatch(module):
        raise UserError(f"{module!r} is not a rigorlab module name")
    return [sys.executable, "-I", "-m", module, *args]


def module_command(module: str, args: Sequence[str] = ()) -> str:
    """The same as one shell command line (each argument quoted)."""
    return shlex.join(python_argv(module, args))


def run_module(module: str, args: Sequence[str], *, workspace: str | Path, **fields) -> str:
    """Dispatch `python -I -m module ARGS` as a job in the workspace root; returns its id.
    `fields` are JobRequest's (name, gpus, time_limit_s, experiment_id, ...)."""
    from rigorlab.tools.jobs.api import submit
    return submit(module_command(module, args), workspace=workspace, **fields)
