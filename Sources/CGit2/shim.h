#ifndef CGIT2_SHIM_H
#define CGIT2_SHIM_H
#include <git2.h>
#include <git2/sys/stream.h>
/* A git_stream with a pointer to the Swift object behind it: libgit2 hands every stream callback the
   git_stream, which is the first member. */
typedef struct cgit2_owned_stream {
    git_stream parent;
    void *owner;
} cgit2_owned_stream;
/* git_libgit2_opts() is variadic, so Swift cannot call it: one wrapper per option used. */
static inline int cgit2_set_owner_validation(int enabled) {
    return git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, enabled);
}
static inline int cgit2_set_strict_hash_verification(int enabled) {
    return git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, enabled);
}
#endif
