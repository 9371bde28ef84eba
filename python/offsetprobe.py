# SPDX-License-Identifier: GPL-2.0-only
"""offsetprobe: read the offsetprobe cache from Python (BCC agents).

The kernel struct field offsets that ``offsetprobe calibrate`` found on this
host, with exactly the checks of the C++ reader (cache/offsetprobe_reader.hpp);
the C++, Go and Python readers are all tested on the same fixtures
(tests/fixtures/cache)::

    import offsetprobe
    offs = offsetprobe.load_offsets()          # raises offsetprobe.Error
    gl = offs.offset("task_struct.group_leader")   # None when unknown
    b = BPF(text=prog, cflags=offsetprobe.bcc_cflags(offs))

Safety rules (a planted cache file would steer the agent's kernel reads):
  - the entry is opened with O_NOFOLLOW relative to the opened cache dir; it
    must be a regular file with one link, at most MAX_ENTRY_BYTES (checked with
    fstat before reading);
  - when running as root, the cache dir and the file must be owned by root and
    not group- or world-writable, and the dir must not be a symlink;
  - the schema must be "offsetprobe/v1" (a newer one is refused, not misread),
    the entry's build id must be the running kernel's, and JSON nested deeper
    than MAX_JSON_DEPTH is refused before parsing;
  - only fields that were calibrated AND validated, with an offset below
    MAX_OFFSET, are returned. Nothing else is ever an offset (never 0 for
    "unknown").

Every failure is an ``Error`` subclass with a ``code`` that is the C++
reader's ``to_string(ErrorCode)``: ``except offsetprobe.Unsafe`` or
``e.code == "unsafe"``. Needs only the standard library.
"""

import errno
import hashlib
import json
import os
import re
import stat
import struct

SCHEMA = "offsetprobe/v1"
DEFAULT_CACHE_DIR = "/var/cache/offsetprobe"
CACHE_DIR_ENV = "OFFSETPROBE_CACHE_DIR"
PROC_VERSION_PREFIX = "procversion-"
MAX_ENTRY_BYTES = 1 << 20  # a real entry is a few KiB
MAX_JSON_DEPTH = 32  # entries nest 4 levels deep; deeper is hostile or broken
MAX_OFFSET = 65536  # exclusive: no struct read is near 64 KiB
MAX_FIELD_SIZE = 4096
# Pixie's override names, as `offsetprobe export --format bcc-cflags` adds them.
PIXIE_NAMES = (("task_struct.group_leader", "GROUP_LEADER_OFFSET_OVERRIDE"),
               ("task_struct.start_boottime", "START_BOOTTIME_OFFSET_OVERRIDE"))


class Error(Exception):
    """Why no offsets could be had. ``code`` names the verdict."""
    code = "io"

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class NotFound(Error):
    """No entry for this kernel (or no cache dir): run offsetprobe calibrate."""
    code = "not_found"


class Corrupt(Error):
    """Not JSON, or nested too deeply."""
    code = "corrupt"


class Truncated(Error):
    """JSON that ends early (an interrupted write or copy), or an empty file."""
    code = "truncated"


class SchemaInvalid(Error):
    """JSON, but not a valid offsetprobe/v1 entry."""
    code = "schema_invalid"


class FutureSchema(Error):
    """Written by a newer offsetprobe."""
    code = "future_schema"


class WrongBuildId(Error):
    """An entry for another kernel build."""
    code = "wrong_build_id"


class Unsafe(Error):
    """Symlink, hard link, not a regular file, bad owner or mode."""
    code = "unsafe"


class TooLarge(Error):
    """Bigger than the size cap."""
    code = "too_large"


class IOFailure(Error):
    """A read or open failed otherwise."""
    code = "io"


class BadCacheDir(Error):
    """The configured cache dir is unusable (e.g. a relative env value)."""
    code = "bad_cache_dir"


class NoKernelId(Error):
    """Neither a build id nor /proc/version could be read."""
    code = "no_kernel_id"


class FieldUnknown(Error):
    """A field bcc_cflags(required=...) needs is not calibrated and validated."""
    code = "field_unknown"


