/* probe: the small timed lookups of bench/run.sh (first-address share, staleness after expiry, time to ready).
 *
 *   gcc -O2 -Wall -o probe probe.c
 *   probe first KIND NAME COUNT [INTERVAL_US]
 *       COUNT lookups of NAME, INTERVAL_US apart (default 0); counts which IPv4 address came first in each answer.
 *       (A server may change the order on a timer rather than per answer: sidecache's shared map does every 100 ms,
 *       so lookups spread over seconds, as an application's are, see its rotation and a tight loop does not.) Prints
 *       "lookups=N errors=E distinct=D top_share=PERCENT dist=ADDR:N,ADDR:N,..."
 *   probe once KIND NAME
 *       One lookup. Prints "t0=NS result=ADDRS": t0 is CLOCK_REALTIME just before the lookup, ADDRS the sorted IPv4
 *       set ("a,b"), or "ERR".
 *   probe poll KIND NAME OLD NEW T0_NS TTL_MS BOUND_MS
 *       Looks NAME up every 2 ms until the answer is NEW, or until T0 + TTL_MS + BOUND_MS. Prints
 *       "polls=N errors=E other=O last_old_ms=MS first_new_ms=MS staleness_ms=MS" with times relative to T0
 *       (reply received); first_new_ms and staleness_ms are "none" when NEW was not seen. staleness_ms is
 *       first_new_ms - TTL_MS: the time from the end of the TTL until the new answer was seen (negative when a
 *       refresh brought it before the old one expired).
 *   probe ready KIND NAME T_START_NS BOUND_MS
 *       Asks every millisecond until an answer comes; prints "ready_ms=MS" relative to T_START_NS (CLOCK_REALTIME,
 *       e.g. `date +%s%N` taken just before the server was started), or "ready_ms=none" after BOUND_MS.
 *
 * KIND:
 *   dns:ADDR        one UDP query (A, RD) to ADDR:53, 500 ms timeout; the A records of the answer, in their order
 *   gai-inet        getaddrinfo(AF_INET, SOCK_STREAM); the addresses in the order glibc returns them
 *   gai-unspec      getaddrinfo(AF_UNSPEC, SOCK_STREAM); the IPv4 addresses in the order glibc returns them
 *   nscd:PATH       (ready only) a GETHOSTBYNAME request on the nscd socket PATH; an answer with found=1
 *   http:ADDR:PORT  (ready only; NAME is the path) GET NAME; an answer with status 200
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_ADDRS 64

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void usage(void) {
    fprintf(stderr, "usage: probe first KIND NAME COUNT [INTERVAL_US] | once KIND NAME | poll KIND NAME OLD NEW T0_NS TTL_MS BOUND_MS"
                    " | ready KIND NAME T_START_NS BOUND_MS\n");
    exit(2);
}

/* --- DNS over UDP --------------------------------------------------------------------------------------------- */
static struct sockaddr_in dns_server;

static int skip_name(const uint8_t *m, int len, int off) {
    while (off < len) {
        uint8_t l = m[off];
        if ((l & 0xc0) == 0xc0) return off + 2 <= len ? off + 2 : -1;
        if (l & 0xc0) return -1;
        off += 1 + l;
        if (l == 0) return off <= len ? off : -1;
    }
    return -1;
}

/* One query; the A records of the answer in order into out. Returns their number, or -1 on no/bad answer. */
static int lookup_dns(const char *name, uint32_t *out) {
    static int fd = -1;
    if (fd < 0) {
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&dns_server, sizeof dns_server) != 0) { perror("dns socket"); exit(1); }
    }
    uint8_t q[512], r[4096];
    uint16_t id = (uint16_t)(now_ns() ^ rand());
    int n = 0;
    q[n++] = id >> 8; q[n++] = id & 0xff;
    q[n++] = 0x01; q[n++] = 0x00;           /* RD */
    q[n++] = 0; q[n++] = 1;                 /* QDCOUNT 1 */
    memset(q + n, 0, 6); n += 6;
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (l == 0 || l > 63 || n + l + 6 > sizeof q) return -1;
        q[n++] = (uint8_t)l;
        memcpy(q + n, p, l); n += l;
        p += l;
        if (*p == '.') p++;
    }
    q[n++] = 0;
    q[n++] = 0; q[n++] = 1; /* A */
    q[n++] = 0; q[n++] = 1; /* IN */
    /* Drain anything late from an earlier query. */
    while (recv(fd, r, sizeof r, MSG_DONTWAIT) > 0) {}
    if (send(fd, q, n, 0) != n) return -1;
    int64_t deadline = now_ns() + 500000000LL;
    for (;;) {
        int64_t left = deadline - now_ns();
        if (left <= 0) return -1;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)(left / 1000000) + 1) <= 0) return -1;
        ssize_t len = recv(fd, r, sizeof r, 0);
        if (len < 12) return -1;
        if (((r[0] << 8) | r[1]) != id) continue;
        if ((r[3] & 0x0f) != 0) return -1; /* RCODE */
        int qd = (r[4] << 8) | r[5], an = (r[6] << 8) | r[7], off = 12, count = 0;
        for (int i = 0; i < qd; i++) {
            off = skip_name(r, (int)len, off);
            if (off < 0 || off + 4 > len) return -1;
            off += 4;
        }
        for (int i = 0; i < an; i++) {
            off = skip_name(r, (int)len, off);
            if (off < 0 || off + 10 > len) return -1;
            int type = (r[off] << 8) | r[off + 1], rdlen = (r[off + 8] << 8) | r[off + 9];
            off += 10;
            if (off + rdlen > len) return -1;
            if (type == 1 && rdlen == 4 && count < MAX_ADDRS) {
                uint32_t a;
                memcpy(&a, r + off, 4);
                out[count++] = a;
            }
            off += rdlen;
        }
        return count > 0 ? count : -1;
    }
}

