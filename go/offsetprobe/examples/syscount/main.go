// SPDX-License-Identifier: GPL-2.0-only

// syscount is the example Go agent of offsetprobe: it counts one syscall per
// process, keyed by (tgid, start time), reading
// task->group_leader->start_boottime through offsets from the offsetprobe
// cache, on a kernel without BTF or headers.
//
//	syscount -obj syscount.bpf.o -syscall getppid -duration 10s
//
// It prints one JSON object per process on stdout at the end ({"tgid":..,
// "start_ticks":..,"count":..}); start_ticks equals field 22 of
// /proc/<tgid>/stat. Exit codes: 0 done, 3 the offsets are not known for
// this kernel (run `offsetprobe calibrate`), 2 bad usage, 1 any other failure.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cilium/ebpf/rlimit"

	"offsetprobe"
)

func main() {
	obj := flag.String("obj", "syscount.bpf.o", "the BPF object (built by meson: build/go/syscount.bpf.o)")
	sys := flag.String("syscall", "getppid", "the syscall to count: a name (getppid, openat, execve, ...) or a number")
	pid := flag.Uint("pid", 0, "count only this process (0: every process)")
	duration := flag.Duration("duration", 0, "stop after this long (0: at SIGINT/SIGTERM or when stdin closes)")
	cacheDir := flag.String("cache-dir", "", "the offsetprobe cache (default $OFFSETPROBE_CACHE_DIR, else /var/cache/offsetprobe)")
	flag.Parse()

	offs, err := offsetprobe.Load(*cacheDir)
	if err != nil {
		warn("no offsets for this kernel: %v", err)
		os.Exit(3)
	}
	nr, err := SyscallNumber(*sys)
	if err != nil {
		warn("%v", err)
		os.Exit(2)
	}
	spec, err := LoadSpec(*obj, offs, nr, uint32(*pid))
	if errors.Is(err, offsetprobe.ErrFieldUnknown) {
		warn("%v", err)
		os.Exit(3)
	} else if err != nil {
		warn("%v", err)
		os.Exit(1)
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; later ones do
	// not, and this needs CAP_SYS_RESOURCE, so a failure only warns.
	if err := rlimit.RemoveMemlock(); err != nil {
		warn("cannot raise RLIMIT_MEMLOCK (%v); loading anyway", err)
	}
	agent, err := Start(spec)
	if err != nil {
		warn("%v", err)
		os.Exit(1)
	}
	defer agent.Close()
	warn("counting %s (offsets from %s)", *sys, offs.Path)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	if *duration > 0 {
		go func() { time.Sleep(*duration); close(done) }()
	} else {
		go func() { // stdin closing stops it too: handy under a test or a pipe
			buf := make([]byte, 64)
			for {
				if _, err := os.Stdin.Read(buf); err != nil {
					close(done)
					return
				}
			}
		}()
	}
	select {
	case <-stop:
	case <-done:
	}
	counts, err := agent.Counts()
	if err != nil {
		warn("%v", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	for _, c := range counts {
		enc.Encode(c)
	}
	if unreadable, full, err := agent.Lost(); err == nil && unreadable+full > 0 {
		warn("%d events with an unreadable key, %d lost to a full map", unreadable, full)
	}
}
