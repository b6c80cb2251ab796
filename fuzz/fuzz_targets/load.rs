//! Fuzz target: the Compose loader on arbitrary text must return `Ok` or `Err`, never panic,
//! overflow its stack or run away (libFuzzer's -timeout and -rss_limit_mb catch the last two:
//! think of alias bombs, deep nesting, self-referencing `extends` and `${...}` nesting).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // ADAPT ME: written before the loader's API existed, against the agreed signature
    // `compose::load::load_from_str(text: &str) -> Result<_, compose::Error>`. Point this at
    // the real in-memory entry point (single file, no file-system access) when it lands.
    let _ = compose::load::load_from_str(text);
});
