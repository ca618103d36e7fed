//! The power-loss filesystem on a real FUSE mount (needs root and /dev/fuse): what is
//! fsynced survives `lose_unsynced`, what is not is gone, and metadata is durable at once.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use splitbrain::runtime::powerfs::{mounts_under, PowerMount, Writeback};

struct Fixture {
    _dir: tempfile::TempDir,
    backing: PathBuf,
    mnt: Option<PowerMount>,
    root: PathBuf,
}

fn mount() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let backing = dir.path().join("backing");
    let point = dir.path().join("mnt");
    fs::create_dir_all(&point).unwrap();
    // Nothing ages out on its own here: a test moves time itself (`write_back`).
    let mnt = PowerMount::mount(&backing, &point, Writeback::NEVER)
        .expect("mount a FUSE filesystem (needs root)");
    Fixture {
        root: dir.path().to_path_buf(),
        _dir: dir,
        backing,
        mnt: Some(mnt),
    }
}

impl Fixture {
    fn at(&self, name: &str) -> PathBuf {
        self.mnt.as_ref().unwrap().mountpoint().join(name)
    }
    fn lose(&self) -> usize {
        self.mnt.as_ref().unwrap().fs().lose_unsynced()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        drop(self.mnt.take());
        assert!(mounts_under(&self.root).is_empty(), "still mounted");
    }
}

#[track_caller]
fn read(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    File::open(path).unwrap().read_to_end(&mut out).unwrap();
    out
}

#[test]
fn written_data_reads_back_and_is_lost_unless_synced() {
    let fx = mount();
    let mut f = File::create(fx.at("a")).unwrap();
    f.write_all(b"hello world").unwrap();
    assert_eq!(read(&fx.at("a")), b"hello world");
    assert_eq!(fs::metadata(fx.at("a")).unwrap().len(), 11);
    // Not on the backing file yet; the file itself (a metadata op) is.
    assert_eq!(fs::read(fx.backing.join("a")).unwrap(), b"");
    drop(f);
    assert_eq!(fx.lose(), 1);
    assert_eq!(read(&fx.at("a")), b"");
    assert!(fx.at("a").exists());
}

#[test]
fn fsync_makes_data_durable_and_later_writes_are_lost() {
    let fx = mount();
    let mut f = File::create(fx.at("log")).unwrap();
    f.write_all(b"one\n").unwrap();
    f.sync_data().unwrap();
    f.write_all(b"two\n").unwrap();
    assert_eq!(read(&fx.at("log")), b"one\ntwo\n");
    assert_eq!(fs::read(fx.backing.join("log")).unwrap(), b"one\n");
    drop(f);
    fx.lose();
    assert_eq!(read(&fx.at("log")), b"one\n");
    // Appends continue at the surviving end.
    let mut f = OpenOptions::new().append(true).open(fx.at("log")).unwrap();
    f.write_all(b"three\n").unwrap();
    f.sync_all().unwrap();
    fx.lose();
    assert_eq!(read(&fx.at("log")), b"one\nthree\n");
}

#[test]
fn overwrites_across_pages_and_holes() {
    let fx = mount();
    let mut base = vec![7u8; 10_000];
    fs::write(fx.at("p"), &base).unwrap();
    File::open(fx.at("p")).unwrap().sync_all().unwrap();
    let f = OpenOptions::new().write(true).open(fx.at("p")).unwrap();
    f.write_all_at(&[1u8; 5000], 3000).unwrap();
    f.write_all_at(b"end", 20_000).unwrap();
    let got = read(&fx.at("p"));
    assert_eq!(got.len(), 20_003);
    base[3000..8000].fill(1);
    assert_eq!(&got[..10_000], &base[..]);
    assert!(got[10_000..20_000].iter().all(|&b| b == 0));
    f.sync_data().unwrap();
    assert_eq!(fs::read(fx.backing.join("p")).unwrap(), got);
    drop(f);
    fx.lose();
    assert_eq!(read(&fx.at("p")), got);
}

