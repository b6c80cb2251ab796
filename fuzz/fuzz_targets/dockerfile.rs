//! Any bytes given as a Dockerfile: the parser, word expansion and the ignore matcher return
//! a result or an error, never panic.
#![no_main]

use compose_build::dockerfile::{Dockerfile, Words};
use compose_build::ignore::Ignore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Dockerfile::parse("Dockerfile", text);
    let env = |name: &str| (name.len() % 2 == 0).then(|| name.to_string());
    for words in [Words { escape: '\\' }, Words { escape: '`' }] {
        let _ = words.expand(text, &env);
        let _ = words.split(text, &env);
        let _ = words.split_raw(text);
    }
    if let Ok(ignore) = Ignore::parse(".dockerignore", text) {
        for line in text.lines().take(8) {
            let _ = ignore.is_excluded(line);
        }
    }
});
