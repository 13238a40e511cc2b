#!/usr/bin/env python3
"""linkshim: a userspace TCP relay that adds latency, jitter, throttling and cuts.

The kernel we test on has no `netem` qdisc, so fault scenarios put this relay between
validators instead: validator A dials the shim's listener for link "a-b", the shim dials B,
and every byte passes through a per-direction queue where it can be held back, slowed down
or dropped with the connection. One process serves many named links; a Unix control socket
changes their settings while traffic flows.

    linkshim.py serve --control CTL --link NAME=LHOST:LPORT=THOST:TPORT [--link ...]
    linkshim.py ctl --control CTL '{"links": "*", "set": {"delay_ms": 50}}'
    linkshim.py ctl --control CTL '{"stats": true}'

Control protocol (one JSON object per line in, one JSON line out):
    {"links": [NAME, ...] | "*", "set": {SETTING: VALUE, ...}}   -> {"ok": true}
    {"links": [NAME, ...] | "*", "reset": true}                  -> {"ok": true}
    {"stats": true [, "links": ...]}
                          -> {"ok": true, "links": {NAME: {counters..., settings...}}}
    ("set"/"reset" may be combined with "stats"; the reply then shows the new state.)
    anything invalid      -> {"ok": false, "error": "..."} and nothing changes.

Settings (all 0/false by default, which makes the link transparent): delay_ms, jitter_ms,
rate_bytes_per_s, stall_probability, stall_ms (default 200), cut, reorder_window.

Standard library only (Python 3.11); importable: `from linkshim import control`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import random
import signal
import socket
import sys
import time
from typing import Any

CHUNK = 64 * 1024
# Per-direction cap on bytes held by the shim. Without it a delayed or throttled link
# would buffer whatever a fast sender pushes; with it, the sender feels TCP backpressure
# exactly as it would behind a slow real link.
QUEUE_CAP = 4 * 1024 * 1024
CONTROL_LINE_CAP = 64 * 1024
CONNECT_TIMEOUT_S = 10.0
# Token-bucket burst as a fraction of a second's worth of bytes: small enough that a
# throttled link never emits a visible burst, large enough to avoid tiny writes.
BURST_S = 0.05
# How long the reorder writer waits for the rest of a group before shuffling what it has;
# otherwise a trailing partial group would sit in the queue forever.
REORDER_GATHER_S = 0.05

_EOF = None  # queue marker: the source side closed; close the connection after flushing


# --------------------------------------------------------------------------------------
# Settings


@dataclasses.dataclass
class Settings:
    delay_ms: float = 0
    jitter_ms: float = 0
    rate_bytes_per_s: float = 0
    stall_probability: float = 0
    stall_ms: float = 200
    cut: bool = False
    reorder_window: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_setting(name: str, value: Any) -> str | None:
    """Returns an error message for a bad (name, value), or None if acceptable."""
    fields = {f.name for f in dataclasses.fields(Settings)}
    if name not in fields:
        return f"unknown setting {name!r} (known: {', '.join(sorted(fields))})"
    # bool is an int subclass in Python; `"delay_ms": true` is a caller bug, not 1 ms.
    if name == "cut":
        if not isinstance(value, bool):
            return "cut must be true or false"
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{name} must be a number"
    if not math.isfinite(value) or value < 0:
        return f"{name} must be finite and >= 0"
    if name == "stall_probability" and value > 1:
        return "stall_probability must be between 0 and 1"
    if name == "reorder_window" and not isinstance(value, int):
        return "reorder_window must be an integer"
    return None


# --------------------------------------------------------------------------------------
# Relay


class Direction:
    """One half of a relayed connection: its queue, pacing state and backpressure gate."""

    def __init__(self, name: str):
        self.name = name  # "up" (client -> target) or "down" (target -> client)
        self.queue: asyncio.Queue = asyncio.Queue()
        self.queued = 0
        self.space = asyncio.Event()
        self.space.set()
        # Delivery time of the last chunk scheduled: jitter may draw a shorter delay for a
        # later chunk, but TCP never hands a reader byte N+1 before byte N.
        self.last_deliver_at = 0.0
        self.tokens = 0.0
        self.tokens_at: float | None = None


class Connection:
    def __init__(self, link: "Link", client_r: asyncio.StreamReader,
                 client_w: asyncio.StreamWriter):
        self.link = link
        self.client_r = client_r
        self.client_w = client_w
        self.target_w: asyncio.StreamWriter | None = None
        self.done = asyncio.Event()
        self.aborted = False

    def abort(self) -> None:
        """Drops the connection now, queued bytes included: what a cut link does."""
        self.aborted = True
        self.done.set()
        for w in (self.client_w, self.target_w):
            if w is not None:
                w.transport.abort()

    async def run(self) -> None:
        tasks: list[asyncio.Task] = []
        try:
            connect = asyncio.ensure_future(asyncio.wait_for(
                asyncio.open_connection(self.link.target_host, self.link.target_port),
                CONNECT_TIMEOUT_S))
            waiter = asyncio.ensure_future(self.done.wait())
            await asyncio.wait({connect, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if not connect.done():
                connect.cancel()  # cut (or shutdown) while dialing onward
                await asyncio.gather(connect, return_exceptions=True)
                return
            try:
                target_r, self.target_w = connect.result()
            except (OSError, asyncio.TimeoutError) as e:
                self.link.shim.log(f"link {self.link.name}: cannot reach target: {e}",
                                   verbose=True)
                return
            if self.done.is_set():
                return
            _nodelay(self.target_w)
            up, down = Direction("up"), Direction("down")
            tasks = [
                asyncio.create_task(self._guard(self._read(self.client_r, up))),
                asyncio.create_task(self._guard(self._write(up, self.target_w))),
                asyncio.create_task(self._guard(self._read(target_r, down))),
                asyncio.create_task(self._guard(self._write(down, self.client_w))),
            ]
            await self.done.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for w in (self.client_w, self.target_w):
                if w is None:
                    continue
                if self.aborted:
                    w.transport.abort()
                else:
                    w.close()  # flushes what the writer already accepted, then FIN
            self.link.conns.discard(self)

    async def _guard(self, coro) -> None:
        # Any failure of one pump ends the whole connection: a relay that keeps half a
        # conversation alive would hide the fault the scenario is trying to show.
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except (OSError, ConnectionError, EOFError):
            self.done.set()
        except Exception as e:  # a bug in the shim: log it, but keep serving other links
            self.link.shim.log(f"link {self.link.name}: relay error: {e!r}")
            self.done.set()

    async def _read(self, src: asyncio.StreamReader, d: Direction) -> None:
        while True:
            while d.queued >= QUEUE_CAP:
                d.space.clear()
                await d.space.wait()
            data = await src.read(CHUNK)
            if not data:
                d.queue.put_nowait(_EOF)
                return
            d.queued += len(data)
            d.queue.put_nowait((self.link.schedule(d), data))

    async def _write(self, d: Direction, dst: asyncio.StreamWriter) -> None:
        rng = self.link.shim.rng
        while True:
            item = await d.queue.get()
            if item is _EOF:
                break
            batch = [item]
            eof = False
            window = self.link.settings.reorder_window
            if window > 1:
                while len(batch) < window:
                    try:
                        nxt = await asyncio.wait_for(d.queue.get(), REORDER_GATHER_S)
                    except asyncio.TimeoutError:
                        break
                    if nxt is _EOF:
                        eof = True
                        break
                    batch.append(nxt)
                rng.shuffle(batch)
            for deliver_at, data in batch:
                wait = deliver_at - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                await self._send(d, dst, data)
            if eof:
                break
        # The source closed and everything it sent has been delivered: close both sides.
        self.done.set()

    async def _send(self, d: Direction, dst: asyncio.StreamWriter, data: bytes) -> None:
        view = memoryview(data)
        while view:
            rate = self.link.settings.rate_bytes_per_s
            if rate > 0:
                piece = view[:max(1, min(CHUNK, int(rate * BURST_S)))]
                await self._throttle(d, len(piece), rate)
            else:
                piece = view
                d.tokens_at = None  # re-enabling a rate later starts from a full bucket
            dst.write(piece)
            await dst.drain()
            view = view[len(piece):]
            d.queued -= len(piece)
            if d.queued < QUEUE_CAP:
                d.space.set()
            if d.name == "up":
                self.link.bytes_up += len(piece)
            else:
                self.link.bytes_down += len(piece)

    @staticmethod
    async def _throttle(d: Direction, n: int, rate: float) -> None:
        # Token bucket that may go into debt: take n tokens, then sleep off any deficit.
        now = time.monotonic()
        burst = max(1.0, rate * BURST_S)
        if d.tokens_at is None:
            d.tokens = burst
        else:
            d.tokens = min(burst, d.tokens + (now - d.tokens_at) * rate)
        d.tokens_at = now
        d.tokens -= n
        if d.tokens < 0:
            await asyncio.sleep(-d.tokens / rate)


def _nodelay(w: asyncio.StreamWriter) -> None:
    # The shim writes each chunk as soon as it is due; Nagle plus delayed ACKs would add
    # up to ~40 ms of delay nobody asked for.
    sock = w.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


class Link:
    def __init__(self, shim: "Shim", name: str, listen: tuple[str, int],
                 target: tuple[str, int]):
        self.shim = shim
        self.name = name
        self.listen_host, self.listen_port = listen
        self.target_host, self.target_port = target
        self.settings = Settings()
        self.conns: set[Connection] = set()
        self.handlers: set[asyncio.Task] = set()
        self.server: asyncio.base_events.Server | None = None
        self.accepted = 0
        self.rejected = 0
        self.bytes_up = 0
        self.bytes_down = 0

    def schedule(self, d: Direction) -> float:
        """The monotonic time a chunk read now may be delivered."""
        s = self.settings
        delay = s.delay_ms
        if s.jitter_ms:
            delay = max(0.0, delay + self.shim.rng.uniform(-s.jitter_ms, s.jitter_ms))
        if s.stall_probability and self.shim.rng.random() < s.stall_probability:
            delay += s.stall_ms
        at = max(time.monotonic() + delay / 1000.0, d.last_deliver_at)
        d.last_deliver_at = at
        return at

    def apply(self, changes: dict[str, Any]) -> None:
        for k, v in changes.items():
            setattr(self.settings, k, v)
        if changes.get("cut"):
            for c in list(self.conns):
                c.abort()

    def stats(self) -> dict[str, Any]:
        return {"connections": len(self.conns), "accepted": self.accepted,
                "rejected": self.rejected, "bytes_up": self.bytes_up,
                "bytes_down": self.bytes_down, **self.settings.as_dict()}

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, self.listen_host,
                                                 self.listen_port)

    async def _accept(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        # Never let this coroutine be cancelled from outside: in Python 3.11 asyncio logs a
        # spurious error for a cancelled client_connected_cb. Shutdown aborts connections
        # instead, and the handler returns on its own.
        self.handlers.add(asyncio.current_task())
        try:
            if self.settings.cut or self.shim.stopping:
                self.rejected += 1
                w.transport.abort()
                return
            self.accepted += 1
            _nodelay(w)
            conn = Connection(self, r, w)
            self.conns.add(conn)
            await conn.run()
        finally:
            self.handlers.discard(asyncio.current_task())


# --------------------------------------------------------------------------------------
# Control


class Shim:
    def __init__(self, links: list[tuple[str, tuple[str, int], tuple[str, int]]],
                 control_path: str, seed: int | None, verbose: bool):
        self.links = {name: Link(self, name, l, t) for name, l, t in links}
        self.control_path = control_path
        self.rng = random.Random(seed)
        self.verbose = verbose
        self.stopping = False
        self.control_clients: dict[asyncio.Task, asyncio.StreamWriter] = {}

    def log(self, msg: str, verbose: bool = False) -> None:
        if verbose and not self.verbose:
            return
        print(f"linkshim: {msg}", file=sys.stderr, flush=True)

    def handle(self, req: Any) -> dict[str, Any]:
        """Validates a whole request before applying any of it, so errors change nothing."""
        if not isinstance(req, dict):
            return _err("request must be a JSON object")
        unknown = set(req) - {"links", "set", "reset", "stats"}
        if unknown:
            return _err(f"unknown request keys: {sorted(unknown)}")
        changes = req.get("set")
        reset = req.get("reset", False)
        stats = req.get("stats", False)
        if not isinstance(reset, bool) or not isinstance(stats, bool):
            return _err("reset and stats must be true or false")
        if changes is None and not reset and not stats:
            return _err('nothing to do: give "set", "reset" or "stats"')
        if (changes is not None or reset) and "links" not in req:
            return _err('"set" and "reset" need "links": "*" or a list of link names')
        targets = list(self.links.values())
        if "links" in req:
            sel = req["links"]
            if isinstance(sel, list) and all(isinstance(n, str) for n in sel):
                missing = [n for n in sel if n not in self.links]
                if missing:
                    return _err(f"unknown links: {missing}")
                targets = [self.links[n] for n in dict.fromkeys(sel)]
            elif sel != "*":
                return _err('"links" must be "*" or a list of link names')
        if changes is not None:
            if not isinstance(changes, dict):
                return _err('"set" must be an object')
            for k, v in changes.items():
                problem = _check_setting(k, v)
                if problem:
                    return _err(problem)
        if changes is not None or reset:
            for link in targets:
                if reset:
                    link.apply({**Settings().as_dict(), **(changes or {})})
                else:
                    link.apply(changes)
            # Verbose only: a parent that pipes stderr without reading it must never be
            # able to stall the event loop (and so every link) on a full pipe.
            self.log(f"{[l.name for l in targets]}: "
                     f"{'reset ' if reset else ''}{json.dumps(changes or {})}", verbose=True)
        reply: dict[str, Any] = {"ok": True}
        if stats:
            reply["links"] = {l.name: l.stats() for l in targets}
        return reply

    async def _control_client(self, r: asyncio.StreamReader,
                              w: asyncio.StreamWriter) -> None:
        me = asyncio.current_task()
        self.control_clients[me] = w
        try:
            while True:
                try:
                    line = await r.readline()
                except ValueError:  # longer than CONTROL_LINE_CAP
                    # The rest of the line is still coming and would parse as garbage;
                    # answer once and hang up rather than guess where it ends.
                    w.write(_line(_err(f"request line over {CONTROL_LINE_CAP} bytes")))
                    await w.drain()
                    return
                if not line:
                    return
                try:
                    reply = self.handle(json.loads(line))
                except (ValueError, UnicodeDecodeError) as e:
                    reply = _err(f"bad JSON: {e}")
                # Let aborted transports actually close (call_soon) before saying ok, so
                # "cut" is already in effect when the caller reads the reply.
                await asyncio.sleep(0)
                w.write(_line(reply))
                await w.drain()
        except (OSError, ConnectionError):
            pass
        finally:
            self.control_clients.pop(me, None)
            w.close()

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        control = None
        try:
            _claim_control_path(self.control_path)
            control = await asyncio.start_unix_server(self._control_client,
                                                      self.control_path,
                                                      limit=CONTROL_LINE_CAP)
            for link in self.links.values():
                await link.start()
                self.log(f"link {link.name}: {link.listen_host}:{link.listen_port} -> "
                         f"{link.target_host}:{link.target_port}", verbose=True)
        except OSError as e:
            self.log(f"cannot start: {e}")
            await self._close(control, remove_control=control is not None)
            return 2
        print("linkshim ready", flush=True)
        await stop.wait()
        await self._close(control, remove_control=True)
        return 0

    async def _close(self, control, remove_control: bool) -> None:
        self.stopping = True
        servers = [l.server for l in self.links.values() if l.server] + \
            ([control] if control else [])
        for s in servers:
            s.close()
        handlers = []
        for link in self.links.values():
            for c in list(link.conns):
                c.abort()
            handlers.extend(link.handlers)
        # Ending a control client's transport makes its readline return EOF, so its handler
        # finishes by itself (see Link._accept for why handlers are never cancelled).
        for task, w in list(self.control_clients.items()):
            w.transport.abort()
            handlers.append(task)
        if handlers:
            await asyncio.wait(handlers, timeout=2.0)
        if remove_control:
            try:
                os.unlink(self.control_path)
            except FileNotFoundError:
                pass


def _claim_control_path(path: str) -> None:
    """Removes a stale socket file left by a killed shim, but never steals a live one."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        os.unlink(path)
        return
    except OSError as e:
        raise OSError(f"control path {path} exists and is not usable: {e}") from e
    finally:
        probe.close()
    raise OSError(f"control socket {path} is in use by another process")


