#include "test_certs.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace raftkv::testing {

const std::string& test_certs_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/raftkv-certs.XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("test_certs: mkdtemp");
      std::abort();
    }
    std::string command = std::string(RAFTKV_MAKE_CERTS) + " '" + pattern + "' 3 >/dev/null";
    if (std::system(command.c_str()) != 0) {
      std::fprintf(stderr, "test_certs: '%s' failed\n", command.c_str());
      std::abort();
    }
    static std::string to_remove;
    to_remove = pattern;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(to_remove, ec);
    });
    return pattern;
  }();
  return dir;
}

std::string serial(const std::string& name) {
  std::ifstream in(test_certs_dir() + "/" + name + ".serial");
  std::string s;
  in >> s;
  return s;
}

}  // namespace raftkv::testing
