#ifndef SIDECACHE_POSIX_SHIMS_H
#define SIDECACHE_POSIX_SHIMS_H
// Declarations only: the definitions need _GNU_SOURCE, which must not leak into Swift's view of the C library.
#include <stddef.h>
#include <stdint.h>

/// accept4(2) without the peer address: a GNU extension Swift's Glibc module does not export.
int sidecache_accept4(int fd, int flags);

/// pipe2(2), likewise.
int sidecache_pipe2(int fds[2], int flags);

/// An epoll instance watching listening socket `fd` with EPOLLEXCLUSIVE, or -1 with errno. A connection wakes a thread
/// waiting on it only if that thread is idle in `sidecache_wait_exclusive`; otherwise the kernel goes on to the next
/// waiter of `fd` (a thread blocked in accept4), so the thread that has it is preferred while it keeps up.
int sidecache_exclusive_listener(int fd);
/// epoll_wait for one event on `poller`, no timeout (EINTR retried). Returns what epoll_wait returns.
int sidecache_wait_exclusive(int poller);

/// Waits up to `microseconds` for `fd` to become readable (ppoll(2): poll(2) counts in milliseconds). Returns 1 when
/// readable, 0 on timeout, -1 with errno.
int sidecache_wait_readable(int fd, long microseconds);

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
/// A batch of datagram slots for recvmmsg(2)/sendmmsg(2) (struct mmsghdr needs _GNU_SOURCE): the DNS door's UDP
/// threads receive up to `slots` datagrams per system call and send the replies with one more.
typedef struct sidecache_datagram_batch sidecache_datagram_batch;
/// NULL when out of memory or given a zero size.
sidecache_datagram_batch *sidecache_datagram_batch_create(int slots, size_t receive_size, size_t send_size);
void sidecache_datagram_batch_destroy(sidecache_datagram_batch *batch);
/// recvmmsg with MSG_WAITFORONE into every slot (clearing the replies): blocks for the first datagram, then takes
/// what is queued. Returns the number received, or -1 with errno. After shutdown(SHUT_RD) it returns at once with
/// one empty datagram (no source address).
int sidecache_datagram_batch_receive(sidecache_datagram_batch *batch, int fd);
/// Datagram `index` of the last receive: its octets, its length, and whether it was longer than a slot.
const uint8_t *sidecache_datagram_batch_datagram(
    const sidecache_datagram_batch *batch, int index, size_t *length, int *truncated);
/// The source address of datagram `index` (a struct sockaddr of `*length` octets).
const void *sidecache_datagram_batch_source(const sidecache_datagram_batch *batch, int index, uint32_t *length);
/// Where the reply to datagram `index` is written (reply_capacity octets).
uint8_t *sidecache_datagram_batch_reply_buffer(sidecache_datagram_batch *batch, int index);
size_t sidecache_datagram_batch_reply_capacity(const sidecache_datagram_batch *batch);
/// Marks the reply to datagram `index` as `length` octets of its reply buffer (0: no reply).
void sidecache_datagram_batch_set_reply(sidecache_datagram_batch *batch, int index, size_t length);
/// Sends every marked reply to its datagram's source with sendmmsg (MSG_DONTWAIT: a full send buffer drops a reply,
/// never blocks the thread). Returns the number sent; `*failed` gets the number dropped.
int sidecache_datagram_batch_send(sidecache_datagram_batch *batch, int fd, int *failed);
/// One sendto(2) (MSG_DONTWAIT | MSG_NOSIGNAL) to a struct sockaddr of `address_length` octets.
long sidecache_send_datagram(int fd, const void *bytes, size_t length, const void *address, uint32_t address_length);
#endif
