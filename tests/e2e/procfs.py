"""What a local process holds, read from /proc: for the e2e tests and the
benchmarks that wait on a vkgw process's state instead of sleeping.

Imported by the Python clients of tests/e2e/gw_limits.sh and
bench/bench-idle-rss.sh (with this folder on PYTHONPATH)."""
import os
import sys
import time


def rss_kib(pid):
    """The process's resident set (VmRSS), in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    """How many fds the process has open."""
    return len(os.listdir("/proc/%d/fd" % pid))


def established_fds(pid, port):
    """How many of the process's fds are established TCP (IPv4) connections
    on the local port: those of its listener's clients."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
                inodes.add("socket:[%s]" % fields[9])
    d = "/proc/%d/fd" % pid
    n = 0
    for fd in os.listdir(d):
        try:
            n += os.readlink(os.path.join(d, fd)) in inodes
        except OSError:
            pass  # closed meanwhile
    return n


def wait_until(what, cond, deadline, step=0.01):
    """Polls cond every step seconds; exits with "timeout: WHAT" once the
    time.monotonic() deadline has passed."""
    while not cond():
        if time.monotonic() > deadline:
            sys.exit("timeout: " + what)
        time.sleep(step)
