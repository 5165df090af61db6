// TestPki: throwaway certificates for TLS tests, made with OpenSSL at test
// time (P-256 keys, valid from a minute ago for a day) and written as PEM
// files into a new temporary folder, removed at destruction:
//   - a CA, a server certificate it signed for IP 127.0.0.1 and DNS
//     localhost, and a client certificate it signed (mutual TLS);
//   - a server certificate it signed for another name only (elsewhere.test);
//   - an unrelated CA ("rogue") with a server certificate and a client
//     certificate for the same names, as an impostor would present.
// Not thread-safe; create one per test.
#ifndef DELTAKV_TESTS_TLS_CERTS_H_
#define DELTAKV_TESTS_TLS_CERTS_H_

#include <string>

namespace deltakv::testing {

struct KeyPair {
  std::string cert;  // PEM certificate file
  std::string key;   // PEM private key file
};

class TestPki {
 public:
  // Aborts the test process (with a message) if OpenSSL fails.
  TestPki();
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& ca() const { return ca_.cert; }  // trust this
  const KeyPair& server() const { return server_; }
  const KeyPair& client() const { return client_; }
  const KeyPair& wrong_name_server() const { return wrong_name_; }
  const std::string& rogue_ca() const { return rogue_ca_.cert; }
  const KeyPair& rogue_server() const { return rogue_server_; }
  const KeyPair& rogue_client() const { return rogue_client_; }

 private:
  std::string dir_;
  KeyPair ca_, server_, client_, wrong_name_;
  KeyPair rogue_ca_, rogue_server_, rogue_client_;
};

}  // namespace deltakv::testing

#endif  // DELTAKV_TESTS_TLS_CERTS_H_
