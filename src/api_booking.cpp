// Handlers for booking services: what they need to check the tokens ticketq
// gives users (tokens.h) on their own, without calling back.
#include "ticketq/api.h"

namespace ticketq {

// The public keys as a JWKS; anyone may read them. Verifiers may cache them
// for max-age: the README's rotation lists a new key (second) that long
// before it signs, and a verifier that fetches again on an unknown kid never
// refuses a good token.
void Api::jwks(Reply reply) {
  Response r{200, tokens_.jwks() + "\n", "application/json"};
  r.cache_control = "max-age=300";
  reply.send(std::move(r));
}

}  // namespace ticketq
