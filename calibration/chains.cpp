// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/chains.h"

#include "calibration/pointer_pairs.h"

#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace offsetprobe {

namespace {

// The kernel half of x86_64's address space with 5-level paging (LA57): its
// direct map starts at 0xff11000000000000 (+ KASLR), below 4-level paging's
// 0xffff888000000000. Debian builds with CONFIG_X86_5LEVEL=y and uses LA57
// wherever the CPU has it (QEMU -cpu max, Ice Lake and later servers).
constexpr uint64_t kKptrMin = 0xff00000000000000ull;

bool is_kptr(uint64_t v) {
  return v >= kKptrMin && (v & 7) == 0;
}

// A catalogue field as an unsolved result.
FieldResult make(const std::string &name) {
  return unsolved(*find_field(name));
}

std::string join(const std::vector<uint32_t> &v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); i++)
    os << (i ? ", " : "") << v[i];
  return os.str();
}

std::vector<const Subject *> all_subjects(const Trial &t) {
  return {&t.leader, &t.thread, &t.grandchild, &t.exiter, &t.creds, &t.unshared};
}

// The value of an 8-byte word, if readable.
std::optional<uint64_t> word(const Snapshot &s, uint32_t off) {
  if (!s.readable_range(off, 8))
    return std::nullopt;
  return s.load<uint64_t>(off);
}

// Result of one offset over all trials: survives when no trial contradicts it
// and at least `min` trials saw it match (like the direct fields).
enum class Seen { unknown, match, mismatch };

// The same rule for several fields at once, for a search that reads each
// offset of a trial once and compares it with every field's known value:
// `pred(t, o, alive, seen)` sets seen[k] for each k with alive[k]. out[k] is
// what survivors() would give for field k alone; `wanted` (at most 8) says
// which fields to search.
template <typename Pred>
std::vector<std::vector<uint32_t>> survivors_each(const std::vector<const Trial *> &trials,
                                                  uint32_t limit, uint32_t align, uint32_t size,
                                                  uint32_t min, const std::vector<bool> &wanted,
                                                  Pred pred, uint32_t *support_out = nullptr) {
  constexpr size_t kMax = 8;
  const size_t n = std::min(wanted.size(), kMax);
  std::vector<std::vector<uint32_t>> out(wanted.size());
  uint32_t best = 0;
  for (uint32_t o = 0; o + size <= limit; o += align) {
    std::array<bool, kMax> alive{};
    std::array<uint32_t, kMax> support{};
    size_t left = 0;
    for (size_t k = 0; k < n; k++)
      left += alive[k] = wanted[k];
    for (const Trial *t : trials) {
      if (!left)
        break;
      std::array<Seen, kMax> seen{};
      pred(*t, o, alive, seen);
      for (size_t k = 0; k < n; k++) {
        if (!alive[k])
          continue;
        if (seen[k] == Seen::mismatch) {
          alive[k] = false;
          left--;
        } else if (seen[k] == Seen::match) {
          support[k]++;
        }
      }
    }
    for (size_t k = 0; k < n; k++)
      if (alive[k] && support[k] >= min) {
        out[k].push_back(o);
        best = std::max(best, support[k]);
      }
  }
  if (support_out)
    *support_out = best;
  return out;
}

template <typename Pred>
std::vector<uint32_t> survivors(const std::vector<const Trial *> &trials, uint32_t limit,
                                uint32_t align, uint32_t size, uint32_t min, Pred pred,
                                uint32_t *support_out = nullptr) {
  return survivors_each(
      trials, limit, align, size, min, {true},
      [&pred](const Trial &t, uint32_t o, const auto &, auto &seen) { seen[0] = pred(t, o); },
      support_out)[0];
}

// Settles `f` from its candidate offsets: one = calibrated, none =
// unresolved, several = ambiguous.
void settle(FieldResult &f, const std::vector<uint32_t> &cands, uint32_t trials,
            const std::string &none_reason) {
  f.trials = trials;
  f.candidates.clear();
  f.offset.reset();
  if (cands.size() == 1) {
    f.status = FieldStatus::calibrated;
    f.offset = cands[0];
  } else if (cands.empty()) {
    f.status = FieldStatus::unresolved;
    f.reason = none_reason;
  } else {
    f.status = FieldStatus::ambiguous;
    f.candidates = cands;
    f.reason = std::to_string(cands.size()) + " offsets match every trial: " + join(cands);
  }
}

void unresolved(FieldResult &f, const std::string &reason, bool required = true) {
  f.status = FieldStatus::unresolved;
  f.offset.reset();
  f.candidates.clear();
  f.reason = reason;
  f.required = required;
}

