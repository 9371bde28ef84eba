// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/model/catalogue.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <stdexcept>

namespace offsetprobe {

namespace {

const std::map<std::string, std::pair<const Family *, const FieldDef *>> &index() {
  static const auto idx = [] {
    std::map<std::string, std::pair<const Family *, const FieldDef *>> m;
    for (const auto &fam : catalogue())
      for (const auto &f : fam.fields)
        if (!m.emplace(f.name(), std::pair{&fam, &f}).second)
          throw std::logic_error("catalogue: " + f.name() + " declared twice");
    return m;
  }();
  return idx;
}

std::string join_path(const std::vector<std::string> &path, size_t n) {
  std::string key;
  for (size_t i = 0; i < n; i++)
    key += (i ? ">" : "") + path[i];
  return key;
}

} // namespace

const FieldDef *find_field(const std::string &name) {
  auto it = index().find(name);
  return it == index().end() ? nullptr : it->second.second;
}

const Family *find_family(const std::string &name) {
  for (const auto &f : catalogue())
    if (f.name == name)
      return &f;
  return nullptr;
}

const Family *family_of(const std::string &name) {
  auto it = index().find(name);
  return it == index().end() ? nullptr : it->second.first;
}

bool read_only_at_exit(const std::string &name) {
  const Family *fam = family_of(name);
  if (!fam)
    return false;
  for (const auto &p : fam->readback)
    if (p.path == std::vector<std::string>{name})
      return p.sites == kAtExit;
  return false;
}

namespace {
// The families whose in_subject hooks run here (select_subject_hooks).
std::set<std::string> &subject_hooks() {
  static std::set<std::string> names;
  return names;
}
} // namespace

void run_in_subject(Role role) {
  // No hook selected (the task experiment's own fields): the catalogue is
  // not even built here, in each subject.
  if (subject_hooks().empty())
    return;
  for (const auto &fam : catalogue())
    if (fam.in_subject && subject_hooks().count(fam.name))
      fam.in_subject(role);
}

std::string subject_hooks_arg(const FieldSelection &sel) {
  std::string arg;
  for (const auto &fam : catalogue())
    if (fam.in_subject && sel.has_family(fam))
      arg += (arg.empty() ? "" : ",") + fam.name;
  return arg.empty() ? "-" : arg;
}

void select_subject_hooks(const std::string &arg) {
  subject_hooks().clear();
  if (arg == "-")
    return;
  std::istringstream is(arg);
  for (std::string name; std::getline(is, name, ',');)
    subject_hooks().insert(name);
  // Built once here, in the subject host, before it forks the leaders that
  // run the hooks: each would build its own copy otherwise (~60-100 page
  // faults apiece, ~10 us each on this kind of VM).
  (void)catalogue();
}

FieldResult unsolved(const FieldDef &d) {
  FieldResult f;
  f.struct_name = d.struct_name;
  f.member = d.member;
  f.name = d.name();
  f.size = d.size;
  f.aliases = d.aliases;
  return f;
}

FieldSelection FieldSelection::all() {
  FieldSelection s;
  for (const auto &fam : catalogue())
    for (const auto &f : fam.fields)
      s.fields_.insert(f.name());
  return s;
}

FieldSelection FieldSelection::base() {
  FieldSelection s;
  for (const auto &f : catalogue().front().fields)
    s.fields_.insert(f.name());
  return s;
}

void FieldSelection::add_with_requires(const std::string &name) {
  if (!fields_.insert(name).second)
    return;
  for (const auto &r : find_field(name)->via)
    add_with_requires(r);
  for (const auto &r : find_field(name)->uses)
    add_with_requires(r);
}

std::optional<FieldSelection> FieldSelection::parse(const std::string &text, std::string &error) {
  FieldSelection s;
  // Every comma separates two names: "task," and ",task" name an empty one.
  std::vector<std::string> items;
  for (size_t at = 0;;) {
    size_t comma = text.find(',', at);
    items.push_back(text.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos)
      break;
    at = comma + 1;
  }
  for (const auto &item : items) {
    if (item.empty()) {
      error = "an empty name in --fields \"" + text + "\"";
      return std::nullopt;
    }
    if (item == "all")
      return all();
    if (const Family *fam = find_family(item)) {
      for (const auto &f : fam->fields)
        s.add_with_requires(f.name());
    } else if (find_field(item)) {
      s.add_with_requires(item);
    } else {
      error = "unknown field or family \"" + item + "\" (families: all";
      for (const auto &f : catalogue())
        error += ", " + f.name;
      error += "; or a field name such as cred.uid)";
      return std::nullopt;
    }
  }
  s.add_evidence();
  // The task family is the ground every other family stands on.
  for (const auto &n : base().fields_)
    s.fields_.insert(n);
  return s;
}

// A pointer is found only by what it points at (the ids behind a cred
// pointer, the /proc/<pid>/stat values behind an mm pointer, the inode
// numbers behind the namespace pointers): selected without any field behind
// it, it could never be found, so the fields behind it join. Done after the
// whole list is read, so that the order of names in --fields does not matter.
void FieldSelection::add_evidence() {
  for (bool grew = true; grew;) {
    grew = false;
    std::vector<std::string> behind_missing;
    for (const auto &n : fields_) {
      std::vector<std::string> behind;
      bool any = false;
      for (const auto &fam : catalogue())
        for (const auto &f : fam.fields)
          if (std::find(f.via.begin(), f.via.end(), n) != f.via.end()) {
            behind.push_back(f.name());
            any = any || has(f.name());
          }
      if (!any)
        behind_missing.insert(behind_missing.end(), behind.begin(), behind.end());
    }
    for (const auto &n : behind_missing)
      if (!has(n)) {
        add_with_requires(n);
        grew = true;
      }
  }
}

bool FieldSelection::beyond_task() const {
  for (const auto &n : fields_)
    if (family_of(n) != &catalogue().front())
      return true;
  return false;
}

bool FieldSelection::has_family(const Family &fam) const {
  for (const auto &f : fam.fields)
    if (has(f.name()))
      return true;
  return false;
}

std::vector<FieldResult> FieldSelection::results() const {
  std::vector<FieldResult> out;
  for (const auto &fam : catalogue())
    for (const auto &f : fam.fields)
      if (has(f.name()))
        out.push_back(unsolved(f));
  return out;
}

std::vector<FieldDecl> field_graph(const FieldSelection *sel) {
  std::vector<FieldDecl> out;
  for (const auto &fam : catalogue()) {
    if ((!sel && &fam == &catalogue().front()) || !fam.experiment.empty())
      continue;
    for (const auto &f : fam.fields)
      if (!sel || sel->has(f.name()))
        out.push_back({f.name(), f.via});
  }
  return out;
}

std::optional<uint32_t> ReadbackPlan::at(const std::vector<std::string> &path) const {
  auto it = steps.find(join_path(path, path.size()));
  if (it == steps.end())
    return std::nullopt;
  return it->second;
}

ReadbackPlan readback_plan(const std::vector<FieldResult> &fields) {
  // An interchangeable pair is read through a candidate: the members behind
  // it are validated through it, while the pair itself stays ambiguous.
  std::map<std::string, std::pair<const FieldResult *, uint32_t>> calibrated;
  for (const auto &f : fields)
    if (auto o = pointer_offset(f))
      calibrated[f.name] = {&f, *o};
  ReadbackPlan rp;
  // The paths read at exit first: the exit program then walks a short
  // prefix of the plan (bpf/reader.bpf.c). A step's parent is read wherever
  // the step is, so the exit steps' parents are in that prefix too.
  for (bool at_exit : {true, false})
    for (const auto &fam : catalogue())
      for (const auto &rb : fam.readback) {
        if (bool(rb.sites & kAtExit) != at_exit)
          continue;
        bool all_known = true;
        for (const auto &n : rb.path)
          all_known = all_known && calibrated.count(n);
        if (!all_known)
          continue;
        // Paths with a common prefix share its steps: a pointer is read once,
        // and everything behind it is read through that one step.
        std::optional<uint32_t> parent;
        for (size_t i = 0; i < rb.path.size(); i++) {
          std::string key = join_path(rb.path, i + 1);
          auto it = rp.steps.find(key);
          if (it == rp.steps.end()) {
            auto [f, off] = calibrated.at(rb.path[i]);
            uint32_t step = rp.plan.add(ReadStep{parent, off, f->size, rb.sites, f->name});
            it = rp.steps.emplace(key, step).first;
          }
          parent = it->second;
        }
      }
  return rp;
}

} // namespace offsetprobe
