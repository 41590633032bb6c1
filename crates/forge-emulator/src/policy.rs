//! The scripted model: the default policy and script replay.
//!
//! Implementation notes: the default policy is documented for users in the
//! crate docs; this module is its only implementation. Everything here is a
//! pure function of the request, the script turn and the per-request
//! generator, which is what makes replies deterministic for a seed.

use crate::{
    Latency, ScriptTurn,
    args::arguments_for,
    convo::{Args, Conversation, PlannedCall, Reply, text_pieces},
    rng::Rng,
};

/// Words that never select a tool by its description.
const STOPWORDS: &[&str] = &[
    "about", "after", "again", "their", "there", "these", "those", "which", "while", "would",
    "should", "could", "given", "using", "returns", "return", "value", "values", "other", "where",
    "being", "every", "under", "within", "without",
];

/// Filler vocabulary for padding answers to the requested length.
const FILLER: &[&str] = &[
    "indeed",
    "overall",
    "notably",
    "clearly",
    "therefore",
    "also",
    "further",
    "moreover",
    "briefly",
    "finally",
    "simply",
    "likewise",
    "meanwhile",
    "besides",
    "thus",
    "hence",
];

/// Plans the reply to one request.
pub(crate) fn plan(
    conv: &Conversation,
    script: Option<&ScriptTurn>,
    latency: &Latency,
    rng: &mut Rng,
) -> Reply {
    let mut reply = match script.filter(|turn| turn.has_content()) {
        Some(turn) => scripted(turn),
        None => default_reply(conv, latency, rng),
    };
    if let Some(limit) = conv.max_tokens {
        apply_token_limit(&mut reply, limit);
    }
    reply
}

fn scripted(turn: &ScriptTurn) -> Reply {
    let mut reply = Reply {
        thinking: turn.thinking.clone(),
        text: turn.text.clone().unwrap_or_default(),
        calls: turn.calls.clone(),
        max_tokens: turn.max_tokens,
        refused: false,
    };
    if let Some(last) = reply.calls.last_mut().filter(|_| turn.max_tokens) {
        let text = last.args.to_text();
        let mut cut = text.len() / 2;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        last.args = Args::Raw(text[..cut].to_owned());
    }
    reply
}

fn default_reply(conv: &Conversation, latency: &Latency, rng: &mut Rng) -> Reply {
    if !conv.results.is_empty() {
        let text = pad(quote_results(conv), latency.answer_words, rng);
        return Reply {
            text,
            ..Reply::default()
        };
    }
    if conv.tools.is_empty() {
        let text = pad(plain_answer(&conv.user_text), latency.answer_words, rng);
        return Reply {
            text,
            ..Reply::default()
        };
    }
    let chosen = choose_tools(conv);
    let calls: Vec<PlannedCall> = chosen
        .iter()
        .map(|&index| {
            let tool = &conv.tools[index];
            let args = arguments_for(&tool.schema, &conv.user_text);
            PlannedCall::new(tool.name.clone(), Args::Json(args))
        })
        .collect();
    let names: Vec<&str> = calls.iter().map(|call| call.name.as_str()).collect();
    Reply {
        text: format!("I will use {}.", names.join(" and ")),
        calls,
        ..Reply::default()
    }
}

/// Indices of the tools the user text mentions, or the first tool.
pub(crate) fn choose_tools(conv: &Conversation) -> Vec<usize> {
    let text = conv.user_text.to_lowercase();
    let words: Vec<&str> = text
        .split(|ch: char| !ch.is_alphanumeric() && ch != '_')
        .filter(|word| !word.is_empty())
        .collect();
    let chosen: Vec<usize> = conv
        .tools
        .iter()
        .enumerate()
        .filter(|(_, tool)| mentions(&text, &words, &tool.name, &tool.description))
        .map(|(index, _)| index)
        .collect();
    if chosen.is_empty() { vec![0] } else { chosen }
}

fn mentions(text: &str, words: &[&str], name: &str, description: &str) -> bool {
    let name = name.to_lowercase();
    if words.contains(&name.as_str()) || text.contains(&name.replace(['_', '-', '.'], " ")) {
        return true;
    }
    description
        .to_lowercase()
        .split(|ch: char| !ch.is_alphanumeric())
        .filter(|word| word.len() >= 5 && !STOPWORDS.contains(word))
        .any(|word| words.contains(&word))
}

fn quote_results(conv: &Conversation) -> String {
    let mut text = String::from("Here is what the tools returned.");
    for result in &conv.results {
        let verb = if result.is_error {
            "failed with"
        } else {
            "returned"
        };
        text.push_str(&format!(" {} {verb}: {}.", result.name, result.content));
    }
    text
}

fn plain_answer(user_text: &str) -> String {
    let words: Vec<&str> = user_text.split_whitespace().take(12).collect();
    if words.is_empty() {
        "Hello! How can I help?".to_owned()
    } else {
        format!("You asked: {}.", words.join(" "))
    }
}

/// Appends seeded filler words until the text has `target` words.
fn pad(mut text: String, target: usize, rng: &mut Rng) -> String {
    let mut count = text.split_whitespace().count();
    while count < target {
        text.push(' ');
        text.push_str(FILLER[rng.range(0, FILLER.len() - 1)]);
        count += 1;
    }
    text
}

/// Cuts the text at `limit` pieces and drops the calls when it overflows.
fn apply_token_limit(reply: &mut Reply, limit: u64) {
    let pieces = text_pieces(&reply.text);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX).max(1);
    if pieces.len() > limit {
        reply.text = pieces[..limit].concat();
        reply.calls.clear();
        reply.max_tokens = true;
    }
}

#[cfg(test)]
mod tests;
