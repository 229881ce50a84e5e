/*
 * dns_good_client: a well-behaved UDP client that asks one name at a fixed rate and checks every answer, to see how
 * a server treats it while someone else misbehaves.
 *
 *   gcc -O2 -Wall -o dns_good_client dns_good_client.c
 *   dns_good_client SERVER NAME EXPECTED_A COUNT INTERVAL_US TIMEOUT_MS [RETRY_MS [LATENCY_FILE]]
 *
 * One UDP socket of its own (an ephemeral source port), connected to SERVER:53. Query i (type A, class IN, RD, no
 * EDNS, an ID no other query of the run has) is sent at start + i * INTERVAL_US, whether or not earlier ones were
 * answered (open loop, as independent clients would). With RETRY_MS > 0 an unanswered query is sent again (same ID)
 * every RETRY_MS, as a stub resolver does; it counts as lost when TIMEOUT_MS have passed since its first send.
 * A reply is ok when its ID is one we sent, QR is set, the opcode is QUERY, the RCODE is NOERROR, the question is
 * exactly one, NAME (case-insensitive) type A class IN, and the answer section holds an A record EXPECTED_A.
 * Latency: from the first send of a query to its first reply.
 *
 * Prints one line:
 *   sent=N ok=N bad=N lost=N resent=N stray=N duplicate=N p50_us=N p90_us=N p99_us=N max_us=N ms=T first_bad=WHY
 * (percentiles over ok answers; "none" when there are none). bad: a reply with one of our IDs that is not ok (the
 * query then counts as answered, wrongly); stray: a reply with an ID we never sent; duplicate: a second reply to an
 * answered query (expected when a resent query's first copy was only slow). LATENCY_FILE gets one latency in
 * microseconds a line for every ok query. Bounded: stops TIMEOUT_MS after the last first send.
 * Exit 0 when the run completed (the figures are in the output), 2 on usage errors, 1 if the socket failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Skips a (possibly compressed) name at off; returns the offset after it, or -1. */
static int skip_name(const uint8_t *b, int n, int off) {
    for (int guard = 0; guard < 128; guard++) {
        if (off >= n) return -1;
        uint8_t len = b[off];
        if (len == 0) return off + 1;
        if ((len & 0xc0) == 0xc0) return off + 2 <= n ? off + 2 : -1;
        if (len & 0xc0) return -1;
        off += 1 + len;
    }
    return -1;
}

static uint8_t qname[256];
static int qname_len;
static uint8_t expected[4];

/* NULL when the reply answers our query correctly, else why not. */
static const char *check_reply(const uint8_t *b, int n) {
    if (n < 12) return "short";
    if (!(b[2] & 0x80)) return "qr-not-set";
    if ((b[2] >> 3 & 0x0f) != 0) return "opcode";
    if ((b[3] & 0x0f) != 0) {
        static char why[32];
        snprintf(why, sizeof why, "rcode-%d", b[3] & 0x0f);
        return why;
    }
    if (get16(b + 4) != 1) return "qdcount";
    int off = 12;
    if (off + qname_len + 4 > n) return "question-truncated";
    for (int i = 0; i < qname_len; i++) {
        if (tolower(b[off + i]) != tolower(qname[i])) return "question-name";
    }
    off += qname_len;
    if (get16(b + off) != 1 || get16(b + off + 2) != 1) return "question-type-class";
    off += 4;
    int ancount = get16(b + 6);
    for (int i = 0; i < ancount; i++) {
        off = skip_name(b, n, off);
        if (off < 0 || off + 10 > n) return "answer-truncated";
        uint16_t type = get16(b + off), class = get16(b + off + 2), rdlen = get16(b + off + 8);
        off += 10;
        if (off + rdlen > n) return "answer-truncated";
        if (type == 1 && class == 1 && rdlen == 4 && memcmp(b + off, expected, 4) == 0) return NULL;
        off += rdlen;
    }
    return "no-expected-address";
}