// Two members declared next to each other (`a` then `b`, 8 bytes each) that
// hold the same value in every subject have the same candidate pair {x, x+8}:
// then `a` is x and `b` is x+8. Used for mm_struct's arg_end/env_start
// (create_elf_tables() sets `mm->arg_end = mm->env_start = p`), and like the
// start_time/start_boottime rule it applies to exactly that pair, nothing else.
bool split_adjacent(FieldResult &a, FieldResult &b, const std::vector<uint32_t> &ca,
                    const std::vector<uint32_t> &cb, uint32_t width, const std::string &why) {
  if (ca != cb || ca.size() != 2 || ca[1] != ca[0] + width)
    return false;
  for (auto [f, off] : {std::pair{&a, ca[0]}, std::pair{&b, ca[1]}}) {
    f->status = FieldStatus::calibrated;
    f->offset = off;
    f->candidates.clear();
    f->reason = why;
  }
  return true;
}

// struct cred declares `uid, gid, suid, sgid, euid, egid, fsuid, fsgid`
// one after the other, 4 bytes each (since 2.6.29). The 1.5 KiB copied
// behind the pointer runs past struct cred into its slab neighbours, and a
// stale cred from C's own credential changes (each commit_creds() allocates
// one; the freed ones keep their bytes) can repeat some of C's ids there in
// every trial: seen once in 150 runs on 6.18, sgid at 20 and at 1364
// (= 20 + 7 * 192, cred_jar's object size). When at least four ids are
// calibrated at base + 4 k for one base and none contradicts it, an ambiguous
// id whose candidates include its own place in that run takes it. Applied to
// exactly these eight members; validation then reads them back.
void split_cred_ids_by_order(std::vector<FieldResult> &fields) {
  std::vector<FieldResult *> ids;
  for (const char *id : kCredIds)
    for (auto &f : fields)
      if (f.name == std::string("cred.") + id)
        ids.push_back(&f);
  if (ids.size() != kCredIds.size())
    return;
  std::optional<uint32_t> base;
  int agreeing = 0;
  for (uint32_t k = 0; k < ids.size(); k++) {
    const FieldResult &f = *ids[k];
    if (f.status != FieldStatus::calibrated)
      continue;
    if (*f.offset < 4 * k || (base && *base != *f.offset - 4 * k))
      return; // calibrated ids out of declaration order: no rule applies
    base = *f.offset - 4 * k;
    agreeing++;
  }
  if (!base || agreeing < 4)
    return;
  for (uint32_t k = 0; k < ids.size(); k++) {
    FieldResult &f = *ids[k];
    uint32_t place = *base + 4 * k;
    if (f.status != FieldStatus::ambiguous ||
        !std::count(f.candidates.begin(), f.candidates.end(), place))
      continue;
    f.reason = "candidates " + join(f.candidates) + "; " + std::to_string(place) +
               " is its place among the other ids (declaration order: uid, gid, suid, sgid, "
               "euid, egid, fsuid, fsgid)";
    f.status = FieldStatus::calibrated;
    f.offset = place;
    f.candidates.clear();
  }
}

using FindField = std::function<FieldResult &(const std::string &)>;

// struct cred's layout rules: the ids' declaration order (declared layouts
// only), then real_cred vs cred (pointer_pairs.h).
void place_cred_fields(std::vector<FieldResult> &out, const FindField &find,
                       const std::vector<const Trial *> &usable, const std::vector<uint32_t> &valid,
                       const LayoutOrder &layout) {
  if (layout_rules_allowed(layout))
    split_cred_ids_by_order(out);
  auto &rc = find("task_struct.real_cred");
  auto &cc = find("task_struct.cred");
  if (place_cred_pair(rc, cc, usable, valid, layout))
    return;
  for (auto *f : {&rc, &cc})
    settle(*f, valid, static_cast<uint32_t>(usable.size()),
           "no pointer candidate leads to a struct holding C's ids");
  if (valid.size() == 1)
    for (auto *f : {&rc, &cc}) {
      f->status = FieldStatus::ambiguous;
      f->candidates = valid;
      f->offset.reset();
      f->reason = "one pointer leads to C's ids; real_cred and cred cannot be told apart";
    }
}

