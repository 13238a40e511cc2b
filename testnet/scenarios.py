"""The fault scenarios: each is a perturbation script run while the mixed load runs.

A scenario gets a Run (the cluster, its time budget, what it has noted). Each time it undoes a
fault (restarts a node, heals a partition) it calls run.fault_over(), which measures how long
every honest node takes to commit two blocks past the highest height any of them held at that
moment: the recovery time, which includes a restarted node's catch-up. A scenario may also
assert things of its own (run.expect), e.g. that a majority partition commits nothing.
"""

import json
import os
import signal
import subprocess
import time

from cluster import http_json as cluster_http_json


class Run:
    def __init__(self, cluster, seconds, honest, recovery_bound):
        self.cluster = cluster
        self.seconds = seconds
        self.honest = honest
        self.recovery_bound = recovery_bound
        self.started = time.monotonic()
        self.recoveries = []  # seconds, one per fault_over(); None where the bound passed
        self.notes = []
        self.expectations = []  # (name, ok, detail)
        self.rate = None  # a scenario may choose the load's rate

    def elapsed(self):
        return time.monotonic() - self.started

    def remaining(self):
        return self.seconds - self.elapsed()

    def sleep(self, seconds):
        time.sleep(max(0.0, seconds))

    def note(self, text):
        self.notes.append(f"{self.elapsed():6.1f}s {text}")

    def fault_over(self):
        c = self.cluster
        start = time.monotonic()
        # Past the highest height any honest node ever reported, not only the ones answering
        # now: a network restarted from scratch has recovered only when it is back beyond it.
        target = max([c.highest_height] + [c.height(i) or 0 for i in self.honest]) + 2
        try:
            c.wait_for(lambda: all((c.height(i) or 0) >= target for i in self.honest),
                       self.recovery_bound, f"every honest node commits {target}")
            self.recoveries.append(time.monotonic() - start)
            self.note(f"fault over; all honest nodes at {target} after "
                      f"{self.recoveries[-1]:.1f} s")
        except TimeoutError as error:
            self.recoveries.append(None)
            self.note(f"fault over; {error}")

    def expect(self, name, ok, detail):
        self.expectations.append((name, bool(ok), detail))

    def leader(self, exclude=()):
        leader = self.cluster.leader()
        if leader is None or leader in exclude:
            return None
        return leader


def f_of(n):
    return (n - 1) // 3


# ---- the scenarios ------------------------------------------------------------------------

def leader_crash_loop(run):
    """Kill -9 the current leader every few seconds, restarting it after a second."""
    c = run.cluster
    kills = 0
    while run.remaining() > 12:
        leader = run.leader()
        if leader is not None:
            c.kill(leader)
            kills += 1
            run.note(f"killed leader node{leader}")
            run.sleep(1)
            c.start(leader)
            run.fault_over()
        run.sleep(max(0, 5 - (run.elapsed() % 5)))
    run.expect("leaders killed", kills >= 2, f"{kills} leaders killed")


def rolling_restarts(run):
    """Stop (SIGTERM) and restart each validator in turn, waiting for it to catch up; round
    after round until the time is up."""
    c = run.cluster
    order = [i for _ in range(100) for i in range(c.n)]
    for turn, i in enumerate(order):
        if turn >= c.n and run.remaining() < 8:
            break
        c.signal(i, signal.SIGTERM)
        try:
            c.nodes[i].process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            run.expect(f"node{i} stops on SIGTERM", False, "still running after 15 s")
            c.kill(i)
        code = c.nodes[i].process.returncode
        run.expect(f"node{i} exits 0 on SIGTERM", code == 0, f"exit code {code}")
        run.sleep(1)
        c.start(i)
        run.fault_over()


def f_down_catch_up(run):
    """f validators down for most of the run, then back: they catch up under load."""
    c = run.cluster
    down = list(range(c.n - f_of(c.n), c.n))
    for i in down:
        c.kill(i)
    run.note(f"killed {down}")
    before = max(c.height(i) or 0 for i in range(c.n) if i not in down)
    run.sleep(run.seconds * 0.6)
    during = max(c.height(i) or 0 for i in range(c.n) if i not in down)
    run.expect("the others commit while f are down", during > before + 5,
               f"height {before} -> {during}")
    for i in down:
        c.start(i)
    run.note(f"restarted {down}, {during} blocks behind")
    run.fault_over()


