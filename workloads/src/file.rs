//! A system file: a user's system, in any language, that serves the node protocol
//! (docs/protocol.md), described in TOML so that splitbrain runs it like a built-in one.
//! The file says how to start node *i* of *n* (a command template for the process
//! runtimes, an image or a Dockerfile for docker), where its protocol is served, what it
//! claims (so that the checkers hold it to exactly that) and how its clock moves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use serde::Deserialize;

use crate::client::{Client, CLIENT_TIMEOUT_MS_DEFAULT};
use crate::protocol::ProtocolClient;
use crate::system::{
    validate_topology, ClockControl, Descriptor, FencingMode, Guarantees, Image, NodeAddr,
    NodePorts, NodeSpec, Serves, Setup, System, SystemError, SystemOptions, Topology,
};

/// The longest a system file may be; anything larger is not a description of a system.
pub const FILE_BYTES_MAX: u64 = 1 << 20;

/// Every placeholder a command, an environment value or the base URL may hold.
pub const PLACEHOLDERS: [&str; 12] = [
    "name",
    "index",
    "nodes",
    "host",
    "listen_host",
    "client_port",
    "peer_port",
    "peers",
    "clients",
    "data_dir",
    "seed",
    "dir",
];

/// A system file, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemFile {
    /// `[a-z0-9-]`, 1 to 32 bytes, and no built-in system's name.
    pub name: String,
    /// What its nodes run, for `test.json`.
    #[serde(default)]
    pub version: Option<String>,
    pub node: NodeSection,
    #[serde(default)]
    pub docker: Option<DockerSection>,
    #[serde(default)]
    pub protocol: ProtocolSection,
    pub claims: Claims,
    #[serde(default)]
    pub clock: Option<ClockSection>,
}

/// `[node]`: how node *i* of *n* starts as a process (netns and local runtimes).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// argv, program first; every element a template.
    pub command: Vec<String>,
    /// Extra environment; every value a template.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The port it serves the protocol on where the runtime picks ports.
    pub client_port: u16,
    /// The port its peers talk to it on where the runtime picks ports.
    pub peer_port: u16,
    /// How one node appears in `{peers}` (comma-separated, every node in order): a
    /// template of `{name}`, `{index}`, `{host}`, `{client_port}` and `{peer_port}`.
    #[serde(default = "default_peer_format")]
    pub peer_format: String,
}

fn default_peer_format() -> String {
    "{name}={host}:{peer_port}".into()
}

/// `[docker]`: what a node runs in a container.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DockerSection {
    /// An image already on the docker host, used as is.
    #[serde(default)]
    pub image: Option<String>,
    /// A Dockerfile (relative to the system file's directory) built on the docker host.
    #[serde(default)]
    pub dockerfile: Option<String>,
    /// The build context (relative to the system file's directory); the Dockerfile's
    /// directory by default.
    #[serde(default)]
    pub context: Option<String>,
    /// argv inside the container; `node.command` by default.
    #[serde(default)]
    pub command: Option<Vec<String>>,
}

/// `[protocol]`: where and how patiently the protocol is spoken.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProtocolSection {
    /// A node's base URL, a template.
    pub base_url: String,
    /// The bound on one call, from the request to the answer's last byte.
    pub client_timeout_ms: u64,
    /// `GET` of this path answered 200 means the node is up (`conform` waits for it).
    pub ready_path: String,
    pub ready_timeout_ms: u64,
}

impl Default for ProtocolSection {
    fn default() -> Self {
        ProtocolSection {
            base_url: "http://{host}:{client_port}".into(),
            client_timeout_ms: CLIENT_TIMEOUT_MS_DEFAULT,
            ready_path: "/status".into(),
            ready_timeout_ms: 30_000,
        }
    }
}

