#!/usr/bin/env python3
"""Does this machine stop as a whole now and then? One command, about SECONDS + 5 s:

    sudo python3 bench/host-stalls.py [SECONDS]      (needs `perf`, Debian's linux-perf)

On the 2-vCPU VM the gateway benchmark runs on, the whole machine sometimes stops for 3-5 ms
about once a second while its CPUs keep going idle and waking up (bench/RESULTS.md, "The host
stops"). No process runs during such a stop, so every request in flight is late by its length;
at 15,000 requests a second that alone puts about half a per cent of the requests over 5 ms.
It comes and goes within minutes, so a latency result means more with this measured next to it.

How: three pairs of processes bounce 32-byte messages over socket pairs, resting 50 us every
fourth exchange, which keeps both CPUs busy and waking (a pure busy loop never showed a stop).
Meanwhile `perf record -a` samples every CPU 2,999 times a second. A stretch of at least
2 ms in which no CPU took a sample is a stop: under this load a CPU is never idle that long.

Prints one JSON line: the stops, the longest, and the median time between them.
"""

import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SAMPLE_HZ = 2999
MIN_STOP_S = 0.002
PAIRS = 3


def bounce(seconds):
    """One pair: this process sends, a forked child echoes, until `seconds` have passed."""
    ours, theirs = socket.socketpair()
    if os.fork() == 0:
        ours.close()
        while data := theirs.recv(64):
            theirs.send(data)
        os._exit(0)
    theirs.close()
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        ours.send(b"x" * 32)
        ours.recv(64)
        n += 1
        if n % 4 == 0:
            time.sleep(0.00005)
    ours.close()
    os.wait()


def sample_times(perf_data):
    """The time of every sample perf took, on any CPU, in order."""
    script = subprocess.run(
        ["perf", "script", "-i", perf_data, "-F", "time"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sorted(float(m.group(1)) for m in re.finditer(r"([\d.]+):", script))


def stops(times):
    """(start, length) of every stretch of at least MIN_STOP_S without a sample.

    >>> [(start, round(length, 4)) for start, length in stops([0.0, 0.001, 0.0015, 0.0045, 0.005])]
    [(0.0015, 0.003)]
    >>> stops([0.0, 0.0019, 0.0038])
    []
    """
    return [(a, b - a) for a, b in zip(times, times[1:]) if b - a >= MIN_STOP_S]


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    load = []
    for _ in range(PAIRS):
        pid = os.fork()
        if pid == 0:
            bounce(seconds + 2)
            os._exit(0)
        load.append(pid)
    with tempfile.TemporaryDirectory() as scratch:
        data = os.path.join(scratch, "perf.data")
        time.sleep(1)  # the load is up
        subprocess.run(
            ["perf", "record", "-a", "-F", str(SAMPLE_HZ), "-o", data, "--", "sleep", str(seconds)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in load:
            os.waitpid(pid, 0)
        times = sample_times(data)
    found = stops(times)
    starts = [start for start, _ in found]
    periods = [b - a for a, b in zip(starts, starts[1:])]
    print(
        json.dumps(
            {
                "bench": "host-stalls",
                "seconds": seconds,
                "samples": len(times),
                "samples_expected": int(SAMPLE_HZ * os.cpu_count() * seconds),
                "stops": len(found),
                "stops_per_second": round(len(found) / seconds, 2),
                "longest_ms": round(max((length for _, length in found), default=0) * 1e3, 1),
                "stopped_ms": round(sum(length for _, length in found) * 1e3, 1),
                "median_seconds_between": round(statistics.median(periods), 3) if periods else None,
            }
        )
    )


if __name__ == "__main__":
    main()
