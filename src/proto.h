/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * proto.h: wire codec: lenenc, packet framing, a bounded reader, a packet
 * builder, and parsers/builders for the packets both sides exchange. */
#ifndef IB_PROTO_H
#define IB_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define PROTO_HDR_LEN	  4
#define PROTO_MAX_PAYLOAD 0xFFFFFFu /* a chunk this long continues */

/* capability bits (mysql_com.h names, our prefix) */
#define CAP_LONG_PASSWORD	(1u << 0)
#define CAP_FOUND_ROWS		(1u << 1)
#define CAP_LONG_FLAG		(1u << 2)
#define CAP_CONNECT_WITH_DB	(1u << 3)
#define CAP_NO_SCHEMA		(1u << 4)
#define CAP_COMPRESS		(1u << 5)
#define CAP_ODBC		(1u << 6)
#define CAP_LOCAL_FILES		(1u << 7)
#define CAP_IGNORE_SPACE	(1u << 8)
#define CAP_PROTOCOL_41		(1u << 9)
#define CAP_INTERACTIVE		(1u << 10)
#define CAP_SSL			(1u << 11)
#define CAP_IGNORE_SIGPIPE	(1u << 12)
#define CAP_TRANSACTIONS	(1u << 13)
#define CAP_RESERVED		(1u << 14)
#define CAP_SECURE_CONNECTION	(1u << 15)
#define CAP_MULTI_STATEMENTS	(1u << 16)
#define CAP_MULTI_RESULTS	(1u << 17)
#define CAP_PS_MULTI_RESULTS	(1u << 18)
#define CAP_PLUGIN_AUTH		(1u << 19)
#define CAP_CONNECT_ATTRS	(1u << 20)
#define CAP_PLUGIN_AUTH_LENENC	(1u << 21)
#define CAP_CAN_HANDLE_EXPIRED	(1u << 22)
#define CAP_SESSION_TRACK	(1u << 23)
#define CAP_DEPRECATE_EOF	(1u << 24)
#define CAP_REMEMBER_OPTIONS	(1u << 31)

/*
 * MariaDB extended capabilities: the last 4 of the greeting's reserved
 * bytes and of the handshake response's, meaningful only when bit 0
 * (CAP_LONG_PASSWORD, "CLIENT_MYSQL" to MariaDB) is clear on both sides.
 */
#define EXT_PROGRESS		(1u << 0) /* ERR 0xFFFF progress reports */
#define EXT_COM_MULTI		(1u << 1) /* obsolete */
#define EXT_STMT_BULK		(1u << 2) /* COM_STMT_BULK_EXECUTE */
#define EXT_METADATA		(1u << 3) /* type info blob in column definitions */
#define EXT_CACHE_METADATA	(1u << 4) /* "metadata follows" byte; EXECUTE may skip them */

/* The progress report's ERR code: not an error, nor the end of a response. */
#define PROTO_PROGRESS_CODE	0xFFFF

/* server status bits */
#define ST_IN_TRANS		0x0001
#define ST_AUTOCOMMIT		0x0002
#define ST_MORE_RESULTS		0x0008
#define ST_NO_GOOD_INDEX_USED	0x0010
#define ST_NO_INDEX_USED	0x0020
#define ST_CURSOR_EXISTS	0x0040
#define ST_LAST_ROW_SENT	0x0080
#define ST_NO_BACKSLASH_ESCAPES	0x0200
#define ST_QUERY_WAS_SLOW	0x0800
#define ST_SESSION_STATE_CHANGED 0x4000
#define ST_ANSI_QUOTES		0x8000

/* commands */
enum proto_cmd {
	COM_SLEEP = 0x00, COM_QUIT = 0x01, COM_INIT_DB = 0x02, COM_QUERY = 0x03,
	COM_FIELD_LIST = 0x04, COM_CREATE_DB = 0x05, COM_DROP_DB = 0x06,
	COM_REFRESH = 0x07, COM_SHUTDOWN = 0x08, COM_STATISTICS = 0x09,
	COM_PROCESS_INFO = 0x0A, COM_CONNECT = 0x0B, COM_PROCESS_KILL = 0x0C,
	COM_DEBUG = 0x0D, COM_PING = 0x0E, COM_TIME = 0x0F,
	COM_DELAYED_INSERT = 0x10, COM_CHANGE_USER = 0x11,
	COM_STMT_PREPARE = 0x16, COM_STMT_EXECUTE = 0x17,
	COM_STMT_SEND_LONG_DATA = 0x18, COM_STMT_CLOSE = 0x19,
	COM_STMT_RESET = 0x1A, COM_SET_OPTION = 0x1B, COM_STMT_FETCH = 0x1C,
	COM_RESET_CONNECTION = 0x1F,
	COM_STMT_BULK_EXECUTE = 0xFA,
};

