//! Compiles `proto/etcd_kv.proto` (a hand-written, wire-compatible subset of etcd's v3 API) with
//! `protox`, a pure-Rust protobuf compiler, exactly like `proto/build.rs`: building the
//! workspace must never need a system `protoc`, which is why the `etcd-client` crate is not used.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/etcd_kv.proto"];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
