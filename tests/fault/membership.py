"""Membership faults for the nemesis (issue 12), through RAFTKV.MEMBER on a running cluster.

  remove: RAFTKV.MEMBER REMOVE a node (the leader at times: it hands over leadership first),
          end its process and wipe its disk; the heal adds it back under the same id with an
          empty data dir (a new incarnation) by starting it with --join. The cluster promotes
          it once it has caught up. (While a failed replace has left more members than the
          initial count, a remove is not undone.)
  replace: kill -9 a node (a dead machine), RAFTKV.MEMBER REPLACE old new (a new id, in a free
          slot), and once the new node is listed as a learner start it with --join: its
          catch-up, then one joint change promotes it and removes the old one.

The harness's view of the membership (Cluster.members) follows the cluster's: after a change
that was refused or whose outcome is unknown (TRYAGAIN, a timeout), reconcile() reads
RAFTKV.MEMBER LIST from the leader and retires the processes of nodes that are not members, and
starts members that are not running. Every wait is bounded.
"""
import threading
import time

import redis

CHANGE_TIMEOUT = 20.0  # one membership change: its commit, and a new node's catch-up


def admin(cluster, *args, timeout=CHANGE_TIMEOUT, resend=False):
    """Sends RAFTKV.MEMBER/TRANSFER to a running member, following MOVED, moving on from nodes
    that do not answer or know no leader. With `resend` (a command that may be re-sent until it
    completes, as REPLACE), TRYAGAIN is retried too. Returns the reply, or the last error text
    (str)."""
    slots = {cluster.addr(i): i for i in cluster.slot}
    candidates = [i for i in cluster.ids() if cluster.alive(i) and i not in cluster.paused]
    if not candidates:
        return "no running member"
    node, last = candidates[0], "no answer"
    deadline = time.monotonic() + timeout
    tries = 0
    while time.monotonic() < deadline:
        tries += 1
        left = max(0.5, deadline - time.monotonic())
        try:
            return cluster.client(node, left).execute_command(*args)
        except redis.ResponseError as e:
            last = str(e)
            if last.startswith("MOVED"):
                node = slots.get(last.split()[-1], node)
                continue
            if not last.startswith("CLUSTERDOWN") and not (resend and
                                                           last.startswith("TRYAGAIN")):
                return last  # the change's own outcome: ERR ..., TRYAGAIN ...
        except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
            last = f"{type(e).__name__}: {e}"
        # No leader known, or the node is gone: the next running member, after a pause that
        # lets an election finish (bounded by the deadline).
        node = candidates[tries % len(candidates)]
        time.sleep(0.1)
    return last


def member_list(cluster, timeout=10.0):
    """The leader's RAFTKV.MEMBER LIST as {id: (peer, client, role, state)}, or None."""
    rows = admin(cluster, "RAFTKV.MEMBER", "LIST", timeout=timeout)
    if not isinstance(rows, list):
        return None
    return {int(r[0]): tuple(x.decode() for x in r[1:]) for r in rows}


def wait_voter(cluster, i, timeout=CHANGE_TIMEOUT):
    """Until node i is a caught-up voter in the leader's list; True if it happened in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = member_list(cluster, timeout=max(0.5, deadline - time.monotonic()))
        if listed and i in listed and listed[i][2:] == ("voter", "caught-up"):
            return True
        time.sleep(0.1)
    return False


class MemberFaults:
    """The two membership faults; inject() returns (heal, description) as Nemesis expects."""

    def __init__(self, cluster, rng):
        self.c, self.rng = cluster, rng
        self.problems = []  # a heal that did not complete in time (reported as an anomaly)
        self.injected = 0

    def inject(self, target):
        self.injected += 1
        if len(self.c.ids()) > self.c.n:
            # A replace that failed left both nodes members: back to the initial size.
            return self.remove_and_readd(target, readd=False)
        if self.rng.random() < 0.5 or self.c.free_slot() is None:
            return self.remove_and_readd(target)
        return self.replace(target)

    def remove_and_readd(self, i, readd=True):
        c = self.c
        if len(c.ids()) < 2:
            return (lambda: None), f"member-remove node {i}: skipped (last member)"
        r = admin(c, "RAFTKV.MEMBER", "REMOVE", i)
        if r != b"OK":
            # An unknown outcome (TRYAGAIN, a timeout): the cluster's list decides.
            listed = member_list(c)
            if listed is None or i in listed:
                self.reconcile()
                return (lambda: None), f"member-remove node {i}: not removed ({r})"
        c.retire(i)
        c.wipe(i)
        if not readd:
            return (lambda: None), f"member-remove node {i} (members above {c.n})"

        def heal():
            slot = c.free_slot()
            c.slot[i] = slot
            c.members.add(i)
            c.joins.add(i)
            c.start(i)
            if not wait_voter(c, i):
                self.problems.append(f"node {i} re-added with --join is no caught-up voter "
                                     f"after {CHANGE_TIMEOUT} s")
                self.reconcile()

        return heal, f"member-remove node {i}, re-add it with an empty disk"

    def replace(self, old):
        c = self.c
        new, slot = c.next_id, c.free_slot()
        c.next_id += 1
        c.kill(old)
        c.slot[new] = slot
        c.joins.add(new)
        reply = {}
        t = threading.Thread(target=lambda: reply.setdefault(
            "r", admin(c, "RAFTKV.MEMBER", "REPLACE", old, new, c.peer_addr_of(new),
                       c.addr(new), timeout=CHANGE_TIMEOUT, resend=True)), daemon=True)
        c.members.add(new)  # so that admin() and start() see it
        t.start()
        # The operator's order (docs/membership.md): start the new node once REPLACE has added
        # it as a learner; its --join then finds it a member. (Started first, --join would add
        # it and the leader promote it, and REPLACE would only remove the old node.)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and t.is_alive():
            listed = member_list(c, timeout=1.0)
            if listed and new in listed:
                break
            time.sleep(0.05)
        c.start(new)
        t.join(timeout=CHANGE_TIMEOUT + 5)
        r = reply.get("r", "no reply")
        if r == b"OK":
            c.retire(old)
            c.wipe(old)
            return (lambda: None), f"member-replace node {old} by node {new}"
        # Refused or unknown: the cluster's list decides; a node left out is retired.
        self.reconcile()
        return (lambda: None), f"member-replace node {old} by node {new}: {r}"

    def reconcile(self, timeout=CHANGE_TIMEOUT):
        """Makes the harness's membership the cluster's: retires nodes the cluster does not
        list, starts listed nodes that are not running. False if no list could be read."""
        c = self.c
        listed = member_list(c, timeout=timeout)
        if listed is None:
            return False
        for i in list(c.slot):
            if i not in listed:
                c.retire(i)
                c.wipe(i)
        for i in listed:
            if i in c.slot:
                c.members.add(i)
                if i not in c.procs:
                    c.start(i)
        return True
