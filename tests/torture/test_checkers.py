"""test_checkers.py: unit tests of the torture checkers (checkers.py) on
hand-written histories: each known-good history passes, each known-bad one
(stale read, lost write, CAS on a wrong value, two lock holders, a token
going backwards, a repeated sequence value, a real-time order violation, a
lost set element...) gets the right verdict, and unknown outcomes are
accepted both ways (took effect / did not).

Run: /usr/bin/python3 tests/torture/test_checkers.py
"""

import itertools
import os
import sys
import unittest

sys.dont_write_bytecode = True     # never write __pycache__ into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checkers  # noqa: E402
import history  # noqa: E402
from history import Op, OK, FAIL, UNKNOWN  # noqa: E402

_ids = itertools.count()


def op(kind, key, inp, out, t0, t1, outcome=OK, p=0):
    return Op(next(_ids), p, kind, key, dict(inp), out, outcome, t0, t1)


# register op builders: times are (invoke, complete)
def put(key, v, rev, t0, t1, outcome=OK, p=0):
    return op("kv.put", key, {"value": v}, {"revision": rev} if outcome == OK else None, t0, t1, outcome, p)


def get(key, v, rev, t0, t1, p=0):
    out = {"found": False} if v is None else {"found": True, "value": v, "revision": rev}
    return op("kv.get", key, {}, out, t0, t1, OK, p)


def cas(key, expect_rev, v, ok, rev, t0, t1, outcome=OK, p=0):
    out = {"ok": ok, "revision": rev} if outcome == OK else None
    return op("kv.cas", key, {"value": v, "if_revision": expect_rev}, out, t0, t1, outcome, p)


def cas_v(key, expect, v, ok, rev, t0, t1, outcome=OK, p=0):
    out = {"ok": ok, "revision": rev} if outcome == OK else None
    return op("kv.cas", key, {"value": v, "if_value": expect}, out, t0, t1, outcome, p)


def delete(key, found, rev, t0, t1, outcome=OK, p=0):
    out = ({"found": True, "revision": rev} if found else {"found": False}) if outcome == OK else None
    return op("kv.delete", key, {}, out, t0, t1, outcome, p)


def reg_valid(ops, budget=100_000):
    return checkers.check_registers(ops, budget=budget, shrink_seconds=2.0)["valid"]


