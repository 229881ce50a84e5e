#!/usr/bin/env python3
"""Regenerate the fuzz seed corpus in Tests/Fuzz/corpus/dns/.

Starts its own Knot DNS (knotd) on a loopback address with a test zone, sends it a fixed list of queries over UDP
and TCP (with and without EDNS, the DO bit, COOKIE and NSID options), and saves each query and each response as a
bare DNS message (TCP's two-octet length prefix removed). Then writes a few handcrafted malformed messages.
The knotd it started is stopped by its PID; nothing else is touched. No packet leaves loopback.

Usage: python3 Tests/Fuzz/capture-corpus.py [--address 127.0.0.54] [--port 5300] [--out DIR]
"""

import argparse
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

ZONE = "example.test."

# Strings of the large TXT RRset: 6 x 250 octets, so the answer is over 1232 octets and UDP with EDNS 1232 truncates.
BIG_TXT = " ".join('"' + (chr(ord("a") + i) * 250) + '"' for i in range(6))

ZONE_TEXT = f"""$ORIGIN {ZONE}
$TTL 300
@           3600 IN SOA ns1 hostmaster 2026112201 3600 600 86400 60
@                IN NS    ns1
@                IN MX    10 mx1
@                IN MX    20 mx2
ns1              IN A     192.0.2.53
ns1              IN AAAA  2001:db8::53
mx1              IN A     192.0.2.25
mx2              IN AAAA  2001:db8::25
www              IN A     192.0.2.1
www              IN A     192.0.2.2
www              IN A     192.0.2.3
www              IN AAAA  2001:db8::1
alias            IN CNAME alias2
alias2           IN CNAME www
txt              IN TXT   "hello world" "second"
big              IN TXT   {BIG_TXT}
_sip._tcp        IN SRV   10 60 5060 sip
sip              IN A     192.0.2.50
ptr              IN PTR   www
dn               IN DNAME www
svc              IN HTTPS 1 . alpn="h2,h3" ipv4hint=192.0.2.1
@                IN CAA   0 issue "ca.example"
; a delegation with glue
sub              IN NS    ns.sub
sub              IN NS    ns1
ns.sub           IN A     192.0.2.99
ns.sub           IN AAAA  2001:db8::99
"""

KNOT_CONF = """server:
    listen: {address}@{port}
    rundir: {dir}
    nsid: "sidecache-corpus"
database:
    storage: {dir}/db
template:
  - id: default
    storage: {dir}
    file: "%s.zone"
    global-module: mod-cookies
zone:
  - domain: {zone}
    dnssec-signing: on
log:
  - target: {dir}/knotd.log
    any: info
"""

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33,
         "DNAME": 39, "OPT": 41, "DNSKEY": 48, "HTTPS": 65, "ANY": 255, "CAA": 257}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def build_query(qid, name, qtype, edns=None, do=False, options=(), rd=True):
    flags = 0x0100 if rd else 0
    arcount = 1 if edns is not None else 0
    msg = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, arcount)
    msg += encode_name(name) + struct.pack("!HH", TYPES[qtype], 1)
    if edns is not None:
        rdata = b"".join(struct.pack("!HH", code, len(data)) + data for code, data in options)
        ttl = 0x8000 if do else 0
        msg += b"\x00" + struct.pack("!HHIH", 41, edns, ttl, len(rdata)) + rdata
    return msg


