"""Compiled kernels: built by `rigorlab warm-up`, loaded by the server in the background after
the handshake, and when a call must load one itself, reported apart from the method's time.
Each check runs in a fresh process (a kernel loads once per process)."""
import json
import os
import subprocess
import sys
from pathlib import Path

SOLVE = (
    "import json, numpy as np, torch\n"
    "from rigorlab.tools.fw import LeastSquares, make_oracle, solve\n"
    "rng = np.random.default_rng(0)\n"
    "obj = LeastSquares(torch.from_numpy(rng.standard_normal((20, 40))), torch.from_numpy(rng.standard_normal(20)))\n"
    "oracle = make_oracle('l1', {'n': 40, 'radius': 1.0})\n"
    "said = []\n"
    "first = solve(obj, oracle, algorithm='fcfw', tol=1e-9, progress=lambda d, t, m: said.append(m))\n"
    "again = solve(obj, oracle, algorithm='fcfw', tol=1e-9)\n"
    "print(json.dumps({'first': first.summary(), 'again': again.summary(), 'said': said}))\n")


def _run(code, **env):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_kernel_loaded_in_a_call_is_reported_apart_and_only_once():
    got = _run(SOLVE)
    first, again = got["first"], got["again"]
    assert first["kernel_load_s"] > 0 and first["kernel_compiled"] is False     # cached by warm-up
    assert any("loading the compiled kernel fw.simplex_qp" in m for m in got["said"])
    assert "kernel_load_s" not in again
    assert first["primal"] == again["primal"] and first["status"] == "OPTIMAL"


def test_warm_up_command_reports_each_kernel():
    out = subprocess.run([sys.executable, "-m", "rigorlab.server", "warm-up"], capture_output=True, text=True,
                         timeout=600, env={**os.environ, "NO_COLOR": "1"})
    assert out.returncode == 0, out.stderr
    for name in ("fw.simplex_qp", "fw.dense_scan", "pruning.sparseswaps", "pruning.sparsefw"):
        assert name in out.stdout and ("loaded from cache" in out.stdout or "compiled" in out.stdout)


SERVER = (
    "import anyio, json, sys, time\n"
    "from mcp import Client\n"
    "from rigorlab.server.app import build_server\n"
    "from rigorlab.tools import kernels\n"
    "async def main():\n"
    "    app = build_server(sys.argv[1], background=True)\n"
    "    before = [kernels.is_loaded(k) for k in kernels.KERNELS]\n"
    "    async with Client(app) as c:\n"
    "        await c.list_tools()\n"
    "        t0 = time.monotonic()\n"
    "        while not all(map(kernels.is_loaded, kernels.KERNELS)) and time.monotonic() - t0 < float(sys.argv[2]):\n"
    "            await anyio.sleep(0.05)\n"
    "        loaded = [kernels.is_loaded(k) for k in kernels.KERNELS]\n"
    "        r = await c.call_tool('run_fw_solver', {'objective': 'least_squares', 'set': 'l1', 'seed': 0,\n"
    "                                                'size': [10, 20], 'algorithm': 'fcfw', 'options': {'plot': 'off'}})\n"
    "    print(json.dumps({'before': before, 'loaded': loaded, 'result': r.structured_content}))\n"
    "anyio.run(main)\n")


def test_the_server_loads_every_kernel_in_the_background_after_the_handshake(workspace, tmp_path):
    env = {"RIGORLAB_STATE_HOME": str(tmp_path / "state")}
    got = _run(SERVER.replace("sys.argv[1]", repr(str(workspace))).replace("float(sys.argv[2])", "120"), **env)
    assert not any(got["before"]) and all(got["loaded"]) and len(got["loaded"]) >= 3
    assert got["result"]["status"] == "OPTIMAL" and got["result"].get("kernel_load_s") is None
    off = _run(SERVER.replace("sys.argv[1]", repr(str(workspace))).replace("float(sys.argv[2])", "1"),
               RIGORLAB_WARM_UP="0", **env)
    assert not any(off["loaded"]) and off["result"]["kernel_load_s"] > 0


def test_kernels_load_from_a_read_only_tree_as_in_a_sandboxed_job():
    """A sandboxed job sees rigorlab read-only, where numba would refuse to import a cached
    kernel module: the builds the tree holds are loaded from a private copy, not compiled."""
    import shutil
    from rigorlab.tools import kernels
    kernels.warm_all()      # the tree holds every build, as after `rigorlab warm-up`
    bwrap = shutil.which("bwrap")
    assert bwrap, "bubblewrap is part of the test services (docs/sandbox.md)"
    code = ("import json\nfrom rigorlab.tools import kernels\n"
            "print(json.dumps({n: kernels.ensure(n).compiled for n in kernels.KERNELS}))\n")
    tree = str(Path(__file__).resolve().parents[2])     # back over the tmpfs when it lives in /tmp
    out = subprocess.run([bwrap, "--ro-bind", "/", "/", "--tmpfs", "/tmp", "--ro-bind", tree, tree,
                          "--dev", "/dev", "--proc", "/proc", sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {n: False for n in kernels.KERNELS}
