// SPDX-License-Identifier: GPL-2.0-only

package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"offsetprobe"
)

// Key is struct syscount_key of syscount.h.
type Key struct {
	Tgid       uint32
	Pad        uint32
	StartTicks uint64
}

// Count is one process's count.
type Count struct {
	Tgid       uint32 `json:"tgid"`
	StartTicks uint64 `json:"start_ticks"`
	Count      uint64 `json:"count"`
}

// userHZ is the unit of /proc/<pid>/stat's start time. It is part of the
// kernel's ABI (100 on x86, arm64 and every architecture offsetprobe
// supports), so it needs no sysconf (and no cgo) here.
const userHZ = 100

// offsetConstants: the BPF program's constants and the field each takes.
var offsetConstants = map[string]string{
	"off_group_leader":   "task_struct.group_leader",
	"off_start_boottime": "task_struct.start_boottime",
}

// Agent is the loaded and attached counter.
type Agent struct {
	coll *ebpf.Collection
	tp   link.Link
}

// syscallNumbers: a few x86_64 syscall numbers by name, for -syscall; any
// other is given by number (-syscall 257). offsetprobe count has the full
// table (counting/syscall_table_x86_64.inc).
var syscallNumbers = map[string]int64{
	"read": 0, "write": 1, "close": 3, "mmap": 9, "ioctl": 16, "getpid": 39, "clone": 56,
	"fork": 57, "execve": 59, "uname": 63, "getppid": 110, "openat": 257, "execveat": 322,
}

// SyscallNumber: a name of syscallNumbers, or a number.
func SyscallNumber(s string) (int64, error) {
	if nr, ok := syscallNumbers[s]; ok {
		return nr, nil
	}
	nr, err := strconv.ParseInt(s, 10, 64)
	if err != nil || nr < 0 || nr > 1023 {
		return 0, fmt.Errorf("unknown syscall %q: give its number", s)
	}
	return nr, nil
}

// LoadSpec reads the BPF object and writes the offsets and the settings into
// its constants. Errors: offsetprobe.ErrFieldUnknown when an offset is not
// calibrated and validated on this kernel; a spec that cannot be read.
func LoadSpec(objPath string, offs *offsetprobe.Offsets, syscallNr int64, tgid uint32) (*ebpf.CollectionSpec, error) {
	spec, err := ebpf.LoadCollectionSpec(objPath)
	if err != nil {
		return nil, fmt.Errorf("reading BPF object %s: %w", objPath, err)
	}
	if err := offsetprobe.RewriteConstants(spec, offs, offsetConstants); err != nil {
		return nil, err
	}
	if err := spec.RewriteConstants(map[string]interface{}{
		"tick_ns":     uint64(1_000_000_000 / userHZ),
		"filter_tgid": tgid,
		"syscall_nr":  syscallNr,
	}); err != nil {
		return nil, fmt.Errorf("setting tick_ns, filter_tgid and syscall_nr: %w", err)
	}
	return spec, nil
}

// Start loads spec and attaches its program to the raw tracepoint sys_enter.
func Start(spec *ebpf.CollectionSpec) (*Agent, error) {
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading syscount: %+v", ve)
		}
		return nil, fmt.Errorf("loading syscount: %w", err)
	}
	tp, err := link.AttachRawTracepoint(link.RawTracepointOptions{
		Name: "sys_enter", Program: coll.Programs["count_syscall"]})
	if err != nil {
		coll.Close()
		return nil, fmt.Errorf("attaching raw tracepoint sys_enter: %w", err)
	}
	return &Agent{coll: coll, tp: tp}, nil
}

// Counts returns the count of every process seen, by tgid then start.
func (a *Agent) Counts() ([]Count, error) {
	var out []Count
	var k Key
	var v uint64
	it := a.coll.Maps["counts"].Iterate()
	for it.Next(&k, &v) {
		out = append(out, Count{Tgid: k.Tgid, StartTicks: k.StartTicks, Count: v})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading counts: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tgid != out[j].Tgid {
			return out[i].Tgid < out[j].Tgid
		}
		return out[i].StartTicks < out[j].StartTicks
	})
	return out, nil
}

// Lost returns the events whose key could not be read and those lost to a
// full map, summed over the CPUs.
func (a *Agent) Lost() (unreadable, full uint64, err error) {
	var sums [2]uint64
	for slot := uint32(0); slot < 2; slot++ {
		var per []uint64
		if err := a.coll.Maps["lost"].Lookup(slot, &per); err != nil {
			return 0, 0, fmt.Errorf("reading lost: %w", err)
		}
		for _, n := range per {
			sums[slot] += n
		}
	}
	return sums[0], sums[1], nil
}

// Close detaches and unloads everything.
func (a *Agent) Close() {
	if a.tp != nil {
		a.tp.Close()
	}
	a.coll.Close()
}

func warn(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "syscount: "+format+"\n", args...)
}
