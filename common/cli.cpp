#include "common/cli.h"

#include <iostream>

namespace firedrill {

namespace po = boost::program_options;

Result<bool> parse_options(int argc, char** argv, const po::options_description& desc, po::variables_map& vm,
                           const po::positional_options_description* pos) {
  try {
    po::command_line_parser parser(argc, argv);
    parser.options(desc);
    if (pos) parser.positional(*pos);
    po::store(parser.run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return make_error("{}", e.what());
  }
  return vm.count("help") > 0;
}

std::optional<int> parse_verb_options(int argc, char** argv, const po::options_description& desc,
                                      po::variables_map& vm, std::string_view prog,
                                      const po::positional_options_description* pos) {
  auto help = parse_options(argc, argv, desc, vm, pos);
  if (!help) {
    std::cerr << prog << ": " << help.error().message << " (see " << prog << " --help)\n";
    return 2;
  }
  if (*help) {
    std::cout << desc << "\n";
    return 0;
  }
  return std::nullopt;
}

int usage_error(std::string_view prog, std::string_view what, int code) {
  std::cerr << prog << ": " << what << "\n";
  return code;
}

}  // namespace firedrill
