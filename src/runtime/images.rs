//! Docker images built with no registry: `FROM scratch` plus the host's binaries and their
//! ldd closure, assembled as an in-memory tar build context and built through the docker
//! API. Tagged `splitbrain/<name>:<hash of the context>`, so an unchanged image is reused.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::query_parameters::BuildImageOptions;
use bollard::Docker;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use workloads::system::{Image, ImagePart, ImageRecipe};

use super::RuntimeError;

/// The library search path images set, since a scratch image has no ld.so.cache.
const IMAGE_LD_LIBRARY_PATH: &str = "/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib64";
const IMAGE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Parts of a JDK a server never loads; leaving them out keeps the image small.
const JVM_SKIP: [&str; 6] = ["man", "legal", "jmods", "include", "demo", "src.zip"];
/// Bound on directory depth when copying a JVM tree (symlinks could loop).
const JVM_TREE_DEPTH_MAX: usize = 12;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    File { src: PathBuf, mode: u32 },
    Dir { mode: u32 },
    Symlink(String),
}

/// The file tree of an image, by absolute path inside it.
#[derive(Clone, Debug, Default)]
pub struct Rootfs {
    items: BTreeMap<String, Item>,
    env: Vec<(String, String)>,
}

impl Rootfs {
    fn add_parents(&mut self, path: &str) {
        let mut p = Path::new(path).parent();
        while let Some(dir) = p {
            let s = dir.to_string_lossy().to_string();
            if s == "/" || s.is_empty() {
                break;
            }
            self.items.entry(s).or_insert(Item::Dir { mode: 0o755 });
            p = dir.parent();
        }
    }

    /// Add a host file at `dest`, following symlinks (the image gets the contents).
    pub fn add_file(&mut self, src: &Path, dest: &str) -> Result<(), RuntimeError> {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(src).map_err(|e| RuntimeError::io(src, e))?;
        self.add_parents(dest);
        self.items.insert(
            dest.to_string(),
            Item::File {
                src: src.to_path_buf(),
                mode: meta.permissions().mode() & 0o7777,
            },
        );
        Ok(())
    }

    pub fn add_symlink(&mut self, dest: &str, target: &str) {
        self.add_parents(dest);
        self.items
            .insert(dest.to_string(), Item::Symlink(target.to_string()));
    }

    pub fn add_dir(&mut self, dest: &str, mode: u32) {
        self.add_parents(dest);
        self.items.insert(dest.to_string(), Item::Dir { mode });
    }

    /// Add a binary at `dest` and every library ldd says it loads, at their host paths.
    pub fn add_binary(&mut self, src: &Path, dest: &str) -> Result<(), RuntimeError> {
        self.add_file(src, dest)?;
        for lib in ldd(src, true)? {
            let s = lib.to_string_lossy().to_string();
            self.add_file(&lib, &s)?;
        }
        Ok(())
    }

    pub fn paths(&self) -> impl Iterator<Item = &String> {
        self.items.keys()
    }
}

