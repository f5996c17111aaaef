#!/usr/bin/env python3
"""Per-phase times of the spawns in an `strace -f -ttt -T` log of the
`phases` bench (see benches/phases.rs), medians in µs:

  strace -f -ttt -T -o trace.embedded $B embedded 50
  python3 benches/tools/phases.py trace.embedded [trace.floor_memfd ...]

prep:   the parent, from the end of the previous wait to the clone of the
        next child (the crate's rewrite, inspect, resolve, guard; for a
        direct spawn, std's own preparation);
child:  from the clone to the child's first execve (std's and the C
        library's work in the child: stdio, signal dispositions);
exec1:  the child's first execve (the stub's, or the target's if direct);
run1:   from the return of that execve to the entry of the second one (the
        stub's run; absent when direct);
exec2:  the second execve (the target's);
target: from the target's execve to its exit;
total:  from the end of the previous wait to the end of this one.
strace stops the traced process at every system call, so absolute times
are inflated (most where there are many calls); compare routes, measured
the same way, and prefer instruction counts (callgrind) for the parent.
"""
import re
import statistics
import sys

LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
DUR = re.compile(r"<(\d+\.\d+)>$")


def phases(path):
    """One dict of phase durations (seconds) per child of the first pid."""
    events = []
    for line in open(path):
        m = LINE.match(line.strip())
        if m:
            d = DUR.search(m.group(3))
            events.append((m.group(1), float(m.group(2)), m.group(3), float(d.group(1)) if d else 0.0))
    parent = events[0][0]
    # Children first: a child's first execve is often logged before the
    # parent's clone returns.
    known = set()
    for pid, t, rest, dur in events:
        m = pid == parent and re.search(r"clone3? resumed>.*= (\d+)|^(?:clone3?|vfork)\(.*= (\d+)", rest)
        if m:
            known.add(m.group(1) or m.group(2))
    clones, kids, ends = [], {p: {"execs": []} for p in known}, {}
    last_clone = None
    for pid, t, rest, dur in events:
        if pid == parent:
            if rest.startswith(("clone3(", "clone(", "vfork(")):
                last_clone = t
            m = re.search(r"clone3? resumed>.*= (\d+)|^(?:clone3?|vfork)\(.*= (\d+)", rest)
            if m and last_clone is not None:
                child = m.group(1) or m.group(2)
                kids[child].update(clone=last_clone, clone_end=t)
                clones.append(child)
            m = re.search(r"wait4 resumed>.*= (\d+)|^wait4\(.*= (\d+)", rest)
            if m:
                ends[m.group(1) or m.group(2)] = t
        elif pid in kids:
            k = kids[pid]
            if rest.startswith("execve("):
                k["execs"].append([t, dur])
            elif rest.startswith("<... execve resumed>") and k["execs"]:
                k["execs"][-1][1] = dur
            elif rest.startswith("+++ exited"):
                k["exit"] = t
    rows, prev_end = [], None
    for c in clones:
        k, row = kids[c], {}
        ex = k["execs"]
        if prev_end is not None:
            row["prep"] = k["clone"] - prev_end
        if ex:
            row["child"] = ex[0][0] - k["clone"]
            row["exec1"] = ex[0][1]
        if len(ex) > 1:
            row["run1"] = ex[1][0] - (ex[0][0] + ex[0][1])
            row["exec2"] = ex[1][1]
        if "exit" in k and ex:
            row["target"] = k["exit"] - (ex[-1][0] + ex[-1][1])
        if c in ends:
            row["total"] = ends[c] - (k["clone"] if prev_end is None else prev_end)
            prev_end = ends[c]
        rows.append(row)
    return rows


def main():
    keys = ["prep", "child", "exec1", "run1", "exec2", "target", "total"]
    print("%-20s" % "trace" + "".join("%8s" % k for k in keys) + "    n")
    for path in sys.argv[1:]:
        rows = phases(path)[1:]  # the first spawn loads the stub
        cells = []
        for k in keys:
            vals = [r[k] for r in rows if k in r]
            cells.append("%8.0f" % (statistics.median(vals) * 1e6) if vals else "%8s" % "-")
        print("%-20s" % path.split("/")[-1] + "".join(cells) + "  %3d" % len(rows))


if __name__ == "__main__":
    main()
