/* errors.h: the status codes every kahuna module returns.
 *
 * Functions return 0 on success or a negative KAHUNA_E* code, and put their
 * results in out-parameters. The text a user sees is made at the edge (REST,
 * RESP, CLI) from the code, with kahuna_error_name() for the REST "code"
 * field and kahuna_strerror() for a default message. */
#ifndef KAHUNA_ERRORS_H
#define KAHUNA_ERRORS_H

enum {
    KAHUNA_OK = 0,
    KAHUNA_EBADREQ = -1,      /* malformed or invalid input: 400 bad_request */
    KAHUNA_ENOTFOUND = -2,    /* no such key, lock, sequence: 404 not_found */
    KAHUNA_ELOCKHELD = -3,    /* lock held by another owner: 409 lock_held */
    KAHUNA_ENOTOWNER = -4,    /* caller does not own the lock: 409 not_owner */
    KAHUNA_ECONDITION = -5,   /* a write condition did not hold: 409 condition_failed */
    KAHUNA_ECOMPACTED = -6,   /* asked revision older than kept history: 410 compacted */
    KAHUNA_ETOOLARGE = -7,    /* key, value or body over its limit: 413 too_large */
    KAHUNA_EUNAVAILABLE = -8, /* no leader or no quorum: 503 unavailable */
    KAHUNA_ETIMEOUT = -9,     /* outcome unknown within the deadline: 504 timeout */
    KAHUNA_EINTERNAL = -10,   /* a bug or an unexpected library error: 500 internal */
    KAHUNA_ENOMEM = -11,      /* out of memory: 500 internal */
    KAHUNA_EIO = -12,         /* disk or storage error: 500 internal */
    KAHUNA_ECANCELED = -13,   /* the request went away before it was served */
    KAHUNA_EMISMATCH = -14,   /* data dir belongs to another node id or cluster */
    KAHUNA_ESHUTDOWN = -15,   /* the node is stopping: 503 unavailable */
    KAHUNA_EWRONGTYPE = -16,  /* operation on a value of the wrong kind (RESP) */
    KAHUNA_ERANGE = -17,      /* numeric overflow or out of range (RESP INCR, ...) */
};

/* "bad_request", "not_found", ... : the REST error code for a status. */
const char *kahuna_error_name(int status);

/* A short default message for a status, for logs and error bodies. */
const char *kahuna_strerror(int status);

/* The HTTP status that goes with a KAHUNA_E* code (200 for KAHUNA_OK). */
int kahuna_http_status(int status);

#endif
