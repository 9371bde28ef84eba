/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Plain data shared by filewalk.bpf.c and its loader (calibration/experiment/files/).
 *
 * The file family's experiment walks chains deeper than the chain scanner's
 * two levels (task -> files -> fdt -> fd[] -> file -> inode -> super_block is
 * five pointers), and which pointers to follow depends on what the previous
 * walk found. So the walker knows no field: user space writes requests, each
 * "follow these pointer offsets from the current task, then copy this many
 * bytes at this (signed) offset from the last pointer", and the subject makes
 * one trigger syscall per FW_PER_TRIGGER requests; every run of the program
 * takes the next ones. One load serves every round of the experiment and its
 * read-back.
 */
#ifndef OFFSETPROBE_BPF_FILEWALK_H
#define OFFSETPROBE_BPF_FILEWALK_H

/* Pointers followed from the task at most: task -> files -> fdt -> fd ->
 * fd[i] -> file -> f_inode -> i_sb is 6 (the array element is a step). */
#define FW_MAX_STEPS 8
/* Bytes copied per request, in chunks (a fault voids one chunk, but for the
 * bytes before the page that faulted: read_chunk.bpf.h). */
#define FW_CHUNK 256
#define FW_CHUNKS 8
#define FW_BYTES (FW_CHUNK * FW_CHUNKS)
/* Requests served per trigger syscall. One per trigger was ~970 getppid
 * calls in a read-back of the three file subjects, each a syscall (~1 us on
 * a VM with page-table isolation) that ran every program attached to
 * sys_enter. The requests of a round do not depend on one another: user
 * space writes them all before the first trigger. */
#define FW_PER_TRIGGER 32
/* Requests per round (a walk of more is served in several rounds): a
 * subject's read-back is 482 on 6.18, a round of the experiment at most as
 * many. Each map is allocated and zeroed whole when the walker loads. */
#define FW_MAX_REQ 512
/* Chunks per round, shared by its requests: each request's bytes are the
 * chunks [chunk_first, chunk_first + nchunks) of fw_chunks, so a round
 * touches only the memory its requests copy. (A 2 KiB slot per response
 * was touched whole by the kernel and by user space for a 256-byte read;
 * each new page of a BPF map costs ~10 us on a VM that shadows page
 * tables, ~250 pages for a read-back of one subject.) */
/* 512 (128 KiB) holds a subject's read-back (482 chunks); the experiment's
 * largest rounds (~1700 chunks) are served in four. With 2048 the map was
 * 512 KiB to allocate and zero at every load. */
#define FW_MAX_CHUNKS 512

struct fw_request {
  unsigned int nsteps;              /* pointers followed (0: copy from the task) */
  unsigned int nchunks;             /* chunks copied, 1..FW_CHUNKS */
  int copy_off;                     /* signed: a struct around the pointee (struct mount) */
  unsigned int chunk_first;         /* its first chunk in fw_chunks */
  unsigned int steps[FW_MAX_STEPS]; /* offset of each pointer in its base */
};

struct fw_response {
  unsigned long long task;              /* the current task's address */
  unsigned long long ptr[FW_MAX_STEPS]; /* each pointer read (0 on a fault) */
  unsigned short read[FW_CHUNKS];       /* bytes read from chunk c's start */
  unsigned long long done;              /* 1 once the request ran */
};

struct fw_chunk {
  unsigned char bytes[FW_CHUNK];
};

/* The round: requests [0, count) are served in order, one per trigger. */
struct fw_control {
  unsigned int count;
  unsigned int next;
};

#endif
