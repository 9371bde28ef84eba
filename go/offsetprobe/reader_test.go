// SPDX-License-Identifier: GPL-2.0-only

package offsetprobe

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func errorsAs(err error, e **Error) bool { return errors.As(err, e) }

func TestErrorsIs(t *testing.T) {
	_, err := LoadFor(t.TempDir(), KernelID{BuildID: "0123456789abcdef", Strong: true}, DefaultSafety())
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnsafe) {
		t.Fatalf("want ErrNotFound only, got %v", err)
	}
	if !strings.HasPrefix(err.Error(), "not calibrated") {
		t.Errorf("message %q", err.Error())
	}
	t.Setenv(CacheDirEnv, "not/absolute")
	if _, err := Load(""); !errors.Is(err, ErrBadCacheDir) {
		t.Fatalf("want ErrBadCacheDir, got %v", err)
	}
	_, err = LoadFor(t.TempDir(), KernelID{BuildID: "../../etc/passwd"}, DefaultSafety())
	if !errors.Is(err, ErrNoKernelID) {
		t.Fatalf("a build id that is not one: %v", err)
	}
}

func note(name string, typ uint32, desc []byte) []byte {
	pad := func(b []byte) []byte { return append(b, make([]byte, (4-len(b)%4)%4)...) }
	h := make([]byte, 12)
	binary.LittleEndian.PutUint32(h, uint32(len(name)+1))
	binary.LittleEndian.PutUint32(h[4:], uint32(len(desc)))
	binary.LittleEndian.PutUint32(h[8:], typ)
	return append(append(h, pad(append([]byte(name), 0))...), pad(desc)...)
}

func TestGNUBuildID(t *testing.T) {
	blob := append(note("Xen", 3, []byte{1, 2, 3}), note("GNU", 3, []byte{0xde, 0xad, 0xbe, 0xef})...)
	if id, ok := ParseGNUBuildID(blob); !ok || id != "deadbeef" {
		t.Fatalf("got %q %v", id, ok)
	}
	if _, ok := ParseGNUBuildID(blob[:len(blob)-2]); ok {
		t.Fatal("a note running past the end was trusted")
	}
	k := MakeKernelID(nil, "Linux version x", "6.1", "#1", "x86_64")
	if k.Strong || !validBuildID(k.BuildID) || !strings.HasPrefix(k.BuildID, "procversion-") {
		t.Fatalf("fallback key %+v", k)
	}
}

// The Go reader and offsetprobe agree on the running kernel's key and on
// the offsets of one entry: an entry filed under the Go reader's key is found
// by `offsetprobe export --format json` (OFFSETPROBE_BIN, set by meson), with
// the same usable offsets.
func TestAgreesWithTool(t *testing.T) {
	exe := os.Getenv("OFFSETPROBE_BIN")
	if exe == "" {
		t.Skip("OFFSETPROBE_BIN not set (run through meson test)")
	}
	dir := runningKernelEntry(t, "ambiguous_field.json")
	out, err := exec.Command(exe, "export", "--format", "json", "--cache-dir", dir).Output()
	if err != nil {
		t.Fatalf("offsetprobe export: %v", err)
	}
	var doc struct {
		Offsets map[string]struct {
			Offset uint32 `json:"offset"`
		} `json:"offsets"`
		Omitted map[string]string `json:"omitted"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	o, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Offsets) != len(o.Fields) || len(doc.Omitted) != len(o.Omitted) {
		t.Fatalf("offsetprobe: %v / %v; Go: %v / %v", doc.Offsets, doc.Omitted, o.Fields, o.Omitted)
	}
	for name, f := range doc.Offsets {
		if off, ok := o.Offset(name); !ok || off != f.Offset {
			t.Errorf("%s: offsetprobe %d, Go %d (%v)", name, f.Offset, off, ok)
		}
	}
	for _, m := range o.Omitted {
		if doc.Omitted[m.Name] != m.Why {
			t.Errorf("omitted %s: offsetprobe %q, Go %q", m.Name, doc.Omitted[m.Name], m.Why)
		}
	}
}

// runningKernelEntry: a cache dir holding fixture name, re-keyed for the
// running kernel.
func runningKernelEntry(t *testing.T, name string) string {
	t.Helper()
	k, err := ReadKernelID()
	if err != nil {
		t.Fatal(err)
	}
	if !validBuildID(k.BuildID) {
		t.Fatalf("invalid running build id %q", k.BuildID)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(fixtureDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(b), "0123456789abcdef0123456789abcdef01234567", k.BuildID, 1)
	text = strings.Replace(text, `"gnu-build-id"`, `"`+k.Source()+`"`, 1)
	if err := os.WriteFile(filepath.Join(dir, EntryFileName(k.BuildID)), []byte(text), 0644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadThroughEnv(t *testing.T) {
	t.Setenv(CacheDirEnv, runningKernelEntry(t, "valid.json"))
	o, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if off, ok := o.Offset("task_struct.real_start_time"); !ok || off != 2696 {
		t.Fatalf("alias: %d %v", off, ok)
	}
	if o.Fields["task_struct.real_start_time"].AliasOf != "task_struct.start_boottime" {
		t.Fatal("alias_of")
	}
	if _, ok := o.Offset("task_struct.no_such_field"); ok {
		t.Fatal("an unknown field has an offset")
	}
}
