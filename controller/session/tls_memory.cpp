#include "controller/session/tls_memory.h"

#include <dlfcn.h>

#include <atomic>

#include <openssl/bio.h>
#include <openssl/ssl.h>

namespace {

// 0: OpenSSL's default sizes (and no release mode) until shrink_tls_memory() is called.
std::atomic<size_t> g_bio_bytes{0};
std::atomic<bool> g_release{false};

template <typename Fn>
Fn next_definition(const char* name) {
  return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

// libgrpc's tsi handshaker asks for BIO_new_bio_pair(&network, 0, &ssl, 0).
int BIO_new_bio_pair(BIO** bio1, size_t writebuf1, BIO** bio2, size_t writebuf2) {
  using Fn = int (*)(BIO**, size_t, BIO**, size_t);
  static const Fn real = next_definition<Fn>("BIO_new_bio_pair");
  if (size_t bytes = g_bio_bytes.load(std::memory_order_relaxed); bytes != 0) {
    if (writebuf1 == 0) writebuf1 = bytes;
    if (writebuf2 == 0) writebuf2 = bytes;
  }
  return real(bio1, writebuf1, bio2, writebuf2);
}

SSL* SSL_new(SSL_CTX* ctx) {
  using Fn = SSL* (*)(SSL_CTX*);
  static const Fn real = next_definition<Fn>("SSL_new");
  SSL* ssl = real(ctx);
  if (ssl != nullptr && g_release.load(std::memory_order_relaxed)) SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
  return ssl;
}

}  // extern "C"

namespace firedrill::controller {

bool shrink_tls_memory(const TlsMemorySettings& settings) {
  // Only an executable that exports its definitions (the linker does so when a shared
  // library it links, here libgrpc, refers to them) takes libgrpc's calls.
  bool interposed = ::dlsym(RTLD_DEFAULT, "BIO_new_bio_pair") == reinterpret_cast<void*>(&BIO_new_bio_pair) &&
                    ::dlsym(RTLD_DEFAULT, "SSL_new") == reinterpret_cast<void*>(&SSL_new);
  g_bio_bytes.store(settings.bio_buffer_bytes, std::memory_order_relaxed);
  g_release.store(settings.release_record_buffers, std::memory_order_relaxed);
  return interposed;
}

}  // namespace firedrill::controller
