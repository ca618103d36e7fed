//! A FUSE filesystem that forgets what was never synced, for the `power-loss` fault
//! (LazyFS's model, as etcd's robustness tests and Jepsen use it).
//!
//! A passthrough over a backing directory. File data written through the mount stays in
//! this process's memory, a page cache per inode, until an `fsync` or `fdatasync` of the
//! file flushes it to the backing file and syncs that; reads see the cache over the
//! backing file. A size change (a truncate, an extension by a write) is cached the same
//! way. [`PowerFs::lose_unsynced`] drops every unflushed page and size change: what a
//! machine that lost power would have lost.
//!
//! Metadata operations (create, mkdir, rename, unlink, rmdir, symlink, permission
//! changes) go straight to the backing directory and are durable at once; a directory
//! fsync is a no-op. A renamed or replaced file keeps its cached data under its new name.
//! The kernel's own page cache is dropped at every open (no `FOPEN_KEEP_CACHE`) and
//! attributes are never cached, so a process started after a loss reads what survived.
//!
//! Left alone, a machine's kernel writes dirty data back by itself; a disk that never did
//! would lose writes no real power loss could take (a cut that ZooKeeper makes without an
//! fsync, say, made undone 20 s later, which resurrects transactions its leader told it to
//! drop). So unflushed state ages out as Linux's defaults have it ([`Writeback::LINUX`]):
//! a file's data once it has been dirty for 30 s (`vm.dirty_expire_centisecs`), a cut
//! (truncate) 5 s after it was made (ext4's journal commit interval), or at the next fsync
//! of any file on the disk, which commits that journal; and a file cut to nothing and
//! written again, when it is closed (ext4's `auto_da_alloc`).

use std::collections::{BTreeMap, HashMap};
use std::ffi::{CString, OsStr};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    FileAttr, FileType, Filesystem, MountOption, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow,
};

const PAGE: u64 = 4096;
const ROOT: u64 = 1;
/// Nothing is cached in the kernel: every lookup and stat comes here.
const TTL: Duration = Duration::ZERO;

/// When the kernel writes unflushed state back on its own; `None` never.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Writeback {
    /// A file's data and size, once the file has been dirty this long.
    pub data_after: Option<Duration>,
    /// A cut (a truncate), this long after it was made.
    pub cut_after: Option<Duration>,
}

impl Writeback {
    /// Linux's defaults: `vm.dirty_expire_centisecs` of 3000 for data; ext4's journal,
    /// committed every 5 s, for the inode's new size after a truncate.
    pub const LINUX: Writeback = Writeback {
        data_after: Some(Duration::from_secs(30)),
        cut_after: Some(Duration::from_secs(5)),
    };
    /// Nothing is written back unless synced (LazyFS's model).
    pub const NEVER: Writeback = Writeback {
        data_after: None,
        cut_after: None,
    };
}

/// How often the write-back thread looks for state that aged out.
const WRITEBACK_PERIOD: Duration = Duration::from_secs(1);

/// The unflushed state of one file.
struct Dirty {
    /// Whole pages, as the file reads now, by page number.
    pages: BTreeMap<u64, Vec<u8>>,
    /// The file's size as it reads now.
    size: u64,
    /// Bytes of the backing file below this offset still read through; above it the
    /// file was cut (a truncate since the last flush) and reads zeros unless rewritten.
    backing_valid: u64,
    /// When the file became dirty.
    since: std::time::Instant,
    /// When the backing file was cut last, if that cut is not on it yet.
    cut_since: Option<std::time::Instant>,
    /// Cut to nothing since the last flush: rewritten whole, so written back at close.
    rewritten: bool,
}

struct Inner {
    backing: PathBuf,
    /// Inode number → path relative to the backing directory.
    paths: HashMap<u64, PathBuf>,
    inos: HashMap<PathBuf, u64>,
    next_ino: u64,
    dirty: HashMap<u64, Dirty>,
    /// Open file handles: the backing file, and the inode it belongs to.
    files: HashMap<u64, (u64, File)>,
    next_fh: u64,
    /// The kernel let the mount go: its write-back thread ends.
    unmounted: bool,
}

/// A handle on a mounted power-loss filesystem's state, shared with its FUSE thread.
#[derive(Clone)]
pub struct PowerFs {
    inner: Arc<Mutex<Inner>>,
}

