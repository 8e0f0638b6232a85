"""Jobs glue: turn a request into a job, and the Python API other tools use for big runs.

    from rigorlab.tools.jobs import submit, wait
    job_id = submit("python train.py --lr 0.1", workspace=root, experiment_id="E007", gpus=1,
                    time_limit_s=3600)
    job = wait(job_id, workspace=root, timeout_s=30)   # bounded; poll again later

A rigorlab module runs as a job through `rigorlab.tools.jobs.modules.submit_module` (the
one place its command line is built). See docs/dispatch.md.
"""
from rigorlab.clusters.request import JobRequest
from rigorlab.tools.jobs.api import cancel, dispatch, dispatcher_for, status, submit, wait

__all__ = ["JobRequest", "submit", "dispatch", "status", "wait", "cancel", "dispatcher_for"]