/// `[claims]`: what the system promises, and which optional parts it serves.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// At most one node reports itself leader at any instant.
    pub exclusive_leadership: bool,
    /// What the store enforces on writes that carry a token.
    pub fencing: FencingMode,
    /// It serves `acquire`, `holding` and `release`.
    #[serde(default = "yes")]
    pub locks: bool,
    /// It serves `GET /read?local=true`.
    #[serde(default = "yes")]
    pub read_local: bool,
    /// Its status carries `vote`.
    #[serde(default)]
    pub vote: bool,
}

fn yes() -> bool {
    true
}

/// `[clock]`: how a node's wall clock moves; without it there are no clock faults.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockSection {
    /// An admin call the node serves (`POST PATH {"offset_ms": N, "rate": 1.0}`).
    #[serde(default)]
    pub admin_call: Option<String>,
    /// libfaketime, preloaded from this path (inside the node), for a dynamically linked
    /// program that reads the clock through libc.
    #[serde(default)]
    pub faketime: Option<String>,
}

/// A system file that cannot be used: which file, which key, and what would be right.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FileError {
    pub path: String,
    pub message: String,
}

/// A system file read and checked, with where it was found.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub file: SystemFile,
    /// The file, absolute.
    pub path: PathBuf,
    /// The file's directory: `{dir}`, and the base of relative paths.
    pub dir: PathBuf,
}

impl Loaded {
    /// Reads and checks `path`. Every complaint names the key and what would be right.
    pub fn read(path: &Path) -> Result<Loaded, FileError> {
        let shown = path.display().to_string();
        let fail = |message: String| FileError {
            path: shown.clone(),
            message,
        };
        let path = std::fs::canonicalize(path)
            .map_err(|e| fail(format!("cannot open the system file: {e}")))?;
        let meta = std::fs::metadata(&path).map_err(|e| fail(e.to_string()))?;
        if !meta.is_file() {
            return Err(fail("is not a file; give the path of a system.toml".into()));
        }
        if meta.len() > FILE_BYTES_MAX {
            return Err(fail(format!(
                "is {} bytes; a system file holds at most {FILE_BYTES_MAX}",
                meta.len()
            )));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| fail(format!("cannot read it as UTF-8 text: {e}")))?;
        let file: SystemFile = toml::from_str(&text).map_err(|e| fail(describe_toml(&e, &text)))?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        let loaded = Loaded { file, path, dir };
        loaded.check().map_err(fail)?;
        Ok(loaded)
    }

