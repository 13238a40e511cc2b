"""The invariants every scenario ends with (docs/reliability.md).

Each check returns (ok, detail). They read the nodes only through their public API and through
`cityctl audit`, the auditor's own tool, so a scenario never trusts what a node says of itself.
"""

import http.client
import json
import os
import urllib.parse


class Api:
    """One keep-alive connection to a node's API, for reading many blocks quickly."""

    def __init__(self, url, timeout=10):
        parsed = urllib.parse.urlparse(url)
        self.host, self.port, self.timeout = parsed.hostname, parsed.port, timeout
        self.conn = None

    def get(self, path):
        for _ in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port,
                                                           timeout=self.timeout)
                self.conn.request("GET", path)
                reply = self.conn.getresponse()
                body = reply.read()
                if reply.status != 200:
                    return None
                return json.loads(body)
            except (OSError, http.client.HTTPException, ValueError):
                self.conn = None
        return None


def agreement(cluster, honest):
    """All honest nodes hold the same blocks (and so the same state roots, which the headers
    carry) up to the lowest height they share."""
    heights = {i: cluster.height(i) for i in honest}
    missing = [i for i, h in heights.items() if h is None]
    if missing:
        return False, f"node(s) {missing} do not answer", None
    common = min(heights.values())
    # The headers chain by parent hash and verify-chain checks every link on every node, so
    # equal headers at a spread of heights up to the common one mean equal chains.
    sample = sorted({common, max(1, common // 2), max(1, common - 1)} |
                    {max(1, common * k // 10) for k in range(1, 10)})
    apis = {i: Api(cluster.nodes[i].api) for i in honest}
    for height in sample:
        seen = {}
        for i in honest:
            block = apis[i].get(f"/v1/blocks/{height}")
            if block is None:
                return False, f"node{i} cannot serve block {height}", common
            header = block["block"]["header"]
            seen[i] = (header["hash"], header["state_root"])
        if len(set(seen.values())) != 1:
            return False, f"nodes disagree at height {height}: {seen}", common
    return True, f"identical headers and state roots at {len(sample)} heights up to {common} " \
                 f"(heights {sorted(heights.values())})", common


def served_blocks_kept(cluster, honest):
    """Nothing committed is ever lost: every tip an honest node reported during the run (its
    height and block hash, sampled each second) is still the block at that height now."""
    best = max(honest, key=lambda i: cluster.height(i) or -1)
    api = Api(cluster.nodes[best].api)
    served = dict(cluster.served)
    for height, hashes in sorted(served.items()):
        if height == 0:
            continue
        if len(hashes) > 1:
            return False, f"honest nodes reported different blocks at height {height}: {hashes}"
        block = api.get(f"/v1/blocks/{height}")
        if block is None:
            return False, f"node{best}, the furthest ahead, does not serve block {height}, " \
                          "which a node reported as its tip"
        now = block["block"]["header"]["hash"]
        if now not in hashes:
            return False, f"block {height} was {next(iter(hashes))} when reported, now {now}"
    return True, f"{len(served)} reported tips all still in the chain"


def exactly_once(cluster, honest, committed_ids_file):
    """Every transaction the client saw committed is in the ledger exactly once, and no
    transaction is in it twice."""
    best = max(honest, key=lambda i: cluster.height(i) or -1)
    top = cluster.height(best)
    if top is None:
        return False, "no honest node answers"
    api = Api(cluster.nodes[best].api)
    counts = {}
    for height in range(1, top + 1):
        block = api.get(f"/v1/blocks/{height}")
        if block is None:
            return False, f"node{best} cannot serve block {height}"
        for tx in block["block"].get("transactions", []):
            counts[tx["id"]] = counts.get(tx["id"], 0) + 1
    twice = [tx for tx, c in counts.items() if c > 1]
    if twice:
        return False, f"{len(twice)} transactions appear more than once, e.g. {twice[0]}"
    acknowledged = []
    if committed_ids_file and os.path.exists(committed_ids_file):
        acknowledged = [line.strip() for line in open(committed_ids_file) if line.strip()]
    absent = [tx for tx in acknowledged if tx not in counts]
    if absent:
        return False, f"{len(absent)} of {len(acknowledged)} transactions the client saw " \
                      f"committed are not in node{best}'s ledger, e.g. {absent[0]}"
    return True, f"{len(acknowledged)} acknowledged commits found once each among " \
                 f"{len(counts)} transactions in {top} blocks"


def ubi_supply(cluster, honest):
    """The UBI supply invariant, recomputed from the ledger's events by the auditor."""
    node = honest[0]
    done = cluster.cityctl("--as", "auditor", "--output", "json", "audit", "ubi", "supply",
                           "--genesis", cluster.genesis_file, node=node)
    if done.returncode != 0:
        return False, (done.stderr or done.stdout).strip()[-400:]
    try:
        report = json.loads(done.stdout)
    except ValueError:
        return False, "unreadable report: " + done.stdout[-200:]
    summary = {k: report[k] for k in report if not isinstance(report[k], (list, dict))}
    return True, json.dumps(summary)[:300]


def verify_chain(cluster, honest):
    """`cityctl audit verify-chain --blocks` from genesis, against the genesis file the
    operators hold, on every honest node."""
    details = []
    for i in honest:
        done = cluster.cityctl("--as", "auditor", "audit", "verify-chain", "--blocks", "--genesis",
                               cluster.genesis_file, node=i)
        if done.returncode != 0:
            return False, f"node{i}: " + (done.stderr or done.stdout).strip()[-400:]
        details.append(f"node{i} ok")
    return True, ", ".join(details)


def memory(cluster, bound_mb):
    """Each validator's own memory (anonymous RSS: its heap and stacks, not the pages of the
    ledger files LevelDB maps, which the kernel may drop at any time) stays under the bound."""
    peaks = {f"node{n.index}": round(n.peak_anon_kb / 1024) for n in cluster.nodes}
    totals = {f"node{n.index}": round(n.peak_rss_kb / 1024) for n in cluster.nodes}
    over = {k: v for k, v in peaks.items() if v > bound_mb}
    if over:
        return False, f"peak anonymous RSS above {bound_mb} MB: {over}"
    return True, f"peak anonymous RSS {peaks} MB (bound {bound_mb}); with mapped files {totals}"
