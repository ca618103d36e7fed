#!/usr/bin/env python3
"""The Bully election algorithm as a small HTTP/JSON lock and log server.

Standard library only. One process is one node. Node nK has Bully id K; the highest
live id it can reach becomes coordinator (leader). There is no quorum: under a network
partition each side elects its own highest node, and when the partition heals the
higher node's state overwrites the lower one's. That is the point of this example.

Client API (on --listen): GET /status, POST /acquire, /holding, /release, /write,
GET /read[?local=true]. Peer messages (on --peer-listen): POST /peer/election,
/peer/coordinator, /peer/heartbeat. See README.md.
"""

import argparse
import http.client
import http.server
import json
import os
import random
import signal
import socket
import socketserver
import sys
import threading
import time
import unicodedata
from urllib.parse import parse_qs, urlsplit

# Timing (seconds).
HEARTBEAT_S = 0.100          # leader -> every other node
FAILURE_MIN_S = 0.600        # follower: no heartbeat this long -> election
FAILURE_MAX_S = 0.900
STARTUP_LISTEN_S = 1.0       # a starting node listens this long before electing
ELECTION_TIMEOUT_S = 0.250   # wait for OK from a higher node
COORDINATOR_TIMEOUT_S = 0.400  # wait for a lower node to acknowledge COORDINATOR
HEARTBEAT_TIMEOUT_S = 0.250
AWAIT_MIN_S = 1.2            # after an OK: wait this long for the COORDINATOR
AWAIT_MAX_S = 1.5
TICK_S = 0.020

MAX_BODY = 64 * 1024
MAX_TTL_MS = 86_400_000
CLIENT_SOCKET_TIMEOUT_S = 30.0
PEER_SOCKET_TIMEOUT_S = 10.0


def log_line(msg):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    frac = f"{time.time() % 1:.3f}"[1:]
    sys.stderr.write(f"{stamp}{frac}Z {msg}\n")
    sys.stderr.flush()


