"""The one place a dispatch is checked before it is submitted.

Every path into the job system (the MCP tool, the CLI, `rigorlab.tools.jobs.submit`) calls
`validate_dispatch`; a rules gate (issue 5) belongs here too, so no caller can skip it.
"""
from __future__ import annotations

from rigorlab.clusters.dispatcher import Dispatcher, JobRequest
from rigorlab.core.errors import UserError


def validate_dispatch(dispatcher: Dispatcher, req: JobRequest) -> None:
    """Raise UserError (saying what to do) if `req` must not run."""
    dispatcher.check_request(req)
    from rigorlab.rules.gates import dispatch_allowed
    refused = dispatch_allowed(dispatcher.workspace_root, dispatcher.conn(), req.experiment_id)
    if refused:
        raise UserError("; ".join(v.line() for v in refused))