def verdict(exc):
    """The shared fixtures' name of an outcome: "ok" for None, else the code."""
    return "ok" if exc is None else getattr(exc, "code", "io")


# --------------------------------------------------------------------------
# Kernel identity.

class KernelId:
    """The cache key of a kernel build."""

    def __init__(self, build_id, strong, release="", version="", machine=""):
        self.build_id = build_id  # lowercase hex, or "procversion-<sha256 hex>"
        self.strong = strong  # True: GNU build id; False: /proc/version digest
        self.release, self.version, self.machine = release, version, machine

    @property
    def source(self):
        return "gnu-build-id" if self.strong else "proc-version-digest"

    def __repr__(self):
        return "KernelId(%r, %s)" % (self.build_id, self.source)


def _is_lower_hex(s):
    return all(c in "0123456789abcdef" for c in s)


def valid_build_id(build_id):
    """The key forms offsetprobe writes (also what keeps it a safe file name)."""
    if build_id.startswith(PROC_VERSION_PREFIX):
        rest = build_id[len(PROC_VERSION_PREFIX):]
        return len(rest) == 64 and _is_lower_hex(rest)
    return 2 <= len(build_id) <= 128 and len(build_id) % 2 == 0 and _is_lower_hex(build_id)


def parse_gnu_build_id(blob):
    """The NT_GNU_BUILD_ID note (type 3, name "GNU") of a raw sequence of ELF
    notes, as lowercase hex; None when there is none, or when the blob is
    malformed before one is found."""
    off, size = 0, len(blob)
    while off + 12 <= size:
        namesz, descsz, typ = struct.unpack_from("<III", blob, off)
        name_off = off + 12
        desc_off = name_off + ((namesz + 3) & ~3)
        if desc_off + descsz > size:
            return None  # a note runs past the end: trust nothing after
        if (typ == 3 and namesz == 4 and blob[name_off:name_off + 4] == b"GNU\0"
                and 1 <= descsz <= 64):
            return blob[desc_off:desc_off + descsz].hex()
        off = desc_off + ((descsz + 3) & ~3)
    return None


def make_kernel_id(notes, proc_version, release, version, machine):
    """The pure part of read_kernel_id()."""
    bid = parse_gnu_build_id(notes) if notes is not None else None
    if bid:
        return KernelId(bid, True, release, version, machine)
    text = "\n".join((proc_version, release, version, machine))
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    return KernelId(PROC_VERSION_PREFIX + digest, False, release, version, machine)


def _read_small_file(path, cap=1 << 16):
    try:
        with open(path, "rb") as f:
            return f.read(cap + 4096)
    except OSError:
        return None


def read_kernel_id(notes_path="/sys/kernel/notes"):
    """The running kernel's key. Raises NoKernelId."""
    u = os.uname()
    notes = _read_small_file(notes_path)
    if notes is not None and parse_gnu_build_id(notes):
        return make_kernel_id(notes, "", u.release, u.version, u.machine)
    pv = _read_small_file("/proc/version")
    if pv is None:
        raise NoKernelId("no GNU build id in /sys/kernel/notes and cannot read "
                         "/proc/version to identify the kernel")
    return make_kernel_id(None, pv.decode("utf-8", "surrogateescape"),
                          u.release, u.version, u.machine)


# --------------------------------------------------------------------------
# Cache directory and safe file access.

def resolve_cache_dir(explicit=None):
    """explicit, else $OFFSETPROBE_CACHE_DIR (absolute; if it exists, a
    directory), else /var/cache/offsetprobe. Raises BadCacheDir."""
    if explicit:
        return explicit
    v = os.environ.get(CACHE_DIR_ENV, "")
    if not v:
        return DEFAULT_CACHE_DIR
    if not v.startswith("/"):
        raise BadCacheDir("%s=%s is not an absolute path; refusing it" % (CACHE_DIR_ENV, v))
    if os.path.exists(v) and not os.path.isdir(v):
        raise BadCacheDir("%s=%s exists but is not a directory" % (CACHE_DIR_ENV, v))
    return v


