// SPDX-License-Identifier: GPL-2.0-only

// Package offsetprobe reads the offsetprobe cache: the kernel struct field
// offsets that `offsetprobe calibrate` found on this host, for eBPF agents
// written in Go (cilium/ebpf).
//
//	offs, err := offsetprobe.Load("")
//	if err != nil { return err } // errors.Is(err, offsetprobe.ErrNotFound), ...
//	gl, ok := offs.Offset("task_struct.group_leader")
//
// It makes exactly the checks of the C++ reader (cache/offsetprobe_reader.hpp),
// and both are tested on the same fixtures (tests/fixtures/cache):
//   - the entry is opened with O_NOFOLLOW relative to the opened cache dir; it
//     must be a regular file with one link, at most MaxEntryBytes (checked
//     with fstat before reading);
//   - when running as root, the cache dir and the file must be owned by root
//     and not group- or world-writable, and the dir must not be a symlink;
//   - the schema must be "offsetprobe/v1" (a newer one is refused, not
//     misread), the entry's build id must be the running kernel's, and JSON
//     nested deeper than MaxJSONDepth is refused before parsing;
//   - only fields that were calibrated AND validated, with an offset below
//     MaxOffset, are returned. Nothing else is ever an offset (never 0 for
//     "unknown").
package offsetprobe

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

const (
	// Schema is the only entry schema this reader understands.
	Schema = "offsetprobe/v1"
	// DefaultCacheDir is where `offsetprobe calibrate` writes.
	DefaultCacheDir = "/var/cache/offsetprobe"
	// CacheDirEnv overrides DefaultCacheDir (an absolute path only).
	CacheDirEnv = "OFFSETPROBE_CACHE_DIR"
	// MaxEntryBytes: a real entry is a few KiB; 1 MiB bounds what is parsed.
	MaxEntryBytes = 1 << 20
	// MaxJSONDepth: entries nest 4 levels deep; deeper is hostile or broken.
	MaxJSONDepth = 32
	// MaxOffset is an exclusive bound: no struct read is near 64 KiB.
	MaxOffset = 65536
	// MaxFieldSize bounds a field's size.
	MaxFieldSize = 4096
)

// ResolveCacheDir returns the cache dir: explicit when not empty, else
// $OFFSETPROBE_CACHE_DIR, else DefaultCacheDir. The env value must be
// absolute and, if it exists, a directory: a relative value would depend on
// the reader's cwd. Errors: ErrBadCacheDir.
func ResolveCacheDir(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	v := os.Getenv(CacheDirEnv)
	if v == "" {
		return DefaultCacheDir, nil
	}
	if v[0] != '/' {
		return "", newErr(ErrBadCacheDir, CacheDirEnv+"="+v+" is not an absolute path; refusing it")
	}
	if st, err := os.Stat(v); err == nil && !st.IsDir() {
		return "", newErr(ErrBadCacheDir, CacheDirEnv+"="+v+" exists but is not a directory")
	}
	return v, nil
}

// Safety says which checks apply. DefaultSafety is what Load uses.
type Safety struct {
	// OwnerChecks: the root-owner and mode rules. By default exactly when
	// running as root, the case where a planted file matters most.
	OwnerChecks bool
}

// DefaultSafety: owner checks when the effective uid is 0.
func DefaultSafety() Safety { return Safety{OwnerChecks: os.Geteuid() == 0} }

func modeString(m uint32) string { return fmt.Sprintf("%04o", m&07777) }

func errnoText(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		return en.Error()
	}
	return err.Error()
}

// openCacheDir: an O_DIRECTORY fd (O_NOFOLLOW under owner checks).
// Errors: ErrNotFound, ErrUnsafe, ErrIO.
func openCacheDir(dir string, s Safety) (int, error) {
	flags := syscall.O_RDONLY | syscall.O_DIRECTORY | syscall.O_CLOEXEC
	if s.OwnerChecks {
		flags |= syscall.O_NOFOLLOW
	}
	fd, err := syscall.Open(dir, flags, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(dir, flags, 0)
	}
	if err != nil {
		if err == syscall.ENOENT {
			return -1, newErr(ErrNotFound, "cache directory "+dir+" does not exist")
		}
		// O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR (or ELOOP).
		var lst syscall.Stat_t
		if (err == syscall.ELOOP || err == syscall.ENOTDIR) && syscall.Lstat(dir, &lst) == nil &&
			lst.Mode&syscall.S_IFMT == syscall.S_IFLNK {
			return -1, newErr(ErrUnsafe, "cache directory "+dir+" is a symlink; refusing it while running as root")
		}
		if err == syscall.ENOTDIR {
			return -1, newErr(ErrUnsafe, "cache directory "+dir+" is not a directory")
		}
		return -1, newErr(ErrIO, "cannot open cache directory "+dir+": "+errnoText(err))
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return -1, newErr(ErrIO, "cannot stat cache directory "+dir+": "+errnoText(err))
	}
	if e := checkDirStat(&st, dir, s); e != nil {
		syscall.Close(fd)
		return -1, e
	}
	return fd, nil
}

