//! Size and nesting limits on arguments and results.

use forge_core::ErrorKind;

use crate::registry::Failure;

/// The limits every dispatch enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_argument_bytes: usize,
    pub(crate) max_depth: usize,
    pub(crate) max_result_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_argument_bytes: 1 << 20,
            max_depth: 64,
            max_result_bytes: 1 << 20,
        }
    }
}

impl Limits {
    /// Rejects arguments over the size or nesting limit before any parsing.
    #[inline]
    pub(crate) fn check_arguments(&self, args: &str) -> Result<(), Failure> {
        if args.len() > self.max_argument_bytes {
            return Err(self.too_large(args.len()));
        }
        check_depth(args.as_bytes(), self.max_depth)
    }

    #[cold]
    #[inline(never)]
    fn too_large(&self, len: usize) -> Failure {
        let message = format!(
            "arguments are {len} bytes, over the limit of {} bytes",
            self.max_argument_bytes
        );
        Failure::new(ErrorKind::ArgumentsTooLarge, message)
    }
}

/// Rejects JSON nested deeper than `max` arrays and objects.
///
/// Nesting `d` levels needs at least `d` brackets, so short texts pass at
/// once. Otherwise counting every bracket is a loop the compiler vectorizes
/// (`b | 0x20 == b'{'` holds exactly for `[` and `{`); only when there are
/// more brackets than the limit does the precise scan (which skips brackets
/// inside strings) run.
#[inline]
fn check_depth(bytes: &[u8], max: usize) -> Result<(), Failure> {
    if bytes.len() <= max || count_openers(bytes) <= max {
        return Ok(());
    }
    scan_depth(bytes, max)
}

/// The precise scan, for texts with more brackets than the limit.
#[cold]
#[inline(never)]
fn scan_depth(bytes: &[u8], max: usize) -> Result<(), Failure> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (offset, &b) in bytes.iter().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > max {
            let message = format!(
                "arguments are nested deeper than the limit of {max} levels (at byte {offset})"
            );
            return Err(Failure::new(ErrorKind::ArgumentsTooLarge, message));
        }
    }
    Ok(())
}

fn count_openers(bytes: &[u8]) -> usize {
    let mut total = 0;
    for chunk in bytes.chunks(255) {
        let n: u8 = chunk
            .iter()
            .fold(0u8, |n, &b| n.wrapping_add(u8::from(b | 0x20 == b'{')));
        total += usize::from(n);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let json = r#"{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}"#;
        assert!(check_depth(json.as_bytes(), 2).is_ok());
    }

    #[test]
    fn openers_are_counted_across_chunks() {
        let json = "[{".repeat(400);
        assert_eq!(count_openers(json.as_bytes()), 800);
        assert_eq!(count_openers(b"{}[]\"a\" 7 ;{"), 3);
    }

    #[test]
    fn depth_over_limit_is_rejected() {
        let json = format!("{}{}", "[".repeat(5), "]".repeat(5));
        assert!(check_depth(json.as_bytes(), 5).is_ok());
        assert!(check_depth(json.as_bytes(), 4).is_err());
    }
}
