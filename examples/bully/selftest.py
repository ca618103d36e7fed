#!/usr/bin/env python3
"""A self-test for bully.py: three nodes on 127.0.0.1, the client API, a crash and a restart.

    python3 examples/bully/selftest.py [--keep]

Exits 0 when every check passes, 1 on the first failure (printing the nodes' logs).
Standard library only. Every node it starts is killed before it exits.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BULLY = os.path.join(HERE, "bully.py")
N = 3


class Failed(Exception):
    pass


def _die_with_parent():
    """In the child: be killed if this test dies without cleaning up (Linux)."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def call(port, method, path, body=None, raw=None, timeout=2.0):
    """(status, parsed JSON body or None). Raises OSError when the node does not answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        return _call(conn, method, path, body, raw)
    except http.client.HTTPException as exc:
        raise OSError(f"bad answer: {exc!r}") from exc
    finally:
        conn.close()


def _call(conn, method, path, body, raw):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    headers = {"Content-Type": "application/json"} if data is not None else {}
    conn.request(method, path, body=data, headers=headers)
    resp = conn.getresponse()
    text = resp.read()
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return resp.status, parsed


def check(cond, what):
    if not cond:
        raise Failed(what)
    print(f"  ok  {what}")


def expect(port, method, path, body, status, error=None, raw=None):
    st, doc = call(port, method, path, body, raw=raw)
    desc = f"{method} {path} {json.dumps(body) if raw is None else '<raw body>'} -> {status}"
    if error:
        desc += f" {error}"
    if st != status or (error and (doc or {}).get("error") != error):
        raise Failed(f"{desc}: got {st} {doc}")
    print(f"  ok  {desc}")
    return doc


def wait_for(what, fn, timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except OSError as exc:
            last = exc
        time.sleep(0.05)
    raise Failed(f"timed out after {timeout} s waiting for {what} (last: {last})")


class Cluster:
    def __init__(self, root):
        self.root = root
        ports = free_ports(2 * N)
        self.client = {f"n{i}": ports[i - 1] for i in range(1, N + 1)}
        self.peer = {f"n{i}": ports[N + i - 1] for i in range(1, N + 1)}
        self.procs = {}
        self.logs = {}

    def start(self, name):
        i = int(name[1:])
        peers = ",".join(f"n{k}=127.0.0.1:{self.peer[f'n{k}']}" for k in range(1, N + 1))
        clients = ",".join(f"n{k}=127.0.0.1:{self.client[f'n{k}']}" for k in range(1, N + 1))
        cmd = [sys.executable, BULLY, "--name", name, "--index", str(i),
               "--listen", f"127.0.0.1:{self.client[name]}",
               "--peer-listen", f"127.0.0.1:{self.peer[name]}",
               "--peers", peers, "--clients", clients,
               "--data-dir", os.path.join(self.root, name), "--seed", "7"]
        log = open(os.path.join(self.root, f"{name}.log"), "ab")
        self.logs[name] = log
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=log, env=env,
                                            stdin=subprocess.DEVNULL,
                                            preexec_fn=_die_with_parent)

    def kill(self, name):
        p = self.procs.pop(name, None)
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGKILL)
        if p is not None:
            p.wait()

    def kill_all(self):
        for name in list(self.procs):
            self.kill(name)
        for log in self.logs.values():
            log.close()

    def status(self, name):
        st, doc = call(self.client[name], "GET", "/status", timeout=1.0)
        return doc if st == 200 else None

    def statuses(self, names):
        """{name: /status answer}; raises OSError if one does not answer."""
        out = {}
        for n in names:
            out[n] = self.status(n)
        return out

    def dump_logs(self):
        for name in sorted(self.logs):
            path = os.path.join(self.root, f"{name}.log")
            print(f"---- {path}")
            with open(path, "rb") as f:
                sys.stdout.write(f.read().decode("utf-8", "replace")[-4000:])


class Monitor(threading.Thread):
    """Polls every node's /status and records who reported leader when."""

    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.stop = threading.Event()
        self.obs = []  # (node, term, invoked, completed)
        self.polls = 0

    def run(self):
        while not self.stop.is_set():
            for name in self.cluster.client:
                t0 = time.monotonic()
                try:
                    doc = self.cluster.status(name)
                except OSError:
                    continue
                t1 = time.monotonic()
                self.polls += 1
                if doc and doc.get("role") == "leader":
                    self.obs.append((name, doc.get("term"), t0, t1))
            time.sleep(0.01)

    def overlaps(self):
        """Two nodes certainly leading at once: a node observed leader of term t twice was
        leader from the first answer's completion to the last poll's invocation."""
        spans = {}
        for name, term, t0, t1 in self.obs:
            key = (name, term)
            lo, hi = spans.get(key, (t1, t0))
            spans[key] = (min(lo, t1), max(hi, t0))
        found = []
        items = [(k, v) for k, v in spans.items() if v[0] < v[1]]
        for i, ((n1, tm1), (a1, b1)) in enumerate(items):
            for (n2, tm2), (a2, b2) in items[i + 1:]:
                if n1 != n2 and a1 < b2 and a2 < b1:
                    found.append(f"{n1}(term {tm1}) and {n2}(term {tm2})")
        return found


