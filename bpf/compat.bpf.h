/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One source, two backends. Every NAME.bpf.c is compiled twice: by clang at
 * build time into a libbpf object (skeleton), and, embedded as a string
 * (bpf/embed_bcc.py, which defines OP_BCC), by libbcc at run time in
 * offsetprobe-bcc. What differs between the two is said here, once:
 *
 * - Load-time constants. libbpf: `const volatile` globals in .rodata that the
 *   loader writes before load, so the verifier sees constants. BCC has no
 *   .rodata: the loader passes each value as a -D macro (offsets under their
 *   export names, as a BCC consumer of `export --format bcc-cflags` does), and
 *   the constant is a plain `static const` that clang folds away. A constant
 *   array read at an index the compiler cannot fold needs an unrolled loop
 *   (OP_UNROLL) or constant indices on BCC.
 * - Maps. libbpf: BTF-defined maps in ".maps"; BCC: its BPF_* macros. Map
 *   sizes that the loader sets (bpf_map__set_max_entries) come to BCC as -D
 *   macros with a default for libbpf (see each program).
 * - Map calls are written as libbpf's bpf_map_*_elem(&map, ...) and
 *   bpf_ringbuf_reserve(&map, size, 0): embed_bcc.py turns them into BCC's
 *   map.lookup()/insert()/update()/delete()/ringbuf_reserve(), which BCC's
 *   rewriter accepts only as literal text, never inside a macro (so no macro
 *   here can do it).
 * - Programs. libbpf: SEC() names the attach point, and the loader chooses
 *   what to load with autoload. BCC: every non-static function is a program
 *   and is compiled, so a trigger program BCC will not attach is left out by
 *   OP_WANT_* (the loader passes what it needs; libbpf builds them all).
 *   Program names are the same for both backends: the loaders attach by name.
 * - Subprograms (OP_SUBPROG). libbpf: global functions, verified once each;
 *   BCC: inlined.
 */
#ifndef OFFSETPROBE_BPF_COMPAT_H
#define OFFSETPROBE_BPF_COMPAT_H

#ifdef OP_BCC

/* BCC includes its helpers (and the host's kernel headers) itself. */
#define OP_LICENSE_GPL /* BCC loads its programs as GPL */
#define OP_SEC(name)
#define OP_CONST(type, name, macro, dflt) static const type name = (macro)
#define OP_CONST_ARRAY(type, name, n, macro) static const type name[n] = {macro}
#define OP_ARRAY_MAP(name, value, n) BPF_ARRAY(name, value, n)
#define OP_PERCPU_ARRAY_MAP(name, value, n) BPF_PERCPU_ARRAY(name, value, n)
#define OP_HASH_MAP(name, key, value, n) BPF_HASH(name, key, value, n)
#define OP_RINGBUF_MAP(name, bytes) BPF_RINGBUF_OUTPUT(name, (bytes) / 4096)
/* The bounds are constants on BCC: unrolled, every index is a constant too. */
#define OP_UNROLL _Pragma("unroll")
/* Every non-static function is a program to BCC: its subprograms inline. */
#define OP_SUBPROG static __always_inline
#ifndef OP_WANT_TP
#define OP_WANT_TP 0
#endif
#ifndef OP_WANT_RAW
#define OP_WANT_RAW 0
#endif
#ifndef OP_WANT_UPROBE
#define OP_WANT_UPROBE 0
#endif
/* The perf-event exit tracepoint is never attached (the raw one is). */
#define OP_WANT_EXIT_TP 0

#else /* libbpf */

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define OP_LICENSE_GPL char LICENSE[] SEC("license") = "GPL"
#define OP_SEC(name) SEC(name)
#define OP_CONST(type, name, macro, dflt) const volatile type name = (dflt)
#define OP_CONST_ARRAY(type, name, n, macro) const volatile type name[n] = {}
#define OP_MAP_(map_type, name, key_t, value_t, n)                                                 \
  struct {                                                                                         \
    __uint(type, map_type);                                                                        \
    __uint(max_entries, n);                                                                        \
    __type(key, key_t);                                                                            \
    __type(value, value_t);                                                                        \
  } name SEC(".maps")
#define OP_ARRAY_MAP(name, value, n) OP_MAP_(BPF_MAP_TYPE_ARRAY, name, __u32, value, n)
#define OP_PERCPU_ARRAY_MAP(name, value, n)                                                        \
  OP_MAP_(BPF_MAP_TYPE_PERCPU_ARRAY, name, __u32, value, n)
#define OP_HASH_MAP(name, key, value, n) OP_MAP_(BPF_MAP_TYPE_HASH, name, key, value, n)
#define OP_RINGBUF_MAP(name, bytes)                                                                \
  struct {                                                                                         \
    __uint(type, BPF_MAP_TYPE_RINGBUF);                                                            \
    __uint(max_entries, bytes);                                                                    \
  } name SEC(".maps")
/* Bounds are run-time rodata: the verifier walks the loop. */
#define OP_UNROLL
/* A global function, which the kernel verifies once, on its own (5.6+),
 * instead of at each call: its arguments are scalars (pointers to memory
 * need 5.12+), and the object keeps .BTF.ext's function info for it
 * (bpf/meson.build, strip_bpf.py --keep-func-info). */
#define OP_SUBPROG __attribute__((noinline))
#define OP_WANT_TP 1
#define OP_WANT_RAW 1
#define OP_WANT_UPROBE 1
#define OP_WANT_EXIT_TP 1

#endif

#endif
