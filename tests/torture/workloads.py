"""workloads.py: the torture clients. Each worker is a thread with its own
process id, random generator and Client (client.py); it records every
attempt in the history (history.py) until the run's stop event is set.

  registers   get / put / CAS (if_revision, sometimes if_value) / delete on
              a few hot keys; a key is retired after --ops-per-key ops and a
              fresh one takes its slot, so each key's history stays small
              enough for the linearizability search.
  locks       acquire (with wait) under a fresh owner per attempt -> fenced
              write to the lock's protected key -> release; a retried
              acquire reuses the owner (harmless: same token). The fence:
              read the protected key ("TOKEN:OWNER"), and write it with
              if_revision = the revision read only when the stored token is
              not newer than ours, so the key accepts tokens in order and a
              stale holder is turned away. Some holders "crash" (never
              release) so that grants also end by TTL expiry; some stall
              past their TTL before writing (a client GC pause), so that
              the fence has stale holders to turn away.
  sequences   next (count 1..4) from many clients, half with an
              idempotency key that is reused when an attempt's outcome is
              unknown.
  sets        unique keys under a prefix (PUT), read back at the end with a
              paged listing.
  ttl         fresh keys put with a TTL, then read every few ms until they
              read as absent.
  resp        the registers workload over the Redis protocol, on the same
              keys as the REST register clients: GET, SET, SET ... GET (an
              atomic swap that reports the old value), DEL, and a CAS made
              of WATCH k / GET k / MULTI / SET k v / EXEC. RESP answers
              carry no revisions; the register checker's model copes.

Every client sends each request to a node picked at random among the
current members (the membership nemesis changes them): any node must
serve, a follower forwarding to the leader.

final_reads() runs after the faults are healed: one read of every key,
protected key, sequence and set used, recorded like any other op.
"""

import random
import threading
import time

from client import Client, RespClient, RespError, quote
from history import OK, FAIL, UNKNOWN


class RunState:
    """What the workers share: the recorder, the stop event, the names."""

    def __init__(self, recorder, nodes, opts, seed):
        self.rec = recorder
        self.nodes = list(nodes)      # [(id, host, port, resp_port)]: the current members
        self.opts = opts
        self.seed = seed
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.prefix = "torture/"
        self.reg_slots = [{"gen": 0, "ops": 0} for _ in range(opts.keys)]
        self.reg_keys = set()
        self.lock_names = ["%slock/l%d" % (self.prefix, i) for i in range(opts.locks)]
        self.seq_names = ["%sseq/s%d" % (self.prefix, i) for i in range(opts.sequences)]
        self.set_prefix = "%sset/" % self.prefix
        self.errors = []              # exceptions in workers (harness bugs)

    def endpoints(self):
        """The nodes clients may talk to now (a copy)."""
        with self.lock:
            return list(self.nodes)

    def set_endpoints(self, nodes):
        with self.lock:
            self.nodes = list(nodes)

    def fence_key(self, lock):
        return "%sfence/%s" % (self.prefix, lock.rsplit("/", 1)[-1])

    def reg_key(self, rng):
        with self.lock:
            j = rng.randrange(len(self.reg_slots))
            slot = self.reg_slots[j]
            slot["ops"] += 1
            if slot["ops"] > self.opts.ops_per_key:
                slot["gen"] += 1
                slot["ops"] = 1
            key = "%sreg/k%d.g%d" % (self.prefix, j, slot["gen"])
            self.reg_keys.add(key)
            return key


class Worker(threading.Thread):
    kind = "worker"

    def __init__(self, run, process):
        super().__init__(name="%s-%d" % (self.kind, process), daemon=True)
        self.run_state = run
        self.process = process
        self.rng = random.Random("%s/%s/%d" % (run.seed, self.kind, process))
        self.client = self.make_client(run, process)
        self.n = 0

    def make_client(self, run, process):
        return Client(run.endpoints, timeout=run.opts.timeout,
                      rng=random.Random("%s/%s/%d/nodes" % (run.seed, self.kind, process)))

    # one recorded attempt: returns (op, answer or None)
    def call(self, kind, key, inp, method, path, body=None, timeout=None, convert=None):
        rec = self.run_state.rec
        op = rec.begin(self.process, kind, key, inp, node=self.client.node_id())
        outcome, out, err, ans = UNKNOWN, None, "interrupted", None
        try:
            ans = self.client.request(method, path, body, timeout)
            outcome, err = ans.outcome, ans.error
            if outcome == OK:
                out = convert(ans) if convert else ans.body
                if out is None:           # an answer this op cannot have
                    outcome = UNKNOWN
                    err = "unexpected answer %s %s" % (ans.status, ans.body)
        except Exception as e:   # a harness bug: recorded as unknown
            self.run_state.errors.append("%s: %r" % (self.name, e))
            outcome, out, err = UNKNOWN, None, repr(e)
        finally:
            rec.finish(op, outcome, out if outcome == OK else None, err)
        if outcome != OK:
            self.pace()
        return op, ans

    def pace(self):
        """After a failed or unknown attempt: a short pause so that a dead
        node is not hammered in a loop (pacing, not waiting for anything)."""
        time.sleep(self.rng.uniform(0.01, 0.05))

    def stopping(self):
        return self.run_state.stop.is_set()

    def run(self):
        try:
            while not self.stopping():
                self.n += 1
                self.step()
                if self.run_state.opts.think_ms:
                    time.sleep(self.rng.uniform(0, self.run_state.opts.think_ms) / 1000.0)
        except Exception as e:   # pragma: no cover - a harness bug
            import traceback
            self.run_state.errors.append("%s: %s" % (self.name, traceback.format_exc()))
        finally:
            self.client.close()


