/* reply.c: building API replies: JSON bodies and the one error shape of
 * SPEC §3, {"error":{"code","message"}} plus useful top-level fields. */
#include "api_internal.h"

#include <string.h>

#include "errors.h"
#include "utf8.h"

void api_reply_json(api_reply *out, int http_status, jw *w)
{
    out->http_status = http_status;
    out->content_type = API_JSON;
    kbuf_reset(out->body);
    jw_init(w, out->body);
}

/* Writes message as a JSON string; a message that is not valid UTF-8 (a
 * parser's excerpt of the input cut short) has its non-ASCII bytes
 * replaced by '?'. */
static void put_message(jw *w, const char *message)
{
    size_t n = strlen(message);
    if (utf8_valid((const uint8_t *)message, n)) {
        jw_str(w, "message", message);
        return;
    }
    char clean[256];
    if (n >= sizeof clean)
        n = sizeof clean - 1;
    for (size_t i = 0; i < n; i++)
        clean[i] = (unsigned char)message[i] < 0x80 ? message[i] : '?';
    clean[n] = '\0';
    jw_str(w, "message", clean);
}

void api_reply_error_open(api_reply *out, int status, const char *message, jw *w)
{
    api_reply_json(out, kahuna_http_status(status), w);
    if (status == KAHUNA_EUNAVAILABLE || status == KAHUNA_ESHUTDOWN)
        out->retry_after = 1;
    jw_obj_open(w, NULL);
    jw_obj_open(w, "error");
    jw_str(w, "code", kahuna_error_name(status));
    put_message(w, message ? message : kahuna_strerror(status));
    jw_obj_close(w);
}

void api_reply_error_close(api_reply *out, jw *w)
{
    jw_obj_close(w);
    api_reply_finish(out, w);
}

void api_reply_error(api_reply *out, int status, const char *message)
{
    jw w;
    api_reply_error_open(out, status, message, &w);
    api_reply_error_close(out, &w);
}

void api_reply_finish(api_reply *out, jw *w)
{
    if (!jw_error(w))
        return;
    static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
    kbuf_reset(out->body);
    out->http_status = 500;
    out->content_type = API_JSON;
    out->raw_headers = 0;
    if (kbuf_append(out->body, oom, sizeof oom - 1))
        kbuf_reset(out->body);
}
