"""The code runner's API: Python 3 standard library only.

GET  /          the page (index.html beside this file)
GET  /languages the supported languages
GET  /healthz   200 when the Docker Engine API answers
POST /run       {"language": "sh" | "python", "code": "..."} ->
                {"stdout", "stderr", "exitCode", "timedOut", "oomKilled",
                 "truncated", "durationMs", "language"}

Each run is a throw-away container created through the Engine API of the
daemon whose unix socket is mounted at /var/run/docker.sock (in dind-compose:
the project's own inner daemon), spoken to over HTTP on that socket, not
through the docker CLI. The container has no network, a memory limit, a pids
limit, a read-only root file system and a time limit, after which it is
killed; it is removed whatever happens. Requests share nothing: each has its
own container (a unique name) and its own connections to the engine.
"""

import http.client
import http.server
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SOCKET = os.environ.get("DOCKER_SOCKET", "/var/run/docker.sock")
PORT = int(os.environ.get("PORT", "8000"))
TIME_LIMIT = float(os.environ.get("RUNNER_TIME_LIMIT_SECONDS", "5"))
MEMORY_BYTES = int(os.environ.get("RUNNER_MEMORY_LIMIT_MB", "64")) * 1024 * 1024
MAX_CODE_BYTES = 64 * 1024  # one argv string; Linux allows 128 KiB
MAX_OUTPUT_BYTES = 64 * 1024  # per stream, in the response
LABEL = "dind-compose.code-runner"  # on every run container
# Wraps every snippet's command: wait for the start line on stdin (see Output),
# then become the snippet's interpreter. 125: the gate never opened.
START_GATE = ["sh", "-c", 'IFS= read -r _ || exit 125; exec "$@"', "code-runner"]

# language -> image and command; the snippet is the last argument.
LANGUAGES = {
    "sh": {
        "image": os.environ.get("RUNNER_SH_IMAGE", "dind-compose/busybox:trixie"),
        "cmd": ["sh", "-c"],
        "env": [],
    },
    "python": {
        "image": os.environ.get("RUNNER_PYTHON_IMAGE", "dind-compose/python:3-trixie"),
        "cmd": ["python3", "-c"],
        # unbuffered: what was printed before a kill still shows
        "env": ["PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1", "HOME=/tmp"],
    },
}


class EngineError(Exception):
    """The Engine API answered with an error (or not at all)."""