class RegisterTests(unittest.TestCase):
    def test_register_sequential_history_is_linearizable(self):
        h = [put("k", "a", 1, 0, 1), get("k", "a", 1, 2, 3), put("k", "b", 2, 4, 5),
             get("k", "b", 2, 6, 7), delete("k", True, 3, 8, 9), get("k", None, 0, 10, 11)]
        self.assertIs(reg_valid(h), True)

    def test_register_concurrent_read_may_see_old_or_new(self):
        h = [put("k", "a", 1, 0, 1), put("k", "b", 2, 2, 6),
             get("k", "a", 1, 3, 4, p=1), get("k", "b", 2, 4.5, 5, p=2)]
        self.assertIs(reg_valid(h), True)

    def test_register_touching_intervals_are_concurrent(self):
        h = [put("k", "a", 1, 0, 1), get("k", "a", 1, 1, 2, p=1)]
        self.assertIs(reg_valid(h), True)

    def test_register_stale_read_is_not_linearizable(self):
        h = [put("k", "a", 1, 0, 1), put("k", "b", 2, 2, 3), get("k", "a", 1, 4, 5)]
        self.assertIs(reg_valid(h), False)

    def test_register_read_going_back_after_new_value_seen(self):
        h = [put("k", "a", 1, 0, 1), put("k", "b", 2, 2, 10, p=1),
             get("k", "b", 2, 3, 4, p=2), get("k", "a", 1, 5, 6, p=3)]
        self.assertIs(reg_valid(h), False)

    def test_register_lost_write_after_crash_is_not_linearizable(self):
        h = [put("k", "a", 1, 0, 1), put("k", "b", 2, 2, 3), get("k", None, 0, 10, 11)]
        self.assertIs(reg_valid(h), False)

    def test_register_wrong_revision_in_read_is_not_linearizable(self):
        h = [put("k", "a", 5, 0, 1), get("k", "a", 4, 2, 3)]
        self.assertIs(reg_valid(h), False)

    def test_register_cas_succeeding_on_wrong_revision_is_not_linearizable(self):
        h = [put("k", "a", 1, 0, 1), put("k", "b", 2, 2, 3), cas("k", 1, "c", True, 3, 4, 5)]
        self.assertIs(reg_valid(h), False)

    def test_register_cas_succeeding_on_wrong_value_is_not_linearizable(self):
        h = [put("k", "a", 1, 0, 1), put("k", "b", 2, 2, 3), cas_v("k", "a", "c", True, 3, 4, 5)]
        self.assertIs(reg_valid(h), False)

    def test_register_cas_refused_although_condition_held_is_not_linearizable(self):
        h = [put("k", "a", 1, 0, 1), cas("k", 1, "c", False, 1, 2, 3)]
        self.assertIs(reg_valid(h), False)

    def test_register_cas_success_and_refusal_are_linearizable(self):
        h = [put("k", "a", 1, 0, 1), cas("k", 1, "b", True, 2, 2, 3),
             cas("k", 1, "c", False, 2, 4, 5), cas("k", 0, "d", False, 2, 6, 7),
             get("k", "b", 2, 8, 9)]
        self.assertIs(reg_valid(h), True)

    def test_register_create_with_if_revision_zero(self):
        h = [cas("k", 0, "a", True, 1, 0, 1), cas("k", 0, "b", False, 1, 2, 3)]
        self.assertIs(reg_valid(h), True)

    def test_register_concurrent_cas_only_one_wins(self):
        h = [put("k", "a", 1, 0, 1), cas("k", 1, "b", True, 2, 2, 5, p=1),
             cas("k", 1, "c", True, 3, 2, 5, p=2)]
        self.assertIs(reg_valid(h), False)

    def test_register_unknown_write_that_took_effect(self):
        h = [put("k", "a", 1, 0, 1), put("k", "x", None, 2, 3, outcome=UNKNOWN),
             get("k", "x", 7, 10, 11), get("k", "x", 7, 12, 13)]
        self.assertIs(reg_valid(h), True)

    def test_register_unknown_write_that_did_not_take_effect(self):
        h = [put("k", "a", 1, 0, 1), put("k", "x", None, 2, 3, outcome=UNKNOWN),
             get("k", "a", 1, 10, 11)]
        self.assertIs(reg_valid(h), True)

    def test_register_unknown_write_may_take_effect_late(self):
        # seen, then the old value, would be a violation; old then new is fine
        h = [put("k", "a", 1, 0, 1), put("k", "x", None, 2, 3, outcome=UNKNOWN),
             get("k", "a", 1, 10, 11), get("k", "x", 9, 20, 21)]
        self.assertIs(reg_valid(h), True)
        h2 = [put("k", "a", 1, 0, 1), put("k", "x", None, 2, 3, outcome=UNKNOWN),
              get("k", "x", 9, 10, 11), get("k", "a", 1, 20, 21)]
        self.assertIs(reg_valid(h2), False)

    def test_register_unknown_cas_both_ways(self):
        took = [put("k", "a", 1, 0, 1), cas("k", 1, "b", None, None, 2, 3, outcome=UNKNOWN),
                get("k", "b", 2, 4, 5)]
        self.assertIs(reg_valid(took), True)
        not_took = [put("k", "a", 1, 0, 1), cas("k", 1, "b", None, None, 2, 3, outcome=UNKNOWN),
                    get("k", "a", 1, 4, 5)]
        self.assertIs(reg_valid(not_took), True)
        impossible = [put("k", "a", 1, 0, 1), put("k", "z", 2, 1.5, 1.8),
                      cas("k", 1, "b", None, None, 2, 3, outcome=UNKNOWN), get("k", "b", 3, 4, 5)]
        self.assertIs(reg_valid(impossible), False)

    def test_register_unknown_revision_cas_after_unknown_write(self):
        h = [put("k", "x", None, 0, 1, outcome=UNKNOWN), get("k", "x", 4, 2, 3),
             cas("k", 4, "y", True, 5, 4, 5), get("k", "y", 5, 6, 7)]
        self.assertIs(reg_valid(h), True)

    def test_register_failed_write_is_ignored_and_must_not_appear(self):
        h = [put("k", "a", 1, 0, 1), put("k", "f", None, 2, 3, outcome=FAIL), get("k", "a", 1, 4, 5)]
        self.assertIs(reg_valid(h), True)
        h2 = [put("k", "a", 1, 0, 1), put("k", "f", None, 2, 3, outcome=FAIL), get("k", "f", 2, 4, 5)]
        self.assertIs(reg_valid(h2), False)

    def test_register_delete_not_found_on_present_key_is_not_linearizable(self):
        h = [put("k", "a", 1, 0, 1), delete("k", False, None, 2, 3)]
        self.assertIs(reg_valid(h), False)

    def test_register_keys_are_checked_independently(self):
        h = [put("k1", "a", 1, 0, 1), put("k2", "b", 2, 0, 1), get("k1", "a", 1, 2, 3),
             get("k2", "a", 1, 2, 3)]
        res = checkers.check_registers(h, budget=10_000)
        self.assertIs(res["valid"], False)
        self.assertEqual([f["key"] for f in res["failures"]], ["k2"])

    def test_register_failure_report_names_key_blocking_op_and_shrinks(self):
        noise = [get("k", "a", 1, 1.1 + i, 1.2 + i, p=5) for i in range(3)]
        bad = get("k", "a", 1, 10, 11, p=2)
        h = [put("k", "a", 1, 0, 1)] + noise + [put("k", "b", 2, 5, 6, p=1), bad]
        res = checkers.check_registers(h, budget=10_000)
        f = res["failures"][0]
        self.assertEqual(f["key"], "k")
        self.assertIn("#%d " % bad.id, f["blocking_op"])
        self.assertIn("b@2", f["state"])
        self.assertLessEqual(len(f["shrunk"]), 3)
        self.assertTrue(any("#%d " % bad.id in s for s in f["shrunk"]))

    def test_register_budget_exhausted_gives_unknown_not_a_hang(self):
        # many concurrent unknown writes with no observation: large search
        h = [put("k", "v%d" % i, None, 0, 1, outcome=UNKNOWN, p=i) for i in range(14)]
        h += [get("k", "zz", 99, 5, 6)]   # never written: forces exhaustive search
        res = checkers.check_registers(h, budget=2_000)
        self.assertEqual(res["valid"], checkers.UNDECIDED)
        self.assertEqual(len(res["undecided"]), 1)

    def test_register_many_unobserved_unknown_writes_are_cheap(self):
        # a paused node: 20 writes time out, one of them is seen afterwards
        h = [put("k", "a", 1, 0, 1)]
        h += [put("k", "u%d" % i, None, 2 + i * 0.01, 2.5, outcome=UNKNOWN, p=i % 4) for i in range(20)]
        h += [get("k", "u7", 40, 5, 6), put("k", "b", 41, 7, 8), get("k", "b", 41, 9, 10)]
        res = checkers.check_registers(h, budget=5_000)
        self.assertIs(res["valid"], True)

    def test_register_lost_write_found_among_unknown_writes(self):
        h = [put("k", "a", 1, 0, 1)]
        h += [put("k", "u%d" % i, None, 2 + i * 0.01, 2.5, outcome=UNKNOWN, p=i % 4) for i in range(8)]
        # an unknown write may land late, but a value once replaced never comes back
        h += [put("k", "b", 41, 7, 8), get("k", "u3", 40, 9, 10), get("k", "b", 41, 11, 12)]
        self.assertIs(reg_valid(h, budget=200_000), False)

    def test_register_revisions_of_a_key_increase_along_its_linearization(self):
        self.assertIs(reg_valid([put("k", "a", 5, 0, 1), put("k", "b", 3, 2, 3)]), False)
        conc = [put("k", "a", 5, 0, 3), put("k", "b", 4, 0, 3, p=1)]
        self.assertIs(reg_valid(conc + [get("k", "a", 5, 4, 5)]), True)
        self.assertIs(reg_valid(conc + [get("k", "b", 4, 4, 5)]), False)

    def test_register_revision_seen_only_in_refusals_is_explained_by_unknown_writes(self):
        # a paused node: many writes time out; afterwards refused CASes report
        # revisions that no known write produced (some unknown writes landed)
        h = [put("k", "a", 1, 0, 1)]
        h += [put("k", "u%d" % i, None, 2 + i * 0.01, 2.5, outcome=UNKNOWN, p=i % 4) for i in range(16)]
        h += [cas("k", 0, "x", False, 30, 5, 6), cas("k", 0, "y", False, 34, 7, 8),
              put("k", "b", 40, 9, 10), get("k", "b", 40, 11, 12)]
        res = checkers.check_registers(h, budget=20_000)
        self.assertIs(res["valid"], True)

    def test_register_many_concurrent_clients_checked_quickly(self):
        ops, rev, t = [], 0, 0.0
        cur = None
        # 6 clients in lock step: each round every client writes, then reads
        for r in range(60):
            vals = []
            for c in range(6):
                rev += 1
                v = "r%dc%d" % (r, c)
                ops.append(put("k", v, rev, t, t + 1, p=c))
                vals.append((v, rev))
            cur = vals[-1]
            for c in range(6):
                ops.append(get("k", cur[0], cur[1], t + 1.5, t + 2, p=c))
            t += 3
        self.assertIs(reg_valid(ops, budget=500_000), True)


