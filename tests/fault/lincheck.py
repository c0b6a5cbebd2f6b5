"""Linearizability checker for histories of a Redis-like key-value store (stdlib only).

A history is a list of Op: one client operation on one key, with its invocation and completion
times (any monotonic clock), what it asked and what it got. Each Op has a status:
  ok    it completed and its result is known;
  fail  it definitely did not take effect (e.g. MOVED or CLUSTERDOWN before proposing): dropped;
  info  indeterminate (timeout, connection lost, TRYAGAIN after proposing): it may or may not
        have taken effect, at any time after its invocation. Its completion time is +infinity,
        its result is unknown, and the search may leave it out. A read that is info has no
        effect and constrains nothing, so it is dropped too.

Algorithm: Wing & Gong's search as improved by Lowe ("Testing for linearizability", 2017) and
used by Porcupine: walk the time-ordered list of call/return entries, linearize a pending call
when the model accepts its result, backtrack when a return is reached whose call was not
linearized. The cache of (set of linearized ops as a bitset, model state) prunes every
configuration already explored. Linearizability is local (Herlihy & Wing §3.3), so each key is
checked on its own.

The model is Redis's semantics on string values: GET, SET (reply OK), DEL (reply 0/1), APPEND
(reply: the new length), INCR (reply: the new value, or an error when the value is not a
decimal int64 or would overflow).

A search budget (steps and seconds, shared by all keys) makes the answer "unknown" instead of
an unbounded search.

When a key's history is not linearizable, `explain` finds the shortest prefix of it that is
not: cut(T) keeps the ops invoked at or before T, and turns those still running at T into info
ops. If a history is linearizable so is every cut (restrict a linearization to the cut), so the
smallest failing cut is found by binary search over completion times; the op whose completion
closes it is the culprit.

Command line: lincheck.py HISTORY.jsonl [--max-steps N] [--max-seconds S]
(one JSON object per line with the fields of Op; prints linearizable: yes|no|unknown).
"""
import json
import math
import sys
import time

GET, SET, DEL, APPEND, INCR = "get", "set", "del", "append", "incr"
FUNCS = (GET, SET, DEL, APPEND, INCR)
OK, FAIL, INFO = "ok", "fail", "info"
# The result of an INCR on a value that is not an int64 (or that would overflow).
ERR = "ERR"

INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)


class Op:
    """One operation. `arg`: the value for set/append. `result`: get → str or None; set → "OK";
    del → 0/1; append → new length; incr → new value or ERR. `call`/`ret` are times; ret is
    ignored (taken as +inf) for info ops."""

    __slots__ = ("f", "key", "arg", "result", "status", "call", "ret", "process", "index")

    def __init__(self, f, key, arg=None, result=None, status=OK, call=0.0, ret=0.0, process=0,
                 index=0):
        if f not in FUNCS:
            raise ValueError(f"unknown op {f!r}")
        if status not in (OK, FAIL, INFO):
            raise ValueError(f"unknown status {status!r}")
        self.f, self.key, self.arg, self.result = f, key, arg, result
        self.status, self.call, self.ret = status, call, ret
        self.process, self.index = process, index

    def to_json(self):
        return {s: getattr(self, s) for s in self.__slots__}

    @staticmethod
    def from_json(d):
        return Op(**{k: v for k, v in d.items() if k in Op.__slots__})

    def __repr__(self):
        end = "inf" if self.status == INFO else f"{self.ret:.6f}"
        arg = "" if self.arg is None else f" {self.arg!r}"
        res = "?" if self.status == INFO else repr(self.result)
        return (f"#{self.index} p{self.process} [{self.call:.6f}, {end}] {self.status:<4} "
                f"{self.f} {self.key}{arg} -> {res}")


def parse_int64(s):
    """Redis string2ll: strict decimal int64, or None."""
    if s is None or not s or len(s) > 20:
        return None
    if s == "0":
        return 0
    digits = s[1:] if s[0] == "-" else s
    if not digits or not ("1" <= digits[0] <= "9") or not digits.isdigit() or not digits.isascii():
        return None
    n = int(s)
    return n if INT64_MIN <= n <= INT64_MAX else None


