/* errors.c: names, messages and HTTP statuses for the KAHUNA_E* codes. */
#include "errors.h"

const char *kahuna_error_name(int status)
{
    switch (status) {
    case KAHUNA_OK: return "ok";
    case KAHUNA_EBADREQ: return "bad_request";
    case KAHUNA_ENOTFOUND: return "not_found";
    case KAHUNA_ELOCKHELD: return "lock_held";
    case KAHUNA_ENOTOWNER: return "not_owner";
    case KAHUNA_ECONDITION: return "condition_failed";
    case KAHUNA_ECOMPACTED: return "compacted";
    case KAHUNA_ETOOLARGE: return "too_large";
    case KAHUNA_EUNAVAILABLE: return "unavailable";
    case KAHUNA_ESHUTDOWN: return "unavailable";
    case KAHUNA_ETIMEOUT: return "timeout";
    case KAHUNA_EWRONGTYPE: return "wrong_type";
    case KAHUNA_ERANGE: return "bad_request";
    default: return "internal";
    }
}

const char *kahuna_strerror(int status)
{
    switch (status) {
    case KAHUNA_OK: return "ok";
    case KAHUNA_EBADREQ: return "bad request";
    case KAHUNA_ENOTFOUND: return "not found";
    case KAHUNA_ELOCKHELD: return "the lock is held by another owner";
    case KAHUNA_ENOTOWNER: return "the lock is not held by this owner";
    case KAHUNA_ECONDITION: return "the write condition did not hold";
    case KAHUNA_ECOMPACTED: return "that revision is older than the kept history";
    case KAHUNA_ETOOLARGE: return "too large";
    case KAHUNA_EUNAVAILABLE: return "no leader or no quorum; retry later";
    case KAHUNA_ETIMEOUT: return "the outcome is unknown: the request timed out";
    case KAHUNA_EINTERNAL: return "internal error";
    case KAHUNA_ENOMEM: return "out of memory";
    case KAHUNA_EIO: return "storage error";
    case KAHUNA_ECANCELED: return "request canceled";
    case KAHUNA_EMISMATCH: return "the data directory belongs to another node";
    case KAHUNA_ESHUTDOWN: return "the node is shutting down; retry on another node";
    case KAHUNA_EWRONGTYPE: return "operation against a value of the wrong kind";
    case KAHUNA_ERANGE: return "value out of range";
    default: return "unknown error";
    }
}

int kahuna_http_status(int status)
{
    switch (status) {
    case KAHUNA_OK: return 200;
    case KAHUNA_EBADREQ: return 400;
    case KAHUNA_ERANGE: return 400;
    case KAHUNA_ENOTFOUND: return 404;
    case KAHUNA_ELOCKHELD:
    case KAHUNA_ENOTOWNER:
    case KAHUNA_ECONDITION:
    case KAHUNA_EWRONGTYPE: return 409;
    case KAHUNA_ECOMPACTED: return 410;
    case KAHUNA_ETOOLARGE: return 413;
    case KAHUNA_EUNAVAILABLE:
    case KAHUNA_ESHUTDOWN: return 503;
    case KAHUNA_ETIMEOUT: return 504;
    default: return 500;
    }
}
