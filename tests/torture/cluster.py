"""cluster.py: real kahunad processes for the torture harness: N nodes on
free loopback ports (below 32768, checked against /proc/net/tcp{,6}), each
with its own data dir and log, started, killed, paused, restarted and, at
the end, always stopped.

With N > 1 the nodes form a Raft cluster: every initial node gets the same
--peers list and --peer-secret, and runs with KAHUNA_TEST_FAULTS=1 so that
the partition nemeses can use the test-only fault switch (POST
/raft/v1/test/block: a node drops all Raft traffic to and from the ids
listed). The membership changes: add_node() starts a fresh node with --join
and adds it through the API (learner, then voter once caught up);
remove_node() removes a member through the API, stops its process and
discards its data dir. `nodes` is the current membership; removed nodes are
kept in `retired` (their logs stay). A daemon that refuses --peers naming
other nodes (no cluster support) is reported as ClusterUnsupported.

Every process is started in its own session (a Ctrl-C in the terminal
reaches the harness only, which then stops them in order) and, where
setpriv(1) exists, with a parent-death signal (SIGKILL) so that even a
killed harness leaves no daemon behind. Processes are only ever started from
the harness's main thread, as the parent-death signal follows the thread
that forked.
"""

import http.client
import json
import os
import random
import shutil
import signal
import subprocess
import time

PORT_LO, PORT_HI = 10240, 32767   # below Linux's ephemeral range (32768-60999)


class ClusterError(Exception):
    pass


class ClusterUnsupported(ClusterError):
    """The daemon cannot run the requested cluster (no multi-node support)."""


SECRET_HEADER = "X-Kahuna-Peer-Secret"


