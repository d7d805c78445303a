/* inbatch - MySQL proxy that batches N+1 lookups. BSD-2-Clause.
 * tls.c: frontend TLS with OpenSSL through bufferevent_openssl.  MySQL
 * upgrades in band, so the filter is put on top of the plain connection
 * after the SSLRequest packet instead of at accept. */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <event2/bufferevent_ssl.h>

/* Process-wide: made from the configuration, then only read; every
 * loop's connections could share them. */
static SSL_CTX *tls_ctx;
static SSL_CTX *tls_backend_ctx;

static void tls_log_errors(void)
{
	unsigned long e;

	while ((e = ERR_get_error()) != 0)
		log_error("TLS: %s", ERR_error_string(e, NULL));
}

/* The client context for backends; NULL (logged) on failure. */
static SSL_CTX *tls_make_backend_ctx(const struct ib_config *cfg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (cfg->backend_tls == CFG_BTLS_VERIFY_CA) {
		/* VERIFY_CA as MySQL clients mean it: the chain, not the name */
		if (SSL_CTX_load_verify_locations(ctx, cfg->backend_tls_ca,
						  NULL) != 1) {
			tls_log_errors();
			SSL_CTX_free(ctx);
			return NULL;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	return ctx;
}

static SSL_CTX *tls_make_ctx(const struct ib_config *cfg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		tls_log_errors();
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

bool tls_init(const struct ib_config *cfg)
{
	if (cfg->backend_tls != CFG_BTLS_DISABLE) {
		tls_backend_ctx = tls_make_backend_ctx(cfg);
		if (!tls_backend_ctx)
			return false;
	}
	if (cfg->tls_mode == CFG_TLS_DISABLE)
		return true;
	tls_ctx = tls_make_ctx(cfg);
	return tls_ctx != NULL;
}

bool tls_backend_enabled(void)
{
	return tls_backend_ctx != NULL;
}

struct bufferevent *tls_connect(struct bufferevent *plain)
{
	SSL *ssl = SSL_new(tls_backend_ctx);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_filter_new(ib_loop->base, plain, ssl,
					     BUFFEREVENT_SSL_CONNECTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

void tls_reload(const struct ib_config *cfg)
{
	SSL_CTX *ctx;

	if (!tls_ctx)
		return; /* tls_mode needs a restart to change */
	ctx = tls_make_ctx(cfg);
	if (!ctx) {
		log_error("TLS: keeping the old certificate");
		return;
	}
	/* connections hold their own references to the old context */
	SSL_CTX_free(tls_ctx);
	tls_ctx = ctx;
}

void tls_free(void)
{
	SSL_CTX_free(tls_ctx);
	tls_ctx = NULL;
	SSL_CTX_free(tls_backend_ctx);
	tls_backend_ctx = NULL;
}

bool tls_enabled(void)
{
	return tls_ctx != NULL;
}

struct bufferevent *tls_accept(struct bufferevent *plain)
{
	SSL *ssl = SSL_new(tls_ctx);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_filter_new(ib_loop->base, plain, ssl,
					     BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		return NULL;
	}
	/* many clients close without close_notify */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	/*
	 * libevent 2.1 drives the handshake only from the underlying read
	 * callback; bytes already buffered there (a ClientHello sent with
	 * the SSLRequest) would otherwise wait for more input forever.
	 */
	bufferevent_trigger(plain, EV_READ,
			    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	return bev;
}