def partition_scenario(minority):
    def scenario(run):
        c = run.cluster
        if minority:
            small = list(range(c.n - f_of(c.n), c.n))
            groups = [list(range(c.n - f_of(c.n))), small]
        else:
            half = c.n // 2
            groups = [list(range(half)), list(range(half, c.n))]
        c.partition(groups)
        run.note(f"partitioned {groups}")
        run.sleep(3)
        h0 = c.heights()
        run.sleep(run.seconds * 0.5)
        h1 = c.heights()
        if minority:
            big = groups[0]
            run.expect("the majority side commits", all((h1[i] or 0) > (h0[i] or 0) + 5
                                                         for i in big), f"{h0} -> {h1}")
            run.expect("the minority side commits nothing",
                       all(h1[i] == h0[i] for i in groups[1]), f"{h0} -> {h1}")
        else:
            run.expect("no side commits", h0 == h1, f"{h0} -> {h1}")
        c.heal()
        run.note("healed")
        run.fault_over()
    return scenario


def flapping_link(run):
    """One validator's link goes down and up every 2 s."""
    c = run.cluster
    i = 1
    flaps = 0
    while run.remaining() > 12:
        c.link_down(i, True)
        run.sleep(2)
        c.link_down(i, False)
        run.sleep(2)
        flaps += 1
    run.note(f"{flaps} flaps of node{i}'s link")
    run.fault_over()


def degrade_one_validator(run, what, apply, undo):
    """Applies a lasting fault to the last validator for the run, lifting it 10 s before the
    end so the recovery is measured."""
    i = run.cluster.n - 1
    how = apply(i)
    run.note(f"node{i} {what}" + (f" ({how})" if how else ""))
    run.sleep(run.remaining() - 10)
    undo(i)
    run.fault_over()


def slow_validator(run):
    """One validator 200 ms away (100 ms each way, 20 ms jitter) for the whole run."""
    c = run.cluster
    links = lambda i: [(i, j) for j in range(c.n) if j != i]  # noqa: E731
    degrade_one_validator(run, "200 ms away",
                          lambda i: c.set_links(links(i), {"delay_ms": 100, "jitter_ms": 20}),
                          lambda i: c.reset_links())


def lossy_validator(run):
    """One validator loses 5 % of its packets, both ways."""
    c = run.cluster
    degrade_one_validator(run, "loses 5 % of its packets", lambda i: c.packet_loss(i, 0.05),
                          lambda i: c.packet_loss(i, 0))


def narrow_link(run):
    """One validator on a 2 Mbit/s link each way (tc tbf): it falls behind on blocks and must
    not hold the others back."""
    c = run.cluster
    degrade_one_validator(run, "on 2 Mbit/s", lambda i: c.bandwidth(i, 2000),
                          lambda i: c.bandwidth(i, 0))


def garbled_link(run):
    """One validator's links deliver its bytes out of order (the shim shuffles chunks): every
    frame after the first swap fails authentication. The nodes must drop and redial the links,
    never crash, and the others go on committing."""
    c = run.cluster
    i = 2
    c.set_links([(i, j) for j in range(c.n) if j != i], {"reorder_window": 3})
    run.note(f"node{i}'s links shuffle their bytes")
    run.sleep(run.seconds * 0.6)
    running = [n.index for n in c.nodes if n.running()]
    run.expect("no validator crashes on a garbled stream", len(running) == c.n,
               f"running: {running}")
    c.set_links([(i, j) for j in range(c.n) if j != i], {"reorder_window": 0})
    run.note("links clean again")
    run.fault_over()


def paused_leader(run):
    """SIGSTOP the leader for 10 s (a paused VM), then SIGCONT."""
    c = run.cluster
    pauses = 0
    while run.remaining() > 25:
        leader = run.leader()
        if leader is None:
            run.sleep(1)
            continue
        c.signal(leader, signal.SIGSTOP)
        run.note(f"paused leader node{leader}")
        run.sleep(10)
        c.signal(leader, signal.SIGCONT)
        pauses += 1
        run.note(f"resumed node{leader}")
        run.fault_over()
        run.sleep(5)
    run.expect("leaders paused", pauses >= 1, f"{pauses} pauses")


def clock_skew(run):
    """One validator's clock 5 s ahead, then 5 s behind (faketime)."""
    c = run.cluster
    i = 1
    for skew in (+5, -5):
        c.kill(i)
        c.start(i, skew_s=skew)
        run.note(f"node{i} restarted with its clock {skew:+d} s")
        run.sleep(run.seconds * 0.4)
        run.expect(f"node{i} runs with its clock {skew:+d} s", c.nodes[i].running(),
                   f"exit code {c.exited(i)}")
    c.kill(i)
    c.start(i)
    run.fault_over()


