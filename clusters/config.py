"""clusters.toml: where jobs may run. Validated with pydantic; errors name the line and the fix.

    [defaults]
    target = "local"                 # where a job goes when the caller names no target

    [local]
    gpus = 2                         # or ["0", "3"]; omitted: nvidia-smi, else none
    cpu_slots = 4                    # concurrent CPU-only jobs
    data_dirs = ["~/.cache/huggingface"]   # read-only in the local job sandbox

    [nodes.box1]                     # an SSH node
    host = "10.0.0.5"
    user = "me"
    key_file = "~/.ssh/id_ed25519"
    gpus = 4
    root = "/scratch/me/rigorlab"    # job folders on the node
    workspace = "shared"             # or "sync" (SFTP copy before, fetch after)

    [slurm.hpc]                      # a SLURM cluster
    via = "local"                    # or the name of a node in [nodes] (its login node)
    partition = "gpu"

The file is found at $RIGORLAB_CLUSTERS, else <workspace>/clusters.toml, else
~/.config/rigorlab/clusters.toml; without any, the local machine alone is a target.
"""
from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rigorlab.core.errors import UserError
from rigorlab.core.runtimes import RuntimeName

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Defaults(_Strict):
    target: str = "local"
    runtime: RuntimeName | None = None
    image: str | None = None


class LocalConfig(_Strict):
    gpus: int | list[str] | None = Field(default=None, description="count or device ids")
    cpu_slots: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=1)
    runtime: RuntimeName | None = Field(default=None, description="omitted: bwrap where it works, else bare")
    image: str | None = None
    data_dirs: list[str] = Field(default_factory=list, description="host folders local jobs see, read-only")
    pass_env: list[str] = Field(default_factory=list, description="server variables local jobs get")
    network: bool = Field(default=False, description="local sandboxed jobs share the host network")

    @field_validator("data_dirs")
    @classmethod
    def _data_dirs(cls, v: list[str]) -> list[str]:
        from rigorlab.sandbox.policy import bind_refusal
        out = []
        for raw in v:
            path = Path(os.path.realpath(Path(raw).expanduser()))
            if not Path(raw).expanduser().is_absolute():
                raise ValueError(f"data_dirs entry {raw!r} must be an absolute path (or start with ~/)")
            reason = bind_refusal(path, False)
            if reason:
                raise ValueError(f"data_dirs entry {raw!r} cannot enter a job sandbox: {reason}")
            out.append(str(path))
        return out

    @field_validator("pass_env")
    @classmethod
    def _pass_env(cls, v: list[str]) -> list[str]:
        bad = [k for k in v if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k, re.ASCII)]
        if bad:
            raise ValueError(f"pass_env names {bad} are not environment variable names")
        return v

    @field_validator("gpus")
    @classmethod
    def _gpus(cls, v):
        if isinstance(v, int) and v < 0:
            raise ValueError("gpus must be 0 or more")
        return v


class NodeConfig(_Strict):
    name: str = ""
    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str = Field(default_factory=lambda: os.environ.get("USER", "root"))
    key_file: str | None = None
    known_hosts: str = "~/.ssh/known_hosts"
    accept_unknown_host_key: bool = False
    gpus: int | list[str] = 0
    cpu_slots: int = Field(default=4, ge=1)
    root: str = Field(default=".rigorlab", description="job folders on the node (relative: to home)")
    workspace: Literal["shared", "sync"] = "shared"
    remote_workspace: str | None = None
    fetch: list[str] = Field(default_factory=lambda: ["results", "outputs"])
    runtime: RuntimeName | None = None
    image: str | None = None
    connect_timeout_s: float = Field(default=5.0, gt=0, le=120)
    command_timeout_s: float = Field(default=20.0, gt=0, le=600)
    node_fail_after_s: float = Field(default=60.0, gt=0)


class SlurmConfig(_Strict):
    name: str = ""
    via: str = "local"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    root: str | None = Field(default=None, description="job folders, visible to compute nodes")
    remote_workspace: str | None = None
    default_time_s: int = Field(default=3600, gt=0)
    max_gpus: int = Field(default=8, ge=0)
    accounting: bool | None = Field(default=None, description="use sacct (None: detect)")
    runtime: RuntimeName | None = None
    image: str | None = None
    extra_sbatch: list[str] = Field(default_factory=list)

    @field_validator("extra_sbatch")
    @classmethod
    def _no_dependency(cls, v):
        for arg in v:
            if arg.startswith(("--dependency", "-d")):
                raise ValueError("dependencies are not allowed: the rules permit only "
                                 "independent jobs")
        return v


