// Tests of src/tokens/tokens.cpp: base64url, key loading, the RFC 7638 kid (RFC
// 8037 test vector), the JWKS, known answers for both kinds (EdDSA
// admission tokens, HS256 user tokens and the derivation of their MAC
// key), sign/verify round trips, every reason a token is refused
// (tampering, truncation, wrong or unknown key, alg "none", an alg that is
// not the expected kind's, HMAC keyed with the public key, expiry, kind,
// event, audience, issuer, size), rotation, and sign/verify from several
// threads at once.
#include "tokens/tokens.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "key_files.h"

namespace ticketq {

// gtest prints the reason, not the enum's bytes.
void PrintTo(TokenError e, std::ostream* os) {
  *os << token_error_name(e);
}

namespace {

using test::KeyDir;
using test::TestPkey;
using Json = nlohmann::ordered_json;

constexpr int64_t kNow = 1'700'000'000;
constexpr int64_t kTtl = 600;
constexpr int64_t kTicket = 41;

// RFC 8037 appendix A.1-A.3: the Ed25519 key, its x and its thumbprint.
constexpr const char* kRfcD = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
constexpr const char* kRfcX = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
constexpr const char* kRfcKid = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
// RFC 8037 A.4: a JWS by that key, header {"alg":"EdDSA"} (no kid).
constexpr const char* kRfcJws =
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg"
    "3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

std::vector<std::string> split(const std::string& token) {
  std::vector<std::string> parts;
  size_t from = 0;
  while (true) {
    size_t dot = token.find('.', from);
    parts.push_back(token.substr(from, dot - from));
    if (dot == std::string::npos) return parts;
    from = dot + 1;
  }
}

std::string decoded(const std::string& b64) {
  auto d = base64url_decode(b64);
  EXPECT_TRUE(d.has_value()) << b64;
  return d.value_or("");
}

std::string ed25519_sign(EVP_PKEY* key, const std::string& msg) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char sig[64];
  size_t len = sizeof sig;
  bool ok = EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
            EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char*>(msg.data()),
                           msg.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EXPECT_TRUE(ok);
  return std::string(reinterpret_cast<const char*>(sig), len);
}

std::string hmac_sha256(const std::string& key, const std::string& msg) {
  unsigned char mac[32];
  unsigned int len = sizeof mac;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

std::string raw_private_key(EVP_PKEY* key) {
  unsigned char raw[32];
  size_t len = sizeof raw;
  EXPECT_EQ(EVP_PKEY_get_raw_private_key(key, raw, &len), 1);
  return std::string(reinterpret_cast<const char*>(raw), len);
}

// The MAC key of the user tokens of an Ed25519 key, as documented in
// tokens.h, computed here on its own.
std::string mac_key_of(EVP_PKEY* key) {
  return hmac_sha256(raw_private_key(key), "ticketq user token key v1");
}

// The alg a token of this kind must name.
std::string alg_of(TokenKind kind) {
  return kind == TokenKind::kUser ? "HS256" : "EdDSA";
}

// header.payload of the given JSON texts, base64url-encoded.
std::string signing_input(const std::string& header, const std::string& payload) {
  return base64url_encode(header) + "." + base64url_encode(payload);
}

class TokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_a_ = dir_.new_key("a.pem");
    key_b_ = dir_.new_key("b.pem");
    a_ = load({key_a_});
    b_ = load({key_b_});
  }

  static Tokens load(const std::vector<std::string>& paths, TokenSettings s = {}) {
    Parsed<Tokens> t = Tokens::load(paths, std::move(s));
    EXPECT_TRUE(t.ok()) << t.error;
    return t.ok() ? *t.value : *Tokens::ephemeral({}).value;
  }

  // The key of RFC 8037 appendix A, through a PEM file like any other.
  Tokens rfc8037() const {
    std::string d = base64url_decode(kRfcD).value_or("");
    EXPECT_EQ(d.size(), 32u);
    TestPkey key(EVP_PKEY_new_raw_private_key(
        EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(d.data()), d.size()));
    EXPECT_TRUE(key);
    return load({dir_.write_key("rfc8037.pem", key.get())});
  }

  std::string user_token(const Tokens& t, int64_t now = kNow) const {
    auto tok = t.issue(TokenKind::kUser, "alice", "concert", kTicket, now, kTtl);
    EXPECT_TRUE(tok.has_value());
    return tok.value_or("");
  }
  std::string admission_token(const Tokens& t, int64_t now = kNow) const {
    auto tok = t.issue(TokenKind::kAdmission, "alice", "concert", kTicket, now, kTtl);
    EXPECT_TRUE(tok.has_value());
    return tok.value_or("");
  }
  std::string token_of(TokenKind kind, const Tokens& t) const {
    return kind == TokenKind::kUser ? user_token(t) : admission_token(t);
  }

  // Claims as the unit writes them, for hand-made tokens.
  static Json claims_json(const Tokens& t, int64_t iat = kNow, TokenKind kind = TokenKind::kUser) {
    return Json{{"iss", t.settings().issuer},
                {"aud", t.settings().audience},
                {"sub", "alice"},
                {"evt", "concert"},
                {"kind", token_kind_name(kind)},
                {"iat", iat},
                {"exp", iat + kTtl},
                {"jti", "j1"},
                {"tkt", 1}};
  }
  static Json claims_json(const Tokens& t, TokenKind kind) { return claims_json(t, kNow, kind); }
  // The header a_ writes: EdDSA for admission tokens, HS256 for user tokens.
  std::string header_a(TokenKind kind = TokenKind::kAdmission) const {
    return Json{{"alg", alg_of(kind)}, {"kid", a_->kids()[0]}, {"typ", "JWT"}}.dump();
  }
  // A token signed by `key` with Ed25519 over exactly these header and
  // payload texts.
  static std::string forge(EVP_PKEY* key, const std::string& header, const std::string& payload) {
    std::string input = signing_input(header, payload);
    return input + "." + base64url_encode(ed25519_sign(key, input));
  }
  // The same with HMAC-SHA256 keyed with `secret`.
  static std::string forge_hs(const std::string& secret, const std::string& header,
                              const std::string& payload) {
    std::string input = signing_input(header, payload);
    return input + "." + base64url_encode(hmac_sha256(secret, input));
  }
  // A token of a_'s key as a_ would sign a token of this kind (Ed25519 with
  // the private key, or HMAC with the MAC key derived from it), over
  // exactly these texts.
  std::string sign_a(TokenKind kind, const std::string& header, const std::string& payload) const {
    TestPkey a = test::read_key(key_a_);
    return kind == TokenKind::kUser ? forge_hs(mac_key_of(a.get()), header, payload)
                                    : forge(a.get(), header, payload);
  }

