//! A connection that breaks mid-blob: the download picks up where it stopped with a
//! `Range` request (or, from a registry that ignores ranges, skips what it had), and the
//! blob is still verified whole.

use std::sync::Arc;

use compose_image::Reference;
use compose_image::registry::{self, Event, NoProgress, Progress};

use super::proxy::{Action, Front, Request};
use super::*;

/// Cuts the first GET of one blob after `cut` bytes; notes every `Range` asked for it.
struct Cutter {
    path: String,
    cut: usize,
    strip_range: bool,
    gets: Mutex<Vec<Option<String>>>,
}

impl Cutter {
    fn handle(&self, req: &Request) -> Action {
        let blob = req.method == "GET" && req.target.split('?').next() == Some(self.path.as_str());
        let mut cut_after = None;
        if blob {
            let mut gets = self.gets.lock().unwrap();
            if gets.is_empty() {
                cut_after = Some(self.cut);
            }
            gets.push(req.header("range").map(str::to_owned));
        }
        Action::Forward {
            cut_after,
            strip_range: self.strip_range,
        }
    }
}

#[derive(Default)]
struct Retries(Mutex<u32>);

impl Progress for Retries {
    fn event(&self, e: &Event<'_>) {
        if let Event::Retry { .. } = e {
            *self.0.lock().unwrap() += 1;
        }
    }
}

fn broken_mid_blob(strip_range: bool) {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let big = TestLayer::new(
        tar_of(&[Entry::File("big.bin", &noise(8 << 20, 11), 0o644)]),
        Comp::Plain,
        false,
    );
    let img = TestImage::new(vec![big], "amd64");
    let src = open_store(tmp.path(), "src");
    let direct = format!("{}/resume/app:1", reg.host());
    img.load(&src, &direct);
    let c = client(&reg, tmp.path());
    registry::push(
        &src,
        &c,
        &direct,
        &Reference::parse(&direct).unwrap(),
        &NoProgress,
    )
    .unwrap();

    let digest = img.layers[0].digest();
    let cutter = Arc::new(Cutter {
        path: format!("/v2/resume/app/blobs/{digest}"),
        cut: 3 << 20,
        strip_range,
        gets: Mutex::new(Vec::new()),
    });
    let h = cutter.clone();
    let front = Front::start(reg.port, Arc::new(move |r: &Request| h.handle(r)));
    let name = format!("{}/resume/app:1", front.host());
    let dst = open_store(tmp.path(), "dst");
    let retries = Retries::default();
    let p = registry::pull(
        &dst,
        &client_of(&front, tmp.path()),
        &Reference::parse(&name).unwrap(),
        &retries,
    )
    .unwrap();
    assert_eq!(p.record.manifest_digest, img.manifest_digest());
    let gets = cutter.gets.lock().unwrap().clone();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(gets[0], None);
    let from: u64 = gets[1]
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .unwrap()
        .parse()
        .unwrap();
    assert!(from > 0 && from <= 3 << 20, "resumed from {from}");
    assert_eq!(*retries.0.lock().unwrap(), 1);
    let data = std::fs::read(snapshot_file(&dst, &name, 0, "big.bin")).unwrap();
    assert!(data == noise(8 << 20, 11));
    assert_no_temps(&dst);
}

fn client_of(front: &Front, state: &Path) -> Client {
    Client::new(&front.host(), options(state)).unwrap()
}

#[test]
fn a_broken_download_resumes_with_a_range_request() {
    broken_mid_blob(false);
}

#[test]
fn a_registry_without_ranges_sends_it_all_and_the_start_is_skipped() {
    broken_mid_blob(true);
}
