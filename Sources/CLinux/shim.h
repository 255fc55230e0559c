#ifndef CLINUX_SHIM_H
#define CLINUX_SHIM_H

/* Linux calls that glibc declares only under _GNU_SOURCE, which Swift's Glibc module is not built with,
   or does not wrap at all (openat2, renameat2). */

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

int syncfs(int fd);
int pipe2(int pipefd[2], int flags);

/* A pipe whose ends are close-on-exec from the start (no other thread's spawn can inherit them). */
static inline int clinux_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

/* Flushes the file system holding fd to disk (syncfs(2)); 0 on success, -1 with errno set. */
static inline int clinux_syncfs(int fd) { return syncfs(fd); }

/* openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS: `path` is looked up under
   `dirfd` only, and no symlink anywhere on the way (the last component included) is followed. */
static inline int clinux_open_beneath(int dirfd, const char *path, int flags, unsigned int mode) {
    struct open_how how = {0};
    how.flags = (unsigned long long)flags;
    how.mode = (flags & O_CREAT) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* renameat2(2) with RENAME_EXCHANGE: swaps two names atomically (the attack the removers are tested against). */
static inline int clinux_exchange(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, 2 /* RENAME_EXCHANGE */);
}

/* Children this thread starts from now on are in a new PID namespace (unshare CLONE_NEWPID), the first as its
   init: when that one ends, the kernel kills every process left in the namespace. Needs CAP_SYS_ADMIN. */
static inline int clinux_unshare_pid_namespace(void) { return (int)syscall(SYS_unshare, 0x20000000); }

/* Back to the PID namespace open as fd for this thread's later children (setns CLONE_NEWPID). */
static inline int clinux_set_pid_namespace(int fd) { return (int)syscall(SYS_setns, fd, 0x20000000); }

/* The flag values Swift cannot import from glibc's macros. */
static const int clinux_O_PATH = 010000000;
static const int clinux_AT_EMPTY_PATH = 0x1000;

#endif
