"""Command lines that run a program inside a sandbox runtime: docker, podman, apptainer, bwrap.

Pure functions (host facts such as the uid come in as arguments, with the current process's
values as defaults). Only the workspace is bound writable, at the same path as on the host,
so paths in a job's command mean the same thing inside; extra binds are read-only unless
marked "rw". The environment is exactly the `env` given. No network unless asked for.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from rigorlab.core.errors import UserError
from rigorlab.sandbox.gpus import GpuSpec, parse_gpus
from rigorlab.sandbox.policy import Bind, bind_refusal

DEFAULT_IMAGE = "rigorlab-sandbox:latest"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Characters that the runtimes' mount syntaxes (--mount CSV, --bind a:b:ro) cannot carry.
_BAD_PATH_CHARS = (",", ":", "\n", "\x00")
# What a bwrap sandbox without an image sees of the host: programs and libraries, read-only.
BWRAP_HOST_RO = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                 "/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                 "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/localtime",
                 "/etc/ssl", "/etc/ca-certificates", "/etc/gitconfig", "/etc/mime.types")
BWRAP_GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
                   "/dev/nvidia-modeset", "/dev/nvidia-caps")
BWRAP_MAX_GPUS = 16


@dataclass(frozen=True)
class RunSpec:
    """Everything a runtime needs to run one program; built by `job_argv` or the launcher."""
    runtime: str
    argv: tuple[str, ...]
    workspace: Path
    workdir: Path
    image: str | None = None
    gpus: GpuSpec = None
    env: tuple[tuple[str, str], ...] = ()
    binds: tuple[Bind, ...] = ()
    user: tuple[int, int] = (0, 0)
    network: bool = False
    name: str | None = None
    tty: bool = False
    rootless: bool = False
    home: Path | None = None


def job_argv(runtime: str, argv: Sequence[str], *, workspace, workdir, image: str | None = None,
             gpus=None, env: Mapping[str, str] | None = None, extra_binds: Iterable = (),
             user: tuple[int, int] | None = None, network: bool = False,
             name: str | None = None, rootless: bool | None = None) -> list[str]:
    """The full command line that runs `argv` inside `runtime` (see the module docstring).

    extra_binds: paths (read-only), or (path, "ro"|"rw") pairs, or `Bind`s.
    gpus: None/"none"/0, "all", a count N, or device ids ("0,2" or [0, 2]).
    user: (uid, gid) inside, default the caller's; rootless: podman rootless mode
    (default: the caller is not root).
    """
    spec = make_spec(runtime, argv, workspace=workspace, workdir=workdir, image=image, gpus=gpus,
                     env=env, extra_binds=extra_binds, user=user, network=network, name=name,
                     rootless=rootless)
    return build_argv(spec)


def make_spec(runtime: str, argv: Sequence[str], *, workspace, workdir, image=None, gpus=None,
              env=None, extra_binds=(), user=None, network=False, name=None, rootless=None,
              tty=False, home=None) -> RunSpec:
    if runtime not in RUNTIMES:
        raise UserError(f"unknown sandbox runtime {runtime!r}: use one of {', '.join(RUNTIMES)}")
    if not argv or not all(isinstance(a, str) for a in argv):
        raise UserError("the command to run is empty or not a list of strings")
    ws = _abs(workspace, "workspace")
    wd = _abs(workdir, "working directory")
    if runtime == "bwrap" and image:
        _check_bwrap_root(image)
    binds = (Bind(ws, ws, True),) + tuple(_bind(b) for b in extra_binds)
    if home is not None:
        binds += (Bind(_abs(home, "home"), Path("/home/agent"), True),)
    return RunSpec(runtime=runtime, argv=tuple(argv), workspace=ws, workdir=wd,
                   image=image if image is not None else default_image(runtime),
                   gpus=parse_gpus(gpus), env=_env(env), binds=binds,
                   user=user if user is not None else (os.getuid(), os.getgid()),
                   network=network, name=name, tty=tty, home=Path("/home/agent") if home else None,
                   rootless=(os.geteuid() != 0) if rootless is None else rootless)


def build_argv(spec: RunSpec) -> list[str]:
    return _BUILDERS[spec.runtime](spec)


def default_image(runtime: str) -> str | None:
    """The image when none is given: the sandbox's own (RIGORLAB_JOB_IMAGE, set by `sandbox
    run` on the broker) for the sandbox's runtime, else the one `sandbox build` makes."""
    if os.environ.get("RIGORLAB_JOB_RUNTIME") == runtime and os.environ.get("RIGORLAB_JOB_IMAGE"):
        return os.environ["RIGORLAB_JOB_IMAGE"]
    if runtime in ("docker", "podman"):
        return DEFAULT_IMAGE
    if runtime == "apptainer":
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return str(Path(cache) / "rigorlab" / "rigorlab-sandbox.sif")
    return None


def _abs(value, what: str) -> Path:
    text = os.fspath(value)
    if not os.path.isabs(text):
        raise UserError(f"the {what} {text!r} must be an absolute path")
    if any(c in text for c in _BAD_PATH_CHARS):
        raise UserError(f"the {what} {text!r} contains one of , : or a newline, which container "
                        "mount syntax cannot carry: rename or move it")
    return Path(os.path.normpath(text))


def _check_bwrap_root(image: str) -> None:
    """A bwrap image is a host folder shown as /: never one holding home, keys or state."""
    reason = bind_refusal(Path(os.path.realpath(_abs(image, "bwrap root file system"))), False)
    if reason:
        raise UserError(f"refusing {image} as the sandbox's root file system: {reason}. Give a "
                        "root file system folder (debootstrap) or no image (host /usr, read-only)")


def _bind(item) -> Bind:
    if isinstance(item, Bind):
        _abs(item.source, "bind source"), _abs(item.target, "bind target")
        return item
    if isinstance(item, (tuple, list)):
        path, mode = item
        if mode not in ("ro", "rw"):
            raise UserError(f"bind mode {mode!r} for {path}: use 'ro' or 'rw'")
        p = _abs(path, "bind")
        return Bind(p, p, mode == "rw")
    p = _abs(item, "bind")
    return Bind(p, p, False)


def _env(env: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    items = tuple(sorted((env or {}).items()))
    for k, v in items:
        if not _ENV_NAME.match(k):
            raise UserError(f"environment variable name {k!r} is not valid: letters, digits, _")
        if "\x00" in str(v):
            raise UserError(f"environment variable {k} contains a NUL byte")
    return tuple((k, str(v)) for k, v in items)


def _engine(spec: RunSpec) -> list[str]:
    """docker and podman share the shape; they differ in GPU flags and user namespaces."""
    uid, gid = spec.user
    out = [spec.runtime, "run", "--rm", "--init", "--cap-drop", "ALL",
           "--security-opt", "no-new-privileges", "--read-only",
           "--tmpfs", "/tmp:rw,exec,nosuid,nodev", "--user", f"{uid}:{gid}"]
    out += ["--network", "bridge" if spec.network else "none"]
    if spec.runtime == "podman" and spec.rootless:
        out += ["--userns", "keep-id"]
    if spec.tty:
        out.append("-it")
    if spec.name:
        out += ["--name", spec.name]
    for b in spec.binds:
        mount = f"type=bind,source={b.source},target={b.target}"
        out += ["--mount", mount if b.writable else mount + ",readonly"]
    out += ["--workdir", str(spec.workdir)]
    for k, v in _with_home(spec):
        out += ["--env", f"{k}={v}"]
    out += _engine_gpus(spec)
    out.append(spec.image)
    return out + list(spec.argv)


def _engine_gpus(spec: RunSpec) -> list[str]:
    g = spec.gpus
    if g is None:
        return []
    if spec.runtime == "docker":
        if g == "all" or isinstance(g, int):
            return ["--gpus", str(g)]
        return ["--gpus", f'"device={",".join(map(str, g))}"']
    # Podman reaches NVIDIA GPUs through CDI names (nvidia-ctk cdi generate).
    ids = ["all"] if g == "all" else [str(i) for i in (range(g) if isinstance(g, int) else g)]
    return [x for i in ids for x in ("--device", f"nvidia.com/gpu={i}")]


def _with_home(spec: RunSpec) -> tuple[tuple[str, str], ...]:
    env = dict(spec.env)
    if spec.home is not None:
        env.setdefault("HOME", str(spec.home))
    env.update(_cuda_env(spec))
    return tuple(sorted(env.items()))


def _cuda_env(spec: RunSpec) -> dict[str, str]:
    """apptainer --nv and bwrap see every GPU: narrow with CUDA_VISIBLE_DEVICES."""
    g = spec.gpus
    if spec.runtime in ("docker", "podman") or g is None or g == "all":
        return {}
    ids = range(g) if isinstance(g, int) else g
    return {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": ",".join(map(str, ids))}


def _apptainer(spec: RunSpec) -> list[str]:
    out = ["apptainer", "exec", "--containall", "--cleanenv", "--no-umask"]
    if not spec.network:
        out += ["--net", "--network", "none"]
    if spec.home is not None:
        home_bind = next(b for b in spec.binds if b.target == spec.home)
        out += ["--home", f"{home_bind.source}:{spec.home}"]
    for b in spec.binds:
        if b.target != spec.home:
            out += ["--bind", f"{b.source}:{b.target}:{'rw' if b.writable else 'ro'}"]
    out += ["--pwd", str(spec.workdir)]
    for k, v in _with_home(spec):
        if k != "HOME":
            out += ["--env", f"{k}={v}"]
    if spec.gpus is not None:
        out.append("--nv")
    out.append(spec.image)
    return out + list(spec.argv)


def _bwrap(spec: RunSpec) -> list[str]:
    out = ["bwrap", "--die-with-parent", "--unshare-all"]
    if spec.network:
        out.append("--share-net")
    if not spec.tty:
        out.append("--new-session")  # no TIOCSTI into the caller's terminal
    out += ["--cap-drop", "ALL", "--clearenv"]
    if spec.image:
        out += ["--ro-bind", spec.image, "/"]
    else:
        for p in BWRAP_HOST_RO:
            out += ["--ro-bind-try", p, p]
    out += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    out += _bwrap_gpus(spec)
    for b in spec.binds:
        out += ["--bind" if b.writable else "--ro-bind", str(b.source), str(b.target)]
    out += ["--remount-ro", "/"]  # the sandbox's own root: nothing writable but the binds
    uid, gid = spec.user
    if (uid, gid) != (0, 0):
        out += ["--unshare-user", "--uid", str(uid), "--gid", str(gid)]
    for k, v in _with_home(spec):
        out += ["--setenv", k, v]
    out += ["--chdir", str(spec.workdir), "--"]
    return out + list(spec.argv)


def _bwrap_gpus(spec: RunSpec) -> list[str]:
    if spec.gpus is None:
        return []
    nodes = list(BWRAP_GPU_NODES) + [f"/dev/nvidia{i}" for i in range(BWRAP_MAX_GPUS)]
    return [x for n in nodes for x in ("--dev-bind-try", n, n)]


_BUILDERS = {"docker": _engine, "podman": _engine, "apptainer": _apptainer, "bwrap": _bwrap}
RUNTIMES = tuple(_BUILDERS)      # the container runtimes, in the order the CLI offers them
