// Output files a command writes for a person (reports, exported keys): whole or not at
// all, and never through a symlink or a name someone else could have prepared. The
// text goes to a fresh random name in the target's own directory, created with
// O_EXCL|O_NOFOLLOW (never an existing file or link), is synced and given `mode`, and
// is renamed over the target with renameat: a symlink at the target is replaced, not
// followed. Both steps go through one directory descriptor.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string_view>

#include "common/result.h"

namespace firedrill {

Result<void> write_output_file(const std::filesystem::path& path, std::string_view text, mode_t mode = 0644);

}  // namespace firedrill
