/*
 * ttl_probe: measures when a cached IPv4 answer changes, on CLOCK_MONOTONIC (one clock for every process).
 *
 *   ttl_probe once KIND NAME
 *       One lookup. Prints "T0=<ns> RESULT=<addrs>": T0 is the monotonic time just before the lookup started,
 *       RESULT the sorted IPv4 set ("a,b") or "ERR ...".
 *   ttl_probe poll KIND NAME OLD NEW T0_NS [INTERVAL_US]
 *       Looks NAME up every INTERVAL_US (default 2000) until NEW is seen and then 100 ms more (to catch OLD coming
 *       back), or until T0 + 3 s. Prints one line of key=value figures, times in ms relative to T0:
 *         polls old new other errors first_poll_ms last_old_ms first_new_ms staleness_ms (first_new - 2000)
 *         max_rtt_ms old_after_new first_other
 *       "Seen" times are when the reply was received; first_poll_ms is when the first poll was sent.
 *
 * KIND: dns:SERVER   a plain UDP query (A, RD) to SERVER:53, 500 ms timeout per query
 *       gai-inet     getaddrinfo(AF_INET, SOCK_STREAM, AI_ADDRCONFIG)   (glibc's nscd client sends GETHOSTBYNAME)
 *       gai-unspec   getaddrinfo(AF_UNSPEC, SOCK_STREAM, AI_ADDRCONFIG) (glibc's nscd client sends GETAI)
 *
 * Exit status 0 when the run completed (the figures are in the output), 2 on usage errors.
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
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted, de-duplicated IPv4 set into out ("-" when empty). */
static void format_set(uint32_t *v, int n, char *out, size_t size) {
    qsort(v, n, sizeof v[0], cmp_u32);
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i > 0 && v[i] == v[i - 1]) continue;
        struct in_addr a = {.s_addr = htonl(v[i])};
        used += snprintf(out + used, used < size ? size - used : 0, "%s%s", used ? "," : "", inet_ntoa(a));
    }
    if (!out[0]) snprintf(out, size, "-");
}

/* --- DNS over UDP ------------------------------------------------------------------------------------------------ */
static int dns_fd = -1;

static int skip_name(const unsigned char *p, int len, int off) {
    for (int hops = 0; off < len && hops < 128; hops++) {
        unsigned c = p[off];
        if (c == 0) return off + 1;
        if ((c & 0xc0) == 0xc0) return off + 2 <= len ? off + 2 : -1;
        off += c + 1;
    }
    return -1;
}

static void lookup_dns(const char *server, const char *name, char *out, size_t size) {
    if (dns_fd < 0) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};
        if (inet_pton(AF_INET, server, &sa.sin_addr) != 1) { snprintf(out, size, "ERR bad server"); return; }
        dns_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (dns_fd < 0 || connect(dns_fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            snprintf(out, size, "ERR socket %s", strerror(errno));
            return;
        }
    }
    unsigned char q[300], r[1500];
    uint16_t id = (uint16_t)(now_ns() ^ rand());
    int n = 0;
    q[n++] = id >> 8; q[n++] = id & 0xff;
    q[n++] = 0x01; q[n++] = 0x00;              /* RD */
    q[n++] = 0; q[n++] = 1;                    /* QDCOUNT 1 */
    memset(q + n, 0, 6); n += 6;
    const char *s = name;
    while (*s) {
        const char *dot = strchr(s, '.');
        size_t l = dot ? (size_t)(dot - s) : strlen(s);
        if (l == 0 || l > 63 || n + l + 2 > 280) { snprintf(out, size, "ERR bad name"); return; }
        q[n++] = (unsigned char)l;
        memcpy(q + n, s, l); n += l;
        s += l;
        if (*s == '.') s++;
    }
    q[n++] = 0;
    q[n++] = 0; q[n++] = 1;                    /* A */
    q[n++] = 0; q[n++] = 1;                    /* IN */
    /* Drop anything left over from an earlier timed-out query. */
    while (recv(dns_fd, r, sizeof r, MSG_DONTWAIT) > 0) {}
    if (send(dns_fd, q, n, 0) != n) { snprintf(out, size, "ERR send %s", strerror(errno)); return; }
    int64_t deadline = now_ns() + 500000000;
    for (;;) {
        int64_t left = deadline - now_ns();
        if (left <= 0) { snprintf(out, size, "ERR timeout"); return; }
        struct pollfd pfd = {.fd = dns_fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(left / 1000000) + 1);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) { snprintf(out, size, "ERR timeout"); return; }
        ssize_t len = recv(dns_fd, r, sizeof r, 0);
        if (len < 0) { snprintf(out, size, "ERR recv %s", strerror(errno)); return; }
        if (len < 12 || ((r[0] << 8) | r[1]) != id || !(r[2] & 0x80)) continue;  /* not our reply */
        int rcode = r[3] & 0x0f;
        if (r[2] & 0x02) { snprintf(out, size, "ERR truncated"); return; }
        if (rcode != 0) { snprintf(out, size, "ERR rcode=%d", rcode); return; }
        int qd = (r[4] << 8) | r[5], an = (r[6] << 8) | r[7];
        int off = 12;
        for (int i = 0; i < qd && off >= 0; i++) {
            off = skip_name(r, (int)len, off);
            if (off >= 0) off += 4;
        }
        uint32_t addrs[64];
        int na = 0;
        for (int i = 0; i < an && off >= 0 && off < len; i++) {
            off = skip_name(r, (int)len, off);
            if (off < 0 || off + 10 > len) { off = -1; break; }
            int type = (r[off] << 8) | r[off + 1], klass = (r[off + 2] << 8) | r[off + 3];
            int rdlen = (r[off + 8] << 8) | r[off + 9];
            off += 10;
            if (off + rdlen > len) { off = -1; break; }
            if (type == 1 && klass == 1 && rdlen == 4 && na < 64)
                addrs[na++] = ((uint32_t)r[off] << 24) | (r[off + 1] << 16) | (r[off + 2] << 8) | r[off + 3];
            off += rdlen;
        }
        if (off < 0) { snprintf(out, size, "ERR malformed reply"); return; }
        if (na == 0) { snprintf(out, size, "ERR nodata"); return; }
        format_set(addrs, na, out, size);
        return;
    }
}

