//! Containment of the file tools, on a real temporary directory.

use std::fs;

use forge_core::Tool;

use super::*;

struct Tree {
    _dir: tempfile::TempDir,
    root: FileRoot,
}

/// `base/root/{a.txt, sub/b.txt, big.bin, out -> ../root-private, secret -> ../root-private/s.txt}`
/// and `base/root-private/s.txt`: a sibling whose name shares the root's prefix.
fn tree() -> Tree {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    let root = base.join("root");
    fs::create_dir_all(root.join("sub")).unwrap();
    fs::create_dir_all(base.join("root-private")).unwrap();
    fs::write(root.join("a.txt"), "alpha").unwrap();
    fs::write(root.join("sub/b.txt"), "beta").unwrap();
    fs::write(
        root.join("big.bin"),
        vec![b'x'; (MAX_FILE_BYTES + 1) as usize],
    )
    .unwrap();
    fs::write(base.join("root-private/s.txt"), "secret").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink("../root-private", root.join("out")).unwrap();
        std::os::unix::fs::symlink("../root-private/s.txt", root.join("secret")).unwrap();
        std::os::unix::fs::symlink("sub/b.txt", root.join("inside")).unwrap();
    }
    let root = FileRoot::new(&root).unwrap();
    Tree { _dir: dir, root }
}

async fn read(tree: &Tree, path: &str) -> Result<String, Error> {
    let tool = ReadFile::new(tree.root.clone());
    let args = ReadArgs { path: path.into() };
    tool.call(args).await.map(|file| file.text)
}

#[tokio::test]
async fn reads_files_inside_the_root() {
    let tree = tree();
    assert_eq!(read(&tree, "a.txt").await.unwrap(), "alpha");
    assert_eq!(read(&tree, "./sub/b.txt").await.unwrap(), "beta");
}

#[tokio::test]
async fn refuses_parent_components_and_absolute_paths() {
    let tree = tree();
    let error = read(&tree, "../root-private/s.txt").await.unwrap_err();
    assert!(error.message().contains("`..` is not allowed"), "{error}");
    let error = read(&tree, "sub/../a.txt").await.unwrap_err();
    assert!(error.message().contains("`..`"), "{error}");
    let error = read(&tree, "/etc/passwd").await.unwrap_err();
    assert!(error.message().contains("absolute"), "{error}");
}

#[cfg(unix)]
#[tokio::test]
async fn refuses_symlinks_that_lead_out_even_to_a_prefix_sibling() {
    let tree = tree();
    let error = read(&tree, "secret").await.unwrap_err();
    assert!(error.message().contains("outside"), "{error}");
    let error = read(&tree, "out/s.txt").await.unwrap_err();
    assert!(error.message().contains("outside"), "{error}");
    assert_eq!(read(&tree, "inside").await.unwrap(), "beta");
}

#[tokio::test]
async fn refuses_files_over_the_size_limit() {
    let tree = tree();
    let error = read(&tree, "big.bin").await.unwrap_err();
    assert!(error.message().contains("limit"), "{error}");
}

#[tokio::test]
async fn lists_the_root_sorted() {
    let tree = tree();
    let tool = ListFiles::new(tree.root.clone());
    let listing = tool.call(ListArgs { path: None }).await.unwrap();
    let names: Vec<&str> = listing.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names[..3], ["a.txt", "big.bin", "inside"][..]);
    assert!(names.contains(&"sub"));
    let error = tool
        .call(ListArgs {
            path: Some("out".into()),
        })
        .await
        .unwrap_err();
    assert!(error.message().contains("outside"), "{error}");
}
