// SPDX-License-Identifier: GPL-2.0-only

package offsetprobe

import "errors"

// The error codes of the reader, one sentinel each: test them with
// errors.Is(err, offsetprobe.ErrUnsafe). Their text is the C++ reader's
// to_string(ErrorCode), so that the three readers name a verdict alike.
var (
	// ErrNotFound: no entry for this kernel (or no cache dir): run calibrate.
	ErrNotFound = errors.New("not_found")
	// ErrCorrupt: not JSON, or nested too deeply.
	ErrCorrupt = errors.New("corrupt")
	// ErrTruncated: JSON that ends early (an interrupted write or copy), or empty.
	ErrTruncated = errors.New("truncated")
	// ErrSchemaInvalid: JSON, but not a valid offsetprobe/v1 entry.
	ErrSchemaInvalid = errors.New("schema_invalid")
	// ErrFutureSchema: written by a newer offsetprobe.
	ErrFutureSchema = errors.New("future_schema")
	// ErrWrongBuildID: an entry for another kernel build.
	ErrWrongBuildID = errors.New("wrong_build_id")
	// ErrUnsafe: symlink, hard link, not a regular file, bad owner or mode.
	ErrUnsafe = errors.New("unsafe")
	// ErrTooLarge: bigger than the size cap.
	ErrTooLarge = errors.New("too_large")
	// ErrIO: a read or open failed otherwise.
	ErrIO = errors.New("io")
	// ErrBadCacheDir: the configured cache dir is unusable (e.g. a relative
	// OFFSETPROBE_CACHE_DIR).
	ErrBadCacheDir = errors.New("bad_cache_dir")
	// ErrNoKernelID: neither a build id nor /proc/version could be read.
	ErrNoKernelID = errors.New("no_kernel_id")
	// ErrFieldUnknown: RewriteConstants was asked for a field that is not
	// calibrated and validated on this kernel (Go only: the C++ reader
	// returns an empty optional).
	ErrFieldUnknown = errors.New("field_unknown")
)

// Error is every error the reader returns: a code (one of the sentinels
// above, matched by errors.Is) and a message that says what and where.
type Error struct {
	Code error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the code, so errors.Is(err, ErrUnsafe) works.
func (e *Error) Unwrap() error { return e.Code }

func newErr(code error, msg string) *Error { return &Error{Code: code, Msg: msg} }

// Verdict names the outcome of a load as the shared fixtures do: "ok" for
// nil, else the code's name ("unsafe", "wrong_build_id", ...).
func Verdict(err error) string {
	if err == nil {
		return "ok"
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code.Error()
	}
	return "io"
}
