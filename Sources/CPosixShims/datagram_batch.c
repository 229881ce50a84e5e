#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include "posix_shims.h"

// One slot per datagram: its receive buffer, its source address, and the reply that goes back to that address.
// recvmmsg and sendmmsg need their vectors as arrays of struct mmsghdr, which Swift cannot spell (_GNU_SOURCE).
struct sidecache_datagram_batch {
    int slots;
    size_t receive_size;
    size_t send_size;
    int received;
    struct mmsghdr *incoming;
    struct iovec *incoming_vectors;
    struct sockaddr_storage *sources;
    struct mmsghdr *outgoing;
    struct iovec *outgoing_vectors;
    size_t *reply_lengths;
    uint8_t *receive_buffers;
    uint8_t *send_buffers;
};

void sidecache_datagram_batch_destroy(sidecache_datagram_batch *batch) {
    if (batch == NULL) return;
    free(batch->incoming);
    free(batch->incoming_vectors);
    free(batch->sources);
    free(batch->outgoing);
    free(batch->outgoing_vectors);
    free(batch->reply_lengths);
    free(batch->receive_buffers);
    free(batch->send_buffers);
    free(batch);
}

sidecache_datagram_batch *sidecache_datagram_batch_create(int slots, size_t receive_size, size_t send_size) {
    if (slots < 1 || receive_size < 1 || send_size < 1) return NULL;
    sidecache_datagram_batch *batch = calloc(1, sizeof(*batch));
    if (batch == NULL) return NULL;
    batch->slots = slots;
    batch->receive_size = receive_size;
    batch->send_size = send_size;
    batch->incoming = calloc((size_t)slots, sizeof(struct mmsghdr));
    batch->incoming_vectors = calloc((size_t)slots, sizeof(struct iovec));
    batch->sources = calloc((size_t)slots, sizeof(struct sockaddr_storage));
    batch->outgoing = calloc((size_t)slots, sizeof(struct mmsghdr));
    batch->outgoing_vectors = calloc((size_t)slots, sizeof(struct iovec));
    batch->reply_lengths = calloc((size_t)slots, sizeof(size_t));
    // malloc, not calloc: pages are touched only as datagrams fill them, so idle slots cost no resident memory.
    batch->receive_buffers = malloc((size_t)slots * receive_size);
    batch->send_buffers = malloc((size_t)slots * send_size);
    if (!batch->incoming || !batch->incoming_vectors || !batch->sources || !batch->outgoing ||
        !batch->outgoing_vectors || !batch->reply_lengths || !batch->receive_buffers || !batch->send_buffers) {
        sidecache_datagram_batch_destroy(batch);
        return NULL;
    }
    return batch;
}

int sidecache_datagram_batch_receive(sidecache_datagram_batch *batch, int fd) {
    for (int i = 0; i < batch->slots; i++) {
        batch->incoming_vectors[i].iov_base = batch->receive_buffers + (size_t)i * batch->receive_size;
        batch->incoming_vectors[i].iov_len = batch->receive_size;
        struct msghdr *header = &batch->incoming[i].msg_hdr;
        header->msg_name = &batch->sources[i];
        header->msg_namelen = sizeof(struct sockaddr_storage);
        header->msg_iov = &batch->incoming_vectors[i];
        header->msg_iovlen = 1;
        header->msg_control = NULL;
        header->msg_controllen = 0;
        header->msg_flags = 0;
        batch->incoming[i].msg_len = 0;
        batch->reply_lengths[i] = 0;
    }
    batch->received = 0;
    // Blocks for the first datagram only, then takes what is already queued (MSG_WAITFORONE).
    int count = recvmmsg(fd, batch->incoming, (unsigned int)batch->slots, MSG_WAITFORONE, NULL);
    if (count > 0) batch->received = count;
    return count;
}

const uint8_t *sidecache_datagram_batch_datagram(
    const sidecache_datagram_batch *batch, int index, size_t *length, int *truncated) {
    const struct mmsghdr *message = &batch->incoming[index];
    *length = message->msg_len;
    *truncated = (message->msg_hdr.msg_flags & MSG_TRUNC) != 0;
    return batch->receive_buffers + (size_t)index * batch->receive_size;
}

const void *sidecache_datagram_batch_source(const sidecache_datagram_batch *batch, int index, uint32_t *length) {
    *length = batch->incoming[index].msg_hdr.msg_namelen;
    return &batch->sources[index];
}

uint8_t *sidecache_datagram_batch_reply_buffer(sidecache_datagram_batch *batch, int index) {
    return batch->send_buffers + (size_t)index * batch->send_size;
}

size_t sidecache_datagram_batch_reply_capacity(const sidecache_datagram_batch *batch) { return batch->send_size; }

void sidecache_datagram_batch_set_reply(sidecache_datagram_batch *batch, int index, size_t length) {
    batch->reply_lengths[index] = length <= batch->send_size ? length : 0;
}

int sidecache_datagram_batch_send(sidecache_datagram_batch *batch, int fd, int *failed) {
    int count = 0;
    for (int i = 0; i < batch->received; i++) {
        if (batch->reply_lengths[i] == 0 || batch->incoming[i].msg_hdr.msg_namelen == 0) continue;
        batch->outgoing_vectors[count].iov_base = batch->send_buffers + (size_t)i * batch->send_size;
        batch->outgoing_vectors[count].iov_len = batch->reply_lengths[i];
        struct msghdr *header = &batch->outgoing[count].msg_hdr;
        memset(header, 0, sizeof(*header));
        header->msg_name = &batch->sources[i];
        header->msg_namelen = batch->incoming[i].msg_hdr.msg_namelen;
        header->msg_iov = &batch->outgoing_vectors[count];
        header->msg_iovlen = 1;
        count++;
    }
    int sent = 0;
    *failed = 0;
    while (sent < count) {
        int result = sendmmsg(fd, batch->outgoing + sent, (unsigned int)(count - sent), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (result > 0) {
            sent += result;
        } else if (result < 0 && errno == EINTR) {
            continue;
        } else {
            // This reply cannot go (the socket's send buffer is full, or the address is unusable): skip it, the
            // client retries; the others still go.
            sent++;
            (*failed)++;
        }
    }
    return count - *failed;
}

long sidecache_send_datagram(int fd, const void *bytes, size_t length, const void *address, uint32_t address_length) {
    long result;
    do {
        result = (long)sendto(fd, bytes, length, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)address,
            (socklen_t)address_length);
    } while (result < 0 && errno == EINTR);
    return result;
}
