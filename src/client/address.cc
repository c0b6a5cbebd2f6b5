#include "client/address.h"

#include <charconv>

namespace raftkv::client {

std::string HostPort::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<HostPort> parse_host_port(std::string_view text) {
  auto invalid = [&](std::string_view why) {
    return Result<HostPort>(
        ErrorCode::kInvalidArgument,
        "bad address '" + std::string(text) + "': " + std::string(why) + " (expected host:port)");
  };
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return invalid("unterminated [ipv6]");
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return invalid("missing port");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return invalid("ipv6 hosts need [brackets]");
  }
  if (host.empty()) return invalid("empty host");
  uint32_t port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return invalid("port must be 1..65535");
  }
  return HostPort{std::string(host), static_cast<uint16_t>(port)};
}

Result<std::vector<HostPort>> parse_address_list(std::string_view text) {
  std::vector<HostPort> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) {
      auto parsed = parse_host_port(item);
      if (!parsed) return parsed.status();
      out.push_back(std::move(parsed).value());
    }
    start = comma + 1;
  }
  if (out.empty())
    return Result<std::vector<HostPort>>(ErrorCode::kInvalidArgument, "empty address list");
  return out;
}

}  // namespace raftkv::client
