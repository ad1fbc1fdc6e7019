"""checkers.py: verdicts on a recorded history (history.py), one checker per
guarantee of SPEC §6. Python 3 standard library only.

Every checker returns a dict with "valid": True, False or "unknown" (could
not decide, e.g. a search budget ran out) plus what it found. check_all()
runs them all and combines: False if any is False, else "unknown" if any is,
else True.

  register   KV get/put/CAS/delete per key are linearizable: Wing & Gong's
             search with Lowe's memoisation (cache of (linearized set,
             state)), history partitioned per key, unknown ops may take
             effect at any time after their call or never (return = +inf),
             a per-key step budget (verdict "unknown" instead of hanging).
             On failure: the key, the longest linearization found, the state
             there, the op whose return could not be passed, the candidates
             that could not be placed, and a shrunk sub-history.
  lock       never two holders per the service (grant intervals of two
             owners never overlap, with TTL expiry as the service decides it:
             never before TTL after the grant), fencing tokens unique and
             increasing in real-time order, the fenced resource accepts
             tokens in non-decreasing order, a lock_held answer names an
             owner that asked for the lock.
  sequence   values never handed out twice (ranges of `count` never
             overlap), real-time order (next A completed before next B was
             invoked => A's values < B's), same idempotency key => same
             answer, no gaps beyond what unknown calls can explain, final
             value covers every value handed out.
  set        every acknowledged add is in every read invoked after it
             completed; nothing appears that was never added or whose add
             certainly failed; nothing disappears.
  ttl        a key put with a TTL never reads as absent before the TTL
             could have passed, and never reads as present after it passed
             (counting from the put, or from a node restart, which re-arms
             TTLs in full).
  revision   the store revision returned by writes is never reused and
             increases in real-time order (SPEC §3: one counter, strictly
             increasing, never reused).
"""

import time

from history import OK, FAIL, UNKNOWN, INF, is_nemesis

VALID = True
INVALID = False
UNDECIDED = "unknown"


def combine(verdicts):
    vs = list(verdicts)
    if any(v is False for v in vs):
        return False
    if any(v == UNDECIDED for v in vs):
        return UNDECIDED
    return True


# ---------------------------------------------------------------------------
# Wing & Gong linearizability search with Lowe's memoisation (Porcupine's
# checker.go). Generic over a model: step(state, op) -> new state or None.
# States must be hashable. For non-deterministic models use a frozenset of
# concrete states as the state (the power-set model: deterministic).


class SearchResult:
    def __init__(self, verdict, order=None, steps=0, best_order=None, best_state=None,
                 blocking=None):
        self.verdict = verdict          # True, False, UNDECIDED
        self.order = order              # witness order (op indexes) when True
        self.steps = steps
        self.best_order = best_order    # longest linearized prefix found
        self.best_state = best_state    # state after it
        self.blocking = blocking        # op index whose return could not be passed


def wgl(calls, rets, init, step, payloads, budget):
    """calls[i], rets[i]: times of op i (rets[i] may be inf); payloads[i]
    goes to step(state, payload). Intervals are closed: at equal times calls
    sort before returns (touching ops are concurrent)."""
    n = len(calls)
    if n == 0:
        return SearchResult(True, [], 0)
    events = []
    for i in range(n):
        events.append((calls[i], 0, i))
        events.append((rets[i], 1, i))
    events.sort()
    m = len(events)
    HEAD = m
    ev_ret = [e[1] for e in events]
    ev_op = [e[2] for e in events]
    call_ev = [0] * n
    ret_ev = [0] * n
    for pos, (_, k, i) in enumerate(events):
        if k == 0:
            call_ev[i] = pos
        else:
            ret_ev[i] = pos
    nxt = list(range(1, m + 1)) + [0]
    nxt[m - 1] = -1
    prv = [HEAD] + list(range(0, m - 1)) + [-1]

    def lift(i):
        a = call_ev[i]
        pa, na = prv[a], nxt[a]
        nxt[pa] = na
        if na != -1:
            prv[na] = pa
        b = ret_ev[i]
        pb, nb = prv[b], nxt[b]
        nxt[pb] = nb
        if nb != -1:
            prv[nb] = pb

    def unlift(i):
        b = ret_ev[i]
        nxt[prv[b]] = b
        if nxt[b] != -1:
            prv[nxt[b]] = b
        a = call_ev[i]
        nxt[prv[a]] = a
        if nxt[a] != -1:
            prv[nxt[a]] = a

    state = init
    lin = 0
    stack = []
    cache = set()
    steps = 0
    best_depth = -1
    best = (None, None, None)
    e = nxt[HEAD]
    while nxt[HEAD] != -1:
        steps += 1
        if steps > budget:
            return SearchResult(UNDECIDED, None, steps, *best)
        if not ev_ret[e]:
            i = ev_op[e]
            s2 = step(state, payloads[i])
            if s2 is not None:
                nl = lin | (1 << i)
                key = (nl, s2)
                if key not in cache:
                    cache.add(key)
                    stack.append((i, state))
                    state = s2
                    lin = nl
                    lift(i)
                    e = nxt[HEAD]
                    continue
            e = nxt[e]
        else:
            if len(stack) > best_depth:
                best_depth = len(stack)
                best = ([j for j, _ in stack], state, ev_op[e])
            if not stack:
                return SearchResult(False, None, steps, *best)
            i, state = stack.pop()
            lin &= ~(1 << i)
            unlift(i)
            e = nxt[call_ev[i]]
    return SearchResult(True, [j for j, _ in stack], steps)