  TokenError check(const std::string& token, const Tokens* t = nullptr,
                   TokenKind kind = TokenKind::kUser, const std::string& event = "concert",
                   int64_t now = kNow) const {
    return (t != nullptr ? *t : *a_).verify(token, kind, event, now).error;
  }

  KeyDir dir_;
  std::string key_a_, key_b_;
  std::optional<Tokens> a_, b_;
};

// ---------------------------------------------------------------- base64url --

TEST(Base64Url, Rfc4648VectorsWithoutPadding) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (auto [plain, enc] : vectors) {
    EXPECT_EQ(base64url_encode(plain), enc);
    EXPECT_EQ(base64url_decode(enc), std::optional<std::string>(plain));
  }
  // The url-safe alphabet: '-' and '_' where base64 has '+' and '/'.
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_EQ(base64url_decode("-_8"), std::optional<std::string>("\xfb\xff"));
}

TEST(Base64Url, EveryByteAndLengthRoundTrips) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n <= all.size(); ++n) {
    std::string enc = base64url_encode(all.substr(0, n));
    EXPECT_EQ(enc.size(), (n * 4 + 2) / 3);
    EXPECT_EQ(enc.find_first_of("=+/"), std::string::npos);
    EXPECT_EQ(base64url_decode(enc), std::optional<std::string>(all.substr(0, n))) << n;
  }
}

TEST(Base64Url, DecodeIsStrict) {
  for (const char* bad : {"Zg==", "Zg=", "Zm8=", "+w", "/w", "Zm 9v", "Zm9v\n", "Z", "Zm9vY", "Zh",
                          "Zm9", "Zm\xc3\xa9v"})
    EXPECT_FALSE(base64url_decode(bad).has_value()) << bad;
  // "Zh" and "Zm9" carry non-zero unused bits: only "Zg" and "Zm8" are "f" and "fo".
}

// ------------------------------------------------------------------ keys --

TEST_F(TokensTest, KidIsTheRfc7638ThumbprintOfTheRfc8037Key) {
  Tokens rfc = rfc8037();
  EXPECT_EQ(rfc.kids(), std::vector<std::string>{kRfcKid});
  Json jwks = Json::parse(rfc.jwks());
  EXPECT_EQ(jwks["keys"][0]["x"], kRfcX);
  EXPECT_EQ(jwks["keys"][0]["kid"], kRfcKid);
  // The RFC's own JWS names no kid: its key cannot be chosen, so it is refused.
  EXPECT_EQ(rfc.verify(kRfcJws, TokenKind::kAdmission, "concert", kNow).error,
            TokenError::kUnknownKey);
}

// Ed25519 and HMAC are deterministic, so the RFC key and fixed claims give
// one token of each kind: these, which Python (cryptography for Ed25519,
// hmac and hashlib for the MAC key and HS256) made on their own from the
// same key, headers and claims (tkt 7 last). They pin the headers, the
// claim names and their order, and how the MAC key derives from the key.
TEST_F(TokensTest, SignsTheKnownAnswersForTheRfc8037Key) {
  Tokens rfc = rfc8037();
  TokenClaims c{"ticketq",
                "booking",
                "alice",
                "concert",
                TokenKind::kAdmission,
                1700000000,
                1700000600,
                "AAAAAAAAAAAAAAAAAAAAAA",
                7};
  EXPECT_EQ(
      rfc.sign(c),
      "eyJhbGciOiJFZERTQSIsImtpZCI6ImtQcktfcW14VldhWVZBOXd3QkY2SXVvM3ZWeno3VHhIQ1R3WEJ5Z3JTNGsi"
      "LCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJ0aWNrZXRxIiwiYXVkIjoiYm9va2luZyIsInN1YiI6ImFsaWNlIiwiZXZ0Ij"
      "oiY29uY2VydCIsImtpbmQiOiJhZG1pc3Npb24iLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDYwMCwianR"
      "pIjoiQUFBQUFBQUFBQUFBQUFBQUFBQUFBQSIsInRrdCI6N30.Tk07G9L7WUy7Ct7h8R0gDEm967ORIK4veDOexQnl"
      "kXDWvfipXE6WtPsYXvhunrm8y8cc0l49eT2Ti0M5ZEKlBA");
  // The payload as a booking service reads it.
  Json payload = Json::parse(decoded(split(*rfc.sign(c))[1]));
  EXPECT_EQ(payload["tkt"], 7);
  EXPECT_EQ(payload.size(), 9u);

  // The user token: HS256, keyed with HMAC-SHA256(d, "ticketq user token
  // key v1") = 134cad6e...fad849.
  c.kind = TokenKind::kUser;
  EXPECT_EQ(
      rfc.sign(c),
      "eyJhbGciOiJIUzI1NiIsImtpZCI6ImtQcktfcW14VldhWVZBOXd3QkY2SXVvM3ZWeno3VHhIQ1R3WEJ5Z3JTNGsi"
      "LCJ0eXAiOiJKV1QifQ.eyJpc3MiOiJ0aWNrZXRxIiwiYXVkIjoiYm9va2luZyIsInN1YiI6ImFsaWNlIiwiZXZ0Ij"
      "oiY29uY2VydCIsImtpbmQiOiJ1c2VyIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDA2MDAsImp0aSI6IkF"
      "BQUFBQUFBQUFBQUFBQUFBQUFBQUEiLCJ0a3QiOjd9.TxDN5A4YZP4_nAWgfiwE_w6RJB3JHL0ruBJbYP_O76E");
}

TEST_F(TokensTest, JwksListsEveryKeySigningFirstWithExactlyTheJwkMembers) {
  Tokens both = load({key_b_, key_a_});
  Json jwks = Json::parse(both.jwks());
  ASSERT_EQ(jwks.size(), 1u);
  ASSERT_EQ(jwks["keys"].size(), 2u);
  EXPECT_EQ(jwks["keys"][0]["kid"], b_->kids()[0]);
  EXPECT_EQ(jwks["keys"][1]["kid"], a_->kids()[0]);
  for (const Json& k : jwks["keys"]) {
    std::vector<std::string> members;
    for (auto& [name, value] : k.items()) members.push_back(name);
    EXPECT_EQ(members, (std::vector<std::string>{"kty", "crv", "x", "kid", "alg", "use"}));
    EXPECT_EQ(k["kty"], "OKP");
    EXPECT_EQ(k["crv"], "Ed25519");
    EXPECT_EQ(k["alg"], "EdDSA");
    EXPECT_EQ(k["use"], "sig");
    EXPECT_EQ(decoded(k["x"].get<std::string>()).size(), 32u);
    EXPECT_EQ(k["kid"].get<std::string>().size(), 43u);  // SHA-256, base64url
  }
  EXPECT_NE(a_->kids()[0], b_->kids()[0]);
}

