// Errors found in a YAML file (an experiment, a configuration), each naming the file, the line and column
// (1-based) and the field path ("steps[1].duration"), so that a user goes straight to
// the spot. A file's errors are all collected, never just the first.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace firedrill {

struct SourcePos {
  int line = 0;    // 1-based; 0: unknown (the file as a whole)
  int column = 0;  // 1-based
};

struct Diagnostic {
  std::string file;
  SourcePos pos;
  std::string field;  // "" for the document as a whole
  std::string message;

  // "exp.yaml:12:5: steps[0].duration: bad duration ..."
  std::string to_string() const;
};

// Where each field path was written in the file: the value's position, and the key's
// for fields that are map entries. Semantic checks use it to point at what they reject;
// a path never written (a missing field) points at its nearest written ancestor.
class SourceMap {
 public:
  void set(const std::string& path, SourcePos key, SourcePos value);
  // The value's position of `path` or of its nearest ancestor that was written.
  SourcePos value_pos(const std::string& path) const;
  // The key's position of `path` (where a field name was written), else value_pos.
  SourcePos key_pos(const std::string& path) const;
  bool contains(const std::string& path) const { return entries_.count(path) != 0; }

 private:
  struct Entry {
    SourcePos key;
    SourcePos value;
  };
  std::map<std::string, Entry> entries_;
};

// "steps[1].fault" -> "steps[1]" -> "steps" -> "".
std::string parent_path(const std::string& path);

}  // namespace firedrill
