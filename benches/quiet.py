#!/usr/bin/env python3
"""Wait until the CPUs have been at least 85% idle for one second; exit 1 after SECONDS.

usage: quiet.py SECONDS

benches/run.sh calls it before each timing so that, on a machine shared with other work, a
measurement does not start in the middle of someone else's build.
"""

import sys
import time


def sample():
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return fields[3] + fields[4], sum(fields[:8])  # idle + iowait, total


def main():
    deadline = time.time() + float(sys.argv[1])
    while True:
        i0, t0 = sample()
        time.sleep(1)
        i1, t1 = sample()
        if t1 > t0 and (i1 - i0) / (t1 - t0) >= 0.85:
            sys.exit(0)
        if time.time() > deadline:
            sys.exit(1)


if __name__ == "__main__":
    main()