# ---------------------------------------------------------------------------

def acq(lock, owner, token, t0, t1, ttl=1000, outcome=OK, granted=True, holder=None, rev=None):
    if outcome != OK:
        out = None
    elif granted:
        out = {"granted": True, "token": token, "ttl_ms": ttl, "revision": rev if rev else token}
    else:
        out = {"granted": False, "holder": holder}
    return op("lock.acquire", lock, {"owner": owner, "ttl_ms": ttl, "wait_ms": 0}, out, t0, t1, outcome)


def rel(lock, owner, t0, t1, outcome=OK, released=True, rev=None):
    out = ({"released": True, "revision": rev} if released else {"released": False, "status": 404}) \
        if outcome == OK else None
    return op("lock.release", lock, {"owner": owner}, out, t0, t1, outcome)


def fence_cas(lock, token, owner, expect_rev, ok, rev, t0, t1):
    return op("kv.cas", "fence/" + lock, {"value": "%d:%s" % (token, owner), "if_revision": expect_rev,
                                          "fence_for": lock, "fence_token": token},
              {"ok": ok, "revision": rev}, t0, t1)


def lock_valid(ops):
    return checkers.check_locks(ops)["valid"]


# RESP register ops (no revisions in RESP answers)
def rget(key, v, t0, t1, p=0):
    out = {"found": False} if v is None else {"found": True, "value": v}
    return op("kv.get", key, {"via": "resp"}, out, t0, t1, OK, p)


