// A connection (redis_connection.h) kept open to one server: the server's
// name is looked up (host_resolver.h: the loop's resolver, shared by the
// links of a backend, which must outlive them) before each attempt, and
// a connection that fails or drops is opened again with exponential backoff
// and jitter, until stop(). It can be moved to another server
// (set_endpoint).
//
// What is sent on each new connection and what its state means are the
// owner's: a data node (redis_gateway.h) loads its scripts, a Sentinel's
// links (redis_sentinel.h) ask for the master or listen for failovers.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "redis/host_resolver.h"
#include "redis/redis_connection.h"
#include "redis/redis_url.h"

struct event_base;
struct event;

namespace ticketq {

struct LinkOptions {
  RedisEndpoint endpoint;  // no host: nowhere to connect until set_endpoint
  int64_t backoff_min_ms = 50;
  int64_t backoff_max_ms = 1000;
  ConnectionOptions connection;
};

class RedisLink {
 public:
  struct Hooks {
    // A new connection: what goes ahead of every call (after AUTH and
    // SELECT), queued until the socket connects.
    std::function<void()> opened;
    std::function<void()> connected;
    // The connection ended (failed, dropped, or closed by drop()); calls in
    // flight were answered. `was_connected`: connected() said true.
    std::function<void(bool was_connected)> ended;
    // This may no longer be the server to talk to: it cannot be resolved
    // or reached, the connection dropped, or a reply said READONLY,
    // NOREPLICAS, LOADING or MASTERDOWN. Not said for stop(), drop() before
    // connecting, or set_endpoint(). Optional.
    std::function<void(const std::string& why)> trouble;
  };

  RedisLink(event_base* base, HostResolver& resolver, LinkOptions options, Hooks hooks);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  void start();  // first connection attempt
  void stop();   // drops the connection, answers calls in flight, never reconnects
  // Drops the connection (from anywhere, a reply's callback included); the
  // next attempt follows the backoff.
  void drop();
  // Talks to another server from now on: the connection is dropped (calls
  // in flight get kUnavailable) and a new one opened at once.
  void set_endpoint(const RedisEndpoint& endpoint);
  // The connection proved usable: the backoff starts again from its least.
  void reset_backoff() { attempts_ = 0; }

  RedisConnection& connection() { return conn_; }
  const RedisConnection& connection() const { return conn_; }
  const RedisEndpoint& endpoint() const { return options_.endpoint; }

 private:
  void connect();
  void on_resolved(const std::string& ip, const std::string& error);
  void open_connection(const std::string& address);
  void on_ended(RedisConnection::End end, const std::string& error);
  void schedule_reconnect();
  void trouble(const std::string& why);
  static void on_reconnect_timer(int fd, short what, void* arg);

  LinkOptions options_;
  Hooks hooks_;
  HostResolver& resolver_;
  HostResolver::Lookup* lookup_ = nullptr;  // the endpoint's name, being looked up
  uint64_t lookups_answered_ = 0;           // lets connect() tell an answer given at once
  RedisConnection conn_;
  int attempts_ = 0;  // failed connection attempts in a row
  bool stopping_ = false;
  bool switching_ = false;  // set_endpoint is dropping the connection on purpose
  event* reconnect_timer_ = nullptr;
};

}  // namespace ticketq
