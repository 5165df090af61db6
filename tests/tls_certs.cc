#include "tests/tls_certs.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace deltakv::testing {

namespace {

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CertFree {
  void operator()(X509* x) const { X509_free(x); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;
using Cert = std::unique_ptr<X509, CertFree>;

[[noreturn]] void Fail(const std::string& what) {
  char buf[256] = "";
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  throw std::runtime_error("TestPki: " + what + ": " + buf);
}

Key NewKey() {
  Key k(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!k) Fail("EC key generation");
  return k;
}

// A certificate for `key` named `cn`, signed by `issuer` (self-signed when
// null), with extensions given as (NID, OpenSSL configuration value).
Cert NewCert(EVP_PKEY* key, const char* cn, X509* issuer, EVP_PKEY* issuer_key,
             const std::vector<std::pair<int, const char*>>& extensions) {
  static long serial = 1;
  Cert x(X509_new());
  if (!x) Fail("X509_new");
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 24 * 3600);
  X509_set_pubkey(x.get(), key);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1,
                             0);
  X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x.get(), x.get(), nullptr, nullptr, 0);
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (e == nullptr) Fail(std::string("extension ") + value);
    X509_add_ext(x.get(), e, -1);
    X509_EXTENSION_free(e);
  }
  if (X509_sign(x.get(), issuer_key ? issuer_key : key, EVP_sha256()) == 0) {
    Fail(std::string("signing ") + cn);
  }
  return x;
}

void WriteCert(const std::string& path, X509* x) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr || PEM_write_X509(f, x) != 1) Fail("writing " + path);
  std::fclose(f);
}

void WriteKey(const std::string& path, EVP_PKEY* k) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) Fail("writing " + path);
  chmod(path.c_str(), 0600);
  if (PEM_write_PrivateKey(f, k, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    Fail("writing " + path);
  }
  std::fclose(f);
}

// One CA and what it signs, written under `dir` as NAME.crt / NAME.key.
class Authority {
 public:
  Authority(std::string dir, const std::string& name)
      : dir_(std::move(dir)), key_(NewKey()) {
    cert_ = NewCert(key_.get(), (name + " test CA").c_str(), nullptr, nullptr,
                    {{NID_basic_constraints, "critical,CA:TRUE"},
                     {NID_key_usage, "critical,keyCertSign,cRLSign"},
                     {NID_subject_key_identifier, "hash"}});
    file_ = dir_ + "/" + name + "-ca.crt";
    WriteCert(file_, cert_.get());
  }
  const std::string& file() const { return file_; }

  // A leaf certificate; `usage` is serverAuth or clientAuth.
  KeyPair Issue(const std::string& name, const char* usage,
                const char* alt_names) {
    Key k = NewKey();
    std::vector<std::pair<int, const char*>> ext = {
        {NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, usage},
        {NID_authority_key_identifier, "keyid"}};
    if (alt_names != nullptr) ext.emplace_back(NID_subject_alt_name, alt_names);
    Cert x = NewCert(k.get(), name.c_str(), cert_.get(), key_.get(), ext);
    KeyPair out{dir_ + "/" + name + ".crt", dir_ + "/" + name + ".key"};
    WriteCert(out.cert, x.get());
    WriteKey(out.key, k.get());
    return out;
  }

 private:
  std::string dir_, file_;
  Key key_;
  Cert cert_;
};

}  // namespace

TestPki::TestPki() {
  char tmpl[] = "/tmp/deltakv-tls-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("TestPki: mkdtemp");
  dir_ = tmpl;
  Authority ca(dir_, "good");
  ca_.cert = ca.file();
  server_ = ca.Issue("server", "serverAuth", "IP:127.0.0.1,DNS:localhost");
  client_ = ca.Issue("client", "clientAuth", nullptr);
  wrong_name_ = ca.Issue("wrong-name", "serverAuth", "DNS:elsewhere.test");
  Authority rogue(dir_, "rogue");
  rogue_ca_.cert = rogue.file();
  rogue_server_ =
      rogue.Issue("rogue-server", "serverAuth", "IP:127.0.0.1,DNS:localhost");
  rogue_client_ = rogue.Issue("rogue-client", "clientAuth", nullptr);
}

TestPki::~TestPki() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace deltakv::testing
