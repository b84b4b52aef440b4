// Tokens from outside: the admission tokens ticketq signs verify with
// implementations that share no code with it (tests/scripts/verify_jwt.py:
// Debian's python3-cryptography by hand, and PyJWT as a booking service
// would use it), against the JWKS of the unit and the one a real
// ticketq-server serves at GET /.well-known/jwks.json, while user tokens
// (HS256, for ticketq alone) do not; servers sharing a key file accept each
// other's user tokens; and a server refuses to start with a token key file
// it cannot use. Keys are made by the openssl CLI, as scripts/run.sh and
// the compose setup make them.
#include "tokens/tokens.h"

#include <gtest/gtest.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/process_util.h"
#include "support/stack.h"

namespace ticketq::test {
namespace {

using nlohmann::json;

constexpr const char* kPython = "/usr/bin/python3";  // Debian's: it sees python3-cryptography
constexpr const char* kOpenssl = "/usr/bin/openssl";

// `openssl ARGS...`; fails the test, with what openssl said, on an error.
void openssl(std::vector<std::string> args) {
  SpawnSpec spec;
  spec.argv = {kOpenssl};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  CommandResult r = run_command(spec, Millis(60000));
  ASSERT_TRUE(r.status.exited && r.status.code == 0)
      << kOpenssl << " " << args[0] << ": " << r.status.describe() << " " << r.err
      << " (scripts/setup.sh installs the openssl CLI)";
}

std::string new_key(const TempDir& dir, const std::string& name,
                    const char* algorithm = "ed25519") {
  std::string path = dir.file(name);
  openssl({"genpkey", "-algorithm", algorithm, "-out", path});
  return path;
}

Tokens load(const std::vector<std::string>& paths, TokenSettings settings = {}) {
  Parsed<Tokens> t = Tokens::load(paths, std::move(settings));
  EXPECT_TRUE(t.ok()) << t.error;
  return t.ok() ? *t.value : *Tokens::ephemeral({}).value;
}

// Runs tests/scripts/verify_jwt.py on this JWKS and token.
CommandResult python_verify(const TempDir& dir, const std::string& jwks, const std::string& token,
                            std::vector<std::string> extra = {}) {
  write_file(dir.file("jwks.json"), jwks);
  write_file(dir.file("token"), token);
  SpawnSpec spec;
  spec.argv = {kPython, "-I", std::string(TICKETQ_SOURCE_DIR) + "/tests/scripts/verify_jwt.py",
               dir.file("jwks.json"), dir.file("token")};
  spec.argv.insert(spec.argv.end(), extra.begin(), extra.end());
  return run_command(spec, Millis(60000));
}

// Expects verify_jwt.py to accept the token; returns its report.
json accepted(const CommandResult& r) {
  // Exit 3: a Python module is missing. That fails the test (never a skip).
  EXPECT_TRUE(r.status.exited && r.status.code == 0)
      << "verify_jwt.py " << r.status.describe() << ": " << r.err << r.out;
  json out = json::parse(r.out, nullptr, false);
  EXPECT_FALSE(out.is_discarded()) << r.out;
  return out.is_discarded() ? json::object() : out;
}

void expect_refused(const CommandResult& r, const std::string& why) {
  EXPECT_TRUE(r.status.exited && r.status.code == 1)
      << "verify_jwt.py " << r.status.describe() << ": " << r.err << r.out;
  EXPECT_NE(r.err.find("refused: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
}

int64_t now_s() {
  return static_cast<int64_t>(std::time(nullptr));
}

// ----------------------------------------------- an independent verifier --

TEST(TokensCrossCheck, PythonVerifiesWhatTheUnitSignsAndRefusesTampering) {
  TempDir dir("tokens");
  Tokens tokens = load({new_key(dir, "k.pem")});
  int64_t now = now_s();
  auto tok = tokens.issue(TokenKind::kAdmission, "alice@example", "concert", 1, now, 600);
  ASSERT_TRUE(tok);

  json report = accepted(python_verify(dir, tokens.jwks(), *tok));
  EXPECT_EQ(report["kid"], tokens.kids()[0]);
  EXPECT_EQ(report["verified_by"], json::array({"cryptography", "pyjwt"}));
  json claims = report["claims"];
  EXPECT_EQ(claims["iss"], "ticketq");
  EXPECT_EQ(claims["aud"], "booking");
  EXPECT_EQ(claims["sub"], "alice@example");
  EXPECT_EQ(claims["evt"], "concert");
  EXPECT_EQ(claims["kind"], "admission");
  EXPECT_EQ(claims["iat"], now);
  EXPECT_EQ(claims["exp"], now + 600);
  EXPECT_EQ(claims["jti"], tokens.verify(*tok, TokenKind::kAdmission, "concert", now).claims.jti);

  // Another user in the payload, the signature kept.
  std::string payload =
      *base64url_decode(tok->substr(tok->find('.') + 1, tok->rfind('.') - tok->find('.') - 1));
  size_t at = payload.find("alice@example");
  ASSERT_NE(at, std::string::npos);
  payload.replace(at, 5, "mallo");
  std::string forged = tok->substr(0, tok->find('.')) + "." + base64url_encode(payload) +
                       tok->substr(tok->rfind('.'));
  expect_refused(python_verify(dir, tokens.jwks(), forged), "bad signature");
  // A token of a key the JWKS does not list.
  Tokens other = load({new_key(dir, "other.pem")});
  expect_refused(
      python_verify(dir, tokens.jwks(), *other.issue(TokenKind::kAdmission, "a", "e", 1, now, 600)),
      "kid names no key");
  // PyJWT checks the audience: a token for another one is refused by it.
  Tokens hotel = load({dir.file("k.pem")}, {"ticketq", "hotel"});
  std::string for_hotel = *hotel.issue(TokenKind::kAdmission, "a", "e", 1, now, 600);
  expect_refused(python_verify(dir, hotel.jwks(), for_hotel), "InvalidAudience");
  accepted(python_verify(dir, hotel.jwks(), for_hotel, {"--audience", "hotel"}));
}

// User tokens are HS256 with a MAC key that only ticketq has: no verifier
// can check one with the JWKS, whatever the key.
TEST(TokensCrossCheck, UserTokensAreNotVerifiableWithTheJwks) {
  TempDir dir("tokens");
  Tokens tokens = load({new_key(dir, "k.pem")});
  std::string user = *tokens.issue(TokenKind::kUser, "alice", "concert", 1, now_s(), 600);
  json header = json::parse(*base64url_decode(user.substr(0, user.find('.'))));
  EXPECT_EQ(header, json({{"alg", "HS256"}, {"kid", tokens.kids()[0]}, {"typ", "JWT"}}));
  expect_refused(python_verify(dir, tokens.jwks(), user), "alg 'HS256' is not EdDSA");
  // The admission token of the same key set is.
  accepted(
      python_verify(dir, tokens.jwks(),
                    *tokens.issue(TokenKind::kAdmission, "alice", "concert", 1, now_s(), 600)));
}

TEST(TokensCrossCheck, PythonVerifiesOldTokensAgainstTheRotatedJwks) {
  TempDir dir("tokens");
  std::string old_key = new_key(dir, "old.pem"), new_key_file = new_key(dir, "new.pem");
  Tokens before = load({old_key});
  Tokens rotated = load({new_key_file, old_key});
  std::string old_token = *before.issue(TokenKind::kAdmission, "bob", "default", 1, now_s(), 600);
  std::string new_token = *rotated.issue(TokenKind::kAdmission, "bob", "default", 1, now_s(), 600);
  EXPECT_EQ(accepted(python_verify(dir, rotated.jwks(), old_token))["kid"], before.kids()[0]);
  EXPECT_EQ(accepted(python_verify(dir, rotated.jwks(), new_token))["kid"], rotated.kids()[0]);
  expect_refused(python_verify(dir, before.jwks(), new_token), "kid names no key");
}

// --------------------------------------------------------------- the server --

TEST(TokensServer, ServesTheJwksOfItsKeyWhichVerifiesTheUnitsTokens) {
  TempDir dir("tokens");
  std::string key = new_key(dir, "k.pem");
  Tokens tokens = load({key});
  Stack stack;
  ServerOptions o;
  o.extra_args = {"--token-keys", key};
  ASSERT_EQ(stack.start(o), "");

  HttpClient c = stack.client();
  HttpResponse r = c.get("/.well-known/jwks.json");
  ASSERT_EQ(r.status, 200) << r.describe();
  EXPECT_EQ(r.header("Content-Type").value_or(""), "application/json");
  EXPECT_EQ(r.header("Cache-Control").value_or(""), "max-age=300");
  EXPECT_EQ(r.body, tokens.jwks() + "\n");
  ASSERT_TRUE(r.has_json());
  ASSERT_EQ(r.json["keys"].size(), 1u);
  EXPECT_EQ(r.json["keys"][0]["kid"], tokens.kids()[0]);
  // Without an admin token; HEAD too; any other method is a 405.
  EXPECT_EQ(c.request("HEAD", "/.well-known/jwks.json").status, 200);
  HttpResponse post = c.post("/.well-known/jwks.json", "");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("Allow").value_or(""), "GET, HEAD");
  // The API document names it.
  EXPECT_NE(c.get("/openapi.yaml").body.find("\n  /.well-known/jwks.json:\n"), std::string::npos);

  // What the server publishes verifies an admission token of this key,
  // independently.
  std::string tok = *tokens.issue(TokenKind::kAdmission, "carol", "default", 1, now_s(), 600);
  EXPECT_EQ(accepted(python_verify(dir, r.body, tok))["claims"]["sub"], "carol");

  // The log names the kid; never the key.
  std::string log = stack.server().log();
  EXPECT_NE(log.find("tokens: signing with kid " + tokens.kids()[0]), std::string::npos) << log;
  std::string pem = read_file(key);
  std::string key_body = pem.substr(pem.find('\n') + 1, 20);
  EXPECT_EQ(log.find(key_body), std::string::npos) << "the private key was logged";
  EXPECT_EQ(log.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(log.find("no token_keys set"), std::string::npos);
}

// Instances that share the key files accept each other's user tokens (the
// MAC key derives from the private key alone); the server's own tokens are
// HS256 for users, EdDSA for admissions, and only the latter verify with
// the JWKS it serves.
TEST(TokensServer, InstancesSharingAKeyAcceptEachOthersUserTokens) {
  TempDir dir("tokens");
  std::string key = new_key(dir, "k.pem");
  Tokens tokens = load({key});
  Stack stack;
  ServerOptions o;
  o.threads = 1;
  o.extra_args = {"--token-keys", key};
  ASSERT_EQ(stack.start(o), "");
  ASSERT_EQ(stack.add_server(o), "");
  ServerOptions other;
  other.threads = 1;
  other.extra_args = {"--token-keys", new_key(dir, "other.pem")};
  ASSERT_EQ(stack.add_server(other), "");

  HttpClient first = stack.client(0), second = stack.client(1), third = stack.client(2);
  HttpResponse joined = first.post("/reserve", user_body("dora"));
  ASSERT_EQ(joined.status, 200) << joined.describe();
  std::string user = joined.json.value("token", "");
  ASSERT_FALSE(user.empty()) << joined.describe();
  EXPECT_EQ(json::parse(*base64url_decode(user.substr(0, user.find('.'))))["alg"], "HS256");
  EXPECT_TRUE(tokens.verify(user, TokenKind::kUser, "default", now_s()).ok());
  std::string jwks = first.get("/.well-known/jwks.json").body;
  expect_refused(python_verify(dir, jwks, user), "alg 'HS256' is not EdDSA");

  const Headers bearer{{"Authorization", "Bearer " + user}};
  HttpResponse status = second.get("/status/dora", bearer);
  ASSERT_EQ(status.status, 200) << status.describe();
  std::string admission = status.json.value("admission_token", "");
  ASSERT_FALSE(admission.empty()) << status.describe();
  EXPECT_EQ(accepted(python_verify(dir, jwks, admission))["claims"]["kind"], "admission");
  // Another key set knows neither.
  HttpResponse refused = third.get("/status/dora", bearer);
  EXPECT_EQ(refused.status, 401) << refused.describe();
  EXPECT_NE(refused.json.value("error", "").find("unknown_key"), std::string::npos)
      << refused.describe();
}

TEST(TokensServer, ListsEveryConfiguredKeyTheSigningOneFirst) {
  TempDir dir("tokens");
  std::string old_key = new_key(dir, "old.pem"), new_key_file = new_key(dir, "new.pem");
  Tokens rotated = load({new_key_file, old_key});
  Stack stack;
  ServerOptions o;
  o.threads = 1;
  o.env = {{"TICKETQ_TOKEN_KEYS", new_key_file + "," + old_key}};
  ASSERT_EQ(stack.start(o), "");
  HttpResponse r = stack.client().get("/.well-known/jwks.json");
  ASSERT_EQ(r.status, 200) << r.describe();
  ASSERT_EQ(r.json["keys"].size(), 2u) << r.body;
  EXPECT_EQ(r.json["keys"][0]["kid"], rotated.kids()[0]);
  EXPECT_EQ(r.json["keys"][1]["kid"], rotated.kids()[1]);
  EXPECT_NE(stack.server().log().find("2 key(s) verify"), std::string::npos);
}

TEST(TokensServer, WithoutKeysItWarnsThatItsTokensAreLocal) {
  Stack stack;
  ServerOptions o;
  o.threads = 1;
  ASSERT_EQ(stack.start(o), "");
  HttpResponse r = stack.client().get("/.well-known/jwks.json");
  ASSERT_EQ(r.status, 200) << r.describe();
  ASSERT_EQ(r.json["keys"].size(), 1u) << r.body;
  std::string kid = r.json["keys"][0]["kid"];
  std::string log = stack.server().log();
  EXPECT_NE(log.find("no token_keys set; signing with a key made for this run (kid " + kid + ")"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("verify on this instance only and not after a restart"), std::string::npos);
}

TEST(TokensServer, RefusesToStartWithAKeyFileItCannotUse) {
  TempDir dir("tokens");
  std::string good = new_key(dir, "good.pem");
  std::string rsa = new_key(dir, "rsa.pem", "rsa");
  std::string pub = dir.file("pub.pem");
  openssl({"pkey", "-in", good, "-pubout", "-out", pub});
  std::string junk = dir.file("junk.pem");
  write_file(junk,
             "-----BEGIN PRIVATE KEY-----\nNOT-A-KEY-BUT-SECRET\n-----END PRIVATE KEY-----\n");
  struct Case {
    std::string keys, message;
  };
  for (const Case& c :
       {Case{junk, junk + ": not an unencrypted PEM private key"},
        Case{good + "," + rsa, rsa + ": holds a key of type RSA, not Ed25519"},
        Case{pub, pub + ": not an unencrypted PEM private key"},
        Case{dir.file("missing.pem"), dir.file("missing.pem") + ": cannot be read"}}) {
    SCOPED_TRACE(c.keys);
    SpawnSpec spec;
    spec.argv = {server_binary(), "--port", "0", "--redis", "redis://127.0.0.1:1", "--threads", "1",
                 "--token-keys",  c.keys};
    spec.env_drop = {"TICKETQ_*", "REDIS_URL"};
    CommandResult r = run_command(spec, Millis(30000));
    EXPECT_TRUE(r.status.exited) << r.status.describe();
    EXPECT_EQ(r.status.code, 2);
    EXPECT_NE(r.err.find("ticketq-server: token_keys: key file " + c.message), std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find("NOT-A-KEY-BUT-SECRET"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("listening on"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace ticketq::test
