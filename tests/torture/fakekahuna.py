#!/usr/bin/python3
"""fakekahuna.py: a small stand-in for kahunad with bugs on demand, to prove
that the torture harness and its checkers catch what they claim to catch
(check_selftest.sh). It speaks the subset of SPEC §3 the workloads use (kv
get/put with if_revision/if_value/ttl_ms, delete, prefix listing; locks acquire
with wait, release; sequences next with idempotency keys, get), takes
kahunad's options, keeps a JSON-lines log in --data-dir, and stops on
SIGTERM. Without a bug it is correct (single node, fsync per write).

The bug comes from the environment, FAKEKAHUNA_BUG:
  lose-writes  the log is not fsync'ed nor flushed before answering: kill -9
               loses acknowledged writes (register, set, revision checkers)
  seq-reuse    sequences are not logged: after a restart they start again
               (sequence checker: a value handed out twice)
  lock-early   a lock expires after half its TTL (lock checker: two holders)
  stale-read   reads are served from a copy of the state refreshed every
               100 ms (register checker: stale read)
  cas-blind    a CAS by revision ignores its condition one time in ten
               (register checker)
  ttl-early    a key with a TTL expires after half of it (ttl checker)
  crash        exits (status 3) after 300 writes (harness: a node died)
  no-restart   after 100 writes, refuses to start again (harness: a node
               did not come back after a fault)
"""

import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUG = os.environ.get("FAKEKAHUNA_BUG", "")


class State:
    def __init__(self, path):
        self.mu = threading.Condition()
        self.kv = {}         # key -> [value, revision, create_revision, version, deadline or None]
        self.locks = {}      # name -> [owner, token, deadline, ttl_ms]
        self.seqs = {}       # name -> last value
        self.idem = {}       # (name, idem) -> answer
        self.rev = 0
        self.path = path
        self.snapshot = {}
        self.snap_at = 0.0
        self.nwrites = 0
        self.nwrites_total = 0
        if BUG == "no-restart" and os.path.exists(path + ".dirty"):
            print("fakekahuna: refusing to start: the log is dirty", file=sys.stderr, flush=True)
            sys.exit(1)
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        break      # a torn last line
                    self.apply(rec, replay=True)
        self.f = open(path, "a", buffering=1 << 20)

    def log(self, rec):
        if BUG == "seq-reuse" and rec["t"] == "seq":
            rec = dict(rec, t="rev")      # only the revision survives
        self.f.write(json.dumps(rec) + "\n")
        if BUG != "lose-writes":
            self.f.flush()
            os.fsync(self.f.fileno())

    def apply(self, rec, replay=False):
        t = rec["t"]
        self.rev = max(self.rev, rec["rev"])
        if t == "put":
            old = self.kv.get(rec["k"])
            ttl = rec.get("ttl") or 0
            if BUG == "ttl-early":
                ttl /= 2
            self.kv[rec["k"]] = [rec["v"], rec["rev"], old[2] if old else rec["rev"],
                                 (old[3] + 1) if old else 1,
                                 time.monotonic() + ttl / 1000.0 if ttl else None]
        elif t == "del":
            self.kv.pop(rec["k"], None)
        elif t == "grant":
            self.locks[rec["k"]] = [rec["o"], rec["rev"], time.monotonic() + rec["ttl"] / 1000.0, rec["ttl"]]
        elif t == "regrant":
            lk = self.locks.get(rec["k"])
            if lk:
                lk[2] = time.monotonic() + rec["ttl"] / 1000.0
        elif t == "free":
            self.locks.pop(rec["k"], None)
        elif t == "seq":
            self.seqs[rec["k"]] = rec["last"]
            if rec.get("i"):
                self.idem[(rec["k"], rec["i"])] = (rec["value"], rec["last"], rec["rev"])

    def write(self, rec):
        if BUG == "crash" and self.nwrites_total > 300:
            os._exit(3)
        if BUG == "no-restart" and self.nwrites_total > 100:
            open(self.path + ".dirty", "w").close()
        self.nwrites_total += 1
        self.rev += 1
        rec["rev"] = self.rev
        self.log(rec)
        self.apply(rec)
        self.mu.notify_all()
        return self.rev

    def expire(self):
        now = time.monotonic()
        for key, rec in list(self.kv.items()):
            if rec[4] is not None and now >= rec[4]:
                self.write({"t": "del", "k": key})
        for name, lk in list(self.locks.items()):
            ttl = lk[3] / 1000.0
            end = lk[2] - ttl / 2 if BUG == "lock-early" else lk[2]
            if now >= end:
                self.write({"t": "free", "k": name})

    def read_view(self):
        if BUG != "stale-read":
            return self.kv
        now = time.monotonic()
        if now - self.snap_at > 0.1:
            self.snapshot = {k: list(v) for k, v in self.kv.items()}
            self.snap_at = now
        return self.snapshot


