"""Times commands alternately, one run of each in turn, and prints each one's median wall
time in milliseconds on one line. Side by side in the strict sense: whatever the machine
does over the measurement (a writeback, a clock change) falls on every command alike, which
hyperfine's consecutive batches cannot promise.

usage: interleave.py RUNS CMD [CMD...]   (each CMD one string, split on spaces, no shell)
"""

import os
import statistics
import sys
import time

WARMUP = 20


def main() -> None:
    runs = int(sys.argv[1])
    cmds = [c.split() for c in sys.argv[2:]]
    devnull = os.open(os.devnull, os.O_RDWR)
    quiet = [(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)]
    times = [[] for _ in cmds]
    for i in range(WARMUP + runs):
        for k, cmd in enumerate(cmds):
            start = time.perf_counter()
            pid = os.posix_spawn(cmd[0], cmd, os.environ, file_actions=quiet)
            os.waitpid(pid, 0)
            if i >= WARMUP:
                times[k].append((time.perf_counter() - start) * 1e3)
    print(" ".join("%.2f" % statistics.median(t) for t in times))


if __name__ == "__main__":
    main()
