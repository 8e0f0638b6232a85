"""`rigorlab sandbox build|base|run`: the agent in a sandbox, the server outside as a broker."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rigorlab.sandbox.clients import TOOLS
from rigorlab.core.runtimes import BUILDABLE, ENGINES, SANDBOXES


def register(sub) -> None:
    p = sub.add_parser("sandbox", help="build the sandbox image, or run an agent inside a sandbox")
    ss = p.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)

    b = ss.add_parser("build", help="build the sandbox image (docker SDK, podman, apptainer)")
    b.add_argument("--runtime", choices=BUILDABLE, default=BUILDABLE[0])
    b.add_argument("--base", default=None,
                   help="base image (a Debian/Ubuntu one; default rigorlab-base:bookworm, "
                        "made by `rigorlab sandbox base`)")
    b.add_argument("--tag", default=None, help="image tag (default rigorlab-sandbox:latest)")
    b.add_argument("--output", help="the .sif file to write (apptainer; default "
                                    "~/.cache/rigorlab/rigorlab-sandbox.sif, where run looks)")
    b.add_argument("--context", help="build context folder (default: the packaged sandbox/)")
    b.add_argument("--dockerfile", default="Dockerfile", help="Dockerfile name in the context")
    b.set_defaults(func=run_build)

    base = ss.add_parser("base", help="make a base image with debootstrap and import it")
    base.add_argument("--runtime", choices=ENGINES, default=ENGINES[0])
    base.add_argument("--tag", default=None, help="default rigorlab-base:bookworm")
    base.add_argument("--suite", default="bookworm")
    base.add_argument("--mirror", default=None,
                      help="the archive debootstrap downloads from (default: the one this "
                           "machine's apt sources use for --suite)")
    base.add_argument("--rootfs", help="import this root file system folder instead of running debootstrap")
    base.set_defaults(func=run_base)

    r = ss.add_parser("run", help="run an agent CLI in a sandbox; the MCP server runs outside")
    r.add_argument("path", nargs="?", default=None, help="project folder (default: current directory)")
    r.add_argument("--runtime", choices=SANDBOXES, required=True)
    r.add_argument("--tool", choices=TOOLS, required=True, help="the agent CLI to start")
    r.add_argument("--yolo", action="store_true", help="start the agent without permission prompts")
    r.add_argument("--gpus", default=None,
                   help="all, N, ids like 0,2, or none (default: all when nvidia-smi is present)")
    r.add_argument("--image", help="image tag (docker, podman), .sif (apptainer) or root fs folder (bwrap)")
    r.add_argument("--mount", action="append", default=[], metavar="PATH[:ro|:rw]",
                   help="an extra host folder, read-only unless :rw (repeatable)")
    r.add_argument("--no-instructions", action="store_true",
                   help="do not write or update the client's instruction file in the workspace")
    r.add_argument("--exec", dest="command", nargs=argparse.REMAINDER,
                   help="last option: run this command inside instead of the agent (its config is still written)")
    r.set_defaults(func=run_sandbox)


def run_build(args: argparse.Namespace) -> int:
    from rigorlab.sandbox.argv import DEFAULT_IMAGE
    from rigorlab.sandbox.build import DEFAULT_BASE, SANDBOX_DIR, build_image
    out = build_image(args.runtime, base=args.base or DEFAULT_BASE, tag=args.tag or DEFAULT_IMAGE,
                      context=Path(args.context) if args.context else SANDBOX_DIR,
                      dockerfile=args.dockerfile, output=Path(args.output) if args.output else None,
                      log=lambda line: print(line, file=sys.stderr))
    print(out)
    return 0


def run_base(args: argparse.Namespace) -> int:
    from rigorlab.sandbox.build import DEFAULT_BASE, make_base
    tag = make_base(args.runtime, tag=args.tag or DEFAULT_BASE, suite=args.suite, mirror=args.mirror,
                    rootfs=Path(args.rootfs) if args.rootfs else None,
                    log=lambda line: print(line, file=sys.stderr))
    print(tag)
    return 0


def run_sandbox(args: argparse.Namespace) -> int:
    from rigorlab.sandbox.gpus import default_gpus, parse_gpus
    from rigorlab.sandbox.launch import SessionOptions, run_session
    from rigorlab.sandbox.policy import check_bind, parse_bind
    from rigorlab.server.cli.common import workspace_of
    from rigorlab.core.jail import check_workspace_root

    workspace = check_workspace_root(args.path or workspace_of(args))
    binds = [check_bind(*parse_bind(m)) for m in args.mount]
    gpus = parse_gpus(args.gpus if args.gpus is not None else default_gpus())
    if not args.no_instructions:
        _write_instructions(workspace, args.tool)
    print(f"rigorlab sandbox: {args.tool} in {args.runtime}, workspace {workspace}, "
          f"GPUs {gpus or 'none'}; the MCP server runs outside as a broker", file=sys.stderr)
    return run_session(SessionOptions(runtime=args.runtime, tool=args.tool, workspace=workspace,
                                      yolo=args.yolo, gpus=gpus, image=args.image, binds=binds,
                                      command=args.command or None))


def _write_instructions(workspace: Path, tool: str) -> None:
    """The client's instruction file (CLAUDE.md, AGENTS.md, GEMINI.md) with the rules block."""
    from rigorlab.rules.render import write_instructions
    write_instructions(workspace, tool)
