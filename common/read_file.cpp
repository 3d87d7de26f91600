#include "common/read_file.h"

#include <cerrno>
#include <fstream>
#include <sstream>

namespace firedrill {

Result<std::string> read_whole_file(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return sys_error(errno, "{} {}", what, path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return sys_error(errno, "{} {}: read", what, path);
  return ss.str();
}

}  // namespace firedrill
