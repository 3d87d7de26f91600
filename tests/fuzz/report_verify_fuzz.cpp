// libFuzzer over `firedrill report verify`: a report file, JSON or the HTML page, is
// whatever a forger or a broken disk makes of it. A genuine report (the synthetic
// Pangyo run of tests/unit/evidence_fixture.h) is made once; each input is either taken
// as the whole file or applied to the genuine JSON or page as byte patches, which
// reaches deep into the checks. Whatever arrives: no crash, no hang, no exception, and
// nothing verifies against the pinned key unless it says what the genuine report says
// (the same document; for a page, the same bytes). Built with clang by scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/log.h"
#include "controller/evidence/document.h"
#include "controller/evidence/html_report.h"
#include "controller/evidence/verify.h"
#include "tests/unit/evidence_fixture.h"

namespace {

using namespace firedrill;
using namespace firedrill::evidence;

struct Genuine {
  std::string json;
  std::string html;
  Json doc;
  std::unique_ptr<SigningKey> key;
};

Genuine* genuine = nullptr;

[[noreturn]] void die(const std::string& why) {
  fprintf(stderr, "report_verify_fuzz: %s\n", why.c_str());
  std::abort();
}

Genuine* make_genuine() {
  auto g = std::make_unique<Genuine>();
  char dir[] = "/tmp/fdz-verify-XXXXXX";
  if (!mkdtemp(dir)) die("mkdtemp");
  {
    auto store = controller::open_sqlite_store(std::string(dir) + "/state.db");
    if (!store) die(store.error().message);
    auto key = SigningKey::generate();
    if (!key) die(key.error().message);
    g->key = std::make_unique<SigningKey>(std::move(*key));
    testing::FixtureClock clock;
    if (auto log = testing::write_fixture_run(**store, *g->key, clock); !log) die(log.error().message);
    FindingBook book(**store, g->key.get(), clock.fn());
    if (!book.add({"run-pangyo-0001", "medium", "minho.lee", "2026-12-31", "slow failover", "", "me"})) die("finding");
    auto doc = build_document(**store, "run-pangyo-0001", *g->key, clock.now, "firedrill fuzz");
    if (!doc) die(doc.error().message);
    g->doc = *doc;
    g->json = render_json(g->doc);
    auto html = render_html(g->doc);
    if (!html) die(html.error().message);
    g->html = *html;
  }
  std::filesystem::remove_all(dir);
  if (!verify_report_text(g->json, &g->key->public_key()).verified()) die("the genuine JSON does not verify");
  if (!verify_report_text(g->html, &g->key->public_key()).verified()) die("the genuine page does not verify");
  return g.release();
}

// Patches of 3 bytes each: a 16-bit offset (scaled over the text) and the new byte.
std::string patched(const std::string& base, const uint8_t* data, size_t size) {
  std::string out = base;
  for (size_t i = 0; i + 3 <= size; i += 3) {
    size_t at = ((static_cast<size_t>(data[i]) << 8 | data[i + 1]) * out.size()) >> 16;
    if (at < out.size()) out[at] = static_cast<char>(data[i + 2]);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  firedrill::logger("controller.evidence")->set_level(spdlog::level::off);
  genuine = make_genuine();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const PublicKey& pub = genuine->key->public_key();
  uint8_t mode = data[0] % 3;
  ++data;
  --size;
  if (mode == 0) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto v = verify_report_text(text, &pub, "fuzz");
    if (v.verified() && text != genuine->json && text != genuine->html) {
      auto doc = Json::parse(text, nullptr, false);
      if (doc.is_discarded() || doc != genuine->doc) die("a made-up report verified");
    }
    return 0;
  }
  const std::string& base = mode == 1 ? genuine->json : genuine->html;
  std::string text = patched(base, data, size);
  auto v = verify_report_text(text, &pub, "fuzz");
  if (!v.verified() || text == base) return 0;
  if (mode == 2) die("an edited page verified");
  auto doc = Json::parse(text, nullptr, false);
  if (doc.is_discarded() || doc != genuine->doc) die("an edited report verified and says something else");
  return 0;
}
