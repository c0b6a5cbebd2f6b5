#include "base/assert.h"

#include <cstdio>
#include <cstdlib>

namespace raftkv {

void assertion_failed(const char* file, int line, std::string_view expr,
                      const std::string& message) {
  std::fprintf(stderr, "%s:%d: invariant violated: %.*s: %s\n", file, line,
               static_cast<int>(expr.size()), expr.data(), message.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace raftkv
