"""history.py: the record of what the torture clients did, for the checkers.

An operation (Op) is one request a client made: its process (the client
thread, or "final" for the reads after healing), its kind ("kv.get",
"kv.put", "kv.cas", "kv.delete", "lock.acquire", "lock.release",
"seq.next", "seq.read", "set.add", "set.read", "ttl.put", "ttl.get", and
"kv.swap" for RESP's SET k v GET), the object it acts on
(key), its input, its output, and its outcome:

  ok       the service answered definitely. The answer may be "no" (a
           condition that did not hold, a lock held by someone else, a key
           not found): output says which.
  fail     the request certainly took no effect, and its answer says
           nothing about the state (connection refused before sending, 503
           unavailable, 400).
  unknown  it may or may not take effect, now or later (timeout, 504,
           500, connection reset after the request was sent). Checkers
           treat its completion time as +infinity.

Times are seconds on the harness's monotonic clock (CLOCK_MONOTONIC, the
same clock kahunad uses for TTLs), relative to the start of the run.

Fault and harness events (kinds "nemesis.start" / "nemesis.info" /
"nemesis.end", "harness.start", "harness.crash", "harness.restarted",
"harness.healed", "harness.leader" (the monitor saw a new leader);
process "nemesis") are kept in the same history; the
checkers skip them (the ttl checker uses the windows in which nodes
restarted), the plot shades the fault windows.

Serialisation: JSON lines, one op per line, in completion order.
"""

import gzip
import json
import math
import os
import threading
import time

OK = "ok"
FAIL = "fail"
UNKNOWN = "unknown"
OUTCOMES = (OK, FAIL, UNKNOWN)

INF = math.inf


class Op:
    """One operation. complete is None while in flight; for an unknown
    outcome it is the time the client gave up (ret() is +inf)."""

    __slots__ = ("id", "process", "kind", "key", "input", "output", "outcome",
                 "invoke", "complete", "node", "error")

    def __init__(self, id, process, kind, key, input=None, output=None, outcome=None,
                 invoke=0.0, complete=None, node=None, error=None):
        self.id = id
        self.process = process
        self.kind = kind
        self.key = key
        self.input = input if input is not None else {}
        self.output = output
        self.outcome = outcome
        self.invoke = invoke
        self.complete = complete
        self.node = node
        self.error = error

    def ret(self):
        """Return time as the checkers see it: +inf when the outcome is
        unknown (the op may take effect at any later moment)."""
        if self.outcome == UNKNOWN or self.complete is None:
            return INF
        return self.complete

    def to_dict(self):
        d = {"id": self.id, "process": self.process, "kind": self.kind, "key": self.key,
             "input": self.input, "output": self.output, "outcome": self.outcome,
             "invoke": round(self.invoke, 6),
             "complete": None if self.complete is None else round(self.complete, 6)}
        if self.node is not None:
            d["node"] = self.node
        if self.error is not None:
            d["error"] = self.error
        return d

    @classmethod
    def from_dict(cls, d):
        return cls(d["id"], d["process"], d["kind"], d.get("key"), d.get("input") or {},
                   d.get("output"), d.get("outcome"), d.get("invoke", 0.0), d.get("complete"),
                   d.get("node"), d.get("error"))

    def __repr__(self):
        return ("Op(%s p=%s %s %s in=%s out=%s %s [%.6f, %s])"
                % (self.id, self.process, self.kind, self.key, self.input, self.output,
                   self.outcome, self.invoke,
                   "inf" if self.ret() == INF else "%.6f" % self.ret()))

    def brief(self):
        """A short one-line description for reports."""
        end = "inf" if self.ret() == INF else "%.4f" % self.ret()
        return ("#%s p%s %s %s %s -> %s %s [%.4f, %s]"
                % (self.id, self.process, self.kind, self.key, json.dumps(self.input, sort_keys=True),
                   self.outcome, json.dumps(self.output, sort_keys=True), self.invoke, end))


def is_nemesis(op):
    """A fault or harness event rather than a client operation."""
    return op.process == "nemesis" or op.kind.startswith(("nemesis.", "harness."))


class Recorder:
    """Thread-safe history being recorded. begin() stamps the invoke time;
    finish() stamps the completion, keeps the op and appends it to the
    JSON-lines file (if any) at once, so a crashed harness leaves what it
    saw. Every op begun must be finished (the clients do it in finally)."""

    def __init__(self, path=None, t0=None):
        self._lock = threading.Lock()
        self._next_id = 0
        self.t0 = time.monotonic() if t0 is None else t0
        self.ops = []
        self._f = open(path, "w", encoding="utf-8") if path else None

    def now(self):
        return time.monotonic() - self.t0

    def begin(self, process, kind, key, input=None, node=None):
        with self._lock:
            oid = self._next_id
            self._next_id += 1
        return Op(oid, process, kind, key, dict(input or {}), invoke=self.now(), node=node)

    def finish(self, op, outcome, output=None, error=None):
        assert outcome in OUTCOMES, outcome
        op.complete = self.now()
        op.outcome = outcome
        op.output = output
        op.error = error
        self._keep(op)
        return op

    def event(self, kind, key, info):
        """A nemesis or harness event (instantaneous)."""
        op = self.begin("nemesis", kind, key, info)
        op.complete = op.invoke
        op.outcome = OK
        self._keep(op)
        return op

    def _keep(self, op):
        with self._lock:
            self.ops.append(op)
            if self._f:
                self._f.write(json.dumps(op.to_dict(), sort_keys=True) + "\n")
                self._f.flush()

    def close(self):
        with self._lock:
            if self._f:
                self._f.close()
                self._f = None


def dump(ops, path):
    with open(path, "w", encoding="utf-8") as f:
        for op in ops:
            f.write(json.dumps(op.to_dict(), sort_keys=True) + "\n")


def compress(path):
    """Replaces path by path.gz (a passed run's history is kept compressed)."""
    with open(path, "rb") as src, gzip.open(path + ".gz", "wb", compresslevel=6) as dst:
        while True:
            chunk = src.read(1 << 20)
            if not chunk:
                break
            dst.write(chunk)
    os.unlink(path)
    return path + ".gz"


def load(path):
    """Reads a history written by Recorder or dump(), plain or gzip'ed."""
    ops = []
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                ops.append(Op.from_dict(json.loads(line)))
    return ops
