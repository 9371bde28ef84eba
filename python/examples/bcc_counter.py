#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""bcc_counter: the seed program of offsetprobe, for BCC users.

Pixie's blog counter: count one syscall per process, keyed by (tgid, start
time), the start time being task->group_leader->start_boottime. The blog
reads those two fields through offsets it must be told (its
GROUP_LEADER_OFFSET_OVERRIDE / START_BOOTTIME_OFFSET_OVERRIDE); here they come
from the offsetprobe cache, checked by offsetprobe.py, as -D flags. BCC
compiles the program with python3-bpfcc.

Two changes from the blog: the count is an atomic add (the blog's
`*count = *count + 1` loses counts when threads of one process race on one
value), and nothing is compiled when an offset is unknown.

    bcc_counter.py --syscall getppid --duration 10 [--pid PID] [--kernel-headers DIR]

Prints one JSON object per process at the end: {"tgid", "start_ticks",
"count"}; start_ticks equals field 22 of /proc/<tgid>/stat. Exit codes: 0
done, 3 offsets not known for this kernel, 13 no kernel headers for BCC,
1 any other failure.
"""

import argparse
import contextlib
import glob
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import offsetprobe  # noqa: E402

USER_HZ = os.sysconf("SC_CLK_TCK")

PROGRAM = r"""
#ifndef GROUP_LEADER_OFFSET_OVERRIDE
#error "no calibrated task_struct.group_leader offset for this kernel"
#endif
#ifndef START_BOOTTIME_OFFSET_OVERRIDE
#error "no calibrated task_struct.start_boottime offset for this kernel"
#endif

struct key_t {
    u32 tgid;
    u32 pad;
    u64 start_ticks; /* USER_HZ ticks, as /proc/<pid>/stat field 22 */
};

BPF_HASH(counts, struct key_t, u64, 10240);
BPF_PERCPU_ARRAY(lost, u64, 1);

