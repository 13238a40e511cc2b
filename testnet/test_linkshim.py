#!/usr/bin/env python3
"""Self-test for linkshim.py: a real shim process relaying to an in-process echo server.

    python3 testnet/test_linkshim.py        (exit 0 on success; about 5 s)
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from linkshim import control  # noqa: E402  (the import the runner uses)

SHIM = os.path.join(HERE, "linkshim.py")
IO_TIMEOUT = 10.0


class _Echo(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            while True:
                data = self.request.recv(65536)
                if not data:
                    return
                self.request.sendall(data)
        except OSError:
            pass


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_shim(control_path: str, links: dict[str, tuple[int, int]]) -> subprocess.Popen:
    """Starts `linkshim.py serve` and waits for its ready line; kills it on failure."""
    cmd = [sys.executable, SHIM, "serve", "--control", control_path, "--seed", "1"]
    for name, (lport, tport) in links.items():
        cmd += ["--link", f"{name}=127.0.0.1:{lport}=127.0.0.1:{tport}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 10.0)
        line = proc.stdout.readline() if ready else ""
        if line.strip() != "linkshim ready":
            raise RuntimeError(f"shim did not get ready (got {line!r}, rc={proc.poll()})")
    except BaseException:
        stop_process(proc)
        raise
    return proc


def stop_process(proc: subprocess.Popen) -> int | None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc.stdout:
        proc.stdout.close()
    return proc.returncode


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        part = sock.recv(min(65536, n - len(buf)))
        if not part:
            raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
        buf += part
    return bytes(buf)


def echo(sock: socket.socket, data: bytes) -> bytes:
    """Sends data from a thread while reading the echo, so big payloads cannot deadlock."""
    errors = []

    def send():
        try:
            sock.sendall(data)
        except OSError as e:
            errors.append(e)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    got = recv_exactly(sock, len(data))
    t.join(IO_TIMEOUT)
    if errors:
        raise errors[0]
    return got


def is_closed(sock: socket.socket, timeout: float = 3.0) -> bool:
    """True if the peer closes (EOF or reset) within timeout; False if data or silence."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


class LinkShimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="linkshim-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.echo_server = _EchoServer(("127.0.0.1", 0), _Echo)
        threading.Thread(target=cls.echo_server.serve_forever, daemon=True).start()
        cls.addClassCleanup(cls.echo_server.server_close)
        cls.addClassCleanup(cls.echo_server.shutdown)
        echo_port = cls.echo_server.server_address[1]
        cls.ports = {"a": free_port(), "b": free_port()}
        cls.ctl_path = os.path.join(cls.tmp, "ctl.sock")
        cls.shim = start_shim(cls.ctl_path, {n: (p, echo_port) for n, p in cls.ports.items()})
        cls.addClassCleanup(stop_process, cls.shim)

    def setUp(self):
        self.assertEqual(self.ctl({"links": "*", "reset": True}), {"ok": True})
        self.socks: list[socket.socket] = []

    def tearDown(self):
        for s in self.socks:
            s.close()

    def ctl(self, req: dict) -> dict:
        return control(self.ctl_path, req)

    def connect(self, link: str = "a") -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.ports[link]), timeout=IO_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socks.append(s)
        return s

    def set(self, links, **settings):
        self.assertEqual(self.ctl({"links": links, "set": settings}), {"ok": True})

    def stats(self, link: str = "a") -> dict:
        reply = self.ctl({"stats": True})
        self.assertTrue(reply["ok"], reply)
        return reply["links"][link]

    def wait_stats(self, pred, link: str = "a", timeout: float = 3.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            st = self.stats(link)
            if pred(st) or time.monotonic() > deadline:
                return st
            time.sleep(0.02)

    # ----------------------------------------------------------------------------------

    def test_round_trip_is_intact(self):
        data = os.urandom(1 << 20)
        self.assertEqual(echo(self.connect(), data), data)

    def test_delay_applies_each_way(self):
        self.set(["a"], delay_ms=100)
        s = self.connect()
        echo(s, b"warm")  # the onward connect is not what we measure
        t0 = time.monotonic()
        self.assertEqual(echo(s, b"ping"), b"ping")
        rtt = time.monotonic() - t0
        self.assertGreaterEqual(rtt, 0.2)
        self.assertLess(rtt, 1.0)

    def test_jitter_keeps_order(self):
        self.set(["a"], delay_ms=10, jitter_ms=10)
        s = self.connect()
        msgs = [b"%07d\n" % i for i in range(300)]
        got = []

        def reader():
            got.append(recv_exactly(s, sum(map(len, msgs))))

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        for m in msgs:  # small spaced writes, so the shim sees many separate chunks
            s.sendall(m)
            time.sleep(0.001)
        t.join(IO_TIMEOUT)
        self.assertEqual(got, [b"".join(msgs)])

    def test_rate_throttles(self):
        self.set(["a"], rate_bytes_per_s=200_000)
        data = os.urandom(400_000)
        t0 = time.monotonic()
        self.assertEqual(echo(self.connect(), data), data)
        took = time.monotonic() - t0
        # 400 KB through two pipelined 200 KB/s directions: ~2 s.
        self.assertGreaterEqual(took, 1.5)
        self.assertLess(took, 8.0)

    def test_stall_holds_the_stream_without_corrupting_it(self):
        self.set(["a"], stall_probability=1.0, stall_ms=150)
        s = self.connect()
        t0 = time.monotonic()
        self.assertEqual(echo(s, b"x" * 100), b"x" * 100)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)  # stalled once per direction

    def test_cut_closes_and_refuses_then_uncut_allows(self):
        a, b = self.connect("a"), self.connect("b")
        self.assertEqual(echo(a, b"hello"), b"hello")
        self.assertEqual(echo(b, b"hello"), b"hello")
        self.assertEqual(self.stats("a")["connections"], 1)

        self.set(["a"], cut=True)
        self.assertTrue(is_closed(a), "open connection survived the cut")
        late = self.connect("a")
        self.assertTrue(is_closed(late), "new connection accepted through a cut link")
        st = self.stats("a")
        self.assertEqual(st["connections"], 0)
        self.assertGreaterEqual(st["rejected"], 1)
        self.assertTrue(st["cut"])
        self.assertEqual(echo(b, b"still up"), b"still up")  # other links unaffected

        self.set(["a"], cut=False)
        self.assertEqual(echo(self.connect("a"), b"back"), b"back")

    def test_bad_requests_change_nothing(self):
        self.set(["b"], delay_ms=5)
        before = self.ctl({"stats": True})["links"]
        bad = [
            {"links": ["a"], "set": {"delay": 10}},                      # unknown setting
            {"links": ["a"], "set": {"delay_ms": "10"}},                 # wrong type
            {"links": ["a"], "set": {"delay_ms": True}},                 # bool is not a number
            {"links": ["a"], "set": {"delay_ms": -1}},
            {"links": ["a"], "set": {"delay_ms": float("nan")}},
            {"links": ["a"], "set": {"cut": 1}},
            {"links": ["a"], "set": {"stall_probability": 1.5}},
            {"links": ["a"], "set": {"reorder_window": 2.5}},
            {"links": ["a"], "set": {"delay_ms": 50, "bogus": 1}},       # half valid
            {"links": ["a", "nope"], "set": {"delay_ms": 50}},           # half valid
            {"links": "a", "set": {"delay_ms": 50}},
            {"set": {"delay_ms": 50}},                                   # no links
            {"links": "*", "set": [1]},
            {"links": "*", "set": {}, "extra": 1},
            {},
        ]
        for req in bad:
            with self.subTest(req=req):
                reply = self.ctl(req)
                self.assertFalse(reply["ok"])
                self.assertIsInstance(reply["error"], str)
        self.assertEqual(self.ctl({"stats": True})["links"], before)

        # Malformed and oversized lines on the raw socket: error replies, shim lives on.
        with socket.socket(socket.AF_UNIX) as c:
            c.settimeout(IO_TIMEOUT)
            c.connect(self.ctl_path)
            f = c.makefile("rwb")
            for line in (b"{not json\n", b"[1, 2]\n", b"\xff\xfe\n", b"\n"):
                f.write(line)
                f.flush()
                self.assertFalse(json.loads(f.readline())["ok"], line)
            f.write(b'{"stats": true}\n')
            f.flush()
            self.assertTrue(json.loads(f.readline())["ok"])
            f.write(b"x" * (100 * 1024) + b"\n")
            f.flush()
            self.assertFalse(json.loads(f.readline())["ok"])
            f.close()
        self.assertEqual(self.ctl({"stats": True})["links"], before)

    def test_stats_count_bytes_and_connections(self):
        st0 = self.stats("a")
        s = self.connect("a")
        self.assertEqual(echo(s, b"z" * 10_000), b"z" * 10_000)
        st = self.wait_stats(lambda st: st["bytes_down"] - st0["bytes_down"] >= 10_000)
        self.assertEqual(st["bytes_up"] - st0["bytes_up"], 10_000)
        self.assertEqual(st["bytes_down"] - st0["bytes_down"], 10_000)
        self.assertEqual(st["accepted"] - st0["accepted"], 1)
        self.assertEqual(st["connections"], 1)
        self.assertEqual(st["delay_ms"], 0)
        self.assertEqual(st["stall_ms"], 200)
        s.close()
        self.assertEqual(self.wait_stats(lambda st: st["connections"] == 0)["connections"], 0)

        # Selecting links: a setting on b leaves a alone; a filtered stats reply.
        reply = self.ctl({"links": ["b"], "set": {"delay_ms": 7}, "stats": True})
        self.assertEqual(list(reply["links"]), ["b"])
        self.assertEqual(reply["links"]["b"]["delay_ms"], 7)
        self.assertEqual(self.stats("a")["delay_ms"], 0)

    def test_reorder_scrambles_but_does_not_lose_bytes(self):
        self.set(["a"], reorder_window=4)
        s = self.connect()
        blocks = [bytes([i]) * 1000 for i in range(16)]
        got = []
        t = threading.Thread(target=lambda: got.append(recv_exactly(s, 16_000)), daemon=True)
        t.start()
        for blk in blocks:
            s.sendall(blk)
            time.sleep(0.003)
        t.join(IO_TIMEOUT)
        self.assertEqual(len(got), 1)
        self.assertEqual(sorted(got[0]), sorted(b"".join(blocks)))
        self.assertTrue(self.ctl({"stats": True})["ok"])

    def test_ctl_command_line(self):
        ok = subprocess.run([sys.executable, SHIM, "ctl", "--control", self.ctl_path,
                             '{"links": "*", "set": {"jitter_ms": 3}}'],
                            capture_output=True, text=True, timeout=IO_TIMEOUT)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertEqual(json.loads(ok.stdout), {"ok": True})
        self.assertEqual(self.stats("b")["jitter_ms"], 3)
        bad = subprocess.run([sys.executable, SHIM, "ctl", "--control", self.ctl_path,
                              '{"links": "*", "set": {"jitter": 3}}'],
                             capture_output=True, text=True, timeout=IO_TIMEOUT)
        self.assertEqual(bad.returncode, 1)
        self.assertFalse(json.loads(bad.stdout)["ok"])


