#include "tokens/tokens.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "base/json_writer.h"

namespace ticketq {

using Json = nlohmann::ordered_json;

namespace {

constexpr size_t kEd25519KeyBytes = 32;
constexpr size_t kEd25519SigBytes = 64;
constexpr size_t kMacBytes = 32;  // HMAC-SHA256: the MAC keys and the MACs
// What the MAC key of a user token is derived from, with the Ed25519
// private key as the HMAC key.
constexpr std::string_view kMacKeyLabel = "ticketq user token key v1";
constexpr size_t kMaxKeyFileBytes = 64 * 1024;  // a PEM Ed25519 key is 119 bytes

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// ------------------------------------------------------------- signatures --

// Ed25519 signs the message itself (no separate digest): the md is NULL.
std::optional<std::string> ed25519_sign(EVP_PKEY* key, std::string_view message) {
  MdCtx ctx(EVP_MD_CTX_new());
  unsigned char sig[kEd25519SigBytes];
  size_t len = sizeof sig;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &len, bytes_of(message), message.size()) != 1 ||
      len != sizeof sig) {
    ERR_clear_error();  // OpenSSL's error queue is per thread: leave it clean
    return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(sig), len);
}

bool ed25519_verify(EVP_PKEY* key, std::string_view message, std::string_view sig) {
  MdCtx ctx(EVP_MD_CTX_new());
  bool ok = ctx && sig.size() == kEd25519SigBytes &&
            EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key) == 1 &&
            EVP_DigestVerify(ctx.get(), bytes_of(sig), sig.size(), bytes_of(message),
                             message.size()) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

using MacKey = std::array<unsigned char, kMacBytes>;

// HMAC-SHA256 (RFC 2104; RFC 7518 section 3.2, "HS256") with the key's two
// padded blocks hashed once, when the key is loaded (RFC 2104 section 4):
// a MAC then costs copying two hash states and hashing the message. OpenSSL
// 3.0's HMAC() and EVP digests make and free a context on every call (one
// allocation each, even re-initialising a kept EVP_MD_CTX); its SHA256_*
// state functions, deprecated in 3.0 but kept, need none, so a user token is
// signed and checked with no heap work.
struct HmacKey {
  SHA256_CTX inner;  // after hashing key ^ ipad
  SHA256_CTX outer;  // after hashing key ^ opad
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
// The key is 32 bytes, shorter than SHA-256's 64-byte block: it is used as
// it is, padded with zeros.
bool prepare_hmac(const MacKey& key, HmacKey* out) {
  constexpr size_t kBlock = 64;
  unsigned char pad[kBlock];
  auto start = [&](unsigned char fill, SHA256_CTX* ctx) {
    std::memset(pad, fill, kBlock);
    for (size_t i = 0; i < key.size(); ++i) pad[i] ^= key[i];
    return SHA256_Init(ctx) == 1 && SHA256_Update(ctx, pad, kBlock) == 1;
  };
  bool ok = start(0x36, &out->inner) && start(0x5c, &out->outer);
  OPENSSL_cleanse(pad, sizeof pad);
  return ok;
}

bool hmac_sha256(const HmacKey& key, std::string_view message, unsigned char (&mac)[kMacBytes]) {
  SHA256_CTX ctx = key.inner;
  bool ok =
      SHA256_Update(&ctx, message.data(), message.size()) == 1 && SHA256_Final(mac, &ctx) == 1;
  ctx = key.outer;
  ok = ok && SHA256_Update(&ctx, mac, kMacBytes) == 1 && SHA256_Final(mac, &ctx) == 1;
  OPENSSL_cleanse(&ctx, sizeof ctx);
  return ok;
}
#pragma GCC diagnostic pop

std::optional<std::string> hs256_sign(const HmacKey& key, std::string_view message) {
  unsigned char mac[kMacBytes];
  if (!hmac_sha256(key, message, mac)) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(mac), sizeof mac);
}

// In constant time for a MAC of the right length; any other length is
// refused before anything is computed (the length says nothing of the key).
bool hs256_verify(const HmacKey& key, std::string_view message, std::string_view mac) {
  unsigned char expected[kMacBytes];
  return mac.size() == kMacBytes && hmac_sha256(key, message, expected) &&
         CRYPTO_memcmp(expected, mac.data(), kMacBytes) == 0;
}

