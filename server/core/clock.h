/* server/core/clock.h: the one clock of cityd (wall time in ms since the epoch, UTC).
 *
 * Every deadline, token lifetime and timestamp reads this clock, so tests can move time with
 * clock_set_offset_ms() (exposed only when testing.clock_control is on). Thread-safe. */
#ifndef CITYD_CLOCK_H
#define CITYD_CLOCK_H

#include <stdint.h>

int64_t clock_now_ms(void);
int64_t clock_now_s(void);
/* Shift the clock by offset ms from real time (0 restores it). */
void clock_set_offset_ms(int64_t offset);
int64_t clock_offset_ms(void);
/* Monotonic time in ns for durations (never shifted). */
uint64_t clock_mono_ns(void);

#endif
