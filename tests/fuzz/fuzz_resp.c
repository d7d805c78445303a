/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * fuzz_resp.c: libFuzzer target for the response parser.  The first
 * byte picks the session's capabilities and the command; the rest is a
 * stream of packets, each a one-byte length and its payload, fed to
 * proto_resp_step() until it ends or refuses one.  Each packet is also
 * fed as a streamed head (fewer bytes than its length says). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static const uint8_t fuzz_cmds[8] = {
	COM_QUERY, COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_FIELD_LIST,
	COM_STMT_FETCH, COM_STATISTICS, COM_SET_OPTION, COM_STMT_CLOSE,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_resp r, s;
	uint8_t cmd[10] = { 0 }, *pkt;
	size_t pos = 1, n;

	if (size < 1)
		return 0;
	cmd[0] = fuzz_cmds[data[0] & 7];
	cmd[5] = (data[0] & 8) ? 1 : 0; /* a cursor, for EXECUTE */
	proto_resp_start(&r, cmd, sizeof(cmd),
			 (data[0] & 16) ? CAP_DEPRECATE_EOF : 0,
			 ((data[0] & 32) ? EXT_PROGRESS : 0) |
				 ((data[0] & 64) ? EXT_CACHE_METADATA : 0),
			 0);
	while (pos < size && r.rs != RESP_NONE && r.rs != RESP_DONE &&
	       r.rs != RESP_INFILE) {
		n = data[pos++];
		if (n > size - pos)
			n = size - pos;
		/* a private heap copy: ASan flags even a one-byte overrun */
		pkt = malloc(n ? n : 1);
		if (!pkt)
			return 0;
		memcpy(pkt, data + pos, n);
		pos += n;
		/* the same packet streamed: only its head is seen */
		s = r;
		if (n > 0)
			(void)proto_resp_step(&s, pkt, n / 2, n + 1000);
		(void)proto_resp_is_end(&r, pkt, n, n);
		if (!proto_resp_step(&r, pkt, n, n)) {
			free(pkt);
			break;
		}
		free(pkt);
		if (r.rs > RESP_DONE)
			abort();
	}
	return 0;
}
