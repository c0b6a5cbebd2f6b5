// The result of a KV command, as handed back to the waiting client. Mirrors RESP2 reply types
// so the frontend converts it one to one (kStatus → "+", kError → "-", kNull → "$-1").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace raftkv::kv {

struct Reply {
  enum class Kind : uint8_t { kStatus, kError, kInteger, kBulk, kNull, kArray };

  Kind kind = Kind::kNull;
  std::string text;             // kStatus, kError (full line, e.g. "ERR syntax error"), kBulk
  int64_t integer = 0;          // kInteger
  std::vector<Reply> elements;  // kArray

  static Reply ok() { return status("OK"); }
  static Reply status(std::string s) { return Reply{Kind::kStatus, std::move(s), 0, {}}; }
  static Reply error(std::string s) { return Reply{Kind::kError, std::move(s), 0, {}}; }
  static Reply integer_reply(int64_t v) { return Reply{Kind::kInteger, {}, v, {}}; }
  static Reply bulk(std::string s) { return Reply{Kind::kBulk, std::move(s), 0, {}}; }
  static Reply null() { return Reply{}; }
  static Reply array(std::vector<Reply> e) { return Reply{Kind::kArray, {}, 0, std::move(e)}; }

  bool is_error() const { return kind == Kind::kError; }
  bool operator==(const Reply&) const = default;
};

}  // namespace raftkv::kv