// mm_struct's layout rules (declared layouts only), then mm vs active_mm
// (pointer_pairs.h). `sets` are the mm fields' candidates in kMmFields order.
void place_mm_fields(const FindField &find, const std::vector<const Trial *> &usable,
                     const std::vector<uint32_t> &valid,
                     const std::vector<std::vector<uint32_t>> &sets, const LayoutOrder &layout) {
  auto idx = [](const char *n) {
    return static_cast<size_t>(std::find_if(kMmFields.begin(), kMmFields.end(),
                                            [n](const char *m) { return std::string(m) == n; }) -
                               kMmFields.begin());
  };
  if (layout_rules_allowed(layout)) {
    // `unsigned long arg_start, arg_end, env_start, env_end;`: ELF loading
    // sets arg_end == env_start (the strings are contiguous).
    size_t ae = idx("arg_end"), es = idx("env_start");
    split_adjacent(find("mm_struct.arg_end"), find("mm_struct.env_start"), sets[ae], sets[es], 8,
                   "arg_end == env_start after execve(); adjacent pair " + join(sets[ae]) +
                       " split by declaration order (arg_end first)");

    // Without PR_SET_MM_MAP (no CONFIG_CHECKPOINT_RESTORE) env_end keeps a
    // twin in mm->saved_auxv: AT_EXECFN points at the file name execve()
    // copied right above the environment. `env_start, env_end` are
    // declared next to each other, so the candidate 8 bytes after a
    // calibrated env_start is env_end; the auxv copy never is (saved_auxv
    // follows env_end).
    auto &ee = find("mm_struct.env_end");
    auto &es_f = find("mm_struct.env_start");
    if (ee.status == FieldStatus::ambiguous && es_f.status == FieldStatus::calibrated &&
        std::count(ee.candidates.begin(), ee.candidates.end(), *es_f.offset + 8)) {
      ee.reason = "candidates " + join(ee.candidates) + " (auxv's AT_EXECFN equals env_end); " +
                  std::to_string(*es_f.offset + 8) + " follows env_start (declaration order)";
      ee.status = FieldStatus::calibrated;
      ee.offset = *es_f.offset + 8;
      ee.candidates.clear();
    }
  } else {
    for (const char *m : {"arg_end", "env_start", "env_end"}) {
      auto &f = find(std::string("mm_struct.") + m);
      if (f.status == FieldStatus::ambiguous)
        f.reason += "; randomized layout detected (" + layout.evidence +
                    "): declaration order does not apply";
    }
  }
  auto &mm = find("task_struct.mm");
  auto &am = find("task_struct.active_mm");
  if (place_mm_pair(mm, am, usable, valid, layout))
    return;
  for (auto *f : {&mm, &am})
    settle(*f, valid, static_cast<uint32_t>(usable.size()),
           "no pointer candidate leads to a struct holding /proc/<pid>/stat's values");
  // One pointer leads to the values: it is mm or active_mm, not both.
  if (valid.size() == 1)
    for (auto *f : {&mm, &am}) {
      f->status = FieldStatus::ambiguous;
      f->candidates = valid;
      f->offset.reset();
      f->reason = "one pointer leads to /proc/<pid>/stat's values; mm and active_mm cannot be "
                  "told apart";
    }
}

std::string first_error(const std::vector<Trial> &trials, std::string Trial::*what) {
  for (const auto &t : trials)
    if (!(t.*what).empty())
      return t.*what;
  return "";
}

// Loads a 4-byte value of a snapshot at o, if readable.
std::optional<uint32_t> u32_at(const Snapshot &s, uint32_t o) {
  if (!s.readable_range(o, 4))
    return std::nullopt;
  return s.load<uint32_t>(o);
}
std::optional<uint64_t> u64_at(const Snapshot &s, uint32_t o) {
  return word(s, o);
}

// Subject s's pointee i in its chain capture, or nullptr.
const Snapshot *pointee(const Subject &s, size_t i) {
  if (!s.chain.captured || i >= s.chain.pointees.size())
    return nullptr;
  return &s.chain.pointees[i];
}
const Snapshot *nested(const Subject &s, size_t n, size_t j) {
  if (!s.chain.captured || n >= s.chain.nested.size() || j >= s.chain.nested[n].size())
    return nullptr;
  return &s.chain.nested[n][j];
}

uint32_t limit_of(const std::vector<const Trial *> &trials,
                  const std::function<const Snapshot *(const Trial &)> &get) {
  size_t n = 0;
  for (const Trial *t : trials)
    if (const Snapshot *s = get(*t))
      n = std::max(n, s->bytes.size());
  return static_cast<uint32_t>(n);
}

} // namespace

const std::vector<FieldDecl> &chain_field_graph() {
  static const std::vector<FieldDecl> g = field_graph();
  return g;
}

