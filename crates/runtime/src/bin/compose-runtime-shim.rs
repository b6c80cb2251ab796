//! The runtime's own shim binary, for its tests and for programs that embed the runtime
//! without a `main` of their own to dispatch [`compose_runtime::shim::ARG`].

fn main() {
    compose_runtime::shim::main()
}
