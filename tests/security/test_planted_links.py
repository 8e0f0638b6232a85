"""Planted links at every name a writing tool uses, through the real MCP server (and the CLI and
job entry points): nothing outside the workspace is ever created, changed or returned.

Each case plants symbolic links (to a victim file outside, to a name outside that does not
exist yet, to a folder outside) at the tool's final names, at the temporary names rigorlab
used to write to (predictable ones an agent could guess), and at the folders on the way, with
random and hostile names (quotes, $(), backticks, newlines, 255-byte names).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import numpy as np
import pytest
from mcp import Client

from tests.mcp_calls import call, tool_text

pytestmark = pytest.mark.anyio

HOSTILE = ["q'uo\"te", "$(touch PWNED)", "`touch PWNED`", "new\nline", "semi;colon|&>x", "é ü 雪"]
LONG = "L" * 255                            # the longest name a Linux file system allows


def _rand(prefix: str = "") -> str:
    return prefix + secrets.token_hex(4)


class Outside:
    """A folder next to the workspace with victims; `unchanged()` compares it with the start."""

    def __init__(self, root: Path, workspace: Path) -> None:
        self.dir = root / _rand("outside-")
        self.dir.mkdir()
        self.victim = self.dir / _rand("victim-")
        self.victim.write_text("\\documentclass{article}\n\\begin{document}\nkeep\n\\end{document}\n")
        self.secret = self.dir / _rand("secret-")
        self.secret.write_text(f"SECRET-{secrets.token_hex(8)}\n")
        (self.dir / "sub").mkdir()
        self.around, self.workspace = root, workspace
        self.before = self._snapshot()

    def missing(self) -> Path:
        return self.dir / _rand("created-")

    def _snapshot(self) -> dict:
        seen = {}
        for base, dirs, files in os.walk(self.around):
            if Path(base) == self.workspace or Path(base).is_relative_to(self.workspace):
                dirs[:] = []
                continue
            for name in dirs + files:
                p = Path(base) / name
                if p == self.workspace:
                    continue
                st = p.lstat()
                data = b"" if p.is_dir() or p.is_symlink() else p.read_bytes()
                seen[str(p)] = (st.st_mode, st.st_mtime_ns, hashlib.sha256(data).hexdigest())
        return seen

    def unchanged(self) -> None:
        after = self._snapshot()
        assert after == self.before, {k: after.get(k) for k in set(after) ^ set(self.before)} or \
            [k for k in after if after[k] != self.before.get(k)]
        assert not list(self.around.rglob("PWNED")) and not Path("PWNED").exists()


@pytest.fixture
def outside(tmp_path, workspace) -> Outside:
    return Outside(tmp_path, workspace)


def plant(ws: Path, rel: str, target: Path) -> Path:
    link = ws / rel
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link


def _targets(out: Outside) -> list[Path]:
    return [out.victim, out.missing()]


async def _ledger(client) -> None:
    exp = await call(client, "start_experiment", goal="g")
    for seed in (0, 1):
        await call(client, "record_result", experiment_id=exp["experiment_id"],
                   metrics={"acc": 0.5 + seed / 10}, seed=seed)


# -- plot_results --------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["final_png", "final_pdf", "old_tmp_png", "old_tmp_pdf", "folder"])
async def test_plot_results(where, workspace, mcp_server, outside):
    stem = _rand("plot_")
    names = {"final_png": f"images/{stem}.png", "final_pdf": f"images/{stem}.pdf",
             "old_tmp_png": f"images/.{stem}.tmp.png", "old_tmp_pdf": f"images/.{stem}.tmp.pdf"}
    for target in _targets(outside):
        if where == "folder":
            plant(workspace, "images", outside.dir / "sub")
        else:
            plant(workspace, names[where], target)
        async with Client(mcp_server) as client:
            await _ledger(client)
            res = await client.call_tool("plot_results", {"metric": "acc", "name": stem})
        if where.startswith("old_tmp"):
            assert not res.is_error, tool_text(res)
            for ext in ("png", "pdf"):
                assert (workspace / f"images/{stem}.{ext}").lstat().st_size > 100
        else:
            assert res.is_error and ("symbolic link" in tool_text(res) or "outside" in tool_text(res))
            assert "half-written" not in tool_text(res)
        outside.unchanged()
        for p in (workspace / "images", *(workspace / "images").glob("*")):
            if p.is_symlink():
                p.unlink()
        assert not [p for p in workspace.rglob("*.tmp")]


async def test_plot_names_that_are_not_plain_are_refused(workspace, mcp_server, outside):
    async with Client(mcp_server) as client:
        await _ledger(client)
        for name in [*HOSTILE, LONG, "../x", "a/b"]:
            res = await client.call_tool("plot_results", {"metric": "acc", "name": name})
            text = tool_text(res)
            assert res.is_error and ("plot name" in text or "at most 100 characters" in text), text
    assert not (workspace / "images").exists() or not list((workspace / "images").iterdir())
    outside.unchanged()


@contextlib.contextmanager
def flipping(folder: Path, target: Path):
    """While the block runs, a thread swaps `folder` for a link to `target` and back."""
    folder.mkdir()
    stop = threading.Event()

    def flip():
        real = folder.with_name(folder.name + ".real")
        while not stop.is_set():
            try:
                folder.rename(real)
                folder.symlink_to(target)
                folder.unlink()
                real.rename(folder)
            except OSError:
                pass
    flipper = threading.Thread(target=flip, daemon=True)
    flipper.start()
    try:
        yield
    finally:
        stop.set()
        flipper.join()


async def test_a_folder_swapped_for_a_link_during_the_call_is_never_followed(workspace, mcp_server, outside):
    """The agent flips images/ between a folder and a link outside while plot_results runs."""
    async with Client(mcp_server) as client:
        await _ledger(client)
        with flipping(workspace / "images", outside.dir / "sub"):
            for i in range(6):
                res = await client.call_tool("plot_results", {"metric": "acc", "name": f"race{i}"})
                assert not res.is_error or "internal error" not in tool_text(res), tool_text(res)
    outside.unchanged()


# -- summary_table(report=...) ---------------------------------------------------------------

@pytest.mark.parametrize("where", ["final", "folder"])
async def test_summary_table_report(where, workspace, mcp_server, outside):
    if where == "final":
        plant(workspace, "report.tex", outside.victim)
        report = "report.tex"
    else:
        plant(workspace, "paper", outside.dir)
        report = f"paper/{outside.victim.name}"
    async with Client(mcp_server) as client:
        await _ledger(client)
        res = await client.call_tool("summary_table", {"metric": "acc", "report": report})
    assert res.is_error and ("symbolic link" in tool_text(res) or "outside" in tool_text(res))
    outside.unchanged()


# -- prune_layer -----------------------------------------------------------------------------

def _layer_files(ws: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 64))
    np.save(ws / "W.npy", rng.standard_normal((8, 16)).astype(np.float32))
    np.save(ws / "G.npy", (X @ X.T).astype(np.float32))


@pytest.mark.parametrize("where", ["mask", "sidecar", "old_tmp_mask", "old_tmp_sidecar", "folder"])
async def test_prune_layer(where, workspace, mcp_server, outside):
    _layer_files(workspace)
    stem = _rand("m_")
    pid = os.getpid()                               # the in-memory server runs in this process
    names = {"mask": f"masks/{stem}.safetensors", "sidecar": f"masks/{stem}.json",
             "old_tmp_mask": f"masks/.{stem}.safetensors.tmp{pid}",
             "old_tmp_sidecar": f"masks/.{stem}.json.tmp{pid}"}
    if where == "folder":
        plant(workspace, "masks", outside.dir / "sub")
    else:
        plant(workspace, names[where], outside.missing() if "sidecar" in where else outside.victim)
    async with Client(mcp_server) as client:
        res = await client.call_tool("prune_layer", {"weights": "W.npy", "gram": "G.npy",
                                                     "method": "wanda", "nm": "2:4",
                                                     "out": f"masks/{stem}.safetensors"})
    if where.startswith("old_tmp"):
        assert not res.is_error, tool_text(res)
        assert not (workspace / names["mask"]).is_symlink() and (workspace / names["sidecar"]).is_file()
    else:
        assert res.is_error and ("symbolic link" in tool_text(res) or "outside" in tool_text(res))
    outside.unchanged()


# -- run_fw_solver, fw_worst_case ------------------------------------------------------------

def _qp(out: str) -> dict:
    return {"objective": "quadratic", "set": "simplex", "seed": 0, "size": [20], "max_iter": 50,
            "out": out}


@pytest.mark.parametrize("where", ["final_to_folder", "final_to_missing", "parent"])
async def test_run_fw_solver_out_folder(where, workspace, mcp_server, outside):
    name = _rand("run_")
    if where == "final_to_folder":
        plant(workspace, f"runs/{name}", outside.dir / "sub")
    elif where == "final_to_missing":
        plant(workspace, f"runs/{name}", outside.missing())
    else:
        plant(workspace, "runs", outside.dir / "sub")
    async with Client(mcp_server) as client:
        res = await client.call_tool("run_fw_solver", _qp(f"runs/{name}"))
    assert res.is_error and ("outside" in tool_text(res) or "symbolic link" in tool_text(res)
                             or "exists" in tool_text(res))
    outside.unchanged()


async def test_fw_output_folder_parent_swapped_during_the_call(workspace, mcp_server, outside):
    async with Client(mcp_server) as client:
        with flipping(workspace / "runs", outside.dir / "sub"):
            for i in range(6):
                res = await client.call_tool("run_fw_solver", _qp(f"runs/r{i}"))
                assert not res.is_error or "internal error" not in tool_text(res), tool_text(res)
    outside.unchanged()
    assert not list((outside.dir / "sub").iterdir())


async def test_fw_worst_case_out_folder(workspace, mcp_server, outside):
    plant(workspace, "wc", outside.dir / "sub")
    async with Client(mcp_server) as client:
        res = await client.call_tool("fw_worst_case", {"r_end": 1e-2, "bits": 64, "out": "wc/x"})
    assert res.is_error and "outside" in tool_text(res)
    outside.unchanged()


@pytest.mark.parametrize("name", [*HOSTILE, LONG])
async def test_hostile_names_stay_names(name, workspace, mcp_server, outside, monkeypatch):
    """A hostile folder or file name is written exactly as given, inside the workspace; no
    shell ever sees it."""
    monkeypatch.chdir(outside.dir)              # a `touch PWNED` that ran would land here
    _layer_files(workspace)
    mask = name[:240] + ".safetensors" if name == LONG else name + ".safetensors"
    async with Client(mcp_server) as client:
        fw = await call(client, "run_fw_solver", **_qp(f"runs/{name}"))
        layer = await call(client, "prune_layer", weights="W.npy", gram="G.npy", method="wanda",
                           nm="2:4", out=f"m/{mask}")
    assert fw["out"] == f"runs/{name}" and (workspace / "runs" / name / "summary.json").is_file()
    assert layer["mask_file"] == f"m/{mask}" and (workspace / "m" / mask).is_file()
    outside.unchanged()
    assert not list(workspace.rglob("PWNED"))


# -- prune_model ----------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["final", "old_partial"])
async def test_prune_model_out_folder(where, workspace, mcp_server, outside):
    name = _rand("p_")
    plant(workspace, f"p/{name}" if where == "final" else f"p/.{name}.partial", outside.dir / "sub")
    async with Client(mcp_server) as client:
        res = await client.call_tool("prune_model", {"model": "tiny-gpt2", "method": "magnitude",
                                                     "sparsity": 0.5, "n_samples": 4, "seq_len": 16,
                                                     "out": f"p/{name}"})
    if where == "final":
        assert res.is_error and "outside" in tool_text(res)
    else:
        assert not res.is_error, tool_text(res)
        assert (workspace / "p" / name / "report.json").is_file()
    outside.unchanged()


# -- reads: job logs, metrics files, the project instructions ----------------------------------

async def test_a_job_cannot_make_job_logs_return_a_host_file(workspace, mcp_server, outside, monkeypatch):
    """A bare job (a sandboxed one cannot write its folder) replaces its own stdout, env and
    metrics file with links to a host secret."""
    monkeypatch.setenv("RIGORLAB_JOB_POLL_S", "0.1")
    secret = outside.secret.read_text().strip()
    metrics = outside.dir / "metrics-like"
    metrics.write_text('{"leaked": 1}\n')
    outside.before = outside._snapshot()
    script = (f'for f in stdout env out/metrics.jsonl; do rm -f "$RIGORLAB_JOB_DIR/$f"; done; '
              f'ln -s {outside.secret} "$RIGORLAB_JOB_DIR/stdout"; '
              f'ln -s {outside.secret} "$RIGORLAB_JOB_DIR/env"; '
              f'ln -s {metrics} "$RIGORLAB_METRICS_FILE"')
    (workspace / "plant.sh").write_text(script + "\n")
    async with Client(mcp_server) as client:
        exp = await call(client, "start_experiment", goal="g")
        job = await call(client, "dispatch_job", command="bash plant.sh", gpus=0,
                         experiment_id=exp["experiment_id"], runtime="bare")
        done = await call(client, "wait_job", job_id=job["id"], timeout_s=50)
        assert done["state"] == "COMPLETED", done
        for stream in ("stdout", "env"):
            res = await client.call_tool("job_logs", {"job_id": job["id"], "stream": stream})
            assert secret not in tool_text(res) and secret not in json.dumps(res.structured_content)
            assert res.is_error and "symbolic link" in tool_text(res)
            resource = await client.read_resource(f"rigorlab://jobs/{job['id']}/{stream}")
            assert secret not in str(resource)
    from rigorlab.core import state
    conn = state.connect(state.db_path(workspace))
    for _ in range(100):
        ingested = conn.execute("SELECT problems_json FROM results_ingests").fetchall()
        if ingested:
            break
        await anyio.sleep(0.1)
    assert ingested and "symbolic link" in ingested[0][0]
    assert not conn.execute("SELECT 1 FROM results_metrics WHERE key = 'leaked'").fetchall()
    outside.unchanged()


async def test_a_linked_instruction_file_is_not_returned(workspace, mcp_server, outside):
    secret = outside.secret.read_text().strip()
    plant(workspace, "CLAUDE.md", outside.secret)
    (workspace / "REVISION.md").symlink_to(outside.secret)
    async with Client(mcp_server) as client:
        for uri in ("rigorlab://project",):
            try:
                got = await client.read_resource(uri)
            except Exception as exc:  # noqa: BLE001 - an error is the right answer
                got = str(exc)
            assert secret not in str(got)
        for prompt in ("setup_research_plan", "update_base"):
            try:
                got = await client.get_prompt(prompt)
            except Exception as exc:  # noqa: BLE001
                got = str(exc)
            assert secret not in str(got)
        res = await client.call_tool("check_rules", {})
        assert secret not in tool_text(res)
    outside.unchanged()


async def test_a_link_inside_the_workspace_is_still_read(workspace, mcp_server):
    from rigorlab.rules import markers
    (workspace / "AGENTS.md").write_text(f"# rules\n\n{markers.PROJECT_BEGIN}\n- goal: find it\n"
                                         f"{markers.PROJECT_END}\n")
    (workspace / "CLAUDE.md").symlink_to("AGENTS.md")
    async with Client(mcp_server) as client:
        got = await client.read_resource("rigorlab://project")
    assert "find it" in str(got)


# -- the CLI and the job entry points -----------------------------------------------------------

def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rigorlab.server", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", ["CLAUDE.md", "report.tex", "TODO.md", ".mcp.json"])
def test_cli_init_and_install(name, workspace, outside):
    plant(workspace, name, outside.victim)
    init = _cli("init", "--tool", "claude", "-w", str(workspace), cwd=outside.dir)
    if name == "CLAUDE.md":
        assert init.returncode == 2 and "symbolic link" in init.stderr, init.stderr
    install = _cli("install", "claude", "--scope", "project", "-w", str(workspace), cwd=outside.dir)
    if name == ".mcp.json":
        assert install.returncode == 2 and "symbolic link" in install.stderr, install.stderr
    outside.unchanged()


def test_fw_job_entry_point(workspace, outside):
    plant(workspace, "runs", outside.dir / "sub")
    spec = json.dumps({**_qp(""), "out": "runs/job"})
    proc = subprocess.run([sys.executable, "-m", "rigorlab.tools.fw.run", "--workspace", str(workspace),
                           "--spec-json", spec], cwd=outside.dir,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "outside" in proc.stderr, proc.stderr
    (workspace / "runs").unlink()
    plant(workspace, "runs2/job", outside.dir / "sub")
    spec = json.dumps({**_qp(""), "out": "runs2/job"})
    proc = subprocess.run([sys.executable, "-m", "rigorlab.tools.fw.run", "--workspace", str(workspace),
                           "--spec-json", spec], cwd=outside.dir,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    outside.unchanged()


def test_pruning_job_entry_point(workspace, outside):
    (workspace / "p").mkdir()
    out = workspace / "p" / "job"
    spec = json.dumps({"model": "tiny-gpt2", "method": "magnitude", "sparsity": 0.5,
                       "n_samples": 4, "seq_len": 16, "out": str(out)})

    proc = subprocess.Popen([sys.executable, "-m", "rigorlab.tools.pruning.run_job", "--spec-json", spec,
                             "--workspace", str(workspace)], cwd=workspace, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.startswith("[1/"):
            out.symlink_to(outside.dir / "sub")
            break
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "symbolic link" in stderr, stderr
    assert out.is_symlink() and not list((outside.dir / "sub").iterdir())
    outside.unchanged()
