//! The offset in force: read from the control file that `SPLITBRAIN_CLOCK_FILE` names,
//! at most once per [`REREAD_INTERVAL_NS`], and cached in atomics between reads.
//!
//! Everything here runs inside a clock call of a program that knows nothing of us,
//! possibly while its allocator or its libc is still starting, possibly from a signal
//! handler. So it takes no lock, allocates nothing, resolves no symbol and reads no
//! clock but through the system call: the environment is read once into a static
//! buffer, the file with open/read/close into a buffer on the stack.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};

use crate::offset::{parse_offset_ns, NS_PER_S};

/// How long an offset read from the control file stays in force before it is read
/// again: a change the controller writes is in force within this.
pub const REREAD_INTERVAL_NS: i64 = 10_000_000;
/// The environment variable naming the control file, NUL-terminated for getenv.
const PATH_ENV: &[u8] = b"SPLITBRAIN_CLOCK_FILE\0";
/// Longest control-file path taken from the environment, its NUL included; a longer
/// one is ignored (no offset), as a missing one is.
const PATH_BYTES_MAX: usize = 256;
/// Most bytes of the control file read. The runtime writes about a dozen; a file that
/// fills the buffer is not one it wrote, and gives no offset.
const FILE_BYTES_MAX: usize = 64;

/// Where the control file's path stands: not looked up yet, being copied by one
/// thread, copied into [`PATH`], or not given.
const PATH_UNKNOWN: u8 = 0;
const PATH_COPYING: u8 = 1;
const PATH_SET: u8 = 2;
const PATH_NONE: u8 = 3;
static PATH_STATE: AtomicU8 = AtomicU8::new(PATH_UNKNOWN);

/// The control file's path, NUL-terminated; written once, by the thread that moved
/// [`PATH_STATE`] to copying, and read only after it is [`PATH_SET`].
struct PathBuffer(UnsafeCell<[u8; PATH_BYTES_MAX]>);
// SAFETY: the one write happens before PATH_STATE is released as PATH_SET, and every
// read follows an acquire load that saw PATH_SET.
unsafe impl Sync for PathBuffer {}
static PATH: PathBuffer = PathBuffer(UnsafeCell::new([0; PATH_BYTES_MAX]));

/// The offset last read, in nanoseconds.
static OFFSET_NS: AtomicI64 = AtomicI64::new(0);
/// The monotonic time (ns) after which the file is read again.
static NEXT_READ_NS: AtomicI64 = AtomicI64::new(0);
/// Whether an offset was read at all; until then every call reads the file itself, so
/// that no call at start sees the unmoved clock while another thread reads.
static LOADED: AtomicBool = AtomicBool::new(false);

/// The offset in force now, in nanoseconds.
pub fn offset_now_ns() -> i64 {
    let now = monotonic_ns();
    let loaded = LOADED.load(Ordering::Acquire);
    let next = NEXT_READ_NS.load(Ordering::Relaxed);
    // Once loaded, one thread per interval wins the right to read; the rest use the
    // cached offset, which is at most one interval old.
    let read = !loaded
        || (now >= next
            && NEXT_READ_NS
                .compare_exchange(
                    next,
                    now.saturating_add(REREAD_INTERVAL_NS),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok());
    if !read {
        return OFFSET_NS.load(Ordering::Relaxed);
    }
    let Some(offset) = with_errno_kept(read_offset_ns) else {
        return OFFSET_NS.load(Ordering::Relaxed);
    };
    OFFSET_NS.store(offset, Ordering::Relaxed);
    if !loaded {
        NEXT_READ_NS.store(now.saturating_add(REREAD_INTERVAL_NS), Ordering::Relaxed);
        LOADED.store(true, Ordering::Release);
    }
    offset
}

/// CLOCK_MONOTONIC from the kernel, in nanoseconds; `i64::MAX` if the call fails, which
/// makes every call read the file rather than none.
fn monotonic_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: the kernel writes one timespec into `ts`, which outlives the call.
    let rc = unsafe { libc::syscall(libc::SYS_clock_gettime, libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return i64::MAX;
    }
    (ts.tv_sec as i64)
        .saturating_mul(NS_PER_S)
        .saturating_add(ts.tv_nsec as i64)
}

/// Runs `f` and puts errno back as it was: a clock call that succeeds must not leave
/// behind the ENOENT of a control file that is not there.
fn with_errno_kept<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: errno is this thread's own int, always there.
    let errno = unsafe { libc::__errno_location() };
    let saved = unsafe { *errno };
    let out = f();
    unsafe { *errno = saved };
    out
}

/// The control file's offset: 0 when no file is named or it is missing, unreadable or
/// malformed; `None` only while another thread is still copying the path.
fn read_offset_ns() -> Option<i64> {
    let path = control_path()?;
    let Some(path) = path else { return Some(0) };
    let mut buf = [0u8; FILE_BYTES_MAX];
    // SAFETY: `path` is NUL-terminated and static; `buf` outlives the read.
    let n = unsafe {
        let fd = libc::open(path, libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Some(0);
        }
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        libc::close(fd);
        n
    };
    let text = match usize::try_from(n) {
        Ok(n) if n < buf.len() => buf.get(..n).unwrap_or_default(),
        _ => return Some(0),
    };
    Some(parse_offset_ns(text).unwrap_or(0))
}

/// The control file's path: `Some(Some(path))` once copied, `Some(None)` when the
/// environment names none (or one too long), `None` while another thread copies it.
fn control_path() -> Option<Option<*const libc::c_char>> {
    let path = || PATH.0.get().cast::<libc::c_char>().cast_const();
    match PATH_STATE.load(Ordering::Acquire) {
        PATH_SET => return Some(Some(path())),
        PATH_NONE => return Some(None),
        PATH_COPYING => return None,
        _ => {}
    }
    if PATH_STATE
        .compare_exchange(
            PATH_UNKNOWN,
            PATH_COPYING,
            Ordering::Acquire,
            Ordering::Acquire,
        )
        .is_err()
    {
        return None;
    }
    // SAFETY: this thread alone moved the state to copying, so it alone writes PATH.
    let state = unsafe { copy_path_from_env() };
    PATH_STATE.store(state, Ordering::Release);
    Some((state == PATH_SET).then(path))
}

/// Copies `$SPLITBRAIN_CLOCK_FILE` into [`PATH`]; the state that results.
///
/// # Safety
/// The caller must be the one thread allowed to write [`PATH`].
unsafe fn copy_path_from_env() -> u8 {
    let value = libc::getenv(PATH_ENV.as_ptr().cast());
    if value.is_null() {
        return PATH_NONE;
    }
    let len = libc::strlen(value);
    if len == 0 || len >= PATH_BYTES_MAX {
        return PATH_NONE;
    }
    let dest = PATH.0.get().cast::<u8>();
    core::ptr::copy_nonoverlapping(value.cast::<u8>(), dest, len);
    *dest.add(len) = 0;
    PATH_SET
}
