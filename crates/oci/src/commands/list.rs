//! `list`: every container under --root.

use compose_runtime::Runtime;

use crate::cli::ListFormat;

pub fn list(rt: &Runtime, format: ListFormat, quiet: bool) -> anyhow::Result<()> {
    let mut states = Vec::new();
    let mut ids: Vec<String> = std::fs::read_dir(rt.root())?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    for id in ids {
        // A dir without a readable record is not a container of ours.
        if let Ok(c) = rt.load(&id) {
            states.push(super::state::of(&c));
        }
    }
    if quiet {
        for s in &states {
            println!("{}", s.id);
        }
        return Ok(());
    }
    match format {
        ListFormat::Json => println!("{}", serde_json::to_string(&states)?),
        ListFormat::Table => {
            println!(
                "{:<24} {:<8} {:<8} {:<40} CREATED",
                "ID", "PID", "STATUS", "BUNDLE"
            );
            for s in &states {
                println!(
                    "{:<24} {:<8} {:<8} {:<40} {}",
                    s.id,
                    s.pid,
                    s.status.to_string(),
                    s.bundle,
                    s.created
                );
            }
        }
    }
    Ok(())
}