/// The libraries a dynamic binary loads, interpreter included. A static binary has none.
/// With `strict`, a library ldd cannot find is an error; else it is skipped.
pub fn ldd(bin: &Path, strict: bool) -> Result<Vec<PathBuf>, RuntimeError> {
    let out = std::process::Command::new("ldd")
        .arg(bin)
        .output()
        .map_err(|e| RuntimeError::Command {
            what: format!("ldd {}", bin.display()),
            reason: e.to_string(),
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // "not a dynamic executable": nothing to add.
        return Ok(Vec::new());
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.contains("not found") {
            if strict {
                return Err(RuntimeError::Image {
                    image: bin.display().to_string(),
                    reason: format!("ldd cannot find a library: {line}"),
                });
            }
            continue;
        }
        let path = match line.split_once("=>") {
            Some((_, rhs)) => rhs.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    Ok(libs)
}

/// The file tree a recipe asks for, gathered from this machine. Every image gets `/tmp`
/// and the `PATH` and `LD_LIBRARY_PATH` a scratch image lacks.
pub fn rootfs_for(recipe: &ImageRecipe) -> Result<Rootfs, RuntimeError> {
    let mut fs = Rootfs::default();
    fs.add_dir("/tmp", 0o1777);
    fs.env
        .push(("LD_LIBRARY_PATH".into(), IMAGE_LD_LIBRARY_PATH.into()));
    fs.env.push(("PATH".into(), IMAGE_PATH.into()));
    let need = |file: &Path, package: Option<&str>| need_file(&recipe.name, file, package);
    for part in &recipe.parts {
        match part {
            ImagePart::Program {
                host,
                at,
                package,
                optional,
            } => {
                if *optional && !host.is_file() {
                    continue;
                }
                need(host, package.as_deref())?;
                fs.add_binary(host, at)?;
            }
            ImagePart::Jvm { java, package } => {
                need(java, Some(package))?;
                add_jvm(&mut fs, java, &recipe.name)?;
            }
            ImagePart::Jars { roots, package } => {
                for root in roots {
                    need(root, Some(package))?;
                }
                for jar in jar_closure(roots)? {
                    let s = jar.to_string_lossy().to_string();
                    fs.add_file(&jar, &s)?;
                }
            }
        }
    }
    Ok(fs)
}

/// An image is built from this machine's files: one that is missing is asked for by the
/// Debian package that brings it, before anything else is tried.
pub fn need_file(image: &str, file: &Path, package: Option<&str>) -> Result<(), RuntimeError> {
    if file.exists() {
        return Ok(());
    }
    let how = match package {
        Some(package) => format!(
            "install the Debian package {package} \
             (`apt-get install {package}`, or scripts/install-deps for everything)"
        ),
        None => "splitbrain builds it: run `cargo build --workspace`".to_string(),
    };
    Err(RuntimeError::Image {
        image: image.into(),
        reason: format!("{} is missing: {how}", file.display()),
    })
}

/// The JVM home `java` resolves to (`…/bin/java` → `…`).
pub fn jvm_home(java: &Path, image: &str) -> Result<PathBuf, RuntimeError> {
    let real = std::fs::canonicalize(java).map_err(|e| RuntimeError::io(java, e))?;
    real.parent()
        .and_then(|bin| bin.parent())
        .map(Path::to_path_buf)
        .ok_or_else(|| RuntimeError::Image {
            image: image.into(),
            reason: format!("{} is not inside a JVM home", real.display()),
        })
}

/// The JVM's tree, the libraries its programs and shared objects load from outside it,
/// and `java` as a link into it.
fn add_jvm(fs: &mut Rootfs, java: &Path, image: &str) -> Result<(), RuntimeError> {
    let home = jvm_home(java, image)?;
    let home_s = home.to_string_lossy().to_string();
    let mut libs = BTreeSet::new();
    add_tree(fs, &home, &home_s, 0, &mut libs)?;
    fs.add_symlink(&java.to_string_lossy(), &format!("{home_s}/bin/java"));
    for lib in libs {
        for dep in ldd(&lib, false)? {
            let s = dep.to_string_lossy().to_string();
            if !s.starts_with(&home_s) {
                fs.add_file(&dep, &s)?;
            }
        }
    }
    Ok(())
}

/// Copy a directory tree (following symlinks), noting every shared object and executable.
fn add_tree(
    fs: &mut Rootfs,
    src: &Path,
    dest: &str,
    depth: usize,
    libs: &mut BTreeSet<PathBuf>,
) -> Result<(), RuntimeError> {
    if depth > JVM_TREE_DEPTH_MAX {
        return Ok(());
    }
    let rd = std::fs::read_dir(src).map_err(|e| RuntimeError::io(src, e))?;
    let mut entries: Vec<_> = rd.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().to_string();
        if depth <= 1 && JVM_SKIP.contains(&name.as_str()) {
            continue;
        }
        let path = entry.path();
        let child = format!("{dest}/{name}");
        // A dangling symlink (an optional part not installed) is skipped.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            fs.add_dir(&child, 0o755);
            add_tree(fs, &path, &child, depth + 1, libs)?;
        } else if meta.is_file() {
            fs.add_file(&path, &child)?;
            if name.ends_with(".so") || child.contains("/bin/") {
                libs.insert(path);
            }
        }
    }
    Ok(())
}

/// The jars and, transitively, every jar their manifests' Class-Path names.
pub fn jar_closure(roots: &[PathBuf]) -> Result<Vec<PathBuf>, RuntimeError> {
    let mut seen = BTreeSet::new();
    let mut todo = roots.to_vec();
    while let Some(jar) = todo.pop() {
        if !seen.insert(jar.clone()) {
            continue;
        }
        if !jar.is_file() {
            // Debian lists optional jars it may not ship; the JVM skips them as well.
            seen.remove(&jar);
            continue;
        }
        for dep in manifest_class_path(&jar)? {
            todo.push(dep);
        }
    }
    Ok(seen.into_iter().collect())
}

/// The Class-Path entries of a jar's manifest (read with `unzip -p`).
fn manifest_class_path(jar: &Path) -> Result<Vec<PathBuf>, RuntimeError> {
    let out = std::process::Command::new("unzip")
        .arg("-p")
        .arg(jar)
        .arg("META-INF/MANIFEST.MF")
        .output()
        .map_err(|e| RuntimeError::Command {
            what: format!("unzip -p {} META-INF/MANIFEST.MF", jar.display()),
            reason: e.to_string(),
        })?;
    Ok(parse_class_path(&String::from_utf8_lossy(&out.stdout), jar))
}

/// Manifest lines wrap at 72 bytes; a continuation line starts with one space.
pub fn parse_class_path(manifest: &str, jar: &Path) -> Vec<PathBuf> {
    let mut joined: Vec<String> = Vec::new();
    for line in manifest.lines() {
        let line = line.trim_end_matches('\r');
        match (line.strip_prefix(' '), joined.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => joined.push(line.to_string()),
        }
    }
    let base = jar.parent().unwrap_or(Path::new("/"));
    joined
        .iter()
        .filter_map(|l| l.strip_prefix("Class-Path:"))
        .flat_map(|v| v.split_whitespace())
        .map(|p| {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        })
        .collect()
}

fn dockerfile(fs: &Rootfs) -> String {
    let mut s = String::from("FROM scratch\nCOPY rootfs/ /\n");
    for (k, v) in &fs.env {
        s.push_str(&format!("ENV {k}={v}\n"));
    }
    s
}

fn tar_header(path: &str, mode: u32, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    let _ = path;
    h
}

/// The build context as tar bytes: deterministic (sorted, zero times and owners), so its
/// hash names the image.
pub fn build_context(fs: &Rootfs) -> Result<Vec<u8>, RuntimeError> {
    let mut b = tar::Builder::new(Vec::new());
    let io = |e: std::io::Error| RuntimeError::Image {
        image: "context".into(),
        reason: e.to_string(),
    };
    let df = dockerfile(fs);
    let mut h = tar_header(
        "Dockerfile",
        0o644,
        tar::EntryType::Regular,
        df.len() as u64,
    );
    b.append_data(&mut h, "Dockerfile", df.as_bytes())
        .map_err(io)?;
    for (path, item) in &fs.items {
        let inside = format!("rootfs{path}");
        match item {
            Item::Dir { mode } => {
                let mut h = tar_header(&inside, *mode, tar::EntryType::Directory, 0);
                b.append_data(&mut h, format!("{inside}/"), std::io::empty())
                    .map_err(io)?;
            }
            Item::Symlink(target) => {
                let mut h = tar_header(&inside, 0o777, tar::EntryType::Symlink, 0);
                b.append_link(&mut h, &inside, target).map_err(io)?;
            }
            Item::File { src, mode } => {
                let mut data = Vec::new();
                std::fs::File::open(src)
                    .and_then(|mut f| f.read_to_end(&mut data))
                    .map_err(|e| RuntimeError::io(src, e))?;
                let mut h = tar_header(&inside, *mode, tar::EntryType::Regular, data.len() as u64);
                b.append_data(&mut h, &inside, data.as_slice())
                    .map_err(io)?;
            }
        }
    }
    b.into_inner().map_err(io)
}

pub fn context_tag(name: &str, context: &[u8]) -> String {
    let digest = Sha256::digest(context);
    format!("splitbrain/{name}:{}", &hex::encode(digest)[..16])
}

/// The image's tag: the user's own as given, or the recipe's, built if no image with
/// its content hash exists yet.
pub async fn ensure_image(
    docker: &Docker,
    image: &Image,
    timeout: Duration,
) -> Result<String, RuntimeError> {
    let recipe =
        match image {
            Image::Prebuilt { image } => return Ok(image.clone()),
            Image::Recipe(recipe) => recipe.clone(),
            Image::Dockerfile {
                name,
                context,
                dockerfile,
            } => return ensure_dockerfile_image(docker, name, context, dockerfile, timeout).await,
            Image::Host => return Err(RuntimeError::Image {
                image: "(none)".into(),
                reason:
                    "the node runs this machine's programs as they are, which a container cannot"
                        .into(),
            }),
        };
    let name = recipe.name.clone();
    let fs = tokio::task::spawn_blocking(move || rootfs_for(&recipe))
        .await
        .map_err(|e| RuntimeError::Image {
            image: name.clone(),
            reason: e.to_string(),
        })??;
    // Unchanged inputs (same files, sizes and times) name the image we built before,
    // which spares reading and hashing them again.
    let print = fingerprint(&fs);
    if let Some(tag) = cached_tag(&print) {
        if docker.inspect_image(&tag).await.is_ok() {
            return Ok(tag);
        }
    }
    let context = tokio::task::spawn_blocking(move || build_context(&fs))
        .await
        .map_err(|e| RuntimeError::Image {
            image: name.clone(),
            reason: e.to_string(),
        })??;
    let tag = context_tag(&name, &context);
    if docker.inspect_image(&tag).await.is_ok() {
        remember_tag(&print, &tag);
        return Ok(tag);
    }
    tokio::time::timeout(timeout, build(docker, &tag, context))
        .await
        .map_err(|_| RuntimeError::Image {
            image: tag.clone(),
            reason: format!("build did not finish within {} s", timeout.as_secs()),
        })??;
    remember_tag(&print, &tag);
    Ok(tag)
}

/// A user's Dockerfile built with `context` as it is on disk: the tag is the hash of the
/// context (sorted, times and owners zeroed), so an unchanged context is built once.
async fn ensure_dockerfile_image(
    docker: &Docker,
    name: &str,
    context: &Path,
    dockerfile: &str,
    timeout: Duration,
) -> Result<String, RuntimeError> {
    let dir = context.to_path_buf();
    let tar = tokio::task::spawn_blocking(move || context_of_dir(&dir))
        .await
        .map_err(|e| RuntimeError::Image {
            image: name.to_string(),
            reason: e.to_string(),
        })??;
    let mut hashed = tar.clone();
    hashed.extend_from_slice(dockerfile.as_bytes());
    let tag = context_tag(name, &hashed);
    if docker.inspect_image(&tag).await.is_ok() {
        return Ok(tag);
    }
    tokio::time::timeout(timeout, build_with(docker, &tag, tar, dockerfile))
        .await
        .map_err(|_| RuntimeError::Image {
            image: tag.clone(),
            reason: format!("build did not finish within {} s", timeout.as_secs()),
        })??;
    Ok(tag)
}

/// Bound on a user's build context: a context this large is a mistake (a results
/// directory, a target directory), not a node.
pub const USER_CONTEXT_BYTES_MAX: u64 = 512 << 20;

/// `dir` as a deterministic tar: paths sorted, times, owners zeroed; symlinks kept as
/// links; anything else (sockets, devices) left out.
pub fn context_of_dir(dir: &Path) -> Result<Vec<u8>, RuntimeError> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let kind = e.file_type()?;
            out.push((path.clone(), e.path()));
            if kind.is_dir() {
                walk(&e.path(), &path, out)?;
            }
        }
        Ok(())
    }
    let mut paths = Vec::new();
    walk(dir, "", &mut paths).map_err(|e| RuntimeError::io(dir, e))?;
    let mut b = tar::Builder::new(Vec::new());
    let io = |e: std::io::Error| RuntimeError::io(dir, e);
    let mut total = 0u64;
    for (rel, path) in paths {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(&path).map_err(|e| RuntimeError::io(&path, e))?;
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).map_err(|e| RuntimeError::io(&path, e))?;
            let mut h = tar_header(&rel, 0o777, tar::EntryType::Symlink, 0);
            b.append_link(&mut h, &rel, &target).map_err(io)?;
        } else if meta.is_dir() {
            let mut h = tar_header(&rel, mode, tar::EntryType::Directory, 0);
            b.append_data(&mut h, format!("{rel}/"), std::io::empty())
                .map_err(io)?;
        } else if meta.is_file() {
            total += meta.len();
            if total > USER_CONTEXT_BYTES_MAX {
                return Err(RuntimeError::Image {
                    image: dir.display().to_string(),
                    reason: format!(
                        "the build context holds more than {} MiB; point docker.context at the files the image needs",
                        USER_CONTEXT_BYTES_MAX >> 20
                    ),
                });
            }
            let data = std::fs::read(&path).map_err(|e| RuntimeError::io(&path, e))?;
            let mut h = tar_header(&rel, mode, tar::EntryType::Regular, data.len() as u64);
            b.append_data(&mut h, &rel, data.as_slice()).map_err(io)?;
        }
    }
    b.into_inner().map_err(io)
}

