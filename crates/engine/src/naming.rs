//! Names and labels of the objects a project owns, as Docker Compose v2 spells them, so that
//! tools and people used to Docker Compose find them where they expect.

/// Label keys Docker Compose puts on containers.
pub mod labels {
    pub const PROJECT: &str = "com.docker.compose.project";
    pub const SERVICE: &str = "com.docker.compose.service";
    pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
    pub const ONEOFF: &str = "com.docker.compose.oneoff";
    pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
    pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
    pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
    pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
    pub const IMAGE: &str = "com.docker.compose.image";
}

/// `<project>-<service>-<n>`, the name of a service's n-th container.
pub fn container_name(project: &str, service: &str, number: u32) -> String {
    format!("{project}-{service}-{number}")
}

/// `<project>_<volume>`, the name of a project's named volume.
pub fn volume_name(project: &str, volume: &str) -> String {
    format!("{project}_{volume}")
}

/// `<project>-<service>`, the image name of a service that is built and names no image.
pub fn built_image_name(project: &str, service: &str) -> String {
    format!("{project}-{service}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_docker_compose() {
        assert_eq!(container_name("shop", "web", 1), "shop-web-1");
        assert_eq!(volume_name("shop", "db"), "shop_db");
        assert_eq!(built_image_name("shop", "api"), "shop-api");
    }
}