TEST_F(TokensTest, LoadErrorsNameTheFileNeverItsContent) {
  auto expect_refused = [](const std::vector<std::string>& paths, const std::string& needle) {
    Parsed<Tokens> t = Tokens::load(paths, {});
    EXPECT_FALSE(t.ok());
    EXPECT_NE(t.error.find(needle), std::string::npos) << t.error;
    return t.error;
  };
  std::string missing = dir_.file("missing.pem");
  expect_refused({missing}, missing + ": cannot be read (No such file or directory)");
  expect_refused({dir_.file("")}, "cannot be read");  // a directory
  std::string junk = dir_.write_text("junk.pem", "SECRET-CONTENT-1234\n");
  EXPECT_EQ(expect_refused({key_a_, junk}, junk + ": not an unencrypted PEM private key")
                .find("SECRET-CONTENT"),
            std::string::npos);
  expect_refused({dir_.new_key("rsa.pem", "RSA")}, "rsa.pem: holds a key of type RSA");
  expect_refused({dir_.new_key("ec.pem", "EC")}, "ec.pem: holds a key of type EC");
  expect_refused({dir_.new_key("x25519.pem", "X25519")}, "of type X25519");
  // A public key, and an encrypted private key (never a passphrase prompt).
  TestPkey a = test::read_key(key_a_);
  std::string pub = dir_.file("pub.pem"), enc = dir_.file("enc.pem");
  std::FILE* f = std::fopen(pub.c_str(), "wb");
  PEM_write_PUBKEY(f, a.get());
  std::fclose(f);
  f = std::fopen(enc.c_str(), "wb");
  PEM_write_PrivateKey(f, a.get(), EVP_aes_256_cbc(), nullptr, 0, nullptr,
                       const_cast<char*>("pass"));
  std::fclose(f);
  expect_refused({pub}, pub + ": not an unencrypted PEM private key");
  expect_refused({enc}, enc + ": not an unencrypted PEM private key");
  expect_refused({key_a_, key_a_}, "listed twice");
  expect_refused({}, "no token key");
}

TEST_F(TokensTest, LoadListSplitsOnCommasAndTrims) {
  Parsed<Tokens> t = Tokens::load_list(" " + key_b_ + " ,\t" + key_a_, {});
  ASSERT_TRUE(t.ok()) << t.error;
  EXPECT_EQ(t.value->kids(), (std::vector<std::string>{b_->kids()[0], a_->kids()[0]}));
  for (std::string bad : {std::string(""), key_a_ + ",", "," + key_a_, key_a_ + ", ," + key_b_}) {
    Parsed<Tokens> r = Tokens::load_list(bad, {});
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error.find("empty path"), std::string::npos) << r.error;
  }
}

TEST_F(TokensTest, EphemeralKeysAreFreshEachTime) {
  Parsed<Tokens> x = Tokens::ephemeral({}), y = Tokens::ephemeral({});
  ASSERT_TRUE(x.ok() && y.ok());
  EXPECT_NE(x.value->kids(), y.value->kids());
  std::string tok = user_token(*x.value);
  EXPECT_EQ(check(tok, &*x.value), TokenError::kNone);
  EXPECT_EQ(check(tok, &*y.value), TokenError::kUnknownKey);
}

// ------------------------------------------------------------- round trip --

TEST_F(TokensTest, RoundTrip) {
  std::string tok = user_token(*a_);
  TokenCheck r = a_->verify(tok, TokenKind::kUser, "concert", kNow);
  ASSERT_TRUE(r.ok()) << r.reason();
  EXPECT_STREQ(r.reason(), "ok");
  EXPECT_EQ(r.claims.iss, "ticketq");
  EXPECT_EQ(r.claims.aud, "booking");
  EXPECT_EQ(r.claims.sub, "alice");
  EXPECT_EQ(r.claims.evt, "concert");
  EXPECT_EQ(r.claims.kind, TokenKind::kUser);
  EXPECT_EQ(r.claims.iat, kNow);
  EXPECT_EQ(r.claims.exp, kNow + kTtl);
  EXPECT_EQ(r.claims.jti.size(), 22u);  // 16 random bytes
  EXPECT_EQ(r.claims.tkt, kTicket);

  auto parts = split(tok);
  ASSERT_EQ(parts.size(), 3u);
  // A user token is an HS256 JWS under the kid of the key it derives from.
  EXPECT_EQ(decoded(parts[0]), R"({"alg":"HS256","kid":")" + a_->kids()[0] + R"(","typ":"JWT"})");
  Json payload = Json::parse(decoded(parts[1]));
  EXPECT_EQ(payload["kind"], "user");
  EXPECT_EQ(payload["tkt"], kTicket);
  std::vector<std::string> names;
  for (auto& [name, value] : payload.items()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"iss", "aud", "sub", "evt", "kind", "iat", "exp",
                                             "jti", "tkt"}));
  EXPECT_EQ(decoded(parts[2]).size(), 32u);  // HMAC-SHA256

  auto adm = a_->issue(TokenKind::kAdmission, "bob", "default", 12, kNow, 60);
  ASSERT_TRUE(adm);
  // An admission token is an EdDSA JWS, verifiable with the JWKS.
  EXPECT_EQ(decoded(split(*adm)[0]),
            R"({"alg":"EdDSA","kid":")" + a_->kids()[0] + R"(","typ":"JWT"})");
  EXPECT_EQ(decoded(split(*adm)[2]).size(), 64u);  // Ed25519
  r = a_->verify(*adm, TokenKind::kAdmission, "default", kNow);
  ASSERT_TRUE(r.ok()) << r.reason();
  EXPECT_EQ(r.claims.kind, TokenKind::kAdmission);
  EXPECT_EQ(r.claims.tkt, 12);
  EXPECT_EQ(Json::parse(decoded(split(*adm)[1]))["kind"], "admission");

  // Every token has its own jti.
  EXPECT_NE(Json::parse(decoded(split(user_token(*a_))[1]))["jti"], payload["jti"]);
}