std::string sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  return std::string(reinterpret_cast<const char*>(md), len);
}

// ------------------------------------------------------------------- keys --

// Never prompts for a passphrase (OpenSSL's default would read the
// terminal): an encrypted key simply fails to load.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

// Reads one key file. The message names the file, never what is in it.
Parsed<Pkey> read_key_file(const std::string& path) {
  auto fail = [&](const std::string& why) {
    return Parsed<Pkey>::fail("key file " + path + ": " + why);
  };
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return fail(std::string("cannot be read (") + std::strerror(errno) + ")");
  std::string pem(kMaxKeyFileBytes + 1, '\0');
  size_t n = std::fread(pem.data(), 1, pem.size(), f);
  int read_errno = std::ferror(f) ? errno : 0;
  std::fclose(f);
  auto wipe = [&] { OPENSSL_cleanse(pem.data(), pem.size()); };
  if (read_errno != 0) {
    wipe();
    return fail(std::string("cannot be read (") + std::strerror(read_errno) + ")");
  }
  if (n > kMaxKeyFileBytes) {
    wipe();
    return fail("too large for a key file");
  }
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(n));
  Pkey key(bio != nullptr ? PEM_read_bio_PrivateKey(bio, nullptr, no_passphrase, nullptr)
                          : nullptr);
  BIO_free(bio);
  wipe();
  ERR_clear_error();
  if (!key)
    return fail(
        "not an unencrypted PEM private key (make one with: openssl genpkey -algorithm ed25519)");
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    const char* type = EVP_PKEY_get0_type_name(key.get());
    return fail(std::string("holds a key of type ") + (type != nullptr ? type : "unknown") +
                ", not Ed25519");
  }
  return {std::move(key), {}};
}

// The JWK members of a key: x (the raw public key) and its RFC 7638
// thumbprint, the SHA-256 of the required members in lexical order with no
// white space.
bool public_members(EVP_PKEY* key, std::string* x, std::string* kid) {
  unsigned char raw[kEd25519KeyBytes];
  size_t len = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != sizeof raw) {
    ERR_clear_error();
    return false;
  }
  *x = base64url_encode(std::string_view(reinterpret_cast<const char*>(raw), len));
  std::string digest = sha256(R"({"crv":"Ed25519","kty":"OKP","x":")" + *x + R"("})");
  if (digest.empty()) return false;
  *kid = base64url_encode(digest);
  return true;
}

// The MAC key of the user tokens of an Ed25519 key: HMAC-SHA256 keyed with
// its raw private key over kMacKeyLabel. Every instance with the same key
// file derives the same MAC key; nothing public (the JWK's x) leads to it.
bool derive_mac_key(EVP_PKEY* key, MacKey* out) {
  unsigned char raw[kEd25519KeyBytes];
  size_t len = sizeof raw;
  unsigned int mac_len = 0;
  bool ok = EVP_PKEY_get_raw_private_key(key, raw, &len) == 1 && len == sizeof raw &&
            HMAC(EVP_sha256(), raw, static_cast<int>(len), bytes_of(kMacKeyLabel),
                 kMacKeyLabel.size(), out->data(), &mac_len) != nullptr &&
            mac_len == out->size();
  OPENSSL_cleanse(raw, sizeof raw);
  if (!ok) {
    OPENSSL_cleanse(out->data(), out->size());
    ERR_clear_error();
  }
  return ok;
}

// ------------------------------------------------------------------- random --

// Random bytes from OpenSSL's generator, drawn 4 KiB at a time per thread:
// one RAND_bytes call (its DRBG takes a lock) serves 256 token ids. They
// only need to be unique and unguessable, not secret: a jti is in the
// token for anyone to read.
bool random_bytes(unsigned char* out, size_t n) {
  constexpr size_t kPool = 4096;
  struct Pool {
    unsigned char bytes[kPool];
    size_t used = kPool;
  };
  thread_local Pool pool;
  if (n > kPool) return false;
  if (kPool - pool.used < n) {
    if (RAND_bytes(pool.bytes, kPool) != 1) {
      ERR_clear_error();
      return false;
    }
    pool.used = 0;
  }
  std::memcpy(out, pool.bytes + pool.used, n);  // each byte is handed out once
  pool.used += n;
  return true;
}

