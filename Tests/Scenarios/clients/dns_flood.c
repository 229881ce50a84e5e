/*
 * dns_flood: a UDP flood from ONE source socket (one fixed source port), as fast as it can, bounded in count and time.
 *
 *   gcc -O2 -Wall -o dns_flood dns_flood.c
 *   dns_flood SERVER SOURCE_PORT MAX_DATAGRAMS MAX_MS HIT_NAMES MISS_ZONE OTHER_ZONE [READY_FILE]
 *
 *   SERVER        IPv4 or IPv6 address; port 53
 *   SOURCE_PORT   the one source port every datagram comes from (bound before the first send)
 *   MAX_DATAGRAMS stop after this many datagrams ...
 *   MAX_MS        ... or after this many milliseconds, whichever comes first
 *   HIT_NAMES     comma-separated names the server has cached (asked as type A)
 *   MISS_ZONE     a zone the upstream serves: r<random>.MISS_ZONE is never cached (NXDOMAIN upstream)
 *   OTHER_ZONE    a zone the upstream does not serve: r<random>.OTHER_ZONE (REFUSED upstream)
 *   READY_FILE    if given, created (empty) once the socket is bound, just before the first datagram
 *
 * The datagrams cycle through 8 slots (so each kind gets a fixed share, 1/8 or 3/8):
 *   0  short    0..11 random bytes (no complete header)                 -> must not be answered (or FORMERR)
 *   1  response 12..100 random bytes with QR=1                          -> must never be answered
 *   2  malformed a query header (QR=0, opcode 0) whose question cannot be read: QDCOUNT 0, QDCOUNT 2..9 with random
 *               bytes after the header, or QDCOUNT 1 with a label longer than the datagram -> FORMERR or nothing
 *   3-5 hit     a valid A query for one of HIT_NAMES (with RD)
 *   6  miss     a valid A query for r<random>.MISS_ZONE
 *   7  other    a valid A query for r<random>.OTHER_ZONE
 * The top 3 bits of each DNS ID carry the kind (the first two bytes of a short datagram too), so every reply can be
 * told apart. Sends in batches with sendmmsg; between batches, reads whatever replies have arrived (non-blocking),
 * and for 300 ms after the last datagram.
 *
 * Prints one line:
 *   sent=N ms=T rate=R send_errors=E short_sent=N response_sent=N malformed_sent=N hit_sent=N miss_sent=N
 *   other_sent=N replies=N short_replies=N short_formerr=N response_replies=N malformed_replies=N
 *   malformed_formerr=N hit_replies=N hit_noerror=N miss_replies=N miss_nxdomain=N other_replies=N
 *   servfail=N refused=N unknown_replies=N
 * rate is datagrams per second handed to the kernel. Exit 0 unless the socket could not be set up (2: usage).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
#define MAXLEN 300

enum { K_SHORT, K_RESPONSE, K_MALFORMED, K_HIT, K_MISS, K_OTHER, K_UNKNOWN, K_COUNT };

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* xorshift64*: fast, good enough for garbage and names. */
static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }

/* Encodes NAME (dotted, no trailing dot needed) at p; returns its length, or 0 if it does not fit a name. */
static size_t encode_name(uint8_t *p, const char *name) {
    size_t n = 0;
    const char *s = name;
    while (*s) {
        const char *dot = strchr(s, '.');
        size_t len = dot ? (size_t)(dot - s) : strlen(s);
        if (len == 0 || len > 63 || n + len + 2 > 255) return 0;
        p[n++] = (uint8_t)len;
        memcpy(p + n, s, len);
        n += len;
        s += len;
        if (*s == '.') s++;
    }
    p[n++] = 0;
    return n;
}

static uint16_t tagged_id(int kind) { return (uint16_t)((kind << 13) | (rnd() & 0x1fff)); }

/* A query for NAME, type A, class IN, RD, no EDNS. */
static size_t make_query(uint8_t *b, int kind, const char *name) {
    put16(b, tagged_id(kind));
    put16(b + 2, 0x0100);
    put16(b + 4, 1);
    put16(b + 6, 0);
    put16(b + 8, 0);
    put16(b + 10, 0);
    size_t n = encode_name(b + 12, name);
    if (n == 0) return 0;
    put16(b + 12 + n, 1);
    put16(b + 14 + n, 1);
    return 16 + n;
}

static void random_bytes(uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)rnd();
}

static char **hits;
static int hit_count;
static const char *miss_zone, *other_zone;

static uint64_t sent_kind[K_COUNT];

