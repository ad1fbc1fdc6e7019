/* httpc.c: the HTTP client wrapper over libcurl (see httpc.h).
 *
 * Each client owns one multi handle and one easy handle. The multi handle
 * holds the connection cache, so connections are kept alive between
 * requests; driving the transfer ourselves (multi_perform + multi_poll with
 * a short poll) lets a caller cancel a long request (a lock wait) promptly.
 *
 * "Was anything sent?" is what decides whether another endpoint may be
 * tried: libcurl calls the pre-request callback once a connection is made
 * (or reused) and just before the request goes out. A failure before that
 * point is KAHUNA_EUNAVAILABLE; after it, the outcome is unknown. */
#include "httpc.h"
#include "errors.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTPC_DEFAULT_MAX_BODY ((size_t)256 * 1024 * 1024)
#define HTTPC_CANCEL_POLL_MS 100
#define HTTPC_IDLE_POLL_MS 1000

struct httpc {
    CURLM *multi;
    CURL *easy;
    size_t max_body;
    char errbuf[CURL_ERROR_SIZE];
    /* state of the request in flight */
    httpc_response *resp;
    int sent;
    int too_large;
    int nomem;
};

int httpc_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : KAHUNA_EINTERNAL;
}

void httpc_global_cleanup(void)
{
    curl_global_cleanup();
}

int httpc_new(httpc **out)
{
    httpc *c = calloc(1, sizeof(*c));
    if (!c)
        return KAHUNA_ENOMEM;
    c->multi = curl_multi_init();
    c->easy = curl_easy_init();
    if (!c->multi || !c->easy) {
        httpc_free(c);
        return KAHUNA_EINTERNAL;
    }
    c->max_body = HTTPC_DEFAULT_MAX_BODY;
    *out = c;
    return 0;
}

void httpc_free(httpc *c)
{
    if (!c)
        return;
    if (c->easy)
        curl_easy_cleanup(c->easy);
    if (c->multi)
        curl_multi_cleanup(c->multi);
    free(c);
}

void httpc_set_max_body(httpc *c, size_t max)
{
    c->max_body = max;
}

const char *httpc_last_error(const httpc *c)
{
    return c->errbuf[0] ? c->errbuf : "no error";
}

void httpc_response_free(httpc_response *resp)
{
    kbuf_free(&resp->body);
    free(resp->content_type);
    free(resp->leader);
    resp->status = 0;
    resp->content_type = NULL;
    resp->leader = NULL;
    resp->retry_after_ms = -1;
}

void httpc_close_connections(httpc *c)
{
    /* The connection cache lives in the multi handle: a new one starts
     * empty. Keep the old handles when the new ones cannot be made. */
    CURLM *m = curl_multi_init();
    if (!m)
        return;
    curl_multi_cleanup(c->multi);
    c->multi = m;
}

static void set_error(httpc *c, const char *msg)
{
    size_t n = strlen(msg);
    if (n >= sizeof(c->errbuf))
        n = sizeof(c->errbuf) - 1;
    memcpy(c->errbuf, msg, n);
    c->errbuf[n] = '\0';
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    httpc *c = arg;
    size_t n = size * nmemb;
    if (c->resp->body.len + n > c->max_body || c->resp->body.len + n < n) {
        c->too_large = 1;
        return 0;
    }
    if (kbuf_append(&c->resp->body, p, n) != 0) {
        c->nomem = 1;
        return 0;
    }
    return n;
}

/* Copies the trimmed value of a header line into *dst (replacing it). */
static int keep_value(const char *v, size_t n, char **dst)
{
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    char *s = kbytes_strdup(kbytes_make(v, n));
    if (!s)
        return KAHUNA_ENOMEM;
    free(*dst);
    *dst = s;
    return 0;
}

static int64_t parse_retry_after(const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    int64_t secs = 0;
    size_t i = 0;
    for (; i < n && v[i] >= '0' && v[i] <= '9'; i++) {
        if (secs > 1000000)
            return -1; /* absurd: ignore it */
        secs = secs * 10 + (v[i] - '0');
    }
    if (i == 0)
        return -1; /* an HTTP date: not worth parsing here */
    for (; i < n; i++)
        if (v[i] != '\r' && v[i] != '\n' && v[i] != ' ' && v[i] != '\t')
            return -1;
    return secs * 1000;
}