StagePlan plan_stages(const std::vector<FieldDecl> &decls) {
  StagePlan plan;
  std::map<std::string, const FieldDecl *> by_name;
  for (const auto &d : decls)
    by_name[d.name] = &d;
  for (const auto &d : decls)
    for (const auto &r : d.needs)
      if (!by_name.count(r)) {
        plan.error = d.name + " requires " + r + ", which no field provides";
        return plan;
      }
  // Depth = pointers between task_struct and the field; Kahn's algorithm in
  // declaration order gives a dependency order and finds cycles.
  std::map<std::string, int> depth;
  std::vector<std::string> order;
  std::set<std::string> done;
  bool progress = true;
  while (order.size() < decls.size() && progress) {
    progress = false;
    for (const auto &d : decls) {
      if (done.count(d.name))
        continue;
      bool ready = std::all_of(d.needs.begin(), d.needs.end(),
                               [&](const std::string &r) { return done.count(r) > 0; });
      if (!ready)
        continue;
      int dp = 0;
      for (const auto &r : d.needs)
        dp = std::max(dp, depth[r] + 1);
      depth[d.name] = dp;
      done.insert(d.name);
      order.push_back(d.name);
      progress = true;
    }
  }
  if (order.size() < decls.size()) {
    for (const auto &d : decls)
      if (!done.count(d.name)) {
        plan.error = "cycle in the field graph at " + d.name;
        return plan;
      }
  }
  plan.stages.resize(1);
  for (const auto &name : order) {
    int dp = depth[name];
    if (dp > 2) {
      plan.stages.clear();
      plan.error = name + " is " + std::to_string(dp) +
                   " pointers away; the chain scanner follows at most 2 in one load";
      return plan;
    }
    size_t stage = dp == 0 ? 0 : 1;
    if (plan.stages.size() <= stage)
      plan.stages.resize(stage + 1);
    plan.stages[stage].push_back(name);
  }
  return plan;
}

std::vector<FieldResult> chain_fields() {
  // Every family of the catalogue but the task's own, in report order.
  std::vector<FieldResult> out;
  for (const auto &fam : catalogue())
    if (&fam != &catalogue().front() && fam.experiment.empty())
      for (const auto &f : fam.fields)
        out.push_back(unsolved(f));
  return out;
}

void mark_chains_unresolved(std::vector<FieldResult> &fields, const std::string &reason,
                            bool required) {
  std::set<std::string> names;
  for (const auto &f : chain_fields())
    names.insert(f.name);
  for (auto &f : fields)
    if (names.count(f.name) && f.status != FieldStatus::not_present)
      unresolved(f, reason, required);
}

