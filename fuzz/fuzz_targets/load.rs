//! Fuzz target: the Compose loader on arbitrary text must return `Ok` or `Err`, never panic,
//! overflow its stack or run away (libFuzzer's -timeout and -rss_limit_mb catch the last two:
//! think of alias bombs, deep nesting, self-referencing `extends` and `${...}` nesting).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = compose::load::load_from_str(text);
});
