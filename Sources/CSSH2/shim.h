#ifndef CSSH2_SHIM_H
#define CSSH2_SHIM_H
#include <libssh2.h>
#include <libssh2_sftp.h>
/* Swift imports only simple literal macros; function-like ones are re-exported here. */
static inline LIBSSH2_SESSION *cssh2_session_init(void) {
    return libssh2_session_init_ex(NULL, NULL, NULL, NULL);
}
#endif