// The ids come from a pool of random bytes refilled every 256 tokens: over
// several refills, on two threads, no id repeats and each is 16 bytes.
TEST_F(TokensTest, JtisStayUniqueAcrossRefillsAndThreads) {
  auto ids = [&] {
    std::vector<std::string> out;
    for (int i = 0; i < 1000; ++i) {
      std::string token;
      EXPECT_TRUE(a_->issue_to(token, TokenKind::kUser, "alice", "concert", kTicket, kNow, kTtl));
      auto r = a_->verify(token, TokenKind::kUser, "concert", kNow);
      EXPECT_TRUE(r.ok()) << r.reason();
      out.push_back(r.claims.jti);
    }
    return out;
  };
  std::vector<std::string> other;
  std::thread t([&] { other = ids(); });
  std::vector<std::string> all = ids();
  t.join();
  all.insert(all.end(), other.begin(), other.end());
  std::set<std::string> unique(all.begin(), all.end());
  EXPECT_EQ(unique.size(), 2000u);
  for (const std::string& jti : all) ASSERT_EQ(decoded(jti).size(), 16u);
}

// issue_to appends to what the string holds, and leaves it as it was when
// signing is refused (a claim that is not UTF-8).
TEST_F(TokensTest, IssueToAppends) {
  std::string out = "token=";
  ASSERT_TRUE(a_->issue_to(out, TokenKind::kUser, "alice", "concert", kTicket, kNow, kTtl));
  EXPECT_EQ(out.substr(0, 6), "token=");
  EXPECT_TRUE(a_->verify(out.substr(6), TokenKind::kUser, "concert", kNow).ok());
  std::string before = out;
  EXPECT_FALSE(a_->issue_to(out, TokenKind::kUser, "bad \xff", "concert", kTicket, kNow, kTtl));
  EXPECT_EQ(out, before);
}

TEST_F(TokensTest, AWaitingRoomUserTokenSaysHowManyWereAheadAtTheJoin) {
  auto tok = a_->issue(TokenKind::kUser, "alice", "concert", kTicket, kNow, kTtl, 41);
  ASSERT_TRUE(tok);
  EXPECT_EQ(Json::parse(decoded(split(*tok)[1]))["ahd"], 41);
  TokenCheck r = a_->verify(*tok, TokenKind::kUser, "concert", kNow);
  ASSERT_TRUE(r.ok()) << r.reason();
  EXPECT_EQ(r.claims.ahd, 41);
  // Not said: not in the token, -1 when read.
  EXPECT_EQ(a_->verify(user_token(*a_), TokenKind::kUser, "concert", kNow).claims.ahd, -1);
  for (const Json& bad : {Json(-1), Json("3"), Json(1.5)}) {
    Json c = claims_json(*a_);
    c["ahd"] = bad;
    EXPECT_EQ(check(sign_a(TokenKind::kUser, header_a(TokenKind::kUser), c.dump())),
              TokenError::kMalformed)
        << bad;
  }
}

TEST_F(TokensTest, SignKeepsTheClaimsAndRefusesInvalidUtf8WithoutThrowing) {
  TokenClaims c{"iss-x", "aud-y", "user \"quoted\" \xc3\xa9", "evt", TokenKind::kAdmission, 5, 10,
                "jti-1", 99};
  auto tok = a_->sign(c);
  ASSERT_TRUE(tok);
  Tokens other = load({key_a_}, {"iss-x", "aud-y"});
  TokenCheck r = other.verify(*tok, TokenKind::kAdmission, "evt", 5);
  ASSERT_TRUE(r.ok()) << r.reason();
  EXPECT_EQ(r.claims.sub, c.sub);
  EXPECT_EQ(r.claims.jti, "jti-1");
  EXPECT_EQ(r.claims.tkt, 99);
  c.sub = "bad \xff utf-8";
  EXPECT_EQ(a_->sign(c), std::nullopt);
}

// ------------------------------------------------------------- tampering --

TEST_F(TokensTest, TamperedHeaderPayloadOrSignatureIsABadSignature) {
  for (TokenKind kind : {TokenKind::kUser, TokenKind::kAdmission}) {
    SCOPED_TRACE(token_kind_name(kind));
    auto chk = [&](const std::string& token) { return check(token, nullptr, kind); };
    auto parts = split(token_of(kind, *a_));
    ASSERT_EQ(chk(parts[0] + "." + parts[1] + "." + parts[2]), TokenError::kNone);
    // Header: same alg and kid, one member more.
    Json h = Json::parse(decoded(parts[0]));
    h["x"] = 1;
    EXPECT_EQ(chk(base64url_encode(h.dump()) + "." + parts[1] + "." + parts[2]),
              TokenError::kBadSignature);
    // Payload: another user.
    Json p = Json::parse(decoded(parts[1]));
    p["sub"] = "mallory";
    EXPECT_EQ(chk(parts[0] + "." + base64url_encode(p.dump()) + "." + parts[2]),
              TokenError::kBadSignature);
    // Payload: a later expiry.
    p = Json::parse(decoded(parts[1]));
    p["exp"] = p["exp"].get<int64_t>() + 3600;
    EXPECT_EQ(chk(parts[0] + "." + base64url_encode(p.dump()) + "." + parts[2]),
              TokenError::kBadSignature);
    // Signature: each bit of its first and last byte.
    std::string sig = decoded(parts[2]);
    ASSERT_EQ(sig.size(), kind == TokenKind::kUser ? 32u : 64u);
    for (size_t at : {size_t(0), sig.size() - 1}) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string s = sig;
        s[at] = static_cast<char>(s[at] ^ (1 << bit));
        EXPECT_EQ(chk(parts[0] + "." + parts[1] + "." + base64url_encode(s)),
                  TokenError::kBadSignature)
            << at << ":" << bit;
      }
    }
    // A signature (or MAC) cut short, extended, doubled, or none at all.
    for (const std::string& other :
         {sig.substr(0, sig.size() - 1), sig.substr(0, 16), sig + "x", sig + std::string(1, '\0'),
          sig + sig, std::string(sig.size(), '\0'), std::string()})
      EXPECT_EQ(chk(parts[0] + "." + parts[1] + "." + base64url_encode(other)),
                TokenError::kBadSignature)
          << other.size();
  }
}

