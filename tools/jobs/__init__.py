"""Jobs glue: turn a request into a job, and the Python API other tools use for big runs.

    from rigorlab.tools.jobs import submit, wait
    job_id = submit("python -I -m rigorlab.tools.pruning.run_job ...", workspace=root,
                    experiment_id="E007", gpus=1, time_limit_s=3600)
    job = wait(job_id, workspace=root, timeout_s=30)   # bounded; poll again later

See docs/dispatch.md.
"""
from rigorlab.clusters.request import JobRequest
from rigorlab.tools.jobs.api import cancel, dispatch, dispatcher_for, status, submit, wait

__all__ = ["JobRequest", "submit", "dispatch", "status", "wait", "cancel", "dispatcher_for"]
