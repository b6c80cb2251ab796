//! The runtime's own shim binary: small, so that each container's shim stays small. The
//! `compose` binary runs it for containers when it sits beside it and answers `--build-id`
//! with the same build as its own; tests and programs that embed the runtime use it too.

fn main() {
    if std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new("--build-id")) {
        println!("{}", compose_runtime::shim::BUILD_ID);
        return;
    }
    compose_runtime::shim::main()
}