def _err(msg: str) -> dict[str, Any]:
    return {"ok": False, "error": msg}


def _line(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


# --------------------------------------------------------------------------------------
# Client helper and CLI


def control(path: str, request: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Sends one request to a running shim's control socket and returns its reply.

    Raises OSError if the shim cannot be reached and ValueError if it answers garbage.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(_line(request))
        buf = b""
        while not buf.endswith(b"\n"):
            part = s.recv(65536)
            if not part:
                break
            buf += part
    if not buf:
        raise OSError("linkshim closed the control connection without a reply")
    return json.loads(buf)


def _parse_endpoint(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    host = host.strip("[]")  # allow [::1]:9000
    p = int(port)
    if not 0 < p < 65536:
        raise ValueError(f"port out of range in {text!r}")
    return host, p


def _parse_link(text: str) -> tuple[str, tuple[str, int], tuple[str, int]]:
    parts = text.split("=")
    if len(parts) != 3 or not parts[0] or parts[0] == "*":
        raise argparse.ArgumentTypeError(
            f"--link wants NAME=LHOST:LPORT=THOST:TPORT, got {text!r}")
    try:
        return parts[0], _parse_endpoint(parts[1]), _parse_endpoint(parts[2])
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="linkshim", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("serve", help="relay links until SIGTERM/SIGINT")
    sp.add_argument("--control", required=True, help="Unix socket path for control")
    sp.add_argument("--link", action="append", type=_parse_link, required=True,
                    metavar="NAME=LHOST:LPORT=THOST:TPORT")
    sp.add_argument("--seed", type=int, help="seed jitter/stall/reorder randomness")
    sp.add_argument("-v", "--verbose", action="store_true")
    cp = sub.add_parser("ctl", help="send one JSON request, print the reply")
    cp.add_argument("--control", required=True)
    cp.add_argument("request", help='e.g. \'{"links": "*", "set": {"delay_ms": 50}}\'')
    args = ap.parse_args(argv)

    if args.cmd == "serve":
        names = [l[0] for l in args.link]
        if len(set(names)) != len(names):
            ap.error("link names must be unique")
        shim = Shim(args.link, args.control, args.seed, args.verbose)
        return asyncio.run(shim.serve())

    try:
        request = json.loads(args.request)
    except ValueError as e:
        print(f"linkshim: request is not JSON: {e}", file=sys.stderr)
        return 2
    try:
        reply = control(args.control, request)
    except (OSError, ValueError) as e:
        print(f"linkshim: {e}", file=sys.stderr)
        return 2
    print(json.dumps(reply, sort_keys=True))
    return 0 if reply.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