# ---------------------------------------------------------------------------
# Register model (per key). Concrete state: (value, revision, floor).
# value None = absent (revision 0 then); revision UNK = -1 means "written by
# an op whose outcome is unknown: some revision we have not seen"; floor is
# the highest revision of a write to this key linearized so far. The store
# revision strictly increases in apply order (SPEC §3), so along a key's
# linearization every write's revision exceeds the floor: a known write
# must, and an unknown one's revision, once seen, must too. This prunes the
# search a lot and is part of the sequential specification. The checker's
# state is a frozenset of concrete states (an unknown CAS may or may not
# apply).

ABSENT = (None, 0, 0)
UNK = -1


def reg_payload(op):
    """Compact form of a KV op for the model, or None when the op says
    nothing (an unknown or failed read, a failed write). RESP ops (input
    "via": "resp") carry no revisions: their revision fields are None
    (reads: any revision; writes: an unknown one). kv.swap is SET k v GET
    (writes v, reports the old value); a kv.cas with "if_watched" is
    WATCH/GET/MULTI/SET/EXEC: it applied only if the value was still the
    one read (mode "w"), and a refusal says nothing (the key may have been
    written with the same value since the WATCH)."""
    o = op.output or {}
    if op.outcome == FAIL:
        return None
    known = op.outcome == OK
    if op.kind == "kv.get":
        if not known:
            return None
        return ("g", bool(o.get("found")), o.get("value"), o.get("revision"))
    if op.kind == "kv.put":
        return ("p", op.input.get("value"), o.get("revision") if known else None)
    if op.kind == "kv.swap":
        if not known:
            return ("p", op.input.get("value"), None)
        return ("s", op.input.get("value"), bool(o.get("found")), o.get("old"))
    if op.kind == "kv.cas":
        if "if_watched" in op.input:
            res = bool(o.get("ok")) if known else None
            return ("c", "w", op.input["if_watched"], op.input.get("value"), res, None)
        if "if_revision" in op.input:
            mode, expect = "r", op.input["if_revision"]
        else:
            mode, expect = "v", op.input.get("if_value")
        res = bool(o.get("ok")) if known else None
        return ("c", mode, expect, op.input.get("value"), res, o.get("revision") if known else None)
    if op.kind == "kv.delete":
        return ("d", bool(o.get("found")) if known else None, o.get("revision") if known else None)
    return None


def _reg_cond(s, mode, expect):
    """Does the CAS condition hold in concrete state s: True, False, or
    None (maybe: the revision is unknown)."""
    value, rev, floor = s
    if mode == "r":
        if rev == UNK:
            return None if expect > floor else False
        return rev == expect
    return value is not None and value == expect


def _reg_write(s, v, r):
    """State after a write of v whose revision is r (None: unknown);
    None when r cannot follow s."""
    floor = s[2]
    if r is None:
        return (v, UNK, floor)
    if r <= floor:
        return None
    return (v, r, r)


def reg_step_one(s, p):
    """Successor concrete states of s under payload p (empty: illegal)."""
    k = p[0]
    value, rev, floor = s
    if k == "g":
        _, found, v, r = p
        if not found:
            return (s,) if value is None else ()
        if value is None or value != v:
            return ()
        if r is None or rev == r:
            return (s,)
        if rev == UNK and r > floor:
            return ((v, r, r),)
        return ()
    if k == "p":
        _, v, r = p
        n = _reg_write(s, v, r)
        return (n,) if n else ()
    if k == "s":
        _, v, found, old = p
        if (value is not None) != found or (found and value != old):
            return ()
        return (_reg_write(s, v, None),)
    if k == "c" and p[1] == "w":
        _, mode, expect, v, res, r = p
        cond = value == expect      # None: the key was absent
        if res is True:
            return (_reg_write(s, v, None),) if cond else ()
        if res is False or not cond:
            return (s,)
        return (_reg_write(s, v, None), s)
    if k == "c":
        _, mode, expect, v, res, r = p
        cond = _reg_cond(s, mode, expect)
        if res is True:
            if cond is False:
                return ()
            n = _reg_write(s, v, r)
            return (n,) if n else ()
        if res is False:
            if cond is True:
                return ()
            # the answer carries the key's current revision (0: absent)
            if rev == r:
                return (s,)
            if rev == UNK and value is not None and r > floor:
                if mode == "r" and r == expect:
                    return ()
                return ((value, r, r),)
            return ()
        # unknown outcome: it applied iff the condition held
        if cond is True:
            return ((v, UNK, floor),)
        if cond is False:
            return (s,)
        return ((v, UNK, floor), s)
    if k == "d":
        _, found, r = p
        if found is True:
            if value is None:
                return ()
            if r is None:
                return ((None, 0, floor),)
            if r <= floor:
                return ()
            return ((None, 0, r),)
        if found is False:
            return (s,) if value is None else ()
        return ((None, 0, floor),)
    return (s,)


