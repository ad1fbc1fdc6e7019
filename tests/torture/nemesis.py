"""nemesis.py: the faults the torture harness injects into real kahunad
processes. Each nemesis has start() (inject) and heal() (undo); the harness
keeps the fault for a few seconds in between and records both as events.

Available today (any number of nodes):
  kill       kill -9 one node, restart it after the window (data dir kept)
  pause      SIGSTOP one node, SIGCONT after the window
  kill-all   kill -9 every node at once, restart them all
  restart    SIGTERM one node (a clean stop must exit 0), start it again
  kill-loop  kill -9 one node, then start and kill it again a few times
             within milliseconds (crashes during recovery), then restart

Pending (they need a multi-node cluster; start() refuses with "needs a
cluster" instead of pretending):
  partition        cut a node or a minority off from the others
  leader-transfer  hand leadership over under load
  membership       add / remove a member under faults
"""

import signal
import time


class NeedsCluster(Exception):
    pass


class Nemesis:
    name = "?"
    min_nodes = 1

    def __init__(self, cluster, rng):
        self.cluster = cluster
        self.rng = rng
        self.targets = []

    def available(self):
        return len(self.cluster.nodes) >= self.min_nodes

    def pick(self):
        return self.rng.choice(self.cluster.nodes)

    def start(self):
        raise NotImplementedError

    def heal(self):
        raise NotImplementedError


class Kill(Nemesis):
    name = "kill"

    def start(self):
        nd = self.pick()
        self.targets = [nd]
        rc = self.cluster.kill(nd, signal.SIGKILL)
        return {"nodes": [nd.id], "signal": "SIGKILL", "status": rc}

    def heal(self):
        for nd in self.targets:
            self.cluster.restart(nd)
        return {"nodes": [nd.id for nd in self.targets], "restarted": True}


class KillAll(Kill):
    name = "kill-all"

    def start(self):
        self.targets = list(self.cluster.nodes)
        for nd in self.targets:          # the signals first, then the waits
            nd._expect_down = True
            self.cluster.send(nd, signal.SIGKILL)
        st = {nd.id: self.cluster.kill(nd, signal.SIGKILL) for nd in self.targets}
        return {"nodes": [nd.id for nd in self.targets], "signal": "SIGKILL", "status": st}


class Pause(Nemesis):
    name = "pause"

    def start(self):
        nd = self.pick()
        self.targets = [nd]
        self.cluster.pause(nd)
        return {"nodes": [nd.id], "signal": "SIGSTOP"}

    def heal(self):
        for nd in self.targets:
            self.cluster.resume(nd)
        return {"nodes": [nd.id for nd in self.targets], "signal": "SIGCONT"}


class Restart(Kill):
    """A clean stop (SIGTERM): SPEC §2 says it loses no acknowledged write
    and the process exits 0; a non-zero status is reported as a finding."""
    name = "restart"

    def start(self):
        nd = self.pick()
        self.targets = [nd]
        rc = self.cluster.kill(nd, signal.SIGTERM, deadline=15.0)
        if rc is None:
            self.cluster.kill(nd, signal.SIGKILL)
        return {"nodes": [nd.id], "signal": "SIGTERM", "status": rc, "clean": rc == 0}


class KillLoop(Kill):
    """kill -9 one node, start it, kill it again a few milliseconds later
    (maybe while it replays its log or takes its term), a few times; the
    heal starts it for good. Recovery must be idempotent and lose nothing."""
    name = "kill-loop"

    def start(self):
        nd = self.pick()
        self.targets = [nd]
        delays = []
        self.cluster.kill(nd, signal.SIGKILL)
        for _ in range(self.rng.randint(2, 5)):
            self.cluster.spawn(nd)
            d = self.rng.uniform(0.0, 0.25)
            time.sleep(d)     # the crash point: a random moment of the start
            delays.append(round(d, 3))
            self.cluster.kill(nd, signal.SIGKILL)
        return {"nodes": [nd.id], "signal": "SIGKILL", "restarts_killed_after_s": delays}


class Pending(Nemesis):
    min_nodes = 2

    def available(self):
        return False

    def start(self):
        raise NeedsCluster("nemesis %s needs a cluster (multi-node kahunad arrives with the Raft "
                           "issue); not run" % self.name)

    def heal(self):
        return {}


class Partition(Pending):
    name = "partition"
    min_nodes = 3


class LeaderTransfer(Pending):
    name = "leader-transfer"


class Membership(Pending):
    name = "membership"


ALL = [Kill, Pause, KillAll, Restart, KillLoop, Partition, LeaderTransfer, Membership]
BY_NAME = {c.name: c for c in ALL}