# ---- conversions of answers to op outputs (None: impossible answer) ----

def kv_read_out(a):
    if a.status == 404:
        return {"found": False}
    if a.status == 200 and "value" in a.body:
        return {"found": True, "value": a.body["value"], "revision": a.body["revision"]}
    return None


def kv_write_out(a):
    if a.status == 200:
        return {"revision": a.body["revision"]}
    return None


def kv_cas_out(a):
    if a.status == 200:
        return {"ok": True, "revision": a.body["revision"]}
    if a.status == 409:
        return {"ok": False, "revision": a.body.get("revision")}
    return None


def kv_delete_out(a):
    if a.status == 200:
        return {"found": True, "revision": a.body["revision"]}
    if a.status == 404:
        return {"found": False}
    return None


class RegisterWorker(Worker):
    kind = "reg"

    def __init__(self, run, process):
        super().__init__(run, process)
        self.seen = {}    # key -> (value, revision) last observed by this worker

    def step(self):
        run = self.run_state
        key = run.reg_key(self.rng)
        path = "/v1/kv/" + quote(key)
        r = self.rng.random()
        if r < 0.40:
            op, a = self.call("kv.get", key, {}, "GET", path, convert=kv_read_out)
            if op.outcome == OK:
                o = op.output
                self.seen[key] = (o.get("value"), o.get("revision", 0)) if o["found"] else (None, 0)
        elif r < 0.65:
            v = "p%d-%d" % (self.process, self.n)
            op, a = self.call("kv.put", key, {"value": v}, "PUT", path, {"value": v}, convert=kv_write_out)
            if op.outcome == OK:
                self.seen[key] = (v, op.output["revision"])
        elif r < 0.95:
            v = "c%d-%d" % (self.process, self.n)
            old_v, old_rev = self.seen.get(key, (None, 0))
            if old_v is not None and self.rng.random() < 0.25:
                inp = {"value": v, "if_value": old_v}
            else:
                inp = {"value": v, "if_revision": old_rev}
            op, a = self.call("kv.cas", key, inp, "PUT", path, dict(inp), convert=kv_cas_out)
            if op.outcome == OK:
                if op.output["ok"]:
                    self.seen[key] = (v, op.output["revision"])
                elif op.output.get("revision") == 0:
                    self.seen[key] = (None, 0)
                else:
                    self.seen.pop(key, None)
        else:
            op, a = self.call("kv.delete", key, {}, "DELETE", path, convert=kv_delete_out)
            if op.outcome == OK:
                self.seen[key] = (None, 0)


