#ifndef CSSH2_SHIM_H
#define CSSH2_SHIM_H
#include <libssh2.h>
#include <libssh2_sftp.h>
/* Swift imports only simple literal macros; function-like ones are re-exported here. */
static inline LIBSSH2_SESSION *cssh2_session_init(void) {
    return libssh2_session_init_ex(NULL, NULL, NULL, NULL);
}
/* Look a raw host key up in a known-hosts collection; returns LIBSSH2_KNOWNHOST_CHECK_*. */
static inline int cssh2_knownhost_check(LIBSSH2_KNOWNHOSTS *hosts, const char *host, int port, const char *key,
                                        size_t key_len) {
    struct libssh2_knownhost *found = NULL;
    return libssh2_knownhost_checkp(hosts, host, port, key, key_len,
                                    LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW, &found);
}
#endif