ChainPlanResult chain_plan(const std::vector<Trial> &trials, const SolveOptions &opt,
                           size_t max_ptrs, size_t max_nested) {
  ChainPlanResult r;
  std::vector<const Trial *> usable;
  for (const auto &t : trials)
    if (t.leader.snap.captured && t.thread.snap.captured && t.grandchild.snap.captured &&
        t.creds.snap.captured && t.unshared.snap.captured)
      usable.push_back(&t);
  if (usable.size() < opt.min_trials) {
    r.error = "only " + std::to_string(usable.size()) + " trials captured L, T, G, C and N (need " +
              std::to_string(opt.min_trials) + ")";
    return r;
  }
  uint32_t limit = UINT32_MAX;
  for (const Trial *t : usable)
    for (const Subject *s : {&t->leader, &t->thread, &t->grandchild, &t->creds, &t->unshared})
      limit = std::min<uint32_t>(limit, static_cast<uint32_t>(s->snap.bytes.size()));
  if (opt.struct_size)
    limit = std::min(limit, *opt.struct_size);

  auto is_task = [](const Trial &t, uint64_t v) {
    for (const Subject *s : all_subjects(t))
      if (s->snap.captured && s->snap.task_addr == v)
        return true;
    return false;
  };
  // A kernel pointer of L's, shared by T (and `shared`), different (and a
  // kernel pointer) in each of `own`.
  auto relation = [&](const Trial &t, uint32_t o, std::initializer_list<const Subject *> shared,
                      std::initializer_list<const Subject *> own) {
    auto l = word(t.leader.snap, o);
    if (!l)
      return Seen::unknown;
    if (!is_kptr(*l) || is_task(t, *l))
      return Seen::mismatch;
    for (const Subject *s : shared) {
      auto v = word(s->snap, o);
      if (!v)
        return Seen::unknown;
      if (*v != *l)
        return Seen::mismatch;
    }
    for (const Subject *s : own) {
      auto v = word(s->snap, o);
      if (!v)
        return Seen::unknown;
      if (!is_kptr(*v) || *v == *l || is_task(t, *v))
        return Seen::mismatch;
    }
    return Seen::match;
  };
  // struct cred and mm_struct: threads share them, fork copies them
  // (copy_creds() -> prepare_creds(), copy_mm() -> dup_mm()).
  auto priv = survivors(usable, limit, 8, 8, opt.min_trials, [&](const Trial &t, uint32_t o) {
    return relation(t, o, {&t.thread}, {&t.grandchild, &t.creds, &t.unshared});
  });
  // nsproxy: fork shares it (copy_namespaces() without CLONE_NEW*), unshare()
  // replaces it.
  auto ns = survivors(usable, limit, 8, 8, opt.min_trials, [&](const Trial &t, uint32_t o) {
    return relation(t, o, {&t.thread, &t.grandchild, &t.creds}, {&t.unshared});
  });
  // Across trials: each leader has its own cred and mm (fork gives it a new
  // cred and a new mm), while every leader shares the subject host's nsproxy
  // and every N made its own. A pointer that only looks related within each
  // trial fails this: a per-CPU one (a run queue, say) that was the same for
  // L, T, G and C and another for N in every trial, which happened once in
  // 800 runs under load and pushed the nsproxy candidates past the chain
  // scanner's capacity. Words not read in a trial are no evidence.
  auto distinct = [&](uint32_t o, const Subject Trial::*who) {
    std::set<uint64_t> seen;
    for (const Trial *t : usable)
      if (auto v = word((t->*who).snap, o); v && !seen.insert(*v).second)
        return false;
    return true;
  };
  auto same = [&](uint32_t o, const Subject Trial::*who) {
    std::set<uint64_t> seen;
    for (const Trial *t : usable)
      if (auto v = word((t->*who).snap, o))
        seen.insert(*v);
    return seen.size() <= 1;
  };
  std::erase_if(priv, [&](uint32_t o) { return !distinct(o, &Trial::leader); });
  std::erase_if(
      ns, [&](uint32_t o) { return !same(o, &Trial::leader) || !distinct(o, &Trial::unshared); });
  r.private_count = priv.size();
  r.ns_count = ns.size();
  if (priv.size() + ns.size() > max_ptrs || ns.size() > max_nested) {
    r.error = std::to_string(priv.size()) + " private and " + std::to_string(ns.size()) +
              " nsproxy pointer candidates exceed the chain scanner's " + std::to_string(max_ptrs) +
              "/" + std::to_string(max_nested);
    return r;
  }
  if (priv.empty() && ns.empty()) {
    r.error = "no pointer in task_struct relates across subjects like cred, mm or nsproxy";
    return r;
  }
  r.plan.ptr_offsets = priv;
  for (uint32_t o : ns) {
    r.plan.nested_of.push_back(static_cast<uint32_t>(r.plan.ptr_offsets.size()));
    r.plan.ptr_offsets.push_back(o);
  }
  return r;
}

std::vector<FieldResult> solve_audit(const std::vector<Trial> &trials, const SolveOptions &opt) {
  FieldResult login = make("task_struct.loginuid");
  FieldResult sess = make("task_struct.sessionid");
  // No /proc/<pid>/loginuid anywhere: CONFIG_AUDIT is off and task_struct has
  // neither field. Not a failure.
  bool any_file = false;
  for (const auto &t : trials)
    any_file |= t.leader.loginuid.has_value() || t.creds.loginuid.has_value();
  if (!any_file && !trials.empty()) {
    for (auto *f : {&login, &sess}) {
      f->status = FieldStatus::not_present;
      f->reason = "no /proc/<pid>/loginuid: kernel without audit (CONFIG_AUDIT=n)";
    }
    return {login, sess};
  }
  std::vector<const Trial *> usable;
  for (const auto &t : trials)
    if (t.loginuid_error.empty() && t.creds.snap.captured && t.leader.snap.captured &&
        t.creds.loginuid && t.creds.sessionid && t.leader.loginuid && t.leader.sessionid)
      usable.push_back(&t);
  if (usable.size() < opt.min_trials) {
    std::string why = first_error(trials, &Trial::loginuid_error);
    for (auto *f : {&login, &sess})
      unresolved(*f,
                 "only " + std::to_string(usable.size()) + " trials could set a loginuid (need " +
                     std::to_string(opt.min_trials) + ")" +
                     (why.empty() ? "" : ": writing /proc/self/loginuid: " + why),
                 why.empty());
    return {login, sess};
  }
  uint32_t limit = UINT32_MAX;
  for (const Trial *t : usable)
    limit = std::min<uint32_t>(limit, static_cast<uint32_t>(t->leader.snap.bytes.size()));
  if (opt.struct_size)
    limit = std::min(limit, *opt.struct_size);
  // C wrote a fresh loginuid (and got a fresh sessionid); L, T, G and N
  // hold what L inherited.
  auto pred = [](std::optional<uint32_t> Subject::*field) {
    return [field](const Trial &t, uint32_t o) {
      bool unknown = false;
      auto is = [&](const Subject &s, uint32_t want) {
        auto v = u32_at(s.snap, o);
        if (!v) {
          unknown = true;
          return true;
        }
        return *v == want;
      };
      uint32_t inherited = *(t.leader.*field);
      if (!is(t.creds, *(t.creds.*field)) || !is(t.leader, inherited))
        return Seen::mismatch;
      for (const Subject *s : {&t.thread, &t.grandchild, &t.unshared})
        if (s->snap.captured && !is(*s, inherited))
          return Seen::mismatch;
      return unknown ? Seen::unknown : Seen::match;
    };
  };
  uint32_t support = 0;
  auto lc = survivors(usable, limit, 4, 4, opt.min_trials, pred(&Subject::loginuid), &support);
  settle(login, lc, support, "no offset holds the loginuid C wrote in every trial");
  auto sc = survivors(usable, limit, 4, 4, opt.min_trials, pred(&Subject::sessionid), &support);
  settle(sess, sc, support, "no offset holds C's sessionid in every trial");
  return {login, sess};
}

