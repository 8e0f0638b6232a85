"""Drive a real rigorlab server over stdio, the way an agent would, and show each call."""
from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax


class DemoError(RuntimeError):
    pass


class Demo:
    def __init__(self, client: Any, workspace: Path, console: Console) -> None:
        self.client = client
        self.workspace = workspace
        self.console = console
        self.calls = 0

    async def call(self, tool: str, /, _expect_error: bool = False, **args: Any) -> dict[str, Any]:
        """Call `tool`, print the call and its result, return the structured result."""
        self.calls += 1
        shown = json.dumps(args, ensure_ascii=False)
        self.console.print(f"[bold cyan]→ {tool}[/]({shown if len(shown) < 300 else shown[:297] + '...'})")
        t0 = time.perf_counter()
        result = await self.client.call_tool(tool, args)
        dt = time.perf_counter() - t0
        if result.is_error:
            text = " ".join(getattr(c, "text", "") for c in result.content)
            if not _expect_error:
                raise DemoError(f"{tool} failed: {text}")
            self.console.print(f"  [yellow]refused as expected[/] ({dt:.2f} s): {text}")
            return {"error": text}
        data = result.structured_content or {"text": " ".join(getattr(c, "text", "") for c in result.content)}
        body = json.dumps(data, indent=2, ensure_ascii=False, default=str)
        if len(body) > 1500:
            body = body[:1500] + "\n  ..."
        self.console.print(Syntax(body, "json", theme="ansi_dark", word_wrap=True))
        self.console.print(f"  [dim]{dt:.2f} s[/]")
        return data


def steps() -> list[Any]:
    import rigorlab.server.demo as pkg
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.startswith("step_"))
    return [importlib.import_module(f"rigorlab.server.demo.{n}") for n in names]


async def run_demo(workspace: Path, state_home: Path, console: Console) -> int:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    env = dict(os.environ, RIGORLAB_STATE_HOME=str(state_home), PYTHONUNBUFFERED="1")
    params = StdioServerParameters(command=sys.executable,
                                   args=["-I", "-m", "rigorlab.server", "serve", "--workspace", str(workspace)],
                                   env=env, cwd=str(workspace))
    t0 = time.perf_counter()
    async with Client(params, mode="legacy") as client:
        tools = (await client.list_tools()).tools
        console.print(Panel(f"rigorlab server started over stdio in {time.perf_counter() - t0:.2f} s; "
                            f"{len(tools)} tools: {', '.join(t.name for t in tools)}\n"
                            f"workspace: {workspace}", title="rigorlab demo"))
        demo = Demo(client, workspace, console)
        await demo.call("server_info")
        available = {t.name for t in tools}
        for step in steps():
            needed = set(getattr(step, "TOOLS", ()))
            if needed - available:
                continue
            console.rule(f"[bold]{step.TITLE}")
            s0 = time.perf_counter()
            await step.run(demo)
            console.print(f"[dim]{step.TITLE}: {time.perf_counter() - s0:.1f} s[/]")
    console.print(Panel(f"{demo.calls} tool calls in {time.perf_counter() - t0:.1f} s; "
                        f"workspace kept at {workspace}", title="done", border_style="green"))
    return 0