class RespRegisterWorker(RegisterWorker):
    """The registers workload over RESP, on the same keys as the REST
    register clients. Ops recorded with input "via": "resp"; outputs carry
    no revision (RESP answers have none):
      kv.get     GET k                       -> found, value
      kv.put     SET k v                     -> (no revision)
      kv.swap    SET k v GET                 -> found, old value
      kv.delete  DEL k                       -> found
      kv.cas     WATCH k, GET k (a kv.get of its own), MULTI, SET k v, EXEC:
                 input if_watched = the value GET saw (None: absent);
                 EXEC answering [OK] means it applied, which needs the key
                 unchanged since WATCH, so its value was if_watched; nil
                 means the key was written since WATCH (not applied)."""
    kind = "resp"

    def make_client(self, run, process):
        return RespClient(run.endpoints, timeout=run.opts.timeout,
                          rng=random.Random("%s/%s/%d/nodes" % (run.seed, self.kind, process)))

    def rcall(self, kind, key, inp, args, convert):
        """One recorded RESP command on the current node's connection."""
        rec = self.run_state.rec
        inp = dict(inp, via="resp")
        op = rec.begin(self.process, kind, key, inp, node=self.client.node_id())
        outcome, out, err, ans = UNKNOWN, None, "interrupted", None
        try:
            ans = self.client.command(*args)
            outcome, err = ans.outcome, ans.error
            if outcome == OK:
                out = convert(ans.body)
                if out is None:
                    outcome = UNKNOWN
                    err = "unexpected reply %r" % (ans.body,)
                    self.client.drop()
        except Exception as e:   # a harness bug: recorded as unknown
            self.run_state.errors.append("%s: %r" % (self.name, e))
            outcome, out, err = UNKNOWN, None, repr(e)
            self.client.drop()
        finally:
            rec.finish(op, outcome, out if outcome == OK else None, err)
        if outcome != OK:
            self.pace()
        return op

    def plain(self, args):
        """A command that is not recorded (WATCH, MULTI, a queued SET):
        True when it got the expected simple answer."""
        a = self.client.command(*args)
        return a.outcome == OK and a.body in ("OK", "QUEUED")

    WEIGHTS = (("get", 0.35), ("set", 0.20), ("swap", 0.15), ("watch", 0.25), ("del", 0.05))

    def step(self):
        run = self.run_state
        key = run.reg_key(self.rng)
        self.client.pick()
        allowed = getattr(run.opts, "resp_op_list", None) or [w for w, _ in self.WEIGHTS]
        ws = [(w, p) for w, p in self.WEIGHTS if w in allowed]
        r = self.rng.random() * sum(p for _, p in ws)
        what = ws[-1][0]
        for w, p in ws:
            if r < p:
                what = w
                break
            r -= p
        if what == "get":
            self.rcall("kv.get", key, {}, ["GET", key], resp_get_out)
        elif what == "set":
            v = "r%d-%d" % (self.process, self.n)
            self.rcall("kv.put", key, {"value": v}, ["SET", key, v],
                       lambda b: {"revision": None} if b == "OK" else None)
        elif what == "swap":
            v = "s%d-%d" % (self.process, self.n)
            self.rcall("kv.swap", key, {"value": v}, ["SET", key, v, "GET"],
                       lambda b: ({"found": False} if b is None else
                                  {"found": True, "old": b} if isinstance(b, str) else None))
        elif what == "watch":
            self.watch_cas(key)
        else:
            self.rcall("kv.delete", key, {}, ["DEL", key],
                       lambda b: {"found": b == 1, "revision": None} if b in (0, 1) else None)

    def watch_cas(self, key):
        if not self.plain(["WATCH", key]):
            self.client.drop()
            self.pace()
            return
        op = self.rcall("kv.get", key, {}, ["GET", key], resp_get_out)
        if op.outcome != OK:
            return        # the connection was dropped, and the watch with it
        old = op.output.get("value") if op.output["found"] else None
        v = "w%d-%d" % (self.process, self.n)
        if not self.plain(["MULTI"]) or not self.plain(["SET", key, v]):
            self.client.drop()
            self.pace()
            return

        def exec_out(b):
            if b is None:
                return {"ok": False, "revision": None}
            if isinstance(b, list) and len(b) == 1 and b[0] == "OK":
                return {"ok": True, "revision": None}
            return None

        self.rcall("kv.cas", key, {"value": v, "if_watched": old}, ["EXEC"], exec_out)


def resp_get_out(b):
    if b is None:
        return {"found": False}
    if isinstance(b, str):
        return {"found": True, "value": b}
    return None


def lock_acq_out(a):
    if a.status == 200 and "fencing_token" in a.body:
        return {"granted": True, "token": a.body["fencing_token"], "ttl_ms": a.body.get("ttl_ms"),
                "revision": a.body.get("revision")}
    if a.status == 409:
        e = a.body.get("error") or {}
        return {"granted": False, "code": e.get("code"), "holder": a.body.get("owner"),
                "ttl_ms": a.body.get("ttl_ms")}
    return None


def lock_rel_out(a):
    if a.status == 200:
        return {"released": True, "revision": a.body.get("revision")}
    if a.status in (404, 409):
        e = a.body.get("error") or {}
        return {"released": False, "status": a.status, "code": e.get("code"),
                "holder": a.body.get("owner")}
    return None