/* --- getaddrinfo ---------------------------------------------------------------------------------------------- */
static int lookup_gai(const char *name, int family, uint32_t *out) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(name, NULL, &hints, &res) != 0) return -1;
    int count = 0;
    for (struct addrinfo *ai = res; ai && count < MAX_ADDRS; ai = ai->ai_next)
        if (ai->ai_family == AF_INET) out[count++] = ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr;
    freeaddrinfo(res);
    return count > 0 ? count : -1;
}

/* --- nscd protocol: GETHOSTBYNAME, found=1 -------------------------------------------------------------------- */
static int ask_nscd(const char *path, const char *name) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int ok = -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        int32_t hdr[3] = {2 /* version */, 4 /* GETHOSTBYNAME */, (int32_t)strlen(name) + 1};
        uint8_t req[12 + 256];
        memcpy(req, hdr, 12);
        memcpy(req + 12, name, strlen(name) + 1);
        size_t n = 12 + strlen(name) + 1;
        if (send(fd, req, n, MSG_NOSIGNAL) == (ssize_t)n) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            int32_t resp[8];
            if (poll(&pfd, 1, 200) == 1 && recv(fd, resp, sizeof resp, MSG_WAITALL) == sizeof resp && resp[1] == 1)
                ok = 0;
        }
    }
    close(fd);
    return ok;
}

/* --- HTTP GET, status 200 ------------------------------------------------------------------------------------- */
static int ask_http(const char *hostport, const char *path) {
    char host[64];
    snprintf(host, sizeof host, "%s", hostport);
    char *colon = strrchr(host, ':');
    if (!colon) return -1;
    *colon = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int ok = -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        char req[512], resp[64];
        int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, hostport);
        if (send(fd, req, n, MSG_NOSIGNAL) == n) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            ssize_t got = 0;
            while (got < 12 && poll(&pfd, 1, 200) == 1) {
                ssize_t r = recv(fd, resp + got, sizeof resp - 1 - got, 0);
                if (r <= 0) break;
                got += r;
            }
            resp[got > 0 ? got : 0] = '\0';
            if (got >= 12 && strncmp(resp, "HTTP/1.", 7) == 0 && strncmp(resp + 9, "200", 3) == 0) ok = 0;
        }
    }
    close(fd);
    return ok;
}

/* --- one lookup of any kind ----------------------------------------------------------------------------------- */
static const char *kind;

static int lookup(const char *name, uint32_t *out) {
    if (strncmp(kind, "dns:", 4) == 0) return lookup_dns(name, out);
    if (strcmp(kind, "gai-inet") == 0) return lookup_gai(name, AF_INET, out);
    if (strcmp(kind, "gai-unspec") == 0) return lookup_gai(name, AF_UNSPEC, out);
    fprintf(stderr, "kind %s cannot look addresses up\n", kind);
    exit(2);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = ntohl(*(const uint32_t *)a), y = ntohl(*(const uint32_t *)b);
    return x < y ? -1 : x > y;
}

/* The sorted address set as "a,b" ("ERR" when n < 0). */
static void format_set(uint32_t *v, int n, char *out, size_t size) {
    if (n < 0) { snprintf(out, size, "ERR"); return; }
    qsort(v, n, sizeof v[0], cmp_u32);
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i > 0 && v[i] == v[i - 1]) continue;
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &v[i], a, sizeof a);
        used += snprintf(out + used, used < size ? size - used : 0, "%s%s", used ? "," : "", a);
    }
}

