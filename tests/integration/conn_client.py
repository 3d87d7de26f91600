#!/usr/bin/env python3
"""A tiny TCP client for the connection fault tests: speaks Redis's inline protocol to a
real redis-server and prints what it saw, one line, for the test to judge."""
import socket
import subprocess
import sys
import time


def connect(host, port, timeout=5.0):
    s = socket.create_connection((host, int(port)), timeout=timeout)
    return s


def main():
    if sys.argv[1] == "time":
        # Runs a command (its own process, as a user would) and prints its wall time in
        # ms and its output.
        t0 = time.monotonic()
        out = subprocess.run(sys.argv[2:], capture_output=True, text=True, timeout=30).stdout
        print("%.3f %s" % ((time.monotonic() - t0) * 1000, out.strip()))
        return
    cmd, host, port = sys.argv[1], sys.argv[2], sys.argv[3]
    if cmd == "peer":
        s = connect(host, port)
        print("%s:%d" % s.getpeername()[:2])
    elif cmd == "rtt":
        # Connection set-up plus the first answer, in ms.
        t0 = time.monotonic()
        s = connect(host, port)
        s.sendall(b"PING\r\n")
        data = s.recv(64)
        print("%.3f %s" % ((time.monotonic() - t0) * 1000, data.strip().decode()))
    elif cmd == "reset-after":
        s = connect(host, port)
        payload = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$200000\r\n" + b"x" * 200000 + b"\r\n"
        try:
            s.sendall(payload)
            data = s.recv(64)
            print("answered %r" % data)
        except (ConnectionResetError, BrokenPipeError) as e:
            print("reset %s" % type(e).__name__)
    elif cmd == "resets":
        n, reset = int(sys.argv[4]), 0
        for _ in range(n):
            try:
                s = connect(host, port)
                s.sendall(b"PING\r\n")
                if not s.recv(64):
                    reset += 1
            except (ConnectionResetError, BrokenPipeError):
                reset += 1
            s.close()
        print("%d of %d reset" % (reset, n))
    elif cmd == "stall":
        s = connect(host, port)
        s.settimeout(float(sys.argv[4]))
        s.sendall(b"PING\r\n")
        try:
            print("answered %r" % s.recv(64))
        except socket.timeout:
            print("connected, no answer")
    elif cmd == "close-delay":
        # Time from the server's answer to QUIT to the end of the stream, in ms.
        s = connect(host, port)
        s.sendall(b"QUIT\r\n")
        data = s.recv(64)
        t0 = time.monotonic()
        while s.recv(64):
            pass
        print("%.3f %s" % ((time.monotonic() - t0) * 1000, data.strip().decode()))
    elif cmd == "hold":
        # Keeps a connection open and says how it ended.
        s = connect(host, port)
        s.settimeout(30)
        print("open", flush=True)
        try:
            data = s.recv(64)
            print("ended" if not data else "data")
        except ConnectionResetError:
            print("reset")
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