def agreed_leader(cluster, names, want):
    docs = cluster.statuses(names)
    roles = {n: (d or {}).get("role") for n, d in docs.items()}
    if roles.get(want) != "leader":
        return None
    for n in names:
        if n != want and (roles[n] != "follower" or docs[n].get("leader") != want):
            return None
    return docs


class Writer(threading.Thread):
    """Writes w-<k> to whoever leads, recording the writes answered 200."""

    def __init__(self, cluster, prefix):
        super().__init__(daemon=True)
        self.cluster, self.prefix = cluster, prefix
        self.stop = threading.Event()
        self.acked = []
        self.attempts = 0

    def run(self):
        k = 0
        target = "n2"
        while not self.stop.is_set():
            k += 1
            wid = f"{self.prefix}{k}"
            self.attempts += 1
            try:
                st, doc = call(self.cluster.client[target], "POST", "/write",
                               {"id": wid, "token": None}, timeout=1.0)
            except OSError:
                st, doc = None, None
            if st == 200:
                self.acked.append(wid)
            elif st == 421 and doc and doc.get("leader") in self.cluster.client:
                target = doc["leader"]
            else:
                target = "n3" if target == "n2" else "n2"
            time.sleep(0.005)


def scenario(cluster):
    names = list(cluster.client)
    c = cluster.client
    t_start = time.monotonic()
    print("start three nodes")
    for n in names:
        cluster.start(n)
    wait_for("n3 to lead with n1 and n2 following", lambda: agreed_leader(cluster, names, "n3"), 15)
    print(f"  ok  n3 leads, n1 and n2 follow ({time.monotonic() - t_start:.2f} s)")
    time.sleep(0.5)
    docs = agreed_leader(cluster, names, "n3")
    check(docs is not None, "leadership is stable half a second later")
    leaders = [n for n, d in docs.items() if d["role"] == "leader"]
    check(leaders == ["n3"], "exactly one leader")

    print("locks, fencing and the log on the leader")
    L = c["n3"]
    t1 = expect(L, "POST", "/acquire", {"election": "e1", "client": "p1", "ttl_ms": 5000}, 200)["token"]
    check(isinstance(t1, int) and t1 >= 1, f"token {t1} is a positive integer")
    held = expect(L, "POST", "/acquire", {"election": "e1", "client": "p2", "ttl_ms": 5000}, 409, "held")
    check(held.get("holder") == "p1" and held.get("token") == t1, "held names holder p1 and its token")
    check(expect(L, "POST", "/holding", {"election": "e1", "token": t1}, 200) == {"holding": True},
          "p1 holds e1")
    check(expect(L, "POST", "/write", {"id": "w1", "token": t1, "election": "e1"}, 200)
          == {"id": "w1", "token": t1}, "write under the grant echoes id and token")
    check(expect(L, "POST", "/write", {"id": "w2", "token": None}, 200) == {"id": "w2", "token": None},
          "write without a token")
    expect(L, "POST", "/write", {"id": "wx", "token": t1 + 1000, "election": "e1"}, 409, "unknown-token")
    expect(L, "POST", "/write", {"id": "wx", "token": t1, "election": "other"}, 409, "unknown-token")
    check(expect(L, "POST", "/write", {"id": "w3", "token": t1}, 200) == {"id": "w3", "token": t1},
          "write with a token and no election finds the token's election")
    expect(L, "POST", "/release", {"election": "e1", "token": t1 + 1000}, 409, "not-holder")
    check(expect(L, "POST", "/release", {"election": "e1", "token": t1}, 200) == {}, "release")
    check(expect(L, "POST", "/holding", {"election": "e1", "token": t1}, 200) == {"holding": False},
          "holding after release is false")
    expect(L, "POST", "/release", {"election": "e1", "token": t1}, 409, "not-holder")
    stale = expect(L, "POST", "/write", {"id": "wx", "token": t1, "election": "e1"}, 409, "stale-token")
    check("token" not in stale, "stale-token without a current grant names none")
    t2 = expect(L, "POST", "/acquire", {"election": "e1", "client": "p2", "ttl_ms": 5000}, 200)["token"]
    check(t2 > t1, f"the next token {t2} is larger than {t1}")
    stale = expect(L, "POST", "/write", {"id": "wx", "token": t1, "election": "e1"}, 409, "stale-token")
    check(stale.get("token") == t2, "stale-token names the current grant")
    t3 = expect(L, "POST", "/acquire", {"election": "e2", "client": "p3", "ttl_ms": 200}, 200)["token"]
    time.sleep(0.35)
    check(expect(L, "POST", "/holding", {"election": "e2", "token": t3}, 200) == {"holding": False},
          "an expired grant is not held")
    expect(L, "POST", "/write", {"id": "wx", "token": t3, "election": "e2"}, 409, "stale-token")
    t4 = expect(L, "POST", "/acquire", {"election": "e2", "client": "p4", "ttl_ms": 60000}, 200)["token"]
    check(t4 > t3, "an expired grant can be acquired again")
    want = [{"id": "w1", "token": t1}, {"id": "w2", "token": None}, {"id": "w3", "token": t1}]
    check(expect(L, "GET", "/read", None, 200) == {"log": want}, "read on the leader: w1 w2 w3")

    print("errors")
    F = c["n1"]
    nl = expect(F, "POST", "/write", {"id": "wx", "token": None}, 421, "not-leader")
    check(nl.get("leader") == "n3", "not-leader names n3")
    expect(F, "GET", "/read", None, 421, "not-leader")
    expect(F, "POST", "/acquire", {"election": "e9", "client": "p9", "ttl_ms": 100}, 421, "not-leader")
    expect(c["n2"], "POST", "/holding", {"election": "e1", "token": t2}, 421, "not-leader")
    wait_for("n1's local copy to match",
             lambda: call(F, "GET", "/read?local=true")[1] == {"log": want}, 3)
    print("  ok  GET /read?local=true on n1 is the leader's log")
    expect(L, "POST", "/acquire", {"election": "e3", "client": "p1", "ttl_ms": "5"}, 422, "bad-request")
    expect(L, "POST", "/acquire", {"election": "e3", "client": "p1", "ttl_ms": 0}, 422, "bad-request")
    expect(L, "POST", "/acquire", {"election": "", "client": "p1", "ttl_ms": 5}, 422, "bad-request")
    expect(L, "POST", "/acquire", {"election": "e3", "client": "p1", "ttl_ms": 5, "x": 1}, 422,
           "bad-request")
    expect(L, "POST", "/acquire", {"election": "e\u0007", "client": "p1", "ttl_ms": 5}, 422,
           "bad-request")
    expect(L, "POST", "/write", {"token": None}, 422, "bad-request")
    expect(L, "POST", "/write", {"id": "wx", "token": 0}, 422, "bad-request")
    expect(L, "POST", "/holding", {"election": "e1", "token": True}, 422, "bad-request")
    expect(L, "POST", "/write", None, 400, "bad-json", raw=b"{not json")
    expect(L, "POST", "/write", None, 400, "bad-json", raw=b"")
    expect(L, "GET", "/nope", None, 404, "not-found")
    expect(L, "GET", "/write", None, 405, "method-not-allowed")
    expect(L, "POST", "/write", None, 413, "too-large", raw=b" " * (64 * 1024 + 1))
    expect(L, "GET", "/read?local=maybe", None, 422, "bad-request")
    check(expect(L, "GET", "/read", None, 200) == {"log": want}, "errors changed nothing")

    print("kill -9 the leader n3")
    # The leader acknowledges at once and replicates with its next heartbeat: a marker
    # write seen on n2 means n2 holds everything before it (the state goes whole).
    expect(L, "POST", "/write", {"id": "w-sync", "token": None}, 200)
    want.append({"id": "w-sync", "token": None})
    wait_for("n2 to hold the log", lambda: call(c["n2"], "GET", "/read?local=true")[1] == {"log": want}, 3)
    t_kill = time.monotonic()
    cluster.kill("n3")
    wait_for("n2 to lead n1", lambda: agreed_leader(cluster, ["n1", "n2"], "n2"), 10)
    print(f"  ok  n2 leads, n1 follows ({time.monotonic() - t_kill:.2f} s after the kill)")
    L2 = c["n2"]
    check(expect(L2, "GET", "/read", None, 200) == {"log": want}, "the log survived on n2")
    expect(L2, "POST", "/acquire", {"election": "e1", "client": "p5", "ttl_ms": 5000}, 409, "held")
    expect(L2, "POST", "/write", {"id": "w4", "token": t2, "election": "e1"}, 200)
    t5 = expect(L2, "POST", "/acquire", {"election": "e5", "client": "p5", "ttl_ms": 60000}, 200)["token"]
    check(t5 > t4, f"n2 continues the tokens ({t5} > {t4})")
    want.append({"id": "w4", "token": t2})
    term2 = cluster.status("n2")["term"]

    print("restart n3 with its data dir while writes go on")
    writer = Writer(cluster, "r")
    writer.start()
    time.sleep(0.3)
    t_restart = time.monotonic()
    cluster.start("n3")
    wait_for("n3 to lead again", lambda: agreed_leader(cluster, names, "n3"), 15)
    print(f"  ok  n3 leads again, n1 and n2 follow ({time.monotonic() - t_restart:.2f} s after start)")
    time.sleep(0.3)
    writer.stop.set()
    writer.join()
    check(len(writer.acked) > 0, f"{len(writer.acked)} of {writer.attempts} writes acknowledged "
                                 "around the takeover")
    check(cluster.status("n3")["term"] > term2, "n3's term is above n2's")
    log = expect(c["n3"], "GET", "/read", None, 200)["log"]
    check(log[:len(want)] == want, "n3's log starts with w1 w2 w3 w-sync w4")
    ids = [e["id"] for e in log]
    missing = [w for w in writer.acked if w not in ids]
    check(not missing, f"every acknowledged write is in n3's log (missing: {missing[:5]})")
    check(len(ids) == len(set(ids)), "no write appears twice")
    check(expect(c["n3"], "POST", "/holding", {"election": "e5", "token": t5}, 200)
          == {"holding": True}, "n3 knows n2's grant")
    for n in names:
        wait_for(f"{n}'s local copy to match", lambda n=n: call(
            c[n], "GET", "/read?local=true")[1] == {"log": log}, 3)
    print("  ok  every node's local copy equals n3's log")


def _interrupted(signum, _frame):
    raise SystemExit(f"interrupted by signal {signum}")


def main():
    signal.signal(signal.SIGTERM, _interrupted)
    keep = "--keep" in sys.argv[1:]
    root = tempfile.mkdtemp(prefix="bully-selftest-")
    cluster = Cluster(root)
    mon = Monitor(cluster)
    mon.start()
    t0 = time.monotonic()
    ok = False
    try:
        scenario(cluster)
        mon.stop.set()
        mon.join()
        both = mon.overlaps()
        check(not both, f"no two nodes led at once over {mon.polls} status polls "
                        f"(overlaps: {both[:3]})")
        ok = True
    except Failed as exc:
        print(f"FAIL {exc}")
    except Exception as exc:
        print(f"FAIL unexpected {exc!r}")
    finally:
        mon.stop.set()
        cluster.kill_all()
        if not ok:
            cluster.dump_logs()
        if keep or not ok:
            print(f"logs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(f"{'PASS' if ok else 'FAIL'} in {time.monotonic() - t0:.1f} s")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