class ClustersConfig(_Strict):
    defaults: Defaults = Field(default_factory=Defaults)
    local: LocalConfig = Field(default_factory=LocalConfig)
    nodes: dict[str, NodeConfig] = Field(default_factory=dict)
    slurm: dict[str, SlurmConfig] = Field(default_factory=dict)
    source: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _names(self):
        for table in (self.nodes, self.slurm):
            for name, entry in table.items():
                if not _NAME.match(name) or name == "local":
                    raise ValueError(f"target name {name!r} must start with a letter, use only "
                                     "letters, digits, '-', '_', '.' and not be 'local'")
                entry.name = name
        both = set(self.nodes) & set(self.slurm)
        if both:
            raise ValueError(f"{', '.join(sorted(both))} is both a node and a SLURM cluster: rename one")
        for name, s in self.slurm.items():
            if s.via != "local" and s.via not in self.nodes:
                raise ValueError(f"slurm.{name}.via = {s.via!r} names no node: use \"local\" or a "
                                 f"name from [nodes] ({', '.join(self.nodes) or 'none defined'})")
        targets = {"local", *self.nodes, *self.slurm}
        if self.defaults.target not in targets:
            raise ValueError(f"defaults.target = {self.defaults.target!r} is not a target: "
                             f"choose one of {', '.join(sorted(targets))}")
        return self

    def targets(self) -> list[str]:
        return ["local", *self.nodes, *self.slurm]


def config_path(workspace: Path) -> Path | None:
    explicit = os.environ.get("RIGORLAB_CLUSTERS")
    if explicit:
        return Path(explicit).expanduser()
    for p in (Path(workspace) / "clusters.toml", Path.home() / ".config" / "rigorlab" / "clusters.toml"):
        if p.is_file():
            return p
    return None


def load(workspace: Path) -> ClustersConfig:
    path = config_path(workspace)
    if path is None:
        return ClustersConfig()
    if not path.is_file():
        raise UserError(f"RIGORLAB_CLUSTERS names {path}, which does not exist: create it or unset "
                        "the variable")
    return parse(path.read_text(), str(path))


def parse(text: str, source: str = "clusters.toml") -> ClustersConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{source}: not valid TOML ({exc}); fix the syntax there") from exc
    try:
        cfg = ClustersConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(_explain(exc, text, source)) from None
    cfg.source = source
    return cfg


def _explain(exc: ValidationError, text: str, source: str) -> str:
    out = []
    for err in exc.errors()[:5]:
        loc = [str(x) for x in err["loc"] if not str(x).startswith(("function-after", "int", "list"))]
        line = _line_of(text, loc)
        where = f"{source}:{line}" if line else source
        key = ".".join(loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        fix = _FIXES.get(err["type"], "")
        out.append(f"{where}: {key}: {msg}{'; ' + fix if fix else ''}")
    return "invalid clusters config:\n" + "\n".join(out)


_FIXES = {
    "extra_forbidden": "remove it or check its spelling (see docs/dispatch.md for the keys)",
    "missing": "add this key",
    "int_parsing": "write a whole number",
    "literal_error": "use one of the values listed",
    "bool_parsing": "write true or false",
}


def _line_of(text: str, loc: list[str]) -> int | None:
    """Best-effort line number of `loc` (table path + key) in the TOML text."""
    lines = text.splitlines()
    table, key = loc[:-1], loc[-1] if loc else None
    start = 0
    if len(table) >= 1:
        header = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(re.escape(t) for t in table) + r"\s*\]")
        for i, l in enumerate(lines):
            if header.match(l):
                start = i + 1
                break
        else:
            if len(loc) >= 2:
                return _line_of(text, loc[:-1])
    for i in range(start, len(lines)):
        if i > start and lines[i].lstrip().startswith("[") and table:
            break
        if key and re.match(r"^\s*" + re.escape(key) + r"\s*=", lines[i]):
            return i + 1
    return start or None
