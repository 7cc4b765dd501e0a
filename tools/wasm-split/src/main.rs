//! Splits the front end's WASM at its lazy routes, as `cargo leptos --split` does, so `./dev`
//! needs no cargo-leptos (about 18 minutes to install on a fresh machine).
//!
//! `flotilla-wasm-split INPUT.wasm MAIN_OUT.wasm PKG_DIR NAME` reads the WASM that cargo linked
//! with `--emit-relocs` and writes:
//! - `MAIN_OUT.wasm`, the main module, for `wasm-bindgen --keep-lld-exports --no-demangle`;
//! - into `PKG_DIR`, one `.wasm` per chunk (a lazy route's code, or code that several of them
//!   share) and the JS module that loads them;
//! - `PKG_DIR/__wasm_split_manifest.json`, which chunks each lazy function needs: the server
//!   reads it to preload the chunks of the page it renders.
//!
//! The file names are the ones Leptos' `HydrationScripts` looks for when file hashing is off.
use std::path::PathBuf;
use std::process::ExitCode;

/// The module the chunk loader imports the main module's exports from, relative to the pkg dir.
fn main_module(name: &str) -> String {
    format!("./{name}.js")
}

/// The loader's file name as Leptos expects it when file hashing is off.
const LINK_NAME: &str = "./__wasm_split.______________________.js";
const MANIFEST: &str = "__wasm_split_manifest.json";

fn run(input: PathBuf, main_out: PathBuf, pkg: PathBuf, name: &str) -> Result<usize, String> {
    let wasm =
        std::fs::read(&input).map_err(|e| format!("cannot read {}: {e}", input.display()))?;
    let main_module = main_module(name);
    let split = wasm_split_cli_support::transform({
        let mut opts = wasm_split_cli_support::Options::new(&wasm);
        opts.output_dir = &pkg;
        opts.main_out_path = &main_out;
        opts.main_module = &main_module;
        opts.link_name = LINK_NAME;
        opts
    })
    .map_err(|e| format!("cannot split {}: {e:#}", input.display()))?;
    let manifest = serde_json::to_string_pretty(&split.prefetch_map)
        .map_err(|e| format!("cannot write the manifest: {e}"))?;
    std::fs::write(pkg.join(MANIFEST), manifest)
        .map_err(|e| format!("cannot write {}: {e}", pkg.join(MANIFEST).display()))?;
    Ok(split.split_modules.len())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, main_out, pkg, name] = args.as_slice() else {
        eprintln!("usage: flotilla-wasm-split INPUT.wasm MAIN_OUT.wasm PKG_DIR NAME");
        return ExitCode::from(2);
    };
    match run(input.into(), main_out.into(), pkg.into(), name) {
        Ok(chunks) => {
            println!("split {input}: main module {main_out}, {chunks} chunks in {pkg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("flotilla-wasm-split: {e}");
            ExitCode::FAILURE
        }
    }
}