def ask_udp(address, port, query, timeout=2.0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(query, (address, port))
        data, _ = s.recvfrom(65535)
        return data


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("TCP connection closed early")
        buf += chunk
    return buf


def ask_tcp(address, port, query, timeout=2.0):
    with socket.create_connection((address, port), timeout=timeout) as s:
        s.sendall(struct.pack("!H", len(query)) + query)
        (length,) = struct.unpack("!H", recv_exact(s, 2))
        return recv_exact(s, length)


COOKIE = (10, bytes.fromhex("24a35cfa1e5b7c09"))  # an 8-octet client cookie (RFC 7873)
NSID = (3, b"")  # RFC 5001: empty in the query
ECHO_COOKIE = "echo"  # the full COOKIE option from the previous response


def skip_name(msg, pos):
    while True:
        length = msg[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            return pos + 2
        pos += 1 + length


def edns_option(msg, code):
    """The data of the first option `code` in the response's OPT record, or None."""
    qd, an, ns, ar = struct.unpack("!HHHH", msg[4:12])
    pos = 12
    for _ in range(qd):
        pos = skip_name(msg, pos) + 4
    for index in range(an + ns + ar):
        pos = skip_name(msg, pos)
        rtype, _, _, rdlength = struct.unpack("!HHIH", msg[pos:pos + 10])
        pos += 10
        if rtype == 41 and index >= an + ns:
            at = pos
            while at + 4 <= pos + rdlength:
                ocode, olength = struct.unpack("!HH", msg[at:at + 4])
                if ocode == code:
                    return msg[at + 4:at + 4 + olength]
                at += 4 + olength
        pos += rdlength
    return None

# (file stem, name, type, transport, EDNS payload or None, DO, options)
EXCHANGES = [
    ("a-www-udp", "www", "A", "udp", None, False, ()),
    ("aaaa-www-udp-edns", "www", "AAAA", "udp", 1232, False, ()),
    ("cname-chain-udp-edns-do", "alias", "A", "udp", 1232, True, ()),
    ("mx-apex-udp-edns", "", "MX", "udp", 1232, False, ()),
    ("txt-udp-edns-cookie", "txt", "TXT", "udp", 1232, False, (COOKIE,)),  # Knot answers BADCOOKIE (RCODE 23)
    ("txt-udp-edns-cookie-echo", "txt", "TXT", "udp", 1232, False, (ECHO_COOKIE,)),  # client + server cookie
    ("txt-big-udp-edns-tc", "big", "TXT", "udp", 1232, False, ()),
    ("txt-big-tcp-edns", "big", "TXT", "tcp", 1232, False, ()),
    ("srv-tcp", "_sip._tcp", "SRV", "tcp", None, False, ()),
    ("nxdomain-udp-edns-do", "nope", "A", "udp", 1232, True, ()),
    ("nodata-udp-edns", "www", "MX", "udp", 1232, False, ()),
    ("referral-glue-udp", "host.sub", "A", "udp", None, False, ()),
    ("dnskey-tcp-edns-do", "", "DNSKEY", "tcp", 4096, True, ()),
    ("dname-udp-edns", "x.dn", "A", "udp", 1232, False, ()),
    ("https-udp-edns-do", "svc", "HTTPS", "udp", 1232, True, ()),
    ("any-tcp-edns-nsid-cookie", "", "ANY", "tcp", 1232, False, (NSID, COOKIE)),
]


def malformed(responses):
    """Handcrafted broken messages, each aimed at one decoder check."""
    q = struct.pack("!HHHHHH", 0xABCD, 0x0100, 1, 0, 0, 0)
    r = struct.pack("!HHHHHH", 0xABCD, 0x8100, 1, 1, 0, 0)
    question = encode_name("www.example.test") + struct.pack("!HH", 1, 1)
    out = {
        # The question name is a pointer to itself.
        "bad-pointer-loop": q + b"\xc0\x0c" + struct.pack("!HH", 1, 1),
        # A label, then a pointer back to that label: a two-step loop.
        "bad-pointer-loop-2": q + b"\x01a\xc0\x0c" + struct.pack("!HH", 1, 1),
        # The answer's owner name points past itself, at its own RDATA.
        "bad-forward-pointer": r + question + b"\xc0\x30" + struct.pack("!HHIH", 1, 1, 300, 4) + bytes([192, 0, 2, 1]),
        "bad-pointer-into-header": q + b"\xc0\x02" + struct.pack("!HH", 1, 1),
        # RDLENGTH 16 with four octets left.
        "bad-rdlength-overrun": r + question + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 16) + bytes([192, 0, 2, 1]),
        # A 0x80 label type (reserved) in the middle of a name.
        "bad-label-type": q + b"\x03www\x80\x00" + struct.pack("!HH", 1, 1),
    }
    # A real response cut off in the middle of its last record.
    big = responses["cname-chain-udp-edns-do"]
    out["bad-truncated-response"] = big[: len(big) - 7]
    return out


def wait_ready(address, port, deadline):
    query = build_query(1, ZONE, "DNSKEY", edns=1232, do=True)
    while time.monotonic() < deadline:
        try:
            response = ask_udp(address, port, query, timeout=0.5)
            ancount = struct.unpack("!H", response[6:8])[0]
            if response[3] & 0x0F == 0 and ancount > 0:  # zone loaded and signed
                return
        except (OSError, socket.timeout):
            pass
        time.sleep(0.2)
    raise RuntimeError("knotd did not serve a signed zone in time")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", default="127.0.0.54")
    parser.add_argument("--port", type=int, default=5300)
    parser.add_argument("--out", default=os.path.join(here, "corpus", "dns"))
    args = parser.parse_args()
    if not args.address.startswith("127."):
        sys.exit("refusing a non-loopback address")

    workdir = tempfile.mkdtemp(prefix="sidecache-corpus-knot-")
    os.makedirs(os.path.join(workdir, "db", "keys"))  # the KASP database (DNSSEC keys) lives here
    with open(os.path.join(workdir, "example.test.zone"), "w") as f:
        f.write(ZONE_TEXT)
    conf = os.path.join(workdir, "knot.conf")
    with open(conf, "w") as f:
        f.write(KNOT_CONF.format(address=args.address, port=args.port, dir=workdir, zone=ZONE))

    knotd = subprocess.Popen(["knotd", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    responses = {}
    try:
        wait_ready(args.address, args.port, time.monotonic() + 30)
        os.makedirs(args.out, exist_ok=True)
        for stale in os.listdir(args.out):
            if stale.endswith(".bin"):
                os.remove(os.path.join(args.out, stale))
        for index, (stem, name, qtype, transport, edns, do, options) in enumerate(EXCHANGES, start=1):
            fqdn = f"{name}.{ZONE}" if name else ZONE
            if ECHO_COOKIE in options:
                previous = edns_option(response, 10)
                if previous is None or len(previous) <= 8:
                    raise RuntimeError(f"{stem}: the previous response carried no server cookie")
                options = tuple((10, previous) if o == ECHO_COOKIE else o for o in options)
            query = build_query(0x5300 + index, fqdn, qtype, edns=edns, do=do, options=options)
            ask = ask_udp if transport == "udp" else ask_tcp
            response = ask(args.address, args.port, query)
            if response[:2] != query[:2]:
                raise RuntimeError(f"{stem}: response ID does not match")
            responses[stem] = response
            for kind, data in (("query", query), ("response", response)):
                with open(os.path.join(args.out, f"{index:02d}-{stem}.{kind}.bin"), "wb") as f:
                    f.write(data)
            flags = struct.unpack("!H", response[2:4])[0]
            print(f"{index:02d}-{stem}: query {len(query)} B, response {len(response)} B, "
                  f"rcode {flags & 0xF}, tc {flags >> 9 & 1}")
        for stem, data in malformed(responses).items():
            with open(os.path.join(args.out, f"{stem}.bin"), "wb") as f:
                f.write(data)
            print(f"{stem}: {len(data)} B")
    except BaseException:
        log = os.path.join(workdir, "knotd.log")
        if os.path.exists(log):
            with open(log) as f:
                sys.stderr.write("knotd.log (tail):\n" + "".join(f.readlines()[-20:]))
        raise
    finally:
        knotd.send_signal(signal.SIGTERM)
        try:
            knotd.wait(timeout=10)
        except subprocess.TimeoutExpired:
            knotd.kill()
            knotd.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