static int header_is(const char *line, size_t n, const char *name, const char **val, size_t *vn)
{
    size_t k = strlen(name);
    if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0)
        return 0;
    *val = line + k + 1;
    *vn = n - k - 1;
    return 1;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    httpc *c = arg;
    httpc_response *r = c->resp;
    size_t n = size * nmemb;
    const char *v;
    size_t vn;
    int rc = 0;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* A new status line (after a 100 Continue, say): forget the
         * headers of the previous one. */
        free(r->content_type);
        free(r->leader);
        r->content_type = NULL;
        r->leader = NULL;
        r->retry_after_ms = -1;
    } else if (header_is(p, n, "Content-Type", &v, &vn)) {
        rc = keep_value(v, vn, &r->content_type);
    } else if (header_is(p, n, "X-Kahuna-Leader", &v, &vn)) {
        rc = keep_value(v, vn, &r->leader);
    } else if (header_is(p, n, "Retry-After", &v, &vn)) {
        r->retry_after_ms = parse_retry_after(v, vn);
    }
    if (rc) {
        c->nomem = 1;
        return 0;
    }
    return n;
}

static int on_prereq(void *arg, char *ip, char *local_ip, int port, int local_port)
{
    httpc *c = arg;
    c->sent = 1;
    return CURL_PREREQFUNC_OK;
}

/* Sockets must not leak into programs that kahuna-cli runs (lock run). */
static int on_sockopt(void *arg, curl_socket_t fd, curlsocktype purpose)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
        return CURL_SOCKOPT_ERROR;
    return CURL_SOCKOPT_OK;
}

static int valid_method(const char *m)
{
    static const char *const ok[] = {"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(m, ok[i]) == 0)
            return 1;
    return 0;
}

/* The header lines of a request: no "Expect: 100-continue" round trip, the
 * caller's content type (or none, never libcurl's form type), the extras.
 * Returns NULL when out of memory. */
static struct curl_slist *make_headers(const httpc_request *req, int send_body)
{
    struct curl_slist *h = NULL, *t;
    kbuf line = KBUF_INIT;
    if (!(h = curl_slist_append(NULL, "Expect:")))
        return NULL;
    if (send_body) {
        if (req->content_type) {
            if (kbuf_printf(&line, "Content-Type: %s", req->content_type))
                goto nomem;
            t = curl_slist_append(h, kbuf_str(&line));
        } else {
            t = curl_slist_append(h, "Content-Type:");
        }
        if (!t)
            goto nomem;
        h = t;
    }
    for (const char *const *x = req->headers; x && *x; x++) {
        if (!(t = curl_slist_append(h, *x)))
            goto nomem;
        h = t;
    }
    kbuf_free(&line);
    return h;
nomem:
    kbuf_free(&line);
    curl_slist_free_all(h);
    return NULL;
}

int httpc_easy_defaults(void *easy, char *errbuf, const char *user_agent)
{
    CURL *e = easy;
#define DEFOPT(opt, val) do { if (curl_easy_setopt(e, opt, val) != CURLE_OK) return KAHUNA_EINTERNAL; } while (0)
    DEFOPT(CURLOPT_NOSIGNAL, 1L);
    DEFOPT(CURLOPT_PROXY, "");
#if LIBCURL_VERSION_NUM >= 0x075500
    DEFOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    DEFOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    DEFOPT(CURLOPT_ERRORBUFFER, errbuf);
    DEFOPT(CURLOPT_USERAGENT, user_agent);
    DEFOPT(CURLOPT_TCP_NODELAY, 1L);
#undef DEFOPT
    return 0;
}

#define SETOPT(opt, val) do { if (curl_easy_setopt(e, opt, val) != CURLE_OK) goto setopt_failed; } while (0)

/* Sets every option of one request on the easy handle. *hdrs receives the
 * header list, which the caller frees after the transfer. */
static int setup(httpc *c, const httpc_request *req, struct curl_slist **hdrs)
{
    CURL *e = c->easy;
    int is_get = strcmp(req->method, "GET") == 0;
    int is_head = strcmp(req->method, "HEAD") == 0;
    int send_body = !is_get && !is_head && (req->body.n > 0 || strcmp(req->method, "DELETE") != 0);

    *hdrs = make_headers(req, send_body);
    if (!*hdrs) {
        set_error(c, "out of memory");
        return KAHUNA_ENOMEM;
    }
    curl_easy_reset(e);
    SETOPT(CURLOPT_URL, req->url);
    SETOPT(CURLOPT_HTTPHEADER, *hdrs);
    if (httpc_easy_defaults(e, c->errbuf, "kahuna") != 0)
        goto setopt_failed;
    SETOPT(CURLOPT_PATH_AS_IS, 1L);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, c);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, c);
    SETOPT(CURLOPT_PREREQFUNCTION, on_prereq);
    SETOPT(CURLOPT_PREREQDATA, c);
    SETOPT(CURLOPT_SOCKOPTFUNCTION, on_sockopt);
    SETOPT(CURLOPT_SOCKOPTDATA, c);
    if (req->timeout_ms > 0)
        SETOPT(CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    if (req->connect_timeout_ms > 0)
        SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)req->connect_timeout_ms);
    else if (req->timeout_ms > 0)
        SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)req->timeout_ms);

    if (is_get) {
        SETOPT(CURLOPT_HTTPGET, 1L);
    } else if (is_head) {
        SETOPT(CURLOPT_NOBODY, 1L);
    } else {
        SETOPT(CURLOPT_CUSTOMREQUEST, req->method);
        if (send_body) {
            SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.n);
            SETOPT(CURLOPT_POSTFIELDS, req->body.n ? (const char *)req->body.p : "");
        }
    }
    return 0;

