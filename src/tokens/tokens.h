// Signed tokens: compact JWS (JWT). A user who joins the line gets a *user*
// token; an admitted user gets an *admission* token. Claims iss, aud, sub
// (user id), evt (event), kind ("user" or "admission"), iat, exp (seconds
// since the epoch), jti (random, one per token) and tkt (the ticket of the
// user's join: a token acts only for the join it was given for, not for a
// later one of the same user id); a user token of the waiting room also has
// ahd (the people ahead in line at the join).
//
// The two kinds are signed differently, because different parties verify
// them:
// - An admission token is verified by booking services, offline, with any
//   JWT library against the public keys served at GET
//   /.well-known/jwks.json: it is signed with Ed25519 (alg "EdDSA", RFC
//   8037), header {"alg":"EdDSA","kid":K,"typ":"JWT"}, K the key's RFC 7638
//   JWK thumbprint.
// - A user token is only ever verified by ticketq itself (status, leave,
//   cancel; every instance has the same key files), and one is signed for
//   every first join: it is an HMAC-SHA256 (alg "HS256", RFC 7518 3.2),
//   header {"alg":"HS256","kid":K,"typ":"JWT"}, K the kid of the Ed25519
//   key its MAC key derives from. Measured on a 300-byte message (OpenSSL
//   3.0, one core of the build machine): Ed25519 signs in ~24 us and
//   verifies in ~61 us, the one-shot HMAC() takes ~1.0 us either way; a
//   whole user token is issued in ~4 us and verified in ~5 us, against ~28
//   us and ~66 us for an admission token. It is opaque to everyone else:
//   the JWKS never holds a MAC key, and no one but ticketq can verify it.
//
// Keys are Ed25519 private keys in PEM files: the first signs, every one
// verifies. The MAC key of each is HMAC-SHA256(key = its raw private key,
// "ticketq user token key v1"), derived at load, so every instance with
// the same key files derives the same MAC keys and rotation covers both
// kinds. To rotate, put the new key first and keep the old one second
// until the tokens it signed have expired, then drop it.
//
// Verification trusts nothing the token says about how to check it: the
// algorithm comes from the kind expected, HS256 for a user token and EdDSA
// for an admission token (a token naming any other, "none" included, is
// refused before any key is touched), and the key is one of ours by its
// kid. So the public key can never serve as an HMAC secret (MAC keys come
// from private keys), and a MAC is compared in constant time. The size is
// capped before any parsing.
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

#include "base/validate.h"

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
  // A user token of the waiting room: how many people were ahead in line
  // when the user joined (claim "ahd"; -1: not said, and not in the token).
  int64_t ahd = -1;
};

// The claims as the token's payload has them.
void write_claims(std::string& out, const TokenClaims& c);
nlohmann::ordered_json claims_json(const TokenClaims& c);

// Why a token was refused.
enum class TokenError {
  kNone,
  kMalformed,      // too large, not three base64url parts, not JSON, a claim missing
  kBadSignature,   // the signature does not match (tampered, or another key with our kid)
  kUnknownKey,     // no kid, or a kid that names none of the configured keys
  kAlgNotAllowed,  // an alg of no kind ("none", "RS256", ...): user is "HS256", admission "EdDSA"
  kExpired,
  kNotYetValid,  // iat more than kLeewaySeconds ahead of now
  kWrongKind,    // the other kind's alg, or kind claim
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

  // A compact JWS of `claims`, signed by the first key: HS256 with its MAC
  // key when claims.kind is kUser, EdDSA otherwise; nullopt only when
  // OpenSSL fails or a claim is not valid UTF-8.
  std::optional<std::string> sign(const TokenClaims& claims) const;
  // Claims with this service's issuer and audience, iat = now_s,
  // exp = now_s + ttl_s, a fresh random jti and `ahead` as ahd, signed.
  std::optional<std::string> issue(TokenKind kind, std::string_view sub, std::string_view event,
                                   int64_t ticket, int64_t now_s, int64_t ttl_s,
                                   int64_t ahead = -1) const;
  // The same, appended to `out` (false, and `out` as it was, on failure):
  // what the hot path uses, writing the token straight into its reply.
  // With `out` large enough, signing a user token does no heap work.
  bool issue_to(std::string& out, TokenKind kind, std::string_view sub, std::string_view event,
                int64_t ticket, int64_t now_s, int64_t ttl_s, int64_t ahead = -1) const;
  // Checks the algorithm (the one of `kind`, whatever the token names),
  // the key, the signature, then issuer, audience, kind, event and times,
  // in that order; the first failure is the reason.
  TokenCheck verify(std::string_view token, TokenKind kind, std::string_view event,
                    int64_t now_s) const;

  // {"keys":[{"kty":"OKP","crv":"Ed25519","x":..,"kid":..,"alg":"EdDSA","use":"sig"},...]}
  // for every key, the signing one first: what verifies admission tokens
  // (never user tokens). Built once at load.
  const std::string& jwks() const;
  // The kid of every key, the signing one first.
  std::vector<std::string> kids() const;
  const TokenSettings& settings() const;

  struct Impl;  // the keys; defined in tokens.cpp

 private:
  explicit Tokens(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  bool append(std::string& out, const TokenClaims& claims) const;
  std::shared_ptr<const Impl> impl_;  // shared, immutable: copies are cheap and thread-safe
};

// Base64url without padding (RFC 4648 section 5, RFC 7515 section 2).
std::string base64url_encode(std::string_view bytes);
void base64url_append(std::string& out, std::string_view bytes);
// Strict: refuses '=', characters outside the alphabet, a length of 4n+1,
// and non-zero unused bits, so every byte string has exactly one encoding.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace ticketq
