//! libsplitbrain_clock.so: preloaded into a node's programs (`LD_PRELOAD`), it moves
//! their wall clock by the offset splitbrain's runtime writes to a control file
//! (`SPLITBRAIN_CLOCK_FILE`, text such as `+30.000`), and leaves every other clock alone.
//!
//! It exists because libfaketime cannot move Debian's Redis: redis-server is linked with
//! jemalloc, which reads the clock while libfaketime is still setting itself up, and
//! under libfaketime redis-server hangs at start ("libfaketime: Cannot recover from
//! unexpected recursive calls to clock_gettime()"; `MALLOC_CONF` settings do not help).
//! This shim cannot recurse that way: the real time comes from the `clock_gettime`
//! system call, never from libc's clock functions or a symbol looked up with dlsym, and
//! nothing on the path allocates (see [`control`]).
//!
//! Only calls through libc's dynamic symbols are moved: `clock_gettime` on the wall
//! clocks (`CLOCK_REALTIME`, `_COARSE`, `_ALARM`, and `CLOCK_TAI`), `gettimeofday` and
//! `time`. A statically linked program, or one that reads the vDSO itself (Go), keeps
//! the host's clock.

// time_t and c_long are 32 bits wide on 32-bit targets, where the casts to i64 widen.
#![allow(clippy::unnecessary_cast)]

mod control;
mod offset;

use libc::{c_int, c_void, clockid_t, time_t, timespec, timeval};

/// The clocks that follow the wall clock, and so move with it. Monotonic, boot-time and
/// CPU-time clocks pass through untouched: programs measure intervals and timeouts with
/// them, and a clock fault is about dates, not durations.
fn is_wall_clock(clock: clockid_t) -> bool {
    matches!(
        clock,
        libc::CLOCK_REALTIME
            | libc::CLOCK_REALTIME_COARSE
            | libc::CLOCK_TAI
            | libc::CLOCK_REALTIME_ALARM
    )
}

/// The kernel's reading of `clock` into `*tp`; the system call's result (0, or -1 with
/// errno set).
///
/// # Safety
/// `tp` must be null or point to a writable timespec.
unsafe fn kernel_clock(clock: clockid_t, tp: *mut timespec) -> c_int {
    libc::syscall(libc::SYS_clock_gettime, clock, tp) as c_int
}

/// The kernel's wall clock moved by the offset in force.
fn moved_realtime() -> Option<timespec> {
    let mut ts = timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec.
    if unsafe { kernel_clock(libc::CLOCK_REALTIME, &mut ts) } != 0 {
        return None;
    }
    Some(moved(ts))
}

fn moved(ts: timespec) -> timespec {
    let offset_ns = control::offset_now_ns();
    if offset_ns == 0 {
        return ts;
    }
    let (seconds, nanoseconds) = offset::shifted(ts.tv_sec as i64, ts.tv_nsec as i64, offset_ns);
    timespec {
        tv_sec: seconds as time_t,
        tv_nsec: nanoseconds as _,
    }
}

/// libc's `clock_gettime`, with the wall clocks moved.
///
/// # Safety
/// As for libc's: `tp` must point to a writable timespec.
// In the crate's own test binary the symbol would replace libc's for the test harness.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn clock_gettime(clock: clockid_t, tp: *mut timespec) -> c_int {
    let rc = kernel_clock(clock, tp);
    if rc == 0 && is_wall_clock(clock) && !tp.is_null() {
        *tp = moved(*tp);
    }
    rc
}

/// libc's `gettimeofday`, moved with the wall clock.
///
/// # Safety
/// As for libc's: `tv` and `tz` must each be null or point to writable memory of their
/// type.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn gettimeofday(tv: *mut timeval, tz: *mut c_void) -> c_int {
    if !tz.is_null() {
        // The obsolete time zone, which nothing reads any more: reported as none (all
        // zero), as the kernel does unless one was set with settimeofday.
        core::ptr::write_bytes(tz.cast::<c_int>(), 0, 2);
    }
    if tv.is_null() {
        return 0;
    }
    let Some(ts) = moved_realtime() else {
        return -1;
    };
    (*tv).tv_sec = ts.tv_sec;
    (*tv).tv_usec = (ts.tv_nsec / 1000) as _;
    0
}

/// libc's `time`, moved with the wall clock.
///
/// # Safety
/// As for libc's: `tloc` must be null or point to a writable time_t.
#[cfg_attr(not(test), no_mangle)]
pub unsafe extern "C" fn time(tloc: *mut time_t) -> time_t {
    let Some(ts) = moved_realtime() else {
        return -1;
    };
    if !tloc.is_null() {
        *tloc = ts.tv_sec;
    }
    ts.tv_sec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_wall_clocks_move() {
        for wall in [
            libc::CLOCK_REALTIME,
            libc::CLOCK_REALTIME_COARSE,
            libc::CLOCK_TAI,
            libc::CLOCK_REALTIME_ALARM,
        ] {
            assert!(is_wall_clock(wall), "{wall}");
        }
        for other in [
            libc::CLOCK_MONOTONIC,
            libc::CLOCK_MONOTONIC_RAW,
            libc::CLOCK_MONOTONIC_COARSE,
            libc::CLOCK_BOOTTIME,
            libc::CLOCK_BOOTTIME_ALARM,
            libc::CLOCK_PROCESS_CPUTIME_ID,
            libc::CLOCK_THREAD_CPUTIME_ID,
            // A CPU-time clock of another process (pid 1), as clock_getcpuclockid makes.
            !1 << 3 | 2,
        ] {
            assert!(!is_wall_clock(other), "{other}");
        }
    }
}