STATE = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code, **extra):
        self.reply(status, dict({"error": {"code": code, "message": code}}, **extra))

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw) if raw else {}

    def route(self):
        u = urllib.parse.urlsplit(self.path)
        return urllib.parse.unquote(u.path), urllib.parse.parse_qs(u.query, keep_blank_values=True)

    def do_GET(self):
        path, q = self.route()
        st = STATE
        if path in ("/ready", "/health"):
            return self.reply(200, {"ok": True})
        with st.mu:
            st.expire()
            if path == "/v1/kv":
                prefix = q.get("prefix", [""])[0]
                after = q.get("after", [""])[0]
                limit = int(q.get("limit", ["100"])[0])
                keys = sorted(k for k in st.read_view() if k.startswith(prefix) and k > after)
                items = [{"key": k} for k in keys[:limit]]
                return self.reply(200, {"items": items, "more": len(keys) > limit})
            if path.startswith("/v1/kv/"):
                rec = st.read_view().get(path[len("/v1/kv/"):])
                if rec is None:
                    return self.error(404, "not_found")
                return self.reply(200, {"key": path[7:], "value": rec[0], "revision": rec[1],
                                        "create_revision": rec[2], "version": rec[3]})
            if path.startswith("/v1/sequences/"):
                name = path[len("/v1/sequences/"):]
                if name not in st.seqs:
                    return self.error(404, "not_found")
                return self.reply(200, {"name": name, "value": st.seqs[name]})
        return self.error(404, "not_found")

    def do_PUT(self):
        path, q = self.route()
        b = self.body()
        st = STATE
        if not path.startswith("/v1/kv/"):
            return self.error(404, "not_found")
        key = path[len("/v1/kv/"):]
        with st.mu:
            st.expire()
            cur = st.kv.get(key)
            rev = cur[1] if cur else 0
            ok = True
            if "if_revision" in b and b["if_revision"] != rev:
                ok = BUG == "cas-blind" and cur is not None and st.nwrites % 10 == 0
            if "if_value" in b and (cur is None or cur[0] != b["if_value"]):
                ok = False
            st.nwrites += 1
            if not ok:
                return self.error(409, "condition_failed", revision=rev)
            r = st.write({"t": "put", "k": key, "v": b.get("value", ""), "ttl": b.get("ttl_ms", 0)})
            rec = st.kv[key]
            return self.reply(200, {"key": key, "revision": r, "version": rec[3],
                                    "create_revision": rec[2]})

    def do_DELETE(self):
        path, q = self.route()
        st = STATE
        key = path[len("/v1/kv/"):]
        with st.mu:
            st.expire()
            if key not in st.kv:
                return self.error(404, "not_found")
            r = st.write({"t": "del", "k": key})
            return self.reply(200, {"key": key, "revision": r})

    def do_POST(self):
        path, q = self.route()
        b = self.body()
        st = STATE
        if path.startswith("/v1/locks/"):
            name, _, action = path[len("/v1/locks/"):].rpartition("/")
            owner = b.get("owner")
            with st.mu:
                if action == "acquire":
                    end = time.monotonic() + b.get("wait_ms", 0) / 1000.0
                    while True:
                        st.expire()
                        lk = st.locks.get(name)
                        if lk is None:
                            r = st.write({"t": "grant", "k": name, "o": owner, "ttl": b["ttl_ms"]})
                            return self.reply(200, {"name": name, "owner": owner, "fencing_token": r,
                                                    "ttl_ms": b["ttl_ms"], "revision": r})
                        if lk[0] == owner:
                            r = st.write({"t": "regrant", "k": name, "ttl": b["ttl_ms"]})
                            return self.reply(200, {"name": name, "owner": owner, "fencing_token": lk[1],
                                                    "ttl_ms": b["ttl_ms"], "revision": r})
                        left = end - time.monotonic()
                        if left <= 0:
                            return self.error(409, "lock_held", owner=lk[0],
                                              ttl_ms=max(1, int((lk[2] - time.monotonic()) * 1000)))
                        st.mu.wait(min(left, 0.005))
                if action == "release":
                    st.expire()
                    lk = st.locks.get(name)
                    if lk is None:
                        return self.error(404, "not_found")
                    if lk[0] != owner:
                        return self.error(409, "not_owner", owner=lk[0])
                    r = st.write({"t": "free", "k": name})
                    return self.reply(200, {"name": name, "owner": owner, "released": True, "revision": r})
            return self.error(404, "not_found")
        if path.startswith("/v1/sequences/") and path.endswith("/next"):
            name = path[len("/v1/sequences/"):-len("/next")]
            count = b.get("count", 1)
            idem = b.get("idempotency_key")
            with st.mu:
                if idem and (name, idem) in st.idem:
                    v, last, r = st.idem[(name, idem)]
                else:
                    v = st.seqs.get(name, 0) + 1
                    last = v + count - 1
                    r = st.write({"t": "seq", "k": name, "value": v, "last": last, "i": idem})
                return self.reply(200, {"name": name, "value": v, "last": last, "revision": r})
        return self.error(404, "not_found")


def main(argv):
    opts = {"node-id": "n1", "listen": "127.0.0.1:2070", "data-dir": None, "peers": ""}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("--") and i + 1 < len(argv):
            opts[a[2:]] = argv[i + 1]
            i += 2
        else:
            i += 1
    others = [p for p in opts["peers"].split(",") if p and not p.startswith(opts["node-id"] + "=")]
    if others:
        print("fakekahuna: --peers names other nodes: multi-node clusters are not supported",
              file=sys.stderr)
        return 64
    global STATE
    os.makedirs(opts["data-dir"], exist_ok=True)
    STATE = State(os.path.join(opts["data-dir"], "log.jsonl"))
    host, port = opts["listen"].rsplit(":", 1)
    try:
        srv = ThreadingHTTPServer((host, int(port)), Handler)
    except OSError as e:
        print("fakekahuna: cannot listen on %s: %s (address in use?)" % (opts["listen"], e),
              file=sys.stderr)
        return 1
    srv.daemon_threads = True

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("fakekahuna: serving on %s, bug %r" % (opts["listen"], BUG or "none"), file=sys.stderr,
          flush=True)
    srv.serve_forever()
    with STATE.mu:
        STATE.f.flush()
        os.fsync(STATE.f.fileno())
    print("fakekahuna: stopped cleanly", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