// ---------------------------------------------------------------- base64url --

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int alphabet_index(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// ----------------------------------------------------------------- claims --

std::optional<TokenKind> kind_from_name(std::string_view name) {
  if (name == token_kind_name(TokenKind::kUser)) return TokenKind::kUser;
  if (name == token_kind_name(TokenKind::kAdmission)) return TokenKind::kAdmission;
  return std::nullopt;
}

bool string_member(const nlohmann::json& obj, const char* name, std::string* out) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) return false;
  *out = it->get<std::string>();
  return true;
}

bool int_member(const nlohmann::json& obj, const char* name, int64_t* out) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_number_integer()) return false;
  if (it->is_number_unsigned() &&
      it->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return false;
  *out = it->get<int64_t>();
  return true;
}

// The claims of a verified payload; kMalformed when one is missing or of
// the wrong type, kWrongKind for a kind this service does not issue.
TokenError read_claims(const nlohmann::json& p, TokenClaims* c) {
  std::string kind;
  if (!string_member(p, "iss", &c->iss) || !string_member(p, "aud", &c->aud) ||
      !string_member(p, "sub", &c->sub) || !string_member(p, "evt", &c->evt) ||
      !string_member(p, "kind", &kind) || !int_member(p, "iat", &c->iat) ||
      !int_member(p, "exp", &c->exp) || !string_member(p, "jti", &c->jti) ||
      !int_member(p, "tkt", &c->tkt))
    return TokenError::kMalformed;
  if (p.contains("ahd") && (!int_member(p, "ahd", &c->ahd) || c->ahd < 0))
    return TokenError::kMalformed;
  auto k = kind_from_name(kind);
  if (!k) return TokenError::kWrongKind;
  c->kind = *k;
  return TokenError::kNone;
}

}  // namespace

// ------------------------------------------------------------------- names --

const char* token_kind_name(TokenKind kind) {
  return kind == TokenKind::kAdmission ? "admission" : "user";
}

const char* token_error_name(TokenError e) {
  switch (e) {
    case TokenError::kNone:
      return "ok";
    case TokenError::kMalformed:
      return "malformed";
    case TokenError::kBadSignature:
      return "bad_signature";
    case TokenError::kUnknownKey:
      return "unknown_key";
    case TokenError::kAlgNotAllowed:
      return "alg_not_allowed";
    case TokenError::kExpired:
      return "expired";
    case TokenError::kNotYetValid:
      return "not_yet_valid";
    case TokenError::kWrongKind:
      return "wrong_kind";
    case TokenError::kWrongEvent:
      return "wrong_event";
    case TokenError::kWrongAudience:
      return "wrong_audience";
    case TokenError::kWrongIssuer:
      return "wrong_issuer";
  }
  return "malformed";
}

// ---------------------------------------------------------------- base64url --

void base64url_append(std::string& out, std::string_view bytes) {
  size_t at = out.size();
  out.resize(at + (bytes.size() * 4 + 2) / 3);
  char* o = out.data() + at;
  auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(bytes[i])); };
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    *o++ = kAlphabet[v >> 18];
    *o++ = kAlphabet[(v >> 12) & 0x3f];
    *o++ = kAlphabet[(v >> 6) & 0x3f];
    *o++ = kAlphabet[v & 0x3f];
  }
  if (bytes.size() - i == 1) {
    uint32_t v = byte(i) << 16;
    *o++ = kAlphabet[v >> 18];
    *o++ = kAlphabet[(v >> 12) & 0x3f];
  } else if (bytes.size() - i == 2) {
    uint32_t v = byte(i) << 16 | byte(i + 1) << 8;
    *o++ = kAlphabet[v >> 18];
    *o++ = kAlphabet[(v >> 12) & 0x3f];
    *o++ = kAlphabet[(v >> 6) & 0x3f];
  }
}

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  base64url_append(out, bytes);
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t buf = 0;
  int bits = 0;
  for (char c : text) {
    int v = alphabet_index(c);
    if (v < 0) return std::nullopt;
    buf = (buf << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xff);
    }
    buf &= (1u << bits) - 1;
  }
  if (buf != 0) return std::nullopt;  // unused bits must be zero: one encoding per value
  return out;
}

