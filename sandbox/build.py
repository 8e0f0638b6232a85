"""`rigorlab sandbox build` and `rigorlab sandbox base`: images for docker, podman, apptainer.

Docker through the `docker` SDK; Podman and Apptainer through their command lines. The base
image is a build argument: where no registry is reachable, `make_base` makes one with
debootstrap from the archive this machine's apt sources name, and imports it.
"""
from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Callable

from rigorlab.core.errors import UserError
from rigorlab.sandbox.argv import DEFAULT_IMAGE, default_image
from rigorlab.core.runtimes import APPTAINER, BUILDABLE, DOCKER, ENGINES, PODMAN, RUNTIMES

SANDBOX_DIR = Path(__file__).resolve().parent
DEFAULT_BASE = "rigorlab-base:bookworm"
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")
Log = Callable[[str], None]


def build_args(base: str, uid: int | None = None, gid: int | None = None) -> dict[str, str]:
    """BASE plus the host user, so files the agent writes in the workspace stay the user's."""
    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    name = "agent" if uid == 0 else _user_name()
    return {"BASE": base, "USER_NAME": name, "USER_UID": str(uid), "USER_GID": str(gid)}


def _user_name() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        return "agent"
    return name if name.replace("-", "").replace("_", "").isalnum() else "agent"


def podman_build_argv(context: Path, dockerfile: str, tag: str, args: dict[str, str]) -> list[str]:
    out = [PODMAN.program, "build", "--pull=never", "-t", tag, "-f", str(context / dockerfile)]
    for k, v in args.items():
        out += ["--build-arg", f"{k}={v}"]
    return out + [str(context)]


def apptainer_build_argv(definition: Path, output: Path, args: dict[str, str]) -> list[str]:
    """`apptainer build` with build arguments (Apptainer >= 1.2, {{ NAME }} in the .def)."""
    out = [APPTAINER.program, "build", "--force"]
    for k, v in args.items():
        out += ["--build-arg", f"{k}={v}"]
    return out + [str(output), str(definition)]


def build_image(runtime: str, *, base: str, tag: str = DEFAULT_IMAGE,
                context: Path = SANDBOX_DIR, dockerfile: str = "Dockerfile",
                output: Path | None = None, log: Log = print,
                extra_args: dict[str, str] | None = None,
                ca_certs: Path | None = HOST_CA_DIR) -> str:
    """Build the sandbox image; returns its tag (docker, podman) or .sif path (apptainer).

    ca_certs: a folder of *.crt the image must trust (default the host's local CAs, so
    builds and agents work behind a TLS-inspecting proxy).
    """
    args = build_args(base) | dict(extra_args or {})
    rt = RUNTIMES.get(runtime)
    if rt is not None and rt.engine:
        if not (context / dockerfile).is_file():
            raise UserError(f"no {dockerfile} in {context}")
        with tempfile.TemporaryDirectory(prefix="rl-build-") as tmp:
            ctx = build_context(Path(tmp), context / dockerfile, ca_certs)
            if rt is DOCKER:
                return _docker_build(ctx, "Dockerfile", tag, args, log)
            _run(podman_build_argv(ctx, "Dockerfile", tag, args), log)
            return tag
    if rt is APPTAINER:
        if output is None:
            output = Path(default_image(rt.name))
            output.parent.mkdir(parents=True, exist_ok=True)
        apptainer_args = args | {"BOOTSTRAP": "docker-daemon"} if ":" in base else args
        _run(apptainer_build_argv(context / "apptainer.def", output, apptainer_args), log)
        return str(output)
    raise UserError(f"{runtime} has no image to build (bwrap runs the host's programs "
                    f"read-only): use --runtime {' or '.join(BUILDABLE)}")


def build_context(dest: Path, dockerfile: Path, ca_certs: Path | None) -> Path:
    """A minimal build context: the Dockerfile and ca-certificates/ (maybe empty)."""
    shutil.copy(dockerfile, dest / "Dockerfile")
    certs = dest / "ca-certificates"
    certs.mkdir()
    for crt in sorted(Path(ca_certs).glob("*.crt")) if ca_certs and Path(ca_certs).is_dir() else []:
        shutil.copy(crt, certs / crt.name)
    return dest


