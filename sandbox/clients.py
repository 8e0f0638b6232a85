"""The four agent CLIs inside a sandbox: command, API-key variables, and their MCP config.

The config goes to the sandbox's own throwaway home (never the host's), pointing at the
forwarded broker with a literal bearer token (the token dies with the session).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from rigorlab.core.clientconfig import Launch, render
from rigorlab.core.errors import UserError

TOOLS = ("claude", "codex", "gemini", "opencode")
COMMANDS = {"claude": ["claude"], "codex": ["codex"], "gemini": ["gemini"],
            "opencode": ["opencode"]}
YOLO_FLAGS = {"claude": ["--dangerously-skip-permissions"],
              "codex": ["--dangerously-bypass-approvals-and-sandbox"],
              "gemini": ["--yolo"], "opencode": []}
# Only these reach the sandbox from the host environment, per client.
API_KEYS = {
    "claude": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL",
               "ANTHROPIC_MODEL", "CLAUDE_CODE_OAUTH_TOKEN"),
    "codex": ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEX_API_KEY"),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_CLOUD_PROJECT",
               "GOOGLE_CLOUD_LOCATION", "GOOGLE_GENAI_USE_VERTEXAI"),
    "opencode": ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY",
                 "OPENROUTER_API_KEY", "GROQ_API_KEY", "DEEPSEEK_API_KEY"),
}
CONFIG_FILES = {"claude": ".claude.json", "codex": ".codex/config.toml",
                "gemini": ".gemini/settings.json", "opencode": ".config/opencode/opencode.json"}
SANDBOX_HOME = Path("/home/agent")


def _check(tool: str) -> None:
    if tool not in TOOLS:
        raise UserError(f"unknown client {tool!r}: choose one of {', '.join(TOOLS)}")


def command(tool: str, yolo: bool) -> list[str]:
    _check(tool)
    return COMMANDS[tool] + (YOLO_FLAGS[tool] if yolo else [])


def client_env(tool: str, host_env: dict[str, str] | None = None) -> dict[str, str]:
    """The API-key variables `tool` needs, taken from the host environment when set."""
    _check(tool)
    host_env = dict(os.environ if host_env is None else host_env)
    env = {k: host_env[k] for k in API_KEYS[tool] if host_env.get(k)}
    if tool == "claude":
        env["IS_SANDBOX"] = "1"  # lets --dangerously-skip-permissions run as root in a container
    return env


def write_config(tool: str, home: Path, *, workspace: Path, url: str, token: str,
                 yolo: bool) -> Path:
    """Write `tool`'s MCP config (rigorlab -> url, token) into the sandbox home `home`."""
    _check(tool)
    path = home / CONFIG_FILES[tool]
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render(tool, None, Launch(url=url, token=token, token_env="RIGORLAB_TOKEN"))
    if tool != "codex":
        data = json.loads(text)
        data.update(_extras(tool, workspace, yolo))
        text = json.dumps(data, indent=2) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    if tool == "gemini":
        trusted = home / ".gemini" / "trustedFolders.json"
        trusted.write_text(json.dumps({str(workspace): "TRUST_FOLDER"}) + "\n")
    return path


def _extras(tool: str, workspace: Path, yolo: bool) -> dict:
    """Settings that keep the client from stopping at first-run questions in the sandbox."""
    if tool == "claude":
        return {"hasCompletedOnboarding": True,
                "projects": {str(workspace): {"hasTrustDialogAccepted": True}}}
    if tool == "opencode" and yolo:
        return {"permission": {"edit": "allow", "bash": "allow", "webfetch": "allow"}}
    return {}