// ------------------------------------------------------------------ loading --

struct Tokens::Impl {
  struct Key {
    Pkey pkey;  // signs and verifies admission tokens (EdDSA)
    std::string kid;
    HmacKey hmac{};  // signs and verifies user tokens (HS256); its key derived from pkey
  };
  TokenSettings settings;
  std::vector<Key> keys;         // keys[0] signs
  std::string admission_header;  // base64url of the EdDSA header with keys[0]'s kid
  std::string user_header;       // the same for HS256
  std::string jwks;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    for (Key& k : keys) OPENSSL_cleanse(&k.hmac, sizeof k.hmac);
  }

  const Key* find(std::string_view kid) const {
    for (const Key& k : keys)
      if (k.kid == kid) return &k;
    return nullptr;
  }
};

namespace {

// Builds the key set; each key signs and verifies once here, so a key that
// cannot is refused at start rather than at the first token. The MAC keys
// are derived here and prepared into the Impl itself (reserved up front: no
// copy of one is left behind by a reallocation), so that the Impl wipes
// them; the derived key itself is wiped at once.
Parsed<std::shared_ptr<Tokens::Impl>> make_impl(std::vector<Pkey> pkeys,
                                                const std::vector<std::string>& names,
                                                TokenSettings settings) {
  using Result = Parsed<std::shared_ptr<Tokens::Impl>>;
  if (pkeys.empty()) return Result::fail("no token key given");
  auto impl = std::make_shared<Tokens::Impl>();
  impl->settings = std::move(settings);
  Json keys = Json::array();
  impl->keys.reserve(pkeys.size());
  for (size_t i = 0; i < pkeys.size(); ++i) {
    std::string x, kid;
    auto sig =
        public_members(pkeys[i].get(), &x, &kid) ? ed25519_sign(pkeys[i].get(), kid) : std::nullopt;
    if (!sig || !ed25519_verify(pkeys[i].get(), kid, *sig))
      return Result::fail("key " + names[i] + ": OpenSSL could not sign with it");
    if (impl->find(kid) != nullptr)
      return Result::fail("key " + names[i] + ": the same key is listed twice");
    keys.push_back({{"kty", "OKP"},
                    {"crv", "Ed25519"},
                    {"x", x},
                    {"kid", kid},
                    {"alg", "EdDSA"},
                    {"use", "sig"}});
    impl->keys.push_back({std::move(pkeys[i]), kid});
    Tokens::Impl::Key& key = impl->keys.back();
    MacKey mac_key{};
    bool prepared = derive_mac_key(key.pkey.get(), &mac_key) && prepare_hmac(mac_key, &key.hmac);
    OPENSSL_cleanse(mac_key.data(), mac_key.size());
    auto mac = prepared ? hs256_sign(key.hmac, kid) : std::nullopt;
    if (!mac || !hs256_verify(key.hmac, kid, *mac))
      return Result::fail("key " + names[i] + ": OpenSSL could not derive its MAC key");
  }
  impl->jwks = Json{{"keys", keys}}.dump();
  auto header = [&](const char* alg) {
    return base64url_encode(Json{{"alg", alg}, {"kid", impl->keys[0].kid}, {"typ", "JWT"}}.dump());
  };
  impl->admission_header = header("EdDSA");
  impl->user_header = header("HS256");
  return {std::move(impl), {}};
}

}  // namespace

Parsed<Tokens> Tokens::load(const std::vector<std::string>& pem_paths, TokenSettings settings) {
  std::vector<Pkey> pkeys;
  for (const std::string& path : pem_paths) {
    Parsed<Pkey> key = read_key_file(path);
    if (!key.ok()) return Parsed<Tokens>::fail(key.error);
    pkeys.push_back(std::move(*key.value));
  }
  auto impl = make_impl(std::move(pkeys), pem_paths, std::move(settings));
  if (!impl.ok()) return Parsed<Tokens>::fail(impl.error);
  return {Tokens(std::move(*impl.value)), {}};
}

