#!/usr/bin/python3
"""harness.py: kahuna's fault-injection suite (Jepsen's method, our code).

Starts N real kahunad processes (cluster.py: a Raft cluster of 3 by default,
or one node), runs concurrent REST and RESP clients (workloads.py) that
spread their requests over every node and record every attempt
(history.py), injects
faults for a few seconds at a time and heals them (nemesis.py), reads
everything back once healed, stops every process, and checks the history
against SPEC §6 (checkers.py). Everything goes to a run dir:

  history.jsonl   every operation and fault event, JSON lines (gzip'ed,
                  history.jsonl.gz, when the run passed)
  verdict.json    what each checker found (and the node exits)
  plot.svg        throughput and latency over time, fault windows shaded
  options.json    the options of the run; replay.sh runs it again
  nodes/nI/       kahunad.log, and data/ (kept on failure or with --keep)

Exit status: 0 valid, 1 a guarantee was violated, 2 undecided (a search
budget ran out, or a final read was impossible), 3 harness or setup error,
64 usage (including a nemesis or node count that needs a cluster), 130
interrupted. Whatever happens, every process started is stopped.

  /usr/bin/python3 tests/torture/harness.py --kahunad build/daemon/kahunad \
      --duration 60 --seed 7
  /usr/bin/python3 tests/torture/harness.py --recheck RUN_DIR/history.jsonl
"""

import argparse
import json
import os
import random
import shlex
import shutil
import signal
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True     # never write __pycache__ into the source tree
sys.path.insert(0, HERE)

import checkers      # noqa: E402
import cluster as cl  # noqa: E402
import history       # noqa: E402
import nemesis as nm  # noqa: E402
import plot          # noqa: E402
import workloads     # noqa: E402

EXIT_VALID, EXIT_INVALID, EXIT_UNDECIDED, EXIT_ERROR, EXIT_USAGE, EXIT_INTR = 0, 1, 2, 3, 64, 130
WORKLOADS = ("registers", "resp", "locks", "sequences", "sets", "ttl")


class Interrupted(Exception):
    pass


def duration(text):
    """A duration option: a number of seconds, or with a unit (s, m, h)."""
    t = text.strip().lower()
    mult = {"s": 1, "m": 60, "h": 3600}.get(t[-1:], None)
    try:
        v = float(t[:-1]) * mult if mult else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError("not a duration: %r (say 90, 90s, 10m or 1h)" % text)
    if v <= 0:
        raise argparse.ArgumentTypeError("a duration must be positive: %r" % text)
    return v


