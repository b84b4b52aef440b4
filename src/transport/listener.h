// Listening sockets: one per event loop, all bound to the same address and
// port with SO_REUSEPORT so the kernel spreads new connections across loops.
#pragma once

#include <string>
#include <vector>

namespace ticketq {

struct Listeners {
  std::vector<int> fds;  // non-blocking, listening
  int port = 0;          // the port actually bound (useful with port 0)
  std::string error;     // set when opening failed; fds is then empty
};

Listeners open_listeners(const std::string& bind, int port, int count);

}  // namespace ticketq