Parsed<Tokens> Tokens::load_list(std::string_view comma_separated, TokenSettings settings) {
  std::vector<std::string> paths;
  while (true) {
    size_t comma = comma_separated.find(',');
    std::string_view item = comma_separated.substr(0, comma);
    size_t first = item.find_first_not_of(" \t"), last = item.find_last_not_of(" \t");
    if (first == std::string_view::npos)
      return Parsed<Tokens>::fail("an empty path in the list of token key files");
    paths.emplace_back(item.substr(first, last - first + 1));
    if (comma == std::string_view::npos) break;
    comma_separated.remove_prefix(comma + 1);
  }
  return load(paths, std::move(settings));
}

Parsed<Tokens> Tokens::ephemeral(TokenSettings settings) {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) {
    ERR_clear_error();
    return Parsed<Tokens>::fail("OpenSSL could not make an Ed25519 key");
  }
  std::vector<Pkey> pkeys;
  pkeys.push_back(std::move(key));
  auto impl = make_impl(std::move(pkeys), {"(made at start)"}, std::move(settings));
  if (!impl.ok()) return Parsed<Tokens>::fail(impl.error);
  return {Tokens(std::move(*impl.value)), {}};
}

// ------------------------------------------------------------ sign, verify --

void write_claims(std::string& out, const TokenClaims& c) {
  JsonWriter w(out);
  w.field("iss", c.iss)
      .field("aud", c.aud)
      .field("sub", c.sub)
      .field("evt", c.evt)
      .field("kind", token_kind_name(c.kind))
      .field("iat", c.iat)
      .field("exp", c.exp)
      .field("jti", c.jti)
      .field("tkt", c.tkt);
  if (c.ahd >= 0) w.field("ahd", c.ahd);
  w.close();
}

nlohmann::ordered_json claims_json(const TokenClaims& c) {
  std::string text;
  write_claims(text, c);
  return nlohmann::ordered_json::parse(text);
}

// header "." payload "." signature, appended to `out`. The payload is
// written in a buffer each thread keeps, and everything else in place, so
// a user token costs no heap work once `out` and that buffer have grown to
// a token's size.
bool Tokens::append(std::string& out, const TokenClaims& c) const {
  for (const std::string* text : {&c.iss, &c.aud, &c.sub, &c.evt, &c.jti})
    if (!valid_utf8(*text)) return false;
  thread_local std::string payload;
  payload.clear();
  write_claims(payload, c);
  const Impl::Key& key = impl_->keys[0];
  const bool user = c.kind == TokenKind::kUser;
  const size_t start = out.size();
  out += user ? impl_->user_header : impl_->admission_header;
  out += '.';
  base64url_append(out, payload);
  std::string_view input(out.data() + start, out.size() - start);
  if (user) {
    unsigned char mac[kMacBytes];
    if (!hmac_sha256(key.hmac, input, mac)) return out.resize(start), false;
    out += '.';
    base64url_append(out, std::string_view(reinterpret_cast<const char*>(mac), sizeof mac));
    return true;
  }
  auto sig = ed25519_sign(key.pkey.get(), input);
  if (!sig) return out.resize(start), false;
  out += '.';
  base64url_append(out, *sig);
  return true;
}

std::optional<std::string> Tokens::sign(const TokenClaims& c) const {
  std::string token;
  if (!append(token, c)) return std::nullopt;
  return token;
}

bool Tokens::issue_to(std::string& out, TokenKind kind, std::string_view sub,
                      std::string_view event, int64_t ticket, int64_t now_s, int64_t ttl_s,
                      int64_t ahead) const {
  unsigned char id[16];
  if (!random_bytes(id, sizeof id)) return false;
  // Kept per thread, like the payload: its strings keep their room.
  thread_local TokenClaims c;
  c.iss = impl_->settings.issuer;
  c.aud = impl_->settings.audience;
  c.sub = sub;
  c.evt = event;
  c.kind = kind;
  c.iat = now_s;
  c.exp = now_s + ttl_s;
  c.tkt = ticket;
  c.ahd = ahead < 0 ? -1 : ahead;
  c.jti.clear();
  base64url_append(c.jti, std::string_view(reinterpret_cast<const char*>(id), sizeof id));
  return append(out, c);
}

