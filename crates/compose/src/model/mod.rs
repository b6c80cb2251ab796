//! The typed Compose model: what a project is after loading, interpolation and merging,
//! deserialized with serde and printed (as JSON) exactly as `docker compose config` prints it.
//!
//! Every short and long syntax is accepted and turned into one canonical form at
//! deserialization (`ports: ["8080:80"]` → [`ServicePort`]s, `volumes: ["./d:/d:ro"]` →
//! [`ServiceVolume`]s, `environment: [A=1]` → a map ...). What depends on the project
//! (absolute paths, default networks, names, `env_file` contents) is filled in by
//! [`crate::normalize`].

pub mod build;
pub mod common;
pub mod deploy;
pub mod develop;
pub mod healthcheck;
pub mod networks;
pub mod ports;
pub mod project;
pub mod service;
pub mod units;
pub mod volumes;

pub use build::{Build, SshKeys};
pub use common::{
    Extensions, External, HostsList, Map, Mapping, MappingWithEquals, ShellCommand, split_command,
};
pub use deploy::{
    Deploy, DeviceRequest, GenericResource, Placement, PlacementPreference, Resource, Resources,
    RestartPolicy, UpdateConfig,
};
pub use develop::{Develop, ServiceHook, WatchAction, WatchRule};
pub use healthcheck::Healthcheck;
pub use networks::{Ipam, IpamPool, Network, ServiceNetwork, ServiceNetworks};
pub use ports::{ServicePort, parse_port_spec};
pub use project::{FileObject, Include, Model, Project, TOP_LEVEL_KEYS, Volume};
pub use service::{
    Blkio, CredentialSpec, Dependency, DeviceMapping, EnvFile, Extends, FileRef, Logging, Service,
    ThrottleDevice, Ulimit, WeightDevice, parse_device,
};
pub use units::{ByteSize, Cpus, Duration, FileMode};
pub use volumes::{
    ServiceVolume, VolumeBind, VolumeImage, VolumeTmpfs, VolumeType, VolumeVolume,
    parse_volume_spec,
};
