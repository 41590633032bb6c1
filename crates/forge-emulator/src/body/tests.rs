//! Unit tests for the paced body.

use std::time::Duration;

use http_body_util::BodyExt;

use super::{End, Frame, PacedBody};
use crate::Latency;

async fn chunks(mut body: PacedBody) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..100 {
        match body.frame().await {
            Some(Ok(frame)) => {
                let data = frame.into_data().expect("a data frame");
                out.push(String::from_utf8(data.to_vec()).expect("UTF-8"));
            }
            Some(Err(error)) => {
                out.push(format!("error: {}", error.kind()));
                break;
            }
            None => break,
        }
    }
    out
}

fn frames() -> Vec<Frame> {
    vec![
        Frame::now("a"),
        Frame::now("b"),
        Frame::token("c"),
        Frame::now("d"),
    ]
}

#[tokio::test]
async fn frames_due_together_leave_as_one_chunk() {
    let body = PacedBody::new(frames(), &Latency::none(), End::Finish);
    assert_eq!(chunks(body).await, ["abcd"]);
}

#[tokio::test]
async fn token_pacing_separates_chunks() {
    let latency = Latency {
        between_tokens: Duration::from_millis(1),
        ..Latency::none()
    };
    let body = PacedBody::new(frames(), &latency, End::Finish);
    assert_eq!(chunks(body).await, ["ab", "cd"]);
}

#[tokio::test]
async fn abort_ends_with_a_reset_error_after_the_data() {
    let body = PacedBody::new(frames(), &Latency::none(), End::Abort);
    assert_eq!(chunks(body).await, ["abcd", "error: connection reset"]);
}

#[tokio::test]
async fn full_bodies_have_an_exact_length() {
    use http_body::Body as _;
    let body = PacedBody::full("hello");
    assert_eq!(body.size_hint().exact(), Some(5));
    assert_eq!(chunks(body).await, ["hello"]);
}
