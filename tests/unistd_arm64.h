/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * arm64's <asm/unistd.h> as the kernel defines it
 * (arch/arm64/include/uapi/asm/unistd.h, 6.1): the generic numbering of
 * asm-generic/unistd.h with these options. Preprocessed by the host compiler
 * with -dM (tests/meson.build) against the host's linux-libc-dev, so the
 * arm64 table is checked on an x86_64 host with no cross headers installed.
 * __BITS_PER_LONG is 64 on both (x86_64's <asm/bitsperlong.h>).
 */
#define __ARCH_WANT_RENAMEAT
#define __ARCH_WANT_NEW_STAT
#define __ARCH_WANT_SET_GET_RLIMIT
#define __ARCH_WANT_TIME32_SYSCALLS
#define __ARCH_WANT_SYS_CLONE3
#define __ARCH_WANT_MEMFD_SECRET

#include <asm-generic/unistd.h>
