"""The person-facing commands: doctor, and the fast-start guarantee of serve."""
from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "scipy", "matplotlib", "paramiko", "docker", "cvxpy", "numpy",
         "mpmath", "safetensors", "pandas")


def test_building_the_server_imports_nothing_heavy(workspace):
    code = ("import sys; from rigorlab.server.app import build_server; build_server(sys.argv[1]); "
            f"print([m for m in sys.modules if m.split('.')[0] in {HEAVY!r}])")
    out = subprocess.run([sys.executable, "-c", code, str(workspace)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"heavy modules imported at server start: {out.stdout}"


def test_doctor_reports_every_area_with_fixes(workspace):
    out = subprocess.run([sys.executable, "-m", "rigorlab.server", "doctor", "--json", "-w", str(workspace)],
                         capture_output=True, text=True, timeout=120)
    checks = json.loads(out.stdout)
    areas = {c["area"] for c in checks}
    assert {"software", "compute", "sandbox", "state"} <= areas
    names = {c["name"] for c in checks}
    assert {"python", "mcp", "NVIDIA GPUs", "SLURM commands", "bwrap", "local job sandbox", "state directory"} <= names
    for c in checks:
        if c["ok"] is not True:
            assert c["fix"], f"{c['name']} lacks a fix"
    assert out.returncode == (1 if any(c["ok"] is False for c in checks) else 0)


def test_doctor_table_for_a_person(workspace):
    out = subprocess.run([sys.executable, "-m", "rigorlab.server", "doctor", "-w", str(workspace)],
                         capture_output=True, text=True, timeout=120)
    assert "rigorlab doctor" in out.stdout and "state directory" in out.stdout


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "rigorlab.server", "--help"], capture_output=True, text=True, timeout=60)
    for cmd in ("serve", "install", "doctor", "demo"):
        assert cmd in out.stdout
