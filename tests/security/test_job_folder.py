"""A sandboxed job cannot plant links where the host-side wrapper writes.

The wrapper (on the host) writes pid, exit_code, env and the log files into the job's folder.
Inside the sandbox that folder is read-only; only its `out/` subfolder (the metrics file) is
writable, so a job cannot make the wrapper write through a link to a host file.
"""
from __future__ import annotations

import json
import sys

from tests.security.hostile import dispatcher_of, fast_jobs, run  # noqa: F401 - fixtures

PLANT = r"""
import errno, json, os
d = os.environ["RIGORLAB_JOB_DIR"]
res = {}
for name in ("exit_code.tmp", "pid.tmp", "stdout", "out/../exit_code"):
    try:
        os.symlink(os.environ["VICTIM"], os.path.join(d, name))
        res[name] = "planted"
    except OSError as exc:
        res[name] = errno.errorcode.get(exc.errno, "?")
with open(os.environ["RIGORLAB_METRICS_FILE"], "a") as fh:
    fh.write('{"acc": 0.5}\n')
res["metrics"] = "written"
print(json.dumps(res))
"""


def test_the_job_folder_is_read_only_inside_the_sandbox_but_metrics_get_out(dispatcher_of, workspace,
                                                                              tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (workspace / "plant.py").write_text(PLANT)
    d = dispatcher_of("[local]\ngpus = 0\n")
    job = d.wait(run(d, command=f"{sys.executable} plant.py", gpus=0, experiment_id="E001",
                     env={"VICTIM": str(victim)}).id, 60)
    assert job.runtime == "bwrap" and job.state.value == "COMPLETED", job.stderr_path.read_text()
    said = json.loads(job.stdout_path.read_text().strip().splitlines()[-1])
    assert said.pop("metrics") == "written"
    assert said == {"exit_code.tmp": "EROFS", "pid.tmp": "EROFS", "stdout": "EEXIST",
                    "out/../exit_code": "EROFS"}, said
    assert victim.read_text() == "keep me"
    assert json.loads(job.metrics_file.read_text()) == {"acc": 0.5}
    assert not any(p.is_symlink() for p in job.job_dir.rglob("*"))
