//! Unit tests for tool choice and reply planning.

use serde_json::json;

use super::{choose_tools, plan};
use crate::{
    Latency, ScriptTurn,
    convo::{Args, Conversation, ToolDef, ToolOutput},
    rng::Rng,
};

fn tool(name: &str, description: &str) -> ToolDef {
    ToolDef {
        name: name.to_owned(),
        description: description.to_owned(),
        schema: json!({"type": "object", "properties": {}}),
    }
}

fn conversation(text: &str) -> Conversation {
    Conversation {
        tools: vec![
            tool("calculator", "Evaluates an arithmetic expression."),
            tool("list_files", "Lists files under the root directory."),
            tool("clock", "Tells the current time."),
        ],
        user_text: text.to_owned(),
        ..Conversation::default()
    }
}

#[test]
fn names_and_description_words_select_tools() {
    assert_eq!(choose_tools(&conversation("What does the clock say?")), [2]);
    assert_eq!(
        choose_tools(&conversation("list files then use the calculator")),
        [0, 1]
    );
    assert_eq!(choose_tools(&conversation("evaluate this arithmetic")), [0]);
    assert_eq!(
        choose_tools(&conversation("the directory and the current time")),
        [1, 2]
    );
}

#[test]
fn no_match_picks_the_first_tool() {
    assert_eq!(choose_tools(&conversation("hello")), [0]);
}

#[test]
fn several_tools_are_called_in_parallel() {
    let reply = plan(
        &conversation("clock and calculator"),
        None,
        &Latency::none(),
        &mut Rng::new(1),
    );
    let names: Vec<&str> = reply.calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["calculator", "clock"]);
    assert_eq!(reply.text, "I will use calculator and clock.");
}

#[test]
fn results_are_quoted_and_padded() {
    let mut conv = conversation("clock");
    conv.results = vec![
        ToolOutput {
            name: "clock".into(),
            content: "12:00".into(),
            is_error: false,
        },
        ToolOutput {
            name: "calculator".into(),
            content: "bad input".into(),
            is_error: true,
        },
    ];
    let latency = Latency {
        answer_words: 20,
        ..Latency::none()
    };
    let reply = plan(&conv, None, &latency, &mut Rng::new(3));
    assert!(reply.calls.is_empty());
    assert!(reply.text.starts_with(
        "Here is what the tools returned. clock returned: 12:00. calculator failed with: bad input."
    ));
    assert_eq!(reply.text.split_whitespace().count(), 20);
}

#[test]
fn scripted_max_tokens_cuts_the_last_call() {
    let turn = ScriptTurn::new()
        .call("calculator", json!({"expression": "1+2"}))
        .stop_at_max_tokens();
    let reply = plan(
        &conversation("x"),
        Some(&turn),
        &Latency::none(),
        &mut Rng::new(0),
    );
    assert!(reply.max_tokens);
    assert_eq!(reply.calls[0].args, Args::Raw(r#"{"expressi"#.to_owned()));
}

#[test]
fn request_token_limit_drops_calls() {
    let mut conv = conversation("clock");
    conv.max_tokens = Some(2);
    let reply = plan(&conv, None, &Latency::none(), &mut Rng::new(0));
    assert!(reply.max_tokens);
    assert!(reply.calls.is_empty());
    assert_eq!(reply.text, "I will ");
}
