//! `splitbrain clean`, the built binary run as root, against what other users can plant
//! (state files, directories, shm files and symlinks written by user nobody) and against
//! live runs. They need root, `setpriv` and the user `nobody`.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The tests share /run/splitbrain and a global `clean`: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const STATE_DIR: &str = "/run/splitbrain";
const NOBODY_UID: u32 = 65534;
/// Bound on a SIGKILLed process disappearing.
const EXIT_TIMEOUT_MS: u64 = 5000;

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn clean(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("clean")
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(
        out.status.success(),
        "clean {args:?}: {:?}\n{stdout}\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

fn require_root() {
    // SAFETY: geteuid cannot fail.
    assert_eq!(unsafe { libc::geteuid() }, 0, "these tests run as root");
}

/// A fresh run id (8 lowercase hex digits).
fn run_id() -> String {
    let mut b = [0u8; 4];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Run a shell script as user nobody (`$1`… are `args`), `input` on its stdin.
fn as_nobody(script: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .args(["sh", "-c", script, "sh"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn nobody_ok(script: &str, args: &[&str], input: &[u8]) {
    let out = as_nobody(script, args, input);
    assert!(
        out.status.success(),
        "as nobody: {script} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn start_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

/// `sleep` for ten minutes, with only `env` in its environment.
fn sleeper(env: &[(&str, &str)]) -> Child {
    Command::new("sleep")
        .arg("600")
        .env_clear()
        .envs(env.iter().copied())
        .spawn()
        .unwrap()
}

fn running(c: &mut Child) -> bool {
    matches!(c.try_wait(), Ok(None))
}

fn wait_dead(c: &mut Child) -> bool {
    let end = Instant::now() + Duration::from_millis(EXIT_TIMEOUT_MS);
    while Instant::now() < end {
        if !running(c) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn link_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", name])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn lexists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// The state file a run writes (with the fields older versions required too, so they
/// read it the same way).
fn state_json(
    run_id: &str,
    controller: Option<(u32, u64)>,
    procs: &[(&str, u32, u64)],
    host_links: &[&str],
    dirs: &[&str],
) -> Vec<u8> {
    let procs: Vec<_> = procs
        .iter()
        .map(|(node, pid, ticks)| serde_json::json!({"node": node, "pid": pid, "start_ticks": ticks}))
        .collect();
    let mut v = serde_json::json!({
        "run_id": run_id,
        "processes": procs,
        "netns": [],
        "host_links": host_links,
        "dirs": dirs,
        "shm_files": [],
    });
    if let Some((pid, ticks)) = controller {
        v["controller"] = serde_json::json!({"pid": pid, "start_ticks": ticks});
    }
    serde_json::to_vec_pretty(&v).unwrap()
}

/// The state directory as a run makes it (root, 0700), and whether this test made it.
fn ensure_state_dir() -> bool {
    match std::fs::DirBuilder::new().mode(0o700).create(STATE_DIR) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
        Err(e) => panic!("{STATE_DIR}: {e}"),
    }
}

fn write_file(path: &Path, mode: u32, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Removes what a test made, even when it fails half way.
#[derive(Default)]
struct Leftovers {
    paths: Vec<PathBuf>,
    empty_dirs: Vec<PathBuf>,
    links: Vec<String>,
    children: Vec<Child>,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for p in &self.paths {
            match std::fs::symlink_metadata(p) {
                Ok(m) if m.is_dir() => drop(std::fs::remove_dir_all(p)),
                Ok(_) => drop(std::fs::remove_file(p)),
                Err(_) => {}
            }
        }
        for d in &self.empty_dirs {
            let _ = std::fs::remove_dir(d);
        }
        for l in &self.links {
            let _ = Command::new("ip").args(["link", "del", l]).status();
        }
    }
}

/// User nobody plants state files that name a victim directory (through `..`), two
/// victim processes and a victim interface — in the world-writable places an older
/// clean read (/tmp/splitbrain-state), in root's fallback /tmp/splitbrain-0, and in
/// /run/splitbrain with the wrong owner, mode, a symlink or a run id other than its
/// name — plus shm files, a symlink and a data directory named after the run. `clean`
/// as root, with and without `--run` and `--force`, touches none of it.
#[test]
fn planted_state_files_touch_nothing_outside_the_run() {
    let _g = serial();
    require_root();
    let mut left = Leftovers::default();
    let id = run_id();

    // The victims: a directory, two processes (one even carrying the run's marker) and
    // an interface, none of them the run's.
    let victim_root = tempfile::Builder::new()
        .prefix("sbvictim-")
        .tempdir_in("/tmp")
        .unwrap();
    let victim_dir = victim_root.path().join("victimdir");
    std::fs::create_dir(&victim_dir).unwrap();
    let precious = victim_dir.join("precious");
    std::fs::write(&precious, "keep me").unwrap();
    left.children.push(sleeper(&[("SPLITBRAIN_RUN", &id)]));
    left.children.push(sleeper(&[]));
    let (v1, v2) = (left.children[0].id(), left.children[1].id());
    let victim_procs = [("n1", v1, start_ticks(v1)), ("n2", v2, 0)];
    let link = format!("sbv{}", &run_id()[..6]);
    assert!(Command::new("ip")
        .args([
            "link",
            "add",
            &link,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{link}p")
        ])
        .status()
        .unwrap()
        .success());
    left.links.push(link.clone());

    // `/tmp/sb-<id>x/../<victim>` resolves once nobody has made `/tmp/sb-<id>x`.
    let via = format!(
        "{id}x/../{}/victimdir",
        victim_root.path().file_name().unwrap().to_str().unwrap()
    );
    let via_dir = format!("/tmp/sb-{via}");
    let planted = state_json(&via, None, &victim_procs, &[&link], &[&via_dir]);
    for p in [
        format!("/tmp/sb-{id}x"),
        format!("/tmp/sb-{id}"),
        format!("/dev/shm/sb-{id}-n1"),
        format!("/dev/shm/sb-{id}-n2"),
    ] {
        left.paths.push(PathBuf::from(p));
    }
    nobody_ok(
        "mkdir /tmp/sb-$1x /tmp/sb-$1 && echo mine > /tmp/sb-$1/data",
        &[&id],
        b"",
    );
    nobody_ok("cat > /tmp/sb-$1x/evil.json", &[&id], &planted);
    nobody_ok(
        "echo x > /dev/shm/sb-$1-n1 && ln -s $2 /dev/shm/sb-$1-n2",
        &[&id, precious.to_str().unwrap()],
        b"",
    );
    assert!(
        Path::new(&via_dir).join("precious").exists(),
        "the path resolves to the victim"
    );

    // The old world-writable state directory, and root's fallback one, made by nobody.
    for dir in ["/tmp/splitbrain-state", "/tmp/splitbrain-0"] {
        if !lexists(Path::new(dir)) {
            nobody_ok("mkdir -p $1", &[dir], b"");
            left.paths.push(PathBuf::from(dir));
        }
        let file = format!("{dir}/{id}.json");
        let wrote = as_nobody("cat > $1", &[&file], &planted);
        println!("as nobody, write {file}: {:?}", wrote.status);
        left.paths.push(PathBuf::from(file));
    }

    // In the real state directory: nobody cannot write there, so these are what a bug
    // or a careless admin could leave — and clean must refuse each.
    if ensure_state_dir() {
        left.empty_dirs.push(PathBuf::from(STATE_DIR));
    }
    let refused = as_nobody("echo > $1", &[&format!("{STATE_DIR}/{id}.json")], b"");
    assert!(!refused.status.success(), "nobody cannot write {STATE_DIR}");
    let (id_owner, id_mode, id_link, id_name) = (run_id(), run_id(), run_id(), run_id());
    let in_state = |i: &str| PathBuf::from(format!("{STATE_DIR}/{i}.json"));
    for i in [&id_owner, &id_mode, &id_link, &id_name] {
        left.paths.push(in_state(i));
    }
    let for_run = |i: &str| state_json(i, None, &victim_procs, &[&link], &[&via_dir]);
    write_file(&in_state(&id_owner), 0o600, &for_run(&id_owner));
    std::os::unix::fs::chown(in_state(&id_owner), Some(NOBODY_UID), None).unwrap();
    write_file(&in_state(&id_mode), 0o666, &for_run(&id_mode));
    std::os::unix::fs::symlink(format!("/tmp/sb-{id}x/evil.json"), in_state(&id_link)).unwrap();
    write_file(&in_state(&id_name), 0o600, &planted);

    let survived = |left: &mut Leftovers, after: &str| {
        assert!(
            precious.exists(),
            "{after}: the victim directory was removed"
        );
        assert!(
            running(&mut left.children[0]),
            "{after}: victim process 1 was killed"
        );
        assert!(
            running(&mut left.children[1]),
            "{after}: victim process 2 was killed"
        );
        assert!(
            link_exists(&link),
            "{after}: the victim interface was deleted"
        );
        for p in [
            format!("/tmp/sb-{id}/data"),
            format!("/dev/shm/sb-{id}-n1"),
            format!("/dev/shm/sb-{id}-n2"),
        ] {
            assert!(lexists(Path::new(&p)), "{after}: nobody's {p} was removed");
        }
    };
    let (_, err) = clean(&["--run", &id]);
    survived(&mut left, "clean --run <planted in /tmp>");
    println!("clean --run {id}:\n{err}");
    assert!(err.contains("ignored /tmp/splitbrain-state"), "{err}");
    assert!(
        err.contains("ignored state directory /tmp/splitbrain-0"),
        "{err}"
    );
    assert!(
        err.contains(&format!("left /dev/shm/sb-{id}-n1: owned by uid 65534")),
        "{err}"
    );
    for (i, why) in [
        (&id_owner, "owned by uid 65534, not 0"),
        (&id_mode, "mode 666: others may write it"),
        (&id_link, "a symlink"),
        (&id_name, "names run"),
    ] {
        let (_, err) = clean(&["--run", i]);
        survived(&mut left, &format!("clean --run <{why}>"));
        let want = format!("ignored state file {}: {why}", in_state(i).display());
        assert!(err.contains(&want), "{err}");
    }
    clean(&["--run", &id, "--force"]);
    survived(&mut left, "clean --run --force");
    let (out, _) = clean(&[]);
    survived(&mut left, "clean");
    assert!(
        out.contains(&format!("skipped run {id}: nothing records its controller")),
        "{out}"
    );
}

/// A run as a netns or local run leaves it: a data directory, an shm file and a state file
/// (root's, mode 0600) naming its controller and processes.
fn make_run(
    left: &mut Leftovers,
    id: &str,
    controller: (u32, u64),
    procs: &[(&str, u32, u64)],
) -> (PathBuf, PathBuf, PathBuf) {
    let data = PathBuf::from(format!("/tmp/sb-{id}"));
    let shm = PathBuf::from(format!("/dev/shm/sb-{id}-n1"));
    let state = PathBuf::from(format!("{STATE_DIR}/{id}.json"));
    left.paths
        .extend([data.clone(), shm.clone(), state.clone()]);
    std::fs::create_dir_all(data.join("n1/data")).unwrap();
    std::fs::write(data.join("n1/data/log"), "entries").unwrap();
    std::fs::write(&shm, "+0.000\n").unwrap();
    write_file(
        &state,
        0o600,
        &state_json(id, Some(controller), procs, &[], &[]),
    );
    (data, shm, state)
}

/// A run whose controller lives is skipped (with and without --run) until --force; a
/// run whose controller ended is removed by a plain `clean`, but of its recorded pids
/// only the process that is still the one it started (start time and the
/// SPLITBRAIN_RUN marker) is killed.
#[test]
fn live_runs_are_skipped_and_only_the_runs_own_processes_die() {
    let _g = serial();
    require_root();
    let mut left = Leftovers::default();
    if ensure_state_dir() {
        left.empty_dirs.push(PathBuf::from(STATE_DIR));
    }
    // Run a: its controller runs.
    let a = run_id();
    left.children.push(sleeper(&[]));
    left.children.push(sleeper(&[("SPLITBRAIN_RUN", &a)]));
    let (ctl, node) = (left.children[0].id(), left.children[1].id());
    let procs = [("n1", node, start_ticks(node))];
    let (data, shm, state) = make_run(&mut left, &a, (ctl, start_ticks(ctl)), &procs);
    let skip = format!(
        "skipped run {a}: its controller (pid {ctl}) is still running; --force to remove it"
    );
    for args in [&["--run", a.as_str()][..], &[]] {
        let (out, _) = clean(args);
        assert!(out.contains(&skip), "clean {args:?}: {out}");
        assert!(
            running(&mut left.children[1]),
            "clean {args:?} killed a live run's node"
        );
        assert!(
            data.exists() && shm.exists() && state.exists(),
            "clean {args:?}"
        );
    }
    let (out, _) = clean(&["--run", &a, "--force"]);
    assert!(
        out.contains(&format!("removed process {node} (node n1 of run {a})")),
        "{out}"
    );
    assert!(
        wait_dead(&mut left.children[1]),
        "--force left the node running"
    );
    assert!(!data.exists() && !shm.exists() && !state.exists(), "{out}");
    assert!(
        running(&mut left.children[0]),
        "clean never kills a controller"
    );

    // Run b: its controller has ended; of four recorded pids, only n1 is the run's own.
    let b = run_id();
    let mut ended = sleeper(&[]);
    let ended_ctl = (ended.id(), start_ticks(ended.id()));
    ended.kill().unwrap();
    ended.wait().unwrap();
    let marker = [("SPLITBRAIN_RUN", b.as_str())];
    for env in [&marker[..], &[], &marker, &marker] {
        left.children.push(sleeper(env));
    }
    let pids: Vec<u32> = left.children.iter().map(Child::id).collect();
    let pid = |i: usize| pids[i];
    let procs = [
        ("n1", pid(2), start_ticks(pid(2))),
        // No marker: a pid reused by a process that is not a node.
        ("n2", pid(3), start_ticks(pid(3))),
        // Start time unknown.
        ("n3", pid(4), 0),
        // Another start time: the pid was reused.
        ("n4", pid(5), start_ticks(pid(5)) + 1),
    ];
    let (data, shm, state) = make_run(&mut left, &b, ended_ctl, &procs);
    let (out, _) = clean(&[]);
    assert!(
        out.contains(&format!("removed process {} (node n1 of run {b})", pid(2))),
        "{out}"
    );
    assert!(wait_dead(&mut left.children[2]), "the run's node survived");
    for i in 3..6 {
        assert!(
            running(&mut left.children[i]),
            "clean killed pid {} ({out})",
            pid(i)
        );
    }
    assert!(!data.exists() && !shm.exists() && !state.exists(), "{out}");
}
