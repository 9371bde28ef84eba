// SPDX-License-Identifier: GPL-2.0-only
// A small BTF built in memory, so the BTF logic is tested without relying on
// the running kernel. Its layout (byte offsets):
//
//   struct task {                       // 48 bytes
//     int pid;                          //  0
//     int tgid;                         //  4
//     struct {                          //  8, anonymous (like randomized_struct_fields_start)
//       union {                         //  8, anonymous
//         unsigned long long real_start_time; // the pre-5.5 name of start_boottime
//         int other;
//       };
//       char comm[16];                  // 16
//     };
//     const inner_t emb;                // 32 (typedef of struct inner)
//     struct inner *ptr;                // 40
//   };
//   struct inner { int a; unsigned int inum; };     // inum at 4
//   struct bits { int flag : 1; int x; };           // kflag bitfield; x at 4
#pragma once

#include <bpf/btf.h>

namespace offsetprobe::test {

// Returns a new BTF object (free with btf__free), or nullptr on failure.
inline struct btf *make_crafted_btf() {
  struct btf *b = btf__new_empty();
  if (!b)
    return nullptr;
  bool ok = true;
  auto check = [&ok](int id) {
    ok = ok && id > 0;
    return id;
  };
  auto field = [&ok, b](const char *name, int type_id, unsigned bit_offset, unsigned bits) {
    ok = ok && btf__add_field(b, name, type_id, bit_offset, bits) == 0;
  };
  int t_int = check(btf__add_int(b, "int", 4, BTF_INT_SIGNED));
  int t_uint = check(btf__add_int(b, "unsigned int", 4, 0));
  int t_u64 = check(btf__add_int(b, "unsigned long long", 8, 0));
  int t_char = check(btf__add_int(b, "char", 1, BTF_INT_CHAR));
  int t_comm = check(btf__add_array(b, t_int, t_char, 16));

  int t_inner = check(btf__add_struct(b, "inner", 8));
  field("a", t_int, 0, 0);
  field("inum", t_uint, 32, 0);
  int t_inner_t = check(btf__add_typedef(b, "inner_t", t_inner));
  int t_const_inner_t = check(btf__add_const(b, t_inner_t));
  int t_inner_ptr = check(btf__add_ptr(b, t_inner));

  int t_union = check(btf__add_union(b, nullptr, 8));
  field("real_start_time", t_u64, 0, 0);
  field("other", t_int, 0, 0);

  int t_anon = check(btf__add_struct(b, nullptr, 24));
  field(nullptr, t_union, 0, 0);
  field("comm", t_comm, 64, 0);

  check(btf__add_struct(b, "task", 48));
  field("pid", t_int, 0, 0);
  field("tgid", t_int, 32, 0);
  field(nullptr, t_anon, 64, 0);
  field("emb", t_const_inner_t, 256, 0);
  field("ptr", t_inner_ptr, 320, 0);

  check(btf__add_struct(b, "bits", 8));
  field("flag", t_int, 0, 1);
  field("x", t_int, 32, 0);

  if (!ok) {
    btf__free(b);
    return nullptr;
  }
  return b;
}

} // namespace offsetprobe::test
