"""A network of real `cityd` processes for the fault scenarios.

Each validator runs in its own network namespace with its own address, joined to the host by a
veth pair on a bridge. Every validator link passes through a link shim (linkshim.py) in the
namespace of the validator it dials into, so a scenario can slow, throttle or cut one pair of
validators without touching the others. Partitions use blackhole routes between namespaces (the
kernel's own path), packet loss uses iptables' statistic match inside one namespace, bandwidth
uses tc's tbf. Where namespaces cannot be made (not root, no `ip`), everything runs on 127.0.0.1
and partitions become shim cuts; the report says which.

Everything the cluster creates (processes, namespaces, the bridge, tmpfs mounts) is removed by
close(), which the runner calls in a finally block and on SIGINT/SIGTERM.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linkshim  # noqa: E402

DEV_PASSPHRASE = "citydev"
FAKETIME_LIBRARY = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def run(cmd, check=True, **kw):
    """Runs a command for its effect; an error names the command and what it printed."""
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stdout.strip()}")
    return done


def namespaces_available():
    """Whether this process may create network namespaces (root with iproute2)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False, "not root or no `ip`"
    probe = f"clprobe{os.getpid()}"
    made = run(["ip", "netns", "add", probe], check=False)
    if made.returncode != 0:
        return False, made.stdout.strip()
    run(["ip", "netns", "del", probe], check=False)
    return True, ""


