// Network addresses as users write them: "host:port", "[v6-host]:port", comma-separated lists.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace raftkv::client {

struct HostPort {
  std::string host;  // a name or a literal address, without brackets
  uint16_t port = 0;

  // "host:port", with brackets around an IPv6 literal.
  std::string to_string() const;
  bool operator==(const HostPort&) const = default;
};

// Parses "host:port" or "[v6]:port". Port must be 1..65535, host non-empty.
Result<HostPort> parse_host_port(std::string_view text);
// Parses "a:1,b:2" (spaces around entries are ignored). At least one entry.
Result<std::vector<HostPort>> parse_address_list(std::string_view text);

}  // namespace raftkv::client
