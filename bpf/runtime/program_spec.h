// SPDX-License-Identifier: GPL-2.0-only
// ProgramSpec: a BPF program before load, the same for both backends (as a
// CollectionSpec is in cilium/ebpf). It holds the program's load-time
// constants, its map sizes and which of its programs to load; a backend turns
// it into a LoadedObject (loaded_object.h): libbpf writes the constants into
// the object's .rodata and resizes its maps, BCC passes both as -D macros
// (bpf/compat.bpf.h is the program side of the same contract). Pure: no
// libbpf, no libbcc, so the unit tests check it without root.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace offsetprobe {

// A load-time constant: the `const volatile` variable `name` in the libbpf
// object's .rodata, holding `values` (one for a scalar; an array's leading
// elements, the rest stay 0) of `width` bytes each; and the -D macros that
// carry the same values to BCC, already spelled as the program expects them.
struct ProgramConstant {
  std::string name;
  unsigned width = 4;
  std::vector<uint64_t> values;
  std::vector<std::string> bcc_defines;
};

// A map whose size the loader chooses: max_entries for libbpf, the macro
// `macro` for BCC.
struct MapSize {
  std::string map;
  std::string macro;
  uint32_t max_entries = 0;
};

class ProgramSpec {
public:
  // `what` names the program in messages ("the scanner").
  explicit ProgramSpec(std::string what) : what_(std::move(what)) {}

  // Scalars, with the BCC literal suffix of their type. offset() is a field
  // offset, spelled with no suffix, exactly as `export --format bcc-cflags`
  // prints it.
  ProgramSpec &u32(const std::string &name, const std::string &macro, uint32_t v);
  ProgramSpec &u64(const std::string &name, const std::string &macro, uint64_t v);
  ProgramSpec &s64(const std::string &name, const std::string &macro, int64_t v);
  ProgramSpec &offset(const std::string &name, const std::string &macro, uint32_t v);
  // A u32 that is 0 or 1, to BCC as 0 or 1 (the source may test it with #if).
  ProgramSpec &flag(const std::string &name, const std::string &macro, bool v);
  // An array of u32, to BCC as one initializer list ("8U,16U"; may be empty).
  ProgramSpec &u32_array(const std::string &name, const std::string &macro,
                         const std::vector<uint32_t> &v);
  // An array of u64 words, to BCC as one macro per word, MACRO_PREFIX<i>, in hex.
  ProgramSpec &u64_words(const std::string &name, const std::string &macro_prefix,
                         const std::vector<uint64_t> &words);
  // A constant as it is (no bcc_defines: libbpf only), and -D flags as they
  // are (BCC only): for the reader, whose BCC twin takes its own macros.
  ProgramSpec &constant(ProgramConstant c);
  ProgramSpec &bcc_flags(const std::vector<std::string> &flags);
  ProgramSpec &map_size(const std::string &map, const std::string &macro, uint32_t max_entries);
  // Loads `program` (libbpf autoload); the others of the object stay out.
  ProgramSpec &load(const std::string &program);
  // A bare macro for BCC only, e.g. OP_WANT_RAW (which programs BCC compiles:
  // it compiles every non-static function, so the source leaves out the ones
  // not wanted).
  ProgramSpec &bcc_define(const std::string &macro);

  const std::string &what() const { return what_; }
  const std::vector<ProgramConstant> &constants() const { return constants_; }
  const std::vector<MapSize> &map_sizes() const { return map_sizes_; }
  const std::vector<std::string> &programs() const { return programs_; }

  // Every -D flag of the spec, in the order the constants were set.
  std::vector<std::string> bcc_cflags() const;

private:
  std::string what_;
  std::vector<ProgramConstant> constants_;
  std::vector<MapSize> map_sizes_;
  std::vector<std::string> programs_;
  std::vector<std::string> bcc_defines_;
};

} // namespace offsetprobe