def rset(key, v, t0, t1, outcome=OK, p=0):
    return op("kv.put", key, {"value": v, "via": "resp"}, {"revision": None} if outcome == OK else None,
              t0, t1, outcome, p)


def rswap(key, v, old, t0, t1, outcome=OK, p=0):
    out = ({"found": False} if old is None else {"found": True, "old": old}) if outcome == OK else None
    return op("kv.swap", key, {"value": v, "via": "resp"}, out, t0, t1, outcome, p)


def rwcas(key, watched, v, ok, t0, t1, outcome=OK, p=0):
    out = {"ok": ok, "revision": None} if outcome == OK else None
    return op("kv.cas", key, {"value": v, "if_watched": watched, "via": "resp"}, out, t0, t1, outcome, p)


def rdel(key, found, t0, t1, outcome=OK, p=0):
    out = {"found": found, "revision": None} if outcome == OK else None
    return op("kv.delete", key, {"via": "resp"}, out, t0, t1, outcome, p)


class RespRegisterTests(unittest.TestCase):
    def test_resp_and_rest_ops_on_one_key_are_linearizable(self):
        h = [put("k", "a", 1, 0, 1), rget("k", "a", 2, 3, p=1), rset("k", "b", 4, 5, p=1),
             get("k", "b", 7, 6, 7), rswap("k", "c", "b", 8, 9, p=1), get("k", "c", 9, 10, 11),
             rwcas("k", "c", "d", True, 12, 13, p=1), rget("k", "d", 14, 15),
             rdel("k", True, 16, 17, p=1), get("k", None, 0, 18, 19)]
        self.assertIs(reg_valid(h), True)

    def test_resp_stale_read_is_not_linearizable(self):
        h = [rset("k", "a", 0, 1), put("k", "b", 2, 2, 3), rget("k", "a", 4, 5, p=1)]
        self.assertIs(reg_valid(h), False)

    def test_resp_lost_write_is_not_linearizable(self):
        h = [put("k", "a", 1, 0, 1), rset("k", "b", 2, 3, p=1), get("k", "a", 1, 4, 5)]
        self.assertIs(reg_valid(h), False)

    def test_resp_swap_reporting_a_wrong_old_value_is_not_linearizable(self):
        h = [put("k", "a", 1, 0, 1), put("k", "b", 2, 2, 3), rswap("k", "c", "a", 4, 5, p=1)]
        self.assertIs(reg_valid(h), False)
        h = [rswap("k", "c", "a", 0, 1)]          # the key was absent
        self.assertIs(reg_valid(h), False)

    def test_resp_two_swaps_cannot_both_see_the_same_old_value(self):
        h = [put("k", "a", 1, 0, 1), rswap("k", "x", "a", 2, 5, p=1), rswap("k", "y", "a", 2, 5, p=2)]
        self.assertIs(reg_valid(h), False)

    def test_resp_watch_cas_applied_on_a_changed_value_is_not_linearizable(self):
        h = [put("k", "a", 1, 0, 1), put("k", "b", 2, 2, 3), rwcas("k", "a", "c", True, 4, 5, p=1)]
        self.assertIs(reg_valid(h), False)

    def test_resp_watch_cas_refused_says_nothing(self):
        # refused although the value was the one watched: the key may have
        # been rewritten with the same value since the WATCH
        h = [put("k", "a", 1, 0, 1), rwcas("k", "a", "c", False, 2, 3, p=1), get("k", "a", 1, 4, 5)]
        self.assertIs(reg_valid(h), True)

    def test_resp_watch_cas_on_absent_key(self):
        h = [rwcas("k", None, "a", True, 0, 1), get("k", "a", 5, 2, 3)]
        self.assertIs(reg_valid(h), True)
        h = [put("k", "x", 1, 0, 1), rwcas("k", None, "a", True, 2, 3, p=1)]
        self.assertIs(reg_valid(h), False)

    def test_resp_unknown_watch_cas_both_ways(self):
        base = [put("k", "a", 1, 0, 1), rwcas("k", "a", "c", None, 2, 3, outcome=UNKNOWN, p=1)]
        self.assertIs(reg_valid(base + [get("k", "c", 2, 4, 5)]), True)
        self.assertIs(reg_valid(base + [get("k", "a", 1, 4, 5)]), True)

    def test_resp_unknown_swap_may_apply_late(self):
        h = [put("k", "a", 1, 0, 1), rswap("k", "s", None, 2, 3, outcome=UNKNOWN, p=1),
             get("k", "a", 1, 4, 5), get("k", "s", 9, 6, 7)]
        self.assertIs(reg_valid(h), True)

    def test_resp_delete_of_absent_key_reporting_found_is_not_linearizable(self):
        h = [rdel("k", True, 0, 1)]
        self.assertIs(reg_valid(h), False)


