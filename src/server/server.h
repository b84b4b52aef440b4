// The server: N event loops ("workers"), shared nothing. Each owns an
// event_base, an HTTP front end, a queue core and its own Redis
// connection, and replies only to requests it accepted itself. The main
// thread only waits for SIGINT/SIGTERM and then drains the workers.
#pragma once

#include "config/config.h"

namespace ticketq {

// Runs until SIGINT or SIGTERM; returns the process exit code.
int run_server(const Config& cfg);

}  // namespace ticketq