func checkDirStat(st *syscall.Stat_t, dir string, s Safety) error {
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return newErr(ErrUnsafe, "cache directory "+dir+" is not a directory")
	}
	if !s.OwnerChecks {
		return nil
	}
	if st.Uid != 0 {
		return newErr(ErrUnsafe, fmt.Sprintf("cache directory %s is owned by uid %d, not root; "+
			"refusing it while running as root", dir, st.Uid))
	}
	if st.Mode&(syscall.S_IWGRP|syscall.S_IWOTH) != 0 {
		return newErr(ErrUnsafe, "cache directory "+dir+" is group- or world-writable (mode "+
			modeString(st.Mode)+"); refusing it")
	}
	return nil
}

// readFileAt reads name relative to dirfd with O_NOFOLLOW, checks it is a
// regular file with one link, within limit (by fstat, before reading) and,
// under owner checks, owned by root and not group- or world-writable.
// Errors: ErrNotFound, ErrUnsafe, ErrTooLarge, ErrTruncated (empty), ErrIO.
func readFileAt(dirfd int, name, shown string, limit int64, s Safety) ([]byte, error) {
	// O_NONBLOCK: a planted FIFO must not hang the reader before fstat says so.
	flags := syscall.O_RDONLY | syscall.O_CLOEXEC | syscall.O_NONBLOCK | syscall.O_NOFOLLOW
	fd, err := syscall.Openat(dirfd, name, flags, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Openat(dirfd, name, flags, 0)
	}
	if err != nil {
		switch err {
		case syscall.ENOENT:
			return nil, newErr(ErrNotFound, shown+" does not exist")
		case syscall.ELOOP:
			return nil, newErr(ErrUnsafe, shown+" is a symlink; refusing to follow it")
		}
		return nil, newErr(ErrIO, "cannot open "+shown+": "+errnoText(err))
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, newErr(ErrIO, "cannot stat "+shown+": "+errnoText(err))
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, newErr(ErrUnsafe, shown+" is not a regular file")
	}
	if st.Nlink > 1 {
		return nil, newErr(ErrUnsafe, fmt.Sprintf("%s has %d hard links; refusing it", shown, st.Nlink))
	}
	if s.OwnerChecks && st.Uid != 0 {
		return nil, newErr(ErrUnsafe, fmt.Sprintf("%s is owned by uid %d, not root; refusing it "+
			"while running as root", shown, st.Uid))
	}
	if s.OwnerChecks && st.Mode&(syscall.S_IWGRP|syscall.S_IWOTH) != 0 {
		return nil, newErr(ErrUnsafe, shown+" is group- or world-writable (mode "+
			modeString(st.Mode)+"); refusing it")
	}
	if st.Size > limit {
		return nil, newErr(ErrTooLarge, fmt.Sprintf("%s is %d bytes, over the %d-byte limit; "+
			"refusing to read it", shown, st.Size, limit))
	}
	if st.Size == 0 {
		return nil, newErr(ErrTruncated, shown+" is empty (truncated)")
	}
	out := make([]byte, st.Size)
	got := 0
	for got < len(out) {
		n, err := syscall.Read(fd, out[got:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, newErr(ErrIO, "cannot read "+shown+": "+errnoText(err))
		}
		if n == 0 {
			break
		}
		got += n
	}
	return out[:got], nil // shrank under us: the parser reports it as truncated
}

// EntryFileName is "<build id>.json".
func EntryFileName(buildID string) string { return buildID + ".json" }

// LoadFor returns the usable offsets of kernel from the entry in cacheDir
// (already resolved), with the checks s. Errors: every code but
// ErrBadCacheDir.
func LoadFor(cacheDir string, kernel KernelID, s Safety) (*Offsets, error) {
	if !validBuildID(kernel.BuildID) {
		return nil, newErr(ErrNoKernelID, "invalid kernel build id \""+kernel.BuildID+"\"")
	}
	dfd, err := openCacheDir(cacheDir, s)
	if err != nil {
		if e := err.(*Error); e.Code == ErrNotFound {
			e.Msg = "not calibrated: " + e.Msg
		}
		return nil, err
	}
	name := EntryFileName(kernel.BuildID)
	path := cacheDir + "/" + name
	b, err := readFileAt(dfd, name, path, MaxEntryBytes, s)
	syscall.Close(dfd)
	if err != nil {
		if e := err.(*Error); e.Code == ErrNotFound {
			e.Msg = "not calibrated: no entry for kernel " + kernel.BuildID + " (" + kernel.Release +
				") in " + cacheDir
		}
		return nil, err
	}
	o, err := ParseEntry(b, path, kernel.BuildID)
	if err != nil {
		return nil, err
	}
	o.Path = path
	return o, nil
}

// Load returns the offsets of the running kernel. cacheDir "" means
// $OFFSETPROBE_CACHE_DIR, else /var/cache/offsetprobe. Errors: every code.
func Load(cacheDir string) (*Offsets, error) {
	dir, err := ResolveCacheDir(cacheDir)
	if err != nil {
		return nil, err
	}
	k, err := ReadKernelID()
	if err != nil {
		return nil, err
	}
	return LoadFor(dir, k, DefaultSafety())
}