def reg_step(S, p):
    out = set()
    for s in S:
        out.update(reg_step_one(s, p))
    return frozenset(out) if out else None


REG_INIT = frozenset([ABSENT])


def _reg_search(ops, budget):
    return wgl([op.invoke for op in ops], [op.ret() for op in ops], REG_INIT, reg_step,
               [reg_payload(op) for op in ops], budget)


def _fmt_states(S):
    return sorted(["absent" if v is None else "%s@%s" % (v, "?" if r == UNK else r) for v, r, _ in S])


def _reg_closed(ops):
    """Every observation in ops is explained by a write in ops (or by the
    initial absent state), so a shrunk sub-history is not failing merely
    because we removed the write an observation came from."""
    values, revs = set(), {0}
    any_unknown_write = False
    for op in ops:
        p = reg_payload(op)
        if p is None:
            continue
        if p[0] == "p":
            values.add(p[1])
            if p[2] is None:
                any_unknown_write = True
            else:
                revs.add(p[2])
        elif p[0] == "c" and p[4] is not False:
            values.add(p[3])
            if p[5] is None:
                any_unknown_write = True
            else:
                revs.add(p[5])
        elif p[0] == "s":
            values.add(p[1])
            any_unknown_write = True
    for op in ops:
        p = reg_payload(op)
        if p is None:
            continue
        if p[0] == "g" and p[1]:
            if p[2] not in values:
                return False
            if p[3] is not None and p[3] not in revs and not any_unknown_write:
                return False
        elif p[0] == "s":
            if p[2] and p[3] not in values:
                return False
        elif p[0] == "c" and p[1] == "w":
            if p[4] is True and p[2] is not None and p[2] not in values:
                return False
        elif p[0] == "c":
            if p[1] == "r" and p[4] is not None and p[2] not in revs and not any_unknown_write:
                return False
            if p[1] == "v" and p[4] is True and p[2] not in values:
                return False
            if p[4] is False and p[5] not in revs and not any_unknown_write:
                return False
    return True


def _reg_shrink(ops, budget, seconds):
    """Greedy: drop ops one at a time while the rest stays closed and not
    linearizable. Deletes are kept (dropping one can fake a failure)."""
    deadline = time.monotonic() + seconds
    cur = list(ops)
    changed = True
    while changed and time.monotonic() < deadline:
        changed = False
        for op in list(cur):
            if time.monotonic() >= deadline:
                break
            if op.kind == "kv.delete":
                continue
            trial = [o for o in cur if o is not op]
            if not trial or not _reg_closed(trial):
                continue
            if _reg_search(trial, budget).verdict is False:
                cur = trial
                changed = True
    return cur


def _drop_unobserved_unknowns(ops, spare=0):
    """The ops without the unknown writes whose value no read or if_value
    condition ever saw (and without unknown deletes), except `spare` of them
    (the earliest invoked, puts first) kept to stand for revisions that were
    seen but that no known write produced. If what is left is
    linearizable, so is the whole: the dropped ops, whose return is +inf,
    can be linearized after everything else, where the model accepts them
    in any state (an unknown put always applies; an unknown CAS or delete
    may or may not). The converse need not hold, so a failure of the
    reduced history is confirmed on the full one."""
    seen = set()
    for op in ops:
        p = reg_payload(op)
        if p is None:
            continue
        if p[0] == "g" and p[1]:
            seen.add(p[2])
        elif p[0] == "c" and p[1] in ("v", "w"):
            seen.add(p[2])
        elif p[0] == "s" and p[2]:
            seen.add(p[3])
    drop = []
    for op in ops:
        p = reg_payload(op)
        if op.outcome == UNKNOWN and p is not None:
            if (p[0] == "d" and not spare) or (p[0] == "p" and p[1] not in seen) \
                    or (p[0] == "c" and p[3] not in seen):
                drop.append(op)
    if spare:
        writes = [o for o in drop if o.kind != "kv.delete"]
        writes.sort(key=lambda o: (o.kind != "kv.put", o.invoke))
        kept = set(id(o) for o in writes[:spare])
        drop = [o for o in drop if id(o) not in kept and o.kind != "kv.delete"]
    gone = set(id(o) for o in drop)
    return [op for op in ops if id(op) not in gone]


def _unexplained_revisions(ops):
    """Revisions seen in answers (reads, refused CAS) that no known write
    of this key produced: some unknown write must have."""
    made, seen = {0}, set()
    for op in ops:
        p = reg_payload(op)
        if p is None:
            continue
        if p[0] == "p" and p[2] is not None:
            made.add(p[2])
        elif p[0] == "c" and p[4] is True:
            made.add(p[5])
        elif p[0] == "d" and p[1] is True:
            made.add(p[2])
        elif p[0] == "g" and p[1] and p[3] is not None:
            seen.add(p[3])
        elif p[0] == "c" and p[4] is False and p[5] is not None:
            seen.add(p[5])
    return seen - made