class LockTests(unittest.TestCase):
    def test_lock_release_then_grant_to_another_is_safe(self):
        h = [acq("L", "a", 5, 0.0, 0.01), rel("L", "a", 0.1, 0.11, rev=6),
             acq("L", "b", 7, 0.12, 0.13), rel("L", "b", 0.2, 0.21, rev=8)]
        self.assertIs(lock_valid(h), True)

    def test_lock_two_holders_is_detected(self):
        h = [acq("L", "a", 5, 0.0, 0.01, ttl=1000), acq("L", "b", 7, 0.2, 0.21)]
        res = checkers.check_locks(h)
        self.assertIs(res["valid"], False)
        self.assertIn("two holders", res["locks"][0]["errors"][0]["error"])

    def test_lock_grant_after_ttl_expiry_is_safe(self):
        h = [acq("L", "a", 5, 0.0, 0.01, ttl=100), acq("L", "b", 7, 0.3, 0.31)]
        self.assertIs(lock_valid(h), True)

    def test_lock_expiry_counts_from_the_last_reacquire(self):
        h = [acq("L", "a", 5, 0.0, 0.01, ttl=100), acq("L", "a", 5, 0.08, 0.09, ttl=100),
             acq("L", "b", 7, 0.15, 0.16)]
        self.assertIs(lock_valid(h), False)

    def test_lock_grant_before_ttl_could_pass_is_detected(self):
        h = [acq("L", "a", 5, 0.0, 0.01, ttl=100), acq("L", "b", 7, 0.05, 0.09)]
        self.assertIs(lock_valid(h), False)

    def test_lock_unknown_release_may_have_ended_the_grant(self):
        h = [acq("L", "a", 5, 0.0, 0.01), rel("L", "a", 0.1, 0.5, outcome=UNKNOWN),
             acq("L", "b", 7, 0.2, 0.21)]
        self.assertIs(lock_valid(h), True)

    def test_lock_failed_release_did_not_end_the_grant(self):
        h = [acq("L", "a", 5, 0.0, 0.01), rel("L", "a", 0.1, 0.11, outcome=FAIL),
             acq("L", "b", 7, 0.2, 0.21)]
        self.assertIs(lock_valid(h), False)

    def test_lock_unknown_acquire_is_no_grant_we_know_of(self):
        h = [acq("L", "a", None, 0.0, 0.01, outcome=UNKNOWN), acq("L", "b", 7, 0.2, 0.21)]
        self.assertIs(lock_valid(h), True)

    def test_lock_token_going_backwards_is_detected(self):
        h = [acq("L", "a", 9, 0.0, 0.01), rel("L", "a", 0.1, 0.11, rev=10),
             acq("L", "b", 7, 0.2, 0.21)]
        res = checkers.check_locks(h)
        self.assertIs(res["valid"], False)
        self.assertTrue(any("backwards" in e["error"] for e in res["locks"][0]["errors"]))

    def test_lock_token_granted_to_two_owners_is_detected(self):
        h = [acq("L", "a", 9, 0.0, 0.01, ttl=10), acq("L", "b", 9, 0.2, 0.21)]
        self.assertIs(lock_valid(h), False)

    def test_lock_held_answer_naming_a_stranger_is_detected(self):
        h = [acq("L", "a", 9, 0.0, 0.01), acq("L", "b", None, 0.1, 0.11, granted=False, holder="zed")]
        self.assertIs(lock_valid(h), False)
        h2 = [acq("L", "a", 9, 0.0, 0.01), acq("L", "b", None, 0.1, 0.11, granted=False, holder="a")]
        self.assertIs(lock_valid(h2), True)

    def test_lock_fenced_resource_accepting_older_token_is_detected(self):
        h = [acq("L", "a", 5, 0.0, 0.01, ttl=50), acq("L", "b", 7, 0.2, 0.21),
             fence_cas("L", 7, "b", 0, True, 8, 0.3, 0.31),
             fence_cas("L", 5, "a", 8, True, 9, 0.4, 0.41)]
        res = checkers.check_locks(h)
        self.assertIs(res["valid"], False)
        self.assertTrue(any("older token" in e["error"] for e in res["locks"][0]["errors"]))

    def test_lock_fenced_resource_in_token_order_is_fine(self):
        h = [acq("L", "a", 5, 0.0, 0.01, ttl=50), acq("L", "b", 7, 0.2, 0.21),
             fence_cas("L", 5, "a", 0, True, 6, 0.02, 0.03),
             fence_cas("L", 7, "b", 6, True, 8, 0.3, 0.31)]
        self.assertIs(lock_valid(h), True)


