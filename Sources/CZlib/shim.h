#include <zlib.h>

/// deflateInit2 is a macro: this gives Swift a function to call (gzip framing: windowBits 15 + 16).
static inline int czlib_gzip_init(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