/// A mounted filesystem; dropping it unmounts (lazily, so a node still holding a file
/// open does not keep it). Its thread serves requests until the kernel lets the
/// connection go.
pub struct PowerMount {
    fs: PowerFs,
    mountpoint: PathBuf,
}

impl PowerMount {
    /// Mounts a filesystem over `backing` (created if missing) at `mountpoint` (an
    /// existing directory). Other users (a container's processes) may use it.
    pub fn mount(
        backing: &Path,
        mountpoint: &Path,
        writeback: Writeback,
    ) -> io::Result<PowerMount> {
        fs::create_dir_all(backing)?;
        let fs = PowerFs::new(backing);
        let options = [
            MountOption::FSName(format!("splitbrain-powerfs:{}", backing.display())),
            MountOption::Subtype("splitbrain-powerfs".into()),
            MountOption::AllowOther,
            MountOption::DefaultPermissions,
            MountOption::RW,
        ];
        let mut session = fuser::Session::new(Handler(fs.clone()), mountpoint, &options)?;
        let state = fs.clone();
        std::thread::Builder::new()
            .name("powerfs".into())
            .spawn(move || {
                if let Err(e) = session.run() {
                    tracing::warn!("power-loss filesystem: {e}");
                }
                // Unmounted (lazily, by its owner or `clean`): the session's own unmount
                // on drop would only fail and log it, so it is not dropped; what it holds
                // open is let go here.
                let mut inner = state.lock();
                inner.files.clear();
                inner.dirty.clear();
                inner.unmounted = true;
                drop(inner);
                std::mem::forget(session);
            })?;
        if writeback != Writeback::NEVER {
            // Ends with the mount: once the FUSE thread saw it go.
            let state = fs.clone();
            std::thread::Builder::new()
                .name("powerfs-writeback".into())
                .spawn(move || loop {
                    std::thread::sleep(WRITEBACK_PERIOD);
                    if state.lock().unmounted {
                        break;
                    }
                    if let Err(e) = state.write_back(std::time::Instant::now(), writeback) {
                        tracing::warn!("power-loss filesystem write-back: {e}");
                    }
                })?;
        }
        Ok(PowerMount {
            fs,
            mountpoint: mountpoint.to_path_buf(),
        })
    }

    pub fn fs(&self) -> &PowerFs {
        &self.fs
    }

    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }
}

impl Drop for PowerMount {
    fn drop(&mut self) {
        let _ = lazy_unmount(&self.mountpoint);
    }
}

/// `umount -l`: detaches the mount at `path` now; a no-op error where nothing is mounted.
pub fn lazy_unmount(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: a valid NUL-terminated path; umount2 takes no other pointers.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Every mount point at or under `dir`, deepest first, from /proc/self/mountinfo.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    PathBuf::from(OsStr::from_bytes(&out))
}

