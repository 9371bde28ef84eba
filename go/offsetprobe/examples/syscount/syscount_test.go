// SPDX-License-Identifier: GPL-2.0-only

package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"offsetprobe"
)

// The example agent, tested as `count`'s test is: a subject makes exactly N
// getppid calls on each of 4 threads; the agent must report exactly 4*N
// under the key (subject's tgid, field 22 of its /proc/<pid>/stat).

const sysGetppid = 110 // x86_64; libc's start-up and pthreads never call it

// skipOrFail: outside CI a test that cannot run skips with its reason;
// under CI=true it fails.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("cannot run under CI=true: %s", why)
	}
	t.Skip(why)
}

func objPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("SYSCOUNT_BPF_OBJ")
	if p == "" {
		skipOrFail(t, "SYSCOUNT_BPF_OBJ not set (run through meson test: it builds the BPF object)")
	}
	return p
}

func fixtureOffsets(t *testing.T, name string) *offsetprobe.Offsets {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "..", "tests", "fixtures", "cache")
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	o, err := offsetprobe.ParseEntry(b, name, "")
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// rodata reads an integer constant back from a spec's .rodata.
func rodata(t *testing.T, spec *ebpf.CollectionSpec, name string) uint64 {
	t.Helper()
	m := spec.Maps[".rodata"]
	contents := m.Contents[0].Value.([]byte)
	for _, v := range m.Value.(*btf.Datasec).Vars {
		if v.Type.TypeName() != name {
			continue
		}
		b := contents[v.Offset : v.Offset+v.Size]
		switch v.Size {
		case 4:
			return uint64(binary.LittleEndian.Uint32(b))
		case 8:
			return binary.LittleEndian.Uint64(b)
		}
		t.Fatalf("%s is %d bytes", name, v.Size)
	}
	t.Fatalf("no constant %s", name)
	return 0
}

// No root: the offsets land in the object's constants, and an offset that is
// not calibrated and validated stops the load.
func TestRewriteConstants(t *testing.T) {
	obj := objPath(t)
	spec, err := LoadSpec(obj, fixtureOffsets(t, "valid.json"), sysGetppid, 4242)
	if err != nil {
		t.Fatal(err)
	}
	for c, want := range map[string]uint64{"off_group_leader": 2496, "off_start_boottime": 2696,
		"filter_tgid": 4242, "tick_ns": 10_000_000, "syscall_nr": sysGetppid} {
		if got := rodata(t, spec, c); got != want {
			t.Errorf("%s = %d, want %d", c, got, want)
		}
	}
	// The field the program needs failed its read-back: nothing is loaded.
	o := fixtureOffsets(t, "valid.json")
	delete(o.Fields, "task_struct.group_leader")
	_, err = LoadSpec(obj, o, sysGetppid, 0)
	if !errors.Is(err, offsetprobe.ErrFieldUnknown) || !strings.Contains(err.Error(), "group_leader") {
		t.Fatalf("want ErrFieldUnknown naming group_leader, got %v", err)
	}
	spec, _ = ebpf.LoadCollectionSpec(obj)
	err = offsetprobe.RewriteConstants(spec, fixtureOffsets(t, "valid.json"),
		map[string]string{"no_such_constant": "task_struct.pid"})
	if err == nil || errors.Is(err, offsetprobe.ErrFieldUnknown) {
		t.Fatalf("a constant the program lacks: %v", err)
	}
	if rodata(t, spec, "off_group_leader") != 0 {
		t.Fatal("a failed rewrite changed the spec")
	}
}

// subject is a running tests/count_subject.
type subject struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func startSubject(t *testing.T, calls, threads int) *subject {
	t.Helper()
	cmd := exec.Command(os.Getenv("COUNT_SUBJECT"), strconv.Itoa(sysGetppid), strconv.Itoa(calls),
		strconv.Itoa(threads))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &subject{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() { s.stdin.Close(); s.cmd.Process.Kill(); s.cmd.Wait() })
	s.expect(t, "ready")
	return s
}

func (s *subject) expect(t *testing.T, word string) {
	t.Helper()
	line, err := s.out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, word) {
		t.Fatalf("subject said %q (%v), want %s", line, err, word)
	}
}

// startTicks is field 22 of /proc/<pid>/stat (after the comm's last ')').
func startTicks(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	v, err := strconv.ParseUint(f[22-3], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// calibrate runs a fresh calibration of the task_struct fields into a
// private cache dir and loads its offsets through the Go reader.
func calibrate(t *testing.T) *offsetprobe.Offsets {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Getenv("OFFSETPROBE_BIN"), "calibrate", "--fields", "task", "-q",
		"--cache-dir", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("offsetprobe calibrate: %v\n%s", err, out)
	}
	o, err := offsetprobe.Load(dir)
	if err != nil {
		t.Fatalf("the Go reader refused offsetprobe's own entry: %v", err)
	}
	return o
}

func TestCountsMatchProc(t *testing.T) {
	obj := objPath(t)
	if os.Geteuid() != 0 {
		skipOrFail(t, "not root: loading BPF needs CAP_BPF and CAP_PERFMON")
	}
	if os.Getenv("OFFSETPROBE_BIN") == "" || os.Getenv("COUNT_SUBJECT") == "" {
		skipOrFail(t, "OFFSETPROBE_BIN / COUNT_SUBJECT not set (run through meson test)")
	}
	offs := calibrate(t)
	const calls, threads = 2500, 4
	s := startSubject(t, calls, threads)
	pid := s.cmd.Process.Pid
	spec, err := LoadSpec(obj, offs, sysGetppid, uint32(pid))
	if err != nil {
		t.Fatal(err)
	}
	agent, err := Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	if _, err := s.stdin.Write([]byte("g")); err != nil {
		t.Fatal(err)
	}
	s.expect(t, "done")
	want := startTicks(t, pid) // read while the subject lives
	counts, err := agent.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 1 {
		t.Fatalf("want one key (the subject's), got %+v", counts)
	}
	c := counts[0]
	if c.Tgid != uint32(pid) || c.StartTicks != want || c.Count != calls*threads {
		t.Fatalf("got %+v, want tgid %d start_ticks %d count %d", c, pid, want, calls*threads)
	}
	if unreadable, full, err := agent.Lost(); err != nil || unreadable+full != 0 {
		t.Fatalf("lost events: %d unreadable, %d full (%v)", unreadable, full, err)
	}
	t.Logf("pid %d: %d calls on %d threads counted under start_ticks %d", pid, c.Count, threads, want)
}