def step(state, op):
    """Applies `op` to the key's value `state` (str or None). Returns (accepted, new_state);
    accepted is False when op's recorded result is impossible from `state`. Info ops accept
    any result."""
    f, known = op.f, op.status == OK
    if f == GET:
        return (not known or op.result == state), state
    if f == SET:
        return (not known or op.result == "OK"), op.arg
    if f == DEL:
        return (not known or op.result == (0 if state is None else 1)), None
    if f == APPEND:
        new = (state or "") + op.arg
        return (not known or op.result == len(new.encode())), new
    # INCR
    cur = 0 if state is None else parse_int64(state)
    if cur is None or cur + 1 > INT64_MAX:
        return (not known or op.result == ERR), state
    return (not known or op.result == cur + 1), str(cur + 1)


class BudgetExceeded(Exception):
    pass


class Budget:
    """Search steps and wall seconds allowed to one check (shared by every key)."""

    def __init__(self, max_steps=5_000_000, max_seconds=60.0):
        self.max_steps = max_steps
        self.deadline = time.monotonic() + max_seconds
        self.steps = 0

    def spend(self, n=1):
        self.steps += n
        if self.steps > self.max_steps:
            raise BudgetExceeded(f"more than {self.max_steps} search steps")
        if self.steps & 1023 == 0 and time.monotonic() > self.deadline:
            raise BudgetExceeded("search time budget exhausted")


def _prepare(ops):
    """Drops what constrains nothing: fail ops and info reads."""
    return [o for o in ops if o.status != FAIL and not (o.status == INFO and o.f == GET)]


def check_key(ops, budget, init=None):
    """True when the ops (all on one key, already prepared) are linearizable from value `init`;
    False when not. Raises BudgetExceeded."""
    n = len(ops)
    if n == 0:
        return True
    # Entries: (time, kind, op) with kind 0 = call, 1 = return; a call sorts before a return at
    # the same time (they overlap: never a false "no"). Info ops return at +inf.
    entries = []
    for i, o in enumerate(ops):
        entries.append((o.call, 0, i))
        entries.append((math.inf if o.status == INFO else o.ret, 1, i))
    entries.sort()
    # Doubly linked list over entry positions 1..2n; 0 is the head sentinel.
    m = len(entries)
    nxt = list(range(1, m + 2))
    prv = list(range(-1, m))
    nxt[m] = -1
    ret_pos = [0] * n
    for pos, (_, kind, i) in enumerate(entries, start=1):
        if kind == 1:
            ret_pos[i] = pos
    kind_at = [0] + [e[1] for e in entries]
    op_at = [0] + [e[2] for e in entries]

    def lift(p):  # removes call entry p and its return from the list
        for q in (p, ret_pos[op_at[p]]):
            nxt[prv[q]] = nxt[q]
            if nxt[q] != -1:
                prv[nxt[q]] = prv[q]

    def unlift(p):
        for q in (ret_pos[op_at[p]], p):
            nxt[prv[q]] = q
            if nxt[q] != -1:
                prv[nxt[q]] = q

    cache = set()
    stack = []  # (call entry position, state before it)
    linearized = 0
    state = init
    p = nxt[0]
    while p != -1:
        budget.spend()
        i = op_at[p]
        if kind_at[p] == 0:
            accepted, new_state = step(state, ops[i])
            if accepted:
                new_lin = linearized | (1 << i)
                key = (new_lin, new_state)
                if key not in cache:
                    cache.add(key)
                    stack.append((p, state))
                    state, linearized = new_state, new_lin
                    lift(p)
                    p = nxt[0]
                    continue
            p = nxt[p]
        else:
            if ops[i].status == INFO:
                # Every ok op returns before any info op: all of them are linearized, and the
                # info ops left over are the ones that never took effect.
                return True
            if not stack:
                return False
            p, state = stack.pop()
            linearized &= ~(1 << op_at[p])
            unlift(p)
            p = nxt[p]
    return True


def by_key(history):
    keys = {}
    for o in history:
        keys.setdefault(o.key, []).append(o)
    return keys


def cut(ops, t):
    """The ops invoked at or before t; those not completed by t become indeterminate."""
    out = []
    for o in ops:
        if o.call > t:
            continue
        if o.status == OK and o.ret > t:
            o = Op(o.f, o.key, o.arg, None, INFO, o.call, math.inf, o.process, o.index)
        out.append(o)
    return _prepare(out)


