"""A rigorlab module run as a job: its command line, and why it runs isolated (-I)."""
from __future__ import annotations

import json
import subprocess
import sys

from rigorlab.tools.fw.contract import FWSpec
from rigorlab.tools.jobs.modules import module_argv


def _plant_shadow(ws):
    """A workspace folder that would be imported instead of the real package without -I."""
    fake = ws / "rigorlab"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise SystemExit('shadowed by the workspace')\n")


def test_a_module_job_runs_the_installed_package_whatever_the_workspace_holds(workspace):
    _plant_shadow(workspace)
    spec = FWSpec(objective="quadratic", set="simplex", seed=0, size=[6], max_iter=20, out="runs/a")
    argv = module_argv("rigorlab.tools.fw.run", spec, workspace)
    assert argv[1:4] == ["-I", "-m", "rigorlab.tools.fw.run"]
    assert json.loads(argv[argv.index("--spec-json") + 1]) == {
        "objective": "quadratic", "set": "simplex", "seed": 0, "size": [6], "max_iter": 20, "out": "runs/a"}
    done = subprocess.run(argv, cwd=workspace, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(workspace), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert json.loads((workspace / "runs/a/summary.json").read_text())["iterations"] <= 20
    shadowed = subprocess.run([a for a in argv if a != "-I"], cwd=workspace, capture_output=True, text=True,
                              timeout=300)
    assert "shadowed by the workspace" in shadowed.stderr     # what -I prevents


def test_a_module_job_validates_its_spec_as_the_tool_does(workspace):
    bad = [sys.executable, "-I", "-m", "rigorlab.tools.fw.run", "--workspace", str(workspace), "--spec-json",
           json.dumps({"objective": "quadratic", "set": "simplex", "seed": 0, "size": [6], "max_iters": 5})]
    done = subprocess.run(bad, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "unknown spec key 'max_iters'; did you mean 'max_iter'?" in done.stderr
