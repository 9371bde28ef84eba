// SPDX-License-Identifier: GPL-2.0-only

package main

import (
	"errors"
	"fmt"
	"os"
	"sort"

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

// LoadSpec reads the BPF object and writes the offsets and the settings into
// its constants. Errors: offsetprobe.ErrFieldUnknown when an offset is not
// calibrated and validated on this kernel; a spec that cannot be read.
func LoadSpec(objPath string, offs *offsetprobe.Offsets, tgid uint32) (*ebpf.CollectionSpec, error) {
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
	}); err != nil {
		return nil, fmt.Errorf("setting tick_ns and filter_tgid: %w", err)
	}
	return spec, nil
}

// Start loads spec and attaches its program to syscalls/sys_enter_<syscall>.
func Start(spec *ebpf.CollectionSpec, syscall string) (*Agent, error) {
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading syscount: %+v", ve)
		}
		return nil, fmt.Errorf("loading syscount: %w", err)
	}
	tp, err := link.Tracepoint("syscalls", "sys_enter_"+syscall, coll.Programs["count_syscall"], nil)
	if err != nil {
		coll.Close()
		return nil, fmt.Errorf("attaching tracepoint syscalls/sys_enter_%s: %w", syscall, err)
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
