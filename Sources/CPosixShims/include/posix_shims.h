#ifndef SIDECACHE_POSIX_SHIMS_H
#define SIDECACHE_POSIX_SHIMS_H
// Declarations only: the definitions need _GNU_SOURCE, which must not leak into Swift's view of the C library.
#include <stddef.h>
#include <stdint.h>

/// accept4(2) without the peer address: a GNU extension Swift's Glibc module does not export.
int sidecache_accept4(int fd, int flags);

/// pipe2(2), likewise.
int sidecache_pipe2(int fds[2], int flags);

/// The peer's uid from SO_PEERCRED (struct ucred needs _GNU_SOURCE); -1 on error.
long sidecache_peer_uid(int fd);

/// One sendmsg(2) of `length` octets with exactly one descriptor in one SCM_RIGHTS message (cmsg_len =
/// CMSG_LEN(sizeof(int)) = 20 on x86_64, what glibc's __nscd_get_mapping insists on). MSG_DONTWAIT | MSG_NOSIGNAL:
/// a client that never reads cannot block the caller. Returns what sendmsg returns.
long sidecache_send_descriptor(int socket, const void *bytes, size_t length, int descriptor);

// C11 atomics on memory shared with other processes (the nscd hosts map). Swift's Synchronization module has no
// atomic view of raw memory, so the writer stores through these.
void sidecache_store_release_u8(void *address, uint8_t value);
void sidecache_store_release_u32(void *address, uint32_t value);
void sidecache_store_release_u64(void *address, uint64_t value);
void sidecache_store_relaxed_u32(void *address, uint32_t value);
void sidecache_store_relaxed_u64(void *address, uint64_t value);
uint32_t sidecache_load_acquire_u32(const void *address);
/// A full (sequentially consistent) fence.
void sidecache_fence(void);
/// Starts `path` with `argv` and `envp` (NULL-terminated) by posix_spawn: standard input from `stdin_fd`, standard
/// output and error to `out_fd`, every other descriptor closed, the signal mask empty and TERM/INT/HUP/PIPE at
/// their defaults (whatever the parent blocks or ignores). Returns 0 and sets *pid, or an errno value. For tests.
int sidecache_spawn(const char *path, char *const argv[], char *const envp[], int stdin_fd, int out_fd, int *pid);
#endif