int main(int argc, char **argv) {
    if (argc < 7 || argc > 9) {
        fprintf(stderr, "usage: dns_good_client SERVER NAME EXPECTED_A COUNT INTERVAL_US TIMEOUT_MS [RETRY_MS [LATENCY_FILE]]\n");
        return 2;
    }
    struct sockaddr_storage server = {0};
    socklen_t server_len;
    int family;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&server;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&server;
    if (inet_pton(AF_INET, argv[1], &s4->sin_addr) == 1) {
        family = AF_INET, s4->sin_family = AF_INET, s4->sin_port = htons(53), server_len = sizeof *s4;
    } else if (inet_pton(AF_INET6, argv[1], &s6->sin6_addr) == 1) {
        family = AF_INET6, s6->sin6_family = AF_INET6, s6->sin6_port = htons(53), server_len = sizeof *s6;
    } else {
        fprintf(stderr, "dns_good_client: bad server %s\n", argv[1]);
        return 2;
    }
    /* NAME as wire labels. */
    const char *s = argv[2];
    while (*s) {
        const char *dot = strchr(s, '.');
        int len = dot ? (int)(dot - s) : (int)strlen(s);
        if (len == 0 || len > 63 || qname_len + len + 2 > 255) { fprintf(stderr, "bad name\n"); return 2; }
        qname[qname_len++] = (uint8_t)len;
        memcpy(qname + qname_len, s, len);
        qname_len += len;
        s += len;
        if (*s == '.') s++;
    }
    qname[qname_len++] = 0;
    if (inet_pton(AF_INET, argv[3], expected) != 1) { fprintf(stderr, "bad expected address\n"); return 2; }
    int count = atoi(argv[4]);
    int64_t interval = atoll(argv[5]), timeout = atoll(argv[6]) * 1000;
    int64_t retry = argc > 7 ? atoll(argv[7]) * 1000 : 0;
    const char *latency_file = argc > 8 ? argv[8] : NULL;
    if (count <= 0 || count > 60000 || interval < 0 || interval > 10000000 || timeout <= 0 || timeout > 60000000 ||
        retry < 0) {
        fprintf(stderr, "dns_good_client: bad count, interval or timeout\n");
        return 2;
    }

    int fd = socket(family, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&server, server_len) != 0) { perror("socket"); return 1; }

    /* IDs: a fixed odd step from a random base visits every 16-bit value once, so no two queries share one. */
    srand((unsigned)(getpid() ^ now_us()));
    uint16_t id_base = (uint16_t)rand();
    int64_t *first_send = calloc(count, sizeof *first_send), *last_send = calloc(count, sizeof *last_send);
    int64_t *latency = calloc(count, sizeof *latency);
    int8_t *state = calloc(count, 1); /* 0 not sent, 1 waiting, 2 ok, 3 bad, 4 lost */
    uint8_t query[300];
    put16(query + 2, 0x0100);
    put16(query + 4, 1);
    put16(query + 6, 0);
    put16(query + 8, 0);
    put16(query + 10, 0);
    memcpy(query + 12, qname, qname_len);
    put16(query + 12 + qname_len, 1);
    put16(query + 14 + qname_len, 1);
    int query_len = 16 + qname_len;
    int sent = 0, ok = 0, bad = 0, lost = 0, resent = 0, stray = 0, duplicate = 0, waiting = 0;
    char first_bad[64] = "none";

    int64_t start = now_us();
    int next = 0, oldest = 0;
    for (;;) {
        int64_t t = now_us();
        /* First sends due now. */
        while (next < count && start + next * interval <= t) {
            put16(query, (uint16_t)(id_base + next * 40503u));
            if (send(fd, query, query_len, 0) < 0 && errno != ECONNREFUSED) { perror("send"); return 1; }
            first_send[next] = last_send[next] = now_us();
            state[next] = 1;
            waiting++, sent++, next++;
        }
        /* Timeouts and resends, from the oldest query still waiting. */
        while (oldest < next && state[oldest] != 1) oldest++;
        for (int i = oldest; i < next; i++) {
            if (state[i] != 1) continue;
            if (t - first_send[i] >= timeout) { state[i] = 4, waiting--, lost++; continue; }
            if (retry > 0 && t - last_send[i] >= retry) {
                put16(query, (uint16_t)(id_base + i * 40503u));
                send(fd, query, query_len, 0);
                last_send[i] = t;
                resent++;
            }
        }
        if (next == count && waiting == 0) break;
        /* Wait for a reply until the next first send, at most 1 ms (resends and timeouts need no finer clock). */
        int64_t wait = next < count ? start + next * interval - t : 1000;
        if (wait > 1000) wait = 1000;
        if (wait < 0) wait = 0;
        struct timespec pause = {0, (long)wait * 1000};
        struct pollfd p = {fd, POLLIN, 0};
        if (ppoll(&p, 1, &pause, NULL) <= 0) continue;
        uint8_t reply[4096];
        for (;;) {
            ssize_t n = recv(fd, reply, sizeof reply, MSG_DONTWAIT);
            if (n < 0) break;
            int64_t at = now_us();
            if (n < 2) { stray++; continue; }
            uint16_t index = (uint16_t)((get16(reply) - id_base) * 30599u); /* 40503 * 30599 = 1 mod 65536 */
            if (index >= next) { stray++; continue; }
            if (state[index] == 2 || state[index] == 3 || state[index] == 4) { duplicate++; continue; }
            const char *why = check_reply(reply, (int)n);
            waiting--;
            if (why) {
                state[index] = 3, bad++;
                if (bad == 1) snprintf(first_bad, sizeof first_bad, "%s", why);
            } else {
                state[index] = 2, ok++;
                latency[index] = at - first_send[index];
            }
        }
    }
    int64_t elapsed = now_us() - start;

    int64_t *sorted = malloc((ok ? ok : 1) * sizeof *sorted);
    int m = 0;
    FILE *lf = latency_file ? fopen(latency_file, "w") : NULL;
    for (int i = 0; i < count; i++) {
        if (state[i] != 2) continue;
        sorted[m++] = latency[i];
        if (lf) fprintf(lf, "%lld\n", (long long)latency[i]);
    }
    if (lf) fclose(lf);
    qsort(sorted, m, sizeof *sorted, cmp_i64);
    char p50[24] = "none", p90[24] = "none", p99[24] = "none", max[24] = "none";
    if (m > 0) {
        snprintf(p50, sizeof p50, "%lld", (long long)sorted[(m - 1) * 50 / 100]);
        snprintf(p90, sizeof p90, "%lld", (long long)sorted[(m - 1) * 90 / 100]);
        snprintf(p99, sizeof p99, "%lld", (long long)sorted[(m - 1) * 99 / 100]);
        snprintf(max, sizeof max, "%lld", (long long)sorted[m - 1]);
    }
    printf("sent=%d ok=%d bad=%d lost=%d resent=%d stray=%d duplicate=%d p50_us=%s p90_us=%s p99_us=%s max_us=%s "
           "ms=%lld first_bad=%s\n",
           sent, ok, bad, lost, resent, stray, duplicate, p50, p90, p99, max, (long long)(elapsed / 1000), first_bad);
    return 0;
}
