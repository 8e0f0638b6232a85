"""Inside the sandbox: listen on 127.0.0.1:PORT, forward each connection to the broker's unix
socket, and run the agent. Standard library only; bound read-only into the sandbox.

    python3 forward.py --listen 127.0.0.1:8765 --to /run/rigorlab/mcp.sock -- claude ...

The sandbox has no network but its own loopback, so the agent reaches the broker (running on
the host, outside the sandbox) only through this socket. The listener is bound before the
agent starts; the forwarder lives in a child process that dies with the agent (the agent
keeps this process's pid, terminal and signals).
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (dst, src):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _serve(listener: socket.socket, target: str) -> None:
    while True:
        client, _ = listener.accept()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(target)
        except OSError as exc:
            print(f"rigorlab forward: broker socket {target}: {exc}", file=sys.stderr)
            client.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Linux: have the kernel send `sig` to this process when its parent dies."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="forward.py")
    p.add_argument("--listen", required=True, help="HOST:PORT inside the sandbox")
    p.add_argument("--to", required=True, help="the broker's unix socket")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    host, port = args.listen.rsplit(":", 1)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(port)))
    listener.listen(64)
    if not command:
        _serve(listener, args.to)
        return 0
    parent = os.getpid()
    if os.fork() == 0:
        die_with_parent()
        if os.getppid() != parent:
            os._exit(0)
        try:
            _serve(listener, args.to)
        finally:
            os._exit(0)
    listener.close()
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"rigorlab: cannot start {command[0]!r} in the sandbox: {exc}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
