# SPDX-License-Identifier: BSD-2-Clause
# A minimal raw-protocol MySQL/MariaDB client for tests that must choose the
# capability bits themselves and see every byte of a response.

import hashlib
import socket
import struct
import zlib

CLIENT_MYSQL = 1 << 0
CLIENT_FOUND_ROWS = 1 << 1
CLIENT_CONNECT_WITH_DB = 1 << 3
CLIENT_COMPRESS = 1 << 5
CLIENT_PROTOCOL_41 = 1 << 9
CLIENT_TRANSACTIONS = 1 << 13
CLIENT_SECURE_CONNECTION = 1 << 15
CLIENT_MULTI_STATEMENTS = 1 << 16
CLIENT_MULTI_RESULTS = 1 << 17
CLIENT_PS_MULTI_RESULTS = 1 << 18
CLIENT_PLUGIN_AUTH = 1 << 19
CLIENT_SESSION_TRACK = 1 << 23
CLIENT_DEPRECATE_EOF = 1 << 24

# MariaDB extended capabilities (the 4 last reserved bytes)
MARIADB_PROGRESS = 1 << 0
MARIADB_STMT_BULK = 1 << 2
MARIADB_EXTENDED_METADATA = 1 << 3
MARIADB_CACHE_METADATA = 1 << 4

BASE_CAPS = (CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS |
             CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS |
             CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS |
             CLIENT_PLUGIN_AUTH | CLIENT_CONNECT_WITH_DB)

ST_MORE_RESULTS = 0x0008
ST_SESSION_STATE_CHANGED = 0x4000


def lenenc(b, pos):
    """(value, new position) of the lenenc int at b[pos]."""
    c = b[pos]
    if c < 0xFB:
        return c, pos + 1
    if c == 0xFB:
        return None, pos + 1
    if c == 0xFC:
        return struct.unpack_from("<H", b, pos + 1)[0], pos + 3
    if c == 0xFD:
        return int.from_bytes(b[pos + 1:pos + 4], "little"), pos + 4
    return struct.unpack_from("<Q", b, pos + 1)[0], pos + 9


def lenenc_str(b, pos):
    n, pos = lenenc(b, pos)
    if n is None:
        return None, pos
    return bytes(b[pos:pos + n]), pos + n


def compressed_packet(data, seq, pack=True, ulen=None, level=6):
    """One compressed-protocol packet carrying <data> (plain packets'
    bytes): zlib when <pack>, else as it is (claimed length 0).  <ulen>
    overrides the uncompressed length claimed in the header."""
    body = zlib.compress(data, level) if pack else data
    if ulen is None:
        ulen = len(data) if pack else 0
    return (struct.pack("<I", len(body))[:3] + bytes([seq & 0xFF])
            + struct.pack("<I", ulen)[:3] + body)


def plain_packet(payload, seq):
    """The bytes of one plain packet (payload under 16 MiB)."""
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def native_scramble(password, nonce):
    if not password:
        return b""
    p1 = hashlib.sha1(password.encode()).digest()
    p2 = hashlib.sha1(p1).digest()
    p3 = hashlib.sha1(nonce + p2).digest()
    return bytes(a ^ b for a, b in zip(p1, p3))


class Ok:
    """A parsed OK packet (header 0x00 or, under DEPRECATE_EOF, 0xFE)."""

    def __init__(self, p, caps):
        self.raw = p
        pos = 1
        self.affected, pos = lenenc(p, pos)
        self.insert_id, pos = lenenc(p, pos)
        self.status, self.warnings = struct.unpack_from("<HH", p, pos)
        pos += 4
        self.info = b""
        self.state = None
        if pos < len(p):
            self.info, pos = lenenc_str(p, pos)
        if (caps & CLIENT_SESSION_TRACK and
                self.status & ST_SESSION_STATE_CHANGED and pos < len(p)):
            self.state, pos = lenenc_str(p, pos)

    def tracks(self):
        """The session-state entries as (type, payload) pairs."""
        out = []
        pos = 0
        s = self.state or b""
        while pos < len(s):
            t = s[pos]
            v, pos = lenenc_str(s, pos + 1)
            out.append((t, v))
        return out

    def sysvars(self):
        """{name: value} of the SYSTEM_VARIABLES entries."""
        d = {}
        for t, v in self.tracks():
            if t == 0:
                name, pos = lenenc_str(v, 0)
                val, pos = lenenc_str(v, pos)
                d[name.decode()] = val.decode()
        return d

    def schema(self):
        for t, v in self.tracks():
            if t == 1:
                return lenenc_str(v, 0)[0].decode()
        return None