static size_t make_datagram(uint8_t *b, uint64_t seq) {
    char name[300];
    size_t len;
    switch (seq % 8) {
    case 0: /* short: 0..11 bytes; the ID bytes (when there are two) carry the kind */
        len = rnd() % 12;
        random_bytes(b, len);
        if (len >= 2) put16(b, tagged_id(K_SHORT));
        else if (len == 1) b[0] &= 0x1f;
        return len;
    case 1: /* a response: QR set */
        len = 12 + rnd() % 89;
        random_bytes(b, len);
        put16(b, tagged_id(K_RESPONSE));
        b[2] |= 0x80;
        return len;
    case 2: { /* a query whose question cannot be read */
        len = 12 + rnd() % 60;
        random_bytes(b, len);
        put16(b, tagged_id(K_MALFORMED));
        b[2] &= 0x07; /* QR=0, opcode QUERY; AA, TC, RD random */
        put16(b + 6, 0);
        put16(b + 8, 0);
        put16(b + 10, 0);
        switch (rnd() % 3) {
        case 0: put16(b + 4, 0); break;                                   /* no question */
        case 1: put16(b + 4, 2 + rnd() % 8); break;                       /* several questions */
        default:                                                           /* a label past the end */
            put16(b + 4, 1);
            if (len < 13) len = 13;
            b[12] = 63;
            if (len > 12 + 63) len = 12 + 63;
            break;
        }
        return len;
    }
    case 6:
        snprintf(name, sizeof name, "r%llu.%s", (unsigned long long)(rnd() % 1000000000000ull), miss_zone);
        return make_query(b, K_MISS, name);
    case 7:
        snprintf(name, sizeof name, "r%llu.%s", (unsigned long long)(rnd() % 1000000000000ull), other_zone);
        return make_query(b, K_OTHER, name);
    default:
        return make_query(b, K_HIT, hits[rnd() % hit_count]);
    }
}

static uint64_t replies[K_COUNT], malformed_formerr, short_formerr, hit_noerror, miss_nxdomain, servfail, refused;

static void count_reply(const uint8_t *b, ssize_t n) {
    if (n < 4) { replies[K_UNKNOWN]++; return; }
    int kind = b[0] >> 5;
    int rcode = b[3] & 0x0f;
    if (kind >= K_UNKNOWN || !(b[2] & 0x80)) kind = K_UNKNOWN;
    replies[kind]++;
    if (rcode == 2) servfail++;
    if (rcode == 5) refused++;
    if (kind == K_MALFORMED && rcode == 1) malformed_formerr++;
    if (kind == K_SHORT && rcode == 1) short_formerr++;
    if (kind == K_HIT && rcode == 0) hit_noerror++;
    if (kind == K_MISS && rcode == 3) miss_nxdomain++;
}

static void drain(int fd) {
    static uint8_t bufs[BATCH][600];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = sizeof bufs[i];
            memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int got = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
        if (got <= 0) return;
        for (int i = 0; i < got; i++) count_reply(bufs[i], msgs[i].msg_len);
        if (got < BATCH) return;
    }
}