int count_syscall(void *ctx)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (FILTER_TGID && tgid != FILTER_TGID)
        return 0;
    /* Only through the offsets: no struct task_struct member is named, so the
     * header set's layout never matters (docs/bcc-backend.md). */
    char *task = (char *)bpf_get_current_task();
    char *leader = 0;
    u64 start = 0;
    if (bpf_probe_read_kernel(&leader, sizeof(leader), task + GROUP_LEADER_OFFSET_OVERRIDE) ||
        !leader ||
        bpf_probe_read_kernel(&start, sizeof(start), leader + START_BOOTTIME_OFFSET_OVERRIDE)) {
        int zero = 0;
        u64 *l = lost.lookup(&zero);
        if (l)
            *l += 1; /* per-CPU: no atomic needed */
        return 0;
    }
    struct key_t key = {.tgid = tgid, .pad = 0, .start_ticks = start / TICK_NS};
    u64 zero = 0;
    u64 *count = counts.lookup_or_try_init(&key, &zero);
    if (count)
        __sync_fetch_and_add(count, 1); /* the blog's *count = *count + 1 loses counts */
    else {
        int z = 0;
        u64 *l = lost.lookup(&z);
        if (l)
            *l += 1;
    }
    return 0;
}
"""

NEEDED = ("task_struct.group_leader", "task_struct.start_boottime")


@contextlib.contextmanager
def kernel_headers(explicit=None):
    """Points BCC at a kernel header tree for the life of the block.

    An explicit dir wins; then /lib/modules/$(uname -r)/build, where BCC looks
    by itself; then the newest Debian header package (linux-headers-amd64),
    whose arch and common halves are joined in a private view of symlinks
    (BCC_KERNEL_SOURCE at either half alone fails). Headers of a nearby
    kernel are fine: the program reaches task_struct only through the
    calibrated offsets. Raises LookupError when there are none."""
    if explicit:
        os.environ["BCC_KERNEL_SOURCE"] = explicit
        yield explicit
        return
    own = "/lib/modules/%s/build" % os.uname().release
    if os.path.isdir(own):
        yield own
        return
    arch = "amd64" if os.uname().machine == "x86_64" else "arm64"
    best = None
    for d in glob.glob("/usr/src/linux-headers-*-" + arch):
        try:
            with open(os.path.join(d, "Makefile")) as f:
                m = re.search(r"^include (/usr/src/linux-headers-\S+-common)/Makefile", f.read(), re.M)
        except OSError:
            continue
        if m and os.path.isdir(os.path.join(m.group(1), "include", "linux")):
            version = [int(x) for x in re.findall(r"\d+", os.path.basename(d))]
            if best is None or version > best[0]:
                best = (version, d, m.group(1))
    if best is None:
        raise LookupError("no kernel headers: apt-get install linux-headers-" + arch +
                          ", or --kernel-headers DIR")
    view = tempfile.mkdtemp(prefix="offsetprobe-headers-")
    try:
        _merge(view, [best[1], best[2]])
        print("bcc_counter: kernel headers of %s (not the running %s)"
              % (os.path.basename(best[1]), os.uname().release), file=sys.stderr)
        os.environ["BCC_KERNEL_SOURCE"] = view
        yield view
    finally:
        shutil.rmtree(view)  # symlinks only: the trees are untouched


def _merge(dst, layers):
    """Links every entry of the layers into dst, the first layer winning; an
    entry that is a directory in more than one layer is merged recursively."""
    names = sorted({n for layer in layers if os.path.isdir(layer) for n in os.listdir(layer)})
    for n in names:
        have = [os.path.join(layer, n) for layer in layers if os.path.exists(os.path.join(layer, n))]
        if not have:
            continue
        if len(have) > 1 and all(os.path.isdir(h) for h in have):
            os.mkdir(os.path.join(dst, n))
            _merge(os.path.join(dst, n), have)
        else:
            os.symlink(os.path.realpath(have[0]), os.path.join(dst, n))


class Counter:
    """The compiled, attached program."""

    def __init__(self, offsets, syscall="getppid", tgid=0):
        from bcc import BPF  # python3-bpfcc
        cflags = offsetprobe.bcc_cflags(offsets, required=NEEDED)
        cflags += ["-DFILTER_TGID=%du" % tgid, "-DTICK_NS=%dull" % (1000000000 // USER_HZ)]
        self.bpf = BPF(text=PROGRAM, cflags=cflags)
        self.bpf.attach_tracepoint(tp="syscalls:sys_enter_" + syscall, fn_name="count_syscall")

    def counts(self):
        out = [{"tgid": k.tgid, "start_ticks": k.start_ticks, "count": v.value}
               for k, v in self.bpf["counts"].items()]
        return sorted(out, key=lambda c: (c["tgid"], c["start_ticks"]))

    def lost(self):
        return sum(self.bpf["lost"][0])

    def close(self):
        self.bpf.cleanup()


def _stop(signum, frame):
    raise KeyboardInterrupt  # SIGTERM ends the count as Ctrl-C does: counts still printed


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--syscall", default="getppid")
    p.add_argument("--pid", type=int, default=0, help="count only this process")
    p.add_argument("--duration", type=float, default=0,
                   help="seconds (0: until SIGINT/SIGTERM or stdin closes)")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--kernel-headers", default=None)
    a = p.parse_args()
    try:
        offs = offsetprobe.load_offsets(a.cache_dir)
        offsetprobe.bcc_cflags(offs, required=NEEDED)
    except offsetprobe.Error as e:
        print("bcc_counter: no offsets for this kernel: %s" % e, file=sys.stderr)
        return 3
    try:
        with kernel_headers(a.kernel_headers):
            counter = Counter(offs, a.syscall, a.pid)
    except LookupError as e:
        print("bcc_counter: %s" % e, file=sys.stderr)
        return 13
    try:
        print("bcc_counter: counting %s (offsets from %s)" % (a.syscall, offs.path), file=sys.stderr)
        signal.signal(signal.SIGTERM, _stop)
        try:
            if a.duration > 0:
                time.sleep(a.duration)
            else:
                while sys.stdin.read(64):
                    pass
        except KeyboardInterrupt:
            pass
        for c in counter.counts():
            print(json.dumps(c))
        if counter.lost():
            print("bcc_counter: %d events with an unreadable key or a full map" % counter.lost(),
                  file=sys.stderr)
    finally:
        counter.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
