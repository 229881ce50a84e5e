#ifndef SIDECACHE_POSIX_SHIMS_H
#define SIDECACHE_POSIX_SHIMS_H
// Declarations only: the definitions need _GNU_SOURCE, which must not leak into Swift's view of the C library.

/// accept4(2) without the peer address: a GNU extension Swift's Glibc module does not export.
int sidecache_accept4(int fd, int flags);

/// pipe2(2), likewise.
int sidecache_pipe2(int fds[2], int flags);

/// The peer's uid from SO_PEERCRED (struct ucred needs _GNU_SOURCE); -1 on error.
long sidecache_peer_uid(int fd);
#endif
