"""`rigorlab fw run` and `rigorlab fw worst-case` as a person would call them."""
import json
import os
import subprocess
import sys

import numpy as np


def _cli(*args, ws):
    env = dict(os.environ, COLUMNS="120", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "rigorlab.server", "fw", *args, "-w", str(ws)],
                          capture_output=True, text=True, timeout=300, env=env)


def test_fw_run_from_files_with_progress_line(workspace):
    rng = np.random.default_rng(5)
    n = 40
    B = rng.standard_normal((n, n))
    np.save(workspace / "Q.npy", B.T @ B / n)
    np.save(workspace / "b.npy", rng.standard_normal(n))
    out = _cli("run", "--objective", "quadratic", "--data", "Q=Q.npy", "--data", "b=b.npy",
               "--set", "simplex", "--set-params", "radius=2", "--algorithm", "fw", "--step", "exact",
               "--max-iter", "300", "--tol", "0", "--out", "r", ws=workspace)
    assert out.returncode == 0, out.stderr
    assert "iteration" in out.stderr and "primal" in out.stderr and "gap" in out.stderr
    assert "MAXITER" in out.stdout and "r/plot.pdf" in out.stdout
    summary = json.loads((workspace / "r/summary.json").read_text())
    assert summary["iterations"] == 300 and summary["set"]["set"] == "simplex"
    assert abs(np.load(workspace / "r/x.npy").sum() - 2) < 1e-12
    fc = _cli("run", "--objective", "quadratic", "--data", "Q=Q.npy", "--data", "b=b.npy", "--set", "simplex",
              "--algorithm", "fcfw", "--tol", "1e-10", "--out", "fc", ws=workspace)
    assert fc.returncode == 0, fc.stderr
    assert json.loads((workspace / "fc/summary.json").read_text())["status"] == "OPTIMAL"


def test_fw_cli_errors_and_worst_case(workspace):
    bad = _cli("run", "--objective", "least_squares", "--seed", "0", "--size", "5", "6", "--set", "l1",
               "--set-params", "radious=2", ws=workspace)
    assert bad.returncode == 2 and "unknown parameter(s) radious" in bad.stderr
    assert "Traceback" not in bad.stderr
    wc = _cli("worst-case", "--r-end", "3e-3", "--bits", "128", "--out", "wc", ws=workspace)
    assert wc.returncode == 0, wc.stderr
    assert "c = 0.2" in wc.stdout and (workspace / "wc/worst_case.png").exists()