setopt_failed:
    set_error(c, "libcurl refused an option");
    return KAHUNA_EINTERNAL;
}

int httpc_do(httpc *c, const httpc_request *req, httpc_response *resp)
{
    struct curl_slist *hdrs = NULL;
    int rc;

    httpc_response_free(resp);
    c->errbuf[0] = '\0';
    c->resp = resp;
    c->sent = 0;
    c->too_large = 0;
    c->nomem = 0;
    if (!req->method || !req->url || !valid_method(req->method)) {
        set_error(c, "bad method or URL");
        return KAHUNA_EBADREQ;
    }
    rc = setup(c, req, &hdrs);
    if (rc) {
        curl_slist_free_all(hdrs);
        return rc;
    }
    if (curl_multi_add_handle(c->multi, c->easy) != CURLM_OK) {
        curl_slist_free_all(hdrs);
        set_error(c, "libcurl could not start the request");
        return KAHUNA_EINTERNAL;
    }

    int canceled = 0, running = 1;
    CURLcode result = CURLE_OK;
    for (;;) {
        CURLMcode mc = curl_multi_perform(c->multi, &running);
        if (mc != CURLM_OK) {
            set_error(c, curl_multi_strerror(mc));
            rc = KAHUNA_EINTERNAL;
            break;
        }
        if (!running)
            break;
        if (req->cancel && req->cancel(req->cancel_arg)) {
            canceled = 1;
            break;
        }
        mc = curl_multi_poll(c->multi, NULL, 0, req->cancel ? HTTPC_CANCEL_POLL_MS : HTTPC_IDLE_POLL_MS, NULL);
        if (mc != CURLM_OK) {
            set_error(c, curl_multi_strerror(mc));
            rc = KAHUNA_EINTERNAL;
            break;
        }
    }
    if (!rc && !canceled) {
        int left;
        CURLMsg *msg;
        result = CURLE_GOT_NOTHING;
        while ((msg = curl_multi_info_read(c->multi, &left)))
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == c->easy)
                result = msg->data.result;
    }
    curl_multi_remove_handle(c->multi, c->easy);
    curl_slist_free_all(hdrs);
    c->resp = NULL;

    if (rc)
        return rc;
    if (canceled) {
        set_error(c, "request canceled");
        return KAHUNA_ECANCELED;
    }
    if (result == CURLE_OK) {
        long status = 0;
        if (curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status < 100) {
            set_error(c, "no HTTP status in the answer");
            return KAHUNA_EIO;
        }
        resp->status = (int)status;
        /* Body stays a valid (empty) C string even when nothing came. */
        if (kbuf_reserve(&resp->body, 0))
            return KAHUNA_ENOMEM;
        return 0;
    }
    if (!c->errbuf[0])
        set_error(c, curl_easy_strerror(result));
    if (c->too_large) {
        set_error(c, "the answer is larger than the client accepts");
        return KAHUNA_ETOOLARGE;
    }
    if (c->nomem || result == CURLE_OUT_OF_MEMORY)
        return KAHUNA_ENOMEM;
    if (result == CURLE_URL_MALFORMAT || result == CURLE_UNSUPPORTED_PROTOCOL)
        return KAHUNA_EBADREQ;
    if (!c->sent)
        return KAHUNA_EUNAVAILABLE;
    if (result == CURLE_OPERATION_TIMEDOUT)
        return KAHUNA_ETIMEOUT;
    return KAHUNA_EIO;
}
