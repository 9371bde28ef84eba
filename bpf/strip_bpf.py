#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Strips a BPF object for embedding: DWARF and .BTF.ext go, .BTF stays.

Usage: strip_bpf.py [--keep-func-info] LLVM_OBJCOPY IN.o OUT.o

With --keep-func-info, .BTF.ext stays with its function info only (its line
info is emptied): a program with global subprograms (OP_SUBPROG,
compat.bpf.h) needs it, or the kernel verifies them as static ones, at every
call.

libbpf needs .BTF (the maps' definitions, the .rodata constants' names), not
.BTF.ext: its line and function info only make verifier logs readable, and
the unrolled reader carried 139 KB of it, parsed on every open (libbpf) and
checked on every load (the kernel). Opening and loading the reader took
~15 ms here with it, ~6 ms without (docs/calibrate-benchmark.md).

.BTF.ext also holds CO-RE relocations. offsetprobe's programs have none (they
run where there is no kernel BTF to relocate against), and a program that
gained one would silently lose it here: this script refuses such an object.
The unstripped object stays in the build directory (NAME.full.bpf.o) for
reading verifier logs with line numbers.
"""
import struct
import subprocess
import sys


def btf_ext(data):
    """The bytes of the .BTF.ext section of ELF64 `data`, or None."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        sys.exit("strip_bpf.py: not a 64-bit ELF object")
    end = "<" if data[5] == 1 else ">"
    shoff, = struct.unpack_from(end + "Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x3A)

    def section(i):
        name, _, _, _, off, size = struct.unpack_from(end + "IIQQQQ", data, shoff + i * shentsize)
        return name, off, size

    _, stroff, _ = section(shstrndx)
    for i in range(shnum):
        name, off, size = section(i)
        if data[stroff + name:data.index(b"\0", stroff + name)] == b".BTF.ext":
            return data[off:off + size], end, off
    return None, end, None


def core_relo_len(ext, end):
    # struct btf_ext_header: magic u16, version u8, flags u8, hdr_len u32,
    # func_info_off/len, line_info_off/len u32, then (hdr_len >= 32)
    # core_relo_off/len u32.
    hdr_len, = struct.unpack_from(end + "I", ext, 4)
    if hdr_len < 32:
        return 0
    return struct.unpack_from(end + "I", ext, 28)[0]


def main():
    args = sys.argv[1:]
    keep_func_info = args[:1] == ["--keep-func-info"]
    if keep_func_info:
        args = args[1:]
    objcopy, src, dst = args[:3]
    with open(src, "rb") as f:
        data = f.read()
    ext, end, _ = btf_ext(data)
    if ext is not None and core_relo_len(ext, end):
        sys.exit(f"strip_bpf.py: {src} has CO-RE relocations in .BTF.ext; "
                 "stripping it would drop them (offsetprobe's programs must not use CO-RE)")
    if not keep_func_info:
        subprocess.run([objcopy, "--strip-debug", "--remove-section=.BTF.ext",
                        "--remove-section=.rel.BTF.ext", src, dst], check=True)
        return
    subprocess.run([objcopy, "--strip-debug", src, dst], check=True)
    with open(dst, "rb") as f:
        out = bytearray(f.read())
    ext, end, off = btf_ext(bytes(out))
    if ext is None:
        sys.exit(f"strip_bpf.py: {src} has no .BTF.ext to keep")
    # struct btf_ext_header: line_info_len (u32) at byte 20.
    struct.pack_into(end + "I", out, off + 20, 0)
    with open(dst, "wb") as f:
        f.write(out)


if __name__ == "__main__":
    main()
