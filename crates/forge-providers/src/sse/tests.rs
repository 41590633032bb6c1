//! Unit tests for every decoder quirk in brief §3.

use super::*;

/// Feeds `chunks` in order and returns `(event, data)` pairs.
fn decode(chunks: &[&[u8]]) -> Vec<(String, String)> {
    let mut decoder = SseDecoder::new(1 << 20);
    let mut out = Vec::new();
    for chunk in chunks {
        decoder
            .feed(chunk, |e| {
                out.push((e.event.to_owned(), e.data.to_owned()));
                Ok(())
            })
            .unwrap();
    }
    out
}

fn pair(event: &str, data: &str) -> (String, String) {
    (event.to_owned(), data.to_owned())
}

#[test]
fn lf_crlf_and_cr_line_endings_decode_alike() {
    let expected = vec![pair("ping", "{}"), pair("", "x")];
    assert_eq!(decode(&[b"event: ping\ndata: {}\n\ndata: x\n\n"]), expected);
    assert_eq!(
        decode(&[b"event: ping\r\ndata: {}\r\n\r\ndata: x\r\n\r\n"]),
        expected
    );
    assert_eq!(decode(&[b"event: ping\rdata: {}\r\rdata: x\r\r"]), expected);
}

#[test]
fn multi_line_data_is_joined_with_newlines() {
    assert_eq!(
        decode(&[b"data: a\ndata: b\ndata:\n\n"]),
        vec![pair("", "a\nb\n")]
    );
}

#[test]
fn the_space_after_the_colon_is_optional_and_only_one_is_stripped() {
    assert_eq!(
        decode(&[b"data:x\n\ndata:  y\n\n"]),
        vec![pair("", "x"), pair("", " y")]
    );
}

#[test]
fn comments_are_ignored() {
    let got = decode(&[b": keep-alive\n:another\ndata: x\n: mid\n\n"]);
    assert_eq!(got, vec![pair("", "x")]);
}

#[test]
fn events_split_at_every_byte_decode_alike() {
    let stream: &[u8] = b"event: a\r\ndata: {\"k\":\r\ndata: 1}\r\n\r\nevent: b\rdata: 2\r\r";
    let whole = decode(&[stream]);
    assert_eq!(whole, vec![pair("a", "{\"k\":\n1}"), pair("b", "2")]);
    for split in 1..stream.len() {
        let (a, b) = stream.split_at(split);
        assert_eq!(decode(&[a, b]), whole, "split at {split}");
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(decode(&bytes), whole);
}

#[test]
fn two_events_in_one_read_are_both_dispatched() {
    let got = decode(&[b"data: 1\n\ndata: 2\n\ndata: 3"]);
    assert_eq!(got, vec![pair("", "1"), pair("", "2")]);
}

#[test]
fn crlf_split_between_reads_is_one_line_end() {
    let got = decode(&[b"data: 1\r", b"\n\r", b"\ndata: 2\r\n\r\n"]);
    assert_eq!(got, vec![pair("", "1"), pair("", "2")]);
}

#[test]
fn an_unfinished_event_at_eof_is_reported_not_dispatched() {
    let mut d = SseDecoder::new(1024);
    let mut n = 0;
    d.feed(b"data: {\"partial\":", |_| {
        n += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(n, 0);
    assert!(d.has_partial_event());

    let mut d = SseDecoder::new(1024);
    d.feed(b"data: done\n\n", |_| Ok(())).unwrap();
    assert!(!d.has_partial_event());
}

#[test]
fn blank_lines_without_data_dispatch_nothing() {
    assert!(decode(&[b"\n\n\r\n: c\n\nevent: x\n\n"]).is_empty());
}

#[test]
fn fields_without_colon_and_unknown_fields_are_ignored() {
    let got = decode(&[b"id: 7\nretry: 10\nfoo\ndata\n\n"]);
    assert_eq!(got, vec![pair("", "")]);
}

#[test]
fn a_leading_bom_is_skipped() {
    assert_eq!(decode(&[b"\xEF\xBB\xBFdata: x\n\n"]), vec![pair("", "x")]);
}

#[test]
fn a_bom_split_across_the_first_reads_is_skipped() {
    let stream: &[u8] = b"\xEF\xBB\xBFdata: x\n\n";
    let expected = vec![pair("", "x")];
    for first in 0..=3 {
        for second in first..=3 {
            let reads = [&stream[..first], &stream[first..second], &stream[second..]];
            assert_eq!(decode(&reads), expected, "reads split at {first}, {second}");
        }
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(decode(&bytes), expected);
}

#[test]
fn bom_lookalikes_are_line_bytes_and_a_later_bom_is_kept() {
    // A BOM prefix that turns into something else belongs to the first line.
    assert_eq!(
        decode(&[b"\xEF", b"\xBB", b"\n", b"data: x\n\n"]),
        vec![pair("", "x")]
    );
    assert_eq!(
        decode(&[b"\xEF\xBB", b"data: x\n\n"]),
        decode(&[b"\xEF\xBBdata: x\n\n"])
    );
    // Only the stream's first bytes may be a BOM; later ones are data.
    assert_eq!(
        decode(&[b"data: 1\n\n", b"\xEF\xBB\xBFdata: 2\n\n"]),
        vec![pair("", "1")]
    );
    assert_eq!(
        decode(&[b"\xEF\xBB\xBF", b"\xEF\xBB\xBFdata: 2\n\n"]),
        Vec::<(String, String)>::new()
    );
}

#[test]
fn a_held_bom_prefix_at_eof_is_a_partial_event() {
    let mut d = SseDecoder::new(1024);
    d.feed(b"\xEF\xBB", |_| Ok(())).unwrap();
    assert!(d.has_partial_event());
    d.feed(b"\xBF", |_| Ok(())).unwrap();
    assert!(!d.has_partial_event());
}

#[test]
fn an_oversized_event_is_an_error_even_without_line_ends() {
    let mut d = SseDecoder::new(16);
    let err = d.feed(&[b'a'; 64], |_| Ok(())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseTooLarge);

    let mut d = SseDecoder::new(16);
    let err = d
        .feed(b"data: 0123456789\ndata: 0123456789\n", |_| Ok(()))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResponseTooLarge);
}

#[test]
fn invalid_utf8_is_malformed() {
    let mut d = SseDecoder::new(64);
    let err = d.feed(b"data: \xff\xfe\n\n", |_| Ok(())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MalformedResponse);
}

#[test]
fn a_callback_error_stops_decoding() {
    let mut d = SseDecoder::new(64);
    let mut seen = 0;
    let err = d
        .feed(b"data: 1\n\ndata: 2\n\n", |_| {
            seen += 1;
            Err(fail(ErrorKind::ErrorAfterOk, "boom"))
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ErrorAfterOk);
    assert_eq!(seen, 1);
}
