/* log.c: the Raft log as the core sees it.
 *
 *   (.. prev_index]          compacted away (covered by a snapshot)
 *   (prev_index, stable_last] in the caller's storage, read through the
 *                            raft_storage callbacks
 *   (stable_last, last]      the unstable tail, in memory (u[]), until the
 *                            caller reports it durable (raft_persisted)
 *
 * A rewrite that starts at or below stable_last moves stable_last down: the
 * stored entries from there on are logically gone at once, and physically
 * replaced when the caller persists the update that carries the new ones
 * (it deletes every stored entry >= the first index it writes). The core
 * never reads storage beyond stable_last, so it never sees a stale entry. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

uint64_t raft_log_last_index(const raft_log *l)
{
    return l->un ? l->u[l->un - 1].index : l->stable_last;
}

uint64_t raft_log_first_index(const raft_log *l)
{
    return l->prev_index + 1;
}

int raft_log_term(raft_log *l, uint64_t index, uint64_t *term)
{
    *term = 0;
    if (index == l->prev_index) {
        *term = l->prev_term;
        return 0;
    }
    if (index < l->prev_index)
        return index == 0 ? 0 : KAHUNA_ECOMPACTED;
    if (index > raft_log_last_index(l))
        return KAHUNA_ENOTFOUND;
    if (index > l->stable_last) {
        *term = l->u[index - l->stable_last - 1].term;
        return 0;
    }
    int rc = l->st.term(l->st.arg, index, term);
    return rc < 0 ? (rc == KAHUNA_ENOMEM ? rc : KAHUNA_EIO) : 0;
}

int raft_log_last_term(raft_log *l, uint64_t *term)
{
    return raft_log_term(l, raft_log_last_index(l), term);
}

int raft_log_match(raft_log *l, uint64_t index, uint64_t term)
{
    uint64_t t;
    return raft_log_term(l, index, &t) == 0 && t == term;
}

static int copy_entry(raft_entry *dst, const raft_entry *src)
{
    *dst = *src;
    dst->data = NULL;
    if (src->len) {
        dst->data = malloc(src->len);
        if (!dst->data)
            return KAHUNA_ENOMEM;
        memcpy(dst->data, src->data, src->len);
    }
    return 0;
}

/* Reads [lo, hi] from storage, checking what the callback returns. */
static int read_stable(raft_log *l, uint64_t lo, uint64_t hi, size_t max_bytes,
                       raft_entry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int rc = l->st.entries(l->st.arg, lo, hi, max_bytes, out, n);
    if (rc < 0)
        return rc == KAHUNA_ENOMEM ? rc : KAHUNA_EIO;
    int bad = *n == 0 || *n > hi - lo + 1;
    for (size_t i = 0; i < *n && !bad; i++)
        bad = (*out)[i].index != lo + i || (*out)[i].type > RAFT_ENTRY_CONFIG ||
              ((*out)[i].len && !(*out)[i].data);
    if (bad) {
        raft_entries_free(*out, *n);
        *out = NULL;
        *n = 0;
        return KAHUNA_EIO;
    }
    return 0;
}

