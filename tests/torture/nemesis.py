"""nemesis.py: the faults the torture harness injects into real kahunad
processes. Each nemesis has start() (inject) and heal() (undo); the harness
keeps the fault for a few seconds in between and records both as events.
heal() returns once the cluster serves again (every member ready).

Any number of nodes:
  kill              kill -9 a random node, restart it after the window
  pause             SIGSTOP a random node, SIGCONT after the window
  kill-all          kill -9 every node at once, restart them all
  restart           SIGTERM a random node (a clean stop must exit 0), start it
  kill-loop         kill -9 a node, then start and kill it again a few times
                    within milliseconds (crashes during recovery), restart it

A cluster (2 nodes or more):
  kill-leader       kill -9 the leader, restart it after the window
  pause-leader      SIGSTOP the leader, SIGCONT after the window
  leader-transfer   POST /v1/cluster/transfer-leadership (to a random voter,
                    or to the one the leader picks), under load

3 nodes or more (the fault switch, POST /raft/v1/test/block):
  partition         a random minority cut off from the majority
  partition-leader  the leader cut off from everybody
  partition-bridge  two halves that cannot talk, and one node (the bridge)
                    that talks to both: Jepsen's bridge
  membership        a fresh node (new id, empty dir) joins (learner, then
                    voter); at the heal a random old member (maybe the
                    leader) is removed, its process stopped and its data
                    dir discarded: the size is the same after the window
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

    def pick_leader(self):
        """The leader now (a random node when there is none, recorded)."""
        nd = self.cluster.leader(deadline=5.0)
        if nd is None:
            return self.pick(), False
        return nd, True

    def start(self):
        raise NotImplementedError

    def heal(self):
        raise NotImplementedError

    def settle(self, info):
        """After a heal: wait until every member is ready again."""
        self.cluster.wait_ready()
        return info


class Kill(Nemesis):
    name = "kill"

    def start(self):
        nd = self.pick()
        self.targets = [nd]
        rc = self.cluster.kill(nd, signal.SIGKILL)
        return {"nodes": [nd.id], "signal": "SIGKILL", "status": rc}

    def heal(self):
        nds = [nd for nd in self.targets if not nd.alive()]
        if len(nds) == 1:
            self.cluster.restart(nds[0])
        elif nds:
            self.cluster.restart_many(nds)
        return self.settle({"nodes": [nd.id for nd in self.targets], "restarted": True})


class KillLeader(Kill):
    name = "kill-leader"
    min_nodes = 2

    def start(self):
        nd, was_leader = self.pick_leader()
        self.targets = [nd]
        rc = self.cluster.kill(nd, signal.SIGKILL)
        return {"nodes": [nd.id], "signal": "SIGKILL", "status": rc, "leader": was_leader}


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
        return self.settle({"nodes": [nd.id for nd in self.targets], "signal": "SIGCONT"})


class PauseLeader(Pause):
    name = "pause-leader"
    min_nodes = 2

    def start(self):
        nd, was_leader = self.pick_leader()
        self.targets = [nd]
        self.cluster.pause(nd)
        return {"nodes": [nd.id], "signal": "SIGSTOP", "leader": was_leader}


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


class LeaderTransfer(Nemesis):
    """Hands leadership over under load: to a random other voter, or (one
    time in three) to whichever the leader picks. The window then lets
    the clients run against the new leader; nothing to heal."""
    name = "leader-transfer"
    min_nodes = 2

    def start(self):
        old, _ = self.pick_leader()
        others = [nd for nd in self.cluster.nodes if nd is not old]
        to = None if self.rng.random() < 1 / 3 else self.rng.choice(others)
        st, body = self.cluster.transfer_leadership(to)
        self.targets = [old]
        return {"from": old.id, "to": to.id if to else None, "status": st,
                "answer": body if isinstance(body, dict) else str(body)[:200]}

    def heal(self):
        new = self.cluster.leader(deadline=10.0)
        return self.settle({"leader": new.id if new else None})


class Partition(Nemesis):
    """A random minority cut off from the majority (with the fault switch:
    each side drops the other's Raft traffic; client requests still reach
    every node, which must forward or refuse)."""
    name = "partition"
    min_nodes = 3

    def sides(self):
        ids = [nd.id for nd in self.cluster.nodes]
        self.rng.shuffle(ids)
        k = self.rng.randint(1, (len(ids) - 1) // 2)
        return [set(ids[:k]), set(ids[k:])]

    def start(self):
        sides = self.sides()
        self.cluster.partition(sides)
        return {"sides": [sorted(s) for s in sides]}

    def heal(self):
        self.cluster.heal_partition()
        return self.settle({"healed": True})


class PartitionLeader(Partition):
    name = "partition-leader"

    def sides(self):
        nd, _ = self.pick_leader()
        return [{nd.id}, {m.id for m in self.cluster.nodes if m is not nd}]


class PartitionBridge(Partition):
    """Two halves that cannot reach each other and a bridge node that
    reaches both (Jepsen's bridge): with 3 nodes, a - b - c with a and c
    cut apart; with 5, {a,b} - c - {d,e}. Either half has a majority only
    with the bridge."""
    name = "partition-bridge"

    def sides(self):
        ids = [nd.id for nd in self.cluster.nodes]
        self.rng.shuffle(ids)
        bridge = ids[0]
        rest = ids[1:]
        h = len(rest) // 2
        return [set(rest[:h]) | {bridge}, set(rest[h:]) | {bridge}]


class Membership(Nemesis):
    """A fresh node joins (start), then an old member is removed (heal),
    so that the cluster has the same size after the window. The removed
    node's process is stopped (SIGTERM: must exit 0) and its data dir
    discarded, as docs/operations.md says."""
    name = "membership"
    min_nodes = 3

    def __init__(self, cluster, rng, on_change=None):
        super().__init__(cluster, rng)
        self.on_change = on_change   # called after the membership changed
        self.added = None

    def start(self):
        t = time.monotonic()
        self.added = None
        nd = self.cluster.add_node()
        self.added = nd
        if self.on_change:
            self.on_change()
        return {"added": nd.id, "url": nd.url, "seconds": round(time.monotonic() - t, 3)}

    def heal(self):
        if self.added is None or self.added not in self.cluster.nodes:
            return self.settle({"removed": None, "why": "the add failed"})
        leader = self.cluster.leader(deadline=5.0)
        old = [nd for nd in self.cluster.nodes if nd is not self.added]
        victim = self.rng.choice(old)
        victim._leaving = True
        if self.on_change:
            self.on_change(leaving=victim)
        rc = self.cluster.remove_node(victim)
        if self.on_change:
            self.on_change()
        return self.settle({"removed": victim.id, "was_leader": victim is leader,
                            "status": rc, "clean": rc == 0})


ALL = [Kill, KillLeader, Pause, PauseLeader, KillAll, Restart, KillLoop, Partition,
       PartitionLeader, PartitionBridge, LeaderTransfer, Membership]
BY_NAME = {c.name: c for c in ALL}
# the nemeses after which a node (re)started or leadership may have moved:
# TTLs may have been restarted in full within their windows (checkers.py)
RESTARTING = tuple(c.name for c in ALL)
