"""The agent side of the night: a real MCP client (the official SDK) over stdio to
`python -m rigorlab.server serve`, the way a coding agent talks to rigorlab.

Every call is timed. When the server is killed (kill -9) the calls in flight fail; the agent
starts a new server on the same workspace and state, and the callers decide what an
interrupted call means (a dispatch whose answer was lost is "uncertain": it may or may not
have been recorded, and only the ledger tells)."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import anyio

CALL_TIMEOUT_S = 90.0


class Refused(Exception):
    """The tool answered with an error (its text is the message)."""


class Interrupted(Exception):
    """The call got no answer: the server died or the connection broke."""


@dataclass
class Incarnation:
    pid: int
    started: float           # time.monotonic() when spawned
    ready_s: float           # spawn to first answer
    ended: float | None = None
    how: str = ""            # "kill -9" or "closed"


@dataclass
class Agent:
    workspace: Path
    env: dict[str, str]
    stderr: Path                     # where the servers' stderr goes
    latencies: dict[str, list[float]] = field(default_factory=dict)
    incarnations: list[Incarnation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._client = None
        self._ready = anyio.Event()
        self._stop = anyio.Event()
        self._closing = False
        self._generation = 0

    # -- the server's life ------------------------------------------------------------
    async def run(self, *, task_status=anyio.TASK_STATUS_IGNORED) -> None:
        """Keep a server running until close(); each session lives in this task (anyio's
        cancel scopes must be left by the task that entered them)."""
        from mcp import Client
        from mcp.client.stdio import StdioServerParameters, stdio_client
        params = StdioServerParameters(command=sys.executable,
                                       args=["-m", "rigorlab.server", "serve", "--workspace", str(self.workspace)],
                                       env=self.env, cwd=str(self.workspace))
        first = True
        while not self._closing:
            before = set(server_pids())
            t0 = time.monotonic()
            try:
                with open(self.stderr, "a") as errlog:
                    transport = stdio_client(params, errlog=errlog)
                    async with Client(transport, mode="legacy", read_timeout_seconds=CALL_TIMEOUT_S) as client:
                        await self._serve(client, before, t0, first, task_status)
                        first = False
            except Exception as exc:  # noqa: BLE001 - a killed server ends its session with an error
                self.errors.append(f"session ended: {type(exc).__name__}: {exc}")
            self._stop = anyio.Event()

    async def _serve(self, client, before: set[int], t0: float, first: bool, task_status) -> None:
        pid = next(iter(set(server_pids()) - before), None)
        if pid is None:
            raise RuntimeError("the server process was not found after it answered")
        self.incarnations.append(Incarnation(pid, t0, time.monotonic() - t0))
        self._client, self._generation = client, self._generation + 1
        self._ready.set()
        if first:
            task_status.started()
        await self._stop.wait()
        self._client = None

    @property
    def pid(self) -> int:
        return self.incarnations[-1].pid

    async def kill9(self) -> float:
        """kill -9 the server and wait for the next one; returns the seconds without a server."""
        inc = self.incarnations[-1]
        self._ready = anyio.Event()
        t0 = time.monotonic()
        os.kill(inc.pid, 9)
        inc.ended, inc.how = t0, "kill -9"
        self._client = None
        self._stop.set()
        with anyio.fail_after(120):
            await self._ready.wait()
        return time.monotonic() - t0

    async def close(self) -> None:
        self._closing = True
        if self.incarnations and self.incarnations[-1].ended is None:
            self.incarnations[-1].ended, self.incarnations[-1].how = time.monotonic(), "closed"
        self._client = None
        self._stop.set()

    # -- calls ------------------------------------------------------------------------
    async def call(self, tool: str, label: str | None = None, **args) -> dict:
        """The tool's structured result; Refused for a tool error, Interrupted for no answer.
        Its latency is kept under `label` (default: the tool's name)."""
        with anyio.move_on_after(CALL_TIMEOUT_S):
            await self._ready.wait()
        client, generation = self._client, self._generation
        if client is None:
            raise Interrupted("no server is running")
        t0 = time.perf_counter()
        try:
            with anyio.fail_after(CALL_TIMEOUT_S):
                res = await client.call_tool(tool, args)
        except Exception as exc:  # any failure to answer is an interruption
            raise Interrupted(f"{tool}: {type(exc).__name__}: {exc}"
                              + (" (the server was restarted)" if generation != self._generation else "")) from exc
        self.latencies.setdefault(label or tool, []).append(time.perf_counter() - t0)
        if res.is_error:
            raise Refused(" ".join(getattr(c, "text", "") for c in res.content))
        return res.structured_content or {}


def server_pids() -> list[int]:
    """Children of this process that run `rigorlab.server serve`."""
    me = os.getpid()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me and fields[0] != "Z" and b"rigorlab.server" in cmd and b"serve" in cmd:
            out.append(int(entry))
    return out