int main(int argc, char **argv) {
    if (argc != 8 && argc != 9) {
        fprintf(stderr, "usage: dns_flood SERVER SOURCE_PORT MAX_DATAGRAMS MAX_MS HIT_NAMES MISS_ZONE OTHER_ZONE [READY_FILE]\n");
        return 2;
    }
    struct sockaddr_storage server = {0}, source = {0};
    socklen_t server_len;
    int family;
    int port = atoi(argv[2]);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&server;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&server;
    if (inet_pton(AF_INET, argv[1], &s4->sin_addr) == 1) {
        family = AF_INET;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(53);
        server_len = sizeof *s4;
        ((struct sockaddr_in *)&source)->sin_family = AF_INET;
        ((struct sockaddr_in *)&source)->sin_port = htons(port);
    } else if (inet_pton(AF_INET6, argv[1], &s6->sin6_addr) == 1) {
        family = AF_INET6;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(53);
        server_len = sizeof *s6;
        ((struct sockaddr_in6 *)&source)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)&source)->sin6_port = htons(port);
    } else {
        fprintf(stderr, "dns_flood: bad server address %s\n", argv[1]);
        return 2;
    }
    uint64_t max_count = strtoull(argv[3], NULL, 10);
    int64_t max_ms = atoll(argv[4]);
    if (port <= 0 || port > 65535 || max_count == 0 || max_count > 100000000 || max_ms <= 0 || max_ms > 600000) {
        fprintf(stderr, "dns_flood: bad port, count or time\n");
        return 2;
    }
    char *list = strdup(argv[5]);
    hits = calloc(strlen(list) + 1, sizeof *hits);
    for (char *save = NULL, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) hits[hit_count++] = t;
    miss_zone = argv[6];
    other_zone = argv[7];
    if (hit_count == 0) { fprintf(stderr, "dns_flood: no hit names\n"); return 2; }
    rng_state ^= (uint64_t)getpid() << 32 ^ (uint64_t)now_ms();

    int fd = socket(family, SOCK_DGRAM, 0);
    if (fd < 0) { perror("socket"); return 1; }
    if (bind(fd, (struct sockaddr *)&source, server_len) != 0) { perror("bind"); return 1; }
    if (connect(fd, (struct sockaddr *)&server, server_len) != 0) { perror("connect"); return 1; }
    /* Room for the replies between two reads (SO_RCVBUFFORCE: root may pass net.core.rmem_max). */
    int size = 4 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (argc == 9) {
        int ready = open(argv[8], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (ready >= 0) close(ready);
    }

    static uint8_t bufs[BATCH][MAXLEN];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    int kinds[BATCH];
    uint64_t sent = 0, seq = 0, send_errors = 0;
    int64_t start = now_ms(), end = start + max_ms, t = start;
    while (sent < max_count && t < end) {
        int n = 0;
        while (n < BATCH && sent + n < max_count) {
            int slot = seq % 8;
            size_t len = make_datagram(bufs[n], seq++);
            if (len == 0 && slot != 0) continue; /* an unencodable name: skip (a 0-byte short datagram is fine) */
            kinds[n] = slot == 0 ? K_SHORT : slot == 1 ? K_RESPONSE : slot == 2 ? K_MALFORMED
                     : slot == 6 ? K_MISS : slot == 7 ? K_OTHER : K_HIT;
            iov[n].iov_base = bufs[n];
            iov[n].iov_len = len;
            memset(&msgs[n].msg_hdr, 0, sizeof msgs[n].msg_hdr);
            msgs[n].msg_hdr.msg_iov = &iov[n];
            msgs[n].msg_hdr.msg_iovlen = 1;
            n++;
        }
        int done = sendmmsg(fd, msgs, n, 0);
        if (done < 0) {
            /* ECONNREFUSED: an ICMP port unreachable from an earlier datagram (nobody listening for a moment). */
            send_errors++;
            if (errno != ECONNREFUSED && errno != EAGAIN && errno != ENOBUFS && errno != EINTR) {
                perror("sendmmsg");
                break;
            }
        } else {
            sent += done;
            for (int i = 0; i < done; i++) sent_kind[kinds[i]]++;
        }
        drain(fd);
        t = now_ms();
    }
    int64_t elapsed = now_ms() - start;
    for (int64_t until = now_ms() + 300; now_ms() < until;) {
        drain(fd);
        struct timespec pause = {0, 2000000};
        nanosleep(&pause, NULL);
    }
    uint64_t total = 0;
    for (int k = 0; k < K_COUNT; k++) total += replies[k];
    printf("sent=%llu ms=%lld rate=%.0f send_errors=%llu short_sent=%llu response_sent=%llu malformed_sent=%llu "
           "hit_sent=%llu miss_sent=%llu other_sent=%llu replies=%llu short_replies=%llu short_formerr=%llu "
           "response_replies=%llu malformed_replies=%llu malformed_formerr=%llu hit_replies=%llu hit_noerror=%llu "
           "miss_replies=%llu miss_nxdomain=%llu other_replies=%llu servfail=%llu refused=%llu unknown_replies=%llu\n",
           (unsigned long long)sent, (long long)elapsed, elapsed > 0 ? sent * 1000.0 / elapsed : 0.0,
           (unsigned long long)send_errors, (unsigned long long)sent_kind[K_SHORT],
           (unsigned long long)sent_kind[K_RESPONSE], (unsigned long long)sent_kind[K_MALFORMED],
           (unsigned long long)sent_kind[K_HIT], (unsigned long long)sent_kind[K_MISS],
           (unsigned long long)sent_kind[K_OTHER], (unsigned long long)total, (unsigned long long)replies[K_SHORT],
           (unsigned long long)short_formerr, (unsigned long long)replies[K_RESPONSE],
           (unsigned long long)replies[K_MALFORMED], (unsigned long long)malformed_formerr,
           (unsigned long long)replies[K_HIT], (unsigned long long)hit_noerror, (unsigned long long)replies[K_MISS],
           (unsigned long long)miss_nxdomain, (unsigned long long)replies[K_OTHER], (unsigned long long)servfail,
           (unsigned long long)refused, (unsigned long long)replies[K_UNKNOWN]);
    return 0;
}