class LinkShimLifecycleTest(unittest.TestCase):
    def test_sigterm_closes_connections_and_removes_control_socket(self):
        tmp = tempfile.mkdtemp(prefix="linkshim-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        with socket.socket() as target:
            target.bind(("127.0.0.1", 0))
            target.listen()
            lport = free_port()
            ctl_path = os.path.join(tmp, "ctl.sock")
            proc = start_shim(ctl_path, {"x": (lport, target.getsockname()[1])})
            self.addCleanup(stop_process, proc)
            self.assertTrue(os.path.exists(ctl_path))
            with socket.create_connection(("127.0.0.1", lport), timeout=IO_TIMEOUT) as c:
                target.settimeout(IO_TIMEOUT)
                onward, _ = target.accept()
                with onward:
                    c.sendall(b"hi")
                    self.assertEqual(recv_exactly(onward, 2), b"hi")
                    proc.send_signal(signal.SIGTERM)
                    self.assertEqual(proc.wait(5), 0)
                    self.assertTrue(is_closed(c))
                    self.assertTrue(is_closed(onward))
            self.assertFalse(os.path.exists(ctl_path))

    def test_second_shim_will_not_steal_a_live_control_socket(self):
        tmp = tempfile.mkdtemp(prefix="linkshim-")
        self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
        ctl_path = os.path.join(tmp, "ctl.sock")
        first = start_shim(ctl_path, {"x": (free_port(), free_port())})
        self.addCleanup(stop_process, first)
        second = subprocess.run([sys.executable, SHIM, "serve", "--control", ctl_path,
                                 "--link", f"y=127.0.0.1:{free_port()}=127.0.0.1:1"],
                                capture_output=True, text=True, timeout=IO_TIMEOUT)
        self.assertEqual(second.returncode, 2)
        self.assertNotIn("linkshim ready", second.stdout)
        self.assertTrue(control(ctl_path, {"stats": True})["ok"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