def _default_owner_checks():
    return os.geteuid() == 0


def _mode(m):
    return "%04o" % (m & 0o7777)


def _open_cache_dir(path, owner_checks):
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | (os.O_NOFOLLOW if owner_checks else 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise NotFound("cache directory %s does not exist" % path) from None
        # O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR (or ELOOP).
        if e.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):
            raise Unsafe("cache directory %s is a symlink; refusing it while running as root"
                         % path) from None
        if e.errno == errno.ENOTDIR:
            raise Unsafe("cache directory %s is not a directory" % path) from None
        raise IOFailure("cannot open cache directory %s: %s" % (path, e.strerror)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISDIR(st.st_mode):
            raise Unsafe("cache directory %s is not a directory" % path)
        if owner_checks and st.st_uid != 0:
            raise Unsafe("cache directory %s is owned by uid %d, not root; refusing it while "
                         "running as root" % (path, st.st_uid))
        if owner_checks and st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise Unsafe("cache directory %s is group- or world-writable (mode %s); refusing it"
                         % (path, _mode(st.st_mode)))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_file_at(dirfd, name, shown, cap, owner_checks):
    # O_NONBLOCK: a planted FIFO must not hang the reader before fstat says so.
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW
    try:
        fd = os.open(name, flags, dir_fd=dirfd)
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise NotFound("%s does not exist" % shown) from None
        if e.errno == errno.ELOOP:
            raise Unsafe("%s is a symlink; refusing to follow it" % shown) from None
        raise IOFailure("cannot open %s: %s" % (shown, e.strerror)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Unsafe("%s is not a regular file" % shown)
        if st.st_nlink > 1:
            raise Unsafe("%s has %d hard links; refusing it" % (shown, st.st_nlink))
        if owner_checks and st.st_uid != 0:
            raise Unsafe("%s is owned by uid %d, not root; refusing it while running as root"
                         % (shown, st.st_uid))
        if owner_checks and st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise Unsafe("%s is group- or world-writable (mode %s); refusing it"
                         % (shown, _mode(st.st_mode)))
        if st.st_size > cap:
            raise TooLarge("%s is %d bytes, over the %d-byte limit; refusing to read it"
                           % (shown, st.st_size, cap))
        if st.st_size == 0:
            raise Truncated("%s is empty (truncated)" % shown)
        chunks, got = [], 0
        while got < st.st_size:
            try:
                b = os.read(fd, st.st_size - got)
            except InterruptedError:
                continue
            except OSError as e:
                raise IOFailure("cannot read %s: %s" % (shown, e.strerror)) from None
            if not b:
                break  # shrank under us: the parser reports it as truncated
            chunks.append(b)
            got += len(b)
        return b"".join(chunks)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# Parsing and validation.

def _reject_constant(name):
    # json accepts NaN and Infinity by default; they are not JSON, and the C++
    # reader refuses them.
    raise ValueError("%s is not JSON" % name)


def _parse_json(text, what):
    """Depth-limited parse. Raises Corrupt, Truncated."""
    depth, in_string, escape, anything = 0, False, False, False
    for c in text:  # bytes: the same scan as the C++ reader's
        if in_string:
            if escape:
                escape = False
            elif c == 0x5C:  # backslash
                escape = True
            elif c == 0x22:
                in_string = False
            continue
        if c == 0x22:
            in_string = True
        elif c in (0x5B, 0x7B):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise Corrupt("%s is nested more than %d levels deep; refusing to parse it"
                              % (what, MAX_JSON_DEPTH))
        elif c in (0x5D, 0x7D) and depth > 0:
            depth -= 1
        if c not in (0x20, 0x0A, 0x09, 0x0D):
            anything = True
    if not anything:
        raise Truncated("%s holds no JSON (empty or truncated)" % what)
    try:
        s = text.decode("utf-8")  # strict: a byte that is not UTF-8 is corrupt
    except UnicodeDecodeError:
        raise Corrupt("%s is not valid JSON (not UTF-8)" % what) from None
    if s.startswith("\ufeff"):
        # nlohmann's parser skips a byte order mark at the start; so must this
        # reader, or the two would disagree on a file (fixture utf8_bom).
        s = s[1:]
    try:
        doc = json.loads(s, parse_constant=_reject_constant)
        # json keeps a \ud800 escape with no low surrogate; nlohmann refuses
        # the text, and so does this reader (encoding such a string fails).
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
        return doc
    except json.JSONDecodeError as e:
        # An error at the very end of the input means the document stopped
        # early; an unterminated string can only be one that the end cut.
        if e.pos >= len(s.rstrip(" \t\r\n")) or e.msg.startswith("Unterminated string"):
            raise Truncated("%s ends early after %d bytes (truncated JSON)"
                            % (what, len(text))) from None
        raise Corrupt("%s is not valid JSON (byte %d)" % (what, e.pos)) from None
    except UnicodeEncodeError:
        raise Corrupt("%s is not valid JSON (an unpaired UTF-16 surrogate escape)" % what) from None
    except (ValueError, RecursionError):
        raise Corrupt("%s is not valid JSON" % what) from None


def _unsigned(v):
    """v when it is a non-negative JSON integer (not a float, not a bool: in
    Python True is an int), else None. Integers past 64 bits are floats to
    the C++ reader, so they are refused here too."""
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < (1 << 64):
        return v
    return None


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*\Z")


def valid_name(s):
    """An identifier path ("task_struct.signal.pids"), kept narrow so names go
    into C macros and comments without escaping."""
    return (isinstance(s, str) and 0 < len(s) <= 128 and bool(_NAME.match(s))
            and not s.endswith("."))


_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z\Z")


def valid_timestamp(s):
    """"YYYY-MM-DDTHH:MM:SSZ" with optional fractional seconds."""
    return isinstance(s, str) and s.isascii() and bool(_TIMESTAMP.match(s))


def _string(obj, key):
    v = obj.get(key) if isinstance(obj, dict) else None
    return v if isinstance(v, str) else None


def _check_schema(j, what):
    if not isinstance(j, dict):
        raise SchemaInvalid("%s: top level is not a JSON object" % what)
    schema = _string(j, "schema")
    if schema is None:
        raise SchemaInvalid('%s: missing or non-string "schema"' % what)
    if schema == SCHEMA:
        return
    prefix = "offsetprobe/v"
    num = schema[len(prefix):] if schema.startswith(prefix) else ""
    if num and len(num) < 9 and all(c in "0123456789" for c in num) and int(num) > 1:
        raise FutureSchema('%s: schema "%s" was written by a newer offsetprobe; this reader '
                           'understands "%s" only (upgrade the reader or recalibrate)'
                           % (what, schema, SCHEMA))
    raise SchemaInvalid('%s: unknown schema "%s" (expected "%s")' % (what, schema, SCHEMA))


def _check_header(j, what, expected_build_id):
    _check_schema(j, what)

    def bad(m):
        return SchemaInvalid("%s: %s" % (what, m))
    k = j.get("kernel")
    if not isinstance(k, dict):
        raise bad('missing "kernel" object')
    bid, src = _string(k, "build_id"), _string(k, "build_id_source")
    rel, ver, mach = _string(k, "release"), _string(k, "version"), _string(k, "machine")
    if bid is None or not valid_build_id(bid):
        raise bad('"kernel.build_id" is missing or not a valid build id')
    if src not in ("gnu-build-id", "proc-version-digest"):
        raise bad('"kernel.build_id_source" must be "gnu-build-id" or "proc-version-digest"')
    strong = src == "gnu-build-id"
    if strong == bid.startswith(PROC_VERSION_PREFIX):
        raise bad('"kernel.build_id_source" does not match the form of "kernel.build_id"')
    if rel is None or ver is None or mach is None:
        raise bad('"kernel.release", "kernel.version" and "kernel.machine" must be strings')
    kernel = KernelId(bid, strong, rel, ver, mach)
    t = j.get("tool")
    if not isinstance(t, dict):
        raise bad('missing "tool" object')
    if _string(t, "name") is None or _string(t, "version") is None:
        raise bad('"tool.name" and "tool.version" must be strings')
    at = _string(j, "calibrated_at")
    if at is None or not valid_timestamp(at):
        raise bad('"calibrated_at" is missing or not an ISO-8601 UTC time (YYYY-MM-DDTHH:MM:SSZ)')
    if not isinstance(j.get("calibration"), dict):
        raise bad('missing "calibration" object')
    if expected_build_id is not None and expected_build_id != bid:
        raise WrongBuildId("%s: entry is for kernel build %s (%s), but the running kernel is %s; "
                           "refusing to use offsets of another build"
                           % (what, bid, rel, expected_build_id))
    return kernel, at


class Field:
    """One usable offset."""

    def __init__(self, offset, size, alias_of=None):
        self.offset, self.size, self.alias_of = offset, size, alias_of

    def __repr__(self):
        return "Field(offset=%d, size=%d%s)" % (
            self.offset, self.size, ", alias_of=%r" % self.alias_of if self.alias_of else "")


class Offsets:
    """The usable offsets of one kernel, by full name ("task_struct.pid") and
    by alias ("task_struct.real_start_time"): only calibrated and validated
    fields. ``omitted`` lists the others as (name, why)."""

    def __init__(self, kernel, calibrated_at):
        self.kernel = kernel
        self.calibrated_at = calibrated_at
        self.path = None
        self.fields = {}
        self.omitted = []

    def offset(self, name):
        """The offset of a field, or None when it is not known for sure."""
        f = self.fields.get(name)
        return f.offset if f else None


def _extract_offsets(cal, what, out):
    def bad(m):
        return SchemaInvalid("%s: %s" % (what, m))
    fields = cal.get("fields")
    if not isinstance(fields, list):
        raise bad('missing "calibration.fields" array')
    # The calibrator searches only below the task_struct slab object size it
    # recorded; an offset whose field ends past it cannot have come from it.
    max_end = _unsigned(cal.get("task_struct_size"))
    for i, f in enumerate(fields):
        at = "calibration.fields[%d]" % i
        if not isinstance(f, dict):
            raise bad(at + " is not an object")
        name, st, mem = _string(f, "name"), _string(f, "struct"), _string(f, "member")
        status, validation = _string(f, "status"), _string(f, "validation")
        if not (valid_name(name) and valid_name(st) and valid_name(mem)):
            raise bad(at + ': "name", "struct" and "member" must be identifier paths')
        at += " (%s)" % name
        if name != st + "." + mem:
            raise bad(at + ': "name" is not "struct.member"')
        if status not in ("calibrated", "ambiguous", "unresolved", "not_present"):
            raise bad(at + ': "status" must be calibrated, ambiguous, unresolved or not_present')
        if validation not in ("passed", "failed", "not_run"):
            raise bad(at + ': "validation" must be passed, failed or not_run')
        size = _unsigned(f.get("size"))
        if size is None or size > MAX_FIELD_SIZE:
            raise bad(at + ': "size" must be an integer in 0..%d' % MAX_FIELD_SIZE)
        if "offset" not in f:
            raise bad(at + ': missing "offset" (null when not calibrated)')
        raw = f["offset"]
        off = None
        if raw is not None:
            off = _unsigned(raw)
            if off is None:
                raise bad(at + ': "offset" is not a non-negative integer')
            if off >= MAX_OFFSET:
                raise bad(at + ': "offset" %d is not below %d' % (off, MAX_OFFSET))
            if max_end is not None and off + size > max_end:
                raise bad(at + ': "offset" %d + size %d is past task_struct_size %d'
                          % (off, size, max_end))
        calibrated = status == "calibrated"
        if calibrated and raw is None:
            raise bad(at + ': calibrated but "offset" is null')
        if not calibrated and raw is not None:
            raise bad(at + ": has an offset but is " + status)
        aliases = []
        if "aliases" in f:
            if not isinstance(f["aliases"], list):
                raise bad(at + ': "aliases" is not an array')
            for a in f["aliases"]:
                if not valid_name(a):
                    raise bad(at + ": an alias is not an identifier")
                aliases.append(st + "." + a)
        if not calibrated:
            out.omitted.append((name, status))
            continue
        if validation != "passed":
            out.omitted.append((name, "calibrated but validation " + validation))
            continue
        if name in out.fields:
            raise bad(at + ": field listed twice")
        out.fields[name] = Field(off, size)
        for a in aliases:
            if a in out.fields:
                raise bad(at + ": alias %s collides with another name" % a)
            out.fields[a] = Field(off, size, alias_of=name)


def parse_entry(data, what, expected_build_id=None):
    """Bytes of a cache entry -> Offsets. Raises Corrupt, Truncated,
    SchemaInvalid, FutureSchema, WrongBuildId."""
    j = _parse_json(data, what)
    kernel, at = _check_header(j, what, expected_build_id)
    out = Offsets(kernel, at)
    _extract_offsets(j["calibration"], what, out)
    return out


def entry_file_name(build_id):
    return build_id + ".json"


def load_offsets_for(cache_dir, kernel, owner_checks=None):
    """The entry of ``kernel`` in ``cache_dir`` (already resolved). Owner and
    mode checks apply by default exactly when running as root. Raises every
    Error but BadCacheDir."""
    if owner_checks is None:
        owner_checks = _default_owner_checks()
    if not valid_build_id(kernel.build_id):
        raise NoKernelId('invalid kernel build id "%s"' % kernel.build_id)
    try:
        dfd = _open_cache_dir(cache_dir, owner_checks)
    except NotFound as e:
        raise NotFound("not calibrated: " + e.message) from None
    name = entry_file_name(kernel.build_id)
    path = cache_dir + "/" + name
    try:
        data = _read_file_at(dfd, name, path, MAX_ENTRY_BYTES, owner_checks)
    except NotFound:
        raise NotFound("not calibrated: no entry for kernel %s (%s) in %s"
                       % (kernel.build_id, kernel.release, cache_dir)) from None
    finally:
        os.close(dfd)
    out = parse_entry(data, path, kernel.build_id)
    out.path = path
    return out


def load_offsets(cache_dir=None):
    """The offsets of the running kernel. cache_dir None: $OFFSETPROBE_CACHE_DIR,
    else /var/cache/offsetprobe. Raises Error (every code)."""
    d = resolve_cache_dir(cache_dir)
    return load_offsets_for(d, read_kernel_id())


# --------------------------------------------------------------------------
# BCC.

def macro_name(field):
    """"task_struct.group_leader" -> "OFFSETPROBE_TASK_STRUCT_GROUP_LEADER"."""
    out = ["OFFSETPROBE_"]
    for c in field:
        if "a" <= c <= "z":
            out.append(c.upper())
        elif "A" <= c <= "Z" or "0" <= c <= "9":
            out.append(c)
        else:
            out.append("_")
    return "".join(out)


def bcc_cflags(offsets, required=()):
    """The offsets as BCC -D flags, the same list as
    ``offsetprobe export --format bcc-cflags`` prints: one
    -DOFFSETPROBE_<STRUCT>_<MEMBER>=N per usable field (aliases included),
    then Pixie's GROUP_LEADER_OFFSET_OVERRIDE and
    START_BOOTTIME_OFFSET_OVERRIDE when known. Fields in ``required`` that are
    unknown raise FieldUnknown, so nothing compiles with a missing offset."""
    missing = [r for r in required if r not in offsets.fields]
    if missing:
        raise FieldUnknown("not calibrated and validated on this kernel: %s; refusing to "
                           "compile with a guessed offset" % ", ".join(missing))
    flags, macros = [], {}
    for name in sorted(offsets.fields):
        m = macro_name(name)
        if m in macros:
            raise SchemaInvalid("fields %s and %s both export as %s" % (macros[m], name, m))
        macros[m] = name
        flags.append("-D%s=%d" % (m, offsets.fields[name].offset))
    for field, macro in PIXIE_NAMES:
        if field in offsets.fields:
            flags.append("-D%s=%d" % (macro, offsets.fields[field].offset))
    return flags
