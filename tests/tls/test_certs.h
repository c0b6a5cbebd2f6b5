// The test PKI of make_certs.sh for C++ tests: test_certs_dir() generates it once per process
// into a fresh temporary directory and returns that directory; cert(name) / key(name) are the
// paths of <name>.crt / <name>.key in it (names: see make_certs.sh). Stops the test binary with
// a message when the openssl CLI fails.
#pragma once

#include <string>

namespace raftkv::testing {

const std::string& test_certs_dir();
inline std::string cert(const std::string& name) {
  return test_certs_dir() + "/" + name + ".crt";
}
inline std::string key(const std::string& name) {
  return test_certs_dir() + "/" + name + ".key";
}
// The serial of <name>.crt as make_certs.sh wrote it (upper-case hex).
std::string serial(const std::string& name);

}  // namespace raftkv::testing
