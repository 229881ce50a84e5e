"""query_sniffer: logs every DNS query that arrives on one network interface, as the server sees it.

    python3 query_sniffer.py IFACE LOGFILE READYFILE

Runs inside the cluster-DNS network namespace (pod-lib.sh starts it there) on the server's end of the veth pair.
An AF_PACKET socket sees each frame that reaches the interface; frames the namespace itself sends are skipped. For
every IPv4 UDP datagram or TCP segment to port 53 that carries a DNS query (QR clear), one line is appended to
LOGFILE and flushed at once:

    <monotonic_ns> <udp|tcp> <source_ip>:<source_port> <qname, lower case, no trailing dot> <QTYPE>

(TCP: each length-prefixed message that starts in the segment.) READYFILE is created once the socket is bound, so
nothing that follows can be missed. The process runs until it is killed.
"""
import os
import signal
import socket
import struct
import sys
import time

TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
         64: "SVCB", 65: "HTTPS", 255: "ANY"}
PACKET_OUTGOING = 4


def question(msg):
    """(qname, qtype) of a DNS query message, or None."""
    if len(msg) < 12 or msg[2] & 0x80 or struct.unpack("!H", msg[4:6])[0] < 1:
        return None
    labels, off = [], 12
    while off < len(msg) and len(labels) < 128:
        n = msg[off]
        if n == 0:
            off += 1
            break
        if n & 0xC0:
            return None
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace").lower())
        off += 1 + n
    if off + 4 > len(msg):
        return None
    qtype = struct.unpack("!H", msg[off:off + 2])[0]
    return ".".join(labels) or ".", TYPES.get(qtype, "TYPE%d" % qtype)


def main():
    iface, logfile, readyfile = sys.argv[1:4]
    # Started by a test runner that may block or ignore SIGTERM: make sure a plain kill ends this process.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((iface, 0))
    out = open(logfile, "a", buffering=1)
    open(readyfile, "w").close()
    while True:
        frame, addr = s.recvfrom(65535)
        if addr[2] == PACKET_OUTGOING or len(frame) < 34 or frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        proto, src = ip[9], socket.inet_ntoa(ip[12:16])
        l4 = ip[ihl:struct.unpack("!H", ip[2:4])[0]]
        msgs = []
        if proto == 17 and len(l4) >= 8:
            sport, dport = struct.unpack("!HH", l4[:4])
            if dport == 53:
                msgs.append(("udp", l4[8:]))
        elif proto == 6 and len(l4) >= 20:
            sport, dport = struct.unpack("!HH", l4[:4])
            data = l4[(l4[12] >> 4) * 4:]
            while dport == 53 and len(data) >= 14:
                n = struct.unpack("!H", data[:2])[0]
                msgs.append(("tcp", data[2:2 + n]))
                data = data[2 + n:]
        for transport, msg in msgs:
            q = question(msg)
            if q:
                out.write("%d %s %s:%d %s %s\n" % (time.monotonic_ns(), transport, src, sport, q[0], q[1]))


if __name__ == "__main__":
    main()
