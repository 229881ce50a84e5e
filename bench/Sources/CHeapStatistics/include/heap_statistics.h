#ifndef SIDECACHE_HEAP_STATISTICS_H
#define SIDECACHE_HEAP_STATISTICS_H
#include <malloc.h>
#include <stddef.h>

/// Bytes the allocator has handed out and not had back (glibc mallinfo2().uordblks + hblkhd).
static inline size_t sidecache_heap_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}
#endif