std::optional<std::string> Tokens::issue(TokenKind kind, std::string_view sub,
                                         std::string_view event, int64_t ticket, int64_t now_s,
                                         int64_t ttl_s, int64_t ahead) const {
  std::string token;
  if (!issue_to(token, kind, sub, event, ticket, now_s, ttl_s, ahead)) return std::nullopt;
  return token;
}

// The order matters: the size first, so nothing large is parsed; the
// algorithm before the key, so the token never chooses how it is checked
// (the kind expected does: HS256 for a user token, EdDSA for an admission
// token); the signature before the payload is read, so claims are only ever
// read from what one of our keys signed.
TokenCheck Tokens::verify(std::string_view token, TokenKind kind, std::string_view event,
                          int64_t now_s) const {
  TokenCheck out;
  auto refuse = [&](TokenError e) {
    out.error = e;
    out.claims = {};
    return out;
  };
  if (token.size() > kMaxTokenBytes) return refuse(TokenError::kMalformed);
  size_t dot1 = token.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return refuse(TokenError::kMalformed);
  auto header_text = base64url_decode(token.substr(0, dot1));
  auto payload_text = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto sig = base64url_decode(token.substr(dot2 + 1));
  if (!header_text || !payload_text || !sig) return refuse(TokenError::kMalformed);

  auto header = parse_json_object(*header_text);
  if (!header.ok() || header.value->contains("crit")) return refuse(TokenError::kMalformed);
  const nlohmann::json& h = *header.value;
  // Each kind has one alg. The other kind's alg names a token of the other
  // kind (nothing is checked with it); any other alg is refused outright.
  const bool user = kind == TokenKind::kUser;
  auto alg = h.find("alg");
  if (alg == h.end() || !alg->is_string()) return refuse(TokenError::kAlgNotAllowed);
  const std::string& alg_name = alg->get_ref<const std::string&>();
  if (alg_name != (user ? "HS256" : "EdDSA"))
    return refuse(alg_name == (user ? "EdDSA" : "HS256") ? TokenError::kWrongKind
                                                         : TokenError::kAlgNotAllowed);
  auto typ = h.find("typ");
  if (typ != h.end() && (!typ->is_string() || typ->get<std::string>() != "JWT"))
    return refuse(TokenError::kMalformed);
  auto kid = h.find("kid");
  if (kid == h.end() || !kid->is_string()) return refuse(TokenError::kUnknownKey);
  const Impl::Key* key = impl_->find(kid->get<std::string>());
  if (key == nullptr) return refuse(TokenError::kUnknownKey);
  std::string_view input = token.substr(0, dot2);
  if (!(user ? hs256_verify(key->hmac, input, *sig) : ed25519_verify(key->pkey.get(), input, *sig)))
    return refuse(TokenError::kBadSignature);

  auto payload = parse_json_object(*payload_text);
  if (!payload.ok()) return refuse(TokenError::kMalformed);
  if (TokenError e = read_claims(*payload.value, &out.claims); e != TokenError::kNone)
    return refuse(e);
  const TokenClaims& c = out.claims;
  if (c.iss != impl_->settings.issuer) return refuse(TokenError::kWrongIssuer);
  if (c.aud != impl_->settings.audience) return refuse(TokenError::kWrongAudience);
  if (c.kind != kind) return refuse(TokenError::kWrongKind);
  if (c.evt != event) return refuse(TokenError::kWrongEvent);
  if (now_s >= c.exp) return refuse(TokenError::kExpired);
  if (c.iat > now_s + kLeewaySeconds) return refuse(TokenError::kNotYetValid);
  return out;
}

// ---------------------------------------------------------------- accessors --

const std::string& Tokens::jwks() const {
  return impl_->jwks;
}

std::vector<std::string> Tokens::kids() const {
  std::vector<std::string> out;
  for (const Impl::Key& k : impl_->keys) out.push_back(k.kid);
  return out;
}

const TokenSettings& Tokens::settings() const {
  return impl_->settings;
}

}  // namespace ticketq