/*
 * Bounded reader over one payload.  Every getter checks bounds; on a
 * short read it sets <failed>, returns 0/NULL and every later call fails
 * too (sticky, like pktbuf), so parsers check once at the end.
 */
struct proto_rd {
	const uint8_t *buf;
	size_t len;
	size_t pos;
	bool failed;
};

void proto_rd_init(struct proto_rd *r, const void *buf, size_t len);
size_t proto_rd_left(const struct proto_rd *r);
uint8_t proto_rd_u8(struct proto_rd *r);
uint16_t proto_rd_u16(struct proto_rd *r);
uint32_t proto_rd_u24(struct proto_rd *r);
uint32_t proto_rd_u32(struct proto_rd *r);
uint64_t proto_rd_u64(struct proto_rd *r);
/* lenenc int; *is_null set (if non-NULL) on 0xFB; 0xFF fails */
uint64_t proto_rd_lenenc(struct proto_rd *r, bool *is_null);
const uint8_t *proto_rd_bytes(struct proto_rd *r, size_t n);
/* NUL-terminated string; returns start, *n = length without NUL */
const char *proto_rd_strnul(struct proto_rd *r, size_t *n);
/* lenenc string; NULL + *is_null on 0xFB */
const uint8_t *proto_rd_lenenc_str(struct proto_rd *r, size_t *n, bool *is_null);
/* rest of payload */
const uint8_t *proto_rd_rest(struct proto_rd *r, size_t *n);

/* Bytes a lenenc int takes (1, 3, 4 or 9). */
size_t proto_lenenc_size(uint64_t v);

/*
 * Growable payload builder with a sticky <failed> flag (allocation
 * failure or overflow); callers check it once after building.
 */
struct pktbuf {
	uint8_t *buf;
	size_t len;
	size_t cap;
	bool failed;
};

void pktbuf_init(struct pktbuf *pb);
void pktbuf_reset(struct pktbuf *pb);	/* len = 0, keeps memory */
void pktbuf_free(struct pktbuf *pb);
void pktbuf_put_u8(struct pktbuf *pb, uint8_t v);
void pktbuf_put_u16(struct pktbuf *pb, uint16_t v);
void pktbuf_put_u24(struct pktbuf *pb, uint32_t v);
void pktbuf_put_u32(struct pktbuf *pb, uint32_t v);
void pktbuf_put_u64(struct pktbuf *pb, uint64_t v);
void pktbuf_put_bytes(struct pktbuf *pb, const void *p, size_t n);
/* A whole packet: its header (length <n> < 2^24, sequence <seq>), then <p>. */
void pktbuf_put_packet(struct pktbuf *pb, uint8_t seq, const void *p, size_t n);
void pktbuf_put_zero(struct pktbuf *pb, size_t n);
void pktbuf_put_lenenc(struct pktbuf *pb, uint64_t v);
void pktbuf_put_lenenc_str(struct pktbuf *pb, const void *p, size_t n);
void pktbuf_put_strnul(struct pktbuf *pb, const char *s);

/*
 * Append <len> payload bytes to <out> as one logical packet: split into
 * 0xFFFFFF chunks (plus an empty terminator when len is a multiple),
 * each header carrying *seq, which is incremented per chunk (mod 256).
 * Returns false on allocation failure.
 */
bool proto_write_packet(struct evbuffer *out, uint8_t *seq, const void *payload,
			size_t len);

/*
 * Peek at the next physical packet header in <in>.  Returns false when
 * fewer than 4 bytes are buffered; otherwise fills *len and *seq.
 */
bool proto_peek_header(struct evbuffer *in, uint32_t *len, uint8_t *seq);

/* Helpers for packets we build and send. <seq> as in proto_write_packet. */
bool proto_send_ok(struct evbuffer *out, uint8_t *seq, uint64_t affected,
		   uint64_t insert_id, uint16_t status, uint16_t warnings,
		   const char *info);