impl PowerFs {
    fn new(backing: &Path) -> PowerFs {
        let mut paths = HashMap::new();
        let mut inos = HashMap::new();
        paths.insert(ROOT, PathBuf::new());
        inos.insert(PathBuf::new(), ROOT);
        PowerFs {
            inner: Arc::new(Mutex::new(Inner {
                backing: backing.to_path_buf(),
                paths,
                inos,
                next_ino: ROOT + 1,
                dirty: HashMap::new(),
                files: HashMap::new(),
                next_fh: 1,
                unmounted: false,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops every page and size change not yet flushed by an fsync: the files read as
    /// their backing files do. Returns how many files lost something.
    pub fn lose_unsynced(&self) -> usize {
        let mut inner = self.lock();
        let n = inner.dirty.len();
        inner.dirty.clear();
        n
    }

    /// Flushes every file's unsynced data (a `sync` of the whole filesystem).
    pub fn sync_all(&self) -> io::Result<()> {
        let mut inner = self.lock();
        let inos: Vec<u64> = inner.dirty.keys().copied().collect();
        for ino in inos {
            inner.flush_backing(ino)?;
        }
        Ok(())
    }

    /// Writes back what `writeback` says the kernel would have by `now`: every file dirty
    /// since `data_after` or longer, and every cut made `cut_after` or longer ago. Returns
    /// how many files it wrote back in full.
    pub fn write_back(&self, now: std::time::Instant, writeback: Writeback) -> io::Result<usize> {
        let due = |since: std::time::Instant, after: Option<Duration>| {
            after.is_some_and(|a| now.saturating_duration_since(since) >= a)
        };
        let mut inner = self.lock();
        let mut data = Vec::new();
        let mut cuts = Vec::new();
        for (&ino, d) in &inner.dirty {
            if due(d.since, writeback.data_after) {
                data.push(ino);
            } else if d.cut_since.is_some_and(|c| due(c, writeback.cut_after)) {
                cuts.push(ino);
            }
        }
        for &ino in &data {
            inner.flush_backing(ino)?;
        }
        for ino in cuts {
            inner.commit_cut(ino)?;
        }
        Ok(data.len())
    }

    /// How many files hold unsynced data now.
    pub fn dirty_files(&self) -> usize {
        self.lock().dirty.len()
    }
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn time(secs: i64, nsecs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsecs as u32)
    } else {
        UNIX_EPOCH
    }
}

fn kind_of(ft: fs::FileType) -> FileType {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        FileType::Directory
    } else if ft.is_symlink() {
        FileType::Symlink
    } else if ft.is_fifo() {
        FileType::NamedPipe
    } else if ft.is_socket() {
        FileType::Socket
    } else if ft.is_block_device() {
        FileType::BlockDevice
    } else if ft.is_char_device() {
        FileType::CharDevice
    } else {
        FileType::RegularFile
    }
}

impl Inner {
    fn path(&self, ino: u64) -> Result<PathBuf, i32> {
        self.paths
            .get(&ino)
            .map(|rel| self.backing.join(rel))
            .ok_or(libc::ENOENT)
    }

    fn child(&self, parent: u64, name: &OsStr) -> Result<PathBuf, i32> {
        self.paths
            .get(&parent)
            .map(|rel| rel.join(name))
            .ok_or(libc::ENOENT)
    }

    fn ino_for(&mut self, rel: &Path) -> u64 {
        if let Some(&ino) = self.inos.get(rel) {
            return ino;
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.inos.insert(rel.to_path_buf(), ino);
        self.paths.insert(ino, rel.to_path_buf());
        ino
    }

    fn forget_path(&mut self, rel: &Path) {
        if let Some(ino) = self.inos.remove(rel) {
            self.paths.remove(&ino);
            self.dirty.remove(&ino);
        }
    }

    fn attr(&self, ino: u64) -> Result<FileAttr, i32> {
        let meta = fs::symlink_metadata(self.path(ino)?).map_err(|e| errno(&e))?;
        let size = self.dirty.get(&ino).map_or(meta.size(), |d| d.size);
        Ok(FileAttr {
            ino,
            size,
            blocks: size.div_ceil(512),
            atime: time(meta.atime(), meta.atime_nsec()),
            mtime: time(meta.mtime(), meta.mtime_nsec()),
            ctime: time(meta.ctime(), meta.ctime_nsec()),
            crtime: UNIX_EPOCH,
            kind: kind_of(meta.file_type()),
            perm: (meta.mode() & 0o7777) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: meta.rdev() as u32,
            blksize: PAGE as u32,
            flags: 0,
        })
    }

    /// The unflushed state of `ino`, begun from its backing file if there is none.
    fn dirty_of(&mut self, ino: u64, file: &File) -> Result<&mut Dirty, i32> {
        if let std::collections::hash_map::Entry::Vacant(e) = self.dirty.entry(ino) {
            let len = file.metadata().map_err(|e| errno(&e))?.len();
            e.insert(Dirty {
                pages: BTreeMap::new(),
                size: len,
                backing_valid: len,
                since: std::time::Instant::now(),
                cut_since: None,
                rewritten: false,
            });
        }
        Ok(self.dirty.get_mut(&ino).expect("just inserted"))
    }

    fn write(&mut self, ino: u64, file: &File, offset: u64, data: &[u8]) -> Result<(), i32> {
        let dirty = self.dirty_of(ino, file)?;
        let mut done = 0usize;
        while done < data.len() {
            let at = offset + done as u64;
            let page_no = at / PAGE;
            let in_page = (at % PAGE) as usize;
            let n = (PAGE as usize - in_page).min(data.len() - done);
            let page = match dirty.pages.entry(page_no) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(
                    backing_page(file, page_no, dirty.backing_valid).map_err(|e| errno(&e))?,
                ),
            };
            page[in_page..in_page + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        dirty.size = dirty.size.max(offset + data.len() as u64);
        Ok(())
    }

    fn truncate(&mut self, ino: u64, file: &File, size: u64) -> Result<(), i32> {
        let dirty = self.dirty_of(ino, file)?;
        if size < dirty.size {
            if size < dirty.backing_valid {
                dirty.backing_valid = size;
                dirty.cut_since = Some(std::time::Instant::now());
            }
            dirty.rewritten |= size == 0;
            let keep = size.div_ceil(PAGE);
            dirty.pages.retain(|&p, _| p < keep);
            if !size.is_multiple_of(PAGE) {
                if let Some(page) = dirty.pages.get_mut(&(size / PAGE)) {
                    page[(size % PAGE) as usize..].fill(0);
                }
            }
        }
        dirty.size = size;
        Ok(())
    }

    fn read(&self, ino: u64, file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let Some(dirty) = self.dirty.get(&ino) else {
            let mut buf = vec![0; len];
            let mut got = 0;
            while got < len {
                let n = file.read_at(&mut buf[got..], offset + got as u64)?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            buf.truncate(got);
            return Ok(buf);
        };
        let end = dirty.size.min(offset + len as u64);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut at = offset;
        while at < end {
            let page_no = at / PAGE;
            let in_page = (at % PAGE) as usize;
            let n = ((PAGE - at % PAGE).min(end - at)) as usize;
            match dirty.pages.get(&page_no) {
                Some(page) => out.extend_from_slice(&page[in_page..in_page + n]),
                None => {
                    let page = backing_page(file, page_no, dirty.backing_valid)?;
                    out.extend_from_slice(&page[in_page..in_page + n]);
                }
            }
            at += n as u64;
        }
        Ok(out)
    }

    /// Writes `ino`'s unflushed state to its backing file through `file` and syncs it.
    fn flush(&mut self, ino: u64, file: &File) -> io::Result<()> {
        let Some(dirty) = self.dirty.get(&ino) else {
            return file.sync_data();
        };
        let current = file.metadata()?.len();
        if dirty.backing_valid < current {
            file.set_len(dirty.backing_valid)?;
        }
        for (&page_no, page) in &dirty.pages {
            let start = page_no * PAGE;
            if start >= dirty.size {
                continue;
            }
            let n = (dirty.size - start).min(PAGE) as usize;
            file.write_all_at(&page[..n], start)?;
        }
        file.set_len(dirty.size)?;
        file.sync_data()?;
        self.dirty.remove(&ino);
        Ok(())
    }

    /// A handle of our own that writes `ino`'s backing file (a node's may be read-only).
    fn writable(&self, ino: u64) -> Option<File> {
        let path = self.path(ino).ok()?;
        OpenOptions::new().write(true).open(path).ok()
    }

    /// [`Inner::flush`] through a handle of our own; a file no longer known is forgotten.
    fn flush_backing(&mut self, ino: u64) -> io::Result<()> {
        let Ok(path) = self.path(ino) else {
            self.dirty.remove(&ino);
            return Ok(());
        };
        let file = OpenOptions::new().write(true).open(path)?;
        self.flush(ino, &file)
    }

    /// Puts `ino`'s pending cut on its backing file (the data stays cached).
    fn commit_cut(&mut self, ino: u64) -> io::Result<()> {
        let Ok(path) = self.path(ino) else {
            self.dirty.remove(&ino);
            return Ok(());
        };
        let Some(dirty) = self.dirty.get_mut(&ino) else {
            return Ok(());
        };
        if dirty.cut_since.take().is_some() {
            let file = OpenOptions::new().write(true).open(path)?;
            if dirty.backing_valid < file.metadata()?.len() {
                file.set_len(dirty.backing_valid)?;
            }
        }
        Ok(())
    }

    /// Puts every pending cut on the disk: an fsync commits the filesystem's journal,
    /// and with it every size change made before it, of any file (ext4 and XFS keep one
    /// journal per filesystem).
    fn commit_cuts(&mut self) -> io::Result<()> {
        let cut: Vec<u64> = self
            .dirty
            .iter()
            .filter(|(_, d)| d.cut_since.is_some())
            .map(|(&ino, _)| ino)
            .collect();
        for ino in cut {
            self.commit_cut(ino)?;
        }
        Ok(())
    }

    fn new_fh(&mut self, ino: u64, file: File) -> u64 {
        let fh = self.next_fh;
        self.next_fh += 1;
        self.files.insert(fh, (ino, file));
        fh
    }
}

/// Page `page_no` of the backing file, zeros from `valid` on.
fn backing_page(file: &File, page_no: u64, valid: u64) -> io::Result<Vec<u8>> {
    let mut page = vec![0u8; PAGE as usize];
    let start = page_no * PAGE;
    if start < valid {
        let want = (valid - start).min(PAGE) as usize;
        let mut got = 0;
        while got < want {
            let n = file.read_at(&mut page[got..want], start + got as u64)?;
            if n == 0 {
                break;
            }
            got += n;
        }
    }
    Ok(page)
}

fn open_options(flags: i32) -> OpenOptions {
    let mut opts = OpenOptions::new();
    match flags & libc::O_ACCMODE {
        // Pages are read in before a partial write: a write-only handle reads too.
        libc::O_WRONLY | libc::O_RDWR => opts.read(true).write(true),
        _ => opts.read(true),
    };
    // Appends are placed by the kernel (it sends offsets at the file's cached end);
    // O_TRUNC arrives as a setattr; the rest do not concern the backing file.
    opts.custom_flags(flags & (libc::O_NOFOLLOW | libc::O_CLOEXEC));
    opts
}

/// The FUSE side: every request takes the state's lock.
struct Handler(PowerFs);

impl Filesystem for Handler {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let mut inner = self.0.lock();
        let rel = match inner.child(parent, name) {
            Ok(r) => r,
            Err(e) => return reply.error(e),
        };
        if let Err(e) = fs::symlink_metadata(inner.backing.join(&rel)) {
            return reply.error(errno(&e));
        }
        let ino = inner.ino_for(&rel);
        match inner.attr(ino) {
            Ok(attr) => reply.entry(&TTL, &attr, 0),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        match self.0.lock().attr(ino) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let mut inner = self.0.lock();
        let path = match inner.path(ino) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        if let Some(mode) = mode {
            if let Err(e) = fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777)) {
                return reply.error(errno(&e));
            }
        }
        if uid.is_some() || gid.is_some() {
            if let Err(e) = std::os::unix::fs::lchown(&path, uid, gid) {
                return reply.error(errno(&e));
            }
        }
        if let Some(size) = size {
            let opened = match fh.and_then(|fh| inner.files.get(&fh)) {
                Some((_, file)) => file.try_clone(),
                None => OpenOptions::new().write(true).open(&path),
            };
            let result = opened
                .map_err(|e| errno(&e))
                .and_then(|file| inner.truncate(ino, &file, size));
            if let Err(e) = result {
                return reply.error(e);
            }
        }
        if atime.is_some() || mtime.is_some() {
            let to = |t: Option<TimeOrNow>| match t {
                None => libc::timespec {
                    tv_sec: 0,
                    tv_nsec: libc::UTIME_OMIT,
                },
                Some(TimeOrNow::Now) => libc::timespec {
                    tv_sec: 0,
                    tv_nsec: libc::UTIME_NOW,
                },
                Some(TimeOrNow::SpecificTime(t)) => {
                    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
                    libc::timespec {
                        tv_sec: d.as_secs() as libc::time_t,
                        tv_nsec: d.subsec_nanos() as libc::c_long,
                    }
                }
            };
            let times = [to(atime), to(mtime)];
            let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
                return reply.error(libc::EINVAL);
            };
            // SAFETY: a valid path and a two-element timespec array.
            let rc = unsafe {
                libc::utimensat(
                    libc::AT_FDCWD,
                    c.as_ptr(),
                    times.as_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            };
            if rc != 0 {
                return reply.error(errno(&io::Error::last_os_error()));
            }
        }
        match inner.attr(ino) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&mut self, _req: &Request<'_>, ino: u64, reply: ReplyData) {
        let inner = self.0.lock();
        match inner
            .path(ino)
            .map(|p| fs::read_link(p).map_err(|e| errno(&e)))
        {
            Ok(Ok(target)) => reply.data(target.as_os_str().as_bytes()),
            Ok(Err(e)) | Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mut inner = self.0.lock();
        let rel = match inner.child(parent, name) {
            Ok(r) => r,
            Err(e) => return reply.error(e),
        };
        if let Err(e) = fs::DirBuilder::new()
            .mode(mode & !umask & 0o7777)
            .create(inner.backing.join(&rel))
        {
            return reply.error(errno(&e));
        }
        let ino = inner.ino_for(&rel);
        match inner.attr(ino) {
            Ok(attr) => reply.entry(&TTL, &attr, 0),
            Err(e) => reply.error(e),
        }
    }

    fn symlink(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let mut inner = self.0.lock();
        let rel = match inner.child(parent, link_name) {
            Ok(r) => r,
            Err(e) => return reply.error(e),
        };
        if let Err(e) = std::os::unix::fs::symlink(target, inner.backing.join(&rel)) {
            return reply.error(errno(&e));
        }
        let ino = inner.ino_for(&rel);
        match inner.attr(ino) {
            Ok(attr) => reply.entry(&TTL, &attr, 0),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let mut inner = self.0.lock();
        let rel = match inner.child(parent, name) {
            Ok(r) => r,
            Err(e) => return reply.error(e),
        };
        match fs::remove_file(inner.backing.join(&rel)) {
            Ok(()) => {
                inner.forget_path(&rel);
                reply.ok()
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let mut inner = self.0.lock();
        let rel = match inner.child(parent, name) {
            Ok(r) => r,
            Err(e) => return reply.error(e),
        };
        match fs::remove_dir(inner.backing.join(&rel)) {
            Ok(()) => {
                inner.forget_path(&rel);
                reply.ok()
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        if flags != 0 {
            return reply.error(libc::EINVAL);
        }
        let mut inner = self.0.lock();
        let (from, to) = match (inner.child(parent, name), inner.child(newparent, newname)) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(e), _) | (_, Err(e)) => return reply.error(e),
        };
        if let Err(e) = fs::rename(inner.backing.join(&from), inner.backing.join(&to)) {
            return reply.error(errno(&e));
        }
        // The replaced file is gone; the moved one and everything under it follow.
        if from != to {
            inner.forget_path(&to);
        }
        let moved: Vec<(PathBuf, u64)> = inner
            .inos
            .iter()
            .filter(|(p, _)| p.starts_with(&from))
            .map(|(p, &i)| (p.clone(), i))
            .collect();
        for (old, ino) in moved {
            let rest = old.strip_prefix(&from).expect("filtered by prefix");
            // `join("")` would add a trailing slash.
            let new = if rest.as_os_str().is_empty() {
                to.clone()
            } else {
                to.join(rest)
            };
            inner.inos.remove(&old);
            inner.inos.insert(new.clone(), ino);
            inner.paths.insert(ino, new);
        }
        reply.ok()
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        let mut inner = self.0.lock();
        let path = match inner.path(ino) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        match open_options(flags).open(path) {
            Ok(file) => {
                let fh = inner.new_fh(ino, file);
                reply.opened(fh, 0)
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut inner = self.0.lock();
        let rel = match inner.child(parent, name) {
            Ok(r) => r,
            Err(e) => return reply.error(e),
        };
        let mut opts = open_options(flags);
        opts.create(true).mode(mode & !umask & 0o7777);
        if flags & libc::O_ACCMODE == libc::O_RDONLY {
            opts.write(true);
        }
        if flags & libc::O_EXCL != 0 {
            opts.create_new(true);
        }
        let path = inner.backing.join(&rel);
        let existed = path.exists();
        let file = match opts.open(&path) {
            Ok(f) => f,
            Err(e) => return reply.error(errno(&e)),
        };
        let ino = inner.ino_for(&rel);
        if flags & libc::O_TRUNC != 0 && existed {
            if let Err(e) = inner.truncate(ino, &file, 0) {
                return reply.error(e);
            }
        }
        let fh = inner.new_fh(ino, file);
        match inner.attr(ino) {
            Ok(attr) => reply.created(&TTL, &attr, 0, fh, 0),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let inner = self.0.lock();
        let Some((_, file)) = inner.files.get(&fh) else {
            return reply.error(libc::EBADF);
        };
        match inner.read(ino, file, offset.max(0) as u64, size as usize) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let mut inner = self.0.lock();
        let file = match inner.files.get(&fh).map(|(_, f)| f.try_clone()) {
            Some(Ok(f)) => f,
            Some(Err(e)) => return reply.error(errno(&e)),
            None => return reply.error(libc::EBADF),
        };
        match inner.write(ino, &file, offset.max(0) as u64, data) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lock: u64, reply: ReplyEmpty) {
        // A close is not a sync.
        reply.ok()
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let mut inner = self.0.lock();
        let Some((ino, file)) = inner.files.remove(&fh) else {
            return reply.ok();
        };
        // ext4's `auto_da_alloc`: a file cut to nothing and written again (a rewrite in
        // place) is written back when it is closed, so that a power loss does not leave
        // it empty.
        if inner.dirty.get(&ino).is_some_and(|d| d.rewritten) {
            let writable = inner.writable(ino);
            if let Err(e) = inner.flush(ino, writable.as_ref().unwrap_or(&file)) {
                return reply.error(errno(&e));
            }
        }
        reply.ok()
    }

    fn fsync(&mut self, _req: &Request<'_>, ino: u64, fh: u64, _datasync: bool, reply: ReplyEmpty) {
        let mut inner = self.0.lock();
        // The handle may be read-only: write through one of our own.
        let file = match (
            inner.writable(ino),
            inner.files.get(&fh).map(|(_, f)| f.try_clone()),
        ) {
            (Some(f), _) | (None, Some(Ok(f))) => f,
            (None, Some(Err(e))) => return reply.error(errno(&e)),
            (None, None) => return reply.error(libc::EBADF),
        };
        match inner.flush(ino, &file).and_then(|()| inner.commit_cuts()) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn opendir(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        match self.0.lock().path(ino) {
            Ok(p) if p.is_dir() => reply.opened(0, 0),
            Ok(_) => reply.error(libc::ENOTDIR),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let mut inner = self.0.lock();
        let Some(rel) = inner.paths.get(&ino).cloned() else {
            return reply.error(libc::ENOENT);
        };
        let read = match fs::read_dir(inner.backing.join(&rel)) {
            Ok(r) => r,
            Err(e) => return reply.error(errno(&e)),
        };
        let mut entries: Vec<(u64, FileType, std::ffi::OsString)> = vec![
            (ino, FileType::Directory, ".".into()),
            (ino, FileType::Directory, "..".into()),
        ];
        let mut names: Vec<(std::ffi::OsString, FileType)> = read
            .filter_map(Result::ok)
            .map(|e| {
                let kind = e.file_type().map(kind_of).unwrap_or(FileType::RegularFile);
                (e.file_name(), kind)
            })
            .collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, kind) in names {
            let child = inner.ino_for(&rel.join(&name));
            entries.push((child, kind, name));
        }
        for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset.max(0) as usize) {
            if reply.add(ino, (i + 1) as i64, kind, name) {
                break;
            }
        }
        reply.ok()
    }

    fn fsyncdir(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _ds: bool, reply: ReplyEmpty) {
        // Metadata is durable at once.
        reply.ok()
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        let inner = self.0.lock();
        let Ok(c) = CString::new(inner.backing.as_os_str().as_bytes()) else {
            return reply.error(libc::EINVAL);
        };
        // SAFETY: statvfs fills the zeroed struct it is given.
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return reply.error(errno(&io::Error::last_os_error()));
        }
        reply.statfs(
            st.f_blocks,
            st.f_bfree,
            st.f_bavail,
            st.f_files,
            st.f_ffree,
            st.f_bsize as u32,
            st.f_namemax as u32,
            st.f_frsize as u32,
        )
    }

    fn getxattr(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        // No extended attributes (a program's `security.capability` included).
        reply.error(libc::ENODATA)
    }

    fn poll(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _fh: u64,
        _ph: fuser::PollHandle,
        _events: u32,
        _flags: u32,
        reply: fuser::ReplyPoll,
    ) {
        // Regular files are always ready: the kernel answers so itself from now on.
        reply.error(libc::ENOSYS)
    }

    fn listxattr(&mut self, _req: &Request<'_>, _ino: u64, size: u32, reply: ReplyXattr) {
        if size == 0 {
            reply.size(0)
        } else {
            reply.data(&[])
        }
    }

    fn fallocate(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        length: i64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        // Only plain preallocation, as a cached extension of the size.
        if mode != 0 {
            return reply.error(libc::EOPNOTSUPP);
        }
        let mut inner = self.0.lock();
        let file = match inner.files.get(&fh).map(|(_, f)| f.try_clone()) {
            Some(Ok(f)) => f,
            Some(Err(e)) => return reply.error(errno(&e)),
            None => return reply.error(libc::EBADF),
        };
        let end = (offset + length).max(0) as u64;
        let result = inner.dirty_of(ino, &file).map(|d| d.size).and_then(|size| {
            if end > size {
                inner.truncate(ino, &file, end)
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

/// The power-loss disks of one run's nodes: each node's data directory a mount of this
/// filesystem over a backing directory beside it, under the run's host directory
/// (`/tmp/sb-<runid>/<node>/data` over `/tmp/sb-<runid>/<node>/disk`).
#[derive(Default)]
pub struct PowerDisks {
    mounts: Mutex<BTreeMap<String, PowerMount>>,
}

impl PowerDisks {
    /// Mounts `node`'s disk under `run_dir` and returns its mount point.
    pub fn mount(&self, run_dir: &Path, node: &str) -> io::Result<PathBuf> {
        let dir = run_dir.join(node);
        let point = dir.join("data");
        let backing = dir.join("disk");
        let mut mounts = self.mounts.lock().unwrap_or_else(|e| e.into_inner());
        if mounts.contains_key(node) {
            return Ok(point);
        }
        fs::create_dir_all(&point)?;
        let mount = PowerMount::mount(&backing, &point, Writeback::LINUX)?;
        mounts.insert(node.to_string(), mount);
        Ok(point)
    }

    /// Whether `node` has a disk.
    pub fn has(&self, node: &str) -> bool {
        self.lock().contains_key(node)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, PowerMount>> {
        self.mounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Flushes everything written to `node`'s disk so far (the files a node is set up
    /// with are on disk before it starts).
    pub fn sync(&self, node: &str) -> io::Result<()> {
        match self.lock().get(node) {
            Some(m) => m.fs().sync_all(),
            None => Ok(()),
        }
    }

    /// Flushes every node's disk; the first error names its node.
    pub fn sync_every(&self) -> Result<(), (String, io::Error)> {
        for (node, m) in self.lock().iter() {
            m.fs().sync_all().map_err(|e| (node.clone(), e))?;
        }
        Ok(())
    }

    /// Drops what each node wrote since its last fsync; an error names a node without a
    /// disk. Returns how many files lost something.
    pub fn lose(&self, nodes: &[String]) -> Result<usize, String> {
        let mounts = self.lock();
        let mut lost = 0;
        for node in nodes {
            let m = mounts
                .get(node)
                .ok_or_else(|| format!("{node} has no power-loss disk"))?;
            lost += m.fs().lose_unsynced();
        }
        Ok(lost)
    }

    /// Unmounts every disk (the directories are the run directory's to remove).
    pub fn unmount_all(&self) {
        let mounts = std::mem::take(&mut *self.lock());
        drop(mounts);
    }
}

/// Mounts `node`'s disk under the run's host directory: its mount point, as text.
pub fn mount_disk(
    disks: &PowerDisks,
    run_id: &str,
    node: &str,
) -> Result<String, super::RuntimeError> {
    let run_dir = super::state::ensure_run_dir(run_id)?;
    let point = disks
        .mount(&run_dir, node)
        .map_err(|e| super::RuntimeError::io(run_dir.join(node), e))?;
    Ok(point.to_string_lossy().into_owned())
}

/// [`PowerDisks::sync_every`], as a runtime error naming the node's directory.
pub fn settle_disks(disks: &PowerDisks, run_id: &str) -> Result<(), super::RuntimeError> {
    disks
        .sync_every()
        .map_err(|(node, e)| super::RuntimeError::io(super::host_run_dir(run_id).join(node), e))
}

/// [`PowerDisks::sync`], as a runtime error naming the node's directory.
pub fn sync_disk(disks: &PowerDisks, run_id: &str, node: &str) -> Result<(), super::RuntimeError> {
    disks
        .sync(node)
        .map_err(|e| super::RuntimeError::io(super::host_run_dir(run_id).join(node), e))
}
