"""Command lines that run a program inside a sandbox runtime (see rigorlab.core.runtimes).

Pure functions (host facts such as the uid come in as arguments, with the current process's
values as defaults). Only the workspace is bound writable, at the same path as on the host,
so paths in a job's command mean the same thing inside; extra binds are read-only unless
marked "rw". The environment inside is exactly the `env` given, and it travels in the command
line (or, for apptainer, in APPTAINERENV_ variables of its own process), never in the
environment of the host process that starts the runtime. No network unless asked for. The
image is checked (rigorlab.sandbox.images) and comes after "--", so it is never an option.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from rigorlab.core.errors import UserError
from rigorlab.sandbox.binds import Bind
from rigorlab.sandbox.gpus import GpuSpec, parse_gpus
from rigorlab.sandbox.images import check_image
from rigorlab.sandbox.policy import bind_refusal
from rigorlab.core.runtimes import APPTAINER, BWRAP, DOCKER, PODMAN, RUNTIMES, Runtime, get

DEFAULT_IMAGE = "rigorlab-sandbox:latest"
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z", re.ASCII)
# Characters each runtime's mount syntax cannot carry in a path (--mount is CSV with key=value
# fields, --bind is src:dst:mode); bwrap takes paths as separate arguments.
_MOUNT_UNSAFE = {DOCKER.name: ',"\n', PODMAN.name: ',"\n', APPTAINER.name: ",:\n", BWRAP.name: ""}
# What a bwrap sandbox without an image sees of the host: programs and libraries, read-only.
BWRAP_HOST_RO = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                 "/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                 "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts", "/etc/localtime",
                 "/etc/ssl", "/etc/ca-certificates", "/etc/gitconfig", "/etc/mime.types")
BWRAP_GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools",
                   "/dev/nvidia-modeset", "/dev/nvidia-caps")
BWRAP_MAX_GPUS = 16
__all__ = ["Bind", "RunSpec", "job_argv", "make_spec", "build_argv", "default_image", "ENV_NAME"]


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
    detached: bool = False      # a job: no terminal, signals reach it through its process group


def job_argv(runtime: str, argv: Sequence[str], *, workspace, workdir, image: str | None = None,
             gpus=None, env: Mapping[str, str] | None = None, extra_binds: Iterable = (),
             user: tuple[int, int] | None = None, network: bool = False,
             name: str | None = None, rootless: bool | None = None,
             detached: bool = False) -> list[str]:
    """The full command line that runs `argv` inside `runtime` (see the module docstring).

    extra_binds: paths (read-only), or (path, "ro"|"rw") pairs, or `Bind`s.
    gpus: None/"none"/0, "all", a count N, or device ids ("0,2" or [0, 2]).
    user: (uid, gid) inside, default the caller's; rootless: podman rootless mode
    (default: the caller is not root); detached: a job started in a session of its own with
    no terminal (bwrap then keeps it in the caller's process group, so a cancel reaches it).
    """
    spec = make_spec(runtime, argv, workspace=workspace, workdir=workdir, image=image, gpus=gpus,
                     env=env, extra_binds=extra_binds, user=user, network=network, name=name,
                     rootless=rootless, detached=detached)
    return build_argv(spec)


def make_spec(runtime: str, argv: Sequence[str], *, workspace, workdir, image=None, gpus=None,
              env=None, extra_binds=(), user=None, network=False, name=None, rootless=None,
              tty=False, home=None, detached=False) -> RunSpec:
    rt = get(runtime, sandbox=True)
    if not argv or not all(isinstance(a, str) for a in argv):
        raise UserError("the command to run is empty or not a list of strings")
    unsafe = _MOUNT_UNSAFE[rt.name]
    ws = _abs(workspace, "workspace", unsafe)
    wd = _abs(workdir, "working directory", "")
    image = check_image(rt, image) if image is not None else default_image(rt.name)
    if rt is BWRAP and image:
        _check_bwrap_root(image)
    binds = (Bind(ws, ws, True),) + tuple(_bind(b, unsafe) for b in extra_binds)
    if home is not None:
        binds += (Bind(_abs(home, "home", unsafe), Path("/home/agent"), True),)
    return RunSpec(runtime=rt.name, argv=tuple(argv), workspace=ws, workdir=wd, image=image,
                   gpus=parse_gpus(gpus), env=_env(env), binds=binds,
                   user=user if user is not None else (os.getuid(), os.getgid()),
                   network=network, name=name, tty=tty, home=Path("/home/agent") if home else None,
                   rootless=(os.geteuid() != 0) if rootless is None else rootless,
                   detached=detached)


def build_argv(spec: RunSpec) -> list[str]:
    rt = RUNTIMES[spec.runtime]
    if rt.engine:
        return _engine(spec, rt)
    return {APPTAINER.name: _apptainer, BWRAP.name: _bwrap}[rt.name](spec)


def default_image(runtime: str) -> str | None:
    """The image when none is given: the sandbox's own (RIGORLAB_JOB_IMAGE, set by `sandbox
    run` on the broker) for the sandbox's runtime, else the one `sandbox build` makes."""
    rt = RUNTIMES[runtime]
    if os.environ.get("RIGORLAB_JOB_RUNTIME") == rt.name and os.environ.get("RIGORLAB_JOB_IMAGE"):
        return os.environ["RIGORLAB_JOB_IMAGE"]
    if rt.image == "oci":
        return DEFAULT_IMAGE
    if rt.image == "file":
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return str(Path(cache) / "rigorlab" / "rigorlab-sandbox.sif")
    return None


def _abs(value, what: str, unsafe: str) -> Path:
    text = os.fspath(value)
    if not os.path.isabs(text):
        raise UserError(f"the {what} {text!r} must be an absolute path")
    bad = sorted({c for c in text if c in unsafe + "\x00"})
    if bad:
        raise UserError(f"the {what} {text!r} contains {' '.join(map(repr, bad))}, which this "
                        "runtime's mount syntax cannot carry: rename or move it, or use bwrap")
    return Path(os.path.normpath(text))


def _check_bwrap_root(image: str) -> None:
    """A bwrap image is a host folder shown as /: never one holding home, keys or state."""
    reason = bind_refusal(Path(os.path.realpath(image)), False)
    if reason:
        raise UserError(f"refusing {image} as the sandbox's root file system: {reason}. Give a "
                        "root file system folder (debootstrap) or no image (host /usr, read-only)")


def _bind(item, unsafe: str) -> Bind:
    if isinstance(item, Bind):
        _abs(item.source, "bind source", unsafe), _abs(item.target, "bind target", unsafe)
        return item
    if isinstance(item, (tuple, list)):
        path, mode = item
        if mode not in ("ro", "rw"):
            raise UserError(f"bind mode {mode!r} for {path}: use 'ro' or 'rw'")
        p = _abs(path, "bind", unsafe)
        return Bind(p, p, mode == "rw")
    p = _abs(item, "bind", unsafe)
    return Bind(p, p, False)


def _env(env: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    items = tuple(sorted((env or {}).items()))
    for k, v in items:
        if not isinstance(k, str) or not ENV_NAME.match(k):
            raise UserError(f"environment variable name {k!r} is not valid: ASCII letters, "
                            "digits and _, not starting with a digit")
        if "\x00" in str(v):
            raise UserError(f"environment variable {k} contains a NUL byte")
    return tuple((k, str(v)) for k, v in items)


def _engine(spec: RunSpec, rt: Runtime) -> list[str]:
    """docker and podman share the shape; they differ in GPU flags and user namespaces."""
    uid, gid = spec.user
    out = [rt.program, "run", "--rm", "--init", "--cap-drop", "ALL",
           "--security-opt", "no-new-privileges", "--read-only",
           "--tmpfs", "/tmp:rw,exec,nosuid,nodev", "--user", f"{uid}:{gid}"]
    out += ["--network", "bridge" if spec.network else "none"]
    if rt.keep_id and spec.rootless:
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
    out += _engine_gpus(spec, rt)
    return out + ["--", spec.image, *spec.argv]


def _engine_gpus(spec: RunSpec, rt: Runtime) -> list[str]:
    g = spec.gpus
    if g is None:
        return []
    if not rt.cdi_gpus:
        if g == "all" or isinstance(g, int):
            return ["--gpus", str(g)]
        return ["--gpus", f'"device={",".join(map(str, g))}"']
    # CDI names (nvidia-ctk cdi generate).
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
    if RUNTIMES[spec.runtime].engine or g is None or g == "all":
        return {}
    ids = range(g) if isinstance(g, int) else g
    return {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": ",".join(map(str, ids))}


def _apptainer(spec: RunSpec) -> list[str]:
    # apptainer's --env splits its value at commas; APPTAINERENV_<NAME> carries any value and
    # passes --cleanenv. env(1) sets them for the apptainer process alone.
    env = [f"APPTAINERENV_{k}={v}" for k, v in _with_home(spec) if k != "HOME"]
    out = (["env", *env] if env else []) + [APPTAINER.program, "exec", "--containall",
                                            "--cleanenv", "--no-umask"]
    if not spec.network:
        out += ["--net", "--network", "none"]
    if spec.home is not None:
        home_bind = next(b for b in spec.binds if b.target == spec.home)
        out += ["--home", f"{home_bind.source}:{spec.home}"]
    for b in spec.binds:
        if b.target != spec.home:
            out += ["--bind", f"{b.source}:{b.target}:{'rw' if b.writable else 'ro'}"]
    out += ["--pwd", str(spec.workdir)]
    if spec.gpus is not None:
        out.append("--nv")
    return out + ["--", spec.image, *spec.argv]


def _bwrap(spec: RunSpec) -> list[str]:
    out = [BWRAP.program, "--die-with-parent", "--unshare-all"]
    if spec.network:
        out.append("--share-net")
    if not spec.tty and not spec.detached:
        out.append("--new-session")  # no TIOCSTI into the caller's terminal (a job has none)
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