class LockWorker(Worker):
    kind = "lock"

    def step(self):
        run = self.run_state
        opts = run.opts
        lock = self.rng.choice(run.lock_names)
        owner = "p%d-%d" % (self.process, self.n)
        base = "/v1/locks/" + quote(lock)
        wait_ms = self.rng.choice([0, opts.lock_wait_ms, opts.lock_wait_ms])
        inp = {"owner": owner, "ttl_ms": opts.lock_ttl_ms, "wait_ms": wait_ms}
        token = None
        # an impatient client gives up while the server may still make it
        # wait: the server must drop the waiter (SPEC §3)
        impatient = wait_ms > 0 and self.rng.random() < opts.lock_impatient
        tmo = opts.timeout + wait_ms / 1000.0
        if impatient:
            tmo = self.rng.uniform(0.2, 0.9) * wait_ms / 1000.0
        for attempt in range(4):
            if self.stopping() and attempt > 0:
                break
            op, a = self.call("lock.acquire", lock, inp, "POST", base + "/acquire", dict(inp),
                              timeout=tmo, convert=lock_acq_out)
            if op.outcome == OK:
                if op.output["granted"]:
                    token = op.output["token"]
                break
        if token is None:
            return
        # critical section: hold a little (or stall past the TTL, like a
        # client in a long GC pause), then the fenced write
        if self.rng.random() < opts.lock_stall:
            time.sleep(self.rng.uniform(1.2, 2.0) * opts.lock_ttl_ms / 1000.0)
        else:
            time.sleep(self.rng.uniform(0, opts.lock_hold_ms) / 1000.0)
        self.fenced_write(lock, owner, token)
        if self.rng.random() < opts.lock_abandon:
            return    # this holder "crashed": the lock ends by TTL expiry
        rin = {"owner": owner}
        for attempt in range(3):
            op, a = self.call("lock.release", lock, rin, "POST", base + "/release", dict(rin),
                              convert=lock_rel_out)
            if op.outcome == OK:
                break

    def fenced_write(self, lock, owner, token):
        fkey = self.run_state.fence_key(lock)
        path = "/v1/kv/" + quote(fkey)
        for attempt in range(3):
            op, a = self.call("kv.get", fkey, {"fence_for": lock, "fence_token": token, "owner": owner},
                              "GET", path, convert=kv_read_out)
            if op.outcome != OK:
                return
            rev = 0
            if op.output["found"]:
                try:
                    stored = int(str(op.output["value"]).split(":", 1)[0])
                except ValueError:
                    stored = None
                if stored is not None and stored > token:
                    return          # fenced off: a newer holder wrote already
                rev = op.output["revision"]
            inp = {"value": "%d:%s" % (token, owner), "if_revision": rev,
                   "fence_for": lock, "fence_token": token}
            body = {"value": inp["value"], "if_revision": rev}
            op, a = self.call("kv.cas", fkey, inp, "PUT", path, body, convert=kv_cas_out)
            if op.outcome != OK or op.output["ok"]:
                return


def seq_next_out(a):
    if a.status == 200 and "value" in a.body:
        return {"value": a.body["value"], "last": a.body.get("last", a.body["value"]),
                "revision": a.body.get("revision")}
    return None


class SequenceWorker(Worker):
    kind = "seq"

    def step(self):
        run = self.run_state
        name = self.rng.choice(run.seq_names)
        count = 1 if self.rng.random() < 0.75 else self.rng.randint(2, 4)
        idem = "p%d-%d" % (self.process, self.n) if self.rng.random() < 0.5 else None
        inp = {"count": count}
        body = {"count": count}
        if idem:
            inp["idem"] = idem
            body["idempotency_key"] = idem
        path = "/v1/sequences/%s/next" % quote(name)
        for attempt in range(4 if idem else 1):
            if self.stopping() and attempt > 0:
                break
            op, a = self.call("seq.next", name, inp, "POST", path, dict(body), convert=seq_next_out)
            if op.outcome == OK:
                break
            if op.outcome == FAIL and not idem:
                break


def ttl_get_out(a):
    if a.status == 404:
        return {"found": False}
    if a.status == 200 and "value" in a.body:
        return {"found": True, "value": a.body["value"], "revision": a.body["revision"],
                "ttl_ms": a.body.get("ttl_ms")}
    return None


