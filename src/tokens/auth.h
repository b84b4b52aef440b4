// Admin authentication: a shared token sent in the X-Token header.
#pragma once

#include <string>
#include <string_view>

namespace ticketq {

// A fresh random token (32 hex digits from the OS's CSPRNG via OpenSSL).
std::string generate_token();

// Compares a presented token with the expected one in time that depends on
// neither content nor length of the presented token.
bool token_matches(std::string_view presented, std::string_view expected);

}  // namespace ticketq
