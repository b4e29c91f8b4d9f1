//! Builds the XDP program in bpf/ with clang (BPF target) into OUT_DIR. Without clang the
//! object is left empty and the AF_XDP backend reports that it is unavailable at run time.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let obj = out.join("xdp_redirect.o");
    println!("cargo:rerun-if-changed=bpf/xdp_redirect.c");
    println!("cargo:rerun-if-env-changed=CLANG");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let arch_inc = format!(
        "/usr/include/{}-linux-gnu",
        std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into())
    );
    let ok = Command::new(&clang)
        .args([
            "-O2",
            "-target",
            "bpf",
            "-I",
            &arch_inc,
            "-c",
            "bpf/xdp_redirect.c",
            "-o",
        ])
        .arg(&obj)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        println!(
            "cargo:warning=could not build bpf/xdp_redirect.c with {clang} (install clang and libbpf-dev): AF_XDP capture will be unavailable"
        );
        std::fs::write(&obj, b"").expect("write empty XDP object");
    }
}