int main(int argc, char **argv) {
    if (argc < 4) usage();
    const char *mode = argv[1];
    kind = argv[2];
    const char *name = argv[3];
    srand((unsigned)now_ns());
    if (strncmp(kind, "dns:", 4) == 0) {
        dns_server.sin_family = AF_INET;
        dns_server.sin_port = htons(53);
        if (inet_pton(AF_INET, kind + 4, &dns_server.sin_addr) != 1) usage();
    }
    uint32_t addrs[MAX_ADDRS];
    char set[1024];

    if (strcmp(mode, "first") == 0 && (argc == 5 || argc == 6)) {
        long count = atol(argv[4]);
        long interval_us = argc == 6 ? atol(argv[5]) : 0;
        if (count < 1 || count > 1000000 || interval_us < 0 || interval_us > 1000000) usage();
        uint32_t seen[MAX_ADDRS];
        long hits[MAX_ADDRS] = {0}, errors = 0, top = 0;
        int distinct = 0;
        for (long i = 0; i < count; i++) {
            if (interval_us > 0 && i > 0) {
                struct timespec pause = {interval_us / 1000000, (interval_us % 1000000) * 1000};
                nanosleep(&pause, NULL);
            }
            int n = lookup(name, addrs);
            if (n < 1) { errors++; continue; }
            int k = 0;
            while (k < distinct && seen[k] != addrs[0]) k++;
            if (k == distinct) {
                if (distinct == MAX_ADDRS) { errors++; continue; }
                seen[distinct++] = addrs[0];
            }
            hits[k]++;
        }
        for (int k = 0; k < distinct; k++) if (hits[k] > top) top = hits[k];
        printf("lookups=%ld errors=%ld distinct=%d top_share=%.1f dist=", count, errors, distinct,
               count > errors ? 100.0 * top / (count - errors) : 0.0);
        for (int k = 0; k < distinct; k++) {
            char a[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &seen[k], a, sizeof a);
            printf("%s%s:%ld", k ? "," : "", a, hits[k]);
        }
        printf("\n");
        return 0;
    }
    if (strcmp(mode, "once") == 0 && argc == 4) {
        int64_t t0 = now_ns();
        int n = lookup(name, addrs);
        format_set(addrs, n, set, sizeof set);
        printf("t0=%lld result=%s\n", (long long)t0, set);
        return 0;
    }
    if (strcmp(mode, "poll") == 0 && argc == 9) {
        const char *old = argv[4], *new = argv[5];
        int64_t t0 = atoll(argv[6]), ttl_ms = atoll(argv[7]), bound_ms = atoll(argv[8]);
        int64_t end = t0 + (ttl_ms + bound_ms) * 1000000;
        long polls = 0, errors = 0, other = 0;
        double last_old = -1, first_new = -1;
        while (now_ns() < end) {
            int n = lookup(name, addrs);
            int64_t t = now_ns();
            polls++;
            format_set(addrs, n, set, sizeof set);
            double ms = (t - t0) / 1e6;
            if (n < 0) errors++;
            else if (strcmp(set, old) == 0) last_old = ms;
            else if (strcmp(set, new) == 0) { first_new = ms; break; }
            else other++;
            struct timespec pause = {0, 2000000};
            nanosleep(&pause, NULL);
        }
        printf("polls=%ld errors=%ld other=%ld last_old_ms=%.1f ", polls, errors, other, last_old);
        if (first_new >= 0) printf("first_new_ms=%.1f staleness_ms=%.1f\n", first_new, first_new - ttl_ms);
        else printf("first_new_ms=none staleness_ms=none\n");
        return 0;
    }
    if (strcmp(mode, "ready") == 0 && argc == 6) {
        int64_t start = atoll(argv[4]), bound_ms = atoll(argv[5]);
        int64_t end = start + bound_ms * 1000000;
        while (now_ns() < end) {
            int ok;
            if (strncmp(kind, "nscd:", 5) == 0) ok = ask_nscd(kind + 5, name) == 0;
            else if (strncmp(kind, "http:", 5) == 0) ok = ask_http(kind + 5, name) == 0;
            else ok = lookup(name, addrs) > 0;
            if (ok) {
                printf("ready_ms=%.1f\n", (now_ns() - start) / 1e6);
                return 0;
            }
            struct timespec pause = {0, 1000000};
            nanosleep(&pause, NULL);
        }
        printf("ready_ms=none\n");
        return 0;
    }
    usage();
}