def parse_args(argv):
    p = argparse.ArgumentParser(prog="harness.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kahunad", default=os.environ.get("KAHUNAD"),
                   help="the kahunad binary (default $KAHUNAD)")
    p.add_argument("--nodes", type=int, default=3, help="cluster size (1 = a single node, no peers)")
    p.add_argument("--keep-unsynced", action="store_true",
                   help="run kahunad without KAHUNA_TEST_LOSE_UNSYNCED (by default every kill -9 "
                        "also loses what was not fsync'ed)")
    p.add_argument("--snapshot-entries", type=int, default=1000,
                   help="kahunad --snapshot-entries in a cluster: small, so that snapshots, log "
                        "compaction and snapshot transfer to lagging or joining nodes happen")
    p.add_argument("--duration", type=duration, default=30.0,
                   help="time of load, faults included: seconds, or 90s, 10m, 1h")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one, printed)")
    p.add_argument("--nemesis", default="all",
                   help="comma list of %s, 'all' (every one this cluster size allows) or 'none'"
                   % ",".join(c.name for c in nm.ALL))
    p.add_argument("--require-all-nemeses", action="store_true",
                   help="run every selected nemesis at least once, even past --duration")
    p.add_argument("--fault-seconds", type=float, default=2.5, help="length of a fault window")
    p.add_argument("--quiet-seconds", type=float, default=2.0, help="healthy time between faults")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="comma list of " + ",".join(WORKLOADS))
    p.add_argument("--reg-clients", type=int, default=4)
    p.add_argument("--resp-clients", type=int, default=2,
                   help="register clients that speak RESP (same keys as the REST ones)")
    p.add_argument("--resp-ops", default="get,set,swap,del,watch",
                   help="what the RESP clients do: comma list of get, set, swap (SET k v GET), "
                        "del, watch (WATCH/GET/MULTI/SET/EXEC)")
    p.add_argument("--lock-clients", type=int, default=4)
    p.add_argument("--seq-clients", type=int, default=3)
    p.add_argument("--set-clients", type=int, default=2)
    p.add_argument("--ttl-clients", type=int, default=2)
    p.add_argument("--ttl-min-ms", type=int, default=20)
    p.add_argument("--ttl-max-ms", type=int, default=300)
    p.add_argument("--keys", type=int, default=3, help="hot register keys at a time")
    p.add_argument("--ops-per-key", type=int, default=150, help="ops before a register key is retired")
    p.add_argument("--locks", type=int, default=2)
    p.add_argument("--lock-ttl-ms", type=int, default=700)
    p.add_argument("--lock-wait-ms", type=int, default=400)
    p.add_argument("--lock-hold-ms", type=int, default=30)
    p.add_argument("--lock-abandon", type=float, default=0.2,
                   help="fraction of holders that never release (their grant ends by TTL)")
    p.add_argument("--lock-impatient", type=float, default=0.05,
                   help="fraction of waiting acquires whose client gives up before wait_ms")
    p.add_argument("--lock-stall", type=float, default=0.1,
                   help="fraction of holders that stall past their TTL before the fenced write")
    p.add_argument("--sequences", type=int, default=2)
    p.add_argument("--timeout", type=float, default=1.0, help="client request timeout, seconds")
    p.add_argument("--think-ms", type=float, default=2.0, help="max pause between a client's ops")
    p.add_argument("--budget", type=int, default=2_000_000,
                   help="linearizability search steps per key before 'unknown'")
    p.add_argument("--early-slack-ms", type=float, default=0.0,
                   help="how much earlier than its TTL a lock or key may end without a violation "
                        "(0 = strict, the default: kahunad rounds deadlines up)")
    p.add_argument("--log-level", default="info")
    p.add_argument("--run-dir", default=None, help="default: RUNS_ROOT/<time>-seed<SEED>")
    p.add_argument("--runs-root", default=os.path.join(os.getcwd(), "torture-runs"))
    p.add_argument("--keep", action="store_true", help="keep data dirs even when the run passes")
    p.add_argument("--recheck", metavar="HISTORY", default=None,
                   help="only run the checkers on a saved history.jsonl and print the verdict")
    o = p.parse_args(argv)
    o.resp_op_list = [w for w in o.resp_ops.split(",") if w]
    for w in o.resp_op_list:
        if w not in ("get", "set", "swap", "del", "watch"):
            p.error("unknown --resp-ops entry %r" % w)
    if not o.resp_op_list:
        p.error("--resp-ops needs at least one entry")
    o.workload_list = [w for w in o.workloads.split(",") if w]
    for w in o.workload_list:
        if w not in WORKLOADS:
            p.error("unknown workload %r (have %s)" % (w, ", ".join(WORKLOADS)))
    for w, attr in (("registers", "reg_clients"), ("resp", "resp_clients"), ("locks", "lock_clients"),
                    ("sequences", "seq_clients"), ("sets", "set_clients"), ("ttl", "ttl_clients")):
        if w not in o.workload_list:
            setattr(o, attr, 0)
    return o


REPLAY_OPTS = ("nodes", "snapshot_entries", "duration", "seed", "nemesis", "fault_seconds",
               "quiet_seconds", "workloads", "reg_clients", "resp_clients", "resp_ops", "lock_clients", "seq_clients", "set_clients", "ttl_clients",
               "ttl_min_ms", "ttl_max_ms", "keys",
               "ops_per_key", "locks", "lock_ttl_ms", "lock_wait_ms", "lock_hold_ms",
               "lock_abandon", "lock_impatient", "lock_stall", "sequences", "timeout", "think_ms", "budget", "early_slack_ms", "log_level")