#[test]
fn truncate_is_cached_like_data() {
    let fx = mount();
    fs::write(fx.at("t"), vec![9u8; 9000]).unwrap();
    File::open(fx.at("t")).unwrap().sync_all().unwrap();
    let f = OpenOptions::new().write(true).open(fx.at("t")).unwrap();
    f.set_len(100).unwrap();
    assert_eq!(fs::metadata(fx.at("t")).unwrap().len(), 100);
    // Grown again: the cut bytes read as zeros, not as the old ones.
    f.set_len(5000).unwrap();
    let got = read(&fx.at("t"));
    assert_eq!(got.len(), 5000);
    assert!(got[..100].iter().all(|&b| b == 9));
    assert!(got[100..].iter().all(|&b| b == 0));
    drop(f);
    fx.lose();
    assert_eq!(read(&fx.at("t")), vec![9u8; 9000]);
    // Synced, the cut is durable.
    let f = OpenOptions::new().write(true).open(fx.at("t")).unwrap();
    f.set_len(10).unwrap();
    f.sync_all().unwrap();
    drop(f);
    fx.lose();
    assert_eq!(read(&fx.at("t")), vec![9u8; 10]);
    // O_TRUNC is a cached truncate too, while the file is open.
    let mut f = File::create(fx.at("t")).unwrap();
    f.write_all(b"new").unwrap();
    fx.lose();
    assert_eq!(read(&fx.at("t")), vec![9u8; 10]);
    // Cut to nothing, rewritten and closed, it is written back (ext4's auto_da_alloc).
    let mut f = File::create(fx.at("t")).unwrap();
    f.write_all(b"rewritten").unwrap();
    assert_eq!(fs::read(fx.backing.join("t")).unwrap(), vec![9u8; 10]);
    drop(f);
    // The kernel sends the release after close returns: wait for it to land.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while fs::read(fx.backing.join("t")).unwrap() != b"rewritten" {
        assert!(std::time::Instant::now() < deadline, "never written back");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    fx.lose();
    assert_eq!(read(&fx.at("t")), b"rewritten");
}

#[test]
fn what_the_kernel_would_have_written_back_by_itself_survives() {
    use std::time::{Duration, Instant};
    let fx = mount();
    let disk = fx.mnt.as_ref().unwrap().fs();
    fs::write(fx.at("c"), vec![9u8; 9000]).unwrap();
    File::open(fx.at("c")).unwrap().sync_all().unwrap();
    let c = OpenOptions::new().write(true).open(fx.at("c")).unwrap();
    c.set_len(100).unwrap();
    c.write_all_at(b"xy", 100).unwrap();
    let mut d = File::create(fx.at("d")).unwrap();
    d.write_all(b"young").unwrap();
    let now = Instant::now();
    assert_eq!(disk.write_back(now, Writeback::LINUX).unwrap(), 0);
    assert_eq!(fs::metadata(fx.backing.join("c")).unwrap().len(), 9000);
    // Five seconds on, the cut is on the disk; the data written after it is not.
    let cut = now + Duration::from_secs(5);
    assert_eq!(disk.write_back(cut, Writeback::LINUX).unwrap(), 0);
    assert_eq!(fs::metadata(fx.backing.join("c")).unwrap().len(), 100);
    assert_eq!(read(&fx.at("c")), [vec![9u8; 100], b"xy".to_vec()].concat());
    assert_eq!(fx.lose(), 2);
    assert_eq!(read(&fx.at("c")), vec![9u8; 100]);
    assert_eq!(read(&fx.at("d")), b"");
    // Thirty seconds on, the data is.
    d.write_all_at(b"old enough", 0).unwrap();
    assert_eq!(disk.write_back(cut, Writeback::LINUX).unwrap(), 0);
    let aged = Instant::now() + Duration::from_secs(30);
    assert_eq!(disk.write_back(aged, Writeback::NEVER).unwrap(), 0);
    assert_eq!(disk.write_back(aged, Writeback::LINUX).unwrap(), 1);
    assert_eq!(fx.lose(), 0);
    drop(d);
    assert_eq!(read(&fx.at("d")), b"old enough");
}

