// SPDX-License-Identifier: GPL-2.0-only
// The net family's struct socket: sock.sk_socket, socket.sk, socket.state,
// socket.type and socket.file, found through the pointees of the sk's words
// the socket scanner copies (bpf/sockscan.h: OP_SK_FOLLOW, OP_SK_DEEP). Pure:
// captures in, offsets out.
//
// Known values, per capture (SockCapture::known):
// - "socket.sk": the sk pointer, at every hit kept: a connect, a listen, a
//   close (inet_release clears sock->sk only after the protocol's close,
//   which makes the transition; sock_orphan comes later still) and a UDP
//   socket's full receive queue.
// - "socket.state": SS_UNCONNECTED (1) at a connect (set to SS_CONNECTING
//   after the protocol's connect returns), a listen and a listener's or a
//   UDP socket's hit; SS_CONNECTED (3) at the close of a connected or
//   accepted socket.
// - "socket.type": SOCK_STREAM (1) for TCP, SOCK_DGRAM (2) for the UDP socket.
// socket.file: its pointee holds the socket pointer at one offset
// (file.private_data) in every capture.
#pragma once

#include "calibration/solve/net/sock_solver.h"

namespace offsetprobe::net {

// True for the fields solve_socket_fields settles.
bool is_socket_field(const std::string &name);

struct SocketSolve {
  // Where socket.file's pointee held the socket pointer: file.private_data,
  // for socket.file's read-back (the smallest, when several did).
  std::optional<uint32_t> private_data;
};

// Settles the socket fields of `fields` (unsolved results; others are left
// alone). sk_socket and socket.sk: the pairs (word W of the sk, word j of
// its pointee) where the pointee's word j holds the known socket.sk in
// every capture that knows it, and some offsets of the pointee hold the
// known socket.state and socket.type (a struct socket, not any struct that
// points back to the sk); socket.state and socket.type by value in
// sk_socket's pointee; socket.file: the word m of that pointee whose own
// pointee holds the socket pointer at one offset, m not holding the sk (the
// file is not the sk). Exactly one candidate and at least two distinct
// known values, or no offset.
SocketSolve solve_socket_fields(const std::vector<SockTrial> &trials, uint32_t min_trials,
                                std::vector<FieldResult> &fields);

// Read-back steps: sk_socket is read back through socket.sk (the step
// "sock.sk_socket>socket.sk" must read the sk), socket.file
// through file.private_data (the step "socket.file>file.private_data" must
// read sk_socket's value). socket.sk, socket.state and socket.type, whose
// steps read from sk_socket's, are checked by check_sock_readback.
void check_socket_readback(const SockTrial &trial, const std::vector<SockEvent> &events,
                           const std::map<std::string, uint32_t> &steps,
                           std::vector<FieldResult> &fields);

} // namespace offsetprobe::net
