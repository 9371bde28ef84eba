// SPDX-License-Identifier: GPL-2.0-only
// The layout oracle of a randomized kernel: compiled with the kernel's own
// flags (randstruct plugin and seed loaded), offsetof() of every field
// offsetprobe catalogues, emitted like asm-offsets (DEFINE() lines in the
// generated assembly). BTF and DWARF of such a kernel describe the declared,
// unshuffled layout, so nothing else can serve as the truth.
// Built by scripts/randstruct/build-kernel.sh as an external Kbuild object;
// tests/randstruct_truth.sh checks that every catalogued field is here.
#include <linux/kbuild.h>
#include <linux/sched.h>
#include <linux/cred.h>
#include <linux/nsproxy.h>
#include <linux/mm_types.h>
#include <linux/utsname.h>
#include <linux/ipc_namespace.h>
#include <linux/pid_namespace.h>
#include <linux/time_namespace.h>
#include <linux/cgroup.h>
#include <net/net_namespace.h>
#include "mount.h" /* fs/mount.h: struct mnt_namespace (-I$(srctree)/fs) */

#define O(s, m) DEFINE(s##__##m, offsetof(struct s, m))
#define ON(s) DEFINE(s##__ns_inum, offsetof(struct s, ns.inum))

void rs_offsets(void);
void rs_offsets(void)
{
	DEFINE(task_struct__SIZE, sizeof(struct task_struct));
	O(task_struct, pid); O(task_struct, tgid); O(task_struct, comm);
	O(task_struct, group_leader); O(task_struct, real_parent); O(task_struct, parent);
	O(task_struct, start_time); O(task_struct, start_boottime); O(task_struct, exit_code);
	O(task_struct, loginuid); O(task_struct, sessionid);
	O(task_struct, ptracer_cred); O(task_struct, real_cred); O(task_struct, cred);
	O(task_struct, nsproxy); O(task_struct, mm); O(task_struct, active_mm);
	DEFINE(cred__SIZE, sizeof(struct cred));
	O(cred, uid); O(cred, gid); O(cred, suid); O(cred, sgid);
	O(cred, euid); O(cred, egid); O(cred, fsuid); O(cred, fsgid);
	DEFINE(nsproxy__SIZE, sizeof(struct nsproxy));
	O(nsproxy, uts_ns); O(nsproxy, ipc_ns); O(nsproxy, mnt_ns); O(nsproxy, pid_ns_for_children);
	O(nsproxy, net_ns); O(nsproxy, time_ns); O(nsproxy, time_ns_for_children); O(nsproxy, cgroup_ns);
	ON(uts_namespace); ON(ipc_namespace); ON(mnt_namespace); ON(pid_namespace);
	ON(net); ON(time_namespace); ON(cgroup_namespace);
	DEFINE(mm_struct__SIZE, sizeof(struct mm_struct));
	O(mm_struct, start_code); O(mm_struct, end_code); O(mm_struct, start_data); O(mm_struct, end_data);
	O(mm_struct, start_brk); O(mm_struct, brk); O(mm_struct, start_stack); O(mm_struct, arg_start);
	O(mm_struct, arg_end); O(mm_struct, env_start); O(mm_struct, env_end); O(mm_struct, saved_auxv);
}
