/* SPDX-License-Identifier: GPL-2.0-only */
/* Plain data shared by scanner.bpf.c and its user-space loader. */
#ifndef OFFSETPROBE_BPF_SCANNER_H
#define OFFSETPROBE_BPF_SCANNER_H

#define OP_COMM_LEN 16
/* A snapshot is read in chunks so that one faulting chunk (the end of a slab
 * page, say) does not void the others. 64 x 256 B = 16 KiB: task_struct is
 * about 6 KiB here, larger on debug and RT kernels; Pixie read only 4 KiB. */
#define OP_CHUNK_SIZE 256
#define OP_MAX_CHUNKS 64
#define OP_SNAPSHOT_BYTES (OP_CHUNK_SIZE * OP_MAX_CHUNKS)
#define OP_MAX_SLOTS 64

enum op_capture_site {
  OP_SITE_TRIGGER = 1, /* the subject's trigger syscall (or uprobe) */
  OP_SITE_EXIT = 2,    /* sched:sched_process_exit */
};

struct op_snapshot {
  unsigned long long task_addr; /* bpf_get_current_task() */
  unsigned long long pid_tgid;  /* bpf_get_current_pid_tgid(): global ids */
  unsigned long long readable;  /* bit i set: chunk i was read */
  unsigned int site;            /* enum op_capture_site */
  unsigned int count;           /* captures into this slot */
  unsigned char data[OP_SNAPSHOT_BYTES];
};

#endif