def check_register_key(key, ops, budget=2_000_000, shrink_seconds=5.0):
    """Linearizability of one key's ops (kv.* ops, any outcome)."""
    ops = [op for op in ops if reg_payload(op) is not None]
    ops.sort(key=lambda o: (o.invoke, o.id))
    t = time.monotonic()
    reduced = _drop_unobserved_unknowns(ops)
    res = _reg_search(reduced, budget)
    steps = res.steps
    out = {"key": key, "valid": res.verdict, "ops": len(ops), "steps": steps}
    spare = len(_unexplained_revisions(ops))
    if res.verdict is not True and spare:
        # some unknown writes must have happened: keep as many as needed
        again = _drop_unobserved_unknowns(ops, spare)
        if len(again) < len(ops):
            res2 = _reg_search(again, budget)
            steps += res2.steps
            out["steps"] = steps
            if res2.verdict is True:
                res, reduced = res2, again
                out["valid"] = True
    if res.verdict is not True and len(reduced) < len(ops):
        full = _reg_search(ops, budget)
        steps += full.steps
        out["steps"] = steps
        if full.verdict is False or full.verdict is True:
            res = full
        else:
            out["reduced_verdict"] = res.verdict
            out["note"] = ("the history without its %d unobserved unknown writes is %s; the full "
                           "one could not be decided" % (len(ops) - len(reduced),
                                                         "NOT linearizable" if res.verdict is False
                                                         else "undecided too"))
            res = full
        out["valid"] = res.verdict
    out["seconds"] = round(time.monotonic() - t, 3)
    if res.verdict is True:
        return out
    if res.verdict == UNDECIDED:
        out["why"] = "search budget of %d steps ran out" % budget
        return out
    order = res.best_order or []
    # replay the longest linearization to show the states it went through
    S = REG_INIT
    trail = []
    for i in order:
        S = reg_step(S, reg_payload(ops[i]))
        trail.append((ops[i], S))
    blocking = ops[res.blocking]
    placed = set(order)
    cands = [ops[i] for i in range(len(ops))
             if i not in placed and ops[i].invoke <= blocking.ret()]
    out["why"] = ("no linearization extends past the return of op #%d: after the %d ops "
                  "linearized before it, the state is %s and none of the %d pending ops "
                  "can take effect there" % (blocking.id, len(order), _fmt_states(res.best_state),
                                            len(cands)))
    out["linearized_tail"] = [{"op": o.brief(), "state_after": _fmt_states(s)} for o, s in trail[-8:]]
    out["state"] = _fmt_states(res.best_state)
    out["blocking_op"] = blocking.brief()
    out["pending_ops"] = [
        {"op": o.brief(),
         "legal_here": reg_step(res.best_state, reg_payload(o)) is not None}
        for o in cands[:20]]
    # shrink: the ops invoked before the blocking return, then greedy
    prefix = [o for o in ops if o.invoke <= blocking.ret()]
    if not _reg_closed(prefix) or _reg_search(prefix, budget).verdict is not False:
        prefix = ops
    small = _reg_shrink(prefix, min(budget, 200_000), shrink_seconds)
    out["shrunk"] = [o.brief() for o in small]
    out["shrunk_note"] = ("a sub-history that is also not linearizable and in which every "
                          "observed value/revision comes from a write it contains (for "
                          "reading; the verdict is on the full history)")
    return out


def check_registers(ops, budget=2_000_000, shrink_seconds=5.0):
    by_key = {}
    for op in ops:
        if op.kind.startswith("kv."):
            by_key.setdefault(op.key, []).append(op)
    results = [check_register_key(k, v, budget, shrink_seconds) for k, v in sorted(by_key.items())]
    bad = [r for r in results if r["valid"] is False]
    und = [r for r in results if r["valid"] == UNDECIDED]
    return {"valid": combine(r["valid"] for r in results),
            "keys": len(results), "ops": sum(r["ops"] for r in results),
            "steps": sum(r["steps"] for r in results),
            "failures": bad, "undecided": [{"key": r["key"], "ops": r["ops"], "why": r["why"]} for r in und]}


# ---------------------------------------------------------------------------
# Real-time order of unique numbers (sequences, revisions, tokens): given
# items (number, lo, hi) where the number was produced at some moment in
# [lo, hi], find a pair a, b with a.number > b.number although a was done
# (a.hi) before b started (b.lo). Sort by number, scan keeping the largest
# lo seen among smaller numbers: O(n log n).

def realtime_violations(items, limit=10):
    """items: (number, lo, hi, tag). Returns up to limit pairs
    (smaller_item, larger_item) where the smaller number started after the
    larger one was done."""
    out = []
    best = None   # item with the largest lo among smaller numbers
    for it in sorted(items, key=lambda x: x[0]):
        if best is not None and best[1] > it[2] and best[0] < it[0]:
            out.append((best, it))
            if len(out) >= limit:
                break
        if best is None or it[1] > best[1]:
            best = it
    return out


# ---------------------------------------------------------------------------
# Sequences.

def check_sequences(ops):
    names = {}
    for op in ops:
        if op.kind in ("seq.next", "seq.read"):
            names.setdefault(op.key, []).append(op)
    results = []
    for name, nops in sorted(names.items()):
        results.append(_check_sequence(name, nops))
    return {"valid": combine(r["valid"] for r in results), "sequences": results}