class KeyVerdict:
    def __init__(self, key, verdict, n_ops, reason="", culprit=None, window=(), prefix_len=0):
        self.key, self.verdict, self.n_ops, self.reason = key, verdict, n_ops, reason
        self.culprit, self.window, self.prefix_len = culprit, list(window), prefix_len


def explain(key, ops, budget, window=12):
    """For a non-linearizable key: the smallest failing cut, its culprit and its last ops."""
    ops = [o for o in ops if o.status != FAIL]
    times = sorted({o.ret for o in ops if o.status == OK})
    lo, hi = 0, len(times) - 1  # invariant: cut(times[hi]) is not linearizable
    while lo < hi:
        mid = (lo + hi) // 2
        if check_key(cut(ops, times[mid]), budget):
            lo = mid + 1
        else:
            hi = mid
    t = times[hi]
    prefix = sorted(cut(ops, t), key=lambda o: o.call)
    culprit = next(o for o in ops if o.status == OK and o.ret == t)
    # The window: the last ops invoked before the culprit completed, every op concurrent with
    # it, and the writes of the value it read (if any) wherever they are.
    shown = prefix[-window:]
    for o in prefix:
        wrote_it = (culprit.f == GET and culprit.result is not None and o.arg is not None
                    and o.arg in culprit.result)
        if wrote_it and o not in shown:
            shown.insert(0, o)
    if culprit not in shown:
        shown.append(culprit)
    return KeyVerdict(key, "no", len(ops), "no linearization", culprit, shown, len(prefix))


class Verdict:
    def __init__(self, verdict, keys, n_ops, steps, seconds):
        self.verdict, self.keys, self.n_ops = verdict, keys, n_ops
        self.steps, self.seconds = steps, seconds

    def failures(self):
        return [k for k in self.keys if k.verdict == "no"]

    def report(self, out=sys.stdout):
        for k in self.keys:
            if k.verdict == "unknown":
                print(f"key {k.key!r}: unknown ({k.reason}) over {k.n_ops} ops", file=out)
        for k in self.failures():
            print(f"key {k.key!r}: NOT linearizable: the shortest failing prefix has "
                  f"{k.prefix_len} of its {k.n_ops} ops; it fails when this op completes:\n"
                  f"  {k.culprit!r}\n  last ops of that prefix (and writes of what it read):",
                  file=out)
            for o in k.window:
                mark = " <-- culprit" if o is k.culprit else ""
                print(f"    {o!r}{mark}", file=out)


def check(history, max_steps=5_000_000, max_seconds=60.0, window=12):
    """Checks a whole history (Ops over any keys). Returns a Verdict: "yes", "no" (any key not
    linearizable) or "unknown" (budget exhausted before a "no" was found)."""
    start = time.monotonic()
    budget = Budget(max_steps, max_seconds)
    keys = []
    for key, ops in sorted(by_key(history).items(), key=lambda kv: str(kv[0])):
        prepared = _prepare(ops)
        try:
            if check_key(prepared, budget):
                keys.append(KeyVerdict(key, "yes", len(prepared)))
            else:
                try:
                    keys.append(explain(key, ops, budget, window))
                except BudgetExceeded:
                    keys.append(KeyVerdict(key, "no", len(prepared), "no linearization "
                                           "(budget exhausted while shortening it)"))
        except BudgetExceeded as e:
            keys.append(KeyVerdict(key, "unknown", len(prepared), str(e)))
    verdicts = {k.verdict for k in keys}
    v = "no" if "no" in verdicts else "unknown" if "unknown" in verdicts else "yes"
    return Verdict(v, keys, len(history), budget.steps, time.monotonic() - start)


def load(path):
    with open(path) as f:
        return [Op.from_json(json.loads(line)) for line in f if line.strip()]


def save(history, path):
    with open(path, "w") as f:
        for o in history:
            f.write(json.dumps(o.to_json()) + "\n")


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("history")
    ap.add_argument("--max-steps", type=int, default=50_000_000)
    ap.add_argument("--max-seconds", type=float, default=600.0)
    a = ap.parse_args(argv)
    h = load(a.history)
    v = check(h, a.max_steps, a.max_seconds)
    v.report()
    print(f"linearizable: {v.verdict} ({v.n_ops} ops, {len(v.keys)} keys, {v.steps} search "
          f"steps, {v.seconds:.2f} s)")
    return {"yes": 0, "no": 1}.get(v.verdict, 2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