TEST_F(TokensTest, TruncatedOrExtraPartsAreRefused) {
  std::string tok = user_token(*a_);
  for (size_t n = 0; n < tok.size(); ++n)
    EXPECT_FALSE(a_->verify(tok.substr(0, n), TokenKind::kUser, "concert", kNow).ok()) << n;
  auto parts = split(tok);
  EXPECT_EQ(check(""), TokenError::kMalformed);
  EXPECT_EQ(check(parts[0] + "." + parts[1]), TokenError::kMalformed);
  EXPECT_EQ(check(parts[0]), TokenError::kMalformed);
  EXPECT_EQ(check(tok.substr(0, tok.size() - 2)), TokenError::kMalformed);  // 41 chars: 4n+1
  std::string adm = admission_token(*a_);
  EXPECT_EQ(check(adm.substr(0, adm.size() - 1), nullptr, TokenKind::kAdmission),
            TokenError::kMalformed);  // 85 chars: 4n+1
  EXPECT_EQ(check(tok + "."), TokenError::kMalformed);
  EXPECT_EQ(check(tok + ".AAAA"), TokenError::kMalformed);
  EXPECT_EQ(check("." + tok), TokenError::kMalformed);
  // An empty payload: the signature is checked before the payload is read.
  EXPECT_EQ(check(parts[0] + ".." + parts[2]), TokenError::kBadSignature);
}

TEST_F(TokensTest, BadBase64IsMalformed) {
  auto parts = split(user_token(*a_));
  EXPECT_EQ(check(parts[0] + "=." + parts[1] + "." + parts[2]), TokenError::kMalformed);
  EXPECT_EQ(check(parts[0] + "." + parts[1] + "." + parts[2] + "=="), TokenError::kMalformed);
  std::string plus = parts[2];
  plus[3] = '+';
  EXPECT_EQ(check(parts[0] + "." + parts[1] + "." + plus), TokenError::kMalformed);
  EXPECT_EQ(check(parts[0] + "." + parts[1] + " ." + parts[2]), TokenError::kMalformed);
  EXPECT_EQ(check(parts[0] + "." + parts[1] + "." + parts[2] + "\n"), TokenError::kMalformed);
  EXPECT_EQ(check(std::string(1, '\0') + parts[0] + "." + parts[1] + "." + parts[2]),
            TokenError::kMalformed);
  // Valid base64url, but the header is not a JSON object.
  for (const char* header : {"[]", "\"EdDSA\"", "{", "{\"alg\":\"EdDSA\"} x", ""})
    EXPECT_EQ(check(base64url_encode(header) + "." + parts[1] + "." + parts[2]),
              TokenError::kMalformed)
        << header;
}

TEST_F(TokensTest, OversizedTokenIsRefusedBeforeParsing) {
  // The biggest user id whose token still fits, then one more character.
  std::string sub(2000, 'u');
  std::string fits, over;
  while (true) {
    auto tok = a_->issue(TokenKind::kUser, sub, "concert", 1, kNow, kTtl);
    ASSERT_TRUE(tok);
    if (tok->size() > Tokens::kMaxTokenBytes) {
      over = *tok;
      break;
    }
    fits = *tok;
    sub += 'u';
  }
  ASSERT_FALSE(fits.empty());
  EXPECT_EQ(check(fits), TokenError::kNone);
  EXPECT_EQ(check(over), TokenError::kMalformed);
  EXPECT_EQ(check(std::string(1 << 20, 'A')), TokenError::kMalformed);
}

// -------------------------------------------------------- keys and algs --

TEST_F(TokensTest, TokenOfAnotherKeySetIsAnUnknownKey) {
  EXPECT_EQ(check(user_token(*b_)), TokenError::kUnknownKey);
  EXPECT_EQ(check(user_token(*a_), &*b_), TokenError::kUnknownKey);
  EXPECT_EQ(check(admission_token(*b_), nullptr, TokenKind::kAdmission), TokenError::kUnknownKey);
  EXPECT_EQ(check(admission_token(*a_), &*b_, TokenKind::kAdmission), TokenError::kUnknownKey);
}

TEST_F(TokensTest, AnotherKeyUnderOurKidIsABadSignature) {
  TestPkey b = test::read_key(key_b_);
  std::string adm = claims_json(*a_, TokenKind::kAdmission).dump();
  EXPECT_EQ(check(forge(b.get(), header_a(), adm), nullptr, TokenKind::kAdmission),
            TokenError::kBadSignature);
  // The same with b's MAC key for a user token.
  std::string user = claims_json(*a_).dump();
  EXPECT_EQ(check(forge_hs(mac_key_of(b.get()), header_a(TokenKind::kUser), user)),
            TokenError::kBadSignature);
  // The same tokens signed by the right key pass: the forgery helpers are sound.
  EXPECT_EQ(check(sign_a(TokenKind::kAdmission, header_a(), adm), nullptr, TokenKind::kAdmission),
            TokenError::kNone);
  EXPECT_EQ(check(sign_a(TokenKind::kUser, header_a(TokenKind::kUser), user)), TokenError::kNone);
}

TEST_F(TokensTest, MissingOrUnknownKidIsAnUnknownKey) {
  for (TokenKind kind : {TokenKind::kUser, TokenKind::kAdmission}) {
    SCOPED_TRACE(token_kind_name(kind));
    std::string payload = claims_json(*a_, kind).dump(), alg = alg_of(kind);
    for (const std::string& header : {R"({"alg":")" + alg + R"(","typ":"JWT"})",
                                      R"({"alg":")" + alg + R"(","kid":"nope","typ":"JWT"})",
                                      R"({"alg":")" + alg + R"(","kid":7})"})
      EXPECT_EQ(check(sign_a(kind, header, payload), nullptr, kind), TokenError::kUnknownKey)
          << header;
  }
}

TEST_F(TokensTest, AlgNoneIsRefused) {
  for (TokenKind kind : {TokenKind::kUser, TokenKind::kAdmission}) {
    std::string payload = claims_json(*a_, kind).dump();
    for (std::string header :
         {R"({"alg":"none","kid":")" + a_->kids()[0] + R"(","typ":"JWT"})",
          std::string(R"({"alg":"none"})"), R"({"alg":"None","kid":")" + a_->kids()[0] + R"("})"}) {
      std::string input = signing_input(header, payload);
      EXPECT_EQ(check(input + ".", nullptr, kind), TokenError::kAlgNotAllowed) << header;
      EXPECT_EQ(check(input + ".AAAA", nullptr, kind), TokenError::kAlgNotAllowed) << header;
    }
  }
}

