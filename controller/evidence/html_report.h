// The report as one self-contained HTML page: inline CSS and SVG, no scripts, no
// fonts or images from anywhere, print CSS for a clean PDF. The page embeds its whole
// report document as a JSON data block (not a script), so `report verify page.html`
// checks the evidence and then renders the page again to show that nothing visible
// was edited: rendering is deterministic.
#pragma once

#include <string>

#include "controller/evidence/canonical.h"

namespace firedrill::evidence {

// The id of the data block that holds the document.
inline constexpr const char* kEmbeddedId = "firedrill-evidence";

Result<std::string> render_html(const Json& document);
// Text for HTML: & < > " ' as entities (element content and quoted attributes).
std::string html_escape(std::string_view s);

// The embedded document's text, from a page that render_html made.
Result<std::string> extract_embedded_json(std::string_view html);

}  // namespace firedrill::evidence
