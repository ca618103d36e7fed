//! A cluster spread over two Docker hosts, every fault through the Docker API. A second
//! Docker daemon on this machine (its own data, exec root and pid file, listening on a
//! loopback TCP port) stands in for a remote host; the test starts it and removes all of
//! it afterwards.
//!
//! One test, in steps, because the steps share the second daemon and a 2-core machine
//! runs one cluster at a time well:
//! 1. correct raftd on 5 nodes over both hosts under partition, pause, kill and clock
//!    faults is valid, with failover figures, and nothing is left on either host;
//! 2. `lease-without-quorum-check` is caught the same way;
//! 3. the API-only path on this machine's daemon alone gives the verdicts the host-side
//!    docker path gives;
//! 4. the second host stopped mid-run ends the run unknown, naming the host; nothing is
//!    left on the first; the record of the run survives, and `splitbrain clean` removes
//!    what the run left on the second host once it answers again;
//! 5. an `ssh://` host: an sshd of the test's own on a loopback port, whose `docker
//!    system dial-stdio` reaches this machine's daemon, beside the second daemon: a
//!    correct run is valid and leaves nothing, and `clean` reaches the host through ssh.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::docker_available;

/// A second Docker daemon: no bridge and no iptables of its own (the first daemon's
/// rules stay the only ones on this machine), the first daemon's storage driver.
struct SecondDaemon {
    dir: tempfile::TempDir,
    child: Option<Child>,
    url: String,
    port: u16,
}

impl SecondDaemon {
    fn start() -> SecondDaemon {
        let port = free_port();
        // Short paths: containerd's sockets live under the exec root.
        let dir = tempfile::Builder::new()
            .prefix("sbd2-")
            .tempdir_in("/tmp")
            .unwrap();
        let mut d = SecondDaemon {
            url: format!("tcp://127.0.0.1:{port}"),
            port,
            child: None,
            dir,
        };
        d.launch();
        d
    }