/* --- getaddrinfo ------------------------------------------------------------------------------------------------- */
static void lookup_gai(int family, const char *name, char *out, size_t size) {
    struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG}, *res = NULL;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(out, size, "ERR %s", rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return;
    }
    uint32_t addrs[64];
    int na = 0;
    for (struct addrinfo *ai = res; ai && na < 64; ai = ai->ai_next)
        if (ai->ai_family == AF_INET) addrs[na++] = ntohl(((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr);
    freeaddrinfo(res);
    format_set(addrs, na, out, size);
}

static const char *kind;

static void lookup(const char *name, char *out, size_t size) {
    if (strncmp(kind, "dns:", 4) == 0) lookup_dns(kind + 4, name, out, size);
    else if (strcmp(kind, "gai-inet") == 0) lookup_gai(AF_INET, name, out, size);
    else lookup_gai(AF_UNSPEC, name, out, size);
}

static void usage(void) {
    fprintf(stderr, "usage: ttl_probe once KIND NAME | ttl_probe poll KIND NAME OLD NEW T0_NS [INTERVAL_US]\n"
                    "       KIND: dns:SERVER | gai-inet | gai-unspec\n");
    exit(2);
}

static double ms(int64_t ns) { return ns / 1e6; }

int main(int argc, char **argv) {
    if (argc < 4) usage();
    kind = argv[2];
    if (strncmp(kind, "dns:", 4) != 0 && strcmp(kind, "gai-inet") != 0 && strcmp(kind, "gai-unspec") != 0) usage();
    const char *name = argv[3];
    char got[512];
    srand((unsigned)getpid());
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (strcmp(argv[1], "once") == 0 && argc == 4) {
        int64_t t0 = now_ns();
        lookup(name, got, sizeof got);
        printf("T0=%lld RESULT=%s\n", (long long)t0, got);
        return 0;
    }
    if (strcmp(argv[1], "poll") != 0 || argc < 7 || argc > 8) usage();
    const char *old = argv[4], *new = argv[5];
    int64_t t0 = strtoll(argv[6], NULL, 10);
    int64_t interval = (argc == 8 ? strtoll(argv[7], NULL, 10) : 2000) * 1000;
    if (t0 <= 0 || interval <= 0 || interval > 100000000) usage();

    int64_t end = t0 + 3000000000LL, first_poll = -1, last_old = -1, first_new = -1, max_rtt = 0;
    long polls = 0, n_old = 0, n_new = 0, n_other = 0, n_err = 0, old_after_new = 0;
    char first_other[512] = "-";
    while (polls < 100000) {  /* bounded in count as well as in time */
        int64_t sent = now_ns();
        if (sent >= end) break;
        if (first_new >= 0 && sent >= first_new + 100000000) break;
        if (first_poll < 0) first_poll = sent;
        lookup(name, got, sizeof got);
        int64_t recvd = now_ns();
        polls++;
        if (recvd - sent > max_rtt) max_rtt = recvd - sent;
        if (strcmp(got, old) == 0) {
            n_old++;
            last_old = recvd;
            if (first_new >= 0) old_after_new++;
        } else if (strcmp(got, new) == 0) {
            n_new++;
            if (first_new < 0) first_new = recvd;
        } else {
            if (strncmp(got, "ERR", 3) == 0) n_err++; else n_other++;
            if (strcmp(first_other, "-") == 0) {
                snprintf(first_other, sizeof first_other, "%.200s@%.3f", got, ms(recvd - t0));
                for (char *c = first_other; *c; c++) if (*c == ' ') *c = '_';
            }
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)interval};
        nanosleep(&ts, NULL);
    }
    printf("polls=%ld old=%ld new=%ld other=%ld errors=%ld first_poll_ms=%.3f last_old_ms=%.3f first_new_ms=%.3f "
           "staleness_ms=%.3f max_rtt_ms=%.3f old_after_new=%ld first_other=%s\n",
           polls, n_old, n_new, n_other, n_err, first_poll < 0 ? -1.0 : ms(first_poll - t0),
           last_old < 0 ? -1.0 : ms(last_old - t0), first_new < 0 ? -1.0 : ms(first_new - t0),
           first_new < 0 ? -1.0 : ms(first_new - t0) - 2000.0, ms(max_rtt), old_after_new, first_other);
    return 0;
}