# ---------------------------------------------------------------------------

def nxt(name, v, t0, t1, count=1, idem=None, outcome=OK):
    out = {"value": v, "last": v + count - 1, "revision": None} if outcome == OK else None
    inp = {"count": count}
    if idem:
        inp["idem"] = idem
    return op("seq.next", name, inp, out, t0, t1, outcome)


def seq_read(name, v, t0, t1):
    return op("seq.read", name, {}, {"found": True, "value": v}, t0, t1)


def seq_valid(ops):
    return checkers.check_sequences(ops)["valid"]


class SequenceTests(unittest.TestCase):
    def test_sequence_unique_increasing_values_pass(self):
        h = [nxt("s", 1, 0, 1), nxt("s", 2, 0.5, 1.5), nxt("s", 3, 2, 3, count=3), nxt("s", 6, 4, 5),
             seq_read("s", 6, 6, 7)]
        self.assertIs(seq_valid(h), True)

    def test_sequence_concurrent_calls_may_get_any_order(self):
        h = [nxt("s", 2, 0, 1), nxt("s", 1, 0.5, 1.5), seq_read("s", 2, 6, 7)]
        self.assertIs(seq_valid(h), True)

    def test_sequence_repeated_value_is_detected(self):
        h = [nxt("s", 1, 0, 1), nxt("s", 2, 2, 3), nxt("s", 2, 4, 5)]
        res = checkers.check_sequences(h)
        self.assertIs(res["valid"], False)
        self.assertIn("twice", res["sequences"][0]["errors"][0]["error"])

    def test_sequence_overlapping_ranges_are_detected(self):
        h = [nxt("s", 1, 0, 1, count=3), nxt("s", 3, 2, 3)]
        self.assertIs(seq_valid(h), False)

    def test_sequence_real_time_order_violation_is_detected(self):
        h = [nxt("s", 5, 0, 1), nxt("s", 3, 2, 3)]
        res = checkers.check_sequences(h)
        self.assertIs(res["valid"], False)
        self.assertIn("real-time", res["sequences"][0]["errors"][0]["error"])

    def test_sequence_idempotent_retry_with_same_answer_is_one_call(self):
        h = [nxt("s", 1, 0, 1, idem="x", outcome=UNKNOWN), nxt("s", 1, 2, 3, idem="x"),
             nxt("s", 2, 4, 5, idem="y"), seq_read("s", 2, 6, 7)]
        self.assertIs(seq_valid(h), True)

    def test_sequence_idempotent_retry_with_other_answer_is_detected(self):
        h = [nxt("s", 1, 0, 1, idem="x"), nxt("s", 2, 2, 3, idem="x")]
        self.assertIs(seq_valid(h), False)

    def test_sequence_gap_explained_by_unknown_call_both_ways(self):
        took = [nxt("s", 1, 0, 1), nxt("s", None, 2, 3, outcome=UNKNOWN), nxt("s", 3, 4, 5),
                seq_read("s", 3, 6, 7)]
        self.assertIs(seq_valid(took), True)
        not_took = [nxt("s", 1, 0, 1), nxt("s", None, 2, 3, outcome=UNKNOWN), nxt("s", 2, 4, 5),
                    seq_read("s", 2, 6, 7)]
        self.assertIs(seq_valid(not_took), True)

    def test_sequence_unexplained_gap_is_detected(self):
        h = [nxt("s", 1, 0, 1), nxt("s", 3, 4, 5), seq_read("s", 3, 6, 7)]
        self.assertIs(seq_valid(h), False)

    def test_sequence_final_value_below_handed_out_is_detected(self):
        h = [nxt("s", 1, 0, 1), nxt("s", 2, 2, 3), seq_read("s", 1, 6, 7)]
        self.assertIs(seq_valid(h), False)


