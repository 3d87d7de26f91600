#!/usr/bin/python3
"""The lab's stateless HTTP service: answers who served the request.

GET /        -> {"host": ..., "dc": ..., "rack": ...}
GET /healthz -> ok   (HAProxy's health check)
GET /redis   -> PONG from the Redis primary (--redis), or 503 within 2 s: the page that
                needs Redis, which the slow-redis experiment slows down
"""
import argparse
import json
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bind", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", required=True)
    p.add_argument("--dc", required=True)
    p.add_argument("--rack", required=True)
    p.add_argument("--redis", help="the Redis primary, HOST:PORT")
    a = p.parse_args()
    body = (json.dumps({"host": a.host, "dc": a.dc, "rack": a.rack}) + "\n").encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.path == "/healthz":
                self.reply(200, b"ok\n", "text/plain")
            elif self.path == "/":
                self.reply(200, body, "application/json")
            elif self.path == "/redis" and a.redis:
                host, port = a.redis.rsplit(":", 1)
                try:
                    with socket.create_connection((host, int(port)), timeout=2) as r:
                        r.sendall(b"PING\r\n")
                        answer = r.recv(64)
                    ok = answer.startswith(b"+PONG")
                except OSError:
                    ok = False
                self.reply(200 if ok else 503, b"PONG\n" if ok else b"redis unavailable\n", "text/plain")
            else:
                self.reply(404, b"not found\n", "text/plain")

        def reply(self, code, data, kind):
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            # HAProxy checks every half second; an access log would only grow.
            pass

    server = ThreadingHTTPServer((a.bind, a.port), Handler)
    server.daemon_threads = True
    print(f"web: {a.host} serving on {a.bind}:{a.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