def split_hostport(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def parse_members(text):
    """'n1=HOST:PORT,n2=HOST:PORT' -> ordered list of (name, host, port)."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, addr = item.partition("=")
        if not sep:
            raise ValueError(f"expected NAME=HOST:PORT, got {item!r}")
        host, port = split_hostport(addr)
        out.append((name, host, port))
    return out


class Grant:
    __slots__ = ("token", "client", "ttl_ms", "expires")

    def __init__(self, token, client, ttl_ms, expires):
        self.token = token
        self.client = client
        self.ttl_ms = ttl_ms
        self.expires = expires  # time.monotonic() deadline on this node

    def live(self, now):
        return now < self.expires


class Peer:
    def __init__(self, name, index, host, port):
        self.name = name
        self.index = index
        self.host = host
        self.port = port
        self.wake = threading.Event()
        self.acked = None  # the state line this peer last reported holding


class PeerError(Exception):
    pass


SOURCE_HOST = None  # outgoing peer connections leave from our own peer address


def peer_call(peer, path, body, timeout, conn=None):
    """POST a JSON body to a peer; returns (reply, connection to keep or None)."""
    data = json.dumps(body, separators=(",", ":")).encode()
    fresh = conn is None
    for attempt in (0, 1):
        if conn is None:
            src = (SOURCE_HOST, 0) if SOURCE_HOST else None
            conn = http.client.HTTPConnection(peer.host, peer.port, timeout=timeout,
                                              source_address=src)
        try:
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            conn.request("POST", path, body=data,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            raw = resp.read()
            if resp.status != 200:
                raise PeerError(f"{peer.name} answered {resp.status}")
            return json.loads(raw), conn
        except (socket.timeout, TimeoutError, PeerError, ValueError):
            conn.close()
            raise
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = None
            # A kept connection may have died with a restarted peer: retry once afresh.
            if fresh or attempt == 1:
                raise
            fresh = True
    raise PeerError("unreachable")


def call_all(peers, path, body, timeout):
    """Send one message to several peers at once; {name: reply} of those that answered."""
    replies = {}
    guard = threading.Lock()

    def one(p):
        try:
            reply, conn = peer_call(p, path, body, timeout)
            conn.close()
            with guard:
                replies[p.name] = reply
        except Exception:
            pass

    threads = [threading.Thread(target=one, args=(p,), daemon=True) for p in peers]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout * 2 + 0.05
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    with guard:
        return dict(replies)


class Node:
    def __init__(self, args):
        self.name = args.name
        self.index = args.index
        members = parse_members(args.peers)
        self.peers = []
        self.index_of = {}
        for i, (name, host, port) in enumerate(members, start=1):
            self.index_of[name] = i
            if name != self.name:
                self.peers.append(Peer(name, i, host, port))
        if self.index_of.get(self.name) != self.index:
            raise SystemExit(f"--peers lists {self.name} at position "
                             f"{self.index_of.get(self.name)}, not {self.index}")
        self.client_addr = {n: f"{h}:{p}" for n, h, p in parse_members(args.clients)}
        self.rng = random.Random(f"{args.seed}/{self.name}")
        self.data_dir = args.data_dir
        self.state_path = os.path.join(self.data_dir, "state.json")

        self.lock = threading.RLock()
        self.role = "follower"
        self.leader = None
        self.term = 0             # highest coordinator term seen (own term when leader)
        self.log = []             # [{"id":..., "token":...}]
        self.grants = {}          # election -> Grant
        self.granted = {}         # token -> election, every token of this state's line
        self.next_token = 1
        self.line = ["", 0, 0]    # (leader, term, version) that produced this state
        self.version = 0          # counter for own state versions
        self.epoch = 0            # bumped whenever the state is replaced wholesale
        self.seq = 0              # bumped on every change to persisted fields
        self.gen = 0              # bumped on every step-down: aborts a running election
        self.electing = False
        self.await_until = 0.0
        self.last_heard = time.monotonic()
        self.failure_s = self.draw_failure()
        self.listen_until = time.monotonic() + STARTUP_LISTEN_S + self.rng.uniform(0, 0.2)

        self.persist_lock = threading.Lock()
        self.persisted_seq = 0
        self.load()

    # ---- persistence -------------------------------------------------------------

    def load(self):
        os.makedirs(self.data_dir, exist_ok=True)
        try:
            with open(self.state_path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return
        st = json.loads(raw)
        now_m, now_w = time.monotonic(), time.time()
        self.term = int(st["term"])
        self.log = list(st["log"])
        self.next_token = int(st["next_token"])
        self.granted = {int(k): v for k, v in st["granted"].items()}
        self.line = list(st["line"])
        self.version = int(st.get("version", 0))
        self.grants = {}
        for e, g in st["grants"].items():
            left = min(float(g["expires_wall"]) - now_w, g["ttl_ms"] / 1000.0)
            if left > 0:
                self.grants[e] = Grant(g["token"], g["client"], g["ttl_ms"], now_m + left)
        log_line(f"{self.name} loaded {self.state_path}: term {self.term}, "
                 f"{len(self.log)} writes, next token {self.next_token}")

    def snapshot_locked(self):
        now_m, now_w = time.monotonic(), time.time()
        grants = {
            e: {"token": g.token, "client": g.client, "ttl_ms": g.ttl_ms,
                "expires_wall": now_w + (g.expires - now_m)}
            for e, g in self.grants.items() if g.live(now_m)
        }
        doc = {"term": self.term, "line": self.line, "version": self.version,
               "log": self.log, "grants": grants,
               "granted": {str(k): v for k, v in self.granted.items()},
               "next_token": self.next_token}
        return json.dumps(doc, separators=(",", ":")).encode()

    def persist_upto(self, seq):
        """Make sure the state as of change `seq` (or later) is on disk."""
        with self.persist_lock:
            if self.persisted_seq >= seq:
                return
            with self.lock:
                data = self.snapshot_locked()
                at = self.seq
            tmp = self.state_path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.state_path)
            dfd = os.open(self.data_dir, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
            self.persisted_seq = at

    # ---- state helpers (call with the lock held) -----------------------------------

    def changed_locked(self):
        self.seq += 1
        return self.seq

    def bump_version_locked(self):
        self.version += 1
        self.line = [self.name, self.term, self.version]

    def wire_state_locked(self):
        now = time.monotonic()
        return {  # copies: the message is encoded after the lock is released
            "line": list(self.line),
            "log": list(self.log),
            "grants": {e: {"token": g.token, "client": g.client, "ttl_ms": g.ttl_ms,
                           "remaining_ms": int((g.expires - now) * 1000)}
                       for e, g in self.grants.items() if g.live(now)},
            "granted": {str(k): v for k, v in self.granted.items()},
            "next_token": self.next_token,
        }

    def adopt_locked(self, st):
        """Take another node's replicated state wholesale."""
        now = time.monotonic()
        self.log = list(st["log"])
        self.grants = {e: Grant(g["token"], g["client"], g["ttl_ms"],
                                now + g["remaining_ms"] / 1000.0)
                       for e, g in st["grants"].items() if g["remaining_ms"] > 0}
        self.granted = {int(k): v for k, v in st["granted"].items()}
        self.next_token = max(self.next_token, int(st["next_token"]))
        self.line = list(st["line"])
        self.epoch += 1
        return self.changed_locked()

    def set_role_locked(self, role, leader):
        if role != self.role or leader != self.leader:
            self.role, self.leader = role, leader
            log_line(f"{self.name} role={role} term={self.term} leader={leader or '-'}")

    def step_down_locked(self, leader):
        """Follow `leader` (a name): aborts any election of ours."""
        self.gen += 1
        self.electing = False
        self.await_until = 0.0
        self.last_heard = time.monotonic()
        self.failure_s = self.draw_failure()
        self.set_role_locked("follower", leader)

    def draw_failure(self):
        return self.rng.uniform(FAILURE_MIN_S, FAILURE_MAX_S)

    def leader_alive_locked(self, now):
        return (self.role == "follower" and self.leader is not None
                and now - self.last_heard < self.failure_s)

    # ---- election ---------------------------------------------------------------

    def begin_election_locked(self):
        """Become candidate; returns the election's arguments, or None if one runs."""
        if self.electing:
            return None
        if self.role == "candidate" and time.monotonic() < self.await_until:
            return None  # a higher node answered OK; waiting for its COORDINATOR
        self.electing = True
        self.gen += 1
        was_leader = self.role == "leader"
        self.set_role_locked("candidate", None)
        return (self.gen, was_leader)

    def start_election(self, args=None):
        if args is None:
            with self.lock:
                args = self.begin_election_locked()
        if args is not None:
            threading.Thread(target=self.run_election, args=args, daemon=True).start()

    def run_election(self, gen, was_leader):
        try:
            self.election(gen, was_leader)
        except Exception as exc:  # never leave `electing` stuck
            log_line(f"{self.name} election failed: {exc!r}")
            with self.lock:
                if self.gen == gen:
                    self.electing = False
                    self.await_until = time.monotonic() + 0.2

    def election(self, gen, was_leader):
        higher = [p for p in self.peers if p.index > self.index]
        with self.lock:
            msg = {"from": self.name, "term": self.term}
        replies = call_all(higher, "/peer/election", msg, ELECTION_TIMEOUT_S)
        with self.lock:
            if self.gen != gen:
                return
            for r in replies.values():
                self.term = max(self.term, int(r.get("term", 0)))
            if replies:
                # A live higher node took over the election; wait for its COORDINATOR.
                self.electing = False
                self.await_until = time.monotonic() + self.rng.uniform(AWAIT_MIN_S, AWAIT_MAX_S)
                return
            prev_line_term = self.line[1]
        self.coordinate(gen, was_leader, prev_line_term)

    def coordinate(self, gen, was_leader, prev_line_term):
        """No higher node answered: announce ourselves to every lower node, then lead."""
        lower = [p for p in self.peers if p.index < self.index]
        handoff = not was_leader
        handed = {}  # name -> (term, state) from lower nodes that were leading
        for attempt in range(3):
            with self.lock:
                if self.gen != gen:
                    return
                self.term += 1
                term = self.term
                self.bump_version_locked()
                seq = self.changed_locked()
                msg = {"from": self.name, "term": term, "handoff": handoff,
                       "state": None if handoff else self.wire_state_locked()}
            self.persist_upto(seq)  # never reuse a term after a crash
            replies = call_all(lower, "/peer/coordinator", msg, COORDINATOR_TIMEOUT_S)
            with self.lock:
                if self.gen != gen:
                    return
                top = 0
                for name, r in replies.items():
                    rt = int(r.get("term", 0))
                    top = max(top, rt)
                    if r.get("was_leader") and r.get("state") is not None:
                        handed[name] = (rt, r["state"])
                top = max(top, self.term)
                if top > term and attempt < 2:
                    self.term = top
                    continue  # a lower node has seen a later term: announce a later one
                if handed:
                    best_term, best = max(handed.values(), key=lambda x: x[0])
                    if best_term >= prev_line_term:
                        # Take over the state of the leader we replace (it stopped
                        # acknowledging before it answered), so none of its writes go.
                        self.adopt_locked(best)
                self.bump_version_locked()
                seq = self.changed_locked()
            self.persist_upto(seq)
            with self.lock:
                if self.gen != gen:
                    return
                self.electing = False
                self.await_until = 0.0
                for p in self.peers:
                    p.acked = None
                self.set_role_locked("leader", self.name)
            for p in self.peers:
                p.wake.set()
            return

    # ---- peer message handlers ---------------------------------------------------

    def on_election(self, msg):
        src = msg["from"]
        t = int(msg.get("term", 0))
        with self.lock:
            now = time.monotonic()
            reply = {"ok": True, "term": self.term}
            bully = None
            if self.role == "leader":
                if t > self.term:
                    bully = self.begin_election_locked()
                    self.term = max(self.term, t)
                else:
                    for p in self.peers:
                        if p.name == src:
                            p.acked = None
                            p.wake.set()  # a heartbeat is our COORDINATOR to it
            else:
                self.term = max(self.term, t)
                leader_idx = self.index_of.get(self.leader, 0)
                if not (self.leader_alive_locked(now) and leader_idx > self.index):
                    bully = self.begin_election_locked()
        if bully:
            self.start_election(bully)
        return reply

    def on_coordinator(self, msg):
        src = msg["from"]
        src_idx = self.index_of[src]
        t = int(msg["term"])
        seq = None
        with self.lock:
            prev_term = self.term
            if src_idx < self.index:
                # A lower node claims to coordinate while we are alive: bully it.
                now = time.monotonic()
                leader_idx = self.index_of.get(self.leader, 0)
                keep = self.leader_alive_locked(now) and leader_idx > self.index
                reply = {"ok": False, "term": self.term, "leader": self.leader}
                bully = None if keep else self.begin_election_locked()
                self.term = max(self.term, t)  # we no longer lead, if we did
            else:
                was_leader = self.role == "leader"
                reply = {"ok": True, "term": prev_term, "was_leader": was_leader}
                if was_leader and msg.get("handoff"):
                    reply["state"] = self.wire_state_locked()
                self.term = max(self.term, t)
                self.step_down_locked(src)  # before answering
                if msg.get("state") is not None:
                    seq = self.adopt_locked(msg["state"])
                bully = None
        if bully:
            self.start_election(bully)
        elif seq is not None:
            self.persist_upto(seq)
        return reply

    def on_heartbeat(self, msg):
        src = msg["from"]
        src_idx = self.index_of[src]
        t = int(msg["term"])
        seq = None
        bully = None
        with self.lock:
            now = time.monotonic()
            if src_idx > self.index:
                cur_idx = self.index_of.get(self.leader, 0)
                if (self.role == "follower" and self.leader != src
                        and cur_idx > src_idx and self.leader_alive_locked(now)):
                    # We follow a higher leader than this one.
                    return {"ok": False, "term": self.term, "leader": self.leader,
                            "have": self.line}
                self.term = max(self.term, t)
                if self.role != "follower" or self.leader != src:
                    self.step_down_locked(src)
                self.last_heard = now
                st = msg.get("state")
                if st is not None and list(st["line"]) != self.line:
                    seq = self.adopt_locked(st)
                reply = {"ok": True, "term": self.term, "have": self.line}
            else:
                if self.role == "leader" or self.electing:
                    reply = {"ok": False, "term": self.term, "leader": self.leader,
                             "have": self.line}
                    bully = self.begin_election_locked()  # None if already electing
                    self.term = max(self.term, t)
                else:
                    cur_idx = self.index_of.get(self.leader, 0)
                    if self.leader_alive_locked(now) and cur_idx > self.index:
                        reply = {"ok": False, "term": self.term, "leader": self.leader,
                                 "have": self.line}
                    else:
                        # A lower node leads while we are alive: learn its state, so
                        # nothing it acknowledged is lost, then bully it.
                        st = msg.get("state")
                        if st is not None and t >= self.term and list(st["line"]) != self.line:
                            seq = self.adopt_locked(st)
                        self.term = max(self.term, t)
                        reply = {"ok": True, "term": self.term, "have": self.line}
                        bully = self.begin_election_locked()
        if seq is not None:
            self.persist_upto(seq)
        if bully:
            self.start_election(bully)
        return reply

    # ---- background loops -----------------------------------------------------------

    def heartbeat_loop(self, peer):
        conn = None
        while True:
            peer.wake.wait(HEARTBEAT_S)
            peer.wake.clear()
            with self.lock:
                if self.role != "leader":
                    msg = None
                else:
                    msg = {"from": self.name, "term": self.term, "line": list(self.line)}
                    msg["state"] = (None if peer.acked == self.line
                                    else self.wire_state_locked())
                    term = self.term
            if msg is None:
                if conn is not None:
                    conn.close()
                    conn = None
                continue
            try:
                reply, conn = peer_call(peer, "/peer/heartbeat", msg, HEARTBEAT_TIMEOUT_S, conn)
            except Exception:
                conn = None
                continue
            bully = None
            with self.lock:
                have = reply.get("have")
                peer.acked = list(have) if isinstance(have, list) else None
                rt = int(reply.get("term", 0))
                if self.role == "leader" and self.term == term and rt > term:
                    # A later term exists: step aside and announce a later one.
                    bully = self.begin_election_locked()
                    self.term = max(self.term, rt)
            if bully:
                self.start_election(bully)

    def ticker(self):
        while True:
            time.sleep(TICK_S)
            now = time.monotonic()
            elect = False
            with self.lock:
                if self.electing:
                    pass
                elif self.role == "follower":
                    if self.leader is None:
                        elect = now >= self.listen_until
                    else:
                        elect = now - self.last_heard >= self.failure_s
                elif self.role == "candidate":
                    elect = now >= self.await_until
            if elect:
                self.start_election()

    # ---- client operations (return (status, body)) ----------------------------------

    def not_leader_locked(self):
        leader = self.leader if self.role == "follower" else None
        return 421, {"error": "not-leader",
                     "reason": f"{self.name} is not the leader"
                               + (f"; {leader} is" if leader else "; no leader is known"),
                     "leader": leader,
                     "leader_addr": self.client_addr.get(leader) if leader else None}

    def status(self):
        with self.lock:
            return 200, {"id": self.name, "role": self.role, "term": self.term,
                         "leader": self.leader, "commit": len(self.log),
                         "applied": len(self.log)}

    def read(self, local):
        with self.lock:
            if not local and self.role != "leader":
                return self.not_leader_locked()
            return 200, {"log": list(self.log)}

    def commit_change(self, seq, epoch, body):
        """Answer 200 only once the change is on disk and still in this leader's state."""
        try:
            self.persist_upto(seq)
        except OSError as exc:
            return 500, {"error": "internal",
                         "reason": f"the state could not be stored: {exc}"}
        with self.lock:
            if self.epoch != epoch or self.role != "leader":
                return 504, {"error": "timeout",
                             "reason": "this node stepped down before the change was "
                                       "stored; it may or may not survive"}
        return 200, body

    def acquire(self, election, client, ttl_ms):
        with self.lock:
            if self.role != "leader":
                return self.not_leader_locked()
            now = time.monotonic()
            g = self.grants.get(election)
            if g is not None and g.live(now):
                return 409, {"error": "held",
                             "reason": f"election {election!r} is held by {g.client!r}",
                             "holder": g.client, "token": g.token}
            token = self.next_token
            self.next_token += 1
            self.grants[election] = Grant(token, client, ttl_ms, now + ttl_ms / 1000.0)
            self.granted[token] = election
            self.bump_version_locked()
            seq, epoch = self.changed_locked(), self.epoch
        return self.commit_change(seq, epoch, {"token": token})

    def holding(self, election, token):
        with self.lock:
            if self.role != "leader":
                return self.not_leader_locked()
            g = self.grants.get(election)
            held = g is not None and g.token == token and g.live(time.monotonic())
            return 200, {"holding": held}

    def release(self, election, token):
        with self.lock:
            if self.role != "leader":
                return self.not_leader_locked()
            g = self.grants.get(election)
            if g is None or g.token != token or not g.live(time.monotonic()):
                return 409, {"error": "not-holder",
                             "reason": f"token {token} is not the current grant of "
                                       f"election {election!r}"}
            del self.grants[election]
            self.bump_version_locked()
            seq, epoch = self.changed_locked(), self.epoch
        return self.commit_change(seq, epoch, {})

    def write(self, wid, token, election):
        with self.lock:
            if self.role != "leader":
                return self.not_leader_locked()
            if token is not None:
                granted_for = self.granted.get(token)
                if granted_for is None or (election is not None and granted_for != election):
                    where = f" in election {election!r}" if election is not None else ""
                    return 409, {"error": "unknown-token",
                                 "reason": f"token {token} was never granted{where}"}
                e = election if election is not None else granted_for
                g = self.grants.get(e)
                if g is not None and not g.live(time.monotonic()):
                    g = None
                if g is None or g.token != token:
                    body = {"error": "stale-token",
                            "reason": f"token {token} is not the current grant of "
                                      f"election {e!r}"}
                    if g is not None:
                        body["token"] = g.token
                    return 409, body
            self.log.append({"id": wid, "token": token})
            self.bump_version_locked()
            seq, epoch = self.changed_locked(), self.epoch
        return self.commit_change(seq, epoch, {"id": wid, "token": token})


# ---- request validation ---------------------------------------------------------------

class BadRequest(Exception):
    pass


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def check_fields(body, required, optional=()):
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    for k in body:
        if k not in required and k not in optional:
            raise BadRequest(f"unknown field `{k}`")
    for k in required:
        if k not in body:
            raise BadRequest(f"missing field `{k}`")


def check_name(body, field, nullable=False):
    v = body.get(field)
    if v is None and nullable:
        return None
    if not isinstance(v, str):
        raise BadRequest(f"field `{field}` must be a string"
                         + (" or null" if nullable else ""))
    n = len(v.encode("utf-8", "surrogatepass"))
    if not 1 <= n <= 256:
        raise BadRequest(f"field `{field}` must be 1 to 256 bytes long")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in v):
        raise BadRequest(f"field `{field}` must not contain control characters")
    return v


