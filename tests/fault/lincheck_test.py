"""Hand-written histories for lincheck.py: each case says what it shows and why.

Run: python3 lincheck_test.py (CTest labels `fault`, `lincheck`).
"""
import io
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lincheck  # noqa: E402
from lincheck import ERR, FAIL, INFO, OK, Op, check  # noqa: E402


def op(f, call, ret, result=None, arg=None, status=OK, key="x", p=0):
    return Op(f, key, arg, result, status, call, ret, p)


def verdict(history, **kw):
    for i, o in enumerate(history):
        o.index = i
    return check(history, **kw).verdict


class ModelTest(unittest.TestCase):
    def test_redis_semantics(self):
        self.assertEqual(lincheck.step(None, op("get", 0, 1, None)), (True, None))
        self.assertEqual(lincheck.step("a", op("get", 0, 1, None)), (False, "a"))
        self.assertEqual(lincheck.step(None, op("set", 0, 1, "OK", "v")), (True, "v"))
        self.assertEqual(lincheck.step("v", op("del", 0, 1, 1)), (True, None))
        self.assertEqual(lincheck.step(None, op("del", 0, 1, 1)), (False, None))
        self.assertEqual(lincheck.step("ab", op("append", 0, 1, 4, "cd")), (True, "abcd"))
        self.assertEqual(lincheck.step(None, op("incr", 0, 1, 1)), (True, "1"))
        self.assertEqual(lincheck.step("41", op("incr", 0, 1, 42)), (True, "42"))
        self.assertEqual(lincheck.step("4a", op("incr", 0, 1, ERR)), (True, "4a"))
        self.assertEqual(lincheck.step("04", op("incr", 0, 1, ERR)), (True, "04"))
        self.assertEqual(lincheck.step(str(2**63 - 1), op("incr", 0, 1, ERR))[0], True)
        # An indeterminate op accepts any result but still changes the state.
        self.assertEqual(lincheck.step("1", op("incr", 0, 1, None, status=INFO)), (True, "2"))


class LinearizableHistories(unittest.TestCase):
    def test_empty_and_sequential(self):
        self.assertEqual(verdict([]), "yes")
        h = [op("get", 0, 1, None), op("set", 2, 3, "OK", "a"), op("get", 4, 5, "a"),
             op("append", 6, 7, 2, "b"), op("get", 8, 9, "ab"), op("incr", 10, 11, ERR),
             op("del", 12, 13, 1), op("incr", 14, 15, 1), op("incr", 16, 17, 2),
             op("get", 18, 19, "2"), op("del", 20, 21, 1), op("del", 22, 23, 0)]
        self.assertEqual(verdict(h), "yes")

    def test_concurrent_overlapping_ops_may_take_effect_in_either_order(self):
        # Two writes overlap; reads after both agree on one order (b last), and a read that
        # overlaps both may see either value.
        h = [op("set", 0, 10, "OK", "a", p=1), op("set", 1, 9, "OK", "b", p=2),
             op("get", 2, 8, "a", p=3), op("get", 11, 12, "b", p=1), op("get", 13, 14, "b", p=2)]
        self.assertEqual(verdict(h), "yes")

    def test_concurrent_appends_observed_in_one_order(self):
        h = [op("append", 0, 10, 2, "a", p=1), op("append", 0, 10, 3, "b", p=2),
             op("append", 0, 10, 1, "c", p=3), op("get", 11, 12, "cab", p=1)]
        self.assertEqual(verdict(h), "yes")
        # The lengths they returned fix the order: "abc" contradicts them.
        h[3].result = "abc"
        self.assertEqual(verdict(h), "no")

    def test_keys_are_independent(self):
        h = [op("set", 0, 1, "OK", "a", key="x"), op("set", 0, 1, "OK", "a", key="y"),
             op("get", 2, 3, "a", key="x"), op("del", 2, 3, 1, key="y"),
             op("get", 4, 5, None, key="y")]
        self.assertEqual(verdict(h), "yes")

    def test_failed_ops_are_ignored(self):
        h = [op("set", 0, 1, None, "lost", status=FAIL), op("get", 2, 3, None)]
        self.assertEqual(verdict(h), "yes")


class ViolationsAreFound(unittest.TestCase):
    def test_stale_read(self):
        # b was written (acknowledged) before the read began, yet the read returns a.
        h = [op("set", 0, 1, "OK", "a"), op("set", 2, 3, "OK", "b"), op("get", 4, 5, "a", p=1)]
        self.assertEqual(verdict(h), "no")

    def test_lost_write(self):
        # An acknowledged append disappears: the final read lacks it.
        h = [op("append", 0, 1, 1, "a", p=1), op("append", 2, 3, 2, "b", p=2),
             op("get", 4, 5, "a", p=1)]
        self.assertEqual(verdict(h), "no")

    def test_read_of_a_never_written_value(self):
        h = [op("set", 0, 1, "OK", "a"), op("get", 2, 3, "zzz", p=1)]
        self.assertEqual(verdict(h), "no")

    def test_wrong_reply_of_a_write(self):
        # DEL reported deleting a key that could not exist; INCR skipped a number.
        self.assertEqual(verdict([op("del", 0, 1, 1)]), "no")
        self.assertEqual(verdict([op("incr", 0, 1, 1), op("incr", 2, 3, 3)]), "no")

    def test_real_time_order_is_respected(self):
        # The reads are sequential and see a, then b, then a again: no single write order fits.
        h = [op("set", 0, 100, "OK", "a", p=1), op("set", 0, 100, "OK", "b", p=2),
             op("get", 10, 11, "a", p=3), op("get", 12, 13, "b", p=3), op("get", 14, 15, "a", p=3)]
        self.assertEqual(verdict(h), "no")


