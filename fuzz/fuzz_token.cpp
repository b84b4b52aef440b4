// Tokens::verify on arbitrary text, against the RFC 8037 test key (public),
// with seeds that are valid tokens of that key, so mutations reach every
// check. Also base64url_decode/encode on the same text.
// Invariants:
//   - never crashes, whatever the input;
//   - a token that verifies is exactly what sign() makes of its claims: no
//     second spelling of a signed token passes (padding, stray bits,
//     another JSON layout, a malleated signature);
//   - a refused token carries no claims;
//   - base64url_decode accepts one spelling per byte string: encode(decode(x))
//     is x, and decode(encode(b)) is b.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_check.h"
#include "tokens/tokens.h"

namespace {

using namespace ticketq;

// The seeds' clock: between their iat and exp.
constexpr int64_t kNow = 1'700'000'100;

// Loads the RFC 8037 appendix A key through a PEM file, as a server would.
Tokens rfc8037_tokens() {
  auto d = base64url_decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A");
  FUZZ_CHECK(d && d->size() == 32, "RFC 8037 key");
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(d->data()), d->size());
  char path[] = "/tmp/fuzz_token_key_XXXXXX";
  int fd = mkstemp(path);
  FUZZ_CHECK(fd >= 0 && key != nullptr, "temp key file");
  std::FILE* f = fdopen(fd, "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  EVP_PKEY_free(key);
  Parsed<Tokens> t = Tokens::load({path}, {});
  unlink(path);
  FUZZ_CHECK(t.ok(), t.error);
  return *t.value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Tokens tokens = rfc8037_tokens();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string what(in);

  for (TokenKind kind : {TokenKind::kUser, TokenKind::kAdmission}) {
    TokenCheck r = tokens.verify(in, kind, "concert", kNow);
    if (r.ok()) {
      auto again = tokens.sign(r.claims);
      FUZZ_CHECK(again && *again == in, what);
    } else {
      FUZZ_CHECK(r.claims.sub.empty() && r.claims.jti.empty() && r.claims.exp == 0, what);
    }
  }

  if (auto bytes = base64url_decode(in)) FUZZ_CHECK(base64url_encode(*bytes) == in, what);
  FUZZ_CHECK(base64url_decode(base64url_encode(in)) == std::optional<std::string>(what), what);
  return 0;
}
