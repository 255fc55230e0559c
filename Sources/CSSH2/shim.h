#ifndef CSSH2_SHIM_H
#define CSSH2_SHIM_H
#include <libssh2.h>
#include <libssh2_sftp.h>
#include <string.h>
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
static inline int cssh2_userauth_publickey_fromfile(LIBSSH2_SESSION *s, const char *user, const char *pub,
                                                    const char *priv) {
    return libssh2_userauth_publickey_fromfile_ex(s, user, (unsigned int)strlen(user), pub, priv, NULL);
}
static inline LIBSSH2_CHANNEL *cssh2_channel_open_session(LIBSSH2_SESSION *s) {
    return libssh2_channel_open_ex(s, "session", sizeof("session") - 1, LIBSSH2_CHANNEL_WINDOW_DEFAULT,
                                   LIBSSH2_CHANNEL_PACKET_DEFAULT, NULL, 0);
}
static inline LIBSSH2_CHANNEL *cssh2_channel_direct_tcpip(LIBSSH2_SESSION *s, const char *host, int port) {
    return libssh2_channel_direct_tcpip_ex(s, host, port, "127.0.0.1", 22);
}
static inline int cssh2_channel_exec(LIBSSH2_CHANNEL *c, const char *command) {
    return libssh2_channel_process_startup(c, "exec", sizeof("exec") - 1, command, (unsigned int)strlen(command));
}
static inline ssize_t cssh2_channel_read(LIBSSH2_CHANNEL *c, int stream, char *buffer, size_t length) {
    return libssh2_channel_read_ex(c, stream, buffer, length);
}
static inline ssize_t cssh2_channel_write(LIBSSH2_CHANNEL *c, const char *buffer, size_t length) {
    return libssh2_channel_write_ex(c, 0, buffer, length);
}
static inline LIBSSH2_SFTP_HANDLE *cssh2_sftp_open(LIBSSH2_SFTP *sftp, const char *path, unsigned long flags,
                                                   long mode) {
    return libssh2_sftp_open_ex(sftp, path, (unsigned int)strlen(path), flags, mode, LIBSSH2_SFTP_OPENFILE);
}
static inline int cssh2_sftp_mkdir(LIBSSH2_SFTP *sftp, const char *path, long mode) {
    return libssh2_sftp_mkdir_ex(sftp, path, (unsigned int)strlen(path), mode);
}
static inline int cssh2_sftp_rmdir(LIBSSH2_SFTP *sftp, const char *path) {
    return libssh2_sftp_rmdir_ex(sftp, path, (unsigned int)strlen(path));
}
static inline int cssh2_sftp_unlink(LIBSSH2_SFTP *sftp, const char *path) {
    return libssh2_sftp_unlink_ex(sftp, path, (unsigned int)strlen(path));
}
static inline int cssh2_sftp_readlink(LIBSSH2_SFTP *sftp, const char *path, char *target, unsigned int length) {
    return libssh2_sftp_symlink_ex(sftp, path, (unsigned int)strlen(path), target, length, LIBSSH2_SFTP_READLINK);
}
static inline int cssh2_sftp_lstat(LIBSSH2_SFTP *sftp, const char *path, LIBSSH2_SFTP_ATTRIBUTES *attributes) {
    return libssh2_sftp_stat_ex(sftp, path, (unsigned int)strlen(path), LIBSSH2_SFTP_LSTAT, attributes);
}
static inline int cssh2_sftp_close(LIBSSH2_SFTP_HANDLE *handle) { return libssh2_sftp_close_handle(handle); }
static inline LIBSSH2_SFTP_HANDLE *cssh2_sftp_opendir(LIBSSH2_SFTP *sftp, const char *path) {
    return libssh2_sftp_open_ex(sftp, path, (unsigned int)strlen(path), 0, 0, LIBSSH2_SFTP_OPENDIR);
}
static inline int cssh2_sftp_readdir(LIBSSH2_SFTP_HANDLE *handle, char *name, size_t length,
                                     LIBSSH2_SFTP_ATTRIBUTES *attributes) {
    return libssh2_sftp_readdir_ex(handle, name, length, NULL, 0, attributes);
}
#endif
