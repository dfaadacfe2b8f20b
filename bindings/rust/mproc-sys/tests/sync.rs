//! Keeps the hand-written declarations in sync with the C headers: every
//! function marked `MPROC_API` in `include/mproc/*.h` must be declared in
//! `src/lib.rs`, and the version it was written for must be loaded.
use std::fs;
use std::path::PathBuf;

fn api_names(header: &str) -> Vec<String> {
    let mut names = Vec::new();
    for chunk in header.split("MPROC_API ").skip(1) {
        if let Some(paren) = chunk.find('(') {
            let decl = &chunk[..paren];
            let name = decl.rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or("");
            if name.starts_with("mproc_") {
                names.push(name.to_string());
            }
        }
    }
    names
}

#[test]
fn every_header_function_is_declared() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../include/mproc");
    let lib = fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let mut seen = 0;
    for entry in fs::read_dir(&root).expect("include/mproc next to bindings/") {
        let path = entry.unwrap().path();
        // mproc-mpi.h belongs to libmproc-mpi, a library of its own this crate does not wrap.
        if path.extension().map_or(true, |e| e != "h") || path.file_name().map_or(false, |n| n == "mproc-mpi.h") {
            continue;
        }
        for name in api_names(&fs::read_to_string(&path).unwrap()) {
            seen += 1;
            assert!(lib.contains(&format!("pub fn {}(", name)), "{} ({}) is not declared in mproc-sys", name, path.display());
        }
    }
    assert!(seen > 70, "only {} MPROC_API functions found", seen);
}

#[test]
fn loaded_library_is_recent_enough_and_names_codes() {
    use std::ffi::CStr;
    unsafe {
        assert!(mproc_sys::mproc_version_number() >= 200);
        assert_eq!(CStr::from_ptr(mproc_sys::mproc_error_name(mproc_sys::MPROC_E_FULL)).to_str().unwrap(), "MPROC_E_FULL");
        assert_eq!(
            CStr::from_ptr(mproc_sys::mproc_error_name(mproc_sys::MPROC_E_SYS)).to_str().unwrap(),
            "MPROC_E_SYS"
        );
    }
}