def check_int(body, field, lo, hi=None, nullable=False):
    v = body.get(field)
    if v is None and nullable:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise BadRequest(f"field `{field}` must be an integer" + (" or null" if nullable else ""))
    if v < lo or (hi is not None and v > hi):
        bound = f"in {lo}..{hi}" if hi is not None else f">= {lo}"
        raise BadRequest(f"field `{field}` must be an integer {bound}")
    return v


ROUTES = {"/status": "GET", "/read": "GET", "/acquire": "POST", "/holding": "POST",
          "/release": "POST", "/write": "POST"}


def make_client_handler(node):
    class ClientHandler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        default_request_version = "HTTP/1.0"  # errors on a garbled request line get headers
        timeout = CLIENT_SOCKET_TIMEOUT_S

        def version_string(self):
            return "bully/1.0"

        def log_message(self, fmt, *args):
            pass

        def send_json(self, status, body):
            data = json.dumps(body, separators=(",", ":")).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 405:
                    path = urlsplit(getattr(self, "path", "") or "").path
                    self.send_header("Allow", ROUTES.get(path, "GET"))
                if self.close_connection:
                    self.send_header("Connection", "close")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            except OSError:
                self.close_connection = True

        def error(self, status, code, reason, **extra):
            body = {"error": code, "reason": reason}
            body.update(extra)
            self.send_json(status, body)

        def send_error(self, code, message=None, explain=None):
            # Errors raised by http.server itself (bad request line, headers, ...).
            self.close_connection = True
            kinds = {400: "bad-request", 404: "not-found", 405: "method-not-allowed",
                     413: "too-large", 414: "too-large", 431: "too-large",
                     501: "method-not-allowed"}
            status = 405 if code == 501 else code
            self.error(status, kinds.get(code, "bad-request"),
                       message or "the request could not be parsed")

        def read_body(self):
            """The request body as bytes, or None after answering an error."""
            if self.headers.get("Transfer-Encoding"):
                self.close_connection = True
                self.error(422, "bad-request", "chunked bodies are not supported; "
                                               "send Content-Length")
                return None
            length = self.headers.get("Content-Length")
            if length is None:
                return b""
            try:
                n = int(length)
                if n < 0:
                    raise ValueError
            except ValueError:
                self.close_connection = True
                self.error(422, "bad-request", "Content-Length is not a valid length")
                return None
            if n > MAX_BODY:
                self.close_connection = True
                self.error(413, "too-large", f"the body is over {MAX_BODY} bytes")
                return None
            try:
                data = self.rfile.read(n)
            except (socket.timeout, TimeoutError, OSError):
                self.close_connection = True
                self.error(422, "bad-request", "the body did not arrive in time")
                return None
            if len(data) != n:
                self.close_connection = True
                return None
            return data

        def dispatch(self):
            url = urlsplit(self.path)
            path = url.path
            data = self.read_body()
            if data is None:
                return
            want = ROUTES.get(path)
            if want is None:
                return self.error(404, "not-found", f"no such path: {path}")
            if self.command != want and not (self.command == "HEAD" and want == "GET"):
                return self.error(405, "method-not-allowed",
                                  f"{path} takes {want}, not {self.command}")
            if want == "GET":
                if path == "/status":
                    return self.send_json(*node.status())
                try:
                    query = parse_qs(url.query, keep_blank_values=True, strict_parsing=False)
                except ValueError:
                    query = None
                if query is None or any(k != "local" for k in query) or \
                        any(v not in ("true", "false") for v in query.get("local", [])) or \
                        len(query.get("local", [])) > 1:
                    return self.error(422, "bad-request",
                                      "/read takes only the query parameter local=true|false")
                local = query.get("local", ["false"])[0] == "true"
                return self.send_json(*node.read(local))
            try:
                body = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
            except (ValueError, UnicodeDecodeError):
                return self.error(400, "bad-json", "the body is not valid JSON")
            try:
                if path == "/acquire":
                    check_fields(body, ("election", "client", "ttl_ms"))
                    args = (check_name(body, "election"), check_name(body, "client"),
                            check_int(body, "ttl_ms", 1, MAX_TTL_MS))
                    result = node.acquire(*args)
                elif path in ("/holding", "/release"):
                    check_fields(body, ("election", "token"))
                    args = (check_name(body, "election"), check_int(body, "token", 1))
                    result = (node.holding if path == "/holding" else node.release)(*args)
                else:
                    check_fields(body, ("id",), ("token", "election"))
                    args = (check_name(body, "id"), check_int(body, "token", 1, nullable=True),
                            check_name(body, "election", nullable=True))
                    result = node.write(*args)
            except BadRequest as exc:
                return self.error(422, "bad-request", str(exc))
            self.send_json(*result)

        def handle_one_request(self):
            try:
                super().handle_one_request()
            except (socket.timeout, TimeoutError, ConnectionError):
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = dispatch

    return ClientHandler


