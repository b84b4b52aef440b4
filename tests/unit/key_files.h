// Key files for the tests of the token keys (tokens_test, config_test): made
// at test time in a fresh temporary directory, removed with it. No private
// key is ever committed (the RFC 8037 test vector is public).
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace ticketq::test {

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using TestPkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

class KeyDir {
 public:
  KeyDir() {
    std::string tmpl = ::testing::TempDir() + "ticketq-keys-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~KeyDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  KeyDir(const KeyDir&) = delete;
  KeyDir& operator=(const KeyDir&) = delete;

  std::string file(const std::string& name) const { return path_ + "/" + name; }

  // Writes `key` as an unencrypted PKCS#8 PEM file; returns its path.
  std::string write_key(const std::string& name, EVP_PKEY* key) const {
    std::string path = file(name);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    bool ok =
        f != nullptr && PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    if (f != nullptr) std::fclose(f);
    if (!ok) ADD_FAILURE() << "cannot write " << path;
    return path;
  }
  // A fresh key of `type` ("ED25519", "RSA", "EC"...) in a file.
  std::string new_key(const std::string& name, const char* type = "ED25519") const {
    TestPkey key(std::string_view(type) == "RSA"
                     ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024))
                 : std::string_view(type) == "EC"
                     ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                     : EVP_PKEY_Q_keygen(nullptr, nullptr, type));
    if (!key) ADD_FAILURE() << "cannot make a " << type << " key";
    return write_key(name, key.get());
  }
  std::string write_text(const std::string& name, const std::string& text) const {
    std::string path = file(name);
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

 private:
  std::string path_;
};

// The private key of a PEM file, for tests that sign tokens by hand.
inline TestPkey read_key(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return nullptr;
  TestPkey key(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  return key;
}

}  // namespace ticketq::test
