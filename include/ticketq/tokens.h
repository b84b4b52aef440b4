// Signed tokens: compact JWS (JWT) signed with Ed25519 (alg "EdDSA", RFC
// 8037), so that a booking service verifies them offline with any JWT
// library against the public keys served at GET /.well-known/jwks.json.
//
// A user who joins the line gets a *user* token; an admitted user gets an
// *admission* token. Header {"alg":"EdDSA","kid":K,"typ":"JWT"}, where K is
// the key's RFC 7638 JWK thumbprint; claims iss, aud, sub (user id), evt
// (event), kind ("user" or "admission"), iat, exp (seconds since the epoch),
// jti (random, one per token) and tkt (the ticket of the user's join: a
// token acts only for the join it was given for, not for a later one of
// the same user id).
//
// Keys are Ed25519 private keys in PEM files: the first signs, every one
// verifies. To rotate, put the new key first and keep the old one second
// until the tokens it signed have expired, then drop it.
//
// Verification trusts nothing the token says about how to check it: the
// algorithm is always EdDSA (a token naming "none", "HS256" or anything
// else is refused before any key is touched), and the key is one of ours by
// its kid. Its size is capped before any parsing.
//
// Knows nothing of HTTP or Redis. Thread-safe: keys are read-only once
// loaded and every sign or verify uses an OpenSSL context of its own.
// Errors are values. Never log a token or a key; a kid is public.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ticketq/validate.h"

namespace ticketq {

enum class TokenKind { kUser, kAdmission };
// "user" or "admission": the value of the "kind" claim.
const char* token_kind_name(TokenKind kind);

struct TokenClaims {
  std::string iss;
  std::string aud;
  std::string sub;  // user id
  std::string evt;  // event
  TokenKind kind = TokenKind::kUser;
  int64_t iat = 0;  // issued at, seconds since the epoch
  int64_t exp = 0;  // expires at: refused from this second on
  std::string jti;  // unique id of the token
  int64_t tkt = 0;  // the ticket of the join the token belongs to
};

// The claims as the token's payload has them.
nlohmann::ordered_json claims_json(const TokenClaims& c);

// Why a token was refused.
enum class TokenError {
  kNone,
  kMalformed,      // too large, not three base64url parts, not JSON, a claim missing
  kBadSignature,   // the signature does not match (tampered, or another key with our kid)
  kUnknownKey,     // no kid, or a kid that names none of the configured keys
  kAlgNotAllowed,  // alg other than "EdDSA" ("none", "HS256", ...)
  kExpired,
  kNotYetValid,  // iat more than kLeewaySeconds ahead of now
  kWrongKind,
  kWrongEvent,
  kWrongAudience,
  kWrongIssuer,
};
// The short machine-readable reason: "malformed", "bad_signature", ...
const char* token_error_name(TokenError e);

struct TokenCheck {
  TokenError error = TokenError::kNone;
  TokenClaims claims;  // filled when ok()
  bool ok() const { return error == TokenError::kNone; }
  const char* reason() const { return token_error_name(error); }
};

// What every token of this service says and is checked for.
struct TokenSettings {
  std::string issuer = "ticketq";
  std::string audience = "booking";
};

class Tokens {
 public:
  static constexpr size_t kMaxTokenBytes = 4096;
  // Clock skew allowed for iat; none is allowed for exp.
  static constexpr int64_t kLeewaySeconds = 60;

  // Loads Ed25519 private keys from PEM files (unencrypted PKCS#8, as
  // `openssl genpkey -algorithm ed25519` writes them); the first signs. The
  // error names the file, never its content.
  static Parsed<Tokens> load(const std::vector<std::string>& pem_paths, TokenSettings settings);
  // The same from the token_keys setting: comma-separated paths, spaces
  // around each ignored.
  static Parsed<Tokens> load_list(std::string_view comma_separated, TokenSettings settings);
  // A key made now and kept in memory only: its tokens verify on this
  // process alone and not after a restart.
  static Parsed<Tokens> ephemeral(TokenSettings settings);

  // A compact JWS of `claims`, signed by the first key; nullopt only when
  // OpenSSL fails or a claim is not valid UTF-8.
  std::optional<std::string> sign(const TokenClaims& claims) const;
  // Claims with this service's issuer and audience, iat = now_s,
  // exp = now_s + ttl_s and a fresh random jti, signed.
  std::optional<std::string> issue(TokenKind kind, std::string_view sub, std::string_view event,
                                   int64_t ticket, int64_t now_s, int64_t ttl_s) const;
  // Checks signature, then issuer, audience, kind, event and times, in that
  // order; the first failure is the reason.
  TokenCheck verify(std::string_view token, TokenKind kind, std::string_view event,
                    int64_t now_s) const;

  // {"keys":[{"kty":"OKP","crv":"Ed25519","x":..,"kid":..,"alg":"EdDSA","use":"sig"},...]}
  // for every key, the signing one first. Built once at load.
  const std::string& jwks() const;
  // The kid of every key, the signing one first.
  std::vector<std::string> kids() const;
  const TokenSettings& settings() const;

  struct Impl;  // the keys; defined in tokens.cpp

 private:
  explicit Tokens(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;  // shared, immutable: copies are cheap and thread-safe
};

// Base64url without padding (RFC 4648 section 5, RFC 7515 section 2).
std::string base64url_encode(std::string_view bytes);
// Strict: refuses '=', characters outside the alphabet, a length of 4n+1,
// and non-zero unused bits, so every byte string has exactly one encoding.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace ticketq