def full_disk(run):
    """One validator's disk fills up, then is freed: it stops cleanly, loses nothing and
    resumes."""
    c = run.cluster
    i = c.n - 1
    filler = os.path.join(c.nodes[i].home, "filler")
    run.sleep(run.seconds * 0.2)
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=100000"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run.note(f"node{i}'s disk is full")
    height_full = c.height(i)
    run.sleep(run.seconds * 0.4)
    stopped = not c.nodes[i].running()
    height_later = c.height(i)
    run.note(f"node{i}: {'exited ' + str(c.exited(i)) if stopped else 'still running'}, "
             f"height {height_full} -> {height_later}")
    run.expect(f"node{i} fail-stops or stands still on a full disk",
               stopped or height_later is None or height_later <= (height_full or 0) + 2,
               f"exited={stopped}, height {height_full} -> {height_later}")
    os.remove(filler)
    if not c.nodes[i].running():
        c.start(i)
    run.note(f"freed node{i}'s disk")
    run.fault_over()


def wiped_resync(run):
    """An operator wipes a validator's data/ under load; it resyncs from its peers."""
    c = run.cluster
    i = c.n - 1
    run.sleep(run.seconds * 0.3)
    c.kill(i)
    data = os.path.join(c.nodes[i].home, "data")
    subprocess.run(["rm", "-rf", data], check=True)
    run.note(f"wiped node{i}'s data/")
    c.start(i)
    run.fault_over()


def all_killed(run):
    """Every validator killed at once, then all restarted."""
    c = run.cluster
    run.sleep(run.seconds * 0.4)
    for i in range(c.n):
        c.kill(i)
    run.note("killed every validator")
    run.sleep(2)
    c.start_all()
    run.fault_over()


def overload(run):
    """Sustained load at 3x what the network commits at saturation (measured first)."""
    run.note(f"offering {run.rate:.0f} tx/s")
    run.sleep(run.remaining())
    run.fault_over()


def byzantine_leader(run):
    """Validator 0 runs cityd-byzantine: every proposal equivocates (one variant per peer)."""
    run.sleep(run.remaining())
    run.fault_over()


def _change_validators(run, members, epoch):
    """Passes a set-validators change naming `members` (node indexes) and waits until every
    running member commits in `epoch`; returns (seconds from the pass to the new set committing,
    the epoch's first height)."""
    c = run.cluster
    keys = [c._validator_address(c.nodes[i]) for i in members]
    proposed = c.cityctl("--output", "json", "tx", "governance", "propose", "--action",
                         "set-validators", "--validators", ",".join(keys), "--from", "council",
                         "--wait", "--wait-timeout", "60", node=members[0])
    if proposed.returncode != 0:
        raise RuntimeError(f"set-validators: {proposed.stdout} {proposed.stderr}")
    passed = time.monotonic()
    change = c.cityctl("--output", "json", "query", "contract", "governance", "validators",
                       "--param", f"epoch={epoch}", node=members[0])
    if change.returncode != 0:
        raise RuntimeError(f"query validators: {change.stdout} {change.stderr}")
    last = json.loads(change.stdout)["result"]["last_height_before"]
    run.note(f"set-validators passed: epoch {epoch} = nodes {members}, after block {last}")
    running = [i for i in members if c.nodes[i].running()]
    c.wait_for(lambda: all((c.epoch(i) or 0) >= epoch and (c.height(i) or 0) > last + 1
                           for i in running), 120,
               f"every running member of epoch {epoch} commits in it")
    took = time.monotonic() - passed
    run.note(f"epoch {epoch} committing on every member {took:.1f} s after the pass")
    return took, last + 1


def _commit_gap_ms(cluster, node, first_height):
    """The longest time between consecutive committed blocks around an epoch's first block."""
    api = f"{cluster.nodes[node].api}/v1/blocks/"
    times = []
    for height in range(max(1, first_height - 5), first_height + 6):
        block = cluster_http_json(api + str(height))
        if block:
            times.append(block["block"]["header"]["timestamp_ms"])
    return max((b - a for a, b in zip(times, times[1:])), default=None)


