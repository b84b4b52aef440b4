#include "tokens/auth.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cassert>
#include <cstdio>

namespace ticketq {

std::string generate_token() {
  unsigned char raw[16];
  int ok = RAND_bytes(raw, sizeof raw);
  assert(ok == 1);
  (void)ok;
  std::string hex;
  char buf[3];
  for (unsigned char c : raw) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    hex += buf;
  }
  return hex;
}

// Both sides are hashed first so the comparison is fixed-length: neither the
// content nor the length of the presented token shows in the timing.
bool token_matches(std::string_view presented, std::string_view expected) {
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(presented.data()), presented.size(), a);
  SHA256(reinterpret_cast<const unsigned char*>(expected.data()), expected.size(), b);
  return CRYPTO_memcmp(a, b, sizeof a) == 0 && !expected.empty();
}

}  // namespace ticketq
