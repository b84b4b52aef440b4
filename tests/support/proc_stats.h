// Readings of another process from /proc, for fault tests that bound a
// server's memory and file descriptors.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace ticketq::test {

// VmRSS of `pid` in KiB (from /proc/PID/status); -1 when it cannot be read.
int64_t vm_rss_kb(pid_t pid);

// Open file descriptors of `pid` (entries of /proc/PID/fd); -1 when the
// directory cannot be read.
int open_fd_count(pid_t pid);

// From /proc/net/tcp and /proc/net/tcp6, over the TCP sockets whose local
// port is `port` (the accepting side of connections to a listener on it):
//  - bytes received but not yet read by their owner (rx_queue). For a
//    stopped (SIGSTOP) Redis: the calls sent to it since, so a test can wait
//    until a request is really waiting on Redis instead of sleeping;
int64_t tcp_unread_bytes(int port);
//  - connections their owner has not closed yet (ESTABLISHED or
//    CLOSE_WAIT), those still in the accept queue included.
int tcp_open_connections(int port);

// Whether `pid` runs with AddressSanitizer (which keeps freed memory in
// quarantine: its RSS says little about the server's own).
bool server_is_sanitized(pid_t pid);

}  // namespace ticketq::test
