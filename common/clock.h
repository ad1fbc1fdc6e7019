/* clock.h: the two clocks kahuna reads. Decisions (TTLs, timeouts) use the
 * monotonic clock; the wall clock is only data (log lines, idempotency
 * windows stamped into commands by the leader). Never read inside apply. */
#ifndef KAHUNA_CLOCK_H
#define KAHUNA_CLOCK_H

#include <stdint.h>

int64_t clock_mono_ms(void);
int64_t clock_mono_us(void);
int64_t clock_wall_ms(void);

#endif
