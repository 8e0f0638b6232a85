"""The one place a dispatch is checked before it is submitted.

Every path into the job system (the MCP tool, the CLI, `rigorlab.tools.jobs.submit`) builds
a JobRequest (strict, bounded) and calls `admit_dispatch`: the dispatcher's request rules
(target, GPUs, working directory, runtime, image), then the rules gates, so no caller can
skip either and none runs them twice.
"""
from __future__ import annotations

from rigorlab.clusters.admission import Admitted
from rigorlab.clusters.dispatcher import Dispatcher
from rigorlab.clusters.request import JobRequest
from rigorlab.core.errors import UserError


def admit_dispatch(dispatcher: Dispatcher, req: JobRequest) -> Admitted:
    """The admitted request; raises UserError (saying what to do) if `req` must not run."""
    admitted = dispatcher.admit(req)
    from rigorlab.rules.gates import dispatch_allowed
    refused = dispatch_allowed(dispatcher.workspace_root, dispatcher.conn(), req.experiment_id)
    if refused:
        raise UserError("; ".join(v.line() for v in refused))
    return admitted
