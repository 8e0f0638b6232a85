"""The environment rigorlab's host-side steps and its local jobs get from the server's own.

An allowlist, not a blocklist: the server may hold keys (cloud credentials, the agent's API
keys, a broker's secrets) that no job may see. What passes is what programs need to find
their tools and data (paths, locale, toolchains, GPU settings); the runtimes' own clients get
their settings too, and a person can name more in clusters.toml (`[local] pass_env`).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

JOB_VARS = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "TMPDIR",
            "LD_LIBRARY_PATH", "CUDA_HOME", "CUDA_PATH", "CONDA_PREFIX", "CONDA_DEFAULT_ENV",
            "VIRTUAL_ENV", "HF_HOME", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE",
            "TRANSFORMERS_OFFLINE", "TORCH_HOME", "XDG_CACHE_HOME", "SSL_CERT_FILE",
            "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "OPENBLAS_NUM_THREADS")
JOB_PREFIXES = ("LC_", "NCCL_")
# Inside a sandbox /tmp is its own: a host temporary folder would not exist there.
NOT_IN_SANDBOX = ("TMPDIR",)
# What docker, podman, apptainer and SLURM's commands read to find their engine or cluster.
CLIENT_VARS = ("DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "CONTAINER_HOST",
               "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF",
               "XDG_RUNTIME_DIR", "SLURM_CONF")
CLIENT_PREFIXES = ("APPTAINER_",)


def _pick(env: Mapping[str, str], names: Iterable[str], prefixes: tuple[str, ...]) -> dict[str, str]:
    names = set(names)
    return {k: v for k, v in env.items() if k in names or k.startswith(prefixes)}


def job_env(pass_env: Iterable[str] = (), *, sandbox: bool = False,
            environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What a local job inherits from the server: the allowlist plus `pass_env`."""
    env = os.environ if environ is None else environ
    out = _pick(env, (*JOB_VARS, *pass_env), JOB_PREFIXES)
    if sandbox:
        for k in NOT_IN_SANDBOX:
            out.pop(k, None)
    return out


def host_env(pass_env: Iterable[str] = (), *,
             environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What rigorlab's own host commands (the job wrapper, sbatch, a runtime's client) get."""
    env = os.environ if environ is None else environ
    return {**job_env(pass_env, environ=env), **_pick(env, CLIENT_VARS, CLIENT_PREFIXES)}
