#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "posix_shims.h"

int sidecache_accept4(int fd, int flags) { return accept4(fd, NULL, NULL, flags); }

int sidecache_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

int sidecache_exclusive_listener(int fd) {
    int poller = epoll_create1(EPOLL_CLOEXEC);
    if (poller < 0) return -1;
    struct epoll_event event = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data = {.fd = fd}};
    if (epoll_ctl(poller, EPOLL_CTL_ADD, fd, &event) != 0) {
        close(poller);
        return -1;
    }
    return poller;
}

int sidecache_wait_exclusive(int poller) {
    struct epoll_event event;
    int result;
    do {
        result = epoll_wait(poller, &event, 1, -1);
    } while (result < 0 && errno == EINTR);
    return result;
}

int sidecache_wait_readable(int fd, long microseconds) {
    struct pollfd poller = {.fd = fd, .events = POLLIN, .revents = 0};
    struct timespec timeout = {.tv_sec = microseconds / 1000000, .tv_nsec = (microseconds % 1000000) * 1000};
    int result = ppoll(&poller, 1, &timeout, NULL);
    return result > 0 ? 1 : result;
}

long sidecache_peer_uid(int fd) {
    struct ucred credentials;
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    return (long)credentials.uid;
}

long sidecache_send_descriptor(int socket, const void *bytes, size_t length, int descriptor) {
    struct iovec vector = {.iov_base = (void *)bytes, .iov_len = length};
    union {
        struct cmsghdr header;
        char space[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr message = {0};
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    message.msg_control = control.space;
    message.msg_controllen = CMSG_LEN(sizeof(int));
    struct cmsghdr *header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(header), &descriptor, sizeof(int));
    return (long)sendmsg(socket, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void sidecache_store_release_u8(void *address, uint8_t value) {
    atomic_store_explicit((_Atomic uint8_t *)address, value, memory_order_release);
}
void sidecache_store_release_u32(void *address, uint32_t value) {
    atomic_store_explicit((_Atomic uint32_t *)address, value, memory_order_release);
}
void sidecache_store_release_u64(void *address, uint64_t value) {
    atomic_store_explicit((_Atomic uint64_t *)address, value, memory_order_release);
}
void sidecache_store_relaxed_u32(void *address, uint32_t value) {
    atomic_store_explicit((_Atomic uint32_t *)address, value, memory_order_relaxed);
}
void sidecache_store_relaxed_u64(void *address, uint64_t value) {
    atomic_store_explicit((_Atomic uint64_t *)address, value, memory_order_relaxed);
}
uint32_t sidecache_load_acquire_u32(const void *address) {
    return atomic_load_explicit((_Atomic const uint32_t *)address, memory_order_acquire);
}
void sidecache_fence(void) { atomic_thread_fence(memory_order_seq_cst); }

int sidecache_spawn(const char *path, char *const argv[], char *const envp[], int stdin_fd, int out_fd, int *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int error = posix_spawn_file_actions_init(&actions);
    if (error != 0) return error;
    error = posix_spawnattr_init(&attributes);
    if (error != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return error;
    }
    sigset_t empty, defaults;
    sigemptyset(&empty);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGHUP);
    sigaddset(&defaults, SIGPIPE);
    if (error == 0) error = posix_spawn_file_actions_adddup2(&actions, stdin_fd, 0);
    if (error == 0) error = posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    if (error == 0) error = posix_spawn_file_actions_adddup2(&actions, out_fd, 2);
    if (error == 0) error = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (error == 0) error = posix_spawnattr_setsigmask(&attributes, &empty);
    if (error == 0) error = posix_spawnattr_setsigdefault(&attributes, &defaults);
    if (error == 0) error = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t child = 0;
    if (error == 0) error = posix_spawn(&child, path, &actions, &attributes, argv, envp);
    if (error == 0) *pid = (int)child;
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return error;
}
