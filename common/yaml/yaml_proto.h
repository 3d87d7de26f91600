// YAML to protobuf, field by field, by walking the message's descriptor. Strict: an
// unknown or misspelled key, a value of the wrong type (a quoted number, a list where
// one value belongs), a bad duration, a duplicate key or two members of one oneof are
// errors that carry the file position of the offending key or value. Conversion goes
// on past an error so that one pass reports all of them.
//
// Conventions (the same for every schema converted this way):
// - keys are the proto field names (snake_case);
// - google.protobuf.Duration is a string: "500ms", "10s", "1h30m" (common/time.h);
// - an enum value is its full name or its short lower-case name without the prefix
//   its values share: TEST_TYPE_GAME_DAY or "game_day", L4_TCP or "tcp";
// - numbers and booleans are plain YAML scalars (true/false), not quoted strings;
// - a repeated message field written as one mapping is a list of one element;
// - an empty value (`power_loss:` or `power_loss: {}`) sets a message field to its
//   empty message, which is how a oneof member without options is chosen.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/message.h>
#include <yaml-cpp/yaml.h>

#include "common/yaml/diagnostic.h"

namespace firedrill {

// Fills `out` (which should be empty) from `node`; returns every error found. `path`
// is the field path of `node` ("" for the document root).
std::vector<Diagnostic> yaml_to_message(const YAML::Node& node, google::protobuf::Message* out,
                                        const std::string& file, SourceMap* source,
                                        const std::string& path = "");

// The one YAML document of a file's text into *root. A syntax error, a second
// document or an empty text is a diagnostic; `what` names what the document holds
// ("experiment", "agent configuration").
std::vector<Diagnostic> parse_yaml_document(const std::string& text, const std::string& file,
                                            std::string_view what, YAML::Node* root);

// Diagnostics in the order of the file (stable: one spot keeps its order).
void sort_by_position(std::vector<Diagnostic>& diagnostics);

// The short YAML name of an enum value ("game_day" for TEST_TYPE_GAME_DAY).
std::string enum_short_name(const google::protobuf::EnumValueDescriptor* value);

}  // namespace firedrill