# ---------------------------------------------------------------------------

def add(s, e, t0, t1, outcome=OK):
    return op("set.add", s, {"element": e}, {"revision": None} if outcome == OK else None, t0, t1, outcome)


def sread(s, elems, t0, t1):
    return op("set.read", s, {}, {"elements": sorted(elems)}, t0, t1)


class SetTests(unittest.TestCase):
    def test_set_all_acknowledged_present_passes(self):
        h = [add("S", "a", 0, 1), add("S", "b", 0, 1), sread("S", ["a", "b"], 2, 3)]
        self.assertIs(checkers.check_sets(h)["valid"], True)

    def test_set_lost_element_is_detected(self):
        h = [add("S", "a", 0, 1), add("S", "b", 0, 1), sread("S", ["a"], 2, 3)]
        res = checkers.check_sets(h)
        self.assertIs(res["valid"], False)
        self.assertEqual(res["sets"][0]["errors"][0]["elements"][0]["element"], "b")

    def test_set_unexpected_element_is_detected(self):
        h = [add("S", "a", 0, 1), sread("S", ["a", "zz"], 2, 3)]
        self.assertIs(checkers.check_sets(h)["valid"], False)

    def test_set_unknown_add_may_be_present_or_absent(self):
        h = [add("S", "a", 0, 1), add("S", "u", 0, 1, outcome=UNKNOWN), sread("S", ["a"], 2, 3)]
        self.assertIs(checkers.check_sets(h)["valid"], True)
        h2 = [add("S", "a", 0, 1), add("S", "u", 0, 1, outcome=UNKNOWN), sread("S", ["a", "u"], 2, 3)]
        self.assertIs(checkers.check_sets(h2)["valid"], True)

    def test_set_failed_add_present_is_detected(self):
        h = [add("S", "a", 0, 1), add("S", "f", 0, 1, outcome=FAIL), sread("S", ["a", "f"], 2, 3)]
        self.assertIs(checkers.check_sets(h)["valid"], False)

    def test_set_element_disappearing_is_detected(self):
        h = [add("S", "u", 0, 1, outcome=UNKNOWN), sread("S", ["u"], 2, 3), sread("S", [], 4, 5)]
        self.assertIs(checkers.check_sets(h)["valid"], False)

    def test_set_add_concurrent_with_read_may_be_missing(self):
        h = [add("S", "a", 0, 3), sread("S", [], 2, 4), sread("S", ["a"], 5, 6)]
        self.assertIs(checkers.check_sets(h)["valid"], True)


# ---------------------------------------------------------------------------

class RevisionTests(unittest.TestCase):
    def test_revision_increasing_passes(self):
        h = [put("a", "1", 1, 0, 1), put("b", "2", 2, 2, 3), put("a", "3", 3, 2.5, 4)]
        self.assertIs(checkers.check_revisions(h)["valid"], True)

    def test_revision_reused_is_detected(self):
        h = [put("a", "1", 1, 0, 1), put("b", "2", 1, 2, 3)]
        self.assertIs(checkers.check_revisions(h)["valid"], False)

    def test_revision_going_backwards_is_detected(self):
        h = [put("a", "1", 5, 0, 1), put("b", "2", 3, 2, 3)]
        self.assertIs(checkers.check_revisions(h)["valid"], False)

    def test_revision_of_idempotent_retry_counts_from_first_attempt(self):
        h = [nxt("s", 1, 0, 1, idem="x", outcome=UNKNOWN), put("a", "1", 5, 1.5, 2),
             op("seq.next", "s", {"count": 1, "idem": "x"}, {"value": 1, "last": 1, "revision": 3}, 3, 4)]
        self.assertIs(checkers.check_revisions(h)["valid"], True)


def tput(key, ttl, t0, t1, outcome=OK):
    return op("ttl.put", key, {"value": "v-" + key, "ttl_ms": ttl},
              {"revision": None} if outcome == OK else None, t0, t1, outcome)