def listening_ports():
    """Ports something listens on now (IPv4 and IPv6), from /proc."""
    ports = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) > 3 and parts[3] == "0A":
                        ports.add(int(parts[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


def free_port(rng, avoid=()):
    """A loopback port nothing listens on now. The caller copes with the
    race (a start that fails with "in use" picks again)."""
    busy = listening_ports()
    for _ in range(10000):
        p = rng.randint(PORT_LO, PORT_HI)
        if p not in busy and p not in avoid:
            return p
    raise ClusterError("no free port found in %d..%d" % (PORT_LO, PORT_HI))


def http_ok(host, port, path, timeout=1.0):
    """True when GET path answers 200."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def http_call(host, port, method, path, body=None, headers=None, timeout=2.0):
    """One request; returns (status, parsed JSON body or raw bytes), or
    (None, error text) when no answer came."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        data = body
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        conn.request(method, path, body=data, headers=dict(headers or {}))
        r = conn.getresponse()
        raw = r.read()
        try:
            return r.status, json.loads(raw) if raw else {}
        except ValueError:
            return r.status, raw
    except (OSError, http.client.HTTPException) as e:
        return None, "%s: %s" % (e.__class__.__name__, e)
    finally:
        conn.close()


def wait_until(pred, deadline_s, interval=0.05):
    """Polls pred until it is true (returns True) or the deadline passes."""
    end = time.monotonic() + deadline_s
    while True:
        if pred():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(interval)


class Node:
    def __init__(self, node_id, run_dir):
        self.id = node_id
        self.host = "127.0.0.1"
        self.port = None
        self.resp_port = None
        self.dir = os.path.join(run_dir, "nodes", node_id)
        self.data_dir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "kahunad.log")
        self.proc = None
        self.paused = False
        self.joined = False  # started with --join (added by the membership nemesis)
        self.peers_arg = None  # the --peers list it was first started with
        self.blocked = set()   # node ids the fault switch cuts it off from
        self.retired = False   # removed from the cluster
        self.starts = 0
        self.exits = []      # (how we stopped it or "unexpected", returncode)
        self._expect_down = False

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def __repr__(self):
        return "Node(%s %s pid=%s)" % (self.id, self.url if self.port else "-",
                                       self.proc.pid if self.proc else None)


class Cluster:
    def __init__(self, kahunad, run_dir, n=1, rng=None, log_level="info", extra_args=(),
                 ready_deadline=30.0, secret=None, snapshot_entries=None, lose_unsynced=True):
        if n < 1:
            raise ClusterError("--nodes must be at least 1")
        self.kahunad = kahunad
        self.secret = secret or "torture-%016x" % (rng or random).getrandbits(64)
        self.snapshot_entries = snapshot_entries
        # every kill -9 also loses what the node had not fsync'ed (the
        # KAHUNA_TEST_LOSE_UNSYNCED VFS shim), as a power loss would
        self.lose_unsynced = lose_unsynced
        self.retired = []      # removed members (their logs stay in nodes/)
        self.next_id = n + 1   # ids of added nodes: never reused (docs/operations.md)
        self.run_dir = run_dir
        self.rng = rng or random.Random()
        self.log_level = log_level
        self.extra_args = list(extra_args)
        self.ready_deadline = ready_deadline
        self.nodes = [Node("n%d" % (i + 1), run_dir) for i in range(n)]
        self.setpriv = shutil.which("setpriv")
        self.unexpected = []   # (node id, returncode, log tail) of deaths we did not cause

    # -- starting -------------------------------------------------------

    @property
    def multi(self):
        """A real cluster (peers, secret, fault switch), as opposed to one
        node started the single-node way."""
        return len(self.nodes) + len(self.retired) > 1

    def _taken(self):
        return {p for nd in self.nodes + self.retired for p in (nd.port, nd.resp_port) if p}

    def _pick_ports(self):
        taken = set()
        for nd in self.nodes:
            nd.port = free_port(self.rng, taken)
            taken.add(nd.port)
            nd.resp_port = free_port(self.rng, taken)
            taken.add(nd.resp_port)
        if len(self.nodes) > 1:
            peers = ",".join("%s=%s" % (m.id, m.url) for m in self.nodes)
            for nd in self.nodes:
                nd.peers_arg = peers

    def _argv(self, nd):
        argv = [self.kahunad, "--node-id", nd.id, "--listen", "%s:%d" % (nd.host, nd.port),
                "--resp-listen", "%s:%d" % (nd.host, nd.resp_port), "--data-dir", nd.data_dir,
                "--log-level", self.log_level]
        if nd.peers_arg:
            argv += ["--peers", nd.peers_arg, "--peer-secret", self.secret]
        if nd.joined:
            argv += ["--join", "--advertise-url", nd.url]
        if self.snapshot_entries and self.multi:
            argv += ["--snapshot-entries", str(self.snapshot_entries)]
        argv += self.extra_args
        if self.setpriv:
            argv = [self.setpriv, "--pdeathsig", "KILL", "--"] + argv
        return argv

    def _spawn(self, nd):
        os.makedirs(nd.data_dir, exist_ok=True)
        log = open(nd.log_path, "ab")
        try:
            log.write(("# harness: start %d of %s: %s\n"
                       % (nd.starts + 1, nd.id, " ".join(self._argv(nd)))).encode())
            log.flush()
            env = dict(os.environ)
            env["KAHUNA_TEST_FAULTS"] = "1"
            if self.lose_unsynced:
                env["KAHUNA_TEST_LOSE_UNSYNCED"] = "1"
            nd.proc = subprocess.Popen(self._argv(nd), stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       close_fds=True, env=env)
        finally:
            log.close()
        nd.starts += 1
        nd.paused = False
        nd._expect_down = False

    def _log_tail(self, nd, lines=15):
        try:
            with open(nd.log_path, "rb") as f:
                data = f.read()[-8192:]
            return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _ready(self, nd):
        return http_ok(nd.host, nd.port, "/ready")

    def _serving(self, nd):
        return http_ok(nd.host, nd.port, "/health")

    def start(self):
        """Starts every node on fresh ports and waits until each is ready.
        Picks other ports when a port turns out to be taken."""
        for attempt in range(5):
            self._pick_ports()
            for nd in self.nodes:
                self._spawn(nd)
            busy = False
            for nd in self.nodes:
                ok = wait_until(lambda: self._ready(nd) or not nd.alive(), self.ready_deadline)
                if ok and nd.alive():
                    continue
                tail = self._log_tail(nd)
                if nd.alive():
                    self.stop_all()
                    raise ClusterError("node %s did not become ready within %.0f s; log %s:\n%s"
                                       % (nd.id, self.ready_deadline, nd.log_path, tail))
                rc = nd.proc.wait()
                if rc == 64 and ("multi-node" in tail or "unrecognized option" in tail
                                 or "unknown option" in tail):
                    self.stop_all()
                    raise ClusterUnsupported(
                        "this kahunad cannot run a %d-node cluster (it refuses the cluster "
                        "options): use --nodes 1. kahunad said:\n%s" % (len(self.nodes), tail))
                if "in use" in tail.lower():
                    busy = True
                    break
                self.stop_all()
                raise ClusterError("node %s exited with status %s at start; log %s:\n%s"
                                   % (nd.id, rc, nd.log_path, tail))
            if not busy:
                return
            self.stop_all()
        raise ClusterError("could not find free ports after 5 attempts")

    def restart(self, nd, ready=True):
        """Starts a stopped node again on its ports, data dir kept; polls
        until it is ready (with ready=False: until it serves HTTP; a node of
        a cluster that has lost its majority never becomes ready alone),
        retrying while the port is still busy. A node cut off by the fault
        switch is cut off again."""
        if nd.alive():
            return
        end = time.monotonic() + self.ready_deadline
        probe = self._ready if ready else self._serving
        while True:
            self._spawn(nd)
            if wait_until(lambda: probe(nd) or not nd.alive(), max(0.1, end - time.monotonic())) \
                    and nd.alive():
                if nd.blocked:
                    self.block(nd, nd.blocked)
                return
            if nd.alive():
                nd._expect_down = True
                raise ClusterError("node %s did not become ready (or serving) after restart within %.0f s; "
                                   "log %s:\n%s" % (nd.id, self.ready_deadline, nd.log_path,
                                                    self._log_tail(nd)))
            rc = nd.proc.wait()
            tail = self._log_tail(nd)
            if "in use" not in tail.lower() or time.monotonic() >= end:
                nd._expect_down = True      # reported by the exception, not as a crash
                raise ClusterError("node %s exited with status %s on restart; log %s:\n%s"
                                   % (nd.id, rc, nd.log_path, tail))
            time.sleep(0.2)

    def restart_many(self, nds):
        """Starts several stopped nodes together (a cluster that lost its
        majority needs them all up before any is ready), then waits until
        each is ready."""
        for nd in nds:
            self.restart(nd, ready=False)
        self.wait_ready(nds)

    def wait_ready(self, nds=None, deadline=None):
        """Polls until every given node (default: every member) answers
        /ready; raises ClusterError on the deadline."""
        nds = [nd for nd in (self.nodes if nds is None else nds) if nd.alive() and not nd.paused]
        end = time.monotonic() + (deadline or self.ready_deadline)
        for nd in nds:
            if not wait_until(lambda: self._ready(nd) or not nd.alive(), max(0.1, end - time.monotonic())):
                raise ClusterError("node %s did not become ready within %.0f s; log %s:\n%s"
                                   % (nd.id, deadline or self.ready_deadline, nd.log_path,
                                      self._log_tail(nd)))

    def spawn(self, nd):
        """Starts a stopped node without waiting for it (a crash loop kills
        it again while it may still be replaying its log)."""
        if not nd.alive():
            self._spawn(nd)

    # -- faults -----------------------------------------------------------

    def check_alive(self):
        """Records nodes that died without us killing them. Returns their ids."""
        dead = []
        for nd in self.nodes:
            if nd.proc is not None and not nd.paused and nd.proc.poll() is not None \
                    and not nd._expect_down:
                rc = nd.proc.returncode
                self.unexpected.append((nd.id, rc, self._log_tail(nd)))
                nd.exits.append(("unexpected", rc))
                nd._expect_down = True
                dead.append(nd.id)
        return dead

    def send(self, nd, sig):
        if nd.alive():
            try:
                os.kill(nd.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self, nd, sig=signal.SIGKILL, deadline=10.0):
        """Sends sig and waits (with a deadline) for the process to end.
        Returns its exit status (None if it did not end)."""
        was_expected = nd._expect_down
        nd._expect_down = True
        if not nd.alive():
            if nd.proc is not None and not was_expected:
                # it died by itself before we came to kill it
                rc = nd.proc.returncode
                self.unexpected.append((nd.id, rc, self._log_tail(nd)))
                nd.exits.append(("unexpected", rc))
            return nd.proc.returncode if nd.proc else None
        if nd.paused and sig != signal.SIGKILL:
            self.send(nd, signal.SIGCONT)
            nd.paused = False
        self.send(nd, sig)
        try:
            rc = nd.proc.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            return None
        nd.paused = False
        nd.exits.append((signal.Signals(sig).name, rc))
        return rc

    def pause(self, nd):
        self.send(nd, signal.SIGSTOP)
        nd.paused = True

    def resume(self, nd):
        self.send(nd, signal.SIGCONT)
        nd.paused = False

    # -- the cluster: leader, fault switch, membership, leadership ----------

    def status(self, nd, timeout=0.5):
        """GET /v1/cluster on nd: its view (dict), or None."""
        if not nd.alive() or nd.paused:
            return None
        st, body = http_call(nd.host, nd.port, "GET", "/v1/cluster", timeout=timeout)
        return body if st == 200 and isinstance(body, dict) else None

    def leader(self, deadline=5.0, among=None):
        """The member that says it is the leader in the highest term (polled
        until one does, up to deadline), or None."""
        best = [None]

        def look():
            top = None
            for nd in (among or self.nodes):
                s = self.status(nd)
                if s and s.get("role") == "leader" and (top is None or s.get("term", 0) > top[0]):
                    top = (s.get("term", 0), nd)
            best[0] = top[1] if top else None
            return top is not None

        if len(self.nodes) == 1:
            return self.nodes[0]
        wait_until(look, deadline, interval=0.1)
        return best[0]

    def block(self, nd, ids):
        """The test-only fault switch: nd drops all Raft traffic to and from
        the node ids in `ids` (empty: heals). Remembered, and applied again
        if nd restarts. Returns True when the node took it."""
        nd.blocked = set(ids)
        if not nd.alive() or nd.paused:
            return False
        for _ in range(20):
            st, body = http_call(nd.host, nd.port, "POST", "/raft/v1/test/block",
                                 ",".join(sorted(nd.blocked)),
                                 {SECRET_HEADER: self.secret, "Content-Type": "text/plain"})
            if st == 200 or st == 204:
                return True
            if st is not None and st not in (503,):
                raise ClusterError("the fault switch of %s refused: %s %s" % (nd.id, st, body))
            time.sleep(0.05)
        return False

    def partition(self, sides):
        """Cuts the cluster into sides: [set of ids, ...]; each node drops
        the traffic of every node that is in no side shared with it (a node
        in two sides is a bridge)."""
        ids = {nd.id for nd in self.nodes}
        for nd in self.nodes:
            sees = set()
            for s in sides:
                if nd.id in s:
                    sees |= s
            self.block(nd, ids - sees - {nd.id})

    def heal_partition(self):
        for nd in self.nodes + self.retired:
            if nd.blocked:
                self.block(nd, ())

    def _admin(self, method, path, body=None, avoid=(), deadline=30.0, ok=(200,), done=None):
        """A membership or leadership request through any member not in
        avoid, retried (on another node) on 503 / no answer / 504 until it
        is answered with a status in ok or done() says it took effect.
        Returns (status, body)."""
        end = time.monotonic() + deadline
        last = None
        while time.monotonic() < end:
            cands = [nd for nd in self.nodes if nd.alive() and not nd.paused and nd.id not in avoid]
            if not cands:
                break
            nd = self.rng.choice(cands)
            st, b = http_call(nd.host, nd.port, method, path, body, timeout=5.0)
            last = (st, b)
            if st in ok:
                return st, b
            if done is not None and done():
                return st, b
            if st is not None and st not in (503, 504, 500, 409):
                raise ClusterError("%s %s on %s: %s %s" % (method, path, nd.id, st, b))
            time.sleep(0.2)
        raise ClusterError("%s %s not done within %.0f s; last answer %s" % (method, path, deadline, last))

    def members_seen(self, nd=None):
        """{id: role} of the membership as the leader (or nd) reports it."""
        nd = nd or self.leader(deadline=5.0)
        s = self.status(nd) if nd else None
        if not s:
            return None
        return {m["id"]: m.get("role") for m in s.get("members", [])}

    def add_node(self):
        """Starts a fresh node (new id, empty data dir) with --join, adds it
        through the API and waits until it is a voter and ready. Returns it
        (already in self.nodes)."""
        nd = Node("n%d" % self.next_id, self.run_dir)
        self.next_id += 1
        nd.joined = True
        nd.peers_arg = ",".join("%s=%s" % (m.id, m.url) for m in self.nodes)
        taken = self._taken()
        for attempt in range(5):
            nd.port = free_port(self.rng, taken)
            nd.resp_port = free_port(self.rng, taken | {nd.port})
            self._spawn(nd)
            if wait_until(lambda: self._serving(nd) or not nd.alive(), self.ready_deadline) and nd.alive():
                break
            if nd.alive() or "in use" not in self._log_tail(nd).lower():
                nd._expect_down = True
                self.kill(nd)
                raise ClusterError("joining node %s did not start; log %s:\n%s"
                                   % (nd.id, nd.log_path, self._log_tail(nd)))
            nd.proc.wait()
        else:
            raise ClusterError("no free ports for a joining node")
        self.nodes.append(nd)

        def voter():
            m = self.members_seen()
            return bool(m) and m.get(nd.id) == "voter"

        def listed():
            m = self.members_seen()
            return bool(m) and nd.id in m

        try:
            self._admin("POST", "/v1/cluster/members", {"id": nd.id, "url": nd.url}, avoid=(nd.id,),
                        done=listed)
        except ClusterError:
            if not listed():      # never became a member: forget it
                self.nodes.remove(nd)
                nd.retired = True
                self.retired.append(nd)
                self.kill(nd, signal.SIGKILL)
            raise
        if not wait_until(voter, self.ready_deadline, interval=0.1):
            raise ClusterError("node %s was added but did not become a voter within %.0f s"
                               % (nd.id, self.ready_deadline))
        self.wait_ready([nd])
        return nd

    def remove_node(self, nd):
        """Removes nd from the membership through another member, waits
        until the leader no longer lists it, stops its process (SIGTERM;
        returns the exit status) and discards its data dir."""
        def gone():
            m = self.members_seen()
            return m is not None and nd.id not in m

        self._admin("DELETE", "/v1/cluster/members/" + nd.id, avoid=(nd.id,), ok=(200, 404),
                    done=gone)
        if not wait_until(gone, self.ready_deadline, interval=0.1):
            raise ClusterError("node %s was removed but the leader still lists it" % nd.id)
        self.nodes.remove(nd)
        nd.retired = True
        self.retired.append(nd)
        rc = self.kill(nd, signal.SIGTERM, deadline=15.0)
        if rc is None:
            self.kill(nd, signal.SIGKILL)
        shutil.rmtree(nd.data_dir, ignore_errors=True)
        return rc

    def transfer_leadership(self, to=None):
        """POST /v1/cluster/transfer-leadership (to a given member, or to
        the one the leader picks). Returns (status, body)."""
        body = {"to": to.id} if to is not None else None
        nd = self.rng.choice([n for n in self.nodes if n.alive() and not n.paused])
        return http_call(nd.host, nd.port, "POST", "/v1/cluster/transfer-leadership", body, timeout=5.0)

    # -- stopping ---------------------------------------------------------

    def stop_all(self, deadline=10.0):
        """Stops every process this cluster started: SIGCONT + SIGTERM, poll
        until each has ended (deadline), then SIGKILL. Safe to call twice.
        Returns {node id: exit status of the clean stop (None if it had to
        be killed)} for the nodes that were running."""
        status = {}
        running = []
        for nd in self.nodes + self.retired:
            if nd.alive():
                nd._expect_down = True
                self.send(nd, signal.SIGCONT)
                self.send(nd, signal.SIGTERM)
                running.append(nd)
        end = time.monotonic() + deadline
        for nd in running:
            try:
                rc = nd.proc.wait(timeout=max(0.0, end - time.monotonic()))
                status[nd.id] = rc
            except subprocess.TimeoutExpired:
                self.send(nd, signal.SIGKILL)
                nd.proc.wait()
                status[nd.id] = None
            nd.paused = False
        return status

    def nodes_info(self):
        return [{"id": nd.id, "url": nd.url if nd.port else None, "resp_port": nd.resp_port,
                 "data_dir": nd.data_dir, "log": nd.log_path, "starts": nd.starts,
                 "exits": nd.exits, "joined": nd.joined, "removed": nd.retired}
                for nd in self.nodes + self.retired]
