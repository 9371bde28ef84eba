// SPDX-License-Identifier: GPL-2.0-only

package offsetprobe

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// The shared reader fixtures (tests/fixtures/cache/cases.json): the C++ and
// Python readers are tested on the same cases, with the same verdicts.

type fixtureCase struct {
	Name     string            `json:"name"`
	Entry    *string           `json:"entry"`
	Setup    string            `json:"setup"`
	Verdict  string            `json:"verdict"`
	RootOnly bool              `json:"root_only"`
	Offsets  map[string]uint32 `json:"offsets"`
	Omitted  map[string]string `json:"omitted"`
}

type fixtureDoc struct {
	BuildID       string        `json:"build_id"`
	Release       string        `json:"release"`
	MaxEntryBytes int64         `json:"max_entry_bytes"`
	Cases         []fixtureCase `json:"cases"`
}

func fixtureDir() string {
	if d := os.Getenv("OFFSETPROBE_READER_FIXTURES"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "tests", "fixtures", "cache")
}

// setUp lays out one case in dir (see the fixtures' README) and returns the
// directory the reader is given.
func setUp(t *testing.T, c fixtureCase, dir, name string, maxBytes int64) string {
	t.Helper()
	entryPath := filepath.Join(dir, name)
	copyEntry := func(to string) {
		b, err := os.ReadFile(filepath.Join(fixtureDir(), *c.Entry))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(to, 0644); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	must := func(err error) {
		if err != nil {
			t.Fatalf("%s: setup %s: %v", c.Name, c.Setup, err)
		}
	}
	switch c.Setup {
	case "absent":
		return dir
	case "fifo":
		must(syscall.Mkfifo(entryPath, 0644))
		return dir
	case "too_large":
		must(os.WriteFile(entryPath, []byte(strings.Repeat(" ", int(maxBytes)+1)), 0644))
		return dir
	case "symlink":
		copyEntry(filepath.Join(dir, "elsewhere.json"))
		must(os.Symlink("elsewhere.json", entryPath))
		return dir
	}
	copyEntry(entryPath)
	switch c.Setup {
	case "none":
	case "hardlink":
		must(os.Link(entryPath, filepath.Join(dir, "second.json")))
	case "chown_65534":
		must(os.Chown(entryPath, 65534, 65534))
	case "chmod_0666":
		must(os.Chmod(entryPath, 0666))
	case "dir_chmod_0775":
		must(os.Chmod(dir, 0775))
	case "dir_symlink":
		link := dir + ".link"
		must(os.Symlink(dir, link))
		t.Cleanup(func() { os.Remove(link) })
		return link
	default:
		t.Fatalf("unknown setup %q", c.Setup)
	}
	return dir
}

func TestSharedFixtures(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixtureDir(), "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc fixtureDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.MaxEntryBytes != MaxEntryBytes {
		t.Fatalf("fixtures say max_entry_bytes %d, the reader %d", doc.MaxEntryBytes, MaxEntryBytes)
	}
	if len(doc.Cases) < 20 {
		t.Fatalf("only %d cases", len(doc.Cases))
	}
	k := KernelID{BuildID: doc.BuildID, Strong: true, Release: doc.Release}
	root := os.Geteuid() == 0
	for _, c := range doc.Cases {
		c := c
		t.Run(c.Name, func(t *testing.T) {
			if c.RootOnly && !root {
				if os.Getenv("CI") == "true" {
					t.Fatal("needs root, and CI=true")
				}
				t.Skip("the rule applies as root only")
			}
			dir := t.TempDir()
			must := func(err error) {
				if err != nil {
					t.Fatal(err)
				}
			}
			must(os.Chmod(dir, 0755))
			// t.TempDir's parent is 0700 but the rules look at the dir only.
			given := setUp(t, c, dir, EntryFileName(k.BuildID), doc.MaxEntryBytes)
			o, err := LoadFor(given, k, DefaultSafety())
			if got := Verdict(err); got != c.Verdict {
				t.Fatalf("verdict %s, want %s (error: %v)", got, c.Verdict, err)
			}
			if c.Verdict != "ok" {
				var e *Error
				if !errorsAs(err, &e) || e.Msg == "" {
					t.Fatalf("not an *Error: %v", err)
				}
				return
			}
			got := map[string]uint32{}
			for n, f := range o.Fields {
				got[n] = f.Offset
			}
			if !reflect.DeepEqual(got, c.Offsets) {
				t.Errorf("offsets %v, want %v", got, c.Offsets)
			}
			omitted := map[string]string{}
			for _, m := range o.Omitted {
				omitted[m.Name] = m.Why
			}
			if !reflect.DeepEqual(omitted, c.Omitted) {
				t.Errorf("omitted %v, want %v", omitted, c.Omitted)
			}
		})
	}
}