def _docker_build(context: Path, dockerfile: str, tag: str, args: dict[str, str], log: Log) -> str:
    import docker
    from docker.errors import APIError, DockerException
    try:
        api = docker.from_env().api
        for chunk in api.build(path=str(context), dockerfile=dockerfile, tag=tag, buildargs=args,
                               rm=True, forcerm=True, pull=False, decode=True):
            if "error" in chunk:
                raise UserError(f"docker build failed: {chunk['error'].strip()} (the base "
                                f"{args['BASE']} must exist locally: `rigorlab sandbox base` "
                                "makes one with debootstrap)")
            text = chunk.get("stream", "").rstrip()
            if text:
                log(text)
    except (APIError, DockerException) as exc:
        raise UserError(f"docker build failed ({exc}): is the engine running (DOCKER_HOST)?") from None
    return tag


def _run(argv: list[str], log: Log) -> None:
    if not shutil.which(argv[0]):
        raise UserError(f"{argv[0]} is not installed or not on PATH")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    for line in proc.stdout:
        log(line.rstrip())
        tail = (tail + [line])[-20:]
    if proc.wait() != 0:
        raise UserError(f"{' '.join(argv[:2])} failed (exit {proc.returncode}): "
                        + "".join(tail[-5:]).strip())


def debootstrap_argv(target: Path, suite: str, mirror: str) -> list[str]:
    return ["debootstrap", "--variant=minbase", suite, str(target), mirror]


def apt_mirror(suite: str) -> str:
    """The archive that this machine's apt sources name for `suite`, read by apt itself (so
    one-line and deb822 sources, and a local mirror or proxy, all count)."""
    fmt = "$(REPO_URI) $(RELEASE)"
    try:
        out = subprocess.run(["apt-get", "indextargets", "--no-release-info", "--format", fmt,
                              "Created-By: Packages"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    found = [line.split() for line in out.splitlines() if len(line.split()) == 2]
    for uri, release in found:
        if release == suite:
            return uri
    raise UserError(f"this machine's apt sources name no archive for {suite!r}"
                    + (f" (they have {', '.join(sorted({r for _, r in found}))})" if found else "")
                    + ": give the archive with --mirror URL")


def make_base(runtime: str, *, tag: str = DEFAULT_BASE, suite: str = "bookworm",
              mirror: str | None = None, rootfs: Path | None = None,
              log: Log = print) -> str:
    """A base image from a debootstrap root file system (or an existing one), imported.
    `mirror` defaults to the archive this machine's apt sources use for `suite`."""
    with tempfile.TemporaryDirectory(prefix="rl-base-") as tmp:
        if rootfs is None:
            if os.geteuid() != 0:
                raise UserError("debootstrap needs root: run `sudo rigorlab sandbox base`, or give "
                                "--rootfs with a root file system made elsewhere")
            rootfs = Path(tmp) / "rootfs"
            _run(debootstrap_argv(rootfs, suite, mirror or apt_mirror(suite)), log)
        tar = Path(tmp) / "rootfs.tar"
        with tarfile.open(tar, "w") as out:
            out.add(rootfs, arcname=".")
        import_tar(runtime, tar, tag, log)
    return tag


def import_tar(runtime: str, tar: Path, tag: str, log: Log = print) -> None:
    """Import a root file system tarball as image `tag` (docker SDK, or podman import)."""
    rt = RUNTIMES.get(runtime)
    if rt is DOCKER:
        import docker
        repo, _, version = tag.rpartition(":") if ":" in tag else (tag, "", "latest")
        docker.from_env().api.import_image_from_file(str(tar), repository=repo, tag=version)
    elif rt is not None and rt.engine:
        _run([rt.program, "import", str(tar), tag], log)
    else:
        raise UserError(f"import a base for {' or '.join(ENGINES)}; {runtime} takes the base by name")
    log(f"imported {tar.name} as {tag}")