def http_json(url, timeout=2.0):
    """GET url as JSON; None when the node does not answer in time (down, stopped, cut off)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return json.loads(reply.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


class Node:
    def __init__(self, index, home, ip, p2p_port, api_port, netns):
        self.index = index
        self.home = home
        self.ip = ip
        self.p2p_port = p2p_port
        self.api_port = api_port
        self.netns = netns
        self.process = None
        self.log = None
        self.peak_rss_kb = 0   # all resident pages
        self.peak_anon_kb = 0  # the process's own memory, without mapped files
        self.rss_mb = []  # (seconds since the cluster started, anonymous MB, RSS MB) every 10 s
        self.starts = 0
        self.tmpfs = None  # a mount point when the home lives on a small tmpfs
        self.join = False  # a validator joining the running chain (cityd start --join)

    @property
    def api(self):
        return f"http://{self.ip}:{self.api_port}"

    def running(self):
        return self.process is not None and self.process.poll() is None


class Cluster:
    made = 0  # clusters made by this process: each gets its own interface names

    def __init__(self, build_dir, out_dir, validators=4, use_netns=True, base_port=29000,
                 byzantine=None, spares=0):
        self.bin = os.path.join(build_dir, "bin")
        self.out = out_dir
        # Nodes 0..validators-1 are the genesis validators; the spares after them have homes
        # made as an operator joining the running chain would (init --join, genesis install
        # --joining) and start with --join: a set-validators change adds them.
        self.genesis_validators = validators
        self.n = validators + spares
        self.byzantine = set(byzantine or [])  # indexes that run cityd-byzantine
        self.use_netns = use_netns
        self.base_port = base_port
        Cluster.made += 1
        self.tag = f"{os.getpid() % 10000}{Cluster.made % 100}"  # names stay under 15 chars
        self.subnet = f"10.{77 + (os.getpid() + Cluster.made) % 100}.0"
        self.bridge = f"clbr{self.tag}"
        self.nodes = []
        self.shims = []  # (process, control socket) per destination validator
        self.netns_made = []
        self.closed = False
        self._sampler = None
        self.highest_height = 0  # the highest height any honest node has reported
        self.served = {}  # height -> the block hashes honest nodes reported as their tip
        self._stop_sampler = threading.Event()
        self.net_dir = os.path.join(out_dir, "net")

    # ---- set-up -----------------------------------------------------------------------

    def create(self):
        run([os.path.join(self.bin, "cityd"), "testnet", "--validators",
             str(self.genesis_validators), "--out", self.net_dir, "--base-port",
             str(self.base_port)])
        # The genesis the operators hold, which the audits check the nodes against.
        self.genesis_file = os.path.join(self.out, "genesis.json")
        shutil.copy(os.path.join(self.net_dir, "node0", "genesis.json"), self.genesis_file)
        host_ip = f"{self.subnet}.1" if self.use_netns else "127.0.0.1"
        self.host_ip = host_ip
        for i in range(self.n):
            ip = f"{self.subnet}.{10 + i}" if self.use_netns else "127.0.0.1"
            netns = f"cl{self.tag}n{i}" if self.use_netns else None
            self.nodes.append(Node(i, os.path.join(self.net_dir, f"node{i}"), ip,
                                   self.base_port + 2 * i, self.base_port + 2 * i + 1, netns))
        for node in self.nodes[self.genesis_validators:]:
            self._make_joining_home(node)
        if self.use_netns:
            self._make_namespaces()
        self._rewrite_configs()
        self._start_shims()
        self.created = time.monotonic()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _make_joining_home(self, node):
        cityd = os.path.join(self.bin, "cityd")
        run([cityd, "init", "--join", "--home", node.home, "--name", f"v{node.index}",
             "--p2p-address", f"{node.ip}:{node.p2p_port}", "--listen-host", node.ip,
             "--api-port", str(node.api_port)])
        genesis_hash = run([cityd, "genesis", "hash", "--genesis", self.genesis_file]).stdout
        genesis_hash = re.search(r"[0-9a-f]{64}", genesis_hash).group(0)
        peers = [{"name": f"v{other.index}", "public_key": self._validator_address(other),
                  "p2p_address": f"{other.ip}:{other.p2p_port}"}
                 for other in self.nodes[:self.genesis_validators]]
        peers_file = os.path.join(self.out, f"peers-for-node{node.index}.json")
        json.dump({"format": "cityledger-peers", "version": 1, "genesis_hash": genesis_hash,
                   "peers": peers}, open(peers_file, "w"))
        run([cityd, "genesis", "install", "--home", node.home, "--genesis", self.genesis_file,
             "--peers", peers_file, "--expect-hash", genesis_hash, "--joining"])
        node.join = True

    def _make_namespaces(self):
        run(["ip", "link", "add", self.bridge, "type", "bridge"])
        self.netns_made.append(("bridge", self.bridge))
        run(["ip", "addr", "add", f"{self.host_ip}/24", "dev", self.bridge])
        run(["ip", "link", "set", self.bridge, "up"])
        for node in self.nodes:
            run(["ip", "netns", "add", node.netns])
            self.netns_made.append(("netns", node.netns))
            host_side = f"clv{self.tag}x{node.index}"
            run(["ip", "link", "add", host_side, "type", "veth", "peer", "name", "eth0",
                 "netns", node.netns])
            run(["ip", "link", "set", host_side, "master", self.bridge])
            run(["ip", "link", "set", host_side, "up"])
            self.in_ns(node, ["ip", "addr", "add", f"{node.ip}/24", "dev", "eth0"])
            self.in_ns(node, ["ip", "link", "set", "eth0", "up"])
            self.in_ns(node, ["ip", "link", "set", "lo", "up"])

    def in_ns(self, node, cmd, check=True):
        prefix = ["ip", "netns", "exec", node.netns] if node.netns else []
        return run(prefix + cmd, check=check)

    def shim_port(self, source, dest):
        """The port in dest's namespace that relays the links source dials into dest."""
        return self.base_port + 1000 + 100 * dest + source

    def _rewrite_configs(self):
        for node in self.nodes:
            path = os.path.join(node.home, "config.toml")
            text = open(path).read()
            text = re.sub(r'listen_host = "127.0.0.1"', f'listen_host = "{node.ip}"', text)
            text = re.sub(r'allowed_hosts = "[^"]*"',
                          f'allowed_hosts = "localhost,127.0.0.1,::1,{node.ip}"', text)
            text = re.sub(r'rate_limit_exempt = "[^"]*"',
                          f'rate_limit_exempt = "127.0.0.1,::1,{self.host_ip}"', text)
            peers = []
            # Validators added later are not in the genesis: no node lists them (their own
            # dials make the links), and they list the genesis validators.
            for other in self.nodes[:self.genesis_validators]:
                if other.index == node.index:
                    continue
                key = self._validator_address(other)
                peers.append(f'[[p2p.peers]]\nkey = "{key}"\nhost = "{other.ip}"\n'
                             f'port = {self.shim_port(node.index, other.index)}\n')
            text = re.sub(r'\[\[p2p\.peers\]\]\n(key = .*\nhost = .*\nport = .*\n)+', '', text)
            text = text.replace("\n[api]", "\n" + "".join(peers) + "\n[api]", 1)
            open(path, "w").write(text)

    def _validator_address(self, node):
        if node.index >= self.genesis_validators:
            return json.load(open(os.path.join(node.home, "validator-record.json")))["public_key"]
        genesis = json.load(open(os.path.join(node.home, "genesis.json")))
        validators = genesis.get("validators")
        entry = validators[node.index]
        return entry["public_key"]

    def _start_shims(self):
        shim = os.path.join(os.path.dirname(os.path.abspath(__file__)), "linkshim.py")
        for dest in self.nodes:
            control = os.path.join(self.out, f"shim{dest.index}.sock")
            links = []
            for source in self.nodes:
                if source.index == dest.index:
                    continue
                links += ["--link", f"{source.index}>{dest.index}={dest.ip}:"
                                    f"{self.shim_port(source.index, dest.index)}="
                                    f"{dest.ip}:{dest.p2p_port}"]
            prefix = ["ip", "netns", "exec", dest.netns] if dest.netns else []
            process = subprocess.Popen(
                prefix + [sys.executable, shim, "serve", "--control", control] + links,
                stdout=subprocess.PIPE, stderr=open(os.path.join(self.out, f"shim{dest.index}.log"), "w"),
                text=True)
            line = process.stdout.readline()
            if "linkshim ready" not in line:
                raise RuntimeError(f"the link shim of node{dest.index} did not start: {line!r}")
            self.shims.append((process, control))

    # ---- processes ----------------------------------------------------------------------

    def start(self, i, skew_s=None):
        node = self.nodes[i]
        if node.running():
            return
        binary = "cityd-byzantine" if i in self.byzantine else "cityd"
        cmd = [os.path.join(self.bin, binary), "start", "--home", node.home]
        if node.join:
            cmd.append("--join")
        if binary == "cityd-byzantine":
            cmd = [os.path.join(self.bin, binary), "--home", node.home]
        env = dict(os.environ)
        if skew_s:
            # libfaketime preloaded into cityd itself (the faketime tool forks, so killing it
            # would leave the node running). Only the wall clock is skewed, as NTP drift does.
            env.update(LD_PRELOAD=FAKETIME_LIBRARY, FAKETIME=f"{skew_s:+d}s",
                       DONT_FAKE_MONOTONIC="1")
        if node.netns:
            cmd = ["ip", "netns", "exec", node.netns] + cmd
        node.log = open(os.path.join(self.out, f"node{i}.log"), "a")
        node.log.write(f"=== start {time.strftime('%H:%M:%S')} {' '.join(cmd)}\n")
        node.log.flush()
        node.process = subprocess.Popen(cmd, stdout=node.log, stderr=subprocess.STDOUT, env=env)
        node.starts += 1

    def start_all(self):
        """Starts the genesis validators (the spares start when a scenario says)."""
        for i in range(self.genesis_validators):
            self.start(i)

    def signal(self, i, sig):
        node = self.nodes[i]
        if node.running():
            node.process.send_signal(sig)

    def kill(self, i):
        node = self.nodes[i]
        if node.running():
            node.process.kill()
            node.process.wait()

    def exited(self, i):
        """The exit code of a node that stopped on its own, else None."""
        node = self.nodes[i]
        return None if node.process is None else node.process.poll()

    def _sample(self):
        """Each second: every node's RSS (for its peak) and height (for the highest any node
        has reported, which a node that crashed and restarted must come back to)."""
        while not self._stop_sampler.wait(1.0):
            for node in self.nodes:
                if not node.running():
                    continue
                status = self.status(node.index, timeout=0.5)
                if status and node.index not in self.byzantine:
                    height = status.get("height", 0)
                    self.highest_height = max(self.highest_height, height)
                    self.served.setdefault(height, set()).add(status.get("block_hash"))
                # RSS counts the pages of LevelDB's memory-mapped tables too, which grow with
                # the ledger and which the kernel reclaims at will; the bound is on the rest.
                try:
                    fields = {}
                    for line in open(f"/proc/{node.process.pid}/status"):
                        if line.startswith(("VmRSS:", "RssAnon:")):
                            fields[line.split(":")[0]] = int(line.split()[1])
                    node.peak_rss_kb = max(node.peak_rss_kb, fields.get("VmRSS", 0))
                    node.peak_anon_kb = max(node.peak_anon_kb, fields.get("RssAnon", 0))
                    second = int(time.monotonic() - self.created)
                    if not node.rss_mb or second - node.rss_mb[-1][0] >= 10:
                        node.rss_mb.append((second, round(fields.get("RssAnon", 0) / 1024),
                                            round(fields.get("VmRSS", 0) / 1024)))
                except (OSError, ValueError, IndexError):
                    pass

    # ---- the client view ----------------------------------------------------------------

    def status(self, i, timeout=2.0):
        return http_json(f"{self.nodes[i].api}/v1/status", timeout)

    def height(self, i):
        status = self.status(i)
        return None if status is None else status.get("height")

    def heights(self, nodes=None):
        return [self.height(i) for i in (range(self.n) if nodes is None else nodes)]

    def epoch(self, i):
        status = self.status(i)
        return None if status is None else status.get("epoch")

    def leader(self):
        """The index most answering nodes name as leader, or None."""
        votes = {}
        for i in range(self.n):
            status = self.status(i, timeout=1.0)
            if status and status.get("leader"):
                index = status["leader"].get("index")
                votes[index] = votes.get(index, 0) + 1
        return max(votes, key=votes.get) if votes else None

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.25)
        raise TimeoutError(f"{what} within {timeout:.0f} s")

    def cityctl(self, *args, node=0, timeout=600):
        env = dict(os.environ, CITYCTL_HOME=self.net_dir, CITYCTL_PASSPHRASE=DEV_PASSPHRASE)
        cmd = [os.path.join(self.bin, "cityctl"), "--node", self.nodes[node].api,
               "--timeout-ms", "20000"] + list(args)
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, timeout=timeout)

    # ---- the network --------------------------------------------------------------------

    def shim(self, dest, request):
        reply = linkshim.control(self.shims[dest][1], request)
        if not reply.get("ok"):
            raise RuntimeError(f"link shim of node{dest}: {reply}")
        return reply

    def set_links(self, pairs, settings):
        """Applies shim settings to the links of every (a, b) pair, in both directions."""
        for a, b in pairs:
            self.shim(b, {"links": [f"{a}>{b}"], "set": settings})
            self.shim(a, {"links": [f"{b}>{a}"], "set": settings})

    def reset_links(self):
        for dest in range(self.n):
            self.shim(dest, {"links": "*", "set": {
                "delay_ms": 0, "jitter_ms": 0, "rate_bytes_per_s": 0, "stall_probability": 0,
                "cut": False}})

    def partition(self, groups):
        """Cuts every link between different groups: blackhole routes between namespaces, or
        shim cuts on loopback."""
        side = {i: g for g, group in enumerate(groups) for i in group}
        pairs = [(a, b) for a in range(self.n) for b in range(a + 1, self.n)
                 if side.get(a) != side.get(b)]
        if not self.use_netns:
            self.set_links(pairs, {"cut": True})
            return
        for a, b in pairs:
            self.in_ns(self.nodes[a], ["ip", "route", "add", "blackhole", f"{self.nodes[b].ip}/32"])
            self.in_ns(self.nodes[b], ["ip", "route", "add", "blackhole", f"{self.nodes[a].ip}/32"])

    def heal(self):
        if not self.use_netns:
            self.set_links([(a, b) for a in range(self.n) for b in range(a + 1, self.n)],
                           {"cut": False})
            return
        for node in self.nodes:
            for other in self.nodes:
                if other.index != node.index:
                    self.in_ns(node, ["ip", "route", "del", "blackhole", f"{other.ip}/32"],
                               check=False)

    def link_down(self, i, down=True):
        """Takes a validator's only interface down (namespaces) or cuts all its links."""
        if not self.use_netns:
            self.set_links([(i, j) for j in range(self.n) if j != i], {"cut": down})
            return
        self.in_ns(self.nodes[i], ["ip", "link", "set", "eth0", "down" if down else "up"])

    def packet_loss(self, i, probability):
        """Drops this share of the validator's packets, both ways (iptables, namespaces only)."""
        if not self.use_netns:
            # A TCP reader sees a lost segment as a stall of about one retransmission timeout.
            self.set_links([(i, j) for j in range(self.n) if j != i],
                           {"stall_probability": probability, "stall_ms": 200})
            return "shim stalls"
        node = self.nodes[i]
        for chain in ("INPUT", "OUTPUT"):
            self.in_ns(node, ["iptables", "-D", chain, "-m", "statistic", "--mode", "random",
                              "--probability", "0.05", "-j", "DROP"], check=False)
        if probability > 0:
            for chain in ("INPUT", "OUTPUT"):
                self.in_ns(node, ["iptables", "-A", chain, "-m", "statistic", "--mode", "random",
                                  "--probability", str(probability), "-j", "DROP"])
        return "iptables"

    def bandwidth(self, i, kbit):
        """Caps a validator's link at kbit/s each way with tc's tbf (0 removes the cap): on
        its interface for what it sends, on the bridge's side for what it receives. On
        loopback the link shim throttles instead."""
        if not self.use_netns:
            self.set_links([(i, j) for j in range(self.n) if j != i],
                           {"rate_bytes_per_s": kbit * 125})
            return "shim throttle"
        host_side = f"clv{self.tag}x{i}"
        for where, dev in ((["ip", "netns", "exec", self.nodes[i].netns], "eth0"), ([], host_side)):
            run(where + ["tc", "qdisc", "del", "dev", dev, "root"], check=False)
            if kbit > 0:
                run(where + ["tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate",
                             f"{kbit}kbit", "burst", "32kbit", "latency", "400ms"])
        return "tc tbf"

    # ---- disks --------------------------------------------------------------------------

    def move_home_to_tmpfs(self, i, size_mb):
        """Moves a (stopped) validator's home onto a tmpfs of size_mb: its disk."""
        node = self.nodes[i]
        assert not node.running()
        saved = node.home + ".saved"
        os.rename(node.home, saved)
        os.makedirs(node.home, mode=0o700)
        run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", node.home])
        node.tmpfs = node.home
        run(["cp", "-a", saved + "/.", node.home])
        shutil.rmtree(saved)

    # ---- tear-down ----------------------------------------------------------------------

    def close(self):
        if self.closed:
            return
        self.closed = True
        self._stop_sampler.set()
        for node in self.nodes:
            if node.running():
                node.process.send_signal(signal.SIGCONT)
                node.process.kill()
                try:
                    node.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        for process, control in self.shims:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
        for node in self.nodes:
            if node.tmpfs:
                run(["umount", "-l", node.tmpfs], check=False)
        for kind, name in reversed(self.netns_made):
            if kind == "netns":
                # Anything still inside (a child a wrapper left behind) would keep it alive.
                pids = run(["ip", "netns", "pids", name], check=False).stdout.split()
                for pid in pids:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (OSError, ValueError):
                        pass
                run(["ip", "netns", "del", name], check=False)
            else:
                run(["ip", "link", "del", name], check=False)
