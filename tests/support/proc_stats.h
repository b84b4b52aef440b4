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

}  // namespace ticketq::test