// The classic confusion: an HS256 token whose HMAC key is the public key,
// which a verifier that takes the algorithm from the token would accept.
// A user token is HS256, but its MAC key derives from the private key, so
// such a token is a bad signature; as an admission token it is not even
// checked: HS256 is not the algorithm of admission tokens.
TEST_F(TokensTest, Hs256TokensKeyedWithThePublicKeyAreRefused) {
  std::string header = header_a(TokenKind::kUser);
  Json jwk = Json::parse(a_->jwks())["keys"][0];
  TestPkey a = test::read_key(key_a_);
  for (const std::string& secret :
       {decoded(jwk["x"].get<std::string>()), jwk["x"].get<std::string>(), a_->jwks(), jwk.dump(),
        a_->kids()[0], decoded(a_->kids()[0]), raw_private_key(a.get()), std::string()}) {
    EXPECT_EQ(check(forge_hs(secret, header, claims_json(*a_).dump())), TokenError::kBadSignature);
    EXPECT_EQ(check(forge_hs(secret, header, claims_json(*a_, TokenKind::kAdmission).dump()),
                    nullptr, TokenKind::kAdmission),
              TokenError::kWrongKind);
  }
}

// The algorithm comes from the kind expected: a user token is HS256 and
// nothing else, an admission token EdDSA and nothing else, even when the
// token is genuinely signed by our key with the algorithm it names. The
// other kind's alg is reported as the wrong kind, checked with nothing.
TEST_F(TokensTest, OnlyTheAlgOfTheExpectedKindIsAccepted) {
  std::string kid = a_->kids()[0];
  // An EdDSA-signed user token, verified as a user token.
  std::string user = claims_json(*a_).dump();
  EXPECT_EQ(check(sign_a(TokenKind::kAdmission, header_a(TokenKind::kAdmission), user)),
            TokenError::kWrongKind);
  // An HS256 admission token with the right MAC, verified as an admission token.
  std::string adm = claims_json(*a_, TokenKind::kAdmission).dump();
  EXPECT_EQ(check(sign_a(TokenKind::kUser, header_a(TokenKind::kUser), adm), nullptr,
                  TokenKind::kAdmission),
            TokenError::kWrongKind);
  // What ticketq itself signs is refused as the other kind for its alg.
  EXPECT_EQ(check(admission_token(*a_), nullptr, TokenKind::kUser), TokenError::kWrongKind);
  EXPECT_EQ(check(user_token(*a_), nullptr, TokenKind::kAdmission), TokenError::kWrongKind);

  // Near misses of each alg name, each with a genuine signature of the
  // kind's own primitive.
  for (TokenKind kind : {TokenKind::kUser, TokenKind::kAdmission}) {
    SCOPED_TRACE(token_kind_name(kind));
    std::string payload = claims_json(*a_, kind).dump();
    for (const char* alg : {"HS256", "HS384", "HS512", "hs256", "HS256 ", "RS256", "ES256", "PS256",
                            "Ed25519", "eddsa", "EdDSA ", "", "EDDSA", "none"}) {
      if (alg == alg_of(kind) ||
          alg == alg_of(kind == TokenKind::kUser ? TokenKind::kAdmission : TokenKind::kUser))
        continue;
      std::string h = Json{{"alg", alg}, {"kid", kid}, {"typ", "JWT"}}.dump();
      EXPECT_EQ(check(sign_a(kind, h, payload), nullptr, kind), TokenError::kAlgNotAllowed) << alg;
    }
    EXPECT_EQ(check(sign_a(kind, R"({"kid":")" + kid + R"("})", payload), nullptr, kind),
              TokenError::kAlgNotAllowed);
    EXPECT_EQ(check(sign_a(kind, R"({"alg":[")" + alg_of(kind) + R"("],"kid":")" + kid + R"("})",
                           payload),
                    nullptr, kind),
              TokenError::kAlgNotAllowed);
  }
}

// Several instances load the same key files and must accept each other's
// user tokens: the MAC key is a function of the private key alone, and
// another key gives another MAC key.
TEST_F(TokensTest, MacKeyDerivationIsDeterministicAndPerKey) {
  Tokens a2 = load({key_a_});
  EXPECT_EQ(check(user_token(a2)), TokenError::kNone);
  EXPECT_EQ(check(user_token(*a_), &a2), TokenError::kNone);
  Parsed<Tokens> listed = Tokens::load_list(key_b_ + "," + key_a_, {});
  ASSERT_TRUE(listed.ok()) << listed.error;
  EXPECT_EQ(check(user_token(*listed.value), &*b_), TokenError::kNone);
  EXPECT_EQ(check(user_token(*b_), &*listed.value), TokenError::kNone);
  // The MAC keys of a and b differ: b's MAC over a's kid is no MAC of a's.
  TestPkey ka = test::read_key(key_a_), kb = test::read_key(key_b_);
  EXPECT_NE(mac_key_of(ka.get()), mac_key_of(kb.get()));
  EXPECT_EQ(mac_key_of(ka.get()).size(), 32u);
  auto parts = split(user_token(*b_));
  Json h = Json::parse(decoded(parts[0]));
  h["kid"] = a_->kids()[0];
  std::string input = base64url_encode(h.dump()) + "." + parts[1];
  EXPECT_EQ(check(input + "." + base64url_encode(hmac_sha256(mac_key_of(kb.get()), input))),
            TokenError::kBadSignature);
  EXPECT_EQ(check(input + "." + base64url_encode(hmac_sha256(mac_key_of(ka.get()), input))),
            TokenError::kNone);
  // An ephemeral key's user tokens verify on that key set alone.
  Parsed<Tokens> x = Tokens::ephemeral({});
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(check(user_token(*x.value), &*x.value), TokenError::kNone);
}

TEST_F(TokensTest, HeaderWithDuplicatesCritOrAnotherTypIsMalformed) {
  std::string kid = a_->kids()[0];
  for (TokenKind kind : {TokenKind::kUser, TokenKind::kAdmission}) {
    SCOPED_TRACE(token_kind_name(kind));
    std::string payload = claims_json(*a_, kind).dump(), alg = alg_of(kind);
    for (std::string header :
         {R"({"alg":")" + alg + R"(","alg":")" + alg + R"(","kid":")" + kid + R"("})",
          R"({"alg":")" + alg + R"(","kid":")" + kid + R"(","crit":["exp"]})",
          R"({"alg":")" + alg + R"(","kid":")" + kid + R"(","typ":"at+jwt"})"})
      EXPECT_EQ(check(sign_a(kind, header, payload), nullptr, kind), TokenError::kMalformed)
          << header;
    // typ may be left out.
    EXPECT_EQ(check(sign_a(kind, R"({"alg":")" + alg + R"(","kid":")" + kid + R"("})", payload),
                    nullptr, kind),
              TokenError::kNone);
  }
}