    fn check(&self) -> Result<(), String> {
        let f = &self.file;
        let name_ok = !f.name.is_empty()
            && f.name.len() <= 32
            && f.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(format!(
                "name = {:?}: use 1 to 32 lowercase letters, digits or '-', such as \"bully\"",
                f.name
            ));
        }
        if let Some(d) = crate::SYSTEMS.iter().find(|d| d.name == f.name) {
            return Err(format!(
                "name = {:?} is a built-in system's; pick another, such as \"my-{}\"",
                f.name, d.name
            ));
        }
        if f.node.command.is_empty() || f.node.command[0].trim().is_empty() {
            return Err(
                "node.command is empty; give the program and its arguments, such as [\"python3\", \"{dir}/node.py\", \"--name\", \"{name}\"]"
                    .into(),
            );
        }
        check_templates("node.command", &f.node.command)?;
        check_templates(
            "node.peer_format",
            std::slice::from_ref(&f.node.peer_format),
        )?;
        for p in [
            "nodes",
            "peers",
            "clients",
            "data_dir",
            "seed",
            "dir",
            "listen_host",
        ] {
            if f.node.peer_format.contains(&format!("{{{p}}}")) {
                return Err(format!(
                    "node.peer_format = {:?}: {{{p}}} is not a property of one node; use {{name}}, {{index}}, {{host}}, {{client_port}}, {{peer_port}}",
                    f.node.peer_format
                ));
            }
        }
        for (k, v) in &f.node.env {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return Err(format!("node.env: {k:?} is no environment variable name"));
            }
            check_templates(&format!("node.env.{k}"), std::slice::from_ref(v))?;
        }
        for (key, port) in [
            ("node.client_port", f.node.client_port),
            ("node.peer_port", f.node.peer_port),
        ] {
            if port == 0 {
                return Err(format!("{key} = 0; give the port, 1 to 65535"));
            }
        }
        if f.node.client_port == f.node.peer_port {
            return Err(format!(
                "node.client_port and node.peer_port are both {}; give two ports",
                f.node.client_port
            ));
        }
        let p = &f.protocol;
        check_templates("protocol.base_url", std::slice::from_ref(&p.base_url))?;
        for name in PLACEHOLDERS {
            let known = ["name", "host", "client_port", "peer_port"];
            if !known.contains(&name) && p.base_url.contains(&format!("{{{name}}}")) {
                return Err(format!(
                    "protocol.base_url = {:?}: {{{name}}} cannot be used there; use {{name}}, {{host}}, {{client_port}}, {{peer_port}}",
                    p.base_url
                ));
            }
        }
        if !p.base_url.starts_with("http://") {
            return Err(format!(
                "protocol.base_url = {:?}: the protocol is plain HTTP; use \"http://{{host}}:{{client_port}}\"",
                p.base_url
            ));
        }
        if !(1..=600_000).contains(&p.client_timeout_ms) {
            return Err(format!(
                "protocol.client_timeout_ms = {}: use 1 to 600000",
                p.client_timeout_ms
            ));
        }
        if !(1..=600_000).contains(&p.ready_timeout_ms) {
            return Err(format!(
                "protocol.ready_timeout_ms = {}: use 1 to 600000",
                p.ready_timeout_ms
            ));
        }
        check_path("protocol.ready_path", &p.ready_path)?;
        if let Some(d) = &f.docker {
            match (&d.image, &d.dockerfile) {
                (Some(_), Some(_)) => {
                    return Err(
                        "docker: give image (an image already built) or dockerfile (one to build), not both"
                            .into(),
                    )
                }
                (None, None) => {
                    return Err(
                        "docker: give image (an image already built, such as \"my/node:1\") or dockerfile (such as \"Dockerfile\")"
                            .into(),
                    )
                }
                (Some(image), None) if image.trim().is_empty() || image.contains(char::is_whitespace) => {
                    return Err(format!("docker.image = {image:?} is no image reference"))
                }
                (None, Some(dockerfile)) => {
                    let (context, file) = self.dockerfile_paths(d, dockerfile);
                    if !context.is_dir() {
                        return Err(format!(
                            "docker.context: {} is not a directory",
                            context.display()
                        ));
                    }
                    if !context.join(&file).is_file() {
                        return Err(format!(
                            "docker.dockerfile: {} is not a file",
                            context.join(&file).display()
                        ));
                    }
                }
                _ => {}
            }
            if d.context.is_some() && d.dockerfile.is_none() {
                return Err("docker.context is given without docker.dockerfile".into());
            }
            if let Some(command) = &d.command {
                if command.is_empty() {
                    return Err("docker.command is empty; leave it out to use node.command".into());
                }
                check_templates("docker.command", command)?;
                if command.iter().any(|a| a.contains("{dir}")) {
                    return Err(
                        "docker.command uses {dir}, the system file's directory on this machine, which a container does not see; use a path inside the image"
                            .into(),
                    );
                }
            }
        }
        if let Some(c) = &f.clock {
            match (&c.admin_call, &c.faketime) {
                (Some(path), None) => check_path("clock.admin_call", path)?,
                (None, Some(lib)) if !lib.starts_with('/') => {
                    return Err(format!(
                        "clock.faketime = {lib:?}: give the library's absolute path, such as \"/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1\""
                    ))
                }
                (None, Some(_)) => {}
                _ => {
                    return Err(
                        "clock: give exactly one of admin_call (such as \"/admin/clock\") or faketime (libfaketime's path); leave [clock] out for no clock faults"
                            .into(),
                    )
                }
            }
        }
        Ok(())
    }

    /// The build context and the Dockerfile's path within it.
    fn dockerfile_paths(&self, d: &DockerSection, dockerfile: &str) -> (PathBuf, PathBuf) {
        let full = self.dir.join(dockerfile);
        let context = match &d.context {
            Some(c) => self.dir.join(c),
            None => full
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or(self.dir.clone()),
        };
        let file = full
            .strip_prefix(&context)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| full.clone());
        (context, file)
    }

    /// How its clock moves.
    pub fn clock(&self) -> ClockControl {
        match &self.file.clock {
            Some(ClockSection {
                admin_call: Some(path),
                ..
            }) => ClockControl::AdminCall { path: path.clone() },
            Some(ClockSection {
                faketime: Some(library),
                ..
            }) => ClockControl::Faketime {
                library: library.clone(),
            },
            _ => ClockControl::Fixed {
                reason: format!(
                    "{}'s system file ({}) says no way to move its clock: add [clock] with admin_call or faketime",
                    self.file.name,
                    self.path.display()
                ),
            },
        }
    }

    /// Where `node` serves the protocol: `protocol.base_url` filled in.
    pub fn base_url(&self, node: &NodeAddr) -> Result<String, String> {
        let mut values = node_values(0, node);
        values.remove("index");
        expand(&self.file.protocol.base_url, &values)
            .map(|url| url.trim_end_matches('/').to_string())
            .map_err(|e| format!("protocol.base_url: {e}"))
    }

    /// The image a container runs: the user's, or the Dockerfile's.
    pub fn docker_image(&self) -> Option<Image> {
        let d = self.file.docker.as_ref()?;
        if let Some(image) = &d.image {
            return Some(Image::Prebuilt {
                image: image.clone(),
            });
        }
        let dockerfile = d.dockerfile.as_ref()?;
        let (context, file) = self.dockerfile_paths(d, dockerfile);
        Some(Image::Dockerfile {
            name: format!("file-{}", self.file.name),
            context,
            dockerfile: file.to_string_lossy().into_owned(),
        })
    }

    /// The descriptor of this file's system: read once per process and path, so that
    /// every spec and matrix cell naming it shares one.
    pub fn descriptor(path: &Path) -> Result<&'static Descriptor, FileError> {
        let loaded = Loaded::read(path)?;
        let mut cache = cache();
        if let Some((_, d)) = cache.get(&loaded.path) {
            return Ok(d);
        }
        let loaded: &'static Loaded = Box::leak(Box::new(loaded));
        let descriptor = loaded.make_descriptor();
        cache.insert(loaded.path.clone(), (loaded, descriptor));
        Ok(descriptor)
    }

    /// The file behind a descriptor [`Loaded::descriptor`] made, as it was read then.
    pub fn of(descriptor: &Descriptor) -> Option<&'static Loaded> {
        let path = descriptor.file?;
        cache().get(path).map(|(loaded, _)| *loaded)
    }

    /// The descriptor, made to live as long as the process: a process reads a handful of
    /// system files at most, each once.
    fn make_descriptor(&'static self) -> &'static Descriptor {
        let loaded = self;
        let clock = loaded.clock();
        Box::leak(Box::new(Descriptor {
            name: loaded.file.name.as_str(),
            bugs: &[],
            registers: false,
            lease_switch: false,
            runs_local: true,
            docker: loaded.file.docker.is_some(),
            external: false,
            clock: Box::leak(Box::new(move || clock.clone())),
            build: Box::leak(Box::new(move |setup: &Setup| {
                Ok(Arc::new(FileSystem {
                    loaded,
                    custom_image: setup.image.clone(),
                }) as Arc<dyn System>)
            })),
            file: Some(loaded.path.as_path()),
            fencing: Box::leak(Box::new([loaded.file.claims.fencing])),
            options: &[],
            crash_points: None,
        }))
    }
}

