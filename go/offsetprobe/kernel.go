// SPDX-License-Identifier: GPL-2.0-only

package offsetprobe

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"syscall"
)

const procVersionPrefix = "procversion-"

// KernelID is the cache key of a kernel build.
type KernelID struct {
	BuildID string // lowercase hex GNU build id, or "procversion-<sha256 hex>"
	Strong  bool   // true: GNU build id; false: the /proc/version digest fallback
	Release string // uname -r
	Version string // uname -v
	Machine string // uname -m
}

// Source names where BuildID came from, as the cache's build_id_source does.
func (k KernelID) Source() string {
	if k.Strong {
		return "gnu-build-id"
	}
	return "proc-version-digest"
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {
			return false
		}
	}
	return true
}

// validBuildID: the key forms offsetprobe writes; also what keeps a key
// usable as a file name (no '/', no "..").
func validBuildID(id string) bool {
	if strings.HasPrefix(id, procVersionPrefix) {
		rest := id[len(procVersionPrefix):]
		return len(rest) == 64 && isLowerHex(rest)
	}
	return len(id) >= 2 && len(id) <= 128 && len(id)%2 == 0 && isLowerHex(id)
}

// ParseGNUBuildID finds the NT_GNU_BUILD_ID note (type 3, name "GNU") in a
// raw sequence of ELF notes as in /sys/kernel/notes, and returns its desc
// as lowercase hex. ok is false when there is none, or when the blob is
// malformed before one is found.
func ParseGNUBuildID(blob []byte) (id string, ok bool) {
	align4 := func(v uint64) uint64 { return (v + 3) &^ 3 }
	size := uint64(len(blob))
	for off := uint64(0); off+12 <= size; {
		namesz := uint64(binary.LittleEndian.Uint32(blob[off:]))
		descsz := uint64(binary.LittleEndian.Uint32(blob[off+4:]))
		typ := binary.LittleEndian.Uint32(blob[off+8:])
		nameOff := off + 12
		descOff := nameOff + align4(namesz)
		if descOff+descsz > size {
			return "", false // a note runs past the end: trust nothing after
		}
		if typ == 3 && namesz == 4 && bytes.Equal(blob[nameOff:nameOff+4], []byte("GNU\x00")) &&
			descsz >= 1 && descsz <= 64 {
			return hex.EncodeToString(blob[descOff : descOff+descsz]), true
		}
		off = descOff + align4(descsz)
	}
	return "", false
}

// MakeKernelID is the pure part of ReadKernelID: without a build id the key
// is a digest of /proc/version and the uname fields (two builds with the
// same release still differ in their version string).
func MakeKernelID(notes []byte, procVersion, release, version, machine string) KernelID {
	k := KernelID{Release: release, Version: version, Machine: machine}
	if id, ok := ParseGNUBuildID(notes); ok {
		k.BuildID, k.Strong = id, true
		return k
	}
	sum := sha256.Sum256([]byte(procVersion + "\n" + release + "\n" + version + "\n" + machine))
	k.BuildID = procVersionPrefix + hex.EncodeToString(sum[:])
	return k
}

func utsString(b [65]int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

// ReadKernelID returns the running kernel's key, from /sys/kernel/notes,
// else from /proc/version and uname. Errors: ErrNoKernelID.
func ReadKernelID() (KernelID, error) {
	return readKernelID("/sys/kernel/notes")
}

func readKernelID(notesPath string) (KernelID, error) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return KernelID{}, newErr(ErrNoKernelID, "uname failed: "+err.Error())
	}
	rel, ver, mach := utsString(u.Release), utsString(u.Version), utsString(u.Machine)
	notes, _ := readSmallFile(notesPath)
	if _, ok := ParseGNUBuildID(notes); ok {
		return MakeKernelID(notes, "", rel, ver, mach), nil
	}
	pv, err := readSmallFile("/proc/version")
	if err != nil {
		return KernelID{}, newErr(ErrNoKernelID, "no GNU build id in /sys/kernel/notes and cannot "+
			"read /proc/version to identify the kernel")
	}
	return MakeKernelID(nil, string(pv), rel, ver, mach), nil
}

// readSmallFile: a pseudo-file's contents, up to 64 KiB (a little more is
// read and kept, as the C++ reader does).
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := f.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil || n == 0 || len(out) > 1<<16 {
			break
		}
	}
	return out, nil
}
