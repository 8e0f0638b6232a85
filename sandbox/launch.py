"""`rigorlab sandbox run`: broker on the host, agent in the sandbox, broker stopped after.

Inside, the agent sees the workspace (writable, same path as on the host), the explicitly
named extra folders, a throwaway home holding its MCP config, the broker's socket folder
(read-only) and the forwarder; nothing else of the host. Its only network is loopback,
where the forwarder relays 127.0.0.1:8765 to the broker.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rigorlab.core.errors import UserError
from rigorlab.core.paths import state_dir_for
from rigorlab.sandbox import clients
from rigorlab.sandbox.argv import Bind, build_argv, default_image, make_spec
from rigorlab.sandbox.broker import start_broker
from rigorlab.core.runtimes import APPTAINER, BWRAP, DOCKER, RUNTIMES

INSIDE_PORT = 8765
INSIDE_URL = f"http://127.0.0.1:{INSIDE_PORT}/mcp"
BROKER_DIR = Path("/run/rigorlab")
FORWARDER = Path("/opt/rigorlab/forward.py")
BWRAP_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass
class SessionOptions:
    runtime: str
    tool: str
    workspace: Path                     # already checked (rigorlab.core.jail.check_workspace_root)
    yolo: bool = False
    gpus: object = None
    image: str | None = None
    binds: list[Bind] = field(default_factory=list)   # already checked (rigorlab.sandbox.policy)
    command: list[str] | None = None    # run this instead of the client (a shell, a probe)
    tty: bool | None = None


def preflight(runtime: str, image: str | None) -> None:
    """Fail early, with the fix, when the runtime or the image is missing."""
    if not shutil.which(runtime):
        raise UserError(f"{runtime} is not installed or not on PATH: install it, or choose another "
                        "--runtime (bwrap needs only the bubblewrap package)")
    rt = RUNTIMES[runtime]
    if rt is DOCKER:
        _docker_image_exists(image)
    elif rt.engine:
        if subprocess.run([rt.program, "image", "exists", image]).returncode != 0:
            raise UserError(f"{rt.name} has no image {image}: build it with "
                            f"`rigorlab sandbox build --runtime {rt.name}`")
    elif rt is APPTAINER and not Path(image).is_file():
        raise UserError(f"no Apptainer image at {image}: build it with "
                        f"`rigorlab sandbox build --runtime {rt.name}`")
    elif rt is BWRAP and image and not Path(image, "usr").is_dir():
        raise UserError(f"{image} is not a root file system folder: give one with usr/ in it, "
                        "or no image to use the host's /usr read-only")


def _docker_image_exists(image: str) -> None:
    import docker
    from docker.errors import DockerException, ImageNotFound
    try:
        docker.from_env().images.get(image)
    except ImageNotFound:
        raise UserError(f"docker has no image {image}: build it with "
                        "`rigorlab sandbox build --runtime docker`") from None
    except DockerException as exc:
        raise UserError(f"cannot reach the Docker engine ({exc}): start it or set DOCKER_HOST") from None


def inside_env(opts: SessionOptions, token: str) -> dict[str, str]:
    env = clients.client_env(opts.tool)
    env.update(RIGORLAB_TOKEN=token, RIGORLAB_MCP_URL=INSIDE_URL, RIGORLAB_SANDBOX=opts.runtime,
               TERM=os.environ.get("TERM", "xterm-256color"), LANG=os.environ.get("LANG", "C.UTF-8"))
    if RUNTIMES[opts.runtime].host_programs:
        env["PATH"] = BWRAP_PATH
    return env


def session_argv(opts: SessionOptions, session_dir: Path, home: Path, token: str,
                 name: str | None = None) -> list[str]:
    """The runtime command line of one session (the broker already listens in session_dir)."""
    inner = opts.command or clients.command(opts.tool, opts.yolo)
    argv = ["python3", str(FORWARDER), "--listen", f"127.0.0.1:{INSIDE_PORT}",
            "--to", str(BROKER_DIR / "mcp.sock"), "--", *inner]
    binds = [*opts.binds, Bind(session_dir / "broker", BROKER_DIR),
             Bind(Path(__file__).with_name("forward.py").resolve(), FORWARDER)]
    tty = sys.stdin.isatty() and sys.stdout.isatty() if opts.tty is None else opts.tty
    spec = make_spec(opts.runtime, argv, workspace=opts.workspace, workdir=opts.workspace,
                     image=opts.image, gpus=opts.gpus, env=inside_env(opts, token),
                     extra_binds=binds, home=home, tty=tty, name=name)
    return build_argv(spec)


def run_session(opts: SessionOptions) -> int:
    """Run one sandboxed agent session; returns the agent's exit code."""
    opts.image = opts.image or default_image(opts.runtime)
    preflight(opts.runtime, opts.image)
    log = state_dir_for(opts.workspace) / "sandbox-broker.log"
    with tempfile.TemporaryDirectory(prefix="rl-sbx-") as tmp:
        session_dir = Path(tmp)
        home = session_dir / "home"
        home.mkdir(mode=0o700)
        broker = start_broker(opts.workspace, session_dir, runtime=opts.runtime,
                              image=opts.image, log=log)
        try:
            clients.write_config(opts.tool, home, workspace=opts.workspace, url=INSIDE_URL,
                                 token=broker.token, yolo=opts.yolo)
            name = f"rigorlab-sbx-{secrets.token_hex(4)}"
            return _run(session_argv(opts, session_dir, home, broker.token, name),
                        opts.runtime, name)
        finally:
            broker.stop()


def _run(argv: list[str], runtime: str, name: str) -> int:
    """Run the sandbox; an interrupted engine client must not leave its container behind."""
    proc = subprocess.Popen(argv)
    try:
        try:
            return proc.wait()
        except KeyboardInterrupt:  # the terminal sent SIGINT to the sandbox too: let it end
            try:
                return proc.wait(10)
            except (KeyboardInterrupt, subprocess.TimeoutExpired):
                return 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if RUNTIMES[runtime].engine:
            subprocess.run([RUNTIMES[runtime].program, "rm", "-f", name], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