def replay_command(o):
    args = ["/usr/bin/python3", os.path.join(HERE, "harness.py"), "--kahunad", o.kahunad]
    for k in REPLAY_OPTS:
        args += ["--" + k.replace("_", "-"), str(getattr(o, k))]
    if o.keep_unsynced:
        args.append("--keep-unsynced")
    return " ".join(shlex.quote(a) for a in args)


def pick_nemeses(o, cluster, rng, on_membership=None):
    """Returns (nemesis objects, names skipped because this cluster is too
    small for them)."""
    if o.nemesis == "none":
        return [], []
    names = [c.name for c in nm.ALL] if o.nemesis == "all" else [n for n in o.nemesis.split(",") if n]
    out, skipped = [], []
    for name in names:
        if name not in nm.BY_NAME:
            raise ValueError("unknown nemesis %r (have %s)" % (name, ", ".join(nm.BY_NAME)))
        cls = nm.BY_NAME[name]
        n = cls(cluster, rng, on_membership) if cls is nm.Membership else cls(cluster, rng)
        if n.available():
            out.append(n)
        elif o.nemesis == "all":
            skipped.append(name)
        else:
            raise nm.NeedsCluster("nemesis %s needs a cluster of at least %d nodes (--nodes %d)"
                                  % (name, cls.min_nodes, cls.min_nodes))
    return out, skipped


def hold(cluster, rec, seconds, findings):
    """Keeps the current situation for `seconds` (a fault window or a
    quiet period), polling the nodes for deaths we did not cause."""
    end = time.monotonic() + seconds
    while True:
        for nid in cluster.check_alive():     # reported from cluster.unexpected at the end
            nd = next(n for n in cluster.nodes if n.id == nid)
            rec.event("harness.crash", nid, {"status": nd.proc.returncode})
            try:
                cluster.restart(nd, ready=False)   # alone it may not be ready (no majority)
                rec.event("harness.restarted", nid, {})
            except cl.ClusterError as e:
                findings.append({"error": "node %s could not restart after its crash" % nid,
                                 "detail": str(e)})
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(0.05, left))


def run_schedule(o, cluster, rec, rng, nemeses, findings, t_stop):
    """The faults: a quiet warm-up, then fault windows separated by quiet
    periods until t_stop. First every nemesis once (shuffled), then random
    picks."""
    hold(cluster, rec, min(o.quiet_seconds, max(0.0, t_stop - time.monotonic())), findings)
    order = list(nemeses)
    rng.shuffle(order)
    i = 0
    while nemeses:
        fault = o.fault_seconds * rng.uniform(0.6, 1.0)
        first_round = i < len(order) and o.require_all_nemeses
        if time.monotonic() + fault + o.quiet_seconds > t_stop and not first_round:
            break
        nem = order[i] if i < len(order) else rng.choice(nemeses)
        i += 1
        # the window opens before the fault is injected, so that it covers
        # every moment the fault may have acted (a kill-loop takes a while)
        rec.event("nemesis.start", nem.name, {})
        try:
            info = nem.start()
        except cl.ClusterError as e:
            info = {"failed": str(e)}
            findings.append({"error": "%s could not be injected: the cluster did not do what it "
                                      "was asked" % nem.name, "detail": str(e)})
        rec.event("nemesis.info", nem.name, info)
        if info.get("clean") is False:
            findings.append({"error": "a clean stop (SIGTERM) did not exit 0", "detail": info})
        hold(cluster, rec, fault, findings)
        try:
            info = nem.heal()
            if info.get("clean") is False:
                findings.append({"error": "a clean stop (SIGTERM) did not exit 0", "detail": info})
        except cl.ClusterError as e:
            # a node that cannot start again after a fault: a finding, and
            # the end of the faults
            findings.append({"error": "heal of %s failed: a node did not come back" % nem.name,
                             "detail": str(e)})
            rec.event("nemesis.end", nem.name, {"failed": str(e)})
            return i
        rec.event("nemesis.end", nem.name, info)
        hold(cluster, rec, o.quiet_seconds, findings)
    left = t_stop - time.monotonic()
    if left > 0:
        hold(cluster, rec, left, findings)
    return i