def make_peer_handler(node):
    handlers = {"/peer/election": node.on_election,
                "/peer/coordinator": node.on_coordinator,
                "/peer/heartbeat": node.on_heartbeat}

    class PeerHandler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = PEER_SOCKET_TIMEOUT_S

        def log_message(self, fmt, *args):
            pass

        def reply(self, status, body):
            data = json.dumps(body, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            fn = handlers.get(self.path)
            try:
                n = int(self.headers.get("Content-Length", "0"))
                msg = json.loads(self.rfile.read(n))
                if fn is None or msg.get("from") not in node.index_of or msg["from"] == node.name:
                    raise ValueError("bad peer message")
            except Exception:
                self.close_connection = True
                return self.reply(400, {"error": "bad-request"})
            try:
                self.reply(200, fn(msg))
            except Exception as exc:
                log_line(f"{node.name} peer {self.path} failed: {exc!r}")
                self.close_connection = True
                self.reply(500, {"error": "internal"})

        def handle_one_request(self):
            try:
                super().handle_one_request()
            except (socket.timeout, TimeoutError, ConnectionError):
                self.close_connection = True

    return PeerHandler


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler):
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        super().__init__(addr, handler)

    def server_bind(self):
        # HTTPServer.server_bind asks DNS for the host's name (socket.getfqdn), which in
        # a network namespace without a resolver hangs for seconds: bind without it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--index", type=int, required=True)
    ap.add_argument("--listen", required=True, help="client address HOST:PORT")
    ap.add_argument("--peer-listen", required=True, help="peer address HOST:PORT")
    ap.add_argument("--peers", required=True, help="n1=HOST:PEER_PORT,n2=...")
    ap.add_argument("--clients", default="", help="n1=HOST:CLIENT_PORT,n2=...")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--seed", default="0")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))

    global SOURCE_HOST
    peer_host = split_hostport(args.peer_listen)[0]
    if peer_host not in ("", "0.0.0.0", "::"):
        SOURCE_HOST = peer_host
    node = Node(args)
    peer_srv = Server(split_hostport(args.peer_listen), make_peer_handler(node))
    client_srv = Server(split_hostport(args.listen), make_client_handler(node))
    for srv in (peer_srv, client_srv):
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()
    for p in node.peers:
        threading.Thread(target=node.heartbeat_loop, args=(p,), daemon=True).start()
    log_line(f"{node.name} (id {node.index} of {len(node.peers) + 1}) listening on "
             f"{args.listen}, peers on {args.peer_listen}, term {node.term}")
    node.ticker()


if __name__ == "__main__":
    main()
