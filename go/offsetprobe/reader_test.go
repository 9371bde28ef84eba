// SPDX-License-Identifier: GPL-2.0-only

package offsetprobe

import (
	"encoding/binary"
	"errors"
	"os"
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

// The running kernel's key is the one offsetprobe itself files entries
// under: OFFSETPROBE_BIN (set by meson) writes one, the Go reader finds it.
func TestRunningKernelMatchesTool(t *testing.T) {
	k, err := ReadKernelID()
	if err != nil {
		t.Fatal(err)
	}
	if !validBuildID(k.BuildID) {
		t.Fatalf("invalid running build id %q", k.BuildID)
	}
	want := os.Getenv("OFFSETPROBE_KERNEL_BUILD_ID")
	if want == "" {
		t.Skip("OFFSETPROBE_KERNEL_BUILD_ID not set (run through meson test)")
	}
	if k.BuildID != want {
		t.Fatalf("Go reads build id %s, offsetprobe %s", k.BuildID, want)
	}
}

func TestLoadThroughEnv(t *testing.T) {
	k, err := ReadKernelID()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(fixtureDir(), "valid.json"))
	if err != nil {
		t.Fatal(err)
	}
	src := "gnu-build-id"
	if !k.Strong {
		src = "proc-version-digest"
	}
	text := strings.Replace(string(b), "0123456789abcdef0123456789abcdef01234567", k.BuildID, 1)
	text = strings.Replace(text, `"gnu-build-id"`, `"`+src+`"`, 1)
	if err := os.WriteFile(filepath.Join(dir, EntryFileName(k.BuildID)), []byte(text), 0644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(CacheDirEnv, dir)
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
