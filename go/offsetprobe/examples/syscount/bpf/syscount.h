/* SPDX-License-Identifier: GPL-2.0-only */
/* syscount.h: the data shared by syscount.bpf.c and its Go loader. */
#ifndef SYSCOUNT_H
#define SYSCOUNT_H

#define SYSCOUNT_MAX_ENTRIES 10240

/* Go: struct{ Tgid, Pad uint32; StartTicks uint64 } (16 bytes). */
struct syscount_key {
  __u32 tgid;
  __u32 pad;
  __u64 start_ticks;
};

#endif