/// Every system file this process has read, by absolute path, with its descriptor.
type Cache = BTreeMap<PathBuf, (&'static Loaded, &'static Descriptor)>;

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    static LOADED: OnceLock<Mutex<Cache>> = OnceLock::new();
    LOADED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// A `toml` error as one line: what is wrong, and where, with the line that holds it.
fn describe_toml(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim().replace('\n', " ");
    let Some(span) = e.span().filter(|s| s.start > 0 || s.end > 0) else {
        return message;
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let shown = text.lines().nth(line - 1).unwrap_or("").trim();
    format!("line {line}, column {column} ({shown:?}): {message}")
}

fn check_path(key: &str, path: &str) -> Result<(), String> {
    if path.starts_with('/') && !path.contains(char::is_whitespace) {
        Ok(())
    } else {
        Err(format!(
            "{key} = {path:?}: give a path that starts with '/', such as \"/status\""
        ))
    }
}

/// Every `{placeholder}` in `templates` is known, and braces are balanced (`{{` and
/// `}}` stand for themselves).
fn check_templates(key: &str, templates: &[String]) -> Result<(), String> {
    let values = BTreeMap::new();
    for t in templates {
        expand(t, &values).map_err(|e| format!("{key}: {e}"))?;
    }
    Ok(())
}

/// `template` with each `{placeholder}` replaced by its value. With no values given, only
/// checks that every placeholder is known.
pub fn expand(template: &str, values: &BTreeMap<&str, String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return Err(format!(
                "{template:?} has a '}}' that closes nothing; write '}}}}' for a brace"
            ));
        }
        let Some(end) = tail.find('}') else {
            return Err(format!(
                "{template:?} has a '{{' that is never closed; write '{{{{' for a brace"
            ));
        };
        let name = &tail[1..end];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}} in {template:?}; known: {}",
                PLACEHOLDERS
                    .iter()
                    .map(|p| format!("{{{p}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(v) = values.get(name) {
            out.push_str(v);
        } else if !values.is_empty() {
            return Err(format!("no value for {{{name}}}"));
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The system a file describes: the node protocol's client, the file's commands and
/// claims.
#[derive(Debug)]
pub struct FileSystem {
    loaded: &'static Loaded,
    custom_image: Option<String>,
}

impl FileSystem {
    /// The placeholders' values for node `index` of `topology`.
    fn values(
        &self,
        index: usize,
        topology: &Topology,
        options: &SystemOptions,
    ) -> BTreeMap<&'static str, String> {
        let node = &topology.nodes[index];
        let list = |port: fn(&NodeAddr) -> u16| {
            topology
                .nodes
                .iter()
                .map(|n| format!("{}={}:{}", n.name, n.host, port(n)))
                .collect::<Vec<_>>()
                .join(",")
        };
        let peers = topology
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let one = node_values(i, n);
                // Checked when the file was read: every placeholder has a value.
                expand(&self.loaded.file.node.peer_format, &one).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(",");
        BTreeMap::from([
            ("name", node.name.clone()),
            ("index", (index + 1).to_string()),
            ("nodes", topology.nodes.len().to_string()),
            ("host", node.host.clone()),
            ("listen_host", node.listen_host().to_string()),
            ("client_port", node.client_port.to_string()),
            ("peer_port", node.peer_port.to_string()),
            ("peers", peers),
            ("clients", list(|n| n.client_port)),
            ("data_dir", data_dir(options, &node.name)),
            (
                "seed",
                crate::seed::mix(options.seed, index as u64 + 1).to_string(),
            ),
            ("dir", self.loaded.dir.to_string_lossy().into_owned()),
        ])
    }

    fn base_url(&self, node: &NodeAddr) -> Result<String, SystemError> {
        self.loaded
            .base_url(node)
            .map_err(|reason| SystemError::Client {
                node: node.name.clone(),
                reason,
            })
    }
}

/// The placeholders that describe node `index` alone.
fn node_values(index: usize, node: &NodeAddr) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("name", node.name.clone()),
        ("index", (index + 1).to_string()),
        ("host", node.host.clone()),
        ("client_port", node.client_port.to_string()),
        ("peer_port", node.peer_port.to_string()),
    ])
}

