//! Two-way parallelism for the stages of loading a big project (the machines this runs on
//! have few cores; two threads take most of what there is to take).

use std::sync::Mutex;

/// Runs `a` on this thread and `b` on a second one, and returns both results. Where no thread
/// can be started, `b` runs here after `a`. A panic in `b` is resumed here.
pub fn join<RA, RB>(a: impl FnOnce() -> RA, b: impl FnOnce() -> RB + Send) -> (RA, RB)
where
    RB: Send,
{
    // `spawn_scoped` consumes its closure even when it fails: `b` waits here to be taken by
    // whichever thread runs it.
    let b = Mutex::new(Some(b));
    let take = || b.lock().unwrap_or_else(|e| e.into_inner()).take();
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new().spawn_scoped(s, || take().map(|f| f()));
        let ra = a();
        let rb = match handle {
            Ok(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            Err(_) => None,
        };
        // Not run on the other thread: no thread, or it never got to it.
        let rb = match rb {
            Some(rb) => rb,
            None => match take() {
                Some(f) => f(),
                None => unreachable!("`b` is taken once, by the thread that runs it"),
            },
        };
        (ra, rb)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_run_with_borrowed_data() {
        let v: Vec<i32> = (1..=3).collect();
        let (a, b) = join(|| v.iter().sum::<i32>(), || v.len());
        assert_eq!((a, b), (6, 3));
    }
}
