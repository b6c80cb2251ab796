//! Building images from Dockerfiles.
//!
//! Its own crate rather than a module of `compose-image`: a build runs `RUN` steps in the
//! runtime, and the image crate must not depend on the runtime. Today it holds the pure
//! parts: the Dockerfile parser ([`dockerfile`]) with Docker's word expansion, and the
//! `.dockerignore` matcher ([`ignore`]), which `develop.watch` shares.

pub mod build;
pub mod cache;
pub mod config;
pub mod context;
pub mod copy;
pub mod diff;
pub mod dockerfile;
pub mod ignore;
pub mod image;
pub mod mount;
pub mod progress;
pub mod project;
pub mod pull;
pub mod run_mount;
pub mod runner;
pub mod user;