int raft_log_slice(raft_log *l, uint64_t lo, uint64_t hi, size_t max_n, size_t max_bytes,
                   raft_entry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (lo <= l->prev_index)
        return KAHUNA_ECOMPACTED;
    if (hi > raft_log_last_index(l) || lo > hi)
        return KAHUNA_EINTERNAL;
    if (hi - lo + 1 < max_n)
        max_n = (size_t)(hi - lo + 1);
    raft_entry *res = NULL;
    size_t cnt = 0, bytes = 0;
    if (lo <= l->stable_last) {
        uint64_t shi = hi < l->stable_last ? hi : l->stable_last;
        if (shi - lo + 1 > max_n)
            shi = lo + max_n - 1;
        int rc = read_stable(l, lo, shi, max_bytes, &res, &cnt);
        if (rc < 0)
            return rc;
        /* Trim to the byte limit: a callback may return more. */
        size_t keep = 0;
        for (; keep < cnt; keep++) {
            if (keep > 0 && bytes + res[keep].len > max_bytes)
                break;
            bytes += res[keep].len;
        }
        for (size_t i = keep; i < cnt; i++)
            free(res[i].data);
        cnt = keep;
        if (cnt < (size_t)(shi - lo + 1) || shi == hi || cnt == max_n) {
            *out = res;
            *n = cnt;
            return 0;
        }
    }
    uint64_t ulo = lo > l->stable_last ? lo : l->stable_last + 1;
    size_t cap = cnt;
    for (uint64_t i = ulo; i <= hi && cnt < max_n; i++) {
        const raft_entry *e = &l->u[i - l->stable_last - 1];
        if (cnt > 0 && bytes + e->len > max_bytes)
            break;
        raft_entry *slot = raft_vec_push(&res, &cnt, &cap, sizeof *res);
        if (!slot || copy_entry(slot, e) < 0) {
            if (slot)
                cnt--;
            raft_entries_free(res, cnt);
            return KAHUNA_ENOMEM;
        }
        bytes += e->len;
    }
    *out = res;
    *n = cnt;
    return 0;
}

static void drop_unstable_from(raft_log *l, size_t k)
{
    for (size_t i = k; i < l->un; i++)
        free(l->u[i].data);
    l->un = k;
}

/* Entries >= index are dropped (they conflict with what comes next). */
static void truncate_from(raft *r, uint64_t index)
{
    raft_log *l = &r->log;
    raft_memb_truncate(r, index);
    if (index <= l->stable_last) {
        drop_unstable_from(l, 0);
        l->stable_last = index - 1;
    } else {
        drop_unstable_from(l, (size_t)(index - l->stable_last - 1));
    }
    if (l->handed > index - 1)
        l->handed = index - 1;
    raft_persist_floor(r, index - 1);
}

int raft_log_append(raft *r, const raft_entry *e, size_t n)
{
    raft_log *l = &r->log;
    if (n == 0)
        return 0;
    uint64_t first = e[0].index;
    uint64_t last = raft_log_last_index(l);
    if (first > last + 1 || first <= l->commit || first <= l->prev_index)
        return KAHUNA_EINTERNAL;   /* a gap, or a rewrite of committed entries */
    if (first <= last)
        truncate_from(r, first);
    if (l->un + n > l->ucap) {
        size_t nc = l->ucap ? l->ucap : 16;
        while (nc < l->un + n)
            nc *= 2;
        raft_entry *p = realloc(l->u, nc * sizeof *p);
        if (!p)
            return KAHUNA_ENOMEM;
        l->u = p;
        l->ucap = nc;
    }
    for (size_t i = 0; i < n; i++) {
        if (e[i].index != first + i)
            return KAHUNA_EINTERNAL;
        int rc = copy_entry(&l->u[l->un], &e[i]);
        if (rc < 0)
            return rc;
        l->un++;
        if (e[i].type == RAFT_ENTRY_CONFIG) {
            rc = raft_memb_on_append(r, &e[i]);
            if (rc < 0)
                return rc == KAHUNA_EBADREQ ? KAHUNA_EINTERNAL : rc;
        }
    }
    return 0;
}

void raft_log_stable_to(raft_log *l, uint64_t index)
{
    if (index <= l->stable_last || l->un == 0)
        return;
    uint64_t last = raft_log_last_index(l);
    if (index > last)
        index = last;
    size_t k = (size_t)(index - l->stable_last);
    for (size_t i = 0; i < k; i++)
        free(l->u[i].data);
    memmove(l->u, l->u + k, (l->un - k) * sizeof *l->u);
    l->un -= k;
    l->stable_last = index;
    if (l->handed < index)
        l->handed = index;
}

void raft_log_free(raft_log *l)
{
    drop_unstable_from(l, 0);
    free(l->u);
    l->u = NULL;
    l->ucap = 0;
}