bool proto_send_err(struct evbuffer *out, uint8_t *seq, uint16_t code,
		    const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
bool proto_send_eof(struct evbuffer *out, uint8_t *seq, uint16_t warnings,
		    uint16_t status);

/* Parsed OK packet (first byte 0x00, or 0xFE with len >= 7 under DEPRECATE_EOF). */
struct proto_ok {
	uint64_t affected;
	uint64_t insert_id;
	uint16_t status;
	uint16_t warnings;
	const uint8_t *info; /* points into the payload; may be NULL */
	size_t info_len;
	const uint8_t *state; /* session-state block (without its lenenc length) */
	size_t state_len;
};
/* <caps>: the negotiated capabilities (SESSION_TRACK decides the layout). */
bool proto_parse_ok(const uint8_t *p, size_t len, uint32_t caps, struct proto_ok *ok);
/*
 * Rebuild an OK for a client that did not negotiate SESSION_TRACK: status
 * loses SESSION_STATE_CHANGED, the state block is dropped, and info is
 * kept only when non-empty, as the server itself would have encoded it.
 */
bool proto_build_ok_plain(struct pktbuf *pb, const struct proto_ok *ok);
/*
 * Rebuild an OK for a client with SESSION_TRACK whose state block is
 * <state>[<state_len>] (without its length): SESSION_STATE_CHANGED set
 * exactly when the block is not empty, info written as the server does.
 */
bool proto_build_ok_tracked(struct pktbuf *pb, const struct proto_ok *ok,
			    const uint8_t *state, size_t state_len);

struct proto_err {
	uint16_t code;
	char sqlstate[6]; /* "" when absent */
	const uint8_t *msg;
	size_t msg_len;
};
bool proto_parse_err(const uint8_t *p, size_t len, struct proto_err *err);
/* A MariaDB progress report (ERR with code 0xFFFF): it precedes the real
 * response, which goes on after it. */
bool proto_is_progress(const uint8_t *p, size_t len);

/* EOF packet (0xFE and len < 9) */
bool proto_is_eof(const uint8_t *p, size_t len);
bool proto_parse_eof(const uint8_t *p, size_t len, uint16_t *warnings, uint16_t *status);

/*
 * The logical packet at the head of <in> (chunks of 16 MiB - 1 joined):
 * its size on the wire, headers included, once it is whole; 0 while it
 * is not; (size_t)-1 as soon as its payload passes <max>.  *len gets the
 * payload length seen so far, *seq the first chunk's sequence id.
 */
size_t proto_packet_extent(struct evbuffer *in, size_t max, size_t *len,
			   uint8_t *seq);

/* Where the response parser stands within one command's response. */
enum resp_state {
	RESP_NONE,
	RESP_FIRST,	   /* next packet starts a result: OK/ERR/count/0xFB */
	RESP_COLDEFS,	   /* <left> column definitions to go */
	RESP_COLDEFS_EOF,  /* the EOF after column definitions */
	RESP_ROWS,	   /* rows until EOF/ERR */
	RESP_PREP_PARAMS,  /* prepare: parameter definitions */
	RESP_PREP_PEOF,
	RESP_PREP_COLS,
	RESP_PREP_CEOF,
	RESP_FIELDS,	   /* COM_FIELD_LIST: definitions until EOF */
	RESP_SINGLE,	   /* any one packet ends it (COM_STATISTICS) */
	RESP_INFILE,	   /* server asked for a local file; client sends it */
	RESP_AUTH,	   /* COM_CHANGE_USER: OK/ERR/switch */
	RESP_DONE,
};

/*
 * The response parser: where one command's response stands, packet by
 * packet, with no I/O and no allocation.  backend.c feeds it what it
 * relays or collects; the unit tests and a fuzz target feed it too.
 */
struct proto_resp {
	enum resp_state rs;
	uint8_t cmd;
	bool cursor;	   /* COM_STMT_EXECUTE with a cursor flag */
	uint64_t left;	   /* coldefs/params left */
	uint32_t prep_cols;
	uint16_t status;   /* the last status flags an OK or EOF reported */
	uint32_t caps;	   /* the session's: DEPRECATE_EOF, SESSION_TRACK */
	uint32_t ext_caps; /* the session's: PROGRESS, CACHE_METADATA */
};

/* Expect the response to command <payload>[<len>] (command byte first)
 * on a session of <caps>/<ext_caps> whose last status was <status>.
 * RESP_NONE: the command has no response. */
void proto_resp_start(struct proto_resp *r, const uint8_t *payload,
		      size_t len, uint32_t caps, uint32_t ext_caps,
		      uint16_t status);
/* Does packet <p> (its first <n> of <len> bytes) end a result? */
bool proto_resp_is_end(const struct proto_resp *r, const uint8_t *p, size_t n,
		       size_t len);
/* Advance over one logical packet, of which <p> holds the first <n> of
 * <len> bytes (all of them when small).  False on a packet that cannot
 * occur here.  RESP_DONE: the response is over. */
bool proto_resp_step(struct proto_resp *r, const uint8_t *p, size_t n,
		     size_t len);

/* HandshakeV10 from a server. Pointers point into the payload. */
struct proto_greeting {
	uint8_t protocol;
	const char *version;
	size_t version_len;
	uint32_t thread_id;
	uint8_t scramble[20];
	size_t scramble_len; /* 8 + part 2 (normally 20) */
	uint32_t caps;	     /* low | high << 16 */
	uint32_t ext_caps;   /* MariaDB ext caps (when CAP_LONG_PASSWORD clear) */
	uint8_t collation;
	uint16_t status;
	const char *plugin; /* may be NULL */
	size_t plugin_len;
};
bool proto_parse_greeting(const uint8_t *p, size_t len, struct proto_greeting *g);
/* Build HandshakeV10 (auth data len 21, part 2 = 12 bytes + NUL); <ext_caps>
 * fills the 4 MariaDB bytes only when CAP_LONG_PASSWORD is clear. */
bool proto_build_greeting(struct pktbuf *pb, const char *version, uint32_t thread_id,
			  const uint8_t scramble[20], uint32_t caps, uint32_t ext_caps,
			  uint8_t collation, uint16_t status, const char *plugin);

/* HandshakeResponse41 from a client, or the 32-byte SSLRequest prefix. */
struct proto_hsresp {
	uint32_t caps;
	uint32_t max_packet;
	uint8_t collation;
	uint32_t ext_caps;
	bool ssl_request; /* only the 32-byte prefix was present */
	const char *user;
	size_t user_len;
	const uint8_t *auth;
	size_t auth_len;
	const char *db; /* NULL when absent or empty */
	size_t db_len;
	const char *plugin; /* NULL when absent */
	size_t plugin_len;
	const uint8_t *attrs; /* connect attrs, without the total lenenc */
	size_t attrs_len;
};
bool proto_parse_hsresp(const uint8_t *p, size_t len, struct proto_hsresp *h);
/* Build HandshakeResponse41 (what we send to a backend). <attrs> may be NULL;
 * <ext_caps> as in proto_build_greeting. */
bool proto_build_hsresp(struct pktbuf *pb, uint32_t caps, uint32_t ext_caps,
			uint32_t max_packet, uint8_t collation, const char *user,
			const uint8_t *auth,
			size_t auth_len, const char *db, const char *plugin,
			const uint8_t *attrs, size_t attrs_len);

/* COM_CHANGE_USER payload (after the command byte). */
struct proto_chuser {
	const char *user;
	size_t user_len;
	const uint8_t *auth;
	size_t auth_len;
	const char *db;
	size_t db_len;
	bool has_collation;
	uint16_t collation;
	const char *plugin;
	size_t plugin_len;
	const uint8_t *attrs;
	size_t attrs_len;
};
bool proto_parse_change_user(const uint8_t *p, size_t len, uint32_t caps,
			     struct proto_chuser *cu);

/* Column definition (protocol 41). Pointers into the payload. */
struct proto_coldef {
	const uint8_t *catalog, *schema, *table, *org_table, *name, *org_name;
	size_t catalog_len, schema_len, table_len, org_table_len, name_len, org_name_len;
	uint16_t charset;
	uint32_t length;
	uint8_t type;
	uint16_t flags;
	uint8_t decimals;
};
/* <ext_meta>: the session negotiated EXT_METADATA, so a type info blob
 * (possibly empty) sits between org_name and the fixed fields. */
bool proto_parse_coldef(const uint8_t *p, size_t len, bool ext_meta,
			struct proto_coldef *cd);
bool proto_build_coldef(struct pktbuf *pb, const struct proto_coldef *cd);

/*
 * Text row: split into <ncols> fields.  vals[i] NULL means SQL NULL.
 * Returns false if the row does not hold exactly ncols fields.
 */
bool proto_parse_text_row(const uint8_t *p, size_t len, unsigned ncols,
			  const uint8_t **vals, size_t *lens);

/*
 * Binary row (0x00 header, NULL bitmap offset 2): compute each field's
 * extent from the column types.  Returns false on malformed input.
 */
bool proto_parse_binary_row(const uint8_t *p, size_t len, unsigned ncols,
			    const uint8_t *types, const uint8_t **vals, size_t *lens);

/* Scrambles.  out must hold 20 (native) / 32 (sha2) bytes. */
void proto_native_scramble(uint8_t out[20], const uint8_t nonce[20],
			   const char *password);
bool proto_native_check(const uint8_t *reply, size_t reply_len,
			const uint8_t nonce[20], const char *password);
void proto_sha2_scramble(uint8_t out[32], const uint8_t nonce[20],
			 const char *password);
bool proto_sha2_check(const uint8_t *reply, size_t reply_len,
		      const uint8_t nonce[20], const char *password);
/* 20 random printable bytes (0x21..0x7E), from RAND_bytes */
bool proto_make_nonce(uint8_t out[20]);

const char *proto_cmd_name(uint8_t cmd);

#endif /* IB_PROTO_H */