def _check_sequence(name, ops):
    errors = []
    # logical calls: attempts sharing an idempotency key are one call
    calls = {}
    for op in ops:
        if op.kind != "seq.next":
            continue
        idem = op.input.get("idem") or ("op-%s" % op.id)
        calls.setdefault(idem, []).append(op)
    logical = []     # (value, last, lo, hi, idem)
    unknown_capacity = 0
    for idem, atts in calls.items():
        oks = [a for a in atts if a.outcome == OK]
        answers = {(a.output["value"], a.output["last"]) for a in oks}
        if len(answers) > 1:
            errors.append({"error": "idempotency key answered differently",
                           "idem": idem, "answers": sorted(answers),
                           "ops": [a.brief() for a in oks]})
        lo = min(a.invoke for a in atts)
        count = atts[0].input.get("count", 1)
        if oks:
            first = min(oks, key=lambda a: a.complete)
            v, last = first.output["value"], first.output["last"]
            if last - v + 1 != count:
                errors.append({"error": "range length differs from count",
                               "op": first.brief()})
            logical.append((v, last, lo, first.complete, idem))
        elif any(a.outcome == UNKNOWN for a in atts):
            unknown_capacity += count
    # uniqueness: ranges must not overlap
    logical.sort()
    dups = []
    for a, b in zip(logical, logical[1:]):
        if b[0] <= a[1]:
            dups.append({"first": {"value": a[0], "last": a[1], "idem": a[4],
                                   "ops": [o.brief() for o in calls[a[4]]]},
                         "second": {"value": b[0], "last": b[1], "idem": b[4],
                                    "ops": [o.brief() for o in calls[b[4]]]}})
    if dups:
        errors.append({"error": "value handed out twice", "pairs": dups[:10], "count": len(dups)})
    # real-time order
    items = [(v, lo, hi, idem) for v, last, lo, hi, idem in logical]
    rt = realtime_violations(items)
    if rt:
        errors.append({"error": "real-time order violated: a call that completed before another "
                                "was invoked got the larger value",
                       "pairs": [{"smaller_value": {"value": a[0], "invoke": round(a[1], 6),
                                                    "ops": [o.brief() for o in calls[a[3]]]},
                                  "larger_value_completed_before": {
                                      "value": b[0], "complete": round(b[2], 6),
                                      "ops": [o.brief() for o in calls[b[3]]]}}
                                 for a, b in rt]})
    # final value and gaps
    finals = [op for op in ops if op.kind == "seq.read" and op.outcome == OK]
    final = None
    info = {}
    if finals:
        fr = max(finals, key=lambda o: o.invoke)
        final = fr.output.get("value", 0) if fr.output.get("found", True) else 0
        later = [l for l in logical if l[3] < fr.invoke]
        top = max((l[1] for l in later), default=0)
        if top > final:
            errors.append({"error": "final read is below a value handed out before it",
                           "final": final, "handed_out": top, "read": fr.brief()})
        covered = sum(min(l[1], final) - l[0] + 1 for l in logical if l[0] <= final)
        missing = final - covered
        info = {"final": final, "covered": covered, "missing": missing,
                "unknown_capacity": unknown_capacity}
        if missing > unknown_capacity:
            errors.append({"error": "gap: values below the final one were handed to nobody we "
                                    "know of, more than unknown calls can explain",
                           "final": final, "missing": missing,
                           "unknown_capacity": unknown_capacity})
    return {"name": name, "valid": not errors, "calls": len(logical), "errors": errors, **info}


# ---------------------------------------------------------------------------
# Sets: unique elements added under a prefix, read back with a listing.

def check_sets(ops):
    sets = {}
    for op in ops:
        if op.kind in ("set.add", "set.read"):
            sets.setdefault(op.key, []).append(op)
    results = [_check_set(name, sops) for name, sops in sorted(sets.items())]
    return {"valid": combine(r["valid"] for r in results), "sets": results}


def _check_set(name, ops):
    adds = {}
    for op in ops:
        if op.kind == "set.add":
            adds.setdefault(op.input["element"], []).append(op)
    reads = sorted([op for op in ops if op.kind == "set.read" and op.outcome == OK],
                   key=lambda o: o.invoke)
    if not reads:
        return {"name": name, "valid": UNDECIDED, "why": "no successful read of the set",
                "adds": len(adds)}
    errors = []
    acked = {e: min(a.complete for a in atts if a.outcome == OK)
             for e, atts in adds.items() if any(a.outcome == OK for a in atts)}
    failed_only = {e for e, atts in adds.items() if all(a.outcome == FAIL for a in atts)}
    lost, unexpected, failed_present = {}, set(), set()
    seen_done = {}   # element -> completion of the first read that had it
    for r in reads:
        have = set(r.output.get("elements", []))
        for e, done in acked.items():
            if done < r.invoke and e not in have:
                lost.setdefault(e, r)
        for e, first in seen_done.items():
            if first < r.invoke and e not in have:
                lost.setdefault(e, r)
        for e in have:
            if e not in adds:
                unexpected.add(e)
            elif e in failed_only:
                failed_present.add(e)
            if e not in seen_done:
                seen_done[e] = r.complete
    final = set(reads[-1].output.get("elements", []))
    if lost:
        errors.append({"error": "acknowledged (or already read) elements missing from a later read",
                       "count": len(lost),
                       "elements": [{"element": e, "adds": [a.brief() for a in adds.get(e, [])],
                                     "read": r.brief()[:200]}
                                    for e, r in sorted(lost.items())[:20]]})
    if unexpected:
        errors.append({"error": "elements read that were never added", "count": len(unexpected),
                       "elements": sorted(unexpected)[:20]})
    if failed_present:
        errors.append({"error": "elements read whose add certainly failed (a 'fail' answer "
                                "claimed it was not applied)",
                       "count": len(failed_present),
                       "elements": [{"element": e, "adds": [a.brief() for a in adds[e]]}
                                    for e in sorted(failed_present)[:20]]})
    unknown_adds = [e for e, atts in adds.items() if e not in acked and e not in failed_only]
    return {"name": name, "valid": not errors, "errors": errors, "adds": len(adds),
            "acknowledged": len(acked), "final_size": len(final), "reads": len(reads),
            "unknown_adds": len(unknown_adds),
            "unknown_adds_present": sum(1 for e in unknown_adds if e in final)}