def tget(key, found, t0, t1):
    out = {"found": True, "value": "v-" + key, "revision": 1} if found else {"found": False}
    return op("ttl.get", key, {}, out, t0, t1)


class TtlTests(unittest.TestCase):
    def test_ttl_key_present_then_absent_passes(self):
        h = [tput("a", 100, 0, 0.01), tget("a", True, 0.02, 0.03), tget("a", True, 0.09, 0.095),
             tget("a", False, 0.115, 0.12)]
        self.assertIs(checkers.check_ttl(h)["valid"], True)

    def test_ttl_key_absent_before_ttl_is_detected(self):
        h = [tput("a", 100, 0, 0.01), tget("a", False, 0.05, 0.06)]
        self.assertIs(checkers.check_ttl(h)["valid"], False)

    def test_ttl_key_absent_within_a_millisecond_of_ttl_is_tolerated_unless_strict(self):
        h = [tput("a", 100, 0, 0.01), tget("a", False, 0.0995, 0.0997)]
        self.assertIs(checkers.check_ttl(h)["valid"], True)
        self.assertEqual(checkers.check_ttl(h)["early_within_slack"], 1)
        self.assertIs(checkers.check_ttl(h, early_slack=0)["valid"], False)

    def test_ttl_key_present_after_ttl_is_detected(self):
        h = [tput("a", 100, 0, 0.01), tget("a", True, 0.2, 0.21)]
        self.assertIs(checkers.check_ttl(h)["valid"], False)

    def test_ttl_restart_rearms_in_full(self):
        h = [tput("a", 100, 0, 0.01), tget("a", True, 0.2, 0.21)]
        self.assertIs(checkers.check_ttl(h, restarts=[(0.12, 0.15)])["valid"], True)
        self.assertIs(checkers.check_ttl(h, restarts=[(0.01, 0.05)])["valid"], False)
        # a read inside a restart window: the TTL may have been re-armed just before it
        self.assertIs(checkers.check_ttl(h, restarts=[(0.1, 0.5)])["valid"], True)

    def test_ttl_unknown_put_is_not_checked(self):
        h = [tput("a", 100, 0, 0.01, outcome=UNKNOWN), tget("a", True, 0.5, 0.51)]
        self.assertIs(checkers.check_ttl(h)["valid"], True)


class HistoryTests(unittest.TestCase):
    def test_restart_windows_come_from_fault_and_crash_events(self):
        ev = [Op(1, "nemesis", "nemesis.start", "kill", {}, None, OK, 1.0, 1.0),
              Op(2, "nemesis", "nemesis.end", "kill", {}, None, OK, 2.0, 2.0),
              Op(3, "nemesis", "nemesis.start", "pause", {}, None, OK, 3.0, 3.0),
              Op(4, "nemesis", "nemesis.end", "pause", {}, None, OK, 4.0, 4.0),
              Op(5, "nemesis", "harness.crash", "n1", {}, None, OK, 5.0, 5.0),
              Op(6, "nemesis", "harness.restarted", "n1", {}, None, OK, 5.5, 5.5)]
        # every nemesis window counts (a pause or a partition can move
        # leadership, and a new leader restarts TTLs in full)
        self.assertEqual(checkers.restart_windows(ev), [(1.0, 2.0), (3.0, 4.0), (5.0, 5.5)])

    def test_restart_windows_include_leader_changes_seen_by_the_monitor(self):
        ev = [Op(1, "nemesis", "harness.leader", "n2", {"term": 3, "since": 6.9}, None, OK, 7.0, 7.0)]
        self.assertEqual(checkers.restart_windows(ev), [(6.9, 7.0)])

    def test_history_jsonl_round_trip(self):
        import tempfile
        h = [put("k", "a", 1, 0, 1), put("k", "x", None, 2, 3, outcome=UNKNOWN)]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "h.jsonl")
            history.dump(h, path)
            back = history.load(path)
            gz = history.compress(path)
            back_gz = history.load(gz)
        self.assertEqual([o.to_dict() for o in back], [o.to_dict() for o in h])
        self.assertEqual([o.to_dict() for o in back_gz], [o.to_dict() for o in h])
        self.assertEqual(back[1].ret(), float("inf"))

    def test_check_all_combines_verdicts(self):
        good = [put("k", "a", 1, 0, 1), get("k", "a", 1, 2, 3)]
        self.assertIs(checkers.check_all(good, shrink_seconds=1)["valid"], True)
        bad = good + [get("k", None, 0, 4, 5)]
        self.assertIs(checkers.check_all(bad, shrink_seconds=1)["valid"], False)


if __name__ == "__main__":
    unittest.main(verbosity=1)
