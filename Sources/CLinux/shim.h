#ifndef CLINUX_SHIM_H
#define CLINUX_SHIM_H

/* Linux calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc module is not built with. */

int syncfs(int fd);

/* Flushes the file system holding fd to disk (syncfs(2)); 0 on success, -1 with errno set. */
static inline int clinux_syncfs(int fd) { return syncfs(fd); }

#endif
