//! Shared by the targets that hand the library a file or a folder.
use std::path::PathBuf;
use std::sync::OnceLock;

/// A folder of this process's own under the temporary directory, made on first use.
pub fn scratch_dir() -> &'static PathBuf {
    static D: OnceLock<PathBuf> = OnceLock::new();
    D.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("fundtrace-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}
