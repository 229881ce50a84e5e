// LD_PRELOAD allocation counter for bench/micro.sh: counts every malloc/calloc/realloc/aligned allocation and
// prints the total at exit. (valgrind cannot read Swift's debug information here.)
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static unsigned long allocations;

void *malloc(size_t size) { __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED); return __libc_realloc(p, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED);
    void *p = __libc_memalign(alignment, size);
    if (!p) return 12;
    *out = p;
    return 0;
}
void *aligned_alloc(size_t alignment, size_t size) { __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED); return __libc_memalign(alignment, size); }

__attribute__((destructor)) static void report(void) {
    char line[64];
    int n = snprintf(line, sizeof line, "allocations %lu\n", allocations);
    if (n > 0) write(2, line, (size_t)n);
}
