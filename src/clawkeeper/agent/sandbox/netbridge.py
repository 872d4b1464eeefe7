"""A TCP forwarder from the host's loopback into a lab's network namespace.

The lab gateway listens on 127.0.0.1:P inside a namespace whose only interface is its own `lo`,
so the host cannot reach it. This process binds 127.0.0.1:P in the HOST namespace first, then
moves itself into the lab's network namespace (`setns`) and forwards every accepted connection to
127.0.0.1:P there. A socket keeps the namespace it was created in, so the listener stays on the
host while every new outgoing connection is made inside the lab. HTTP and WebSocket then work
from the host unchanged.

    python -m clawkeeper.agent.sandbox.netbridge --port P --holder PID [--userns] [--target-port Q]

`setns` needs a single-threaded process, so it happens before asyncio starts. For a lab in a user
namespace we join that user namespace first, which gives us the rights to join its network
namespace. The bridge exits when the holder's network namespace goes away (checked every second),
and accepts at most --max-connections at once (further clients are closed immediately).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
EXIT_BIND_FAILED = 3
EXIT_SETNS_FAILED = 4
BUFFER = 64 * 1024


def log(message: str) -> None:
    sys.stderr.write(f"netbridge[{os.getpid()}]: {message}\n")
    sys.stderr.flush()


def setns(path: Path, nstype: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, nstype) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({path}): {os.strerror(errno)}")
    finally:
        os.close(fd)


def ns_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # pass the half-close on; the other direction may still talk
    except (ConnectionError, OSError):
        writer.close()


async def _handle(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    *,
    target_port: int,
    slots: asyncio.Semaphore,
) -> None:
    if slots.locked():
        client_writer.close()
        return
    async with slots:
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", target_port), timeout=10
            )
        except (OSError, TimeoutError):
            client_writer.close()  # nothing listens inside yet: the client sees a closed connection
            return
        try:
            await asyncio.gather(_pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer))
        finally:
            for writer in (client_writer, upstream_writer):
                writer.close()
                with contextlib.suppress(ConnectionError, OSError):
                    await writer.wait_closed()


async def serve(
    listener: socket.socket, *, target_port: int, netns: Path, identity: tuple[int, int], max_connections: int
) -> None:
    slots = asyncio.Semaphore(max_connections)
    server = await asyncio.start_server(
        lambda r, w: _handle(r, w, target_port=target_port, slots=slots), sock=listener
    )
    async with server:
        while ns_identity(netns) == identity:
            await asyncio.sleep(1.0)
    log("the lab's network namespace is gone; exiting")


def bind_listener(host: str, port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(128)
    listener.setblocking(False)
    return listener


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="netbridge", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="host port to listen on (127.0.0.1)")
    parser.add_argument("--target-port", type=int, help="port inside the lab (default: --port)")
    parser.add_argument("--holder", type=int, required=True, help="PID of a process in the lab's namespaces")
    parser.add_argument("--userns", action="store_true", help="join the holder's user namespace first")
    parser.add_argument("--max-connections", type=int, default=64)
    args = parser.parse_args(argv)

    netns = Path(f"/proc/{args.holder}/ns/net")
    identity = ns_identity(netns)
    if identity is None:
        log(f"no process {args.holder}; nothing to bridge to")
        return EXIT_SETNS_FAILED
    try:
        listener = bind_listener("127.0.0.1", args.port)  # in the host namespace, before setns
    except OSError as exc:
        log(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}")
        return EXIT_BIND_FAILED
    try:
        if args.userns:
            setns(Path(f"/proc/{args.holder}/ns/user"), CLONE_NEWUSER)
        setns(netns, CLONE_NEWNET)
    except OSError as exc:
        log(str(exc))
        return EXIT_SETNS_FAILED
    log(f"forwarding host 127.0.0.1:{args.port} -> lab 127.0.0.1:{args.target_port or args.port}")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                listener,
                target_port=args.target_port or args.port,
                netns=netns,
                identity=identity,
                max_connections=max(1, args.max_connections),
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