class IndeterminateOps(unittest.TestCase):
    def test_timed_out_write_that_must_have_happened(self):
        # The write timed out, but a later read sees its value: it took effect.
        h = [op("set", 0, 1, "OK", "a"), op("set", 2, None, None, "b", status=INFO, p=1),
             op("get", 10, 11, "b", p=2)]
        self.assertEqual(verdict(h), "yes")

    def test_timed_out_write_that_must_not_have_happened(self):
        # The write timed out and later reads never see it: it was never applied.
        h = [op("set", 0, 1, "OK", "a"), op("set", 2, None, None, "b", status=INFO, p=1),
             op("get", 10, 11, "a", p=2), op("get", 12, 13, "a", p=2)]
        self.assertEqual(verdict(h), "yes")

    def test_timed_out_write_may_take_effect_long_after_its_call(self):
        # Its end is +inf: it can land after ops that began long after it.
        h = [op("set", 0, 1, "OK", "a"), op("append", 2, None, None, "b", status=INFO, p=1),
             op("get", 10, 11, "a", p=2), op("get", 20, 21, "ab", p=2)]
        self.assertEqual(verdict(h), "yes")

    def test_timed_out_write_takes_effect_at_most_once(self):
        # One indeterminate append cannot explain "abb".
        h = [op("set", 0, 1, "OK", "a"), op("append", 2, None, None, "b", status=INFO, p=1),
             op("get", 20, 21, "abb", p=2)]
        self.assertEqual(verdict(h), "no")

    def test_timed_out_write_cannot_take_effect_before_its_call(self):
        h = [op("set", 0, 1, "OK", "a"), op("get", 2, 3, "b", p=2),
             op("set", 4, None, None, "b", status=INFO, p=1)]
        self.assertEqual(verdict(h), "no")

    def test_timed_out_read_constrains_nothing(self):
        h = [op("set", 0, 1, "OK", "a"), op("get", 2, None, "junk", status=INFO)]
        self.assertEqual(verdict(h), "yes")

    def test_indeterminate_incr_changes_later_results(self):
        h = [op("incr", 0, 1, 1), op("incr", 2, None, None, status=INFO, p=1),
             op("incr", 10, 11, 3, p=2)]
        self.assertEqual(verdict(h), "yes")
        h = [op("incr", 0, 1, 1), op("incr", 10, 11, 3, p=2)]
        self.assertEqual(verdict(h), "no")


class BudgetAndReport(unittest.TestCase):
    def hard_history(self, n):
        # n concurrent indeterminate blind writes, then a read of none of them, which forces
        # the search to try every subset before answering "no".
        h = [op("set", 0, 1, "OK", "a")]
        h += [op("set", 2, None, None, f"w{i}", status=INFO, p=i) for i in range(n)]
        h += [op("set", 3 + i, 4 + i, "OK", f"s{i}", p=100) for i in range(n)]
        h.append(op("get", 1000, 1001, "never", p=200))
        return h

    def test_budget_exhausted_answers_unknown(self):
        self.assertEqual(verdict(self.hard_history(16), max_steps=20_000), "unknown")

    def test_time_budget_exhausted_answers_unknown(self):
        self.assertEqual(verdict(self.hard_history(20), max_steps=10**12, max_seconds=0.2),
                         "unknown")

    def test_report_names_the_culprit_and_a_short_window(self):
        h = [op("set", 10 * i, 10 * i + 1, "OK", f"v{i}") for i in range(50)]
        h.append(op("get", 1000, 1001, "v3", p=1))  # stale: v49 was written last
        h += [op("set", 2000 + 10 * i, 2001 + 10 * i, "OK", f"u{i}") for i in range(50)]
        for i, o in enumerate(h):
            o.index = i
        v = check(h)
        self.assertEqual(v.verdict, "no")
        (k,) = v.failures()
        self.assertIs(k.culprit, h[50])
        self.assertEqual(k.prefix_len, 51)  # the 50 sets before it and the read itself
        self.assertIn(h[3], k.window)  # the write of the value it read
        self.assertLessEqual(len(k.window), 14)
        out = io.StringIO()
        v.report(out)
        self.assertIn("culprit", out.getvalue())
        self.assertIn("'v3'", out.getvalue())

    def test_jsonl_round_trip(self):
        import tempfile
        h = [op("set", 0, 1, "OK", "a"), op("set", 2, None, None, "b", status=INFO, p=1)]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "h.jsonl")
            lincheck.save(h, path)
            back = lincheck.load(path)
        self.assertEqual([o.to_json() for o in back], [o.to_json() for o in h])


if __name__ == "__main__":
    unittest.main(verbosity=2)