#[test]
fn an_fsync_of_any_file_commits_every_cut_made_before_it() {
    let fx = mount();
    fs::write(fx.at("log.1"), vec![7u8; 9000]).unwrap();
    File::open(fx.at("log.1")).unwrap().sync_all().unwrap();
    let old = OpenOptions::new().write(true).open(fx.at("log.1")).unwrap();
    old.set_len(4096).unwrap();
    old.write_all_at(b"unsynced", 4096).unwrap();
    let mut new = File::create(fx.at("log.2")).unwrap();
    new.write_all(b"synced").unwrap();
    new.sync_data().unwrap();
    assert_eq!(fs::metadata(fx.backing.join("log.1")).unwrap().len(), 4096);
    fx.lose();
    // The cut is on the disk with the journal the fsync committed; the data is not.
    assert_eq!(read(&fx.at("log.1")), vec![7u8; 4096]);
    assert_eq!(read(&fx.at("log.2")), b"synced");
}

#[test]
fn rename_after_write_keeps_the_cache_with_the_file() {
    let fx = mount();
    fs::create_dir(fx.at("d")).unwrap();
    // Written, synced, renamed over an old file: durable under the new name.
    fs::write(fx.at("d/old"), b"old").unwrap();
    File::open(fx.at("d/old")).unwrap().sync_all().unwrap();
    let mut f = File::create(fx.at("d/tmp")).unwrap();
    f.write_all(b"synced").unwrap();
    f.sync_all().unwrap();
    drop(f);
    fs::rename(fx.at("d/tmp"), fx.at("d/old")).unwrap();
    assert_eq!(read(&fx.at("d/old")), b"synced");
    // Written, renamed, never synced: the name is durable, the data is not.
    let mut f = File::create(fx.at("d/tmp2")).unwrap();
    f.write_all(b"unsynced").unwrap();
    drop(f);
    fs::rename(fx.at("d/tmp2"), fx.at("d/new")).unwrap();
    assert_eq!(read(&fx.at("d/new")), b"unsynced");
    // A renamed directory carries its files' caches along.
    let mut f = File::create(fx.at("d/deep")).unwrap();
    f.write_all(b"deep").unwrap();
    drop(f);
    fs::rename(fx.at("d"), fx.at("e")).unwrap();
    assert_eq!(read(&fx.at("e/deep")), b"deep");
    File::open(fx.at("e/deep")).unwrap().sync_all().unwrap();
    fx.lose();
    assert_eq!(read(&fx.at("e/old")), b"synced");
    assert_eq!(read(&fx.at("e/new")), b"");
    assert_eq!(read(&fx.at("e/deep")), b"deep");
    let mut names: Vec<String> = fs::read_dir(fx.at("e"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["deep", "new", "old"]);
    fs::remove_file(fx.at("e/new")).unwrap();
    assert!(!fx.backing.join("e/new").exists());
}

#[test]
fn a_reader_with_its_own_handle_sees_the_cache() {
    let fx = mount();
    let mut w = File::create(fx.at("r")).unwrap();
    let mut r = File::open(fx.at("r")).unwrap();
    w.write_all(b"abcdef").unwrap();
    r.seek(SeekFrom::Start(2)).unwrap();
    let mut buf = [0u8; 3];
    r.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"cde");
}

#[test]
fn settling_the_disks_of_a_run_writes_back_every_node_s_setup() {
    use splitbrain::runtime::powerfs::PowerDisks;
    let dir = tempfile::tempdir().unwrap();
    let disks = PowerDisks::default();
    let nodes = ["n1".to_string(), "n2".to_string()];
    for node in &nodes {
        let point = disks.mount(dir.path(), node).unwrap();
        fs::write(point.join("snapshot.0"), node.as_bytes()).unwrap();
    }
    disks.sync_every().unwrap();
    for node in &nodes {
        fs::write(dir.path().join(node).join("data/later"), b"unsynced").unwrap();
    }
    assert_eq!(
        disks.lose(&nodes).unwrap(),
        2,
        "only what came after is lost"
    );
    for node in &nodes {
        let data = dir.path().join(node).join("data");
        assert_eq!(read(&data.join("snapshot.0")), node.as_bytes());
        assert_eq!(read(&data.join("later")), b"");
    }
    disks.unmount_all();
    assert!(mounts_under(dir.path()).is_empty(), "still mounted");
    // The write-back thread goes with the mounts (no other test here starts one).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while writeback_threads() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "write-back threads left"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// This process's threads named for the write-back (names are cut to 15 bytes).
fn writeback_threads() -> usize {
    fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("powerfs-writeb"))
        .count()
}