class TtlWorker(Worker):
    """Keys with a TTL: put a fresh key with ttl_ms, then read it every few
    ms until it reads as absent (or for three TTLs)."""
    kind = "ttl"

    def step(self):
        run = self.run_state
        key = "%sttl/p%d-%d" % (run.prefix, self.process, self.n)
        ttl = self.rng.randint(run.opts.ttl_min_ms, run.opts.ttl_max_ms)
        v = "t%d-%d" % (self.process, self.n)
        path = "/v1/kv/" + quote(key)
        op, a = self.call("ttl.put", key, {"value": v, "ttl_ms": ttl}, "PUT", path,
                          {"value": v, "ttl_ms": ttl}, convert=kv_write_out)
        if op.outcome != OK:
            return
        end = time.monotonic() + 3 * ttl / 1000.0 + 0.5
        while not self.stopping() and time.monotonic() < end:
            op, a = self.call("ttl.get", key, {"ttl_ms": ttl}, "GET", path, convert=ttl_get_out)
            if op.outcome == OK and not op.output["found"]:
                return
            time.sleep(self.rng.uniform(0.2, 1.0) * ttl / 5000.0)


class SetWorker(Worker):
    kind = "set"

    def step(self):
        run = self.run_state
        e = "p%d-%d" % (self.process, self.n)
        key = run.set_prefix + e
        self.call("set.add", run.set_prefix, {"element": e}, "PUT", "/v1/kv/" + quote(key),
                  {"value": "1"}, convert=kv_write_out)


WORKERS = {"registers": RegisterWorker, "resp": RespRegisterWorker, "locks": LockWorker,
           "sequences": SequenceWorker, "sets": SetWorker, "ttl": TtlWorker}


def start_workers(run, counts):
    """counts: {workload: number of clients}. Process ids are unique."""
    workers = []
    pid = 0
    for name in ("registers", "resp", "locks", "sequences", "sets", "ttl"):
        for _ in range(counts.get(name, 0)):
            w = WORKERS[name](run, pid)
            pid += 1
            workers.append(w)
    for w in workers:
        w.start()
    return workers


def stop_workers(run, workers, deadline):
    """Sets the stop event and joins every worker (each finishes its
    current op: every wait in a worker is bounded by a timeout)."""
    run.stop.set()
    end = time.monotonic() + deadline
    alive = []
    for w in workers:
        w.join(max(0.0, end - time.monotonic()))
        if w.is_alive():
            alive.append(w.name)
    return alive


# ---- final reads ----------------------------------------------------------

class FinalReader(Worker):
    """Not a thread in practice: final_reads() calls its methods directly."""
    kind = "final"

    def step(self):
        pass


def final_reads(run, deadline):
    """One read of everything used, each retried until it answers (or the
    deadline passes). Returns the number of objects that could not be read."""
    fr = FinalReader(run, 10_000)
    fr.process = "final"
    end = time.monotonic() + deadline
    missing = 0

    def retry(fn):
        nonlocal missing
        while True:
            if fn():
                return
            if time.monotonic() >= end:
                missing += 1
                return

    for key in sorted(run.reg_keys):
        retry(lambda: fr.call("kv.get", key, {}, "GET", "/v1/kv/" + quote(key),
                              convert=kv_read_out)[0].outcome == OK)
    for lock in (run.lock_names if run.opts.lock_clients > 0 else []):
        fkey = run.fence_key(lock)
        retry(lambda: fr.call("kv.get", fkey, {"fence_for": lock}, "GET", "/v1/kv/" + quote(fkey),
                              convert=kv_read_out)[0].outcome == OK)

    def seq_read_out(a):
        if a.status == 404:
            return {"found": False}
        if a.status == 200 and "value" in a.body:
            return {"found": True, "value": a.body["value"]}
        return None

    for name in (run.seq_names if run.opts.seq_clients > 0 else []):
        retry(lambda: fr.call("seq.read", name, {}, "GET", "/v1/sequences/" + quote(name),
                              convert=seq_read_out)[0].outcome == OK)

    def read_set():
        rec = run.rec
        node = fr.client.node_id()
        op = rec.begin("final", "set.read", run.set_prefix, {}, node=node)
        elements, after = [], None
        while True:
            fr.client.cur = next((n[:3] for n in run.endpoints() if n[0] == node), fr.client.cur)
            q = "/v1/kv?prefix=%s&limit=1000&keys_only" % quote(run.set_prefix)
            if after is not None:
                q += "&after=" + quote(after)
            a = fr.client.request("GET", q)
            if a.outcome != OK or a.status != 200 or "items" not in a.body:
                rec.finish(op, a.outcome if a.outcome != OK else UNKNOWN, None,
                           a.error or "unexpected answer %s" % a.status)
                fr.pace()
                return False
            items = a.body["items"]
            for it in items:
                elements.append(it["key"][len(run.set_prefix):])
            if not a.body.get("more") or not items:
                break
            after = items[-1]["key"]
        rec.finish(op, OK, {"elements": sorted(elements)})
        return True

    if run.opts.set_clients > 0:
        retry(read_set)
    fr.client.close()
    return missing
