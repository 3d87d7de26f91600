// `firedrill certs` writes keys never through a link: a link (also a dangling one) at a
// key's name counts as existing, and --force replaces the link instead of writing
// where it points; keys are 0600.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "controller/session/certs.h"

namespace firedrill::controller {
namespace {

namespace fs = std::filesystem;

TEST(Certs, KeysAreNeverWrittenThroughALink) {
  fs::path dir = fs::temp_directory_path() / ("fd-certs-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  struct Cleanup {
    fs::path p;
    ~Cleanup() { fs::remove_all(p); }
  } cleanup{dir};
  auto ca = make_ca("test CA", KeyType::kP256, 1);
  ASSERT_TRUE(ca) << ca.error().describe();

  // A dangling link where the CA key goes: refused without --force, nothing created.
  fs::path planted = dir / "planted-key";
  fs::create_symlink(planted, dir / "ca.key");
  auto refused = write_pem(dir.string(), "ca", *ca, false);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("exists already"), std::string::npos) << refused.error().message;
  EXPECT_FALSE(fs::exists(planted));

  // With --force the link is replaced by the key; where it pointed stays untouched.
  auto other = dir / "victim";
  std::ofstream(other) << "not a key";
  fs::remove(dir / "ca.key");
  fs::create_symlink(other, dir / "ca.key");
  ASSERT_TRUE(write_pem(dir.string(), "ca", *ca, true));
  EXPECT_FALSE(fs::is_symlink(fs::symlink_status(dir / "ca.key")));
  std::ifstream victim(other);
  std::string text((std::istreambuf_iterator<char>(victim)), {});
  EXPECT_EQ(text, "not a key");
  struct stat st {};
  ASSERT_EQ(::stat((dir / "ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto back = read_pem((dir / "ca.pem").string(), (dir / "ca.key").string());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->key, ca->key);
  EXPECT_FALSE(fs::exists(planted));
}

}  // namespace
}  // namespace firedrill::controller