fn data_dir(options: &SystemOptions, node: &str) -> String {
    format!("{}/{node}", options.data_root.trim_end_matches('/'))
}

#[async_trait]
impl System for FileSystem {
    fn descriptor(&self) -> &'static Descriptor {
        // Cached before any adapter could be built from it.
        cache()
            .get(&self.loaded.path)
            .map(|(_, d)| *d)
            .expect("a file system's descriptor is cached when it is made")
    }

    fn name(&self) -> &'static str {
        self.loaded.file.name.as_str()
    }

    fn ports(&self) -> NodePorts {
        NodePorts {
            client_port: self.loaded.file.node.client_port,
            peer_port: self.loaded.file.node.peer_port,
            extra_ports: 0,
        }
    }

    fn serves(&self) -> Serves {
        let c = &self.loaded.file.claims;
        Serves {
            locks: c.locks,
            read_local: c.read_local,
            leaders: true,
        }
    }

    fn node_specs(
        &self,
        topology: &Topology,
        options: &SystemOptions,
    ) -> Result<Vec<NodeSpec>, SystemError> {
        validate_topology(topology)?;
        if !options.bugs.is_empty() {
            return Err(SystemError::BadOption(format!(
                "{} has no bugs to switch on",
                self.name()
            )));
        }
        let file = &self.loaded.file;
        let (image, command) = if options.in_container {
            let image = match &self.custom_image {
                Some(image) => Image::Prebuilt {
                    image: image.clone(),
                },
                None => self.loaded.docker_image().ok_or_else(|| {
                    SystemError::BadOption(format!(
                        "{}: a container needs an image, and the system file has no [docker] section; add docker.image or docker.dockerfile",
                        self.loaded.path.display()
                    ))
                })?,
            };
            let command = file
                .docker
                .as_ref()
                .and_then(|d| d.command.clone())
                .unwrap_or_else(|| file.node.command.clone());
            (image, command)
        } else {
            (Image::Host, file.node.command.clone())
        };
        let mut specs = Vec::with_capacity(topology.nodes.len());
        for (i, node) in topology.nodes.iter().enumerate() {
            let values = self.values(i, topology, options);
            let expand_all = |key: &str, t: &str| {
                expand(t, &values).map_err(|e| SystemError::BadOption(format!("{key}: {e}")))
            };
            let command = command
                .iter()
                .map(|t| expand_all("command", t))
                .collect::<Result<Vec<_>, _>>()?;
            let env = file
                .node
                .env
                .iter()
                .map(|(k, v)| Ok((k.clone(), expand_all(&format!("node.env.{k}"), v)?)))
                .collect::<Result<Vec<_>, SystemError>>()?;
            specs.push(NodeSpec {
                name: node.name.clone(),
                image: image.clone(),
                clock: self.loaded.clock(),
                command,
                env,
                data_dir: data_dir(options, &node.name),
                files: Vec::new(),
            });
        }
        Ok(specs)
    }

    fn guarantees(&self, _options: &SystemOptions) -> Guarantees {
        let c = &self.loaded.file.claims;
        Guarantees {
            exclusive_leadership: c.exclusive_leadership,
            fence_on_grant: c.locks && c.fencing == FencingMode::Grant,
            leaderless: false,
        }
    }

    fn version(&self) -> String {
        match (&self.loaded.file.version, &self.custom_image) {
            (Some(v), None) => v.clone(),
            (Some(v), Some(image)) => format!("{v} in the custom image {image}"),
            (None, _) => format!(
                "{} (version not given in {})",
                self.name(),
                self.loaded.path.display()
            ),
        }
    }

    async fn client(&self, node: &NodeAddr) -> Result<Box<dyn Client>, SystemError> {
        let url = self.base_url(node)?;
        let client =
            ProtocolClient::at(&node.name, url, self.loaded.file.protocol.client_timeout_ms)?;
        Ok(Box::new(client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "bully"
version = "bully 1"
[node]
command = ["python3", "{dir}/bully.py", "--name", "{name}", "--index", "{index}",
           "--listen", "{host}:{client_port}", "--peers", "{peers}", "--clients", "{clients}",
           "--data-dir", "{data_dir}", "--seed", "{seed}", "--of", "{nodes}", "{{literal}}"]
env = { NODE = "{name}" }
client_port = 8080
peer_port = 7000
[claims]
exclusive_leadership = true
fencing = "write"
locks = false
"#;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("system.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn topology() -> Topology {
        Topology {
            nodes: (1..=3)
                .map(|i| NodeAddr {
                    bind: None,
                    name: format!("n{i}"),
                    host: format!("10.0.0.{}", i + 1),
                    client_port: 8080,
                    peer_port: 7000,
                    extra_ports: Vec::new(),
                })
                .collect(),
        }
    }

    fn error_of(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        Loaded::read(&write(dir.path(), text))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_good_file_gives_commands_for_every_node() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), GOOD);
        let descriptor = Loaded::descriptor(&path).unwrap();
        assert_eq!(descriptor.name, "bully");
        assert!(!descriptor.docker, "no [docker] section");
        assert!(std::ptr::eq(descriptor, Loaded::descriptor(&path).unwrap()));
        let system = (descriptor.build)(&Setup::default()).unwrap();
        assert!(std::ptr::eq(system.descriptor(), descriptor));
        assert_eq!(
            system.serves(),
            Serves {
                locks: false,
                read_local: true,
                leaders: true,
            }
        );
        let g = system.guarantees(&SystemOptions::default());
        assert!(g.exclusive_leadership && !g.fence_on_grant);
        let specs = system
            .node_specs(&topology(), &SystemOptions::default())
            .unwrap();
        let real_dir = dir.path().canonicalize().unwrap();
        assert_eq!(
            specs[1].command,
            [
                "python3",
                &format!("{}/bully.py", real_dir.display()),
                "--name",
                "n2",
                "--index",
                "2",
                "--listen",
                "10.0.0.3:8080",
                "--peers",
                "n1=10.0.0.2:7000,n2=10.0.0.3:7000,n3=10.0.0.4:7000",
                "--clients",
                "n1=10.0.0.2:8080,n2=10.0.0.3:8080,n3=10.0.0.4:8080",
                "--data-dir",
                "/data/n2",
                "--seed",
                &crate::seed::mix(0, 2).to_string(),
                "--of",
                "3",
                "{literal}",
            ]
        );
        assert_eq!(specs[1].env, [("NODE".to_string(), "n2".to_string())]);
        assert_eq!(specs[1].image, Image::Host);
        assert!(matches!(specs[1].clock, ClockControl::Fixed { .. }));
        // A container needs an image the file does not name.
        let in_container = SystemOptions {
            in_container: true,
            ..SystemOptions::default()
        };
        let e = system.node_specs(&topology(), &in_container).unwrap_err();
        assert!(e.to_string().contains("[docker]"), "{e}");
        // Unless the user gives one.
        let custom = (descriptor.build)(&Setup {
            image: Some("mine:1".into()),
            ..Setup::default()
        })
        .unwrap();
        let specs = custom.node_specs(&topology(), &in_container).unwrap();
        assert_eq!(
            specs[0].image,
            Image::Prebuilt {
                image: "mine:1".into()
            }
        );
    }

    #[test]
    fn docker_section_peer_format_and_clock_shape_the_specs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("img")).unwrap();
        std::fs::write(dir.path().join("img/Dockerfile"), "FROM scratch\n").unwrap();
        let text = format!(
            "{}\n{}",
            GOOD.replace(
                "client_port = 8080\n",
                "client_port = 8080\npeer_format = \"{name}={host}:{peer_port}/{host}:{client_port}\"\n"
            ),
            "[docker]\ndockerfile = \"img/Dockerfile\"\ncommand = [\"/bin/node\", \"{peers}\"]\n[clock]\nadmin_call = \"/admin/clock\"\n"
        );
        let path = write(dir.path(), &text);
        let descriptor = Loaded::descriptor(&path).unwrap();
        assert!(descriptor.docker);
        // The clock moves; a system file gives no crash points.
        assert_eq!(
            descriptor.refused_faults().into_keys().collect::<Vec<_>>(),
            [nemesis::FaultKind::CrashPoint]
        );
        let system = (descriptor.build)(&Setup::default()).unwrap();
        let options = SystemOptions {
            in_container: true,
            ..SystemOptions::default()
        };
        let specs = system.node_specs(&topology(), &options).unwrap();
        assert_eq!(
            specs[0].command,
            [
                "/bin/node",
                "n1=10.0.0.2:7000/10.0.0.2:8080,n2=10.0.0.3:7000/10.0.0.3:8080,n3=10.0.0.4:7000/10.0.0.4:8080"
            ]
        );
        let real = dir.path().canonicalize().unwrap();
        assert_eq!(
            specs[0].image,
            Image::Dockerfile {
                name: "file-bully".into(),
                context: real.join("img"),
                dockerfile: "Dockerfile".into(),
            }
        );
        assert_eq!(
            specs[0].clock,
            ClockControl::AdminCall {
                path: "/admin/clock".into()
            }
        );
    }

    #[test]
    fn a_bad_file_names_the_key_and_what_would_be_right() {
        // (what to change, into what, what the complaint must say)
        let cases: [(&str, &str, &str); 11] = [
            ("name = \"bully\"", "name = \"raftd\"", "built-in"),
            ("name = \"bully\"", "name = \"Bully!\"", "lowercase letters"),
            ("name = \"bully\"", "nmae = \"x\"", "unknown field `nmae`"),
            (
                "fencing = \"write\"",
                "fencing = \"sometimes\"",
                "`sometimes`",
            ),
            (
                "\"{seed}\", \"--of\"",
                "\"{sed}\", \"--of\"",
                "unknown placeholder {sed}",
            ),
            (
                "client_port = 8080",
                "client_port = 7000",
                "client_port and node.peer_port are both",
            ),
            (
                "locks = false",
                "locks = false\n[docker]\n",
                "docker: give image",
            ),
            (
                "locks = false",
                "locks = false\n[clock]\n",
                "clock: give exactly one",
            ),
            (
                "locks = false",
                "locks = false\n[protocol]\nbase_url = \"http://{host}:{seed}\"\n",
                "{seed} cannot be used there",
            ),
            (
                "locks = false",
                "locks = false\n[docker]\nimage = \"x\"\ncommand = [\"{dir}/x\"]\n",
                "docker.command uses {dir}",
            ),
            ("version = \"bully 1\"", "version = 1", "line 3, column 11"),
        ];
        for (from, to, wanted) in cases {
            let text = GOOD.replacen(from, to, 1);
            assert_ne!(text, GOOD, "{from}");
            let e = error_of(&text);
            assert!(e.contains(wanted), "{from} -> {to}: {e}");
        }
    }

    #[test]
    fn templates_expand_and_refuse_what_they_cannot() {
        let values = BTreeMap::from([("name", "n1".to_string())]);
        assert_eq!(expand("a{name}b{{c}}", &values).unwrap(), "an1b{c}");
        assert!(expand("{name", &values)
            .unwrap_err()
            .contains("never closed"));
        assert!(expand("name}", &values)
            .unwrap_err()
            .contains("closes nothing"));
        assert!(expand("{host}", &values)
            .unwrap_err()
            .contains("no value for {host}"));
        assert!(expand("{hots}", &values)
            .unwrap_err()
            .contains("unknown placeholder"));
    }
}
