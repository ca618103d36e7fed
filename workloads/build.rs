//! Builds nothing. Its one build-dependency, protoc-bin-vendored, is here so that cargo
//! fetches the protoc binary that `scripts/protoc` (named by `.cargo/config.toml`) hands
//! to etcd-client's build script: building splitbrain needs nothing outside cargo.

fn main() {
    // Fail here, naming the cause, rather than deep inside etcd-client's build.
    if let Err(e) = protoc_bin_vendored::protoc_bin_path() {
        println!("cargo:warning=protoc-bin-vendored has no protoc for this platform ({e}); etcd-client's build will look for protoc on PATH");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