    fn launch(&mut self) {
        let root = self.dir.path();
        std::fs::write(root.join("config.json"), "{}").unwrap();
        let driver = String::from_utf8(
            Command::new("docker")
                .args(["info", "--format", "{{.Driver}}"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let log = std::fs::File::create(root.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg(format!("--data-root={}", root.join("data").display()))
            .arg(format!("--exec-root={}", root.join("x").display()))
            .arg(format!("--pidfile={}", root.join("pid").display()))
            .arg(format!(
                "--config-file={}",
                root.join("config.json").display()
            ))
            .arg(format!("--host={}", self.url))
            .args(["--bridge=none", "--iptables=false", "--shutdown-timeout=2"])
            .arg(format!("--storage-driver={}", driver.trim()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd runs");
        self.child = Some(child);
        let t0 = Instant::now();
        while !self
            .docker(&["info", "--format", "{{.ID}}"])
            .status
            .success()
        {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "the second daemon did not answer within 60 s: {}",
                std::fs::read_to_string(root.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(&self.url)
            .args(args)
            .output()
            .unwrap()
    }

    /// Stop it as a host going down: SIGTERM, and wait until it is gone.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let t0 = Instant::now();
            while child.try_wait().unwrap().is_none() {
                if t0.elapsed() > Duration::from_secs(60) {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Drop for SecondDaemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            // Whatever a failed step left on it goes with it.
            for kind in ["container", "volume", "network"] {
                let ids = label_objects(&self.docker(&[
                    kind,
                    "ls",
                    "-q",
                    "--filter",
                    "label=splitbrain.run",
                ]));
                if !ids.is_empty() {
                    let mut args = vec![kind, "rm", "-f"];
                    if kind == "network" {
                        args.pop();
                    }
                    args.extend(ids.iter().map(String::as_str));
                    let _ = self.docker(&args);
                }
            }
            let images = label_objects(&self.docker(&["image", "ls", "-q"]));
            if !images.is_empty() {
                let mut args = vec!["image", "rm", "-f"];
                args.extend(images.iter().map(String::as_str));
                let _ = self.docker(&args);
            }
        }
        self.stop();
        // Its storage driver may leave mounts under the data root until they are undone.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "grep -o ' {}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                self.dir.path().display()
            ))
            .status();
    }
}

fn label_objects(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What a run of splitbrain left: exit code, results.json, test.json, stderr.
struct Ran {
    code: i32,
    results: serde_json::Value,
    test: serde_json::Value,
    text: String,
}

fn splitbrain() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_splitbrain"));
    if std::env::var_os("SPLITBRAIN_RAFTD").is_none() {
        cmd.env("SPLITBRAIN_RAFTD", common::raftd_binary());
    }
    cmd
}

fn run_args(results: &Path, hosts: &[&str], seed: u64, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["run", "--system", "raftd", "--runtime", "docker"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for h in hosts {
        args.extend(["--docker-host".to_string(), h.to_string()]);
    }
    args.extend(
        ["--seed", &seed.to_string(), "--results"]
            .iter()
            .map(|s| s.to_string()),
    );
    args.push(results.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn finished(results: &Path, out: Output) -> Ran {
    let dir = latest(results);
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::Value::Null)
    };
    Ran {
        code: out.status.code().unwrap_or(-1),
        results: read("results.json"),
        test: read("test.json"),
        text: format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn latest(results: &Path) -> PathBuf {
    std::fs::read_dir(results)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.join("test.json").is_file())
        .max()
        .expect("a results directory")
}

fn run(results: &Path, hosts: &[&str], seed: u64, extra: &[&str]) -> Ran {
    let out = splitbrain()
        .args(run_args(results, hosts, seed, extra))
        .output()
        .unwrap();
    finished(results, out)
}

/// The run ids of objects labelled by splitbrain on the daemon `docker` reaches.
fn leftovers(host: Option<&SecondDaemon>) -> Vec<String> {
    let mut out = Vec::new();
    for kind in ["container", "volume", "network"] {
        let args = [kind, "ls", "-q", "--filter", "label=splitbrain.run"];
        let listed = match host {
            Some(h) => h.docker(&args),
            None => Command::new("docker").args(args).output().unwrap(),
        };
        out.extend(
            label_objects(&listed)
                .into_iter()
                .map(|id| format!("{kind} {id}")),
        );
    }
    out
}

/// Nothing of any run is left on this machine's daemon or on `second`.
fn assert_nothing_left(second: &SecondDaemon) {
    assert!(
        leftovers(None).is_empty(),
        "left here: {:?}",
        leftovers(None)
    );
    assert!(
        leftovers(Some(second)).is_empty(),
        "left on {}: {:?}",
        second.url,
        leftovers(Some(second))
    );
}

const FAULTS: &[&str] = &["--nemesis", "partition,pause,kill,clock"];

#[test]
fn a_cluster_spread_over_two_docker_hosts() {
    if !docker_available() {
        eprintln!("skipped: no docker daemon");
        return;
    }
    assert!(
        leftovers(None).is_empty(),
        "another run's objects are on this machine's daemon: {:?}",
        leftovers(None)
    );
    let mut second = SecondDaemon::start();
    let here = "unix:///var/run/docker.sock";
    let hosts = [here, second.url.as_str()];
    let tmp = tempfile::tempdir().unwrap();

    // 1. Correct raftd over both hosts: valid, with failover figures, nothing left. A
    // fixed tempo (no swarm draw) picks each fault by kind, so that seed 1 injects every
    // kind however the swarm's weights change.
    let nodes5 = [
        "--nodes",
        "5",
        "--time-limit",
        "20",
        "--nemesis-interval-ms",
        "2000",
        "--nemesis-duration-ms",
        "1200",
    ];
    let args: Vec<&str> = nodes5.iter().chain(FAULTS).copied().collect();
    let ok = run(&tmp.path().join("valid"), &hosts, 1, &args);
    assert_eq!(
        ok.code, 0,
        "correct raftd over two hosts must be valid:\n{}",
        ok.text
    );
    assert_eq!(ok.results["valid"], true);
    assert_eq!(ok.test["spec"]["docker_hosts"], serde_json::json!(hosts));
    let addrs: std::collections::BTreeSet<String> = ok.test["topology"]["nodes"]
        .as_array()
        .expect("topology in test.json")
        .iter()
        .map(|n| n["host"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(addrs.len(), 2, "nodes on both hosts: {addrs:?}");
    assert!(
        ok.text.contains("failover to a leader: p50"),
        "failover figures:\n{}",
        ok.text
    );
    for kind in ["partition", "pause", "kill", "clock"] {
        assert!(
            ok.results["exercised"].to_string().contains("faults")
                && ok.text.contains(&format!("      {kind}")),
            "{kind} was injected:\n{}",
            ok.text
        );
    }
    assert_nothing_left(&second);

    // 2. A lease without check-quorum is caught with nodes on both hosts.
    let bug = [
        "--bug",
        "lease-without-quorum-check",
        "--nemesis",
        "partition-isolate-leader",
        "--nemesis-interval-ms",
        "3000",
        "--nemesis-duration-ms",
        "2000",
        "--time-limit",
        "15",
    ];
    let caught = |hosts: &[&str], nodes: &str, dir: &str| {
        let extra = [&["--nodes", nodes][..], &bug[..]].concat();
        (1..=3)
            .map(|seed| run(&tmp.path().join(dir), hosts, seed, &extra))
            .inspect(|r| assert!(r.code == 0 || r.code == 1, "{}", r.text))
            .find(|r| r.code == 1)
    };
    let r = caught(&hosts, "5", "bug").expect("caught over two hosts in one of seeds 1-3");
    assert!(common::violations(&r.results).contains(&"dual-leadership".to_string()));

    // 3. The API-only path on this machine's daemon alone gives the verdicts of the
    //    host-side docker path: valid for correct raftd, the bug caught.
    let correct = [&["--nodes", "3", "--time-limit", "15"][..], FAULTS].concat();
    // A run may end without a verdict (a harness failure, nothing injected): the
    // comparison is on the first seed where both paths reach one.
    let both = (2..=4)
        .map(|seed| {
            let api = run(&tmp.path().join("api"), &[here], seed, &correct);
            let local = run(&tmp.path().join("local"), &[], seed, &correct);
            (api, local)
        })
        .find(|(api, local)| api.code != 3 && local.code != 3)
        .expect("both paths reach a verdict on one of seeds 2-4");
    assert_eq!(
        (both.0.code, both.1.code),
        (0, 0),
        "{}\n{}",
        both.0.text,
        both.1.text
    );
    for (label, on) in [("API-only", &[here][..]), ("host-side", &[][..])] {
        let r = caught(on, "3", "path");
        assert!(
            r.is_some(),
            "{label}: lease-without-quorum-check caught in seeds 1-3"
        );
    }

    // 4. The second host goes down mid-run.
    let results = tmp.path().join("lost");
    let long = ["--nodes", "4", "--time-limit", "60"];
    let args4: Vec<&str> = long.iter().chain(FAULTS).copied().collect();
    let child = splitbrain()
        .args(run_args(&results, &hosts, 5, &args4))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until its nodes run on the second host and the workload has begun.
    let t0 = Instant::now();
    loop {
        let running =
            label_objects(&second.docker(&["ps", "-q", "--filter", "label=splitbrain.run"]));
        let started = std::fs::read_dir(&results)
            .ok()
            .and_then(|mut d| d.find_map(|e| e.ok()))
            .map(|e| e.path().join("history.jsonl"))
            .and_then(|h| std::fs::metadata(h).ok())
            .is_some_and(|m| m.len() > 0);
        if running.len() >= 2 && started {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(180),
            "the run never started on the second host"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    second.stop();
    let out = child.wait_with_output().unwrap();
    let lost = finished(&results, out);
    assert_eq!(lost.code, 3, "a lost host gives no verdict:\n{}", lost.text);
    assert!(
        lost.text
            .contains(&format!("docker host {} stopped answering", second.url)),
        "the host is named:\n{}",
        lost.text
    );
    assert!(
        lost.results.to_string().contains(&second.url),
        "results.json names the host: {}",
        lost.results
    );
    assert!(
        lost.text
            .contains(&format!("docker host {} does not answer", second.url)),
        "teardown says what it could not remove:\n{}",
        lost.text
    );
    assert!(
        lost.results["left_behind"]
            .as_str()
            .is_some_and(|s| s.contains(&second.url) && s.contains("were not removed")),
        "results.json says what is left where: {}",
        lost.results
    );
    assert!(
        leftovers(None).is_empty(),
        "left here: {:?}",
        leftovers(None)
    );
    // Back up: `clean` finds the run's record and removes what it left there.
    second.launch();
    assert!(
        !leftovers(Some(&second)).is_empty(),
        "the stopped containers are still there"
    );
    let clean = splitbrain().arg("clean").output().unwrap();
    let said = String::from_utf8_lossy(&clean.stdout);
    assert!(
        clean.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert!(
        said.contains(&format!("on {}", second.url)),
        "clean names the host it removed from:\n{said}"
    );
    assert!(
        leftovers(Some(&second)).is_empty(),
        "left on {}: {:?}",
        second.url,
        leftovers(Some(&second))
    );

    // 5. Through ssh: this machine's daemon behind an sshd of the test's own, beside the
    //    second daemon.
    let sshd = SshServer::start();
    let ssh_hosts = ["ssh://root@127.0.0.1", second.url.as_str()];
    let through = [&["--nodes", "3", "--time-limit", "15"][..], FAULTS].concat();
    let out = sshd
        .client(splitbrain())
        .args(run_args(&tmp.path().join("ssh"), &ssh_hosts, 1, &through))
        .output()
        .unwrap();
    let r = finished(&tmp.path().join("ssh"), out);
    assert_eq!(
        r.code, 0,
        "correct raftd through ssh must be valid:\n{}",
        r.text
    );
    assert_eq!(r.test["spec"]["docker_hosts"], serde_json::json!(ssh_hosts));
    assert_nothing_left(&second);
    let clean = sshd
        .client(splitbrain())
        .args(["clean", "--docker-host", "ssh://root@127.0.0.1"])
        .output()
        .unwrap();
    assert!(
        clean.status.success(),
        "clean through ssh: {}",
        String::from_utf8_lossy(&clean.stderr)
    );
    let refused = splitbrain()
        .args([
            "run",
            "--docker-host",
            &format!("ssh://root@127.0.0.1:{}", sshd.port),
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("~/.ssh/config"));
    let _ = second.port;
}

/// An sshd of the test's own on a loopback port, root logging in with a key made for it,
/// and an `ssh` that knows the port: first on the `PATH` of the commands given to
/// [`SshServer::client`], reading the test's configuration.
struct SshServer {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
    /// The privilege separation directory was made here and goes with the server.
    made_run_dir: bool,
}

impl SshServer {
    fn start() -> SshServer {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for key in ["host", "client"] {
            let made = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(d.join(key))
                .status()
                .expect("ssh-keygen (openssh-client; scripts/install-deps installs it)");
            assert!(made.success());
        }
        std::fs::copy(d.join("client.pub"), d.join("authorized_keys")).unwrap();
        let port = free_port();
        let p = |f: &str| d.join(f).display().to_string();
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\n\
                 AuthorizedKeysFile {}\nPermitRootLogin prohibit-password\nStrictModes no\n\
                 UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n",
                p("host"),
                p("sshd.pid"),
                p("authorized_keys")
            ),
        )
        .unwrap();
        std::fs::write(
            d.join("ssh_config"),
            format!(
                "Host 127.0.0.1\n  Port {port}\n  IdentityFile {}\n  IdentitiesOnly yes\n\
                 \x20 StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n",
                p("client")
            ),
        )
        .unwrap();
        let bin = d.join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(
            bin.join("ssh"),
            format!(
                "#!/bin/sh\nexec /usr/bin/ssh -F {} \"$@\"\n",
                p("ssh_config")
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(bin.join("ssh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let run_dir = Path::new("/run/sshd");
        let made_run_dir = !run_dir.exists();
        if made_run_dir {
            std::fs::create_dir(run_dir).unwrap();
        }
        let child = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .arg("-E")
            .arg(d.join("sshd.log"))
            .spawn()
            .expect("sshd (openssh-server; scripts/install-deps installs it)");
        let server = SshServer {
            dir,
            child,
            port,
            made_run_dir,
        };
        // Up once it takes a login and runs docker there.
        let t0 = Instant::now();
        loop {
            let answered = server
                .client(Command::new("ssh"))
                .args([
                    "root@127.0.0.1",
                    "docker",
                    "version",
                    "--format",
                    "{{.Server.Version}}",
                ])
                .output()
                .is_ok_and(|o| o.status.success());
            if answered {
                break server;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "the test's sshd never took a login: {}",
                std::fs::read_to_string(server.dir.path().join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `cmd` with the test's `ssh` first on its `PATH`.
    fn client(&self, mut cmd: Command) -> Command {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env(
            "PATH",
            format!("{}:{path}", self.dir.path().join("bin").display()),
        );
        cmd
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.made_run_dir {
            let _ = std::fs::remove_dir("/run/sshd");
        }
    }
}