def reconfigure(run):
    """Validator set changes under load: a fifth validator, from a fresh home (init --join,
    genesis install --joining, start --join), is added; a validator that was down through
    that change comes back and syncs across it; then one of the originals is removed and
    stopped. The chain commits throughout, and every invariant holds on the nodes left."""
    c = run.cluster
    new = c.genesis_validators
    removed = c.genesis_validators - 1
    offline = 1
    c.start(new)
    run.note(f"node{new} started from a fresh home with --join")
    c.kill(offline)
    run.note(f"node{offline} down through the first change")
    run.honest = [i for i in range(c.genesis_validators) if i != offline]
    took1, first1 = _change_validators(run, list(range(new + 1)), 1)
    gap1 = _commit_gap_ms(c, 0, first1)
    run.honest = [i for i in range(new + 1) if i != offline]
    run.fault_over()
    synced_from = time.monotonic()
    c.start(offline)
    c.wait_for(lambda: (c.epoch(offline) or 0) >= 1 and (c.height(offline) or 0) >= first1 + 2,
               120, f"node{offline} syncs into epoch 1")
    run.note(f"node{offline} synced across the change in {time.monotonic() - synced_from:.1f} s")
    run.honest = list(range(new + 1))
    members = [i for i in range(new + 1) if i != removed]
    took2, first2 = _change_validators(run, members, 2)
    gap2 = _commit_gap_ms(c, 0, first2)
    c.signal(removed, signal.SIGTERM)
    run.note(f"node{removed} removed and stopped")
    run.honest = members
    run.expect("a passed change takes effect (epochs 1 and 2 started)", True,
               f"{took1:.1f} s and {took2:.1f} s from the pass to the new set committing")
    run.expect("the commit gap at each boundary stays under 5 s",
               gap1 is not None and gap2 is not None and max(gap1, gap2) < 5000,
               f"{gap1} ms at epoch 1, {gap2} ms at epoch 2")
    run.sleep(max(0, run.remaining() - 25))
    # A validator whose data is wiped now resyncs from the genesis across both changes (its
    # safety state is of epoch 2: it signs nothing before its chain is there).
    c.kill(offline)
    subprocess.run(["rm", "-rf", os.path.join(c.nodes[offline].home, "data")], check=True)
    resync_from = time.monotonic()
    target = max(c.height(i) or 0 for i in members if i != offline)
    c.start(offline)
    c.wait_for(lambda: (c.epoch(offline) or 0) >= 2 and (c.height(offline) or 0) >= target,
               120, f"node{offline} resyncs from genesis across 2 epochs")
    run.note(f"node{offline} wiped, resynced {target} blocks across 2 epochs in "
             f"{time.monotonic() - resync_from:.1f} s")
    run.sleep(run.remaining() - 10)
    run.fault_over()
    # A light client's audits start past both changes: the auditor follows each epoch's last
    # header from the genesis file instead of every header before.
    light = [
        c.cityctl("audit", "verify-chain", "--from", str(first2 + 5), "--to", str(first2 + 40),
                  "--genesis", c.genesis_file, node=members[0]),
        c.cityctl("--as", "auditor", "audit", "state", "ubi/issued", "--prove", "--genesis",
                  c.genesis_file, node=members[-1]),
    ]
    failed = [(done.stderr or done.stdout).strip()[-300:] for done in light if done.returncode]
    run.expect("audits that start past the changes follow the epochs", not failed,
               "; ".join(failed) or "verify-chain --from and audit state --prove pass")


SCENARIOS = {
    # name: (function, about, options)
    "leader-crash-loop": (leader_crash_loop, "kill -9 the leader every 5 s", {}),
    "rolling-restarts": (rolling_restarts, "SIGTERM and restart each validator in turn", {}),
    "f-down-catch-up": (f_down_catch_up, "f validators down for 60% of the run, then back", {}),
    "minority-partition": (partition_scenario(True), "f validators cut off, then healed", {}),
    "majority-partition": (partition_scenario(False),
                           "split in halves: no quorum anywhere, then healed", {}),
    "flapping-link": (flapping_link, "one validator's link down/up every 2 s", {}),
    "slow-validator": (slow_validator, "one validator 200 ms away (+-20 ms jitter)", {}),
    "lossy-validator": (lossy_validator, "one validator with 5% packet loss", {}),
    "narrow-link": (narrow_link, "one validator on a 2 Mbit/s link (tc tbf)", {}),
    "garbled-link": (garbled_link, "one validator's links shuffle its bytes (AEAD failures)",
                     {}),
    "paused-leader": (paused_leader, "SIGSTOP the leader for 10 s, then SIGCONT", {}),
    "clock-skew": (clock_skew, "one validator's clock +5 s, then -5 s", {}),
    "full-disk": (full_disk, "one validator's disk (a 256 MiB tmpfs) fills up, then is freed",
                  {"tmpfs_mb": 256}),
    "wiped-resync": (wiped_resync, "a validator's data/ wiped under load; it resyncs", {}),
    "all-killed": (all_killed, "every validator kill -9 at once, then restarted", {}),
    "overload": (overload, "3x the saturation rate, sustained", {"overload": 3.0}),
    "byzantine-leader": (byzantine_leader, "validator 0 equivocates on every proposal",
                         {"byzantine": [0]}),
    "reconfigure": (reconfigure, "a validator added from a fresh home, one removed, under load",
                    {"spares": 1, "load": "ubi", "min_time": 60}),
}

# The short version scripts/test runs.
SHORT = ["leader-crash-loop", "minority-partition", "wiped-resync", "reconfigure"]
