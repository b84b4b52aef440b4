// ticketq-server: reads the configuration and runs the server. Everything
// else lives in the ticketq_core library, which the tests link too.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "config/config.h"
#include "server/server.h"

int main(int argc, char** argv) {
  ticketq::LoadResult loaded = ticketq::load_config(argc, argv);
  if (loaded.action == ticketq::LoadResult::Action::kExit) {
    std::fputs(loaded.message.c_str(), loaded.exit_code == 0 ? stdout : stderr);
    return loaded.exit_code;
  }
  const ticketq::Config& cfg = loaded.config;

  auto logger = spdlog::stderr_color_mt("ticketq");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ [%t] %v");
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));
  if (!cfg.config_file.empty()) spdlog::info("configuration from {}", cfg.config_file);
  if (cfg.admin_token_generated)
    spdlog::warn("no admin token configured; generated one for this run: {}", cfg.admin_token);
  return ticketq::run_server(cfg);
}