class UnixConnection(http.client.HTTPConnection):
    """HTTP over the engine's unix socket."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


def engine(method, path, body=None, timeout=30.0, expect=(200, 201, 204), raw=False):
    """One Engine API call on a connection of its own; JSON in, JSON (or bytes) out."""
    conn = UnixConnection(SOCKET, timeout)
    try:
        headers = {"Host": "docker"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        payload = resp.read()
        if resp.status not in expect:
            try:
                message = json.loads(payload).get("message", "")
            except ValueError:
                message = payload.decode(errors="replace")
            raise EngineError(f"{method} {path}: {resp.status} {message}".strip())
        if raw or not payload:
            return payload
        return json.loads(payload)
    finally:
        conn.close()


class Output(threading.Thread):
    """The container's stdout and stderr, from an attach made before it starts.

    The engine hijacks the HTTP connection and sends a multiplexed stream
    (frames with an 8-byte header: stream 1 or 2, then the length); the first
    MAX_OUTPUT_BYTES of each stream are kept, the rest is read and dropped so
    that the snippet never blocks on a full pipe. Ends when the container does.

    The engine answers the attach (101) before it has joined the connection
    to the container's streams, so a container started right after that
    answer can print before anyone listens (seen as an empty stdout). Hence
    the gate: the container's command first waits for one line on its stdin
    (START_GATE), and the engine copies stdin from this connection only once
    stdout and stderr are joined to it. The line is sent here, then stdin is
    closed (the snippet reads end-of-file, as with no stdin at all).
    """

    def __init__(self, container_id):
        super().__init__(daemon=True)
        self.streams = {1: bytearray(), 2: bytearray()}
        self.truncated = False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(SOCKET)
        self.sock.sendall(
            f"POST /containers/{container_id}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
            "Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            data = self.sock.recv(4096)
            if not data:
                self.sock.close()
                raise EngineError("attach: the engine closed the connection")
            head += data
        head, self.pending = head.split(b"\r\n\r\n", 1)
        status = head.split(b"\r\n", 1)[0].decode(errors="replace")
        if status.split(" ")[1:2] not in (["101"], ["200"]):
            self.sock.close()
            raise EngineError(f"attach: {status}")
        self.sock.sendall(b"\n")  # opens START_GATE once the engine copies stdin, after joining stdout/stderr
        self.sock.shutdown(socket.SHUT_WR)  # then end-of-file on the snippet's stdin
        self.sock.settimeout(None)  # the stream lasts as long as the snippet runs

    def run(self):
        buf = bytearray(self.pending)
        try:
            while True:
                while len(buf) >= 8:
                    size = struct.unpack(">I", buf[4:8])[0]
                    if len(buf) < 8 + size:
                        break
                    self.keep(buf[0], bytes(buf[8:8 + size]))
                    del buf[:8 + size]
                data = self.sock.recv(65536)
                if not data:
                    break
                buf += data
        except OSError:
            pass  # closed by finish()
        if buf:
            self.truncated = True  # the stream stopped inside a frame

    def keep(self, stream, chunk):
        out = self.streams.get(stream)
        if out is None:
            return
        room = MAX_OUTPUT_BYTES - len(out)
        if len(chunk) > room:
            self.truncated = True
        out += chunk[:max(room, 0)]

    def finish(self, timeout):
        """Waits for the end of the stream (the engine flushes it after the exit); then the text of both."""
        self.join(timeout)
        if self.is_alive():
            self.truncated = True
            self.sock.shutdown(socket.SHUT_RDWR)
            self.join(5)
        self.sock.close()
        return self.streams[1].decode(errors="replace"), self.streams[2].decode(errors="replace")


def remove(container_id):
    """Removes a run container (force: kills it first); retried while the engine is busy with it."""
    for attempt in range(5):
        try:
            engine("DELETE", f"/containers/{container_id}?force=1&v=1", expect=(204, 404))
            return
        except (EngineError, OSError) as e:
            last = e
            time.sleep(0.2 * (attempt + 1))
    print(f"code-runner: could not remove container {container_id}: {last}", file=sys.stderr, flush=True)


def run_snippet(language, code):
    spec = LANGUAGES[language]
    name = f"code-runner-{uuid.uuid4().hex}"
    config = {
        "Image": spec["image"],
        "Cmd": START_GATE + spec["cmd"] + [code],
        "Env": spec["env"],
        "User": "65534:65534",
        "WorkingDir": "/tmp",
        "Labels": {LABEL: "run", f"{LABEL}.language": language},
        "NetworkDisabled": True,
        "Tty": False,
        "OpenStdin": True,  # for START_GATE only
        "StdinOnce": True,  # closed when the attach closes its stdin
        "AttachStdin": True,
        "HostConfig": {
            "NetworkMode": "none",
            "Memory": MEMORY_BYTES,
            "MemorySwap": MEMORY_BYTES,  # no swap on top
            "PidsLimit": 64,
            "NanoCpus": 1_000_000_000,
            "ReadonlyRootfs": True,
            "Tmpfs": {"/tmp": "rw,nosuid,nodev,size=16m"},
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
            "LogConfig": {"Type": "none"},  # the output is read from the attach stream, never stored
        },
    }
    created = engine("POST", f"/containers/create?name={name}", config)
    container_id = created["Id"]
    output = None
    try:
        output = Output(container_id)  # before the start: nothing printed is missed
        output.start()
        engine("POST", f"/containers/{container_id}/start")
        started = time.monotonic()
        timed_out = False
        try:
            # the response comes when the container stops: the socket timeout is the time limit
            status = engine("POST", f"/containers/{container_id}/wait", timeout=TIME_LIMIT)
        except (socket.timeout, TimeoutError):
            timed_out = True
            engine("POST", f"/containers/{container_id}/kill", expect=(204, 404, 409))
            status = engine("POST", f"/containers/{container_id}/wait", timeout=30)
        duration_ms = round((time.monotonic() - started) * 1000)
        stdout, stderr = output.finish(timeout=5)
        state = engine("GET", f"/containers/{container_id}/json")["State"]
        return {
            "language": language,
            "stdout": stdout,
            "stderr": stderr,
            "exitCode": status.get("StatusCode", state.get("ExitCode")),
            "timedOut": timed_out,
            "oomKilled": bool(state.get("OOMKilled")),
            "truncated": output.truncated,
            "durationMs": duration_ms,
        }
    finally:
        remove(container_id)
        if output is not None and output.is_alive():
            output.finish(timeout=0)


def sweep():
    """Removes run containers left by an earlier instance of this service (one replica)."""
    filters = urllib.parse.quote(json.dumps({"label": [f"{LABEL}=run"]}))
    try:
        for c in engine("GET", f"/containers/json?all=1&filters={filters}"):
            remove(c["Id"])
    except (EngineError, OSError) as e:
        print(f"code-runner: sweep skipped: {e}", file=sys.stderr, flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "code-runner/1"

    def send(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path in ("/", "/index.html"):
            with open(os.path.join(HERE, "index.html"), "rb") as f:
                self.send(200, f.read(), "text/html; charset=utf-8")
        elif path == "/languages":
            self.send(200, {"languages": sorted(LANGUAGES), "timeLimitSeconds": TIME_LIMIT, "memoryLimitBytes": MEMORY_BYTES})
        elif path == "/healthz":
            try:
                engine("GET", "/_ping", timeout=5, raw=True)
                self.send(200, {"ok": True})
            except (EngineError, OSError) as e:
                self.send(503, {"ok": False, "error": str(e)})
        else:
            self.send(404, {"error": f"no such path: {path}"})

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path != "/run":
            return self.send(404, {"error": "POST /run only"})
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_CODE_BYTES + 4096:
            return self.send(413, {"error": f"request larger than {MAX_CODE_BYTES} bytes of code"})
        try:
            request = json.loads(self.rfile.read(length) or b"null")
            language, code = request["language"], request["code"]
            if not isinstance(code, str) or not isinstance(language, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return self.send(400, {"error": 'send JSON {"language": "sh", "code": "echo hi"}'})
        if language not in LANGUAGES:
            return self.send(400, {"error": f"unknown language {language!r}; supported: {', '.join(sorted(LANGUAGES))}"})
        if "\0" in code or len(code.encode()) > MAX_CODE_BYTES:
            return self.send(400, {"error": f"code must be text of at most {MAX_CODE_BYTES} bytes"})
        try:
            result = run_snippet(language, code)
        except (EngineError, OSError) as e:
            return self.send(502, {"error": f"the Docker engine failed: {e}"})
        print(f"code-runner: {language} exit {result['exitCode']} in {result['durationMs']} ms"
              f"{' (timed out)' if result['timedOut'] else ''}{' (OOM)' if result['oomKilled'] else ''}", flush=True)
        self.send(200, result)

    def log_message(self, fmt, *args):
        pass  # one line per run is printed above; GETs (health checks) stay quiet


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1: stop on `docker stop`
    sweep()
    server = http.server.ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = True
    print(f"code-runner: listening on :{PORT}; engine {SOCKET}; limits {TIME_LIMIT:g} s, {MEMORY_BYTES >> 20} MiB", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
