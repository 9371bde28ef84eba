// SPDX-License-Identifier: GPL-2.0-only
// What a read-back leaves to undo once its results are known: the subjects
// to end and reap, the programs to detach and unload. Deferred holds those
// steps; Teardown runs them on a thread of its own while the caller goes on
// (checks and saves the entry), and wait() joins that thread and rethrows
// the first error a step raised (a subject host that would not end). On
// the bundle's path the file family's subjects and walker took 3-7 ms to
// end after its results were in, on the critical path.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <exception>
#include <functional>
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
  // Unrun steps run here (their errors dropped).
  ~Deferred() { run(); }

  // Destroyed when the steps run.
  template <class T> void keep(std::unique_ptr<T> p) {
    if (p)
      steps_.push_back([p = std::shared_ptr<T>(std::move(p))]() mutable { p.reset(); });
  }
  // A step that may fail (it throws).
  void then(std::function<void()> step) { steps_.push_back(std::move(step)); }
  // `other`'s steps, to run before these.
  void take(Deferred &&other) {
    for (auto &s : other.steps_)
      steps_.push_back(std::move(s));
    other.steps_.clear();
  }
  // Runs every step, the last added first; returns the first error.
  std::exception_ptr run() noexcept {
    std::exception_ptr first;
    while (!steps_.empty()) {
      auto step = std::move(steps_.back());
      steps_.pop_back();
      try {
        step();
      } catch (...) {
        if (!first)
          first = std::current_exception();
      }
    }
    return first;
  }
  bool empty() const { return steps_.empty(); }

private:
  std::vector<std::function<void()>> steps_;
};

class Teardown {
public:
  explicit Teardown(Deferred d) {
    if (d.empty())
      return;
    thread_ = std::thread([this, d = std::move(d)]() mutable {
      // Signals stay with the caller's thread, whose blocking calls they
      // must interrupt.
      sigset_t all;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, nullptr);
      error_ = d.run();
    });
  }
  // Joins; rethrows the first error of a step.
  void wait() {
    if (thread_.joinable())
      thread_.join();
    if (auto e = std::exchange(error_, nullptr))
      std::rethrow_exception(e);
  }
  // Joins (an error not waited for is dropped).
  ~Teardown() {
    if (thread_.joinable())
      thread_.join();
  }
  Teardown(const Teardown &) = delete;
  Teardown &operator=(const Teardown &) = delete;

private:
  std::exception_ptr error_;
  std::thread thread_;
};

} // namespace offsetprobe
