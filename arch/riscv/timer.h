// The periodic tick: a supervisor timer interrupt on every online hart, HZ
// times a second (timer.c).
#ifndef TIMER_H
#define TIMER_H

#include <stdbool.h>
#include <stdint.h>

#define HZ_DEFAULT 100
#define HZ_MAX     100000 // the tick interval must stay well above the handler's cost

struct fdt_info;

// Boot hart, once: the rate, and how to program the timer (Sstc's stimecmp
// where the ISA string lists it and the firmware lets us write it, else the
// SBI TIME call). Prints what it chose.
void timer_init(const struct fdt_info *fi, unsigned hz);
void timer_start_hart(void); // this hart's first deadline; sie.STIE on
void timer_interrupt(void);  // trap.c: count the tick, call tick_hook, set the next

unsigned timer_hz(void);
void timer_set_hz(unsigned hz);          // from the next tick on, on every hart (1..HZ_MAX)
void timer_pause_all(void);              // no more ticks on any hart until timer_resume_all
void timer_resume_all(void);             // (bench: keeps ticks out of a counted region)
bool timer_uses_sstc(void);              // stimecmp rather than SBI calls
extern void (*volatile tick_hook)(void); // if set, called on every tick, in the handler

#endif