std::vector<FieldResult> solve_chains(const std::vector<Trial> &trials, const SolveOptions &opt) {
  std::vector<FieldResult> out;
  for (auto &f : chain_fields())
    if (f.member != "loginuid" && f.member != "sessionid")
      out.push_back(f);
  auto find = [&](const std::string &name) -> FieldResult & {
    for (auto &f : out)
      if (f.name == name)
        return f;
    throw std::logic_error("no field " + name);
  };
  if (trials.empty()) {
    mark_chains_unresolved(out, "no trials", true);
    return out;
  }
  // The plan (load-time offsets) is the same in every capture of one run.
  std::vector<uint32_t> ptr_offsets, nested_of;
  for (const auto &t : trials)
    if (t.leader.chain.captured) {
      ptr_offsets = t.leader.chain.ptr_offsets;
      nested_of = t.leader.chain.nested_of;
      break;
    }
  std::set<uint32_t> nested_idx(nested_of.begin(), nested_of.end());

  // What the cred and mm blocks found by value, for the layout rules below.
  std::vector<const Trial *> cred_usable, mm_usable;
  std::vector<uint32_t> cred_valid, mm_valid;
  std::vector<std::vector<uint32_t>> mm_sets;
  bool cred_ok = false, mm_ok = false;

  // --- struct cred: C took distinct ids; L is root (or whatever it is).
  {
    std::vector<const Trial *> usable;
    for (const auto &t : trials)
      if (t.creds_error.empty() && t.creds.chain.captured && t.leader.chain.captured &&
          t.creds.cred_ids && t.leader.cred_ids)
        usable.push_back(&t);
    std::vector<std::string> names = {"task_struct.real_cred", "task_struct.cred"};
    for (const char *id : kCredIds)
      names.push_back(std::string("cred.") + id);
    if (usable.size() < opt.min_trials) {
      std::string why = first_error(trials, &Trial::creds_error);
      for (const auto &n : names)
        unresolved(find(n),
                   "only " + std::to_string(usable.size()) +
                       " trials had a subject with distinct ids captured (need " +
                       std::to_string(opt.min_trials) + ")" + (why.empty() ? "" : ": " + why),
                   why.empty());
    } else {
      std::vector<uint32_t> valid;
      std::vector<std::set<uint32_t>> inner(kCredIds.size());
      uint32_t support = 0;
      for (size_t i = 0; i < ptr_offsets.size(); i++) {
        if (nested_idx.count(static_cast<uint32_t>(i)))
          continue;
        uint32_t limit = limit_of(usable, [i](const Trial &t) { return pointee(t.creds, i); });
        std::vector<std::vector<uint32_t>> c(kCredIds.size());
        bool all = true;
        for (size_t k = 0; k < kCredIds.size() && all; k++) {
          c[k] = survivors(
              usable, limit, 4, 4, opt.min_trials,
              [i, k](const Trial &t, uint32_t o) {
                auto cv = u32_at(*pointee(t.creds, i), o);
                auto lv = u32_at(*pointee(t.leader, i), o);
                if (!cv || !lv)
                  return Seen::unknown;
                return *cv == (*t.creds.cred_ids)[k] && *lv == (*t.leader.cred_ids)[k]
                           ? Seen::match
                           : Seen::mismatch;
              },
              &support);
          all = !c[k].empty();
        }
        if (!all)
          continue;
        valid.push_back(ptr_offsets[i]);
        for (size_t k = 0; k < kCredIds.size(); k++)
          inner[k].insert(c[k].begin(), c[k].end());
      }
      for (size_t k = 0; k < kCredIds.size(); k++)
        settle(find(std::string("cred.") + kCredIds[k]),
               std::vector<uint32_t>(inner[k].begin(), inner[k].end()),
               static_cast<uint32_t>(usable.size()),
               "no pointer candidate's struct holds this id of C in every trial");
      cred_usable = usable;
      cred_valid = valid;
      cred_ok = true;
    }
  }

  // --- mm_struct: /proc/<pid>/stat prints its layout fields exactly.
  {
    std::vector<const Trial *> usable;
    for (const auto &t : trials)
      if (t.leader.chain.captured && t.leader.mm)
        usable.push_back(&t);
    std::vector<std::string> names = {"task_struct.mm", "task_struct.active_mm"};
    for (const char *m : kMmFields)
      names.push_back(std::string("mm_struct.") + m);
    if (usable.size() < opt.min_trials) {
      for (const auto &n : names)
        unresolved(find(n), "only " + std::to_string(usable.size()) +
                                " trials captured the leader's mm and its /proc/<pid>/stat");
    } else {
      std::vector<uint32_t> valid;
      std::vector<std::set<uint32_t>> inner(kMmFields.size());
      for (size_t i = 0; i < ptr_offsets.size(); i++) {
        if (nested_idx.count(static_cast<uint32_t>(i)))
          continue;
        uint32_t limit = limit_of(usable, [i](const Trial &t) { return pointee(t.leader, i); });
        std::vector<std::vector<uint32_t>> c(kMmFields.size());
        bool all = true;
        for (size_t k = 0; k < kMmFields.size() && all; k++) {
          // L, C and N each have their own mm with the same layout values
          // (fork copies them); every one captured must agree.
          c[k] = survivors(usable, limit, 8, 8, opt.min_trials, [i, k](const Trial &t, uint32_t o) {
            Seen v = Seen::match;
            for (const Subject *s : {&t.leader, &t.creds, &t.unshared}) {
              if (!s->mm || !pointee(*s, i))
                continue;
              auto x = u64_at(*pointee(*s, i), o);
              if (!x)
                v = Seen::unknown;
              else if (*x != (*s->mm)[k])
                return Seen::mismatch;
            }
            return v;
          });
          all = !c[k].empty();
        }
        if (!all)
          continue;
        valid.push_back(ptr_offsets[i]);
        for (size_t k = 0; k < kMmFields.size(); k++)
          inner[k].insert(c[k].begin(), c[k].end());
      }
      std::vector<std::vector<uint32_t>> sets;
      for (size_t k = 0; k < kMmFields.size(); k++) {
        sets.emplace_back(inner[k].begin(), inner[k].end());
        settle(find(std::string("mm_struct.") + kMmFields[k]), sets.back(),
               static_cast<uint32_t>(usable.size()),
               "no pointer candidate's struct holds this /proc/<pid>/stat value");
      }
      mm_usable = usable;
      mm_valid = valid;
      mm_sets = sets;
      mm_ok = true;
    }
  }

  // --- The layout rules, once every field found by value is settled: each
  // stands down on a randomized layout (layout_order.h).
  const LayoutOrder layout = detect_layout_order(out, opt.layout);
  if (cred_ok)
    place_cred_fields(out, find, cred_usable, cred_valid, layout);
  if (mm_ok)
    place_mm_fields(find, mm_usable, mm_valid, mm_sets, layout);

  // --- nsproxy and the namespaces: /proc/<pid>/ns/<kind> gives ns.inum.
  {
    std::vector<const Trial *> usable;
    for (const auto &t : trials)
      if (t.leader.chain.captured && t.unshared.chain.captured && !t.leader.ns_inum.empty() &&
          !t.unshared.ns_inum.empty())
        usable.push_back(&t);
    std::string why = first_error(trials, &Trial::unshare_error);
    auto &np = find("task_struct.nsproxy");
    if (usable.size() < opt.min_trials || nested_of.empty()) {
      std::string reason = nested_of.empty() ? "no pointer of task_struct changed with unshare()"
                                             : "only " + std::to_string(usable.size()) +
                                                   " trials captured L's and N's namespaces";
      if (!why.empty())
        reason += ": unshare: " + why;
      unresolved(np, reason, why.empty());
      for (const auto &k : kNsKinds) {
        unresolved(find(std::string("nsproxy.") + k.member), reason, why.empty());
        unresolved(find(std::string(k.struct_name) + ".ns.inum"), reason, why.empty());
      }
    } else {
      // Kinds the kernel has (a /proc/<pid>/ns link in every trial).
      std::vector<bool> present(kNsKinds.size(), true);
      for (size_t k = 0; k < kNsKinds.size(); k++)
        for (const Trial *t : usable)
          if (!t->leader.ns_inum.count(kNsKinds[k].proc) ||
              !t->unshared.ns_inum.count(kNsKinds[k].proc))
            present[k] = false;
      // found[n][k] = the (slot, offset) pairs in nested group n.
      std::vector<uint32_t> valid_groups;
      std::vector<std::vector<std::vector<std::pair<uint32_t, uint32_t>>>> found(nested_of.size());
      // The inode numbers per usable trial and kind, looked up once.
      std::vector<std::vector<std::pair<uint32_t, uint32_t>>> want(usable.size());
      for (size_t ti = 0; ti < usable.size(); ti++)
        for (size_t k = 0; k < kNsKinds.size(); k++)
          want[ti].push_back(present[k]
                                 ? std::pair{usable[ti]->leader.ns_inum.at(kNsKinds[k].proc),
                                             usable[ti]->unshared.ns_inum.at(kNsKinds[k].proc)}
                                 : std::pair{0u, 0u});
      for (size_t n = 0; n < nested_of.size(); n++) {
        found[n].resize(kNsKinds.size());
        // All kinds at once: each (slot, offset) is read once per trial and
        // compared with every kind's pair (one survivors() pass per kind took
        // ~1 ms).
        for (uint32_t j = 0;; j++) {
          bool have = false;
          for (const Trial *t : usable)
            have |= nested(t->leader, n, j) != nullptr;
          if (!have)
            break;
          uint32_t limit =
              limit_of(usable, [n, j](const Trial &t) { return nested(t.leader, n, j); });
          auto per_kind = survivors_each(
              usable, limit, 4, 4, opt.min_trials, present,
              [&](const Trial &t, uint32_t o, const auto &alive, auto &seen) {
                const Snapshot *ls = nested(t.leader, n, j), *ns = nested(t.unshared, n, j);
                auto lv = ls ? u32_at(*ls, o) : std::nullopt;
                auto nv = ns ? u32_at(*ns, o) : std::nullopt;
                if (!lv || !nv)
                  return; // not read: neither evidence for nor against
                size_t ti = static_cast<size_t>(std::find(usable.begin(), usable.end(), &t) -
                                                usable.begin());
                for (size_t k = 0; k < kNsKinds.size(); k++)
                  if (alive[k])
                    seen[k] = *lv == want[ti][k].first && *nv == want[ti][k].second
                                  ? Seen::match
                                  : Seen::mismatch;
              });
          for (size_t k = 0; k < kNsKinds.size(); k++)
            for (uint32_t o : per_kind[k])
              found[n][k].push_back({j * 8, o});
        }
        bool all = true;
        for (size_t k = 0; k < kNsKinds.size(); k++)
          all = all && (!present[k] || !found[n][k].empty());
        if (all)
          valid_groups.push_back(static_cast<uint32_t>(n));
      }
      std::vector<uint32_t> ptrs;
      for (uint32_t n : valid_groups)
        ptrs.push_back(ptr_offsets[nested_of[n]]);
      settle(np, ptrs, static_cast<uint32_t>(usable.size()),
             "no nsproxy candidate leads to the namespaces' inode numbers");
      for (size_t k = 0; k < kNsKinds.size(); k++) {
        auto &slot = find(std::string("nsproxy.") + kNsKinds[k].member);
        auto &inum = find(std::string(kNsKinds[k].struct_name) + ".ns.inum");
        if (!present[k]) {
          for (auto *f : {&slot, &inum}) {
            f->status = FieldStatus::not_present;
            f->reason = std::string("no /proc/<pid>/ns/") + kNsKinds[k].proc +
                        ": the kernel has no such namespace";
          }
          continue;
        }
        if (valid_groups.size() != 1) {
          for (auto *f : {&slot, &inum})
            unresolved(*f, "task_struct.nsproxy is not resolved");
          continue;
        }
        std::set<uint32_t> slots, offs;
        for (auto [j, o] : found[valid_groups[0]][k]) {
          slots.insert(j);
          offs.insert(o);
        }
        std::string nothing = std::string("no nsproxy member leads to /proc/<pid>/ns/") +
                              kNsKinds[k].proc + "'s inode";
        settle(slot, {slots.begin(), slots.end()}, static_cast<uint32_t>(usable.size()), nothing);
        settle(inum, {offs.begin(), offs.end()}, static_cast<uint32_t>(usable.size()), nothing);
        if (slot.status == FieldStatus::ambiguous && !why.empty())
          slot.reason += " (unshare: " + why + ")";
      }
    }
  }
  return out;
}

} // namespace offsetprobe