class Conn:
    """One raw session.  <caps>/<ext> are what the client sends; they are
    narrowed by what the server offers, like a real client does."""

    def __init__(self, host, port, user, password, db=None,
                 caps=BASE_CAPS, ext=0, timeout=30):
        self.sock = socket.create_connection((host, port), timeout)
        self.buf = b""
        # the compressed protocol, from the packet after the login's OK
        self.zipped = False
        self.zbuf = b""
        self.zseq = 0
        self.zseqs = []  # compressed sequence ids read, in order
        p, _ = self.read_packet()
        if p[0] == 0xFF:
            raise RuntimeError("server refused: %r" % p)
        self.greeting = p
        pos = 1
        end = p.index(b"\0", pos)
        self.version = p[pos:end].decode()
        pos = end + 1
        self.thread_id = struct.unpack_from("<I", p, pos)[0]
        pos += 4
        nonce = p[pos:pos + 8]
        pos += 9
        caps_lo = struct.unpack_from("<H", p, pos)[0]
        pos += 2
        pos += 3  # collation, status
        caps_hi = struct.unpack_from("<H", p, pos)[0]
        pos += 2
        self.server_caps = caps_lo | caps_hi << 16
        pos += 1 + 6
        self.server_ext = struct.unpack_from("<I", p, pos)[0]
        if self.server_caps & CLIENT_MYSQL:
            self.server_ext = 0
        pos += 4
        nonce += p[pos:pos + 12]
        if not db:
            caps &= ~CLIENT_CONNECT_WITH_DB
        self.caps = caps & (self.server_caps | CLIENT_MYSQL)
        self.ext = ext & self.server_ext
        if self.ext:
            self.caps &= ~CLIENT_MYSQL
        else:
            self.caps |= CLIENT_MYSQL
        auth = native_scramble(password, nonce)
        body = struct.pack("<IIB", self.caps, 1 << 24, 45) + b"\0" * 19
        body += struct.pack("<I", self.ext)
        body += user.encode() + b"\0" + bytes([len(auth)]) + auth
        if db:
            body += db.encode() + b"\0"
        body += b"mysql_native_password\0"
        self.write_packet(body, 1)
        p, _ = self.read_packet()
        if p[0] == 0xFE:
            # switch to mysql_native_password with a new nonce
            end = p.index(b"\0", 1)
            nonce = p[end + 1:end + 21]
            self.write_packet(native_scramble(password, nonce), 3)
            p, _ = self.read_packet()
        if p[0] != 0x00:
            raise RuntimeError("login failed: %r" % p)
        self.login_ok = Ok(p, self.caps)
        self.zipped = bool(self.caps & CLIENT_COMPRESS)

    def close(self):
        try:
            self.write_packet(b"\x01", 0)
        except OSError:
            pass
        self.sock.close()

    def write_packet(self, payload, seq):
        data = struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload
        if not self.zipped:
            self.sock.sendall(data)
            return
        # a command restarts the compressed ids, as Connector/C does
        if seq == 0:
            self.zseq = 0
        self.sock.sendall(compressed_packet(data, self.zseq,
                                            pack=len(data) >= 50))
        self.zseq = (self.zseq + 1) & 0xFF

    def _recv(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed")
        return d

    def _unzip_one(self):
        """Read one compressed packet; its plain bytes join self.buf."""
        while len(self.zbuf) < 7:
            self.zbuf += self._recv()
        clen = int.from_bytes(self.zbuf[:3], "little")
        ulen = int.from_bytes(self.zbuf[4:7], "little")
        self.zseqs.append(self.zbuf[3])
        self.zseq = (self.zbuf[3] + 1) & 0xFF
        while len(self.zbuf) < 7 + clen:
            self.zbuf += self._recv()
        body = self.zbuf[7:7 + clen]
        self.zbuf = self.zbuf[7 + clen:]
        if ulen:
            body = zlib.decompress(body)
            assert len(body) == ulen, (len(body), ulen)
        self.buf += body

    def _need(self, n):
        while len(self.buf) < n:
            if self.zipped:
                self._unzip_one()
            else:
                self.buf += self._recv()

    def read_packet(self):
        """(payload, seq) of the next logical packet."""
        out = b""
        while True:
            self._need(4)
            n = int.from_bytes(self.buf[:3], "little")
            seq = self.buf[3]
            self._need(4 + n)
            out += self.buf[4:4 + n]
            self.buf = self.buf[4 + n:]
            if n < 0xFFFFFF:
                return out, seq

    def command(self, payload):
        """Send a command; return its whole response as a list of raw
        packets (payloads), progress reports included."""
        self.write_packet(payload, 0)
        return self.read_response(payload[0])

    def query(self, sql):
        return self.command(b"\x03" + sql.encode())

    def _is_eof(self, p):
        return p[0] == 0xFE and len(p) < 0xFFFFFF and (
            len(p) < 9 or self.caps & CLIENT_DEPRECATE_EOF)

    def read_response(self, cmd):
        pkts = []

        def nxt():
            p, _ = self.read_packet()
            pkts.append(p)
            return p
        if cmd == 0x04:  # COM_FIELD_LIST: definitions until the end
            while True:
                p = nxt()
                if p[0] == 0xFF or self._is_eof(p):
                    return pkts
        while True:
            p = nxt()
            while p[0] == 0xFF and p[1:3] == b"\xff\xff":
                p = nxt()  # progress report
            if p[0] == 0xFF:
                return pkts
            if p[0] == 0x00 and cmd == 0x16:  # prepare OK
                ncols, nparams = struct.unpack_from("<HH", p, 5)
                for n in (nparams, ncols):
                    if n:
                        for _ in range(n):
                            nxt()
                        if not self.caps & CLIENT_DEPRECATE_EOF:
                            nxt()
                return pkts
            if p[0] == 0x00:
                st = Ok(p, self.caps).status
                if st & ST_MORE_RESULTS:
                    continue
                return pkts
            if self._is_eof(p):
                return pkts
            if p[0] == 0xFB:
                return pkts  # LOCAL INFILE request: not handled here
            ncols, pos = lenenc(p, 0)
            meta = True
            # CACHE_METADATA: "metadata follows"; an EXECUTE may skip the
            # definitions, never the EOF after them
            if self.ext & MARIADB_CACHE_METADATA and pos < len(p):
                meta = p[pos] == 1
            if meta:
                for _ in range(ncols):
                    nxt()
            if not self.caps & CLIENT_DEPRECATE_EOF:
                nxt()
            while True:
                p = nxt()
                if p[0] == 0xFF and len(p) < 0xFFFFFF:
                    return pkts
                if self._is_eof(p):
                    break
            if len(p) < 9:
                st = struct.unpack_from("<H", p, 3)[0]
            else:
                st = Ok(p, self.caps).status
            if not st & ST_MORE_RESULTS:
                return pkts
