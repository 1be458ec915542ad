//! Faces as imgix finds them: down to about 4% of a photo's longer side, in busy scenes. The
//! labelled set (`support::face_set`: real corpus faces pasted at known sizes and places into
//! busy corpus scenes) is served through `fm=json&faces=1`, and each face must be reported where
//! it was put. `cargo bench --bench faces` reports recall by size and CPU on the full set.

use crate::support::face_set;
use crate::support::{body, corpus, TestServer};

/// The faces `fm=json&faces=1` reports for `name`, as fractions of its size.
async fn reported(s: &TestServer, name: &str) -> Vec<(f64, f64, f64, f64)> {
    let json: serde_json::Value =
        serde_json::from_slice(&body(s, &format!("/{name}?fm=json&faces=1")).await).unwrap();
    let (w, h) = (
        json["PixelWidth"].as_f64().unwrap(),
        json["PixelHeight"].as_f64().unwrap(),
    );
    json["Faces"]
        .as_array()
        .map(|faces| {
            faces
                .iter()
                .map(|f| {
                    let b = &f["bounds"];
                    (
                        b["x"].as_f64().unwrap() / w,
                        b["y"].as_f64().unwrap() / h,
                        b["width"].as_f64().unwrap() / w,
                        b["height"].as_f64().unwrap() / h,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn faces_down_to_five_percent_of_a_busy_photo_are_found_where_they_are() {
    let s = TestServer::start(|_| {}).await;
    // The case (a face 9% of a 1,200-px busy photo), and smaller: every face from 5% up
    // in every scene at two places; at 4%, most (the bench: 16 of 18).
    let set = face_set::composites(&corpus(), &[0.04, 0.05, 0.09], &[(0.2, 0.3), (0.85, 0.8)]);
    let mut at_four = (0, 0);
    let mut missed = Vec::new();
    for (i, item) in set.iter().enumerate() {
        let name = format!("c{i}.jpg");
        s.put(&name, &item.jpeg);
        let found = reported(&s, &name).await;
        let hit = item
            .faces
            .iter()
            .all(|t| found.iter().any(|f| face_set::matches(*f, *t)));
        // Nothing that is not the face: the scenes have none.
        assert!(found.len() <= item.faces.len(), "{}: {found:?}", item.name);
        if item.share < 0.045 {
            at_four.1 += 1;
            at_four.0 += usize::from(hit);
        } else if !hit {
            missed.push(format!("{}: {found:?} for {:?}", item.name, item.faces));
        }
    }
    assert!(missed.is_empty(), "missed:\n{}", missed.join("\n"));
    assert!(
        at_four.0 * 4 >= at_four.1 * 3,
        "4% faces found: {at_four:?}"
    );
    s.stop().await;
}