# ---------------------------------------------------------------------------
# Locks with fenced writes.

def _token_of(value):
    """The fenced resource's values are "TOKEN:OWNER"."""
    try:
        return int(str(value).split(":", 1)[0])
    except (ValueError, TypeError):
        return None


def check_locks(ops, slack=0.001):
    """slack: seconds of tolerance on TTL expiry (kahunad counts whole
    milliseconds on its monotonic clock)."""
    locks = {}
    for op in ops:
        if op.kind in ("lock.acquire", "lock.release"):
            locks.setdefault(op.key, []).append(op)
    fence = {}
    for op in ops:
        if op.kind.startswith("kv.") and op.input.get("fence_for") is not None:
            fence.setdefault(op.input["fence_for"], []).append(op)
    results = []
    for name in sorted(set(locks) | set(fence)):
        results.append(_check_lock(name, locks.get(name, []), fence.get(name, []), slack))
    return {"valid": combine(r["valid"] for r in results), "locks": results}


def _check_lock(name, ops, fops, slack):
    errors = []
    acq_by_owner, rel_by_owner = {}, {}
    for op in ops:
        owner = op.input.get("owner")
        if op.kind == "lock.acquire":
            acq_by_owner.setdefault(owner, []).append(op)
        else:
            rel_by_owner.setdefault(owner, []).append(op)
    # grants: (owner, token) of successful acquires
    grants = {}
    for owner, atts in acq_by_owner.items():
        for a in atts:
            if a.outcome == OK and a.output.get("granted"):
                grants.setdefault((owner, a.output["token"]), []).append(a)
    # tokens unique per grant
    by_token = {}
    for (owner, token) in grants:
        by_token.setdefault(token, []).append(owner)
    for token, owners in sorted(by_token.items()):
        if len(owners) > 1:
            errors.append({"error": "one fencing token granted to two owners", "token": token,
                           "owners": sorted(owners),
                           "ops": [a.brief() for o in owners for a in grants[(o, token)]]})
    info = []   # (token, owner, start_lo, start_hi, end_lb)
    for (owner, token), oks in grants.items():
        # the grant happened after the owner's first attempt was invoked
        start_lo = min(a.invoke for a in acq_by_owner[owner])
        start_hi = min(a.complete for a in oks)
        # each successful acquire (re)starts the TTL at its apply, which is
        # after its invoke: the lease cannot end before the last of these
        expiry_lb = max(a.invoke + min(a.input.get("ttl_ms", 0), a.output.get("ttl_ms", 1 << 60)) / 1000.0
                        for a in oks)
        # a release that could have ended it (ok, or unknown), invoked after the grant began
        rels = [r.invoke for r in rel_by_owner.get(owner, [])
                if r.invoke >= start_lo and (r.outcome == UNKNOWN
                                              or (r.outcome == OK and r.output.get("released")))]
        end_lb = min([expiry_lb] + rels)
        info.append((token, owner, start_lo, start_hi, end_lb))
    info.sort()
    # tokens increase in real-time order
    rt = realtime_violations([(t, lo, hi, (t, o)) for t, o, lo, hi, _ in info])
    for a, b in rt:
        errors.append({"error": "fencing token went backwards: a grant that completed before "
                                "another began got the larger token",
                       "smaller": {"token": a[0], "owner": a[3][1],
                                   "ops": [x.brief() for x in grants[(a[3][1], a[0])]]},
                       "larger_completed_before": {"token": b[0], "owner": b[3][1],
                                                   "ops": [x.brief() for x in grants[(b[3][1], b[0])]]}})
    # never two holders: in grant (token) order, each grant certainly began
    # (start_hi) no earlier than every earlier grant of another owner could
    # have ended (end_lb). Keep the two latest ends of distinct owners.
    top = []   # the two latest (end_lb, owner, token) of distinct owners so far
    overlaps = []
    for token, owner, lo, hi, end_lb in info:
        for e_end, e_owner, e_token in top:
            if e_owner != owner:
                if hi + slack < e_end:
                    overlaps.append((e_token, e_owner, e_end, token, owner, hi))
                break
        entries = {x[1]: x for x in top}
        if owner not in entries or entries[owner][0] < end_lb:
            entries[owner] = (end_lb, owner, token)
        top = sorted(entries.values(), reverse=True)[:2]
    for et, eo, ee, t, o, hi in overlaps[:10]:
        errors.append({"error": "two holders: a grant began while an earlier grant of another "
                                "owner could not have ended yet (neither released nor expired)",
                       "earlier": {"token": et, "owner": eo, "ends_no_earlier_than": round(ee, 6),
                                   "ops": [x.brief() for x in grants[(eo, et)]]
                                   + [x.brief() for x in rel_by_owner.get(eo, [])]},
                       "later": {"token": t, "owner": o, "granted_by": round(hi, 6),
                                 "ops": [x.brief() for x in grants[(o, t)]]}})
    # lock_held answers name an owner who had asked for the lock by then
    for owner, atts in acq_by_owner.items():
        for a in atts:
            if a.outcome == OK and not a.output.get("granted") and a.output.get("holder"):
                h = a.output["holder"]
                if h == owner or h not in acq_by_owner or \
                        min(x.invoke for x in acq_by_owner[h]) > a.complete:
                    errors.append({"error": "lock_held names a holder that cannot hold the lock",
                                   "op": a.brief()})
    # the fenced resource: accepted writes (seen in CAS answers or in reads)
    # in revision order carry non-decreasing tokens
    accepted = {}
    stale_holders = 0
    for op in fops:
        if op.outcome != OK:
            continue
        o = op.output or {}
        if op.kind == "kv.cas" and o.get("ok"):
            accepted[o["revision"]] = (op.input.get("value"), op)
        elif op.kind == "kv.get" and o.get("found"):
            accepted.setdefault(o["revision"], (o.get("value"), op))
            t = _token_of(o.get("value"))
            mine = op.input.get("fence_token")
            if mine is not None and t is not None and t > mine:
                stale_holders += 1
    seq = sorted(accepted.items())
    back = []
    hi_tok, hi_rev = None, None
    for rev, (value, op) in seq:
        t = _token_of(value)
        if t is None:
            continue
        if hi_tok is not None and t < hi_tok:
            back.append({"revision": rev, "token": t, "after_token": hi_tok,
                         "after_revision": hi_rev, "op": op.brief()})
        if hi_tok is None or t >= hi_tok:
            hi_tok, hi_rev = t, rev
    if back:
        errors.append({"error": "the fenced resource accepted a write with an older token after "
                                "a newer one", "writes": back[:10], "count": len(back)})
    # tokens written must be tokens that were granted to that owner
    granted_tokens = {t: o for (o, t) in grants}
    for rev, (value, op) in seq:
        t = _token_of(value)
        parts = str(value).split(":", 1)
        if t is not None and t in granted_tokens and len(parts) == 2 and parts[1] != granted_tokens[t]:
            errors.append({"error": "fenced write carries a token granted to someone else",
                           "op": op.brief()})
    return {"name": name, "valid": not errors, "errors": errors, "grants": len(info),
            "acquires": sum(len(v) for v in acq_by_owner.values()),
            "fenced_writes_accepted": len(seq),
            "stale_holders_fenced_off": stale_holders}


