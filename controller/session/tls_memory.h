// Per-connection TLS memory of the agent listener.
//
// Debian's gRPC (1.51) gives every TLS connection a BIO pair with two 17 KiB buffers
// and leaves OpenSSL's read and write record buffers (about 17 KiB each) allocated for
// the connection's whole life: some 70 KiB of the ~110 KiB a connected agent costs the
// controller. gRPC offers no setting for either (it passes 0, "the default", for the
// BIO sizes and never sets SSL_MODE_RELEASE_BUFFERS). The controller executable
// therefore defines BIO_new_bio_pair and SSL_new itself: the dynamic linker resolves
// libgrpc's calls to the executable's definitions first, which forward to OpenSSL's
// with smaller BIO buffers and with SSL_MODE_RELEASE_BUFFERS set (OpenSSL then frees
// its record buffers whenever a connection has nothing buffered, and allocates them
// again for the next record). TLS itself is unchanged: same library, same records.
#pragma once

#include <cstddef>

namespace firedrill::controller {

struct TlsMemorySettings {
  // Each direction of a connection's BIO pair. gRPC's frame protector needs one whole
  // TLS record of its own (GRPC_ARG_TSI_MAX_FRAME_SIZE, 2 KiB on the agent listener)
  // in the outgoing buffer, and a whole handshake flight must fit (see bio_bytes_for in
  // agent_service.cpp).
  size_t bio_buffer_bytes = 8192;
  bool release_record_buffers = true;
};

// Applies to TLS connections made from now on in this process (server and client).
// Returns false when the interposition is not in effect (the executable does not
// export the two symbols): connections then get gRPC's defaults.
bool shrink_tls_memory(const TlsMemorySettings& settings);

}  // namespace firedrill::controller
