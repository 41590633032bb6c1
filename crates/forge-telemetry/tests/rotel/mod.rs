//! Reads what rotel's debug exporter printed (`--debug-log-verbosity detailed`).

use std::{collections::BTreeMap, thread, time::Duration};

/// One span as rotel printed it; attribute values keep rotel's type tags,
/// e.g. `Str(chat)`, `Int(12)`, `Bool(true)`.
#[derive(Debug, Default)]
pub(crate) struct Span {
    pub(crate) trace: String,
    pub(crate) parent: String,
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) status: String,
    pub(crate) attributes: BTreeMap<String, String>,
}

impl Span {
    pub(crate) fn attr(&self, key: &str) -> &str {
        self.attributes
            .get(key)
            .unwrap_or_else(|| panic!("span {:?} has no {key}: {self:#?}", self.name))
    }

    pub(crate) fn expect(&self, key: &str, value: &str) {
        assert_eq!(self.attr(key), value, "{key} of {:?}", self.name);
    }
}

/// One metric as rotel printed it.
#[derive(Debug, Default)]
pub(crate) struct Metric {
    pub(crate) name: String,
    pub(crate) unit: String,
    pub(crate) data_type: String,
    /// The whole printed block: data points, attributes, buckets.
    pub(crate) text: String,
}

/// rotel's output so far.
pub(crate) struct Output {
    text: String,
}

impl Output {
    /// Waits (at most 15 s) until `path` shows `spans` spans and some metrics
    /// of `service`; returns what is there by then.
    pub(crate) fn wait_for(path: &str, service: &str, spans: usize) -> Self {
        let mut output = Self::read(path);
        for _ in 0..150 {
            if output.spans(service).len() >= spans && output.has_metrics(service) {
                break;
            }
            thread::sleep(Duration::from_millis(100));
            output = Self::read(path);
        }
        output
    }

    fn read(path: &str) -> Self {
        let raw = std::fs::read_to_string(path).unwrap_or_default();
        Self {
            text: strip_ansi(&raw),
        }
    }

    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn spans(&self, service: &str) -> Vec<Span> {
        sections(&self.text, "ResourceSpans #", service)
            .flat_map(|section| blocks(section, "Span #"))
            .map(parse_span)
            .collect()
    }

    pub(crate) fn metric(&self, service: &str, name: &str) -> Metric {
        sections(&self.text, "ResourceMetrics #", service)
            .flat_map(|section| blocks(section, "Metric #"))
            .map(parse_metric)
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("rotel printed no metric {name} for {service}"))
    }

    fn has_metrics(&self, service: &str) -> bool {
        sections(&self.text, "ResourceMetrics #", service)
            .next()
            .is_some()
    }
}

/// The resource sections starting with `header` whose `service.name` is `service`.
fn sections<'a>(text: &'a str, header: &'a str, service: &str) -> impl Iterator<Item = &'a str> {
    let wanted = format!("-> service.name: Str({service})");
    blocks(text, "Resource")
        .into_iter()
        .filter(move |s| s.starts_with(header) && s.lines().any(|l| l.trim() == wanted))
}

/// Splits `text` before every line that starts with `header`; drops the preamble.
fn blocks<'a>(text: &'a str, header: &str) -> Vec<&'a str> {
    let mut starts: Vec<usize> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        // `Resource attributes:` belongs to the section above it.
        if line.starts_with(header) && line.contains('#') {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts.push(text.len());
    starts.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

fn parse_span(block: &str) -> Span {
    let mut span = Span::default();
    let mut in_attributes = false;
    for line in block.lines() {
        let line = line.trim();
        if line == "Attributes:" {
            in_attributes = true;
        } else if let Some(attr) = line.strip_prefix("-> ") {
            if in_attributes && let Some((key, value)) = attr.split_once(": ") {
                span.attributes.insert(key.to_owned(), value.to_owned());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            let value = value.trim().to_owned();
            match key.trim() {
                "Trace ID" => span.trace = value,
                "Parent ID" => span.parent = value,
                "ID" => span.id = value,
                "Name" => span.name = value,
                "Kind" => span.kind = value,
                "Status code" => span.status = value,
                _ => {}
            }
        }
    }
    span
}

fn parse_metric(block: &str) -> Metric {
    let mut metric = Metric {
        text: block.to_owned(),
        ..Metric::default()
    };
    for line in block.lines() {
        let Some((key, value)) = line.trim().trim_start_matches("-> ").split_once(": ") else {
            continue;
        };
        match key {
            "Name" if metric.name.is_empty() => metric.name = value.to_owned(),
            "Unit" if metric.unit.is_empty() => metric.unit = value.to_owned(),
            "DataType" if metric.data_type.is_empty() => metric.data_type = value.to_owned(),
            _ => {}
        }
    }
    metric
}

/// Removes terminal colour codes (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
