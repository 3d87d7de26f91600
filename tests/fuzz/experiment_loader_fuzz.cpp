// libFuzzer over the experiment loader: any bytes `firedrill validate` or `run` could
// be given as a file are parsed (YAML -> Experiment) and checked. Whatever arrives, the
// answer is an experiment or diagnostics that name this file and a position inside
// it, never a crash, a hang or an exception. Built with clang by scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "controller/experiment/loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto loaded = firedrill::experiment::parse_experiment(text, "fuzz.yaml");
  int lines = 1;
  for (char c : text) lines += c == '\n';
  for (const auto& d : loaded.diagnostics) {
    if (d.file != "fuzz.yaml" || d.message.empty()) __builtin_trap();
    if (d.pos.line < 0 || d.pos.line > lines + 1 || d.pos.column < 0) __builtin_trap();
  }
  return 0;
}