# ---------------------------------------------------------------------------
# Keys with a TTL (SPEC §3: "A key with a TTL disappears when the TTL
# passes (reads stop returning it at once)"; §1: TTLs restart in full when a
# node (a new leader) starts, so a key may outlive its TTL then, never end
# early).

def check_ttl(ops, restarts=(), slack=0.005, early_slack=0.001):
    """restarts: intervals [a, b] within which a node restarted (a fault
    window that kills or stops nodes); a restart re-arms every TTL in full.
    slack: seconds of tolerance for "at once" (a read racing the expiry).
    early_slack: seconds a key may disappear before its TTL without a
    violation (kahunad arms deadlines on a millisecond clock that it
    truncates, so a TTL can end up to 1 ms early); such cases are counted
    as "early_within_slack"."""
    keys = {}
    for op in ops:
        if op.kind in ("ttl.put", "ttl.get"):
            keys.setdefault(op.key, []).append(op)
    errors, nreads, early = [], 0, []
    for key, kops in sorted(keys.items()):
        puts = [o for o in kops if o.kind == "ttl.put"]
        if len(puts) != 1 or puts[0].outcome != OK:
            continue
        p = puts[0]
        ttl = p.input["ttl_ms"] / 1000.0
        for r in kops:
            if r.kind != "ttl.get" or r.outcome != OK or r.invoke < p.complete:
                continue
            nreads += 1
            o = r.output
            if not o["found"]:
                if r.complete < p.invoke + ttl - early_slack:
                    errors.append({"error": "key read as absent before its TTL could have passed",
                                   "early_by_ms": round((p.invoke + ttl - r.complete) * 1000, 3),
                                   "ttl_ms": p.input["ttl_ms"], "put": p.brief(), "read": r.brief()})
                elif r.complete < p.invoke + ttl:
                    early.append({"early_by_ms": round((p.invoke + ttl - r.complete) * 1000, 3),
                                  "put": p.brief(), "read": r.brief()})
                continue
            if o.get("value") != p.input["value"]:
                errors.append({"error": "key with a TTL read with another value",
                               "put": p.brief(), "read": r.brief()})
                continue
            # latest moment its TTL may have been armed: the put's completion,
            # or a node restart after the put was invoked (TTLs restart in full)
            armed = max([p.complete] + [min(b, r.invoke) for a, b in restarts
                                        if b >= p.invoke and a <= r.invoke])
            if r.invoke > armed + ttl + slack:
                errors.append({"error": "key still read after its TTL had passed",
                               "ttl_ms": p.input["ttl_ms"],
                               "late_by_ms": round((r.invoke - armed - ttl) * 1000, 3),
                               "put": p.brief(), "read": r.brief()})
    return {"valid": not errors, "errors": errors[:20], "violations": len(errors),
            "keys": len(keys), "reads": nreads, "early_within_slack": len(early),
            "early_within_slack_examples": early[:5]}


