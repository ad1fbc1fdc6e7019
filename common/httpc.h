/* httpc.h: a small HTTP/1.1 client over libcurl, for kahuna-cli and for the
 * daemon's peer traffic (forwarding to the leader, Raft RPC).
 *
 * One httpc keeps one CURL easy handle, so its connections are kept alive and
 * reused between requests. A client is not thread-safe: use one per thread.
 * Call httpc_global_init() once per process, before any thread is started
 * and before the first httpc_new().
 *
 * httpc_do() tells three outcomes apart, so that a caller with several
 * endpoints knows whether trying the next one is safe:
 *   0                    an HTTP answer arrived (any status: look at it)
 *   KAHUNA_EUNAVAILABLE  no connection was made, nothing was sent: safe to
 *                        try another endpoint
 *   KAHUNA_ETIMEOUT      the request was sent but no full answer came within
 *                        the time limit: the outcome is unknown
 *   KAHUNA_EIO           the request was sent, then the connection broke or
 *                        the answer was malformed: the outcome is unknown
 *   KAHUNA_ECANCELED     the caller's cancel callback asked to stop
 *   KAHUNA_ETOOLARGE     the answer's body exceeded the client's limit
 *   KAHUNA_ENOMEM, KAHUNA_EINTERNAL, KAHUNA_EBADREQ (bad method or URL)
 * Proxies from the environment (http_proxy, ...) are never used, and
 * redirects are not followed. */
#ifndef KAHUNA_HTTPC_H
#define KAHUNA_HTTPC_H

#include "buf.h"

#include <stdint.h>

typedef struct httpc httpc;

typedef struct httpc_request {
    const char *method;        /* "GET", "PUT", "POST", "PATCH", "DELETE", "HEAD" */
    const char *url;           /* full URL, already percent-encoded */
    const char *content_type;  /* of the body; NULL sends no Content-Type */
    kbytes body;               /* request body (may be empty) */
    int64_t timeout_ms;        /* whole request, connect included; <= 0: none */
    int64_t connect_timeout_ms;/* connect phase alone; <= 0: same as timeout_ms */
    const char *const *headers;/* extra "Name: value" lines, NULL-terminated; may be NULL */
    /* Polled while waiting (about every 100 ms or more often); returning
     * non-zero aborts the request with KAHUNA_ECANCELED. May be NULL. */
    int (*cancel)(void *arg);
    void *cancel_arg;
} httpc_request;

typedef struct httpc_response {
    int status;                /* HTTP status code, e.g. 200, 404, 503 */
    kbuf body;                 /* the body's bytes (binary-safe) */
    char *content_type;        /* Content-Type header, or NULL */
    char *leader;              /* X-Kahuna-Leader header, or NULL */
    int64_t retry_after_ms;    /* Retry-After (delta seconds) in ms, or -1 */
} httpc_response;

#define HTTPC_RESPONSE_INIT {0, KBUF_INIT, NULL, NULL, -1}

/* The options every libcurl handle of kahuna shares (the CLI's, the peer
 * transport's, the forwarder's): no signals, no proxy from the
 * environment, http and https only, TCP_NODELAY, the error buffer (at least
 * CURL_ERROR_SIZE bytes) and the user agent. easy is a CURL *. Returns 0 or
 * KAHUNA_EINTERNAL. */
int httpc_easy_defaults(void *easy, char *errbuf, const char *user_agent);

/* Once per process, before any thread: initialises libcurl. Returns 0 or
 * KAHUNA_EINTERNAL. httpc_global_cleanup() undoes it at exit (optional). */
int httpc_global_init(void);
void httpc_global_cleanup(void);

/* Creates a client; free it with httpc_free(). Returns 0, KAHUNA_ENOMEM or
 * KAHUNA_EINTERNAL. */
int httpc_new(httpc **out);
void httpc_free(httpc *c);

/* Largest response body accepted (default 256 MiB). */
void httpc_set_max_body(httpc *c, size_t max);

/* Sends one request and waits for the answer (see the outcomes above).
 * resp must be initialised (HTTPC_RESPONSE_INIT) or previously used: it is
 * reset first; the caller frees it with httpc_response_free(), whatever the
 * return value. */
int httpc_do(httpc *c, const httpc_request *req, httpc_response *resp);

/* A short description of why the last httpc_do() failed ("Connection
 * refused", ...). Owned by the client, valid until its next request. */
const char *httpc_last_error(const httpc *c);

/* Frees what resp holds and resets it to HTTPC_RESPONSE_INIT. */
void httpc_response_free(httpc_response *resp);

/* Closes the client's kept-alive connections (for example in a child after
 * fork, or when a peer is known to be gone). */
void httpc_close_connections(httpc *c);

#endif
