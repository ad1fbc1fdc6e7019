/* wgl.h: a linearizability checker for one register (Wing & Gong's search
 * with Lowe's memoisation, as in Porcupine; docs research §5.2).
 *
 * Each operation is a write of a value or a read that returned a value, with
 * its call and return times (closed intervals: touching operations are
 * concurrent). A write whose outcome is unknown has ret = WGL_NEVER: it may
 * take effect at any point after its call, or never. Reads with unknown
 * outcome must be left out (they constrain nothing). */
#ifndef KAHUNA_SIM_WGL_H
#define KAHUNA_SIM_WGL_H

#include <stddef.h>
#include <stdint.h>

#define WGL_NEVER UINT64_MAX

enum { WGL_WRITE = 1, WGL_READ = 2 };

typedef struct wgl_op {
    int kind;
    uint64_t value;     /* written, or returned by the read */
    uint64_t call, ret;
} wgl_op;

/* 1: linearizable; 0: not (then *bad_op is an operation of the longest
 * linearizable prefix's frontier, for the report); -1: gave up after
 * max_steps search steps; -2: out of memory. init is the register's
 * initial value. */
int wgl_check(const wgl_op *ops, size_t n, uint64_t init, uint64_t max_steps, size_t *bad_op);

#endif
