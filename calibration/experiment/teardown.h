// SPDX-License-Identifier: GPL-2.0-only
// What a read-back leaves to undo once its results are known: the subjects
// to end and reap, the programs to detach and unload. Deferred holds them;
// Teardown destroys them on a thread of its own while the caller goes on
// (saves the entry, prints it), and joins that thread when it is destroyed,
// so nothing outlives the Teardown. On the bundle's path the file family's
// subjects and walker took 3-7 ms to end after its results were in, while
// the other CPU sat idle.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <memory>
#include <thread>
#include <utility>
#include <vector>

namespace offsetprobe {

class Deferred {
public:
  Deferred() = default;
  Deferred(Deferred &&) noexcept = default;
  Deferred &operator=(Deferred &&) noexcept = default;
  Deferred(const Deferred &) = delete;
  Deferred &operator=(const Deferred &) = delete;
  ~Deferred() { clear(); }

  // Kept until clear(), which destroys the last kept first.
  template <class T> void keep(std::unique_ptr<T> p) {
    if (p)
      held_.emplace_back(std::move(p));
  }
  void take(Deferred &&other) {
    for (auto &p : other.held_)
      held_.push_back(std::move(p));
    other.held_.clear();
  }
  void clear() {
    while (!held_.empty())
      held_.pop_back();
  }
  bool empty() const { return held_.empty(); }

private:
  std::vector<std::shared_ptr<void>> held_; // shared_ptr<void> keeps each one's deleter
};

class Teardown {
public:
  explicit Teardown(Deferred d) {
    if (d.empty())
      return;
    thread_ = std::thread([d = std::move(d)]() mutable {
      // Signals stay with the caller's thread, whose blocking calls they
      // must interrupt.
      sigset_t all;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, nullptr);
      d.clear();
    });
  }
  ~Teardown() {
    if (thread_.joinable())
      thread_.join();
  }
  Teardown(const Teardown &) = delete;
  Teardown &operator=(const Teardown &) = delete;

private:
  std::thread thread_;
};

} // namespace offsetprobe