TEST_F(TokensTest, SignedButIncompleteClaimsAreMalformed) {
  for (TokenKind kind : {TokenKind::kUser, TokenKind::kAdmission}) {
    SCOPED_TRACE(token_kind_name(kind));
    std::string header = header_a(kind);
    auto chk = [&](const std::string& payload) {
      return check(sign_a(kind, header, payload), nullptr, kind);
    };
    for (const char* claim : {"iss", "aud", "sub", "evt", "kind", "iat", "exp", "jti", "tkt"}) {
      Json p = claims_json(*a_, kind);
      p.erase(claim);
      EXPECT_EQ(chk(p.dump()), TokenError::kMalformed) << claim;
      const std::string name = claim;
      p[claim] = name == "iat" || name == "exp" || name == "tkt" ? Json("1") : Json(1);
      EXPECT_EQ(chk(p.dump()), TokenError::kMalformed) << claim;
    }
    Json p = claims_json(*a_, kind);
    p["exp"] = 1.5e12;
    EXPECT_EQ(chk(p.dump()), TokenError::kMalformed);
    p["exp"] = UINT64_MAX;
    EXPECT_EQ(chk(p.dump()), TokenError::kMalformed);
    EXPECT_EQ(chk("[1]"), TokenError::kMalformed);
    EXPECT_EQ(chk(R"({"sub":"a","sub":"b"})"), TokenError::kMalformed);
    p = claims_json(*a_, kind);
    p["kind"] = "operator";
    EXPECT_EQ(chk(p.dump()), TokenError::kWrongKind);
  }
}

// ---------------------------------------------------------------- the ticket --

// tkt names the join a token was given for; a token without it (as tokens
// were before tickets) says nothing about which join it acts for, so it is
// refused as malformed rather than taken for any join.
TEST_F(TokensTest, TheTicketClaimIsRequiredAndAnInteger) {
  for (TokenKind kind : {TokenKind::kUser, TokenKind::kAdmission}) {
    SCOPED_TRACE(token_kind_name(kind));
    std::string header = header_a(kind);
    Json p = claims_json(*a_, kind);
    EXPECT_EQ(check(sign_a(kind, header, p.dump()), nullptr, kind), TokenError::kNone);
    p.erase("tkt");
    EXPECT_EQ(check(sign_a(kind, header, p.dump()), nullptr, kind), TokenError::kMalformed);
    for (Json bad :
         {Json("7"), Json(7.0), Json(7.5), Json(nullptr), Json(true), Json::array({7}),
          Json::object({{"t", 7}}), Json(UINT64_MAX), Json(static_cast<uint64_t>(INT64_MAX) + 1)}) {
      p["tkt"] = bad;
      EXPECT_EQ(check(sign_a(kind, header, p.dump()), nullptr, kind), TokenError::kMalformed)
          << bad.dump();
    }
    // Every integer a ticket can be: 0 (a seat from before tickets) up to
    // the largest.
    for (int64_t t : {INT64_C(0), INT64_C(1), INT64_C(9007199254740993), INT64_MAX}) {
      p["tkt"] = t;
      TokenCheck r = a_->verify(sign_a(kind, header, p.dump()), kind, "concert", kNow);
      ASSERT_TRUE(r.ok()) << t << ": " << r.reason();
      EXPECT_EQ(r.claims.tkt, t);
    }
  }
}

TEST_F(TokensTest, TheTicketRoundTripsAndIsSigned) {
  for (int64_t t : {INT64_C(0), INT64_C(1), INT64_C(123456789012), INT64_MAX}) {
    for (TokenKind kind : {TokenKind::kUser, TokenKind::kAdmission}) {
      auto tok = a_->issue(kind, "carol", "concert", t, kNow, kTtl);
      ASSERT_TRUE(tok);
      TokenCheck r = a_->verify(*tok, kind, "concert", kNow);
      ASSERT_TRUE(r.ok()) << r.reason();
      EXPECT_EQ(r.claims.tkt, t);
      EXPECT_EQ(r.claims.sub, "carol");
    }
  }
  // A token's ticket cannot be changed to act for another join.
  for (TokenKind kind : {TokenKind::kUser, TokenKind::kAdmission}) {
    auto parts = split(*a_->issue(kind, "carol", "concert", 5, kNow, kTtl));
    Json p = Json::parse(decoded(parts[1]));
    EXPECT_EQ(p["tkt"], 5);
    p["tkt"] = 6;
    EXPECT_EQ(check(parts[0] + "." + base64url_encode(p.dump()) + "." + parts[2], nullptr, kind),
              TokenError::kBadSignature)
        << token_kind_name(kind);
  }
  // sign() writes what the claims say.
  TokenClaims c = a_->verify(user_token(*a_), TokenKind::kUser, "concert", kNow).claims;
  c.tkt = 77;
  TokenCheck r = a_->verify(*a_->sign(c), TokenKind::kUser, "concert", kNow);
  ASSERT_TRUE(r.ok()) << r.reason();
  EXPECT_EQ(r.claims.tkt, 77);
  EXPECT_EQ(r.claims.jti, c.jti);
}

// ------------------------------------------------------------- the claims --

TEST_F(TokensTest, ExpiryHasNoLeeway) {
  std::string tok = user_token(*a_, kNow);
  EXPECT_EQ(check(tok, nullptr, TokenKind::kUser, "concert", kNow + kTtl - 1), TokenError::kNone);
  EXPECT_EQ(check(tok, nullptr, TokenKind::kUser, "concert", kNow + kTtl), TokenError::kExpired);
  EXPECT_EQ(check(tok, nullptr, TokenKind::kUser, "concert", kNow + 10 * kTtl),
            TokenError::kExpired);
  auto zero = a_->issue(TokenKind::kUser, "alice", "concert", 1, kNow, 0);
  EXPECT_EQ(check(*zero), TokenError::kExpired);
}

