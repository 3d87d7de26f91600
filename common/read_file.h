// A whole file read into memory (certificates, keys, configuration and tags files);
// the error names what the file is for and its path: "--tls-ca /etc/x/ca.pem: No such
// file or directory".
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace firedrill {

Result<std::string> read_whole_file(const std::string& path, std::string_view what);

}  // namespace firedrill
