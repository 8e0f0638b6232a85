"""A job request: what the MCP tool, the CLI and `rigorlab.tools.jobs.submit` all build.

Strict (unknown fields refused, no coercion) and bounded in its schema, so everything that can
be checked without knowing the targets is checked here, once; `admission.admit` checks the
rest (target, GPUs, working directory, runtime and image) against the dispatcher's config.
"""
from __future__ import annotations

import os
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator

from rigorlab.core.contract import Spec, parse
from rigorlab.core.runtimes import RuntimeName

MAX_COMMAND = 65536          # characters of the command line (command.sh)
MAX_PATH = 4096              # characters of a path (PATH_MAX)
MAX_GPUS = 64
MAX_CPUS = 1024
MAX_MEM_MB = 16 * 1024 * 1024            # 16 TiB
MAX_TIME_S = 366 * 24 * 3600             # a year
MAX_ENV_VARS = 256
MAX_ENV_VALUE = 32 * 1024    # bytes; Linux refuses any one KEY=VALUE over 128 KiB (MAX_ARG_STRLEN)
MAX_ENV_TOTAL = 128 * 1024   # bytes of all KEY=VALUE together
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
# Set by rigorlab for every job (backends/base.py: Backend.job_env).
RESERVED_ENV = ("RIGORLAB_JOB_ID", "RIGORLAB_JOB_DIR", "RIGORLAB_EXPERIMENT_ID",
                "RIGORLAB_METRICS_FILE")
NAME = r"^[^\x00-\x1f\x7f]{1,256}$"          # a label: any text but control characters
EXPERIMENT = r"^[\w.-]{1,64}$"

EnvName = Annotated[str, StringConstraints(pattern=ENV_NAME)]
EnvValue = Annotated[str, StringConstraints(max_length=MAX_ENV_VALUE)]
DependsOn = Annotated[str, StringConstraints(max_length=64)]


class JobRequest(Spec):
    """One job: a shell command run in a workspace folder on a target, in a runtime (a Spec:
    strict, closed, bounded, immutable)."""

    command: str = Field(max_length=MAX_COMMAND, description="shell command")
    cwd: str = Field(default=".", min_length=1, max_length=MAX_PATH, description="workspace dir")
    target: str | None = Field(default=None, max_length=64, description="see list_nodes")
    gpus: int | None = Field(default=None, ge=0, le=MAX_GPUS,
                             description="default 1 if the target has GPUs")
    cpus: int = Field(default=1, ge=1, le=MAX_CPUS, description="cores")
    mem_mb: int | None = Field(default=None, ge=1, le=MAX_MEM_MB, description="MiB")
    time_limit_s: int | None = Field(default=None, ge=1, le=MAX_TIME_S, description="seconds")
    env: dict[EnvName, EnvValue] = Field(default_factory=dict, max_length=MAX_ENV_VARS,
                                         description="not RIGORLAB_JOB_*; 128 KiB in all")
    experiment_id: str | None = Field(default=None, pattern=EXPERIMENT, description="e.g. E003")
    runtime: RuntimeName | None = Field(default=None, description="default: the target's (local: bwrap)")
    image: str | None = Field(default=None, min_length=1, max_length=512,
                              description="image, .sif or rootfs dir")
    depends_on: list[DependsOn] = Field(default_factory=list, max_length=64,
                                        description="refused: jobs must be independent")
    name: str | None = Field(default=None, pattern=NAME, description="label")

    @field_validator("cwd", mode="before")
    @classmethod
    def _path_text(cls, v):
        return os.fspath(v) if isinstance(v, os.PathLike) else v

    @field_validator("command", "cwd")
    @classmethod
    def _no_nul(cls, v: str, info) -> str:
        if "\x00" in v:
            raise ValueError(f"the {info.field_name} contains a NUL byte")
        if info.field_name == "command" and not v.strip():
            raise ValueError("the command is empty: give the shell command the job runs")
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, env: dict[str, str]) -> dict[str, str]:
        for k, v in env.items():
            if k in RESERVED_ENV:
                raise ValueError(f"environment variable {k} is reserved: rigorlab sets "
                                 f"{', '.join(RESERVED_ENV)} for every job itself")
            if "\x00" in v:
                raise ValueError(f"environment variable {k} contains a NUL byte")
            if len(v.encode()) > MAX_ENV_VALUE:
                raise ValueError(f"environment variable {k} is {len(v.encode())} bytes; at most "
                                 f"{MAX_ENV_VALUE} bytes: pass large data in a workspace file")
        total = sum(len(k.encode()) + len(v.encode()) + 2 for k, v in env.items())
        if total > MAX_ENV_TOTAL:
            raise ValueError(f"the environment is {total} bytes; at most {MAX_ENV_TOTAL} bytes in "
                             "all: pass large data in a workspace file")
        return env

    @model_validator(mode="after")
    def _independent(self) -> "JobRequest":
        if self.depends_on:
            raise ValueError(
                f"job dependencies ({', '.join(self.depends_on)}) are refused: the methodology "
                "allows only independent jobs, one experiment per GPU. Wait for the other job "
                "(wait_job), then dispatch this one")
        lowered = self.command.replace("=", " ")
        if "--dependency" in lowered or " afterok:" in lowered:
            raise ValueError("the command asks SLURM for a job dependency, which is refused: "
                             "dispatch independent jobs and wait for one before starting the next")
        return self

    @classmethod
    def of(cls, **fields) -> "JobRequest":
        """Build from keyword arguments; a bad field is a UserError naming it and its limit."""
        return parse(cls, fields, what="job request field")