TEST_F(TokensTest, IssuedInTheFutureHasAMinuteOfLeeway) {
  std::string tok = user_token(*a_, kNow + Tokens::kLeewaySeconds);
  EXPECT_EQ(check(tok), TokenError::kNone);
  tok = user_token(*a_, kNow + Tokens::kLeewaySeconds + 1);
  EXPECT_EQ(check(tok), TokenError::kNotYetValid);
  EXPECT_STREQ(a_->verify(tok, TokenKind::kUser, "concert", kNow).reason(), "not_yet_valid");
}

TEST_F(TokensTest, WrongKindEventAudienceOrIssuerIsRefused) {
  std::string user = user_token(*a_);
  // A token of the other kind (its alg says so).
  auto adm = a_->issue(TokenKind::kAdmission, "alice", "concert", 1, kNow, kTtl);
  EXPECT_EQ(check(user, nullptr, TokenKind::kAdmission), TokenError::kWrongKind);
  EXPECT_EQ(check(*adm, nullptr, TokenKind::kUser), TokenError::kWrongKind);
  // Signed as the kind expected, but the kind claim names the other one.
  EXPECT_EQ(check(sign_a(TokenKind::kUser, header_a(TokenKind::kUser),
                         claims_json(*a_, TokenKind::kAdmission).dump())),
            TokenError::kWrongKind);
  EXPECT_EQ(check(sign_a(TokenKind::kAdmission, header_a(), claims_json(*a_).dump()), nullptr,
                  TokenKind::kAdmission),
            TokenError::kWrongKind);
  EXPECT_EQ(check(user, nullptr, TokenKind::kUser, "opera"), TokenError::kWrongEvent);
  EXPECT_EQ(check(user, nullptr, TokenKind::kUser, ""), TokenError::kWrongEvent);
  EXPECT_EQ(check(*adm, nullptr, TokenKind::kAdmission, "opera"), TokenError::kWrongEvent);
  // The same key, another audience or issuer.
  Tokens other_aud = load({key_a_}, {"ticketq", "hotel"});
  Tokens other_iss = load({key_a_}, {"someone-else", "booking"});
  EXPECT_EQ(check(user_token(other_aud)), TokenError::kWrongAudience);
  EXPECT_EQ(check(user_token(other_iss)), TokenError::kWrongIssuer);
  EXPECT_EQ(check(admission_token(other_aud), nullptr, TokenKind::kAdmission),
            TokenError::kWrongAudience);
  EXPECT_EQ(check(user, &other_aud), TokenError::kWrongAudience);
  EXPECT_STREQ(other_iss.verify(user, TokenKind::kUser, "concert", kNow).reason(), "wrong_issuer");
}

TEST(TokenErrorNames, AreTheDocumentedReasons) {
  const std::pair<TokenError, const char*> names[] = {
      {TokenError::kNone, "ok"},
      {TokenError::kMalformed, "malformed"},
      {TokenError::kBadSignature, "bad_signature"},
      {TokenError::kUnknownKey, "unknown_key"},
      {TokenError::kAlgNotAllowed, "alg_not_allowed"},
      {TokenError::kExpired, "expired"},
      {TokenError::kNotYetValid, "not_yet_valid"},
      {TokenError::kWrongKind, "wrong_kind"},
      {TokenError::kWrongEvent, "wrong_event"},
      {TokenError::kWrongAudience, "wrong_audience"},
      {TokenError::kWrongIssuer, "wrong_issuer"}};
  for (auto [e, name] : names) EXPECT_STREQ(token_error_name(e), name);
  EXPECT_STREQ(token_kind_name(TokenKind::kUser), "user");
  EXPECT_STREQ(token_kind_name(TokenKind::kAdmission), "admission");
}

// --------------------------------------------------------------- rotation --

TEST_F(TokensTest, RotationNewKeyFirstOldKeySecond) {
  for (TokenKind kind : {TokenKind::kUser, TokenKind::kAdmission}) {
    SCOPED_TRACE(token_kind_name(kind));
    std::string old_token = token_of(kind, *a_);
    Tokens rotated = load({key_b_, key_a_});  // b is new and signs; a still verifies
    EXPECT_EQ(check(old_token, &rotated, kind), TokenError::kNone);
    std::string new_token = token_of(kind, rotated);
    Json header = Json::parse(decoded(split(new_token)[0]));
    EXPECT_EQ(header["kid"], b_->kids()[0]);
    EXPECT_EQ(header["alg"], alg_of(kind));
    EXPECT_EQ(check(new_token, &rotated, kind), TokenError::kNone);
    EXPECT_EQ(check(new_token, &*b_, kind), TokenError::kNone);
    // Before the swap: the new key second verifies, and signs nothing yet.
    Tokens added = load({key_a_, key_b_});
    EXPECT_EQ(check(new_token, &added, kind), TokenError::kNone);
    EXPECT_EQ(check(old_token, &added, kind), TokenError::kNone);
    EXPECT_EQ(Json::parse(decoded(split(token_of(kind, added))[0]))["kid"], a_->kids()[0]);
    // Once a is dropped, its tokens are refused; b's still pass.
    EXPECT_EQ(check(old_token, &*b_, kind), TokenError::kUnknownKey);
    EXPECT_EQ(check(new_token, &*a_, kind), TokenError::kUnknownKey);
  }
}

// ---------------------------------------------------------------- threads --

TEST_F(TokensTest, SignAndVerifyFromFourThreadsAtOnce) {
  Tokens rotated = load({key_b_, key_a_});
  std::string shared_old = user_token(*a_);
  constexpr int kThreads = 4, kRounds = 300;
  std::vector<std::vector<std::string>> made(kThreads);
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        std::string user = "u" + std::to_string(t) + "-" + std::to_string(i);
        TokenKind kind = i % 2 == 0 ? TokenKind::kAdmission : TokenKind::kUser;
        auto tok = rotated.issue(kind, user, "concert", 1, kNow, kTtl);
        TokenCheck r = tok ? rotated.verify(*tok, kind, "concert", kNow)
                           : TokenCheck{TokenError::kMalformed, {}};
        if (!r.ok() || r.claims.sub != user) ++failures[t];
        if (!rotated.verify(shared_old, TokenKind::kUser, "concert", kNow).ok()) ++failures[t];
        if (rotated.verify(tok.value_or("") + "x", kind, "concert", kNow).ok()) ++failures[t];
        made[t].push_back(tok.value_or(""));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> distinct;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(failures[t], 0) << "thread " << t;
    distinct.insert(made[t].begin(), made[t].end());
  }
  EXPECT_EQ(distinct.size(), size_t(kThreads * kRounds));
}

}  // namespace
}  // namespace ticketq
