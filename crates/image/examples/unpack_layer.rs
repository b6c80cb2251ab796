//! Unpacks one layer blob into a directory and prints the stats and the rate, for speed checks
//! against `tar -xzf`: `cargo run --release -p compose-image --example unpack_layer -- BLOB DIR`.

use std::time::Instant;

use compose_image::unpack::{Compression, UnpackOptions, unpack_layer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, blob, dest] = &args[..] else {
        return Err("usage: unpack_layer BLOB DIR".into());
    };
    let size = std::fs::metadata(blob)?.len();
    let file = std::fs::File::open(blob)?;
    std::fs::create_dir_all(dest)?;
    let start = Instant::now();
    let stats = unpack_layer(
        file,
        Compression::Detect,
        dest.as_ref(),
        &UnpackOptions::default(),
    )?;
    let secs = start.elapsed().as_secs_f64();
    println!("{stats:#?}");
    println!(
        "{:.2} s, {:.1} MB/s compressed, {:.1} MB/s uncompressed",
        secs,
        size as f64 / secs / 1e6,
        stats.tar_bytes as f64 / secs / 1e6
    );
    Ok(())
}
