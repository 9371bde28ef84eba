// SPDX-License-Identifier: GPL-2.0-only
#include "calibration/experiment/files/walker.h"

#include "calibration/model/error.h"

#include "filewalk.h"
#include "filewalk.skel.h"
#include "scanner.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace offsetprobe::files {

namespace {

std::string err_text(int err) {
  err = err < 0 ? -err : err;
  return std::string(strerrorname_np(err) ? strerrorname_np(err) : "E?") + " (" +
         std::strerror(err) + ")";
}

[[noreturn]] void fail(const char *what, int err) {
  err = err < 0 ? -err : err;
  throw Error(err == EPERM || err == EACCES ? ErrorKind::permission : ErrorKind::bpf,
              std::string("the file walker: ") + what + ": " + err_text(err));
}

size_t map_bytes(bpf_map *m) {
  size_t stride = (bpf_map__value_size(m) + 7) / 8 * 8;
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (stride * bpf_map__max_entries(m) + page - 1) / page * page;
}

} // namespace

struct LiveWalker::Impl {
  op_filewalk *skel = nullptr;
  bpf_link *link = nullptr;
  void *req_mem = MAP_FAILED, *resp_mem = MAP_FAILED, *chunk_mem = MAP_FAILED;
  size_t req_len = 0, resp_len = 0, chunk_len = 0;
  uint32_t next_slot = 0;
  std::map<int, std::function<void(uint32_t)>> triggers;
  ~Impl() {
    bpf_link__destroy(link);
    if (req_mem != MAP_FAILED)
      munmap(req_mem, req_len);
    if (resp_mem != MAP_FAILED)
      munmap(resp_mem, resp_len);
    if (chunk_mem != MAP_FAILED)
      munmap(chunk_mem, chunk_len);
    op_filewalk__destroy(skel);
  }
};

LiveWalker::LiveWalker() : impl_(std::make_unique<Impl>()) {
  auto &s = impl_->skel;
  s = op_filewalk__open();
  if (!s)
    fail("open", errno);
  s->rodata->trigger_nr = SYS_getppid;
  bpf_program__set_autoload(s->progs.walk_tp, false);
  if (int err = op_filewalk__load(s))
    fail("load", err);
  // The raw tracepoint needs no tracefs, and detaching it does not wait for
  // an RCU grace period (calibration/experiment/capture.cpp says why).
  impl_->link = bpf_program__attach_raw_tracepoint(s->progs.walk_raw, "sys_enter");
  if (!impl_->link)
    throw Error(ErrorKind::tracing,
                "the file walker: attaching raw_tracepoint/sys_enter: " + err_text(errno));
  impl_->req_len = map_bytes(s->maps.fw_requests);
  impl_->resp_len = map_bytes(s->maps.fw_responses);
  impl_->chunk_len = map_bytes(s->maps.fw_chunks);
  impl_->req_mem = mmap(nullptr, impl_->req_len, PROT_READ | PROT_WRITE, MAP_SHARED,
                        bpf_map__fd(s->maps.fw_requests), 0);
  impl_->resp_mem = mmap(nullptr, impl_->resp_len, PROT_READ | PROT_WRITE, MAP_SHARED,
                         bpf_map__fd(s->maps.fw_responses), 0);
  impl_->chunk_mem =
      mmap(nullptr, impl_->chunk_len, PROT_READ, MAP_SHARED, bpf_map__fd(s->maps.fw_chunks), 0);
  if (impl_->req_mem == MAP_FAILED || impl_->resp_mem == MAP_FAILED ||
      impl_->chunk_mem == MAP_FAILED)
    fail("mmap", errno);
}

LiveWalker::~LiveWalker() = default;

void LiveWalker::add_subject(int id, const std::string &cookie,
                             std::function<void(uint32_t)> trigger) {
  char key[OP_COMM_LEN] = {};
  std::memcpy(key, cookie.data(), std::min(cookie.size(), sizeof(key) - 1));
  uint32_t slot = impl_->next_slot++;
  if (slot >= OP_MAX_SLOTS ||
      bpf_map__update_elem(impl_->skel->maps.cookies, key, sizeof(key), &slot, sizeof(slot), 0))
    throw Error(ErrorKind::bpf, "the file walker: registering a subject: " + err_text(errno));
  impl_->triggers[id] = std::move(trigger);
}

std::vector<WalkResponse> LiveWalker::walk(int subject, const std::vector<WalkRequest> &reqs) {
  static_assert(sizeof(fw_chunk) == FW_CHUNK, "chunks are contiguous in fw_chunks");
  static_assert(FW_CHUNK == kChunk);
  std::vector<WalkResponse> out;
  out.reserve(reqs.size());
  auto *rq = static_cast<fw_request *>(impl_->req_mem);
  auto *rs = static_cast<fw_response *>(impl_->resp_mem);
  const auto *chunks = static_cast<const unsigned char *>(impl_->chunk_mem);
  for (size_t first = 0; first < reqs.size();) {
    // A round: at most FW_MAX_REQ requests and FW_MAX_CHUNKS chunks.
    uint32_t n = 0, used = 0;
    while (first + n < reqs.size() && n < FW_MAX_REQ) {
      const WalkRequest &q = reqs[first + n];
      if (q.steps.size() > FW_MAX_STEPS || q.len == 0 || q.len > FW_BYTES || q.len % FW_CHUNK)
        throw Error(ErrorKind::failure, "the file walker: a request beyond its capacity");
      uint32_t nchunks = q.len / FW_CHUNK;
      if (used + nchunks > FW_MAX_CHUNKS)
        break;
      fw_request r{};
      r.nsteps = static_cast<uint32_t>(q.steps.size());
      r.nchunks = nchunks;
      r.copy_off = q.copy_off;
      r.chunk_first = used;
      for (size_t k = 0; k < q.steps.size(); k++)
        r.steps[k] = q.steps[k];
      rq[n] = r;
      rs[n].done = 0;
      used += nchunks;
      n++;
    }
    uint32_t zero = 0;
    fw_control ctl{n, 0};
    if (bpf_map__update_elem(impl_->skel->maps.fw_control, &zero, sizeof zero, &ctl, sizeof ctl, 0))
      throw Error(ErrorKind::bpf, "the file walker: setting a round: " + err_text(errno));
    impl_->triggers.at(subject)((n + FW_PER_TRIGGER - 1) / FW_PER_TRIGGER);
    for (uint32_t i = 0; i < n; i++) {
      const WalkRequest &q = reqs[first + i];
      const fw_response &r = rs[i];
      const unsigned char *bytes = chunks + size_t(rq[i].chunk_first) * FW_CHUNK;
      WalkResponse w;
      w.done = r.done != 0;
      w.task = r.task;
      w.ptrs.assign(r.ptr, r.ptr + q.steps.size());
      w.bytes.assign(bytes, bytes + q.len);
      for (uint32_t c = 0; c < q.len / FW_CHUNK; c++)
        w.chunk_read.push_back(w.done ? std::min<uint32_t>(r.read[c], FW_CHUNK) : 0);
      out.push_back(std::move(w));
    }
    first += n;
  }
  return out;
}

} // namespace offsetprobe::files
