// SPDX-License-Identifier: GPL-2.0-only
// The net family's solver: pure. Captures of the subject's sockets (the raw
// bytes from the sk pointer at sock:inet_sock_set_state) and the values the
// subject knows for them in, offsets or a reasoned "ambiguous"/"unresolved"
// out. No kernel access, no I/O.
#pragma once

#include "calibration/model/result.h"

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace offsetprobe::net {

inline constexpr uint32_t kSkBytes = 4096; // OP_SK_BYTES
inline constexpr uint32_t kSkChunk = 256;  // OP_SK_CHUNK
// What was read is kept per grain of this many bytes (OP_SK_GRAIN): a chunk
// that faulted is read again up to its page's end (bpf/read_chunk.bpf.h).
inline constexpr uint32_t kSkGrain = 64;
inline constexpr uint32_t kSkWords = 64; // OP_SK_WORDS
// The pointees of the sk's first words (sk_socket), and behind the ones
// that point back to the sk, their words' pointees (socket.file):
// bpf/sockscan.h.
inline constexpr uint32_t kFollowWords = 128; // OP_SK_FOLLOW
inline constexpr uint32_t kPeek = 64;         // OP_SK_PEEK
inline constexpr uint32_t kBack = 2;          // OP_SK_BACK
inline constexpr uint32_t kDeep = 512;        // OP_SK_DEEP
inline constexpr uint32_t kDeepGrains = kDeep / kSkGrain;
inline constexpr uint32_t kNoWord = 0xffffffffu;
// The hook of a hit (OP_HOOK_*).
enum class Hook : int { state = 0, udp = 1 };

// TCP states (include/net/tcp_states.h), as sock:inet_sock_set_state
// passes them.
enum : int {
  kEstablished = 1,
  kSynSent = 2,
  kFinWait1 = 4,
  kClose = 7,
  kCloseWait = 8,
  kLastAck = 9,
  kListen = 10,
};

// A TCP state move, as a hit of sock:inet_sock_set_state gives it.
struct Transition {
  int oldstate = 0, newstate = 0;
};

// The moves the subjects pick hits of (pick_hit), and the only ones at which
// the socket scanner copies the sk (bpf/sockscan.bpf.c's copy_at): a
// calibration's other hits (SYN_SENT -> ESTABLISHED in loopback softirq,
// FIN_WAIT1 -> FIN_WAIT2, ...: about half of them) carry their states, pid
// and read-back values but nothing of the sk, which was most of the
// scanner's cost. They still count in pick_hit: a second hit of a move is
// a second hit whether it was copied or not. A subject that asks pick_hit
// for a move not listed here is a bug (std::logic_error), never a guess.
inline constexpr std::array<Transition, 6> kPickedTransitions{{
    {kClose, kSynSent},        // connect
    {kClose, kListen},         // listen
    {kListen, kClose},         // a listener's close
    {kEstablished, kFinWait1}, // close, first
    {kCloseWait, kLastAck},    // close, second
    {kEstablished, kClose},    // close with unread data (a reset)
}};

// The copy_at bitmap of the socket scanner for `moves`: bit (old << 4 | new)
// % 64 of word (old << 4 | new) / 64, for states 0-15.
std::array<uint64_t, 4> copy_at_words(const std::array<Transition, 6> &moves);

// One capture of a subject socket, at the transition its own syscall made
// (connect: CLOSE -> SYN_SENT, listen: CLOSE -> LISTEN, close: ...): the
// values the subject set or read for it hold at that moment.
struct SockCapture {
  std::string what; // "v4 client connect", for messages
  uint64_t sk = 0;
  int oldstate = 0, newstate = 0;
  std::vector<uint8_t> data; // kSkBytes from the sk pointer
  uint64_t readable = 0;     // bit g: data's grain g (kSkGrain bytes) was read
  // The u32 at net.ns.inum behind each of the first kSkWords words (when
  // the word looked like a kernel pointer: bit i of words_ok).
  std::array<uint32_t, 64> inum{};
  uint64_t words_ok = 0;
  Hook hook = Hook::state;
  // kPeek bytes behind each of the first kFollowWords words, when the word
  // looked like a kernel pointer (bit i % 64 of follow_ok[i / 64]).
  std::vector<uint8_t> follow;
  std::array<uint64_t, 2> follow_ok{};
  // The first kBack words whose pointee holds the sk (kNoWord: none), and
  // kDeep bytes behind each of that pointee's kPeek / 8 words (grain g of
  // word m's: bit m * kDeepGrains + g of deep_ok[k]): deep[(k * 8 + m) *
  // kDeep ...].
  std::array<uint32_t, 2> back_word{kNoWord, kNoWord};
  std::vector<uint8_t> deep;
  std::array<uint64_t, 2> deep_ok{};

  // Whether data's bytes [off, off + size) were read.
  bool data_read(uint32_t off, uint32_t size) const {
    return size > 0 && off + size <= kSkBytes && grains_read(readable, off, size);
  }
  // Whether bytes [off, off + size) behind word m of the k-th pointee that
  // held the sk were read.
  bool deep_read(uint32_t k, uint32_t m, uint32_t off, uint32_t size) const {
    return k < deep_ok.size() && m < kPeek / 8 && size > 0 && off + size <= kDeep &&
           grains_read(deep_ok[k] >> (m * kDeepGrains), off, size);
  }
  // Known values: a field's bytes as the kernel stores them, by field name.
  // A field without an entry is not known for this capture.
  std::map<std::string, std::vector<uint8_t>> known;
  // Values a field is known not to hold here: on a v6 socket, skc_daddr
  // (0 or 127.0.0.6) is not the last 4 bytes of the random v6 peer, which
  // a v4 socket's v4-mapped skc_v6_daddr copies (sk_daddr_set).
  std::map<std::string, std::vector<uint8_t>> known_not;
  // Values known only above a shift: (the field >> shift) == value
  // (TCP_INFO's tcpi_rtt is srtt_us >> 3, tcpi_rttvar mdev_us >> 2).
  std::map<std::string, std::pair<uint64_t, uint32_t>> known_shr;
  // A scanning hit whose sk the scanner did not copy (its move is not one of
  // kPickedTransitions): its states, pid and read-back values only.
  bool uncopied = false;

private:
  static bool grains_read(uint64_t mask, uint32_t off, uint32_t size) {
    for (uint32_t g = off / kSkGrain; g <= (off + size - 1) / kSkGrain; g++)
      if (g >= 64 || !(mask >> g & 1))
        return false;
    return true;
  }
};

// One trial: a fresh network namespace, fresh random addresses, ports and
// options.
struct SockTrial {
  uint32_t netns_inum = 0; // /proc/thread-self/ns/net of the subject
  std::vector<SockCapture> captures;
};

// One hit of the socket scanner, as user space sees it.
struct SockEvent {
  SockCapture capture; // sk, states, bytes, inum words
  uint32_t slot = 0;
  uint64_t pid_tgid = 0;
  // The read-back plan's values (two u64 per step), bit i of vals_ok: read.
  std::vector<std::array<uint64_t, 2>> vals;
  uint64_t vals_ok = 0;
};

// The hit a subject's syscall made: among the hits since the syscall
// began, the one of the transition old -> new that syscall makes (listen:
// CLOSE -> LISTEN, connect: CLOSE -> SYN_SENT, close: ESTABLISHED ->
// FIN_WAIT1, ...). That transition runs in the syscall's process context;
// the other hits (loopback softirq work run on the subject's stack, for its
// other sockets) have other transitions. None, or more than one: nullopt
// and `why`; the trial is then void, never guessed. So is a hit that the
// scanner did not copy (SockCapture::uncopied). Throws std::logic_error for
// a move that is not one of kPickedTransitions.
std::optional<size_t> pick_hit(const std::vector<SockEvent> &events, int oldstate, int newstate,
                               std::string &why);

// The reason of a field whose known value was the same in every capture:
// its one candidate is where that value happens to sit, proving nothing.
inline constexpr const char *kNeverChanged =
    "the known value never changed between captures: its one candidate proves nothing";

// The field of a socket struct, as the solver sees it.
struct SockFieldSpec {
  std::string name; // "sock_common.skc_daddr"
  uint32_t size = 0;
  uint32_t align = 0;
};

// The fields the net family solves by value, in report order (skc_net, a
// pointer, is solved by solve_skc_net).
const std::vector<SockFieldSpec> &sock_value_fields();

// Candidates of a by-value field: offsets (multiples of align, inside read
// chunks) where every capture that knows the field holds its known bytes, in
// every trial. `support` gets the number of trials that knew it.
std::vector<uint32_t> value_candidates(const std::vector<SockTrial> &trials, const SockFieldSpec &f,
                                       uint32_t *support = nullptr);

// Candidates of skc_net: the 8-aligned words of the first kSkWords that, in
// every capture, point to a struct whose net.ns.inum is the subject's
// namespace inode.
std::vector<uint32_t> skc_net_candidates(const std::vector<SockTrial> &trials,
                                         uint32_t *support = nullptr);

// Where a v6 socket's struct ipv6_pinfo starts, from the sk pointer: the
// one 8-aligned word of the first 1 KiB that holds sk + d (0 < d < 4096)
// with the same d in every v6 capture and 0 in every v4 capture
// (inet_sock.pinet6), or nullopt. tcp6_sock puts ipv6_pinfo after
// tcp_sock, and kernels before 6.5 find it from the object's end
// (inet6_sk_generic: obj_size - sizeof(struct ipv6_pinfo)): every field of
// sock_common, sock, inet_sock and tcp_sock lies below d. ipv6_pinfo's
// saddr equals skc_v6_rcv_saddr in every socket the subject makes.
std::optional<uint32_t> ipv6_pinfo_start(const std::vector<SockTrial> &trials);

// Solves every field of `fields` (unsolved results of the net family):
// calibrated (exactly one candidate in at least min_trials trials, read-back
// still to come), ambiguous or unresolved with the reason.
void solve_sock_fields(const std::vector<SockTrial> &trials, uint32_t min_trials,
                       std::vector<FieldResult> &fields);

// The read-back check of one validation trial (pure, for the tests): every
// calibrated field must read back its known value in every hit that knows
// it, and be known in at least one; skc_net must lead to the namespace inode.
// `steps` maps a field's name to its step in the plan (skc_net's inum step
// under "sock_common.skc_net>net.ns.inum").
void check_sock_readback(const SockTrial &trial, const std::vector<SockEvent> &events,
                         const std::map<std::string, uint32_t> &steps,
                         std::vector<FieldResult> &fields);

// skc_net is read back through net.ns.inum's offset before that offset's own
// read-back is known (both run at once): when net.ns.inum did not pass it,
// skc_net cannot stand either and becomes unresolved.
void skc_net_behind_failed_inum(std::vector<FieldResult> &fields);

// Bytes of a value as the kernel stores it.
std::vector<uint8_t> le_bytes(uint64_t v, uint32_t size);
std::vector<uint8_t> be16_bytes(uint16_t v);

} // namespace offsetprobe::net
