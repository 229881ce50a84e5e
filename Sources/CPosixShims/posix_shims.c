#define _GNU_SOURCE
#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>
#include "posix_shims.h"

int sidecache_accept4(int fd, int flags) { return accept4(fd, NULL, NULL, flags); }

int sidecache_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

long sidecache_peer_uid(int fd) {
    struct ucred credentials;
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    return (long)credentials.uid;
}
