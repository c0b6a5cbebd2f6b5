// Splitting of inline commands ("SET key value\r\n" typed by hand into telnet or redis-cli's
// inline mode) into arguments, with the quoting rules of Redis's sdssplitargs():
//   - arguments are separated by spaces, tabs, CR or LF;
//   - "double quoted" arguments understand \n \r \t \b \a \\ \" and \xHH escapes;
//   - 'single quoted' arguments understand only \' ;
//   - a closing quote must be followed by whitespace or the end of the line.
// Deviation: a NUL byte is an ordinary character here (sdssplitargs stops at it).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raftkv::resp {

// Returns the arguments of `line`, or nullopt when quotes are unbalanced (Redis then answers
// "Protocol error: unbalanced quotes in request" and closes the connection).
std::optional<std::vector<std::string>> split_inline_args(std::string_view line);

}  // namespace raftkv::resp
