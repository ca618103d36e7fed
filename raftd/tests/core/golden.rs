//! Runs every script in `raftd/testdata/*.txt` against its recorded output.

use std::path::PathBuf;

use raftd::core::testkit::script::run_golden;

#[test]
fn golden_scripts() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scripts in {}", dir.display());
    let failures: Vec<String> = files.iter().filter_map(|f| run_golden(f).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