/// Where fingerprints of image inputs map to the tags built from them: the private state
/// directory, or no cache at all when there is none.
fn tag_cache_path() -> Option<PathBuf> {
    Some(super::state::state_dir().ok()?.join("image-tags.cache"))
}

/// A digest of what an image would hold: every path with its source's size, mtime,
/// inode and mode, plus the Dockerfile. Any change to a file changes it.
pub fn fingerprint(fs: &Rootfs) -> String {
    use std::os::unix::fs::MetadataExt;
    let mut h = Sha256::new();
    h.update(dockerfile(fs).as_bytes());
    for (path, item) in &fs.items {
        h.update(path.as_bytes());
        match item {
            Item::File { src, mode } => {
                let m = std::fs::metadata(src).ok();
                let stamp = m.map(|m| (m.size(), m.mtime(), m.mtime_nsec(), m.ino()));
                h.update(format!("F{}{mode}{stamp:?}", src.display()).as_bytes());
            }
            Item::Dir { mode } => h.update(format!("D{mode}").as_bytes()),
            Item::Symlink(t) => h.update(format!("L{t}").as_bytes()),
        }
    }
    hex::encode(h.finalize())
}

fn read_tag_cache() -> BTreeMap<String, String> {
    tag_cache_path()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn cached_tag(print: &str) -> Option<String> {
    read_tag_cache().remove(print)
}

/// Best effort: a lost cache entry only costs a re-hash.
fn remember_tag(print: &str, tag: &str) {
    /// Bound on remembered fingerprints (each rebuild of raftd adds one).
    const TAG_CACHE_ENTRIES_MAX: usize = 64;
    let mut cache = read_tag_cache();
    if cache.len() >= TAG_CACHE_ENTRIES_MAX {
        cache.clear();
    }
    cache.insert(print.to_string(), tag.to_string());
    let Some(path) = tag_cache_path() else {
        return;
    };
    if let Ok(bytes) = serde_json::to_vec(&cache) {
        let _ = crate::atomic::write_atomic(&path, &bytes);
    }
}

async fn build(docker: &Docker, tag: &str, context: Vec<u8>) -> Result<(), RuntimeError> {
    build_with(docker, tag, context, "Dockerfile").await
}

async fn build_with(
    docker: &Docker,
    tag: &str,
    context: Vec<u8>,
    dockerfile: &str,
) -> Result<(), RuntimeError> {
    let mut labels = HashMap::new();
    labels.insert("splitbrain.image".to_string(), "1".to_string());
    let opts = BuildImageOptions {
        dockerfile: dockerfile.into(),
        t: Some(tag.to_string()),
        rm: true,
        forcerm: true,
        labels: Some(labels),
        ..Default::default()
    };
    let body = bollard::body_full(bytes::Bytes::from(context));
    let mut stream = docker.build_image(opts, None, Some(body));
    let fail = |reason: String| RuntimeError::Image {
        image: tag.to_string(),
        reason,
    };
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| fail(e.to_string()))?;
        if let Some(detail) = info.error_detail {
            return Err(fail(detail.message.unwrap_or_default()));
        }
    }
    docker
        .inspect_image(tag)
        .await
        .map_err(|e| fail(format!("build ended but the image is missing: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_host_file_is_asked_for_by_its_package() {
        let recipe = ImageRecipe {
            name: "etcd".into(),
            parts: vec![ImagePart::Program {
                host: "/nonexistent/etcd".into(),
                at: "/usr/bin/etcd".into(),
                package: Some("etcd-server".into()),
                optional: false,
            }],
        };
        let text = rootfs_for(&recipe).unwrap_err().to_string();
        assert!(text.contains("/nonexistent/etcd"), "{text}");
        assert!(text.contains("apt-get install etcd-server"), "{text}");
        let etcd = workloads::etcd::image();
        let zk = workloads::zookeeper::image();
        let etcd_bin = Path::new(workloads::etcd::ETCD_PROGRAM);
        assert_eq!(etcd.package_of(etcd_bin), Some("etcd-server"));
        let faketime = Path::new(workloads::zookeeper::LIBFAKETIME);
        assert_eq!(zk.package_of(faketime), Some("libfaketime"));
        assert_eq!(etcd.package_of(Path::new("/usr/bin/true")), None);
    }

    #[test]
    fn a_missing_clock_shim_is_asked_for_by_its_build() {
        let shim = Path::new("/nonexistent/libsplitbrain_clock.so");
        let text = rootfs_for(&workloads::redis_sentinel::image(shim))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("/nonexistent/libsplitbrain_clock.so"),
            "{text}"
        );
        assert!(text.contains("cargo build --workspace"), "{text}");
    }

    #[test]
    fn a_missing_optional_part_is_left_out() {
        let recipe = ImageRecipe {
            name: "t".into(),
            parts: vec![ImagePart::Program {
                host: "/nonexistent/tool".into(),
                at: "/usr/bin/tool".into(),
                package: Some("tool".into()),
                optional: true,
            }],
        };
        let fs = rootfs_for(&recipe).expect("an optional part may be missing");
        assert!(!fs.paths().any(|p| p.contains("tool")));
    }

    #[test]
    fn class_path_joins_continuations() {
        let m = "Manifest-Version: 1.0\r\nClass-Path: /usr/share/java/a.jar /usr/share/java/b.j\r\n ar c.jar\r\nCreated-By: x\r\n";
        let cp = parse_class_path(m, Path::new("/usr/share/java/z.jar"));
        assert_eq!(
            cp,
            vec![
                PathBuf::from("/usr/share/java/a.jar"),
                PathBuf::from("/usr/share/java/b.jar"),
                PathBuf::from("/usr/share/java/c.jar")
            ]
        );
    }

    #[test]
    fn context_is_deterministic_and_holds_libc() {
        let fs = rootfs_for(&workloads::etcd::image()).expect("etcd rootfs");
        assert!(
            fs.paths().any(|p| p.ends_with("/libc.so.6")),
            "libc in closure"
        );
        let a = build_context(&fs).unwrap();
        let b = build_context(&fs).unwrap();
        assert_eq!(context_tag("etcd", &a), context_tag("etcd", &b));
    }
}
