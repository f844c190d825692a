#!/usr/bin/python3
"""Sends one UDP frame (64-byte payload) from each of COUNT distinct IPv4 sources to DST, through
an AF_PACKET socket on IFACE, so that a watcher on the peer sees COUNT distinct IP pairs.

Run it inside the sender's network namespace of the bench (private addresses only):
    gen_series.py IFACE SRC_MAC DST_MAC DST_IP COUNT [FIRST_SRC]
Sources are FIRST_SRC, FIRST_SRC+1, ... (default 10.128.0.1; must stay inside 10.0.0.0/8).
"""
import ipaddress
import socket
import struct
import sys


def checksum(data: bytes) -> int:
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def main() -> None:
    iface, src_mac, dst_mac, dst_ip, count = sys.argv[1:6]
    first = ipaddress.IPv4Address(sys.argv[6] if len(sys.argv) > 6 else "10.128.0.1")
    count = int(count)
    last = first + (count - 1)
    if first not in ipaddress.ip_network("10.0.0.0/8") or last not in ipaddress.ip_network("10.0.0.0/8"):
        sys.exit("sources must stay inside 10.0.0.0/8")
    eth = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", "")) + b"\x08\x00"
    dst = ipaddress.IPv4Address(dst_ip).packed
    payload = bytes(64)
    udp = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    for i in range(count):
        src = (first + i).packed
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0, src, dst)
        hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
        s.send(eth + hdr + udp)
    s.close()
    print(count)


if __name__ == "__main__":
    main()
