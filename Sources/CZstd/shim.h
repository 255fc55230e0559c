#include <dlfcn.h>
#include <stddef.h>
#include <zstd.h>

/// libzstd's streaming compression, found at run time (dlopen) rather than linked: only `redeye image build`
/// compresses, so the agent an image carries does not need libzstd and the image does not hold it.
struct czstd_library {
    void *handle;
    ZSTD_CCtx *(*createCCtx)(void);
    size_t (*freeCCtx)(ZSTD_CCtx *);
    size_t (*setParameter)(ZSTD_CCtx *, ZSTD_cParameter, int);
    size_t (*compressStream2)(ZSTD_CCtx *, ZSTD_outBuffer *, ZSTD_inBuffer *, ZSTD_EndDirective);
    unsigned (*isError)(size_t);
    const char *(*getErrorName)(size_t);
};

/// Fills `library` from libzstd.so.1: NULL on success, else dlerror()'s message (copy it, then czstd_close).
static inline const char *czstd_open(struct czstd_library *library) {
    library->handle = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library->handle == NULL) return dlerror();
    library->createCCtx = (ZSTD_CCtx * (*)(void)) dlsym(library->handle, "ZSTD_createCCtx");
    library->freeCCtx = (size_t(*)(ZSTD_CCtx *))dlsym(library->handle, "ZSTD_freeCCtx");
    library->setParameter = (size_t(*)(ZSTD_CCtx *, ZSTD_cParameter, int))dlsym(library->handle, "ZSTD_CCtx_setParameter");
    library->compressStream2 = (size_t(*)(ZSTD_CCtx *, ZSTD_outBuffer *, ZSTD_inBuffer *, ZSTD_EndDirective))dlsym(
        library->handle, "ZSTD_compressStream2");
    library->isError = (unsigned (*)(size_t))dlsym(library->handle, "ZSTD_isError");
    library->getErrorName = (const char *(*)(size_t))dlsym(library->handle, "ZSTD_getErrorName");
    if (!library->createCCtx || !library->freeCCtx || !library->setParameter || !library->compressStream2 ||
        !library->isError || !library->getErrorName) {
        return "libzstd.so.1 lacks the streaming compression calls (libzstd 1.4 or later is needed)";
    }
    return NULL;
}

static inline void czstd_close(struct czstd_library *library) {
    if (library->handle) dlclose(library->handle);
    library->handle = NULL;
}