def endpoints(cluster, leaving=None):
    """What clients may talk to: every member but one being removed."""
    return [(nd.id, nd.host, nd.port, nd.resp_port) for nd in list(cluster.nodes) if nd is not leaving]


class LeaderMonitor(threading.Thread):
    """Polls GET /v1/cluster on every member (about every 100 ms) and
    records an event "harness.leader" each time a node is seen leading a
    term higher than any seen before, with the time of the previous
    observation ("since"): the new leader took over, and restarted every TTL
    in full (SPEC §1), within [since, now]. The ttl checker uses these
    windows; spontaneous elections (a starved node on a busy machine) are
    caught too, not only those the nemeses cause."""

    def __init__(self, cluster, rec, stop):
        super().__init__(name="leader-monitor", daemon=True)
        self.cluster, self.rec, self.stop = cluster, rec, stop
        self.term = 0
        self.changes = 0

    def run(self):
        since = self.rec.now()
        while not self.stop.is_set():
            t_round = self.rec.now()
            for nd in list(self.cluster.nodes):
                s = self.cluster.status(nd, timeout=0.25)
                if s and s.get("role") == "leader" and s.get("term", 0) > self.term:
                    self.term = s["term"]
                    self.changes += 1
                    self.rec.event("harness.leader", nd.id, {"term": self.term, "since": round(since, 6)})
            since = t_round
            self.stop.wait(0.1)


def summarize(verdict):
    lines = []
    for name, r in verdict["checkers"].items():
        v = r["valid"]
        tag = "ok" if v is True else ("VIOLATION" if v is False else "undecided")
        detail = ""
        if name == "register":
            detail = "%d keys, %d ops, %d search steps" % (r["keys"], r["ops"], r["steps"])
        elif name == "lock":
            detail = ", ".join("%s: %d grants, %d fenced writes, %d stale holders fenced off"
                               % (x["name"].rsplit("/", 1)[-1], x["grants"], x["fenced_writes_accepted"],
                                  x["stale_holders_fenced_off"]) for x in r["locks"])
        elif name == "sequence":
            detail = ", ".join("%s: %d calls, final %s" % (x["name"].rsplit("/", 1)[-1], x["calls"],
                                                          x.get("final")) for x in r["sequences"])
        elif name == "set":
            detail = ", ".join("%d adds, %d acked, %d in final read, %d unknown (%d present)"
                               % (x.get("adds", 0), x.get("acknowledged", 0), x.get("final_size", 0),
                                  x.get("unknown_adds", 0), x.get("unknown_adds_present", 0))
                               for x in r["sets"])
        elif name == "ttl":
            detail = "%d keys, %d reads" % (r["keys"], r["reads"])
            if r.get("early_within_slack"):
                detail += ", %d ended early within the slack" % r["early_within_slack"]
        elif name == "revision":
            detail = "%d writes" % r["writes"]
        lines.append("  %-9s %-10s %s" % (name, tag, detail))
    return "\n".join(lines)


def recheck(path, budget, early_slack):
    ops = history.load(path)
    verdict = checkers.check_all(ops, budget=budget, early_slack=early_slack)
    print(json.dumps(verdict, indent=1, sort_keys=True, default=str))
    v = verdict["valid"]
    return EXIT_VALID if v is True else (EXIT_INVALID if v is False else EXIT_UNDECIDED)


