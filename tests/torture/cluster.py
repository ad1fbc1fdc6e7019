"""cluster.py: real kahunad processes for the torture harness: N nodes on
free loopback ports (below 32768, checked against /proc/net/tcp{,6}), each
with its own data dir and log, started, killed, paused, restarted and, at
the end, always stopped.

N > 1 is written for (each node gets --peers with every member) but today's
kahunad refuses --peers naming other nodes; start() detects that refusal and
raises ClusterUnsupported with a clear message instead of pretending.

Every process is started in its own session (a Ctrl-C in the terminal
reaches the harness only, which then stops them in order) and, where
setpriv(1) exists, with a parent-death signal (SIGKILL) so that even a
killed harness leaves no daemon behind. Processes are only ever started from
the harness's main thread, as the parent-death signal follows the thread
that forked.
"""

import http.client
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
    """The daemon cannot run the requested cluster (today: N > 1)."""


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
                 ready_deadline=30.0):
        if n < 1:
            raise ClusterError("--nodes must be at least 1")
        self.kahunad = kahunad
        self.run_dir = run_dir
        self.rng = rng or random.Random()
        self.log_level = log_level
        self.extra_args = list(extra_args)
        self.ready_deadline = ready_deadline
        self.nodes = [Node("n%d" % (i + 1), run_dir) for i in range(n)]
        self.setpriv = shutil.which("setpriv")
        self.unexpected = []   # (node id, returncode, log tail) of deaths we did not cause

    # -- starting -------------------------------------------------------

    def _pick_ports(self):
        taken = set()
        for nd in self.nodes:
            nd.port = free_port(self.rng, taken)
            taken.add(nd.port)
            nd.resp_port = free_port(self.rng, taken)
            taken.add(nd.resp_port)

    def _argv(self, nd):
        argv = [self.kahunad, "--node-id", nd.id, "--listen", "%s:%d" % (nd.host, nd.port),
                "--resp-listen", "%s:%d" % (nd.host, nd.resp_port), "--data-dir", nd.data_dir,
                "--log-level", self.log_level]
        if len(self.nodes) > 1:
            argv += ["--peers", ",".join("%s=%s" % (m.id, m.url) for m in self.nodes)]
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
            nd.proc = subprocess.Popen(self._argv(nd), stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       close_fds=True)
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
                if rc == 64 and "multi-node" in tail:
                    self.stop_all()
                    raise ClusterUnsupported(
                        "kahunad refuses --peers naming other nodes (multi-node clusters arrive "
                        "with the Raft issue), so the harness cannot run %d nodes yet: use "
                        "--nodes 1. kahunad said:\n%s" % (len(self.nodes), tail))
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

    def restart(self, nd):
        """Starts a stopped node again on its ports, data dir kept; polls
        until it is ready (retrying while the port is still busy)."""
        if nd.alive():
            return
        end = time.monotonic() + self.ready_deadline
        while True:
            self._spawn(nd)
            if wait_until(lambda: self._ready(nd) or not nd.alive(), max(0.1, end - time.monotonic())) \
                    and nd.alive():
                return
            if nd.alive():
                nd._expect_down = True
                raise ClusterError("node %s did not become ready after restart within %.0f s; "
                                   "log %s:\n%s" % (nd.id, self.ready_deadline, nd.log_path,
                                                    self._log_tail(nd)))
            rc = nd.proc.wait()
            tail = self._log_tail(nd)
            if "in use" not in tail.lower() or time.monotonic() >= end:
                nd._expect_down = True      # reported by the exception, not as a crash
                raise ClusterError("node %s exited with status %s on restart; log %s:\n%s"
                                   % (nd.id, rc, nd.log_path, tail))
            time.sleep(0.2)

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

    # -- stopping ---------------------------------------------------------

    def stop_all(self, deadline=10.0):
        """Stops every process this cluster started: SIGCONT + SIGTERM, poll
        until each has ended (deadline), then SIGKILL. Safe to call twice.
        Returns {node id: exit status of the clean stop (None if it had to
        be killed)} for the nodes that were running."""
        status = {}
        running = []
        for nd in self.nodes:
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
                 "exits": nd.exits} for nd in self.nodes]
