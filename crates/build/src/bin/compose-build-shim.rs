//! The shim for this crate's tests: RUN steps re-execute it as their container's shim.

fn main() {
    compose_runtime::shim::main()
}