def main(argv):
    o = parse_args(argv)
    if o.recheck:
        return recheck(o.recheck, o.budget, o.early_slack_ms / 1000.0)
    if not o.kahunad or not os.access(o.kahunad, os.X_OK):
        print("harness: no kahunad binary: pass --kahunad PATH or set KAHUNAD (build it with "
              "`make daemon/kahunad`)", file=sys.stderr)
        return EXIT_USAGE
    o.kahunad = os.path.abspath(o.kahunad)
    if o.seed is None:
        o.seed = int.from_bytes(os.urandom(4), "big")
    if o.nodes < 1:
        print("harness: --nodes must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    run_dir = o.run_dir or os.path.join(o.runs_root, "%s-seed%d" % (time.strftime("%Y%m%d-%H%M%S"), o.seed))
    os.makedirs(run_dir, exist_ok=True)
    run_dir = os.path.abspath(run_dir)
    rng = random.Random(o.seed)
    cmd = replay_command(o)
    with open(os.path.join(run_dir, "replay.sh"), "w") as f:
        f.write("#!/bin/sh\n# replays this torture run (same seed, options and fault schedule;\n"
                "# thread interleavings differ from run to run)\nexec %s \"$@\"\n" % cmd)
    with open(os.path.join(run_dir, "options.json"), "w") as f:
        json.dump({k: getattr(o, k) for k in REPLAY_OPTS + ("kahunad",)}, f, indent=1, sort_keys=True)
    print("torture: seed %d, %d node(s), %.0f s, run dir %s" % (o.seed, o.nodes, o.duration, run_dir),
          flush=True)

    cluster = cl.Cluster(o.kahunad, run_dir, o.nodes, random.Random(o.seed ^ 0x5eed),
                         log_level=o.log_level, snapshot_entries=o.snapshot_entries,
                         lose_unsynced=not o.keep_unsynced)
    holder = {}

    def on_membership(leaving=None):
        """The membership nemesis changed (or is about to change) the
        members: clients follow, and stop sending to a node being removed."""
        if "run" in holder:
            holder["run"].set_endpoints(endpoints(cluster, leaving))

    try:
        nemeses, skipped = pick_nemeses(o, cluster, rng, on_membership)
    except (ValueError, nm.NeedsCluster) as e:
        print("harness: %s" % e, file=sys.stderr)
        shutil.rmtree(run_dir, ignore_errors=True)
        return EXIT_USAGE

    def on_signal(signum, frame):
        raise Interrupted(signal.Signals(signum).name)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
    rec = history.Recorder(os.path.join(run_dir, "history.jsonl"))
    findings = []
    workers, run = [], None
    status = EXIT_ERROR
    verdict = None
    try:
        try:
            cluster.start()
        except cl.ClusterUnsupported as e:
            print("harness: %s" % e, file=sys.stderr)
            status = EXIT_USAGE
            return status
        rec.event("harness.start", "cluster", {"nodes": cluster.nodes_info()})
        run = workloads.RunState(rec, endpoints(cluster), o, o.seed)
        holder["run"] = run
        monitor = LeaderMonitor(cluster, rec, threading.Event())
        if cluster.multi:
            monitor.start()
        t_stop = time.monotonic() + o.duration
        workers = workloads.start_workers(run, {"registers": o.reg_clients, "resp": o.resp_clients,
                                                "locks": o.lock_clients,
                                                "sequences": o.seq_clients, "sets": o.set_clients,
                                                "ttl": o.ttl_clients})
        windows = run_schedule(o, cluster, rec, rng, nemeses, findings, t_stop)
        stuck = workloads.stop_workers(run, workers, deadline=o.timeout * 4 + o.lock_wait_ms / 1000.0 + 10)
        if stuck:
            findings.append({"error": "harness: workers did not stop: %s" % stuck})
        # heal everything, then read everything back
        down = []
        cluster.heal_partition()
        for nd in cluster.nodes:
            if nd.paused:
                cluster.resume(nd)
        for nd in cluster.nodes:
            if not nd.alive():
                try:
                    cluster.restart(nd, ready=False)
                except cl.ClusterError as e:
                    findings.append({"error": "node %s does not start any more" % nd.id, "detail": str(e)})
                    down.append(nd.id)
        if not down:
            try:
                cluster.wait_ready()
            except cl.ClusterError as e:
                findings.append({"error": "the cluster is not ready after healing", "detail": str(e)})
                down.append("cluster")
        rec.event("harness.healed", "cluster", {"down": down})
        run.set_endpoints(endpoints(cluster))
        if down:
            unread = 1     # nothing can be read back: the verdict rests on the findings
        else:
            unread = workloads.final_reads(run, deadline=30.0)
        monitor.stop.set()
        if monitor.is_alive():
            monitor.join(5.0)
        stops = cluster.stop_all(deadline=15.0)
        for nid, rc in stops.items():
            if rc != 0:
                findings.append({"error": "node %s did not stop cleanly on SIGTERM (status %s)" % (nid, rc)})
        hold(cluster, rec, 0, findings)
        for nid, rc, tail in cluster.unexpected:
            findings.append({"error": "node %s died without being killed (exit status %s)" % (nid, rc),
                             "log_tail": tail})
        rec.close()
        print("torture: %d ops recorded, %d fault windows; checking..." % (len(rec.ops), windows), flush=True)
        verdict = checkers.check_all(rec.ops, budget=o.budget, early_slack=o.early_slack_ms / 1000.0)
        if findings:
            verdict["findings"] = findings
            verdict["valid"] = False
        if unread:
            verdict["unread_objects"] = unread
            if verdict["valid"] is True:
                verdict["valid"] = checkers.UNDECIDED
        if run.errors:
            verdict["harness_errors"] = run.errors[:20]
        verdict["nemeses_run"] = sorted({op.key for op in rec.ops if op.kind == "nemesis.start"})
        verdict["nemeses_pending"] = skipped
        not_run = sorted({n.name for n in nemeses} - set(verdict["nemeses_run"]))
        verdict["nemeses_not_run"] = not_run
        verdict["seed"] = o.seed
        verdict["replay"] = cmd
        verdict["nodes"] = cluster.nodes_info()
        with open(os.path.join(run_dir, "verdict.json"), "w") as f:
            json.dump(verdict, f, indent=1, sort_keys=True, default=str)
        try:
            plot.render(rec.ops, os.path.join(run_dir, "plot.svg"),
                        "kahuna torture: seed %d, %d node(s), verdict %s" % (o.seed, o.nodes, verdict["valid"]))
        except Exception as e:    # a picture is not worth failing the run
            print("torture: plot failed: %r" % e, file=sys.stderr)
        v = verdict["valid"]
        print(summarize(verdict))
        for f_ in findings:
            print("  finding: %s" % f_["error"])
        if run.errors:
            print("  harness errors: %d (see verdict.json)" % len(run.errors))
        if skipped:
            print("  not run (need a bigger cluster): %s" % ", ".join(skipped))
        print("torture: verdict %s; nemeses run: %s" % (
            {True: "VALID", False: "INVALID"}.get(v, "UNDECIDED"), ", ".join(verdict["nemeses_run"]) or "none"))
        if not_run:
            print("  selected but not run (the run was too short): %s" % ", ".join(not_run))
        if run.errors or (not_run and o.require_all_nemeses):
            status = EXIT_ERROR
        else:
            status = EXIT_VALID if v is True else (EXIT_INVALID if v is False else EXIT_UNDECIDED)
        return status
    except (KeyboardInterrupt, Interrupted) as e:
        print("\ntorture: interrupted (%s); stopping every process" % (str(e) or "SIGINT"), file=sys.stderr)
        status = EXIT_INTR
        return status
    except cl.ClusterError as e:
        print("torture: %s" % e, file=sys.stderr)
        status = EXIT_ERROR
        return status
    except Exception:     # a harness bug must not pass for a violation (status 1)
        traceback.print_exc()
        status = EXIT_ERROR
        return status
    finally:
        if run is not None:
            run.stop.set()
        cluster.stop_all()
        rec.close()
        for s, h in old.items():
            signal.signal(s, h)
        keep = o.keep or status != EXIT_VALID
        if status == EXIT_USAGE:          # refused before anything ran
            rec.close()
            shutil.rmtree(run_dir, ignore_errors=True)
            return status
        if not keep:
            for nd in cluster.nodes:
                shutil.rmtree(nd.data_dir, ignore_errors=True)
            hpath = os.path.join(run_dir, "history.jsonl")
            if status == EXIT_VALID and os.path.exists(hpath):
                try:
                    history.compress(hpath)
                except OSError as e:
                    print("torture: cannot compress the history: %s" % e, file=sys.stderr)
        where = "kept" if keep else "removed (logs kept)"
        print("torture: run dir %s (data dirs %s)\ntorture: replay: %s" % (run_dir, where, cmd),
              flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
