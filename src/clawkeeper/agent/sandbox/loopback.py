"""Bring up the loopback interface of the current network namespace, without iproute2.

A new network namespace has only `lo`, and it is down. `python -m clawkeeper.agent.sandbox.loopback`
runs inside the namespace (through nsenter) so the lab needs no `ip` binary on a minimal machine.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import sys

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFREQ = "16sH22s"  # struct ifreq: name, then the flags of the union, padded to 40 bytes


def bring_up(name: str = "lo") -> int:
    """Set IFF_UP on `name`; returns the new flags."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(IFREQ, name.encode(), 0, b"")
        flags = struct.unpack(IFREQ, fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request))[1]
        if not flags & IFF_UP:
            flags |= IFF_UP
            fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack(IFREQ, name.encode(), flags, b""))
        return int(flags)


if __name__ == "__main__":
    bring_up(sys.argv[1] if len(sys.argv) > 1 else "lo")