# ---------------------------------------------------------------------------
# Store revisions.

def write_revision(op):
    """The store revision an op's answer says it wrote at, or None."""
    if op.outcome != OK or not op.output:
        return None
    o = op.output
    k = op.kind
    if k in ("kv.put", "set.add", "seq.next", "ttl.put"):
        return o.get("revision")
    if k == "kv.cas":
        return o.get("revision") if o.get("ok") else None
    if k == "kv.delete":
        return o.get("revision") if o.get("found") else None
    if k == "lock.acquire":
        return o.get("revision") if o.get("granted") else None
    if k == "lock.release":
        return o.get("revision") if o.get("released") else None
    return None


def check_revisions(ops):
    by_rev = {}
    first_try = {}     # identity of an idempotent call -> its first attempt's invoke
    for op in ops:
        ident = _write_identity(op)
        if ident[0] != "op":
            first_try[ident] = min(first_try.get(ident, op.invoke), op.invoke)
        r = write_revision(op)
        if r is not None:
            by_rev.setdefault(r, []).append(op)
    errors = []
    items = []
    for r, rops in by_rev.items():
        ident = {_write_identity(op) for op in rops}
        if len(ident) > 1:
            errors.append({"error": "one revision answered to two different writes",
                           "revision": r, "ops": [o.brief() for o in rops]})
        lo = min(first_try.get(_write_identity(o), o.invoke) for o in rops)
        items.append((r, lo, min(o.complete for o in rops), r))
    for a, b in realtime_violations(items):
        errors.append({"error": "revision went backwards in real time",
                       "smaller": [o.brief() for o in by_rev[a[3]]],
                       "larger_completed_before": [o.brief() for o in by_rev[b[3]]]})
    return {"valid": not errors, "errors": errors, "writes": len(items)}


def _write_identity(op):
    """Ops that may legitimately share a revision: retries of one
    idempotent call."""
    if op.kind == "seq.next" and op.input.get("idem"):
        return ("seq", op.key, op.input["idem"])
    return ("op", op.id)


# ---------------------------------------------------------------------------

RESTARTING = ("kill", "kill-all", "restart", "kill-loop", "kill-leader", "pause", "pause-leader",
              "partition", "partition-leader", "partition-bridge", "leader-transfer", "membership")


def restart_windows(ops):
    """Intervals [a, b] within which a node (re)started or a new leader
    took over (either restarts TTLs in full): each fault window (from its
    start to the end of its heal: every nemesis can move leadership), each
    restart after a crash the harness noticed, and each change of leader
    the harness's monitor saw ("harness.leader": between its previous poll
    and the one that saw the new leader)."""
    out, open_ = [], {}
    for op in sorted((o for o in ops if is_nemesis(o)), key=lambda o: o.invoke):
        if op.kind == "nemesis.start" and op.key in RESTARTING:
            open_[op.key] = op.invoke
        elif op.kind == "nemesis.end" and op.key in open_:
            out.append((open_.pop(op.key), op.invoke))
        elif op.kind == "harness.crash":
            open_["crash:" + str(op.key)] = op.invoke
        elif op.kind == "harness.restarted" and "crash:" + str(op.key) in open_:
            out.append((open_.pop("crash:" + str(op.key)), op.invoke))
        elif op.kind == "harness.healed":
            out.append((op.invoke, op.invoke))
        elif op.kind == "harness.leader":
            out.append((min(op.input.get("since", op.invoke), op.invoke), op.invoke))
    for a in open_.values():         # a window never closed: until the end
        out.append((a, INF))
    return out


def check_all(ops, budget=2_000_000, shrink_seconds=5.0, early_slack=0.001):
    restarts = restart_windows(ops)
    ops = [op for op in ops if not is_nemesis(op)]
    t = time.monotonic()
    res = {}
    res["register"] = check_registers(ops, budget, shrink_seconds)
    res["lock"] = check_locks(ops, slack=early_slack)
    res["sequence"] = check_sequences(ops)
    res["set"] = check_sets(ops)
    res["ttl"] = check_ttl(ops, restarts, early_slack=early_slack)
    res["revision"] = check_revisions(ops)
    counts = {}
    for op in ops:
        c = counts.setdefault(op.kind, {OK: 0, FAIL: 0, UNKNOWN: 0})
        c[op.outcome] = c.get(op.outcome, 0) + 1
    return {"valid": combine(r["valid"] for r in res.values()),
            "checkers": res, "op_counts": counts,
            "check_seconds": round(time.monotonic() - t, 3)}
